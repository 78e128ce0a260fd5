//! Times as track files write them: RFC 3339 / ISO 8601 (UTC when no offset is given),
//! or a Unix time in seconds or milliseconds.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Parses a textual time. `None` when it matches no accepted form.
pub fn parse_time_text(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&n));
        }
    }
    s.parse::<f64>().ok().and_then(unix_time)
}

/// A Unix time: values above 10^11 are milliseconds (10^11 s is the year 5138).
pub fn unix_time(v: f64) -> Option<DateTime<Utc>> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ms = if v > 1e11 { v } else { v * 1000.0 };
    if ms > 1e15 {
        return None;
    }
    Utc.timestamp_millis_opt(ms.round() as i64).single()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn iso_unix_seconds_and_milliseconds_give_the_same_instant() {
        let t = parse_time_text("2026-11-16T08:00:00.500Z").unwrap();
        assert_eq!(parse_time_text("2026-11-16 08:00:00.5"), Some(t));
        assert_eq!(parse_time_text("1794816000.5"), Some(t));
        assert_eq!(parse_time_text("1794816000500"), Some(t));
        assert_eq!(parse_time_text("yesterday"), None);
    }
}
