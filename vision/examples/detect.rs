//! Prints what the feature detector sees in JPEG files, with per-class scores.
//!
//! `cargo run -p streetcomb-vision --example detect -- [--min 0.2] [--no-tiles] FILE...`
//! (needs ORT_DYLIB_PATH and STREETCOMB_MODELS, as exported by the Makefile).

use std::path::PathBuf;

use streetcomb_vision::detector::coco_rules;
use streetcomb_vision::{FeatureDetector, ModelInfo, init_runtime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut min = None;
    let mut tiles = true;
    if let Some(i) = args.iter().position(|a| a == "--min") {
        min = Some(args[i + 1].parse::<f32>()?);
        args.drain(i..=i + 1);
    }
    if let Some(i) = args.iter().position(|a| a == "--no-tiles") {
        tiles = false;
        args.remove(i);
    }
    init_runtime(&PathBuf::from(std::env::var("ORT_DYLIB_PATH")?))?;
    let model = std::fs::read(
        PathBuf::from(std::env::var("STREETCOMB_MODELS")?).join("coco_ssd_mobilenet_v2.onnx"),
    )?;
    let mut rules = coco_rules();
    if let Some(m) = min {
        rules.iter_mut().for_each(|r| r.min_score = m);
    }
    let mut det = FeatureDetector::new(
        &model,
        ModelInfo {
            name: "coco".into(),
            version: "dev".into(),
        },
        rules,
        2,
    )?;
    det.tiles = tiles;
    for f in args {
        let img = image::open(&f)?.into_rgb8();
        let t = std::time::Instant::now();
        let found = det.detect(&img)?;
        println!("{f}: {} detections in {:?}", found.len(), t.elapsed());
        for d in found {
            let b = d.bbox;
            println!(
                "  {:<14} {:.2}  x {:.0}-{:.0}  y {:.0}-{:.0}",
                d.class.as_str(),
                d.score,
                b.x0,
                b.x1,
                b.y0,
                b.y1
            );
        }
    }
    Ok(())
}
