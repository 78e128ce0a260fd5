//! GPS fixes as read from any track source, before cleaning, and the dispatch from a
//! track file's name to its parser.
//!
//! Every parser returns [`Fix`]es in file order (cleaning judges "time going backwards"
//! on that order), with the quality fields the source reports, so that cleaning can
//! drop points by fix quality, DOP, satellite count and accuracy.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use streetcomb_core::TrackPoint;

use crate::IngestError;

/// One GPS fix with the quality fields its source reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub point: TrackPoint,
    /// `Some(false)` when the receiver said it had no fix (NMEA quality 0 / RMC `V`,
    /// GSA mode 1, GPX `<fix>none</fix>`); `None` when the source does not say.
    pub has_fix: Option<bool>,
    pub pdop: Option<f64>,
    pub satellites: Option<u32>,
    /// Horizontal accuracy (1 sigma), metres, when the source reports it.
    pub accuracy_m: Option<f64>,
}

impl Fix {
    /// A fix with only a time and a position known.
    pub fn plain(point: TrackPoint) -> Self {
        Self {
            point,
            has_fix: None,
            pdop: None,
            satellites: None,
            accuracy_m: None,
        }
    }
}

/// A parsed track file: its fixes, and capture times it gives for named frames
/// (per-frame metadata such as `frames.json` ties each record to a file).
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// The file's name, for messages.
    pub file: String,
    pub fixes: Vec<Fix>,
    /// Frame file name → capture time (GPS time) from per-frame metadata.
    pub frame_times: HashMap<String, DateTime<Utc>>,
}

/// The track formats ingest reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackFormat {
    Gpx,
    Nmea,
    FramesJson,
    Csv,
}

impl TrackFormat {
    /// The format of a track file, from its extension (`.gpx`, `.nmea`/`.log`/`.txt`,
    /// `.json`, `.csv`).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "gpx" => Some(Self::Gpx),
            "nmea" | "log" | "txt" => Some(Self::Nmea),
            "json" => Some(Self::FramesJson),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// File names a drive directory's track may have, in the order they are looked for.
pub const TRACK_FILE_NAMES: [&str; 4] = ["track.gpx", "track.nmea", "frames.json", "track.csv"];

/// Parses a track file of any supported format (chosen by its name's extension).
pub fn parse_track(bytes: &[u8], file: &str) -> Result<Track, IngestError> {
    let format = TrackFormat::from_file_name(file).ok_or_else(|| IngestError::Track {
        file: file.to_owned(),
        line: None,
        reason: "unknown track format (expected .gpx, .nmea, .json or .csv)".to_owned(),
    })?;
    let mut track = Track {
        file: file.to_owned(),
        ..Track::default()
    };
    match format {
        TrackFormat::Gpx => track.fixes = crate::gpx::parse_gpx_fixes(bytes, file)?,
        TrackFormat::Nmea => track.fixes = crate::nmea::parse_nmea(bytes, file)?,
        TrackFormat::Csv => track.fixes = crate::csv_track::parse_csv(bytes, file)?,
        TrackFormat::FramesJson => {
            let (fixes, times) = crate::frames_json::parse_frames_json(bytes, file)?;
            track.fixes = fixes;
            track.frame_times = times;
        }
    }
    if track.fixes.is_empty() {
        return Err(IngestError::EmptyTrack {
            file: file.to_owned(),
            reason: "no timed point".to_owned(),
        });
    }
    Ok(track)
}
