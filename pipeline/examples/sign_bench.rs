//! `make bench-signs`: the sign detector on simulated dashcam frames whose every sign
//! box is known: recall and precision per class and sign size, speed-limit numbers
//! read, class confusions, and milliseconds per frame.
//!
//! Frames come from the simulator over an OSM extract (`--osm FILE`, `.osm.pbf` or
//! `.osm`; default: the bundled one) at 1920×1080 (`--width`, `--height`), seeded
//! (`--seed`) so every run sees the same frames, over the bundled backgrounds or the
//! photos given with `--background FILE` (repeatable). A true sign counts as found when a
//! box of its class overlaps it with IoU ≥ 0.3; a box that matches no sign of its
//! class is a false one, unless it lies on a sign smaller than the smallest bucket or
//! more than a quarter hidden behind nearer signs (those are neither demanded nor held
//! against the detector). `--check off` runs the
//! detector alone, without SignCheck's second look. `--json FILE` also writes every
//! figure. `--box-sides FILE` writes each found box's sides against its sign's (CSV:
//! class, true width, true height, found width, found height), and `--box-fit off`
//! leaves the boxes as the detector gave them: what `training/signs/fit_boxes.py`
//! fits `signs.box_fit` from.
//!
//! usage: ORT_DYLIB_PATH=... STREETCOMB_MODELS=... cargo run --release -p streetcomb-pipeline
//!        --example sign_bench -- [--osm F] [--frames N] [--seed S] [--width W --height H]
//!        [--background FILE]... [--check on|off] [--json F] [--box-sides F]
//!        [--box-fit on|off]

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use streetcomb_core::{BBox, FeatureClass};
use streetcomb_pipeline::{models, simulate};
use streetcomb_vision::signs::read_values;
use streetcomb_vision::{SignCheck, SignDetector, TextReader, VisionConfig, init_runtime};

type Error = Box<dyn std::error::Error>;

/// Size buckets by the sign box's long side, pixels; below the first is not scored.
const BUCKETS: [(f32, f32); 4] = [(8.0, 14.0), (14.0, 24.0), (24.0, 48.0), (48.0, f32::MAX)];
const MATCH_IOU: f32 = 0.3;

struct Args {
    osm: Option<PathBuf>,
    frames: usize,
    seed: u64,
    width: u32,
    height: u32,
    backgrounds: Vec<PathBuf>,
    check: bool,
    json: Option<PathBuf>,
    box_sides: Option<PathBuf>,
    box_fit: bool,
}

fn args() -> Result<Args, Error> {
    let mut a = Args {
        osm: None,
        frames: 300,
        seed: 11,
        width: 1920,
        height: 1080,
        backgrounds: Vec::new(),
        check: true,
        json: None,
        box_sides: None,
        box_fit: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--osm" => a.osm = Some(value.into()),
            "--frames" => a.frames = value.parse()?,
            "--seed" => a.seed = value.parse()?,
            "--width" => a.width = value.parse()?,
            "--height" => a.height = value.parse()?,
            "--json" => a.json = Some(value.into()),
            "--background" => a.backgrounds.push(value.into()),
            "--box-sides" => a.box_sides = Some(value.into()),
            "--check" => a.check = on_off(&flag, &value)?,
            "--box-fit" => a.box_fit = on_off(&flag, &value)?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    Ok(a)
}

fn on_off(flag: &str, value: &str) -> Result<bool, Error> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{flag} takes on or off").into()),
    }
}

fn bucket(b: &BBox) -> Option<usize> {
    let side = b.width().max(b.height());
    BUCKETS.iter().position(|&(lo, hi)| side >= lo && side < hi)
}

#[derive(Default, Clone)]
struct Tally {
    /// Per bucket: (true signs, found).
    truth: [(usize, usize); 4],
    /// Boxes of this class: (all, matching a true sign of the class).
    boxes: (usize, usize),
    /// Found boxes against their true ones (signs of 14 px and more): width and
    /// height ratios, and the centre's column offset in pixels. Range comes from the
    /// box's size and bearing from its column, so a bias here is a position error.
    fit: Vec<(f64, f64, f64)>,
}

