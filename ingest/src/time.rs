//! Capture times of frames: EXIF first, then the file name.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// The file name the simulator and the docs use for a frame captured at `t`.
pub fn frame_file_name(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%S%.3fZ.jpg").to_string()
}

/// Parses `YYYYMMDDTHHMMSS[.fff]Z` at the start of a file name (UTC).
pub fn time_from_file_name(name: &str) -> Option<DateTime<Utc>> {
    let stem = name.rsplit('/').next()?;
    let end = stem.find('Z')?;
    let s = &stem[..end];
    let fmt = if s.contains('.') {
        "%Y%m%dT%H%M%S%.f"
    } else {
        "%Y%m%dT%H%M%S"
    };
    NaiveDateTime::parse_from_str(s, fmt)
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

/// Reads EXIF `DateTimeOriginal` with `SubSecTimeOriginal` and `OffsetTimeOriginal`.
/// Without an offset the camera clock is taken as UTC (dashcams usually run on GPS time).
/// `None` when the JPEG has no EXIF or no such tag.
pub fn time_from_exif(jpeg: &[u8]) -> Option<DateTime<Utc>> {
    crate::exif_gps::read_exif(jpeg).time
}

/// The capture time from EXIF text fields (`text(tag)` gives a tag's text).
pub(crate) fn exif_capture_time(
    text: impl Fn(exif::Tag) -> Option<String>,
) -> Option<DateTime<Utc>> {
    use exif::Tag;
    let dt = text(Tag::DateTimeOriginal).or_else(|| text(Tag::DateTime))?;
    let mut naive = NaiveDateTime::parse_from_str(&dt, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(&dt, "%Y:%m:%d %H:%M:%S"))
        .ok()?;
    if let Some(sub) = text(Tag::SubSecTimeOriginal) {
        let digits: String = sub.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() {
            let frac: f64 = format!("0.{digits}").parse().ok()?;
            naive += chrono::Duration::microseconds((frac * 1e6).round() as i64);
        }
    }
    let offset = text(Tag::OffsetTimeOriginal).and_then(|o| parse_offset(&o));
    let tz = offset.unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_names_round_trip_to_the_millisecond() {
        let t = Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 1).unwrap()
            + chrono::Duration::milliseconds(500);
        let name = frame_file_name(t);
        assert_eq!(name, "20261116T080001.500Z.jpg");
        assert_eq!(time_from_file_name(&name), Some(t));
        assert_eq!(
            time_from_file_name("20261116T080001Z.jpg"),
            Some(Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 1).unwrap())
        );
    }

    #[test]
    fn names_without_a_time_give_none() {
        assert_eq!(time_from_file_name("IMG_0001.jpg"), None);
        assert_eq!(time_from_file_name("20261399T999999Z.jpg"), None);
    }

    #[test]
    fn offsets_parse_with_sign() {
        assert_eq!(parse_offset("+02:00"), FixedOffset::east_opt(7200));
        assert_eq!(parse_offset("-05:30"), FixedOffset::east_opt(-19800));
        assert_eq!(parse_offset("02:00"), None);
    }
}
