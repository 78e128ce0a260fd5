//! Ingest on real GPS files and real JPEG bytes.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::PathBuf;

use chrono::{Duration, TimeZone, Utc};
use streetcomb_core::{Camera, ContributorId, DriveId, IngestDecision};
use streetcomb_ingest::{
    IngestError, IngestParams, InputFrame, frame_file_name, ingest_drive, parse_gpx, time_from_exif,
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
    use exif::experimental::Writer;
    use exif::{Field, In, Tag, Value};
    let fields = [
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![dt.as_bytes().to_vec()]),
        },
        Field {
            tag: Tag::SubSecTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![subsec.as_bytes().to_vec()]),
        },
        Field {
            tag: Tag::OffsetTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![offset.as_bytes().to_vec()]),
        },
    ];
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
    let out = ingest_drive(
        DriveId::new("d1").unwrap(),
        ContributorId::new("alice").unwrap(),
        Camera {
            width: 0,
            height: 0,
            ..Camera::default()
        },
        track.clone(),
        "track.gpx",
        frames,
        &IngestParams::default(),
    )
    .unwrap();
    assert_eq!(out.report.len(), 23);
    assert_eq!(out.drive.frames.len(), 20);
    assert_eq!(out.drive.camera.width, 64);
    let reasons = out.dropped_by_reason();
    assert_eq!(
        reasons,
        [
            ("before the GPS track".to_owned(), 1),
            ("exact duplicate".to_owned(), 1),
            ("no capture time".to_owned(), 1)
        ]
    );
    // Each kept frame sits on the track between its neighbouring fixes.
    for f in &out.drive.frames {
        let i = track.partition_point(|p| p.time <= f.captured_at);
        let (a, b) = (&track[i - 1], &track[i.min(track.len() - 1)]);
        let seg = a.pos.distance_m(b.pos);
        assert!(f.pos.distance_m(a.pos) <= seg + 0.01 && f.pos.distance_m(b.pos) <= seg + 0.01);
        assert!((0.0..360.0).contains(&f.heading_deg));
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
    let err = ingest_drive(
        DriveId::new("d2").unwrap(),
        ContributorId::new("bob").unwrap(),
        Camera::default(),
        track,
        "track.gpx",
        frames,
        &IngestParams::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "20201218T000000Z.jpg: not a readable JPEG: truncated: no end-of-image marker"
    );
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
        fn arbitrary_file_names_never_crash_the_time_parser(name in ".{0,40}") {
            let _ = streetcomb_ingest::time_from_file_name(&name);
        }
    }
}
