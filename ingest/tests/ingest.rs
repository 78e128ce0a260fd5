//! Ingest on real GPS files and real JPEG bytes.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::PathBuf;

use chrono::DateTime;
use chrono::{Duration, TimeZone, Utc};
use streetcomb_core::{Camera, ContributorId, DriveId, IngestDecision, LatLon, TrackPoint};
use streetcomb_ingest::{
    ClockSource, DriveData, Fix, IngestError, IngestOutcome, IngestParams, InputFrame, KnownFrame,
    PrivacyZone, ReplayIndex, Track, frame_file_name, ingest_drive, jpeg_phash, parse_gpx,
    parse_track, read_exif, time_from_exif,
};

fn testdata(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(p)
}

fn jpeg(w: u32, h: u32, shade: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([shade, (x % 256) as u8, (y % 256) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), 80)
        .encode_image(&img)
        .unwrap();
    out
}

/// Inserts an EXIF APP1 segment with DateTimeOriginal/SubSec/Offset after SOI.
fn with_exif(jpeg: &[u8], dt: &str, subsec: &str, offset: &str) -> Vec<u8> {
    use exif::Tag;
    let fields = [
        (Tag::DateTimeOriginal, ascii(dt)),
        (Tag::SubSecTimeOriginal, ascii(subsec)),
        (Tag::OffsetTimeOriginal, ascii(offset)),
    ];
    with_exif_fields(jpeg, fields)
}

fn ascii(s: &str) -> exif::Value {
    exif::Value::Ascii(vec![s.as_bytes().to_vec()])
}

/// Inserts an EXIF APP1 segment holding `fields` (primary IFD) after SOI.
fn with_exif_fields(
    jpeg: &[u8],
    fields: impl IntoIterator<Item = (exif::Tag, exif::Value)>,
) -> Vec<u8> {
    use exif::experimental::Writer;
    use exif::{Field, In};
    let fields: Vec<Field> = fields
        .into_iter()
        .map(|(tag, value)| Field {
            tag,
            ifd_num: In::PRIMARY,
            value,
        })
        .collect();
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    w.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn a_real_car_drive_gpx_parses_into_time_ordered_fixes() {
    let f = std::fs::File::open(testdata("gps/around-visnjan-with-car.gpx")).unwrap();
    let track = parse_gpx(f, "around-visnjan-with-car.gpx").unwrap();
    assert_eq!(track.len(), 104);
    assert!(track.windows(2).all(|w| w[0].time < w[1].time));
    let len: f64 = track
        .windows(2)
        .map(|w| w[0].pos.distance_m(w[1].pos))
        .sum();
    assert!((2_500.0..3_000.0).contains(&len), "{len} m");
}

#[test]
fn a_garmin_watch_track_parses_too() {
    let f = std::fs::File::open(testdata("gps/gpxcrate_garmin-activity.gpx")).unwrap();
    let track = parse_gpx(f, "garmin.gpx").unwrap();
    assert_eq!(track.len(), 988);
}

#[test]
fn an_unreadable_gpx_names_the_file_and_the_reason() {
    let err = parse_gpx(
        &b"<gpx><trk><trkseg><trkpt lat=\"x\""[..],
        "drive-7/track.gpx",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("drive-7/track.gpx: not a readable GPX track"),
        "{msg}"
    );
    let err = parse_gpx(
        &b"<gpx version=\"1.1\" creator=\"t\"></gpx>"[..],
        "empty.gpx",
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::EmptyTrack { .. }), "{err}");
}

#[test]
fn exif_capture_time_with_subseconds_and_offset_is_read_as_utc() {
    let bytes = with_exif(&jpeg(64, 48, 10), "2026:11:16 10:00:01", "250", "+02:00");
    let t = time_from_exif(&bytes).unwrap();
    assert_eq!(
        t,
        Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 1).unwrap() + Duration::milliseconds(250)
    );
}

fn visnjan() -> Vec<streetcomb_core::TrackPoint> {
    parse_gpx(
        std::fs::File::open(testdata("gps/around-visnjan-with-car.gpx")).unwrap(),
        "t.gpx",
    )
    .unwrap()
}

/// Params that keep every placeable frame: no sampling, trimming or near-dup check.
fn keep_all() -> IngestParams {
    IngestParams {
        keyframe_m: 0.0,
        privacy_trim_m: 0.0,
        near_duplicate_bits: None,
        ..IngestParams::default()
    }
}

fn drive(track: Option<Track>, frames: Vec<InputFrame>) -> DriveData {
    DriveData {
        drive_id: DriveId::new("d1").unwrap(),
        contributor: ContributorId::new("alice").unwrap(),
        camera: Camera {
            width: 0,
            height: 0,
            ..Camera::default()
        },
        track,
        frames,
        clock_offset_s: None,
        privacy_zones: Vec::new(),
        privacy_trim_m: None,
        keyframe_m: None,
    }
}

