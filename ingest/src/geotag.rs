//! Geotagging: place each frame on the track by time, and report every decision.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streetcomb_core::{
    Camera, CellId, ContributorId, Drive, DriveId, Frame, FrameFlags, FrameId, IngestDecision,
    IngestRecord, LatLon, TrackPoint,
};

use crate::{IngestError, inspect_jpeg, time_from_exif, time_from_file_name};

/// Limits applied while geotagging.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IngestParams {
    /// A frame further than this from a real fix (in time) is not placed.
    pub max_gap_s: f64,
    /// GPS points with a worse HDOP are ignored (Hivemapper keeps HDOP ≤ 4).
    pub max_hdop: f64,
    /// H3 resolution of the frames' cells.
    pub h3_resolution: u8,
    /// Refuse the whole drive on an unreadable JPEG (default) rather than dropping it.
    pub strict_jpeg: bool,
}

impl Default for IngestParams {
    fn default() -> Self {
        Self {
            max_gap_s: 5.0,
            max_hdop: 6.0,
            h3_resolution: streetcomb_core::cell::DEFAULT_RESOLUTION,
            strict_jpeg: true,
        }
    }
}

/// One input frame: its name inside `frames/` and its bytes.
#[derive(Debug, Clone)]
pub struct InputFrame {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The result of ingesting one drive: the kept frames and a report row per input.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub drive: Drive,
    pub report: Vec<IngestRecord>,
}

