//! `make bench-privacy`: what the privacy stage hides and what it costs the picture.
//!
//! Runs the whole stage (`VisionConfig::build`, as `streetcomb process` runs it) on
//! * labelled plate sets (`--plates DIR`, with `DIR/boxes.csv`: image,x,y,w,h[,ignore],
//!   e.g. `training/plates/generate.py evalset` or `testdata/plates/rendered`): plate
//!   recall by width, false regions a picture (blurred regions touching no labelled
//!   plate), and the share of textured 8×8 blocks destroyed outside the true boxes;
//! * the labelled faces (`--faces DIR` with `boxes.csv` as in `testdata/faces/`): face
//!   recall, false regions, collateral share;
//! * real unlabelled street frames (`--real DIR` for every `.jpg` in it, or `--real
//!   FILE`): the share of textured
//!   blocks destroyed and the regions a frame.
//!
//! A plate or face counts as hidden when nine tenths of it lies under blurred regions
//! and its pixel variance fell below a quarter. Prints Markdown tables; `--json FILE`
//! also writes every figure. `--config FILE` reads a vision config (TOML) instead of
//! the defaults. With `PRIVACY_DEBUG` set it also prints, per picture, the faces,
//! plate boxes (both models' scores) and bands, and every labelled box not hidden.
//!
//! usage: ORT_DYLIB_PATH=... STREETCOMB_MODELS=... cargo run --release -p streetcomb-vision
//!        --example privacy_bench -- [--config F] [--plates DIR]... [--faces DIR] [--real DIR]... [--json F]

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde_json::json;
use streetcomb_core::BBox;
use streetcomb_vision::audit::{Alteration, BlockVariance, alteration, median};
use streetcomb_vision::{FramePipeline, ModelInfo, Models, VisionConfig, init_runtime};

type Error = Box<dyn std::error::Error>;

const BUCKETS: [(f32, f32); 4] = [(12.0, 20.0), (20.0, 40.0), (40.0, 80.0), (80.0, f32::MAX)];

#[derive(Default)]
struct Args {
    config: Option<PathBuf>,
    plates: Vec<PathBuf>,
    faces: Option<PathBuf>,
    real: Vec<PathBuf>,
    json: Option<PathBuf>,
}

fn args() -> Result<Args, Error> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(PathBuf::from)
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--config" => a.config = Some(value()?),
            "--plates" => a.plates.push(value()?),
            "--faces" => a.faces = Some(value()?),
            "--real" => a.real.push(value()?),
            "--json" => a.json = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

fn pipeline(config: &VisionConfig) -> Result<FramePipeline, Error> {
    init_runtime(&PathBuf::from(std::env::var("ORT_DYLIB_PATH")?))?;
    let dir = PathBuf::from(std::env::var("STREETCOMB_MODELS")?);
    let mut models = Models::new();
    for file in config.model_files() {
        let info = ModelInfo {
            name: file.trim_end_matches(".onnx").into(),
            version: "bench".into(),
        };
        models.insert(file.to_owned(), (std::fs::read(dir.join(file))?, info));
    }
    Ok(config.build(&models, 2)?)
}

/// One picture through the stage: the original, what was blurred, and the picture
/// as blurred before JPEG encoding (the same pixelation, so JPEG noise is not counted
/// as damage).
struct Run {
    original: RgbImage,
    blurred: RgbImage,
    regions: Vec<BBox>,
}

fn run(pipe: &mut FramePipeline, path: &Path) -> Result<Run, Error> {
    let bytes = std::fs::read(path)?;
    let original = image::load_from_memory(&bytes)?.into_rgb8();
    let out = pipe.process(&bytes)?;
    if std::env::var_os("PRIVACY_DEBUG").is_some() {
        eprintln!(
            "{}: {} faces {:?}",
            path.display(),
            out.faces.len(),
            out.faces.iter().map(|f| f.score).collect::<Vec<_>>()
        );
        for p in &out.plates {
            eprintln!(
                "  plate {} det {:.2} check {:?}",
                placed(&p.bbox),
                p.score,
                p.check
            );
        }
        eprintln!("  bands {:?}", out.vehicle_bands);
        for f in &out.faces {
            eprintln!("  face {} score {:.2}", placed(&f.bbox), f.score);
        }
        eprintln!("  persons {:?}", out.persons);
    }
    let mut blurred = original.clone();
    streetcomb_vision::pixelate_regions(&mut blurred, &out.blurred);
    Ok(Run {
        original,
        blurred,
        regions: out.blurred,
    })
}

