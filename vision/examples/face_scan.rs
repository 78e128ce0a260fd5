//! How the face pass's recall and cost depend on the full-frame scale and the tiles:
//! the labelled faces of `testdata/faces` shrunk to 12-30 px and pasted into 1080p
//! frames, in the tiled band (distant pedestrians) and at the top and bottom edges
//! (which only the full-frame pass sees). Used to choose `FaceParams::max_side`.
//!
//! usage: ORT_DYLIB_PATH=... STREETCOMB_MODELS=... cargo run --release -p streetcomb-vision --example face_scan

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Instant;

use streetcomb_vision::{FaceDetector, FaceParams, ModelInfo, init_runtime};

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
    let frames: Vec<_> = cases
        .iter()
        .map(|&(s, y)| support::shrunk_faces_frame(s, y, 30, usize::MAX))
        .collect();
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