fn track_of(points: &[TrackPoint], file: &str) -> Track {
    Track {
        file: file.to_owned(),
        fixes: points.iter().copied().map(Fix::plain).collect(),
        frame_times: Default::default(),
    }
}

fn ingest(d: &DriveData, p: &IngestParams) -> IngestOutcome {
    ingest_drive(d, p, &ReplayIndex::new(p.replay_bits)).unwrap()
}

fn count(out: &IngestOutcome, reason: &str) -> usize {
    out.dropped_by_reason()
        .iter()
        .find(|(r, _)| r == reason)
        .map_or(0, |(_, n)| *n)
}

#[test]
fn a_drive_is_geotagged_and_every_input_frame_is_reported() {
    let track = visnjan();
    let t0 = track[10].time;
    let mut frames: Vec<InputFrame> = (0..20)
        .map(|i| InputFrame {
            file_name: frame_file_name(t0 + Duration::seconds(i)),
            bytes: jpeg(64, 48, i as u8),
        })
        .collect();
    // One frame an hour before the track, one exact duplicate, one with no time at all.
    frames.push(InputFrame {
        file_name: frame_file_name(t0 - Duration::hours(1)),
        bytes: jpeg(64, 48, 200),
    });
    frames.push(InputFrame {
        file_name: "copy.jpg".into(),
        bytes: frames[3].bytes.clone(),
    });
    frames.push(InputFrame {
        file_name: "IMG_0001.jpg".into(),
        bytes: jpeg(64, 48, 201),
    });
    let out = ingest(
        &drive(Some(track_of(&track, "track.gpx")), frames),
        &keep_all(),
    );
    assert_eq!(out.report.len(), 23);
    assert_eq!(out.drive.frames.len(), 20);
    assert_eq!(out.drive.camera.width, 64);
    let reasons = out.dropped_by_reason();
    assert_eq!(
        reasons,
        [
            ("before_track".to_owned(), 1),
            ("exact_duplicate".to_owned(), 1),
            ("no_capture_time".to_owned(), 1)
        ]
    );
    // Each kept frame sits on the track between its neighbouring fixes.
    for f in &out.drive.frames {
        let i = track.partition_point(|p| p.time <= f.captured_at);
        let (a, b) = (&track[i - 1], &track[i.min(track.len() - 1)]);
        let seg = a.pos.distance_m(b.pos);
        assert!(f.pos.distance_m(a.pos) <= seg + 0.01 && f.pos.distance_m(b.pos) <= seg + 0.01);
        assert!((0.0..360.0).contains(&f.heading_deg));
        assert!(f.phash.is_some());
    }
    assert!(
        out.report
            .iter()
            .filter(|r| r.decision == IngestDecision::Kept)
            .count()
            == 20
    );
}

#[test]
fn a_truncated_jpeg_rejects_the_drive_naming_the_file() {
    let track = visnjan();
    let good = jpeg(64, 48, 1);
    let frames = vec![
        InputFrame {
            file_name: frame_file_name(track[5].time),
            bytes: good.clone(),
        },
        InputFrame {
            file_name: "20201218T000000Z.jpg".into(),
            bytes: good[..good.len() / 2].to_vec(),
        },
    ];
    let d = drive(Some(track_of(&track, "track.gpx")), frames);
    let err = ingest_drive(&d, &IngestParams::default(), &ReplayIndex::new(4)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "20201218T000000Z.jpg: not a readable JPEG: truncated: no end-of-image marker"
    );
    // Without strict mode the same frame is dropped and reported instead.
    let out = ingest(
        &d,
        &IngestParams {
            strict_jpeg: false,
            ..keep_all()
        },
    );
    assert_eq!(count(&out, "unreadable_jpeg"), 1);
    assert_eq!(out.drive.frames.len(), 1);
}

// ---- Track formats -------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 12, 18, 10, 0, 0).unwrap()
}

/// A straight drive north at `v` m/s with a fix every second.
fn straight(n: usize, v: f64) -> Vec<TrackPoint> {
    (0..n)
        .map(|s| TrackPoint {
            time: t0() + Duration::seconds(s as i64),
            pos: LatLon::new(45.0 + s as f64 * v / 111_195.0, 13.7).unwrap(),
            alt_m: None,
            hdop: Some(1.0),
            speed_mps: Some(v),
        })
        .collect()
}

fn nmea_sentence(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}")
}

fn dm(v: f64, deg_digits: usize) -> String {
    let a = v.abs();
    let d = a.floor();
    format!("{:0w$}{:08.5}", d as u32, (a - d) * 60.0, w = deg_digits)
}

