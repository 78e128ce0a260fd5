//! Per-frame JSON metadata (`frames.json`), in the style of Hivemapper's bundles: one
//! record per frame (or per GPS sample) with its GNSS fix and IMU reading.
//!
//! ```json
//! [{"file": "0001.jpg", "time": "2026-11-16T08:00:00.500Z", "lat": 60.1699, "lon": 24.9384,
//!   "alt": 12.0, "hdop": 0.9, "pdop": 1.6, "satellites": 11, "speed": 8.2,
//!   "accuracy": 3.5, "fix": true, "accel": [0.1, 0.0, 9.8], "gyro": [0.0, 0.0, 0.01]}]
//! ```
//!
//! `time` is ISO 8601 or a Unix time (seconds or milliseconds); `speed` is m/s;
//! `accuracy` metres; `accel` m/s² and `gyro` rad/s (checked, then left to the fraud
//! checks). `file` is optional: when present, the record's time is that frame's
//! capture time. `{"frames": [...]}` is accepted too. Unknown fields are ignored.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use streetcomb_core::{LatLon, TrackPoint};

use crate::IngestError;
use crate::time_parse::{parse_time_text, unix_time};
use crate::track::Fix;

/// A time written as text or as a Unix number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum JsonTime {
    Unix(f64),
    Text(String),
}

/// One record of `frames.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct FrameRecord {
    #[serde(default)]
    pub file: Option<String>,
    pub time: JsonTime,
    #[serde(alias = "latitude")]
    pub lat: f64,
    #[serde(alias = "longitude", alias = "lng")]
    pub lon: f64,
    #[serde(default, alias = "altitude")]
    pub alt: Option<f64>,
    #[serde(default)]
    pub hdop: Option<f64>,
    #[serde(default)]
    pub pdop: Option<f64>,
    #[serde(default)]
    pub satellites: Option<u32>,
    #[serde(default)]
    pub speed: Option<f64>,
    #[serde(default)]
    pub accuracy: Option<f64>,
    #[serde(default)]
    pub fix: Option<bool>,
    #[serde(default)]
    pub accel: Option<[f64; 3]>,
    #[serde(default)]
    pub gyro: Option<[f64; 3]>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Doc {
    List(Vec<FrameRecord>),
    Wrapped { frames: Vec<FrameRecord> },
}

/// Frame file name → capture time.
pub type FrameTimes = HashMap<String, DateTime<Utc>>;

/// Parses `frames.json` into fixes (file order) and per-frame capture times.
pub fn parse_frames_json(bytes: &[u8], file: &str) -> Result<(Vec<Fix>, FrameTimes), IngestError> {
    let err = |line: Option<usize>, reason: String| IngestError::Track {
        file: file.to_owned(),
        line,
        reason,
    };
    // Parse to a value first for a syntax error's line, then to records for a
    // field's error (serde names the field and the line).
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| err(Some(e.line()), format!("not valid JSON: {e}")))?;
    let records = match serde_json::from_value::<Doc>(value.clone()) {
        Ok(Doc::List(v)) | Ok(Doc::Wrapped { frames: v }) => v,
        Err(_) => return Err(first_record_error(&value, file)),
    };
    let mut fixes = Vec::with_capacity(records.len());
    let mut times = HashMap::new();
    for (i, r) in records.into_iter().enumerate() {
        let at = |reason: String| err(None, format!("record #{}: {reason}", i + 1));
        let time = match &r.time {
            JsonTime::Unix(v) => unix_time(*v),
            JsonTime::Text(s) => parse_time_text(s),
        }
        .ok_or_else(|| at(format!("time {:?} is not ISO 8601 or Unix time", r.time)))?;
        let pos = LatLon::new(r.lat, r.lon).map_err(|e| at(e.to_string()))?;
        for (name, v) in [("accel", r.accel), ("gyro", r.gyro)] {
            if v.is_some_and(|v| v.iter().any(|x| !x.is_finite())) {
                return Err(at(format!("{name} has a non-finite component")));
            }
        }
        if let Some(f) = &r.file {
            times.insert(f.clone(), time);
        }
        fixes.push(Fix {
            point: TrackPoint {
                time,
                pos,
                alt_m: r.alt,
                hdop: r.hdop,
                speed_mps: r.speed,
            },
            has_fix: r.fix,
            pdop: r.pdop,
            satellites: r.satellites,
            accuracy_m: r.accuracy,
        });
    }
    Ok((fixes, times))
}

/// The first record that does not deserialise, with serde's reason.
fn first_record_error(value: &serde_json::Value, file: &str) -> IngestError {
    let list = value
        .as_array()
        .or_else(|| value.get("frames").and_then(|f| f.as_array()));
    let reason = match list {
        None => "expected a list of frame records, or {\"frames\": [...]}".to_owned(),
        Some(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| {
                serde_json::from_value::<FrameRecord>(item.clone())
                    .err()
                    .map(|e| format!("record #{}: {e}", i + 1))
            })
            .unwrap_or_else(|| "unreadable records".to_owned()),
    };
    IngestError::Track {
        file: file.to_owned(),
        line: None,
        reason,
    }
}