/// A box as "x,y wxh", whole pixels.
fn placed(b: &BBox) -> String {
    format!("{:.0},{:.0} {:.0}x{:.0}", b.x0, b.y0, b.width(), b.height())
}

/// How well `b` is hidden: the share of it under blurred regions and the fraction of
/// its pixel variance left.
fn hiding(r: &Run, b: &BBox) -> (f64, f64) {
    let ratio = support::variance(&r.blurred, b) / support::variance(&r.original, b).max(1e-9);
    (support::covered(b, &r.regions), ratio)
}

/// Regions that overlap none of the labelled boxes (ignored ones included).
fn false_regions(regions: &[BBox], truths: &[BBox]) -> usize {
    regions
        .iter()
        .filter(|r| !truths.iter().any(|t| r.iou(t) > 0.0))
        .count()
}

/// image -> (box, ignore) from a CSV whose columns `cols` are image, x, y, w, h and
/// optionally ignore.
fn labels(csv: &Path, cols: [usize; 6]) -> Result<BTreeMap<String, Vec<(BBox, bool)>>, Error> {
    let mut out: BTreeMap<String, Vec<(BBox, bool)>> = BTreeMap::new();
    for line in std::fs::read_to_string(csv)?.lines().skip(1) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let n = |i: usize| f[cols[i]].parse::<f32>();
        let b = BBox {
            x0: n(1)?,
            y0: n(2)?,
            x1: n(1)? + n(3)?,
            y1: n(2)? + n(4)?,
        };
        let ignore = f.get(cols[5]).is_some_and(|v| *v == "1");
        out.entry(f[cols[0]].to_owned())
            .or_default()
            .push((b, ignore));
    }
    Ok(out)
}

/// `DIR/boxes.csv`, or else the one CSV file in `DIR`.
fn csv_in(dir: &Path) -> Result<PathBuf, Error> {
    let boxes = dir.join("boxes.csv");
    if boxes.is_file() {
        return Ok(boxes);
    }
    std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .ok_or_else(|| format!("no labels (.csv) in {}", dir.display()).into())
}

#[derive(Default)]
struct Labelled {
    pictures: usize,
    total: [usize; 4],
    hidden: [usize; 4],
    false_regions: usize,
    outside: Vec<f64>,
}

