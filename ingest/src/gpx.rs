//! GPX 1.0/1.1 tracks.

use std::io::Read;

use chrono::{DateTime, Utc};
use streetcomb_core::{LatLon, TrackPoint};

use crate::IngestError;

/// Reads every timed track point (and timed route/waypoint if there is no track),
/// sorted by time. Points without a time cannot geotag frames and are skipped.
pub fn parse_gpx(reader: impl Read, file: &str) -> Result<Vec<TrackPoint>, IngestError> {
    let doc = ::gpx::read(reader).map_err(|e| IngestError::Gpx {
        file: file.to_owned(),
        reason: e.to_string(),
    })?;
    let mut points = Vec::new();
    let track_points = doc
        .tracks
        .iter()
        .flat_map(|t| t.segments.iter())
        .flat_map(|s| s.points.iter());
    for w in track_points.chain(doc.waypoints.iter()) {
        let Some(time) = &w.time else { continue };
        let time = time
            .format()
            .ok()
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| IngestError::Gpx {
                file: file.to_owned(),
                reason: "a point has an unreadable <time>".to_owned(),
            })?;
        let p = w.point();
        let pos = LatLon::new(p.y(), p.x()).map_err(|e| IngestError::Gpx {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        points.push(TrackPoint {
            time,
            pos,
            alt_m: w.elevation,
            hdop: w.hdop,
            speed_mps: w.speed,
        });
    }
    if points.is_empty() {
        return Err(IngestError::EmptyTrack {
            file: file.to_owned(),
            reason: "no point with a <time>".to_owned(),
        });
    }
    points.sort_by_key(|p| p.time);
    Ok(points)
}