/// The fixes of `track` as an NMEA log (RMC + GGA + GSA per epoch).
fn nmea_of(track: &[TrackPoint]) -> String {
    let mut out = Vec::new();
    for p in track {
        let tod = p.time.format("%H%M%S%.3f");
        let (lat, ns) = (
            dm(p.pos.lat(), 2),
            if p.pos.lat() < 0.0 { "S" } else { "N" },
        );
        let (lon, ew) = (
            dm(p.pos.lon(), 3),
            if p.pos.lon() < 0.0 { "W" } else { "E" },
        );
        let date = p.time.format("%d%m%y");
        out.push(nmea_sentence(&format!(
            "GPRMC,{tod},A,{lat},{ns},{lon},{ew},10.0,0.0,{date},,"
        )));
        out.push(nmea_sentence(&format!(
            "GNGGA,{tod},{lat},{ns},{lon},{ew},1,08,0.9,{:.1},M,0.0,M,,",
            p.alt_m.unwrap_or(0.0)
        )));
        out.push(nmea_sentence(
            "GNGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.6,0.9,1.3",
        ));
    }
    out.join("\r\n") + "\r\n"
}

#[test]
fn a_gpx_1_0_file_with_speed_fix_and_satellites_parses() {
    let doc = br#"<?xml version="1.0"?>
<gpx version="1.0" creator="test" xmlns="http://www.topografix.com/GPX/1/0">
<trk><trkseg>
<trkpt lat="45.0" lon="13.7"><ele>100</ele><time>2020-12-18T10:00:00Z</time><speed>12.5</speed><fix>3d</fix><sat>7</sat><hdop>1.1</hdop><pdop>1.9</pdop></trkpt>
<trkpt lat="45.0001" lon="13.7"><time>2020-12-18T10:00:01Z</time><fix>none</fix><sat>2</sat><hdop>9.9</hdop></trkpt>
</trkseg></trk></gpx>"#;
    let t = parse_track(doc, "old.gpx").unwrap();
    assert_eq!(t.fixes.len(), 2);
    let a = t.fixes[0];
    assert_eq!(a.point.time, t0());
    assert_eq!((a.point.alt_m, a.point.hdop), (Some(100.0), Some(1.1)));
    assert_eq!(
        (a.satellites, a.pdop, a.has_fix),
        (Some(7), Some(1.9), Some(true))
    );
    assert_eq!(a.point.speed_mps, Some(12.5));
    assert_eq!(t.fixes[1].has_fix, Some(false));
}

#[test]
fn the_real_nmea_sample_is_refused_without_a_date_and_read_once_an_rmc_dates_it() {
    let real = std::fs::read(testdata("gps/pynmea2_data.nmea")).unwrap();
    let err = parse_track(&real, "pynmea2_data.nmea")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("pynmea2_data.nmea: no RMC sentence with a date"),
        "{err}"
    );
    // The same real GGA (with the file's other sentences and noise) after an RMC.
    let mut dated =
        nmea_sentence("GPRMC,184352.00,A,1929.045,S,02410.506,E,0.0,0.0,180613,,").into_bytes();
    dated.extend_from_slice(b"\n");
    dated.extend_from_slice(&real);
    let t = parse_track(&dated, "dated.nmea").unwrap();
    assert_eq!(t.fixes.len(), 2);
    let gga = t.fixes[1];
    assert_eq!(gga.point.time.to_rfc3339(), "2013-06-18T18:43:53.070+00:00");
    assert!((gga.point.pos.lat() + (19.0 + 29.045 / 60.0)).abs() < 1e-9);
    assert!((gga.point.pos.lon() - (24.0 + 10.506 / 60.0)).abs() < 1e-9);
    assert_eq!((gga.satellites, gga.point.hdop), (Some(4), Some(2.6)));
    assert_eq!(gga.point.alt_m, Some(100.0));
}

#[test]
fn a_real_drive_written_as_nmea_gives_the_same_fixes_as_its_gpx() {
    let gpx = visnjan();
    let t = parse_track(nmea_of(&gpx).as_bytes(), "track.nmea").unwrap();
    assert_eq!(t.fixes.len(), gpx.len());
    for (f, g) in t.fixes.iter().zip(&gpx) {
        assert_eq!(f.point.time, g.time);
        // ddmm.mmmmm keeps 1e-5 minutes: under 2 cm.
        assert!(f.point.pos.distance_m(g.pos) < 0.05);
        assert_eq!(
            (f.satellites, f.pdop, f.has_fix),
            (Some(8), Some(1.6), Some(true))
        );
        assert!((f.point.speed_mps.unwrap() - 5.14444).abs() < 1e-4);
    }
}

#[test]
fn a_csv_track_with_its_own_column_order_reads_like_the_gpx() {
    let gpx = visnjan();
    let mut csv = String::from("# exported by a logger\nlongitude;latitude;timestamp;hdop;sats\n");
    for p in &gpx {
        csv.push_str(&format!(
            "{:.8};{:.8};{};0.8;9\n",
            p.pos.lon(),
            p.pos.lat(),
            p.time.timestamp_millis()
        ));
    }
    let t = parse_track(csv.as_bytes(), "track.csv").unwrap();
    assert_eq!(t.fixes.len(), gpx.len());
    assert!(
        t.fixes
            .iter()
            .zip(&gpx)
            .all(|(f, g)| f.point.time == g.time && f.point.pos.distance_m(g.pos) < 0.01)
    );
    assert_eq!(t.fixes[0].satellites, Some(9));
}

