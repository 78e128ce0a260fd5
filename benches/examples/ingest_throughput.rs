//! Ingest throughput next to the raw JPEG decode of the same frames.
//!
//! `ingest_throughput prepare SIM_DRIVE OUT` copies a simulated drive's frames into
//! `OUT/frames/` with an EXIF `DateTimeOriginal` (so that every geotagger reads the
//! capture time the same way) and its `track.gpx` into `OUT/`.
//!
//! `ingest_throughput run OUT RUNS` loads the frames into memory, then times, RUNS
//! times each: a full decode of every frame to RGB with zune-jpeg (the decoder ingest
//! uses) on all cores, and `ingest_drive` (default parameters: track parsing, GPS
//! cleaning, EXIF, sha256, luma decode + pHash, geotagging, sampling). It prints one
//! JSON object with the medians.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::Path;
use std::time::Instant;

use streetcomb_core::{Camera, ContributorId, DriveId};
use streetcomb_ingest::{DriveData, IngestParams, InputFrame, ReplayIndex, ingest_drive};

fn with_exif_time(jpeg: &[u8], name: &str) -> Vec<u8> {
    use exif::experimental::Writer;
    use exif::{Field, In, Tag, Value};
    let t = streetcomb_ingest::time_from_file_name(name).unwrap();
    let ascii = |s: String| Value::Ascii(vec![s.into_bytes()]);
    let fields = [
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: ascii(t.format("%Y:%m:%d %H:%M:%S").to_string()),
        },
        Field {
            tag: Tag::SubSecTimeOriginal,
            ifd_num: In::PRIMARY,
            value: ascii(t.format("%3f").to_string()),
        },
        Field {
            tag: Tag::OffsetTimeOriginal,
            ifd_num: In::PRIMARY,
            value: ascii("+00:00".to_owned()),
        },
    ];
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    w.write(&mut tiff, false).unwrap();
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(&tiff.into_inner());
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn jpegs(dir: &Path) -> Vec<InputFrame> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| InputFrame {
            file_name: p.file_name().unwrap().to_str().unwrap().to_owned(),
            bytes: std::fs::read(&p).unwrap(),
        })
        .collect()
}

fn prepare(src: &Path, out: &Path) {
    std::fs::create_dir_all(out.join("frames")).unwrap();
    for f in jpegs(&src.join("frames")) {
        let bytes = with_exif_time(&f.bytes, &f.file_name);
        std::fs::write(out.join("frames").join(&f.file_name), bytes).unwrap();
    }
    std::fs::copy(src.join("track.gpx"), out.join("track.gpx")).unwrap();
}

fn decode_rgb(bytes: &[u8]) -> usize {
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d =
        zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(bytes), opts);
    d.decode().unwrap().len()
}

/// Decodes every frame on all cores, as ingest spreads its work.
fn decode_all(frames: &[InputFrame]) -> usize {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = frames.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = frames
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|f| decode_rgb(&f.bytes)).sum::<usize>()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(dir: &Path, runs: usize) {
    let frames = jpegs(&dir.join("frames"));
    let gpx = std::fs::read(dir.join("track.gpx")).unwrap();
    let n = frames.len();
    let mut decode_s = Vec::new();
    let mut ingest_s = Vec::new();
    let mut kept = 0;
    for _ in 0..runs {
        let t = Instant::now();
        assert!(decode_all(&frames) > 0);
        decode_s.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let track = streetcomb_ingest::parse_track(&gpx, "track.gpx").unwrap();
        let data = DriveData {
            drive_id: DriveId::new("bench").unwrap(),
            contributor: ContributorId::new("bench").unwrap(),
            camera: Camera::default(),
            track: Some(track),
            frames: frames.clone(),
            clock_offset_s: None,
            privacy_zones: Vec::new(),
            privacy_trim_m: Some(0.0),
            keyframe_m: None,
        };
        let out = ingest_drive(&data, &IngestParams::default(), &ReplayIndex::new(4)).unwrap();
        ingest_s.push(t.elapsed().as_secs_f64());
        kept = out.drive.frames.len();
    }
    let (d, i) = (median(decode_s), median(ingest_s));
    println!(
        "{}",
        serde_json::json!({
            "frames": n, "kept": kept, "runs": runs,
            "decode_median_s": d, "decode_fps": n as f64 / d,
            "ingest_median_s": i, "ingest_fps": n as f64 / i,
            "ingest_over_decode": i / d,
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("prepare") => prepare(Path::new(&args[2]), Path::new(&args[3])),
        Some("run") => run(Path::new(&args[2]), args[3].parse().unwrap()),
        _ => eprintln!("usage: ingest_throughput prepare SIM_DRIVE OUT | run OUT RUNS"),
    }
}