fn main() -> Result<(), Error> {
    let a = args()?;
    init_runtime(&models::ort_library()?)?;
    let mut cfg = VisionConfig::default();
    if !a.box_fit {
        cfg.signs.box_fit.clear();
    }
    let dir = models::model_dir();
    let (bytes, info) = models::load_model(&dir, &cfg.sign_model)?;
    let mut signs = SignDetector::new(&bytes, info, cfg.signs.clone(), 2)?;
    if a.check && !cfg.sign_check_model.is_empty() {
        let (bytes, info) = models::load_model(&dir, &cfg.sign_check_model)?;
        signs.check = Some(SignCheck::new(&bytes, info, 2)?);
    }
    let (bytes, tinfo) = models::load_model(&dir, &cfg.text_model)?;
    let mut reader = TextReader::new(&bytes, tinfo, 2)?;
    reader.min_score = cfg.text_min_score;

    let net = simulate::read_network(a.osm.as_deref())?;
    let base = streetcomb_sim::SimConfig::default();
    let mut drive = base.drive.clone();
    drive.camera.width = a.width;
    drive.camera.height = a.height;
    // Enough road for the frames asked, over two contributors.
    drive.route_length_m = drive.speed_mps * drive.frame_interval_s * a.frames as f64 / 2.0;
    let sim = streetcomb_sim::SimConfig {
        seed: a.seed,
        contributors: 2,
        drive,
        ..base
    };
    let assets = if a.backgrounds.is_empty() {
        simulate::assets()?
    } else {
        let photos = a
            .backgrounds
            .iter()
            .map(std::fs::read)
            .collect::<Result<Vec<_>, _>>()?;
        simulate::assets_over(&photos)?
    };
    eprintln!("simulating {} frames of {}x{}", a.frames, a.width, a.height);
    let drives = streetcomb_sim::simulate_with(&net, &assets, &sim, &mut |_, _| {})?;

    let mut tally: BTreeMap<FeatureClass, Tally> = BTreeMap::new();
    let mut confusion: BTreeMap<(FeatureClass, FeatureClass), usize> = BTreeMap::new();
    let mut sides = vec!["class,true_w,true_h,found_w,found_h".to_string()];
    let (mut values, mut values_read, mut values_right) = (0usize, 0usize, 0usize);
    let (mut detect_ms, mut total_ms) = (Vec::new(), Vec::new());
    let mut n_frames = 0usize;
    for d in &drives {
        let truth_value: HashMap<&str, Option<u32>> = d
            .truth
            .features
            .iter()
            .map(|f| (f.id.as_str(), f.value))
            .collect();
        for f in &d.frames {
            n_frames += 1;
            let img = image::load_from_memory(&f.jpeg)?.into_rgb8();
            let t0 = Instant::now();
            let mut found = signs.detect(&img)?;
            let t1 = Instant::now();
            read_values(&mut reader, &img, &mut found, cfg.signs.min_value_px);
            detect_ms.push((t1 - t0).as_secs_f64() * 1e3);
            total_ms.push(t0.elapsed().as_secs_f64() * 1e3);

            let mut used = vec![false; found.len()];
            // Boxes on signs that are not scored (mostly hidden behind a nearer one).
            let mut neutral = vec![false; found.len()];
            for v in &f.visible {
                let Some(k) = bucket(&v.bbox) else { continue };
                let best = found
                    .iter()
                    .enumerate()
                    .filter(|(i, b)| !used[*i] && b.class == v.class)
                    .map(|(i, b)| (i, b.bbox.iou(&v.bbox)))
                    .filter(|(_, iou)| *iou >= MATCH_IOU)
                    .max_by(|x, y| x.1.total_cmp(&y.1));
                if !v.in_the_open() {
                    if let Some((i, _)) = best {
                        (used[i], neutral[i]) = (true, true);
                    }
                    continue;
                }
                let t = tally.entry(v.class).or_default();
                t.truth[k].0 += 1;
                if let Some((i, _)) = best {
                    used[i] = true;
                    t.truth[k].1 += 1;
                    let (got, truth) = (&found[i].bbox, &v.bbox);
                    sides.push(format!(
                        "{},{},{},{},{}",
                        v.class,
                        truth.width(),
                        truth.height(),
                        got.width(),
                        got.height()
                    ));
                    if k > 0 {
                        t.fit.push((
                            f64::from(got.width() / truth.width()),
                            f64::from(got.height() / truth.height()),
                            f64::from(got.center_x() - truth.center_x()),
                        ));
                    }
                    if let Some(Some(tv)) = truth_value.get(v.feature_id.as_str())
                        && found[i].bbox.height() >= cfg.signs.min_value_px
                    {
                        values += 1;
                        values_read += usize::from(found[i].value.is_some());
                        values_right += usize::from(found[i].value == Some(*tv));
                    }
                }
            }
            for (i, b) in found.iter().enumerate() {
                if neutral[i] {
                    continue;
                }
                let t = tally.entry(b.class).or_default();
                if used[i] {
                    t.boxes.0 += 1;
                    t.boxes.1 += 1;
                    continue;
                }
                let over = f
                    .visible
                    .iter()
                    .filter(|v| v.bbox.iou(&b.bbox) >= MATCH_IOU)
                    .max_by(|x, y| x.bbox.iou(&b.bbox).total_cmp(&y.bbox.iou(&b.bbox)));
                match over {
                    // On a sign too small or too hidden to score: neither found nor false.
                    Some(v) if bucket(&v.bbox).is_none() || !v.in_the_open() => {}
                    Some(v) => {
                        t.boxes.0 += 1;
                        if v.class != b.class {
                            *confusion.entry((v.class, b.class)).or_default() += 1;
                        }
                    }
                    None => t.boxes.0 += 1,
                }
            }
        }
    }

    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (det_med, all_med) = (median(&mut detect_ms), median(&mut total_ms));
    println!(
        "\nsign detector {} on {n_frames} simulated {}x{} frames (seed {})\n",
        signs.label(),
        a.width,
        a.height,
        a.seed
    );
    println!("| class | 8-14 px | 14-24 px | 24-48 px | 48+ px | recall ≥ 14 px | precision |");
    println!("|---|---|---|---|---|---|---|");
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            "-".to_owned()
        } else {
            format!("{:.3} ({a}/{b})", a as f64 / b as f64)
        }
    };
    let mut rows = Vec::new();
    for (class, t) in &tally {
        let cells: Vec<String> = t.truth.iter().map(|&(n, k)| ratio(k, n)).collect();
        let (n14, k14) = t.truth[1..]
            .iter()
            .fold((0, 0), |acc, &(n, k)| (acc.0 + n, acc.1 + k));
        println!(
            "| {class} | {} | {} | {} | {} | {} | {} |",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            ratio(k14, n14),
            ratio(t.boxes.1, t.boxes.0)
        );
        rows.push(json!({
            "class": class.as_str(),
            "buckets": t.truth.iter().map(|&(n, k)| json!({"truth": n, "found": k})).collect::<Vec<_>>(),
            "recall_14px": (n14 > 0).then(|| k14 as f64 / n14 as f64),
            "boxes": t.boxes.0,
            "true_boxes": t.boxes.1,
            "precision": (t.boxes.0 > 0).then(|| t.boxes.1 as f64 / t.boxes.0 as f64),
        }));
    }
    println!(
        "\nbox fit, signs ≥ 14 px (found / true, medians): what range (size) and bearing (column) see"
    );
    println!("| class | width | height | column offset px | \\|column offset\\| px |");
    println!("|---|---|---|---|---|");
    let mut fits = Vec::new();
    for (class, t) in &tally {
        let col = |f: fn(&(f64, f64, f64)) -> f64| {
            let mut v: Vec<f64> = t.fit.iter().map(f).collect();
            median(&mut v)
        };
        let (w, h, c, ac) = (col(|x| x.0), col(|x| x.1), col(|x| x.2), col(|x| x.2.abs()));
        println!("| {class} | {w:.3} | {h:.3} | {c:+.2} | {ac:.2} |");
        fits.push(json!({"class": class.as_str(), "n": t.fit.len(), "width_ratio": w, "height_ratio": h, "column_offset_px": c, "abs_column_offset_px": ac}));
    }
    println!(
        "\nspeed limits found ≥ {} px tall: {values}; number read {values_read}, right {values_right} ({})",
        cfg.signs.min_value_px,
        ratio(values_right, values)
    );
    if !confusion.is_empty() {
        let c: Vec<String> = confusion
            .iter()
            .map(|((t, b), n)| format!("{t} as {b}: {n}"))
            .collect();
        println!("confusions: {}", c.join(", "));
    }
    println!(
        "ms a frame (median): detector {det_med:.1}, detector + numbers {all_med:.1} (2 threads)"
    );
    if let Some(p) = &a.json {
        let doc = json!({
            "model": signs.label(),
            "frames": n_frames,
            "width": a.width,
            "height": a.height,
            "seed": a.seed,
            "classes": rows,
            "box_fit": fits,
            "speed_values": {"found": values, "read": values_read, "right": values_right},
            "confusions": confusion.iter().map(|((t, b), n)| json!({"truth": t.as_str(), "detected": b.as_str(), "n": n})).collect::<Vec<_>>(),
            "ms_detector_median": det_med,
            "ms_with_values_median": all_med,
        });
        std::fs::write(p, serde_json::to_vec_pretty(&doc)?)?;
    }
    if let Some(p) = &a.box_sides {
        sides.push(String::new());
        std::fs::write(p, sides.join("\n"))?;
    }
    Ok(())
}