#[test]
fn per_frame_json_metadata_places_each_frame_at_its_own_time_and_position() {
    let track = straight(30, 10.0);
    // Frame names carry no time: frames.json says when (and where) each was taken.
    let recs: Vec<serde_json::Value> = track
        .iter()
        .enumerate()
        .map(|(i, p)| {
            serde_json::json!({
                "file": format!("f{i:03}.jpg"),
                "time": p.time.timestamp_millis(),
                "lat": p.pos.lat(), "lon": p.pos.lon(), "alt": 12.0,
                "hdop": 0.9, "pdop": 1.5, "satellites": 11, "speed": 10.0,
                "accel": [0.1, 0.0, 9.8], "gyro": [0.0, 0.0, 0.01]
            })
        })
        .collect();
    let bytes = serde_json::to_vec(&serde_json::json!({ "frames": recs })).unwrap();
    let t = parse_track(&bytes, "frames.json").unwrap();
    assert_eq!(t.frame_times.len(), 30);
    let frames: Vec<InputFrame> = (0..30)
        .map(|i| InputFrame {
            file_name: format!("f{i:03}.jpg"),
            bytes: jpeg(64, 48, i as u8),
        })
        .collect();
    let out = ingest(&drive(Some(t), frames), &keep_all());
    assert_eq!(out.drive.frames.len(), 30);
    for (f, p) in out.drive.frames.iter().zip(&track) {
        assert_eq!(f.captured_at, p.time);
        assert!(f.pos.distance_m(p.pos) < 0.01);
    }
}

#[test]
fn each_malformed_track_file_is_refused_naming_the_file_the_line_and_the_reason() {
    let gpx = visnjan();
    // Corrupt a digit in the second line without fixing its checksum.
    let mut lines: Vec<String> = nmea_of(&gpx[..3]).lines().map(str::to_owned).collect();
    lines[1] = lines[1].replacen(",1,08,", ",1,09,", 1);
    let err = parse_track(lines.join("\n").as_bytes(), "bad.nmea").unwrap_err();
    assert!(
        err.to_string().starts_with("bad.nmea:2: checksum mismatch"),
        "{err}"
    );

    let csv = b"time,lat,lon\n2020-12-18T10:00:00Z,45.0,13.7\n2020-12-18T10:00:01Z,north,13.7\n";
    let err = parse_track(csv, "bad.csv").unwrap_err();
    assert_eq!(err.to_string(), "bad.csv:3: lat \"north\" is not a number");
    let err = parse_track(b"when,where\n1,2\n", "nohead.csv").unwrap_err();
    assert!(err.to_string().starts_with("nohead.csv:1: header"), "{err}");

    let json = br#"[{"time": 1608285600, "lat": 45.0, "lon": 13.7},
 {"time": 1608285601, "lat": "x", "lon": 13.7}]"#;
    let err = parse_track(json, "bad.json").unwrap_err().to_string();
    assert!(
        err.starts_with("bad.json: record #2: invalid type"),
        "{err}"
    );
    let err = parse_track(b"[{\"time\": 1,\n \"lat\": 45.0,,}]", "syntax.json").unwrap_err();
    assert!(
        err.to_string().starts_with("syntax.json:2: not valid JSON"),
        "{err}"
    );
    let err = parse_track(br#"[{"time": "soon", "lat": 45, "lon": 13}]"#, "t.json").unwrap_err();
    assert!(err.to_string().contains("record #1: time"), "{err}");

    let err = parse_track(b"<gpx><trk><trkseg><trkpt lat=\"95\"", "bad.gpx").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bad.gpx: not a readable GPX track"),
        "{err}"
    );
    let err = parse_track(b"anything", "track.kml").unwrap_err();
    assert!(err.to_string().contains("unknown track format"), "{err}");
}

// ---- EXIF GPS and the camera clock ------------------------------------------------

fn rational3(v: [f64; 3]) -> exif::Value {
    exif::Value::Rational(
        v.iter()
            .map(|x| exif::Rational {
                num: (x * 10_000.0).round() as u32,
                denom: 10_000,
            })
            .collect(),
    )
}

fn dms(v: f64) -> [f64; 3] {
    let a = v.abs();
    let d = a.floor();
    let m = ((a - d) * 60.0).floor();
    [d, m, ((a - d) * 60.0 - m) * 60.0]
}