impl IngestOutcome {
    /// Dropped frames counted by reason, sorted by reason.
    pub fn dropped_by_reason(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for r in &self.report {
            if let IngestDecision::Dropped(reason) = &r.decision {
                *counts.entry(reason_kind(reason)).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> =
            counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        v.sort();
        v
    }
}

/// The part of a reason before its details (": ...").
fn reason_kind(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason)
}

/// Geotags a drive. Errors only for what invalidates the whole drive (an unreadable
/// JPEG in strict mode, no usable fix); everything else is a per-frame decision.
pub fn ingest_drive(
    drive_id: DriveId,
    contributor: ContributorId,
    mut camera: Camera,
    track: Vec<TrackPoint>,
    track_file: &str,
    frames: Vec<InputFrame>,
    params: &IngestParams,
) -> Result<IngestOutcome, IngestError> {
    if frames.is_empty() {
        return Err(IngestError::NoFrames);
    }
    let track = clean_track(track, params);
    if track.is_empty() {
        return Err(IngestError::EmptyTrack {
            file: track_file.to_owned(),
            reason: format!(
                "every point has HDOP above {} or repeats an earlier time",
                params.max_hdop
            ),
        });
    }
    let mut inputs = Vec::with_capacity(frames.len());
    for f in frames {
        let info = match inspect_jpeg(&f.bytes, &f.file_name) {
            Ok(info) => Some(info),
            Err(e) if params.strict_jpeg => return Err(e),
            Err(_) => None,
        };
        let time = time_from_exif(&f.bytes).or_else(|| time_from_file_name(&f.file_name));
        inputs.push((f, info, time));
    }
    // Timed frames first, in time order: of two identical files the placeable one is kept.
    inputs.sort_by(|a, b| {
        (a.2.is_none(), a.2, &a.0.file_name).cmp(&(b.2.is_none(), b.2, &b.0.file_name))
    });

    let mut kept = Vec::new();
    let mut report = Vec::with_capacity(inputs.len());
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut last_heading: Option<f64> = None;
    for (f, info, time) in inputs {
        let mut record = IngestRecord {
            drive_id: drive_id.clone(),
            contributor: contributor.clone(),
            file: f.file_name.clone(),
            captured_at: time,
            decision: IngestDecision::Kept,
            flags: FrameFlags::default(),
        };
        let placed = place(&f, info, time, &track, params, &seen, &drive_id);
        if info.is_some() {
            seen.entry(hex::encode(Sha256::digest(&f.bytes)))
                .or_insert_with(|| f.file_name.clone());
        }
        match placed {
            Err(reason) => record.decision = IngestDecision::Dropped(reason),
            Ok((id, t, pos, sha, info)) => {
                let heading = heading_at(&track, t).or(last_heading).unwrap_or(0.0);
                last_heading = Some(heading);
                if camera.width == 0 || camera.height == 0 {
                    camera.width = info.width;
                    camera.height = info.height;
                }
                let cell = CellId::from_latlon(pos, params.h3_resolution).map_err(|e| {
                    IngestError::Camera {
                        file: f.file_name.clone(),
                        reason: e.to_string(),
                    }
                })?;
                kept.push(Frame {
                    id,
                    drive_id: drive_id.clone(),
                    contributor: contributor.clone(),
                    captured_at: t,
                    pos,
                    heading_deg: heading,
                    cell,
                    image_key: f.file_name.clone(),
                    content_sha256: sha,
                    phash: None,
                    camera: Camera {
                        width: info.width,
                        height: info.height,
                        ..camera
                    },
                    flags: FrameFlags::default(),
                });
            }
        }
        report.push(record);
    }
    Ok(IngestOutcome {
        drive: Drive {
            id: drive_id,
            contributor,
            camera,
            track,
            frames: kept,
        },
        report,
    })
}

type Placed = (FrameId, DateTime<Utc>, LatLon, String, crate::JpegInfo);

fn place(
    f: &InputFrame,
    info: Option<crate::JpegInfo>,
    time: Option<DateTime<Utc>>,
    track: &[TrackPoint],
    params: &IngestParams,
    seen: &HashMap<String, String>,
    drive: &DriveId,
) -> Result<Placed, String> {
    let info = info.ok_or_else(|| "unreadable JPEG".to_owned())?;
    // Content first: a byte-identical copy is a duplicate whatever its name says.
    let sha = hex::encode(Sha256::digest(&f.bytes));
    if let Some(first) = seen.get(&sha) {
        return Err(format!("exact duplicate: same bytes as {first}"));
    }
    let t = time.ok_or_else(|| {
        "no capture time: no EXIF DateTimeOriginal and the file name is not YYYYMMDDTHHMMSS.mmmZ.jpg".to_owned()
    })?;
    let pos = interpolate(track, t, params.max_gap_s)?;
    let stem = f.file_name.rsplit('/').next().unwrap_or(&f.file_name);
    let stem = stem
        .strip_suffix(".jpg")
        .or_else(|| stem.strip_suffix(".jpeg"))
        .unwrap_or(stem);
    let stem = stem.strip_suffix(".JPG").unwrap_or(stem);
    let id = FrameId::of(drive, stem).map_err(|e| format!("bad file name: {e}"))?;
    Ok((id, t, pos, sha, info))
}

/// Drops fixes with poor HDOP and fixes whose time does not increase.
fn clean_track(mut track: Vec<TrackPoint>, params: &IngestParams) -> Vec<TrackPoint> {
    track.retain(|p| p.hdop.is_none_or(|h| h <= params.max_hdop));
    track.sort_by_key(|p| p.time);
    track.dedup_by_key(|p| p.time);
    track
}

/// Position at `t` by linear interpolation between the fixes around it.
pub fn interpolate(
    track: &[TrackPoint],
    t: DateTime<Utc>,
    max_gap_s: f64,
) -> Result<LatLon, String> {
    let gap = Duration::microseconds((max_gap_s * 1e6) as i64);
    let i = track.partition_point(|p| p.time <= t);
    if i == 0 {
        let first = &track[0];
        return if first.time - t <= gap {
            Ok(first.pos)
        } else {
            Err(format!(
                "before the GPS track: {:.1} s before its first fix",
                secs(first.time - t)
            ))
        };
    }
    let a = &track[i - 1];
    if a.time == t {
        return Ok(a.pos);
    }
    let Some(b) = track.get(i) else {
        return if t - a.time <= gap {
            Ok(a.pos)
        } else {
            Err(format!(
                "after the GPS track: {:.1} s after its last fix",
                secs(t - a.time)
            ))
        };
    };
    let span = b.time - a.time;
    if span > gap * 2 && (t - a.time > gap && b.time - t > gap) {
        return Err(format!(
            "GPS gap: no fix within {max_gap_s} s (fixes {:.1} s apart)",
            secs(span)
        ));
    }
    let frac = secs(t - a.time) / secs(span);
    Ok(a.pos.lerp(b.pos, frac))
}

fn secs(d: Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// Direction of travel at `t`: the bearing between the track positions 2 s before and
/// after, widened until the vehicle has moved at least 2 m (a stopped car keeps no
/// heading of its own).
fn heading_at(track: &[TrackPoint], t: DateTime<Utc>) -> Option<f64> {
    for half in [1.0, 2.0, 4.0, 8.0] {
        let d = Duration::milliseconds((half * 1000.0) as i64);
        let (Ok(a), Ok(b)) = (
            interpolate(track, t - d, 1e9),
            interpolate(track, t + d, 1e9),
        ) else {
            continue;
        };
        if a.distance_m(b) >= 2.0 {
            return Some(a.bearing_to(b));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn pt(sec: i64, lat: f64, lon: f64) -> TrackPoint {
        TrackPoint {
            time: Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap() + Duration::seconds(sec),
            pos: LatLon::new(lat, lon).unwrap(),
            alt_m: None,
            hdop: Some(1.0),
            speed_mps: None,
        }
    }

    #[test]
    fn a_frame_halfway_between_fixes_lands_halfway() {
        let track = vec![pt(0, 60.0, 25.0), pt(2, 60.001, 25.0)];
        let t = track[0].time + Duration::seconds(1);
        let p = interpolate(&track, t, 5.0).unwrap();
        assert!((p.lat() - 60.0005).abs() < 1e-9);
    }

    #[test]
    fn frames_far_outside_the_track_or_in_a_gap_are_refused_with_a_reason() {
        let track = vec![pt(0, 60.0, 25.0), pt(1, 60.0001, 25.0), pt(60, 60.01, 25.0)];
        let before = track[0].time - Duration::seconds(30);
        assert!(
            interpolate(&track, before, 5.0)
                .unwrap_err()
                .contains("before the GPS track")
        );
        let in_gap = track[0].time + Duration::seconds(30);
        assert!(
            interpolate(&track, in_gap, 5.0)
                .unwrap_err()
                .contains("GPS gap")
        );
        let after = track[2].time + Duration::seconds(6);
        assert!(
            interpolate(&track, after, 5.0)
                .unwrap_err()
                .contains("after the GPS track")
        );
    }

    #[test]
    fn heading_follows_the_direction_of_travel() {
        // Moving east along a parallel.
        let track: Vec<_> = (0..10)
            .map(|s| pt(s, 60.0, 25.0 + s as f64 * 0.0002))
            .collect();
        let h = heading_at(&track, track[5].time).unwrap();
        assert!((h - 90.0).abs() < 0.5, "{h}");
        // Standing still: no heading of its own.
        let still: Vec<_> = (0..10).map(|s| pt(s, 60.0, 25.0)).collect();
        assert!(heading_at(&still, still[5].time).is_none());
    }

    #[test]
    fn poor_fixes_and_time_going_backwards_are_cleaned() {
        let mut bad = pt(1, 60.0, 25.0);
        bad.hdop = Some(20.0);
        let cleaned = clean_track(
            vec![pt(2, 60.0, 25.0), bad, pt(0, 60.0, 25.0), pt(2, 61.0, 25.0)],
            &IngestParams::default(),
        );
        assert_eq!(cleaned.len(), 2);
        assert!(cleaned[0].time < cleaned[1].time);
    }
}