fn labelled_set(
    pipe: &mut FramePipeline,
    dir: &Path,
    labels: &BTreeMap<String, Vec<(BBox, bool)>>,
) -> Result<Labelled, Error> {
    let mut l = Labelled::default();
    for (file, boxes) in labels {
        let r = run(pipe, &dir.join(file))?;
        l.pictures += 1;
        let truths: Vec<BBox> = boxes.iter().map(|(b, _)| *b).collect();
        l.false_regions += false_regions(&r.regions, &truths);
        let a = alteration(&BlockVariance::of(&r.original), &r.blurred, &truths);
        l.outside.push(a.destroyed_outside_share());
        for (b, ignore) in boxes {
            let Some(k) = BUCKETS
                .iter()
                .position(|&(lo, hi)| b.width() >= lo && b.width() < hi)
            else {
                continue;
            };
            if *ignore {
                continue;
            }
            l.total[k] += 1;
            let (covered, ratio) = hiding(&r, b);
            let hidden = covered >= 0.9 && ratio < 0.25;
            l.hidden[k] += usize::from(hidden);
            if !hidden && std::env::var_os("PRIVACY_DEBUG").is_some() {
                eprintln!(
                    "  not hidden: {file} {b:?} covered {covered:.2} variance ratio {ratio:.2}"
                );
            }
        }
    }
    Ok(l)
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

fn main() -> Result<(), Error> {
    let args = args()?;
    let config: VisionConfig = match &args.config {
        Some(p) => toml::from_str(&std::fs::read_to_string(p)?)?,
        None => VisionConfig::default(),
    };
    let mut pipe = pipeline(&config)?;
    let mut report = serde_json::Map::new();

    for dir in &args.plates {
        let l = labelled_set(&mut pipe, dir, &labels(&csv_in(dir)?, [0, 1, 2, 3, 4, 5])?)?;
        println!("\nplates: {} ({} pictures)", dir.display(), l.pictures);
        println!("| plate width | plates | hidden |");
        println!("|---|---|---|");
        let mut by_size = serde_json::Map::new();
        for (k, (lo, hi)) in BUCKETS.iter().enumerate() {
            let name = if *hi == f32::MAX {
                format!("{lo}+")
            } else {
                format!("{lo}-{hi}")
            };
            println!(
                "| {name} px | {} | {:.1} % |",
                l.total[k],
                pct(l.hidden[k], l.total[k])
            );
            by_size.insert(name, json!({"plates": l.total[k], "hidden": l.hidden[k]}));
        }
        let (t20, h20) = (l.total[1..].iter().sum(), l.hidden[1..].iter().sum());
        let (t40, h40) = (l.total[2..].iter().sum(), l.hidden[2..].iter().sum());
        println!("| **>= 20 px** | {t20} | **{:.1} %** |", pct(h20, t20));
        println!("| **>= 40 px** | {t40} | **{:.1} %** |", pct(h40, t40));
        let fr = l.false_regions as f64 / l.pictures.max(1) as f64;
        let out = median(&l.outside);
        println!(
            "false regions {fr:.2} a picture; textured blocks destroyed outside the plates: median {:.2} %",
            100.0 * out
        );
        report.insert(
            format!("plates:{}", dir.display()),
            json!({
                "pictures": l.pictures, "by_width": by_size,
                "recall_20": pct(h20, t20) / 100.0, "recall_40": pct(h40, t40) / 100.0,
                "false_regions_per_picture": fr, "median_destroyed_outside": out,
            }),
        );
    }

    if let Some(dir) = &args.faces {
        // testdata/faces/boxes.csv: image,split,label,x,y,w,h,ignore
        let labels = labels(&dir.join("boxes.csv"), [0, 3, 4, 5, 6, 7])?;
        let l = labelled_set(&mut pipe, dir, &labels)?;
        let (t, h): (usize, usize) = (l.total.iter().sum(), l.hidden.iter().sum());
        let fr = l.false_regions as f64 / l.pictures.max(1) as f64;
        let out = median(&l.outside);
        println!(
            "\nfaces: {} ({} pictures): {h}/{t} hidden; false regions {fr:.2} a picture; destroyed outside the faces: median {:.2} %",
            dir.display(),
            l.pictures,
            100.0 * out
        );
        report.insert(
            "faces".into(),
            json!({"faces": t, "hidden": h, "false_regions_per_picture": fr, "median_destroyed_outside": out}),
        );
    }

    let mut shares = Vec::new();
    let mut regions = Vec::new();
    let mut frames = Vec::new();
    for dir in &args.real {
        let mut files: Vec<PathBuf> = if dir.is_file() {
            vec![dir.clone()]
        } else {
            std::fs::read_dir(dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
                .collect()
        };
        files.sort();
        for f in files {
            let r = run(&mut pipe, &f)?;
            let a: Alteration = alteration(&BlockVariance::of(&r.original), &r.blurred, &[]);
            shares.push(a.destroyed_share());
            regions.push(r.regions.len() as f64);
            frames.push(json!({
                "file": f.display().to_string(), "destroyed": a.destroyed_share(),
                "regions": r.regions.len(),
            }));
        }
    }
    if !frames.is_empty() {
        println!("\nreal frames ({}):", frames.len());
        println!("| frame | regions | textured blocks destroyed |");
        println!("|---|---|---|");
        for f in &frames {
            println!(
                "| {} | {} | {:.2} % |",
                f["file"].as_str().unwrap_or(""),
                f["regions"],
                100.0 * f["destroyed"].as_f64().unwrap_or(0.0)
            );
        }
        println!(
            "**median destroyed {:.2} %**, mean regions {:.2} a frame (max {})",
            100.0 * median(&shares),
            regions.iter().sum::<f64>() / regions.len() as f64,
            regions.iter().cloned().fold(0.0, f64::max)
        );
        report.insert(
            "real".into(),
            json!({"frames": frames, "median_destroyed": median(&shares),
                   "mean_regions": regions.iter().sum::<f64>() / regions.len() as f64}),
        );
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
