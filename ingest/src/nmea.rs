//! NMEA 0183 logs: GGA (position, fix quality, satellites, HDOP, altitude), RMC (date,
//! status, position, speed) and GSA (fix mode, PDOP/HDOP).
//!
//! Sentences of one receiver epoch share a time of day: GGA, RMC and GSA of the same
//! epoch are merged into one [`Fix`]. GGA has no date, so each epoch takes the date of
//! the RMC of its epoch, else of the nearest RMC, rolling over midnight. Checksums are
//! checked on every sentence used; a bad one is an error naming the line, except on
//! the last line, which a logger cut off by power loss often leaves half-written.
//! Lines that are not GGA/RMC/GSA sentences (other talkers' sentences, noise) are
//! skipped.

use chrono::{Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use streetcomb_core::{LatLon, TrackPoint};

use crate::IngestError;
use crate::track::Fix;

const KNOT_MPS: f64 = 0.514_444;

#[derive(Debug, Default, Clone)]
struct Epoch {
    /// Milliseconds since midnight (UTC).
    tod_ms: i64,
    date: Option<NaiveDate>,
    pos: Option<LatLon>,
    alt_m: Option<f64>,
    hdop: Option<f64>,
    pdop: Option<f64>,
    speed_mps: Option<f64>,
    satellites: Option<u32>,
    has_fix: Option<bool>,
}

/// Parses an NMEA 0183 log into fixes, in file order.
pub fn parse_nmea(bytes: &[u8], file: &str) -> Result<Vec<Fix>, IngestError> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let mut epochs: Vec<Epoch> = Vec::new();
    let mut first_error: Option<IngestError> = None;
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        let Some(start) = line.find('$') else {
            continue;
        };
        let sentence = &line[start..];
        let kind = sentence.get(3..6).unwrap_or("");
        if !matches!(kind, "GGA" | "RMC" | "GSA") {
            continue;
        }
        let err = |reason: String| IngestError::Track {
            file: file.to_owned(),
            line: Some(line_no),
            reason,
        };
        let parsed = checked_fields(sentence)
            .map_err(err)
            .and_then(|fields| merge(&mut epochs, kind, &fields).map_err(err));
        if let Err(e) = parsed {
            let is_last = lines[i + 1..].iter().all(|l| l.trim().is_empty());
            if !is_last {
                return Err(e);
            }
            first_error.get_or_insert(e);
        }
    }
    if epochs.is_empty() {
        return Err(first_error.unwrap_or_else(|| IngestError::EmptyTrack {
            file: file.to_owned(),
            reason: "no GGA or RMC sentence".to_owned(),
        }));
    }
    assign_dates(&mut epochs).map_err(|reason| IngestError::Track {
        file: file.to_owned(),
        line: None,
        reason,
    })?;
    let mut fixes = Vec::with_capacity(epochs.len());
    for e in epochs {
        let (Some(date), Some(pos)) = (e.date, e.pos) else {
            continue;
        };
        let midnight = Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN));
        fixes.push(Fix {
            point: TrackPoint {
                time: midnight + Duration::milliseconds(e.tod_ms),
                pos,
                alt_m: e.alt_m,
                hdop: e.hdop,
                speed_mps: e.speed_mps,
            },
            has_fix: e.has_fix,
            pdop: e.pdop,
            satellites: e.satellites,
            accuracy_m: None,
        });
    }
    Ok(fixes)
}

/// Validates `$...*hh` and splits the body into fields.
fn checked_fields(sentence: &str) -> Result<Vec<&str>, String> {
    let body = &sentence[1..];
    let (body, sum) = body
        .rsplit_once('*')
        .ok_or_else(|| "missing checksum (*hh)".to_owned())?;
    let want = u8::from_str_radix(sum.trim(), 16)
        .map_err(|_| format!("checksum {sum:?} is not two hex digits"))?;
    let got = body.bytes().fold(0u8, |a, b| a ^ b);
    if got != want {
        return Err(format!(
            "checksum mismatch: sentence says {want:02X}, content gives {got:02X}"
        ));
    }
    Ok(body.split(',').collect())
}

