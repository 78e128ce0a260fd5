//! GPX 1.0/1.1 tracks.

use std::io::Read;

use chrono::{DateTime, Utc};
use streetcomb_core::{LatLon, TrackPoint};

use crate::IngestError;
use crate::track::Fix;

/// Reads every timed track point (and timed route/waypoint if there is no track),
/// sorted by time. Points without a time cannot geotag frames and are skipped.
pub fn parse_gpx(reader: impl Read, file: &str) -> Result<Vec<TrackPoint>, IngestError> {
    let mut bytes = Vec::new();
    let mut reader = reader;
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| IngestError::Gpx {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
    let mut points: Vec<TrackPoint> = parse_gpx_fixes(&bytes, file)?
        .into_iter()
        .map(|f| f.point)
        .collect();
    if points.is_empty() {
        return Err(IngestError::EmptyTrack {
            file: file.to_owned(),
            reason: "no point with a <time>".to_owned(),
        });
    }
    points.sort_by_key(|p| p.time);
    Ok(points)
}

/// Reads every timed point with its quality fields (`<fix>`, `<sat>`, `<hdop>`,
/// `<pdop>`), in file order: track points first, then waypoints.
pub fn parse_gpx_fixes(bytes: &[u8], file: &str) -> Result<Vec<Fix>, IngestError> {
    let doc = ::gpx::read(bytes).map_err(|e| IngestError::Gpx {
        file: file.to_owned(),
        reason: e.to_string(),
    })?;
    let mut fixes = Vec::new();
    let track_points = doc
        .tracks
        .iter()
        .flat_map(|t| t.segments.iter())
        .flat_map(|s| s.points.iter());
    let route_points = doc.routes.iter().flat_map(|r| r.points.iter());
    for (n, w) in track_points
        .chain(route_points)
        .chain(doc.waypoints.iter())
        .enumerate()
    {
        let Some(time) = &w.time else { continue };
        let time = time
            .format()
            .ok()
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| IngestError::Gpx {
                file: file.to_owned(),
                reason: format!("point #{} has an unreadable <time>", n + 1),
            })?;
        let p = w.point();
        let pos = LatLon::new(p.y(), p.x()).map_err(|e| IngestError::Gpx {
            file: file.to_owned(),
            reason: format!("point #{}: {e}", n + 1),
        })?;
        fixes.push(Fix {
            point: TrackPoint {
                time,
                pos,
                alt_m: w.elevation,
                hdop: w.hdop,
                speed_mps: w.speed,
            },
            has_fix: w.fix.as_ref().map(|f| !matches!(f, ::gpx::Fix::None)),
            pdop: w.pdop,
            satellites: w.sat.map(|s| s.min(u64::from(u32::MAX)) as u32),
            accuracy_m: None,
        });
    }
    if fixes.is_empty() {
        return Err(IngestError::EmptyTrack {
            file: file.to_owned(),
            reason: "no point with a <time>".to_owned(),
        });
    }
    Ok(fixes)
}