/// A JPEG with EXIF DateTimeOriginal (camera clock, optional) and a GPS IFD.
fn with_exif_gps(
    jpeg: &[u8],
    camera: Option<DateTime<Utc>>,
    pos: LatLon,
    gps: DateTime<Utc>,
) -> Vec<u8> {
    use exif::{Tag, Value};
    let mut fields = vec![
        (
            Tag::GPSLatitudeRef,
            ascii(if pos.lat() < 0.0 { "S" } else { "N" }),
        ),
        (Tag::GPSLatitude, rational3(dms(pos.lat()))),
        (
            Tag::GPSLongitudeRef,
            ascii(if pos.lon() < 0.0 { "W" } else { "E" }),
        ),
        (Tag::GPSLongitude, rational3(dms(pos.lon()))),
        (
            Tag::GPSDateStamp,
            ascii(&gps.format("%Y:%m:%d").to_string()),
        ),
        (
            Tag::GPSTimeStamp,
            rational3([
                gps.format("%H").to_string().parse().unwrap(),
                gps.format("%M").to_string().parse().unwrap(),
                gps.format("%S%.3f").to_string().parse().unwrap(),
            ]),
        ),
        (
            Tag::GPSDOP,
            Value::Rational(vec![exif::Rational { num: 12, denom: 10 }]),
        ),
    ];
    if let Some(c) = camera {
        fields.push((
            Tag::DateTimeOriginal,
            ascii(&c.format("%Y:%m:%d %H:%M:%S").to_string()),
        ));
        fields.push((Tag::SubSecTimeOriginal, ascii(&c.format("%3f").to_string())));
    }
    with_exif_fields(jpeg, fields)
}

#[test]
fn exif_gps_geotags_a_drive_without_a_track_file_and_gives_the_camera_clock_offset() {
    let track = straight(20, 10.0);
    // The camera clock runs 2 h 0 min 3 s ahead of GPS time (local time, no offset tag).
    let ahead = Duration::seconds(7203);
    let frames: Vec<InputFrame> = track
        .iter()
        .enumerate()
        .map(|(i, p)| InputFrame {
            file_name: format!("IMG_{i:04}.jpg"),
            bytes: with_exif_gps(&jpeg(64, 48, i as u8), Some(p.time + ahead), p.pos, p.time),
        })
        .collect();
    let info = read_exif(&frames[3].bytes);
    let g = info.gps.unwrap();
    assert!(g.pos.distance_m(track[3].pos) < 0.01, "{:?}", g.pos);
    assert_eq!((g.time, g.dop), (Some(track[3].time), Some(1.2)));
    assert_eq!(info.time, Some(track[3].time + ahead));
    let out = ingest(&drive(None, frames), &keep_all());
    assert_eq!(out.clock.source, ClockSource::ExifGps);
    assert_eq!(out.clock.seconds, -7203.0);
    assert_eq!(out.drive.frames.len(), 20);
    assert_eq!(out.points.input, 20);
    for (f, p) in out.drive.frames.iter().zip(&track) {
        assert_eq!(f.captured_at, p.time);
        assert!(f.pos.distance_m(p.pos) < 0.01);
    }
    // No track file and no EXIF GPS: refused, saying so.
    let bare = drive(
        None,
        vec![InputFrame {
            file_name: "IMG_1.jpg".into(),
            bytes: jpeg(64, 48, 1),
        }],
    );
    let err = ingest_drive(&bare, &keep_all(), &ReplayIndex::new(4)).unwrap_err();
    assert!(err.to_string().contains("no frame has EXIF GPS"), "{err}");
}

#[test]
fn a_camera_clock_set_to_another_time_zone_is_found_and_corrected() {
    let track = straight(40, 10.0);
    // Names in local time (UTC+1) though they claim Z.
    let frames: Vec<InputFrame> = (0..20)
        .map(|i| InputFrame {
            file_name: frame_file_name(track[i * 2].time + Duration::hours(1)),
            bytes: jpeg(64, 48, i as u8),
        })
        .collect();
    let d = drive(Some(track_of(&track, "t.gpx")), frames);
    let out = ingest(&d, &keep_all());
    assert_eq!(out.clock.source, ClockSource::TimeZone);
    assert_eq!(out.clock.seconds, -3600.0);
    assert_eq!(out.drive.frames.len(), 20);
    // A given offset wins over the estimate.
    let given = DriveData {
        clock_offset_s: Some(-3599.5),
        ..d
    };
    let out = ingest(&given, &keep_all());
    assert_eq!(out.clock.source, ClockSource::Given);
    assert_eq!(
        out.drive.frames[0].captured_at,
        track[0].time + Duration::milliseconds(500)
    );
}

// ---- GPS cleaning in a drive -------------------------------------------------------

