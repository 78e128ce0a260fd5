//! CSV tracks: a header row names the columns, in any order. Required: a time
//! (`time`/`timestamp`/`datetime`), `lat`/`latitude`, `lon`/`lng`/`longitude`.
//! Optional: `alt`/`altitude`/`ele`, `hdop`, `pdop`, `satellites`/`sats`, `speed`
//! (m/s), `accuracy` (m), `fix` (0/1). Times are ISO 8601 or Unix seconds/milliseconds.
//! Separator: comma, or semicolon/tab when the header uses them. Lines starting with
//! `#` are comments. Read by the `csv` crate (quoted cells included); errors name the
//! file's line.

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
    // The separator is the first of `,` `;` tab that the header row uses.
    let header_line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| err(1, "empty file: expected a header row".into()))?;
    let sep = [b',', b';', b'\t']
        .into_iter()
        .find(|c| header_line.as_bytes().contains(c))
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let line_of = |pos: Option<&csv::Position>| pos.map_or(1, |p| p.line() as usize);
    let header = reader
        .headers()
        .map_err(|e| err(line_of(e.position()), e.to_string()))?
        .clone();
    let hline = line_of(header.position());
    let mut cols = Columns::default();
    for (i, name) in header.iter().enumerate() {
        let slot = match name.to_ascii_lowercase().as_str() {
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
            format!("header {header_line:?} lacks a time, lat or lon column"),
        ));
    };
    let mut fixes = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| err(line_of(e.position()), e.to_string()))?;
        let n = line_of(record.position());
        // An all-blank row is no fix (a trailing empty line of a spreadsheet export).
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |c: usize| record.get(c).unwrap_or("");
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn quoted_cells_and_a_tab_separated_header_are_read() {
        let text = "\"time\"\t\"lat\"\t\"lon\"\n\"2020-12-18T10:00:00Z\"\t\"45.5\"\t\"13.25\"\n\n";
        let fixes = parse_csv(text.as_bytes(), "t.csv").unwrap();
        assert_eq!(fixes.len(), 1);
        assert_eq!(fixes[0].point.pos.lat(), 45.5);
        assert_eq!(fixes[0].point.pos.lon(), 13.25);
    }

    #[test]
    fn a_row_with_an_unclosed_quote_is_refused_naming_its_line() {
        let text =
            "time,lat,lon\n2020-12-18T10:00:00Z,45.5,13.25\n2020-12-18T10:00:01Z,\"45.6,13.25\n";
        let e = parse_csv(text.as_bytes(), "t.csv").unwrap_err().to_string();
        assert!(e.starts_with("t.csv:3:"), "{e}");
    }
}
