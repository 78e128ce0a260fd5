//! How the face pass's recall and cost depend on the full-frame scale and the tiles:
//! the labelled faces of `testdata/faces` shrunk to 12-30 px and pasted into 1080p
//! frames, in the tiled band (distant pedestrians) and at the top and bottom edges
//! (which only the full-frame pass sees), for the float CenterFace and its 8-bit
//! version. Used to choose `FaceParams::max_side` and to check the quantized model.
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
    // The float model and its 8-bit version (the default), at each full-frame scale.
    let runs = ["centerface.onnx", "centerface_int8.onnx"]
        .into_iter()
        .flat_map(|m| [1280u32, 1152, 1088, 960].map(|side| (m, side, 3u32)));
    for (file, side, tiles) in runs {
        let bytes = std::fs::read(dir.join(file)).unwrap();
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
        let mut line = format!("{file:<21} {side:>5} tiles {tiles}:");
        let t = Instant::now();
        for ((s, y), (img, truths)) in cases.iter().zip(&frames) {
            let n = support::faces_found(&det.detect(img).unwrap(), truths, 1920, 1080);
            line += &format!(" {s}px@{y} {n}/{}", truths.len());
        }
        println!(
            "{line}  {:.0} ms/frame",
            t.elapsed().as_secs_f64() * 1000.0 / cases.len() as f64
        );
    }
}