#[test]
fn bad_points_are_counted_by_reason_and_no_frame_is_placed_from_them() {
    let mut fixes: Vec<Fix> = straight(60, 10.0).into_iter().map(Fix::plain).collect();
    // Points 20..40 have no fix: a 21 s hole in the good track.
    for f in &mut fixes[20..40] {
        f.has_fix = Some(false);
    }
    fixes[5].point.pos = LatLon::new(45.01, 13.71).unwrap(); // a 1.1 km glitch
    fixes[50].point.hdop = Some(12.0);
    let track = Track {
        file: "t.nmea".into(),
        fixes,
        frame_times: Default::default(),
    };
    let frames: Vec<InputFrame> = (0..60)
        .map(|i| InputFrame {
            file_name: frame_file_name(t0() + Duration::seconds(i)),
            bytes: jpeg(64, 48, i as u8),
        })
        .collect();
    let out = ingest(&drive(Some(track), frames), &keep_all());
    assert_eq!(out.points.input, 60);
    assert_eq!(out.points.dropped.get("no_fix"), Some(&20));
    assert_eq!(out.points.dropped.get("hdop"), Some(&1));
    assert_eq!(out.points.dropped.get("spike"), Some(&1));
    assert_eq!(out.points.kept, 38);
    // Frames more than 5 s from a good fix in the hole are dropped: 25..=34.
    assert_eq!(count(&out, "gps_gap"), 10);
    for f in &out.drive.frames {
        let north = (f.pos.lat() - 45.0) * 111_195.0;
        let s = (f.captured_at - t0()).num_milliseconds() as f64 / 1000.0;
        assert!(
            (north - 10.0 * s).abs() < 0.5,
            "frame at {s} s is {north} m north"
        );
    }
}

// ---- Sequences, keyframes, privacy -------------------------------------------------

fn frames_every(track: &[TrackPoint], step_ms: i64, n: usize) -> Vec<InputFrame> {
    (0..n)
        .map(|i| InputFrame {
            file_name: frame_file_name(track[0].time + Duration::milliseconds(step_ms * i as i64)),
            bytes: jpeg(64, 48, (i % 256) as u8),
        })
        .collect()
}

#[test]
fn sequences_are_cut_at_time_gaps_distance_gaps_and_the_maximum_length() {
    let mut track = straight(200, 10.0);
    // A 90 s stop in the track's timing after 100 s (no frames then).
    for p in &mut track[100..] {
        p.time += Duration::seconds(90);
    }
    let mut frames = frames_every(&track, 1000, 100);
    frames.extend((100..200).map(|i| InputFrame {
        file_name: frame_file_name(track[i].time),
        bytes: jpeg(64, 48, i as u8),
    }));
    let p = IngestParams {
        seq_max_frames: 60,
        ..keep_all()
    };
    let out = ingest(&drive(Some(track_of(&track, "t.gpx")), frames), &p);
    assert_eq!(out.drive.frames.len(), 200);
    let sizes: Vec<usize> = out.sequences.iter().map(|s| s.frames.len()).collect();
    assert_eq!(sizes, [60, 40, 60, 40]);
    assert!(
        out.sequences
            .iter()
            .enumerate()
            .all(|(i, s)| s.index as usize == i)
    );
    // A distance gap: with 120 m between kept frames (every 12th frame of 10 m/s).
    let p = IngestParams {
        keyframe_m: 110.0,
        ..keep_all()
    };
    let track = straight(60, 10.0);
    let out = ingest(
        &drive(
            Some(track_of(&track, "t.gpx")),
            frames_every(&track, 1000, 60),
        ),
        &p,
    );
    assert!(
        out.sequences.iter().all(|s| s.frames.len() == 1),
        "{:?}",
        out.sequences.len()
    );
}

#[test]
fn keyframes_are_kept_every_8_m_and_every_12_m_above_24_m_per_s() {
    let p = IngestParams {
        keyframe_m: 8.0,
        ..keep_all()
    };
    let slow = straight(30, 10.0);
    let out = ingest(
        &drive(
            Some(track_of(&slow, "t.gpx")),
            frames_every(&slow, 200, 100),
        ),
        &p,
    );
    // 2 m between frames: every 4th frame is 8 m on.
    assert_eq!(out.drive.frames.len(), 25);
    assert_eq!(count(&out, "keyframe_spacing"), 75);
    let fast = straight(30, 30.0);
    let out = ingest(
        &drive(
            Some(track_of(&fast, "t.gpx")),
            frames_every(&fast, 100, 200),
        ),
        &p,
    );
    // 3 m between frames: every 4th frame is 12 m on.
    assert_eq!(out.drive.frames.len(), 50);
    for w in out.drive.frames.windows(2) {
        assert!((w[0].pos.distance_m(w[1].pos) - 12.0).abs() < 0.1);
    }
    // A drive may say it is already sampled (drive.json "keyframe_m": 0).
    let mut d = drive(
        Some(track_of(&fast, "t.gpx")),
        frames_every(&fast, 100, 200),
    );
    d.keyframe_m = Some(0.0);
    assert_eq!(ingest(&d, &p).drive.frames.len(), 200);
}