fn merge(epochs: &mut Vec<Epoch>, kind: &str, f: &[&str]) -> Result<(), String> {
    let field = |i: usize| f.get(i).copied().unwrap_or("").trim();
    let need = |n: usize| {
        if f.len() < n {
            Err(format!(
                "{kind} needs at least {n} fields, found {}",
                f.len()
            ))
        } else {
            Ok(())
        }
    };
    match kind {
        "GSA" => {
            need(18)?;
            // GSA carries no time: it belongs to the epoch being read.
            let Some(e) = epochs.last_mut() else {
                return Ok(());
            };
            let mode = field(2);
            if mode == "1" {
                e.has_fix = Some(false);
            }
            e.pdop = opt_num(field(15), "PDOP")?.or(e.pdop);
            e.hdop = e.hdop.or(opt_num(field(16), "HDOP")?);
        }
        "GGA" => {
            need(10)?;
            let tod = time_of_day(field(1))?;
            let e = epoch_for(epochs, tod);
            if let Some(pos) = lat_lon(field(2), field(3), field(4), field(5))? {
                e.pos = Some(pos);
            }
            let quality = field(6);
            if !quality.is_empty() {
                let q: u32 = quality
                    .parse()
                    .map_err(|_| format!("GGA fix quality {quality:?} is not a number"))?;
                e.has_fix = Some(q != 0 && e.has_fix != Some(false));
            }
            e.satellites = opt_num(field(7), "satellite count")?.map(|s: f64| s as u32);
            e.hdop = opt_num(field(8), "HDOP")?;
            e.alt_m = opt_num(field(9), "altitude")?;
        }
        "RMC" => {
            need(10)?;
            let tod = time_of_day(field(1))?;
            let e = epoch_for(epochs, tod);
            match field(2) {
                "A" => {}
                "V" => e.has_fix = Some(false),
                s => return Err(format!("RMC status {s:?} is neither A nor V")),
            }
            if e.pos.is_none() {
                e.pos = lat_lon(field(3), field(4), field(5), field(6))?;
            }
            e.speed_mps = opt_num(field(7), "speed")?.map(|k| k * KNOT_MPS);
            let d = field(9);
            if !d.is_empty() {
                e.date = Some(
                    NaiveDate::parse_from_str(d, "%d%m%y")
                        .map_err(|_| format!("RMC date {d:?} is not DDMMYY"))?,
                );
            }
        }
        _ => {}
    }
    Ok(())
}

/// The epoch with time of day `tod`: the last one if it has that time, else a new one.
fn epoch_for(epochs: &mut Vec<Epoch>, tod: i64) -> &mut Epoch {
    if epochs.last().is_none_or(|e| e.tod_ms != tod) {
        epochs.push(Epoch {
            tod_ms: tod,
            ..Epoch::default()
        });
    }
    let n = epochs.len() - 1;
    &mut epochs[n]
}

