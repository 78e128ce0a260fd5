//! CSV tracks: a header row names the columns, in any order. Required: a time
//! (`time`/`timestamp`/`datetime`), `lat`/`latitude`, `lon`/`lng`/`longitude`.
//! Optional: `alt`/`altitude`/`ele`, `hdop`, `pdop`, `satellites`/`sats`, `speed`
//! (m/s), `accuracy` (m), `fix` (0/1). Times are ISO 8601 or Unix seconds/milliseconds.
//! Separator: comma, or semicolon/tab when the header uses them. No quoting (track
//! CSVs hold only numbers and times).

use streetcomb_core::{LatLon, TrackPoint};

use crate::IngestError;
use crate::time_parse::parse_time_text;
use crate::track::Fix;

#[derive(Debug, Default)]
struct Columns {
    time: Option<usize>,
    lat: Option<usize>,
    lon: Option<usize>,
    alt: Option<usize>,
    hdop: Option<usize>,
    pdop: Option<usize>,
    sats: Option<usize>,
    speed: Option<usize>,
    accuracy: Option<usize>,
    fix: Option<usize>,
}

/// Parses a CSV track into fixes, in file order.
pub fn parse_csv(bytes: &[u8], file: &str) -> Result<Vec<Fix>, IngestError> {
    let err = |line: usize, reason: String| IngestError::Track {
        file: file.to_owned(),
        line: Some(line),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| IngestError::Track {
        file: file.to_owned(),
        line: None,
        reason: format!("not UTF-8 text: {e}"),
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (hline, header) = lines
        .next()
        .ok_or_else(|| err(1, "empty file: expected a header row".into()))?;
    let sep = [',', ';', '\t']
        .into_iter()
        .find(|c| header.contains(*c))
        .unwrap_or(',');
    let mut cols = Columns::default();
    for (i, name) in header.split(sep).enumerate() {
        let slot = match name.trim().trim_matches('"').to_ascii_lowercase().as_str() {
            "time" | "timestamp" | "datetime" | "utc" => &mut cols.time,
            "lat" | "latitude" => &mut cols.lat,
            "lon" | "lng" | "long" | "longitude" => &mut cols.lon,
            "alt" | "altitude" | "ele" | "elevation" => &mut cols.alt,
            "hdop" => &mut cols.hdop,
            "pdop" => &mut cols.pdop,
            "satellites" | "sats" | "sat" => &mut cols.sats,
            "speed" | "speed_mps" => &mut cols.speed,
            "accuracy" | "accuracy_m" => &mut cols.accuracy,
            "fix" => &mut cols.fix,
            _ => continue,
        };
        slot.get_or_insert(i);
    }
    let (Some(tc), Some(lac), Some(loc)) = (cols.time, cols.lat, cols.lon) else {
        return Err(err(
            hline,
            format!("header {header:?} lacks a time, lat or lon column"),
        ));
    };
    let mut fixes = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line
            .split(sep)
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let cell = |c: usize| cells.get(c).copied().unwrap_or("");
        let num = |c: Option<usize>, what: &str| -> Result<Option<f64>, IngestError> {
            match c.map(cell) {
                None | Some("") => Ok(None),
                Some(s) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(Some)
                    .ok_or_else(|| err(n, format!("{what} {s:?} is not a number"))),
            }
        };
        let time = parse_time_text(cell(tc)).ok_or_else(|| {
            err(
                n,
                format!("time {:?} is not ISO 8601 or Unix time", cell(tc)),
            )
        })?;
        let lat = num(Some(lac), "lat")?.ok_or_else(|| err(n, "lat is empty".into()))?;
        let lon = num(Some(loc), "lon")?.ok_or_else(|| err(n, "lon is empty".into()))?;
        let pos = LatLon::new(lat, lon).map_err(|e| err(n, e.to_string()))?;
        fixes.push(Fix {
            point: TrackPoint {
                time,
                pos,
                alt_m: num(cols.alt, "alt")?,
                hdop: num(cols.hdop, "hdop")?,
                speed_mps: num(cols.speed, "speed")?,
            },
            has_fix: num(cols.fix, "fix")?.map(|f| f != 0.0),
            pdop: num(cols.pdop, "pdop")?,
            satellites: num(cols.sats, "satellites")?.map(|s| s.max(0.0) as u32),
            accuracy_m: num(cols.accuracy, "accuracy")?,
        });
    }
    Ok(fixes)
}