#[test]
fn privacy_trim_and_privacy_zones_drop_frames_with_their_reasons() {
    let track = straight(200, 10.0); // 1990 m
    let mut d = drive(
        Some(track_of(&track, "t.gpx")),
        frames_every(&track, 1000, 200),
    );
    let zone_centre = track[100].pos;
    d.privacy_zones = vec![PrivacyZone {
        lat: zone_centre.lat(),
        lon: zone_centre.lon(),
        radius_m: 55.0,
    }];
    let p = IngestParams {
        privacy_trim_m: 500.0,
        ..keep_all()
    };
    let out = ingest(&d, &p);
    // 0..50 and 150..200 are within 500 m of an end; 95..=105 within 55 m of the zone.
    assert_eq!(count(&out, "privacy_trim"), 100);
    assert_eq!(count(&out, "privacy_zone"), 11);
    assert_eq!(out.drive.frames.len(), 89);
    assert!(out.drive.frames.iter().all(|f| {
        let s = (f.captured_at - t0()).num_seconds();
        (50..150).contains(&s) && !(95..=105).contains(&s)
    }));
    // The per-drive override wins.
    d.privacy_trim_m = Some(0.0);
    assert_eq!(count(&ingest(&d, &p), "privacy_trim"), 0);
}

// ---- Deduplication -----------------------------------------------------------------

fn street(name: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("street/{name}"))).unwrap()
}

fn reencode(bytes: &[u8], quality: u8, scale: u32) -> Vec<u8> {
    let img = image::load_from_memory(bytes).unwrap().to_rgb8();
    let img = image::imageops::resize(
        &img,
        img.width() / scale,
        img.height() / scale,
        image::imageops::FilterType::Triangle,
    );
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), quality)
        .encode_image(&img)
        .unwrap();
    out
}

#[test]
fn real_photos_reencoded_stay_within_a_few_bits_and_different_photos_do_not() {
    let names = [
        "leuvenA.jpg",
        "leuvenB.jpg",
        "opencv_scenetext01.jpg",
        "opencv_scenetext02.jpg",
        "opencv_scenetext05.jpg",
        "licenseplate_motion.jpg",
    ];
    let hashes: Vec<u64> = names
        .iter()
        .map(|n| jpeg_phash(&street(n)).unwrap())
        .collect();
    for (n, h) in names.iter().zip(&hashes) {
        let copy = jpeg_phash(&reencode(&street(n), 60, 2)).unwrap();
        let d = streetcomb_ingest::hamming(*h, copy);
        assert!(d <= 4, "{n}: re-encoded copy is {d} bits away");
    }
    for i in 0..hashes.len() {
        for j in i + 1..hashes.len() {
            let d = streetcomb_ingest::hamming(hashes[i], hashes[j]);
            assert!(d > 10, "{} vs {}: {d} bits", names[i], names[j]);
        }
    }
}

#[test]
fn a_stopped_car_gives_stationary_and_near_duplicates() {
    // Stopped for 10 s: fixes 0.05 m apart, then GPS drift of 10 m in one jump.
    let mut track = straight(12, 0.005);
    track[11].pos = LatLon::new(45.0 + 10.0 / 111_195.0, 13.7).unwrap();
    track[11].time = track[10].time + Duration::seconds(10);
    let photo = street("leuvenA.jpg");
    let frames: Vec<InputFrame> = (0..11)
        .map(|i| InputFrame {
            file_name: frame_file_name(track[i].time),
            bytes: reencode(&photo, 70 + i as u8, 1),
        })
        .chain(std::iter::once(InputFrame {
            file_name: frame_file_name(track[11].time),
            bytes: reencode(&photo, 95, 1),
        }))
        .collect();
    let p = IngestParams {
        keyframe_m: 0.0,
        privacy_trim_m: 0.0,
        ..IngestParams::default()
    };
    let out = ingest(&drive(Some(track_of(&track, "t.gpx")), frames), &p);
    assert_eq!(count(&out, "stationary_duplicate"), 10);
    // The drifted fix is 10 m away but the picture is the same, and the car slow.
    assert_eq!(count(&out, "near_duplicate"), 1);
    assert_eq!(out.drive.frames.len(), 1);
}

#[test]
fn a_frame_replayed_from_another_contributor_is_kept_and_flagged_never_dropped() {
    let track = straight(10, 10.0);
    let names = ["leuvenA.jpg", "leuvenB.jpg", "opencv_scenetext01.jpg"];
    let frames: Vec<InputFrame> = names
        .iter()
        .enumerate()
        .map(|(i, n)| InputFrame {
            file_name: frame_file_name(track[i * 2].time),
            // Re-encoded: the photos' own EXIF dates them years before the track.
            bytes: reencode(&street(n), 92, 1),
        })
        .collect();
    let mut index = ReplayIndex::new(4);
    // Bob uploaded a resized, re-encoded copy of leuvenB; alice herself leuvenA.
    index.insert(
        jpeg_phash(&reencode(&street("leuvenB.jpg"), 70, 2)).unwrap(),
        KnownFrame {
            contributor: "bob".into(),
            frame: "bob-d1-0007".into(),
        },
    );
    index.insert(
        jpeg_phash(&street("leuvenA.jpg")).unwrap(),
        KnownFrame {
            contributor: "alice".into(),
            frame: "alice-d0-0001".into(),
        },
    );
    let d = drive(Some(track_of(&track, "t.gpx")), frames);
    let out = ingest_drive(&d, &keep_all(), &index).unwrap();
    assert_eq!(out.drive.frames.len(), 3);
    let flagged: Vec<bool> = out.drive.frames.iter().map(|f| f.flags.replay).collect();
    assert_eq!(flagged, [false, true, false]);
    assert_eq!(out.replays.len(), 1);
    assert_eq!(out.replays[0].1.frame.frame, "bob-d1-0007");
    let rows: Vec<bool> = out.report.iter().map(|r| r.flags.replay).collect();
    assert_eq!(rows, [false, true, false]);
}

