//! EXIF in one read: the capture time (`DateTimeOriginal` + sub-seconds + offset) and
//! the GPS IFD (`GPSLatitude`/`Ref`, `GPSLongitude`/`Ref`, `GPSAltitude`/`Ref`,
//! `GPSTimeStamp` + `GPSDateStamp`, `GPSDOP`, `GPSHPositioningError`, `GPSSpeed`/`Ref`,
//! `GPSSatellites`, `GPSStatus`, `GPSMeasureMode`). Phones and action cameras write
//! these; a drive without a track file is geotagged from them.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use exif::{Exif, In, Tag, Value};
use streetcomb_core::LatLon;

/// What EXIF tells about a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExifInfo {
    /// Capture time from the camera clock (`DateTimeOriginal`), as UTC.
    pub time: Option<DateTime<Utc>>,
    pub gps: Option<ExifGps>,
}

/// The GPS IFD of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExifGps {
    pub pos: LatLon,
    /// GPS time (`GPSDateStamp` + `GPSTimeStamp`), when both are present.
    pub time: Option<DateTime<Utc>>,
    pub alt_m: Option<f64>,
    /// `GPSDOP`: HDOP for a 2-D fix, PDOP for 3-D; taken as HDOP.
    pub dop: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub speed_mps: Option<f64>,
    pub satellites: Option<u32>,
    /// `Some(false)` when `GPSStatus` is `V` (measurement void).
    pub has_fix: Option<bool>,
}

/// Reads the capture time and GPS of a JPEG. Missing or broken EXIF gives empty fields.
pub fn read_exif(jpeg: &[u8]) -> ExifInfo {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(jpeg)) else {
        return ExifInfo::default();
    };
    ExifInfo {
        time: capture_time(&exif),
        gps: gps(&exif),
    }
}

fn text(exif: &Exif, tag: Tag) -> Option<String> {
    let f = exif.get_field(tag, In::PRIMARY)?;
    match &f.value {
        Value::Ascii(v) => v.first().map(|s| {
            String::from_utf8_lossy(s)
                .trim_matches(char::from(0))
                .trim()
                .to_owned()
        }),
        _ => Some(
            f.display_value()
                .to_string()
                .trim_matches('"')
                .trim()
                .to_owned(),
        ),
    }
}

fn rationals(exif: &Exif, tag: Tag) -> Option<Vec<f64>> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Rational(v) => Some(
            v.iter()
                .map(|r| if r.denom == 0 { f64::NAN } else { r.to_f64() })
                .collect(),
        ),
        Value::SRational(v) => Some(
            v.iter()
                .map(|r| if r.denom == 0 { f64::NAN } else { r.to_f64() })
                .collect(),
        ),
        _ => None,
    }
    .filter(|v: &Vec<f64>| !v.is_empty() && v.iter().all(|x| x.is_finite()))
}

fn one(exif: &Exif, tag: Tag) -> Option<f64> {
    rationals(exif, tag).map(|v| v[0])
}

fn capture_time(exif: &Exif) -> Option<DateTime<Utc>> {
    crate::time::exif_capture_time(|tag| text(exif, tag))
}

fn gps(exif: &Exif) -> Option<ExifGps> {
    let dms = |v: Vec<f64>| -> Option<f64> {
        let d = v.first()? + v.get(1).unwrap_or(&0.0) / 60.0 + v.get(2).unwrap_or(&0.0) / 3600.0;
        Some(d)
    };
    let mut lat = dms(rationals(exif, Tag::GPSLatitude)?)?;
    let mut lon = dms(rationals(exif, Tag::GPSLongitude)?)?;
    if text(exif, Tag::GPSLatitudeRef).is_some_and(|r| r.starts_with('S')) {
        lat = -lat;
    }
    if text(exif, Tag::GPSLongitudeRef).is_some_and(|r| r.starts_with('W')) {
        lon = -lon;
    }
    // 0,0 is what many cameras write before their first fix.
    if lat == 0.0 && lon == 0.0 {
        return None;
    }
    let pos = LatLon::new(lat, lon).ok()?;
    let time = (|| {
        let date = text(exif, Tag::GPSDateStamp)?;
        let date = NaiveDate::parse_from_str(&date, "%Y:%m:%d")
            .or_else(|_| NaiveDate::parse_from_str(&date, "%Y-%m-%d"))
            .ok()?;
        let hms = rationals(exif, Tag::GPSTimeStamp)?;
        let secs = hms.first()? * 3600.0 + hms.get(1)? * 60.0 + hms.get(2)?;
        if !(0.0..86_401.0).contains(&secs) {
            return None;
        }
        let midnight = Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN));
        Some(midnight + chrono::Duration::milliseconds((secs * 1000.0).round() as i64))
    })();
    let alt_m = one(exif, Tag::GPSAltitude).map(|a| {
        let below = matches!(
            exif.get_field(Tag::GPSAltitudeRef, In::PRIMARY).map(|f| &f.value),
            Some(Value::Byte(b)) if b.first() == Some(&1)
        );
        if below { -a } else { a }
    });
    let speed_mps = one(exif, Tag::GPSSpeed).map(|s| {
        match text(exif, Tag::GPSSpeedRef).as_deref() {
            Some("M") => s * 0.447_04,
            Some("N") => s * 0.514_444,
            _ => s / 3.6, // "K", the default
        }
    });
    let status_void = text(exif, Tag::GPSStatus).is_some_and(|s| s.starts_with('V'));
    Some(ExifGps {
        pos,
        time,
        alt_m,
        dop: one(exif, Tag::GPSDOP),
        accuracy_m: one(exif, Tag::GPSHPositioningError),
        speed_mps,
        satellites: text(exif, Tag::GPSSatellites).and_then(|s| s.trim().parse().ok()),
        has_fix: status_void.then_some(false),
    })
}
