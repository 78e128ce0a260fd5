//! Plate recall of the whole privacy stage (plate model plus the vehicle-band safety
//! net, as `FramePipeline` runs them), on a folder of pictures with labelled plates:
//! the held-out evaluation set of `training/plates/generate.py evalset` or the
//! fixture `testdata/plates/rendered`. A plate counts as hidden when nine tenths of
//! it lies under blurred regions and its pixel variance fell below a quarter (the
//! test suite's criterion); "model" counts the plate model's own boxes (IoU > 0.3).
//! Also reports how much of each picture was blurred, the price of recall.
//!
//! usage: ORT_DYLIB_PATH=... STREETCOMB_MODELS=... cargo run --release -p streetcomb-vision --example plate_recall -- DIR [CSV]
//! (CSV defaults to DIR/boxes.csv: image,x,y,w,h[,ignore]); PLATE_THRESHOLD and
//! PLATE_MARGIN override the defaults of `PlateParams`.

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use streetcomb_core::BBox;
use streetcomb_vision::detector::coco_rules;
use streetcomb_vision::{
    FaceDetector, FaceParams, FeatureDetector, FramePipeline, ModelInfo, PlateDetector,
    PlateParams, init_runtime,
};

const BUCKETS: [(f32, f32); 4] = [(12.0, 20.0), (20.0, 40.0), (40.0, 80.0), (80.0, f32::MAX)];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: plate_recall DIR [CSV]")?,
    );
    let csv = std::env::args()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("boxes.csv"));
    init_runtime(&PathBuf::from(std::env::var("ORT_DYLIB_PATH")?))?;
    let models = PathBuf::from(std::env::var("STREETCOMB_MODELS")?);
    let info = |n: &str| ModelInfo {
        name: n.into(),
        version: "eval".into(),
    };
    let read = |n: &str| std::fs::read(models.join(n));
    let mut pipe = FramePipeline {
        faces: FaceDetector::new(
            &read("centerface.onnx")?,
            info("centerface"),
            FaceParams::default(),
            2,
        )?,
        features: FeatureDetector::new(
            &read("coco_ssd_mobilenet_v2.onnx")?,
            info("coco"),
            coco_rules(),
            2,
        )?,
        plates: PlateDetector::new(
            &read("plate_detector.onnx")?,
            info("plates"),
            plate_params()?,
            2,
        )?,
        reader: None,
        jpeg_quality: 90,
    };

    // image -> (plate boxes, ignore flags)
    let mut labels: BTreeMap<String, Vec<(BBox, bool)>> = BTreeMap::new();
    for line in std::fs::read_to_string(&csv)?.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let n = |i: usize| f[i].trim().parse::<f32>();
        let b = BBox {
            x0: n(1)?,
            y0: n(2)?,
            x1: n(1)? + n(3)?,
            y1: n(2)? + n(4)?,
        };
        let ignore = f.get(5).is_some_and(|v| v.trim() == "1");
        labels.entry(f[0].to_owned()).or_default().push((b, ignore));
    }

    let mut total = [0usize; 4];
    let mut model = [0usize; 4];
    let mut hidden = [0usize; 4];
    let (mut area, mut pictures, mut bands) = (0.0f64, 0usize, 0usize);
    for (file, plates) in &labels {
        let bytes = std::fs::read(dir.join(file))?;
        let orig = image::load_from_memory(&bytes)?.into_rgb8();
        let out = pipe.process(&bytes)?;
        let blurred = image::load_from_memory(&out.blurred_jpeg)?.into_rgb8();
        let mask = mask(orig.width(), orig.height(), &out.blurred);
        area += mask.iter().filter(|&&m| m).count() as f64 / mask.len() as f64;
        pictures += 1;
        bands += out.vehicle_bands.len();
        for (b, ignore) in plates {
            let Some(k) = BUCKETS
                .iter()
                .position(|&(lo, hi)| b.width() >= lo && b.width() < hi)
            else {
                continue;
            };
            if *ignore {
                continue;
            }
            total[k] += 1;
            model[k] += usize::from(out.plates.iter().any(|p| p.bbox.iou(b) > 0.3));
            let ratio = support::variance(&blurred, b) / support::variance(&orig, b).max(1e-9);
            if covered(b, &mask, orig.width()) >= 0.9 && ratio < 0.25 {
                hidden[k] += 1;
            }
        }
    }
    println!(
        "{} ({} pictures, plate threshold {}, margin {})",
        dir.display(),
        pictures,
        pipe.plates.params.threshold,
        pipe.plates.params.margin
    );
    println!("| plate width | plates | plate model | hidden by the stage |");
    println!("|---|---|---|---|");
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    for (k, (lo, hi)) in BUCKETS.iter().enumerate() {
        let name = if *hi == f32::MAX {
            format!("{lo}+ px")
        } else {
            format!("{lo}-{hi} px")
        };
        println!(
            "| {name} | {} | {:.1} % | {:.1} % |",
            total[k],
            pct(model[k], total[k]),
            pct(hidden[k], total[k])
        );
    }
    let sum = |a: &[usize; 4]| a[1..].iter().sum::<usize>();
    println!(
        "| **all >= 20 px** | {} | {:.1} % ({}) | **{:.1} % ({})** |",
        sum(&total),
        pct(sum(&model), sum(&total)),
        sum(&model),
        pct(sum(&hidden), sum(&total)),
        sum(&hidden)
    );
    println!(
        "blurred area: {:.1} % of a picture on average; vehicle bands: {:.2} a picture",
        100.0 * area / pictures.max(1) as f64,
        bands as f64 / pictures.max(1) as f64
    );
    Ok(())
}

fn plate_params() -> Result<PlateParams, Box<dyn std::error::Error>> {
    let mut p = PlateParams::default();
    if let Ok(t) = std::env::var("PLATE_THRESHOLD") {
        p.threshold = t.parse()?;
    }
    if let Ok(m) = std::env::var("PLATE_MARGIN") {
        p.margin = m.parse()?;
    }
    Ok(p)
}

fn mask(w: u32, h: u32, regions: &[BBox]) -> Vec<bool> {
    let mut m = vec![false; (w * h) as usize];
    for r in regions {
        let (x0, x1) = (r.x0.max(0.0) as u32, (r.x1.ceil() as u32).min(w));
        let (y0, y1) = (r.y0.max(0.0) as u32, (r.y1.ceil() as u32).min(h));
        for y in y0..y1 {
            m[(y * w + x0) as usize..(y * w + x1) as usize].fill(true);
        }
    }
    m
}

fn covered(b: &BBox, mask: &[bool], w: u32) -> f64 {
    let h = mask.len() as u32 / w;
    let (mut inside, mut n) = (0usize, 0usize);
    for y in (b.y0.max(0.0) as u32)..(b.y1.ceil() as u32).min(h) {
        for x in (b.x0.max(0.0) as u32)..(b.x1.ceil() as u32).min(w) {
            n += 1;
            inside += usize::from(mask[(y * w + x) as usize]);
        }
    }
    inside as f64 / n.max(1) as f64
}