fn time_of_day(s: &str) -> Result<i64, String> {
    let bad = || format!("time {s:?} is not hhmmss[.sss]");
    if s.len() < 6 || !s.is_char_boundary(6) {
        return Err(bad());
    }
    let (hms, frac) = s.split_at(6);
    let n = |r: std::ops::Range<usize>| hms[r].parse::<i64>().map_err(|_| bad());
    let (h, m, sec) = (n(0..2)?, n(2..4)?, n(4..6)?);
    if h > 23 || m > 59 || sec > 60 {
        return Err(bad());
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let f: f64 = format!("0{frac}").parse().map_err(|_| bad())?;
        (f * 1000.0).round() as i64
    };
    Ok(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

fn lat_lon(lat: &str, ns: &str, lon: &str, ew: &str) -> Result<Option<LatLon>, String> {
    if lat.is_empty() || lon.is_empty() {
        return Ok(None);
    }
    let deg = |v: &str, deg_digits: usize, what: &str| -> Result<f64, String> {
        let bad = || format!("{what} {v:?} is not (d)ddmm.mmmm");
        if v.len() < deg_digits + 2 || !v.is_char_boundary(deg_digits) {
            return Err(bad());
        }
        let d: f64 = v[..deg_digits].parse().map_err(|_| bad())?;
        let m: f64 = v[deg_digits..].parse().map_err(|_| bad())?;
        if !(0.0..60.0).contains(&m) {
            return Err(bad());
        }
        Ok(d + m / 60.0)
    };
    let mut la = deg(lat, 2, "latitude")?;
    let mut lo = deg(lon, 3, "longitude")?;
    match ns {
        "N" => {}
        "S" => la = -la,
        s => return Err(format!("latitude hemisphere {s:?} is neither N nor S")),
    }
    match ew {
        "E" => {}
        "W" => lo = -lo,
        s => return Err(format!("longitude hemisphere {s:?} is neither E nor W")),
    }
    LatLon::new(la, lo).map(Some).map_err(|e| e.to_string())
}

fn opt_num(s: &str, what: &str) -> Result<Option<f64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or_else(|| format!("{what} {s:?} is not a number"))
}

/// Gives every epoch a date from the RMC sentences, rolling over midnight.
fn assign_dates(epochs: &mut [Epoch]) -> Result<(), String> {
    let Some(first) = epochs.iter().position(|e| e.date.is_some()) else {
        return Err(
            "no RMC sentence with a date: GGA gives only the time of day, so the fixes cannot be dated"
                .to_owned(),
        );
    };
    let (mut date, mut tod) = (epochs[first].date, epochs[first].tod_ms);
    for e in epochs[first..].iter_mut() {
        match e.date {
            Some(d) => date = Some(d),
            None if e.tod_ms < tod => {
                date = date.and_then(|d| d.succ_opt());
                e.date = date;
            }
            None => e.date = date,
        }
        tod = e.tod_ms;
    }
    let (mut date, mut tod) = (epochs[first].date, epochs[first].tod_ms);
    for e in epochs[..first].iter_mut().rev() {
        if e.tod_ms > tod {
            date = date.and_then(|d| d.pred_opt());
        }
        e.date = date;
        tod = e.tod_ms;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sentence(body: &str) -> String {
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{sum:02X}")
    }

    #[test]
    fn gga_rmc_and_gsa_of_one_epoch_merge_into_one_fix() {
        let log = [
            sentence("GPRMC,235959.50,A,6010.000,N,02456.000,E,10.0,90.0,161126,,"),
            sentence("GPGGA,235959.50,6010.000,N,02456.000,E,1,07,1.2,12.5,M,18.0,M,,"),
            sentence("GPGSA,A,3,01,02,03,04,05,06,07,,,,,,2.1,1.2,1.7"),
            // Past midnight without an RMC: the date rolls over.
            sentence("GPGGA,000000.50,6010.001,N,02456.000,E,1,07,1.3,12.5,M,18.0,M,,"),
        ]
        .join("\r\n");
        let fixes = parse_nmea(log.as_bytes(), "t.nmea").unwrap();
        assert_eq!(fixes.len(), 2);
        let a = fixes[0];
        assert_eq!(a.point.time.to_rfc3339(), "2026-11-16T23:59:59.500+00:00");
        assert!((a.point.pos.lat() - (60.0 + 10.0 / 60.0)).abs() < 1e-9);
        assert_eq!(
            (a.satellites, a.pdop, a.point.hdop),
            (Some(7), Some(2.1), Some(1.2))
        );
        assert!((a.point.speed_mps.unwrap() - 5.14444).abs() < 1e-4);
        assert_eq!(a.has_fix, Some(true));
        assert_eq!(
            fixes[1].point.time.to_rfc3339(),
            "2026-11-17T00:00:00.500+00:00"
        );
    }

    #[test]
    fn quality_zero_and_void_status_mark_points_without_a_fix() {
        let log = [
            sentence("GPRMC,120000,V,6010.000,N,02456.000,E,0.0,0.0,161126,,"),
            sentence("GPGGA,120001,6010.000,S,02456.000,W,0,00,,,M,,M,,"),
            sentence("GPRMC,120001,A,6010.000,S,02456.000,W,0.0,0.0,161126,,"),
        ]
        .join("\n");
        let fixes = parse_nmea(log.as_bytes(), "t.nmea").unwrap();
        assert_eq!(fixes[0].has_fix, Some(false));
        assert_eq!(fixes[1].has_fix, Some(false));
        assert!(fixes[1].point.pos.lat() < 0.0 && fixes[1].point.pos.lon() < 0.0);
    }
}
