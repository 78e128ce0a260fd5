//! How the face pass's recall and cost depend on the full-frame scale and the tiles:
//! the labelled faces of `testdata/faces` shrunk to 12-30 px and pasted into 1080p
//! frames, in the tiled band (distant pedestrians) and at the top and bottom edges
//! (which only the full-frame pass sees). Used to choose `FaceParams::max_side`.
//!
//! usage: ORT_DYLIB_PATH=... STREETCOMB_MODELS=... cargo run --release -p streetcomb-vision --example face_scan

#![allow(clippy::unwrap_used)]
use image::RgbImage;
use std::path::PathBuf;
use std::time::Instant;
use streetcomb_core::BBox;
use streetcomb_vision::{FaceDetector, FaceParams, ModelInfo, init_runtime};

fn labelled() -> Vec<(String, BBox)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/faces");
    let csv = std::fs::read_to_string(root.join("boxes.csv")).unwrap();
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f[7] == "1" {
                return None;
            }
            let n = |i: usize| f[i].parse::<f32>().unwrap();
            Some((
                f[0].to_owned(),
                BBox {
                    x0: n(3),
                    y0: n(4),
                    x1: n(3) + n(5),
                    y1: n(4) + n(6),
                },
            ))
        })
        .collect()
}

fn frame(size: f32, y: u32) -> (RgbImage, Vec<BBox>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/faces");
    let mut frame = RgbImage::from_pixel(1920, 1080, image::Rgb([120, 124, 118]));
    let labels = labelled();
    let mut files: Vec<&String> = labels.iter().map(|(f, _)| f).collect();
    files.dedup();
    let mut truths = Vec::new();
    let mut x = 20u32;
    for file in files.into_iter() {
        let img = image::open(root.join(file)).unwrap().into_rgb8();
        let faces: Vec<&BBox> = labels
            .iter()
            .filter(|(f, _)| f == file)
            .map(|(_, b)| b)
            .collect();
        let mean_w = faces.iter().map(|b| b.width()).sum::<f32>() / faces.len() as f32;
        let k = size / mean_w;
        let (w, h) = (
            (img.width() as f32 * k) as u32,
            (img.height() as f32 * k) as u32,
        );
        if x + w > 1920 || y + h > 1080 {
            continue;
        }
        let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
        image::imageops::replace(&mut frame, &small, x as i64, y as i64);
        for b in faces {
            truths.push(BBox {
                x0: x as f32 + b.x0 * k,
                y0: y as f32 + b.y0 * k,
                x1: x as f32 + b.x1 * k,
                y1: y as f32 + b.y1 * k,
            });
        }
        x += w + 30;
    }
    (frame, truths)
}

fn main() {
    init_runtime(&PathBuf::from(std::env::var("ORT_DYLIB_PATH").unwrap())).unwrap();
    let dir = PathBuf::from(std::env::var("STREETCOMB_MODELS").unwrap());
    let bytes = std::fs::read(dir.join("centerface.onnx")).unwrap();
    let cases = [
        (12.0, 480),
        (15.0, 480),
        (18.0, 400),
        (20.0, 40),
        (25.0, 40),
        (30.0, 40),
        (20.0, 830),
        (25.0, 830),
        (30.0, 830),
    ];
    let frames: Vec<_> = cases.iter().map(|&(s, y)| frame(s, y)).collect();
    for (side, tiles) in [
        (1280u32, 3u32),
        (1280, 1),
        (1152, 1),
        (1088, 1),
        (960, 1),
        (1088, 3),
        (960, 3),
    ] {
        let mut det = FaceDetector::new(
            &bytes,
            ModelInfo {
                name: "c".into(),
                version: "x".into(),
            },
            FaceParams {
                max_side: side,
                tiles,
                ..FaceParams::default()
            },
            1,
        )
        .unwrap();
        let mut line = format!("{side:>5} tiles {tiles}:");
        let t = Instant::now();
        for ((s, y), (img, truths)) in cases.iter().zip(&frames) {
            let got = det.detect(img).unwrap();
            let n = truths
                .iter()
                .filter(|t| {
                    got.iter()
                        .any(|f| f.bbox.expanded(0.15, 1920, 1080).iou(t) > 0.2)
                })
                .count();
            line += &format!(" {s}px@{y} {n}/{}", truths.len());
        }
        println!(
            "{line}  {:.0} ms/frame",
            t.elapsed().as_secs_f64() * 1000.0 / cases.len() as f64
        );
    }
}