// Fuzz-style property tests: parsers take arbitrary bytes without panicking, and
// every refusal names the file. (cargo-fuzz needs a nightly toolchain; these run in CI.)
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_crash_the_gpx_parser(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Err(e) = parse_gpx(&bytes[..], "fuzz.gpx") {
                prop_assert!(e.to_string().starts_with("fuzz.gpx: "), "{e}");
            }
        }

        #[test]
        fn mutated_gpx_documents_never_crash_the_parser(cut in 0usize..400, flip in 0usize..400, byte in any::<u8>()) {
            let doc = br#"<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg><trkpt lat="60.17" lon="24.94"><time>2026-11-16T08:00:00Z</time><hdop>1.2</hdop></trkpt></trkseg></trk></gpx>"#;
            let mut v = doc[..cut.min(doc.len())].to_vec();
            if let Some(b) = v.get_mut(flip) { *b = byte; }
            if let Err(e) = parse_gpx(&v[..], "m.gpx") {
                prop_assert!(e.to_string().starts_with("m.gpx: "), "{e}");
            }
        }

        #[test]
        fn arbitrary_bytes_never_crash_the_jpeg_check_or_the_exif_reader(mut bytes in proptest::collection::vec(any::<u8>(), 0..4096), soi in any::<bool>()) {
            if soi && bytes.len() > 4 {
                bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE1]);
            }
            let _ = time_from_exif(&bytes);
            if let Err(e) = streetcomb_ingest::inspect_jpeg(&bytes, "fuzz.jpg") {
                prop_assert!(e.to_string().starts_with("fuzz.jpg: not a readable JPEG"), "{e}");
            }
        }

        #[test]
        fn arbitrary_bytes_never_crash_the_nmea_csv_or_json_track_parsers(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            which in 0usize..3,
        ) {
            let file = ["fuzz.nmea", "fuzz.csv", "frames.json"][which];
            if let Err(e) = streetcomb_ingest::parse_track(&bytes, file) {
                prop_assert!(e.to_string().starts_with(file), "{e}");
            }
        }

        #[test]
        fn mutated_nmea_csv_and_json_tracks_never_crash_the_parsers(
            which in 0usize..3, cut in 0usize..600, flip in 0usize..600, byte in any::<u8>(),
        ) {
            let docs: [(&str, &[u8]); 3] = [
                ("m.nmea", b"$GPRMC,080000.00,A,6010.2000,N,02456.4000,E,10.0,90.0,161126,,,A*00\r\n$GPGGA,080000.00,6010.2000,N,02456.4000,E,1,09,1.2,12.0,M,18.0,M,,*00\r\n$GPGSA,A,3,01,02,03,04,05,06,,,,,,,2.1,1.2,1.7*00\r\n$GPRMC,080001.00,A,6010.2010,N,02456.4100,E,10.0,90.0,161126,,,A*00\r\n"),
                ("m.csv", b"time,lat,lon,alt,hdop,speed\n2026-11-16T08:00:00Z,60.17,24.94,12.0,1.2,10.0\n2026-11-16T08:00:01Z,60.1701,24.9402,12.1,1.1,10.2\n"),
                ("frames.json", br#"[{"file":"a.jpg","timestamp":"2026-11-16T08:00:00Z","lat":60.17,"lon":24.94,"alt":12.0,"hdop":1.2,"pdop":2.0,"satellites":9,"speed":10.0,"acc_x":0.1,"acc_y":0.0,"acc_z":9.8,"gyro_x":0.0,"gyro_y":0.0,"gyro_z":0.01}]"#),
            ];
            let (file, doc) = docs[which];
            let mut v = doc[..cut.min(doc.len())].to_vec();
            if let Some(b) = v.get_mut(flip) { *b = byte; }
            if let Err(e) = streetcomb_ingest::parse_track(&v, file) {
                prop_assert!(e.to_string().starts_with(file), "{e}");
            }
        }

        #[test]
        fn arbitrary_file_names_never_crash_the_time_parser(name in ".{0,40}") {
            let _ = streetcomb_ingest::time_from_file_name(&name);
        }
    }
}
