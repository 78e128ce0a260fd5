//! Simulates a short drive through the Helsinki test extract (or another extract, PBF
//! or XML), prints how many features of each class it has (mapped, from way speed
//! limits, synthetic), writes the frame where each class appears largest to a folder
//! (JPEG and PNG) and prints how long it took.
//!
//! `cargo run -p streetcomb-sim --example sample_frame -- [OUT_DIR] [EXTRACT]` (default
//! /tmp and the Helsinki extract).

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use streetcomb_core::FeatureClass;
use streetcomb_sim::{Assets, RENDERED_CLASSES, RoadNetwork, SimConfig, simulate};

fn main() -> Result<(), Box<dyn Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp".into()));
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let extract = std::env::args()
        .nth(2)
        .map_or_else(|| data.join("osm/helsinki.osm.pbf"), PathBuf::from);
    let t = Instant::now();
    let net = RoadNetwork::from_bytes(&std::fs::read(&extract)?)?;
    println!(
        "network: {:.1} km of road, {} features in {:?}",
        net.road_length_m() / 1000.0,
        net.features().len(),
        t.elapsed()
    );
    println!(
        "{:<20} {:>6} {:>6} {:>9}",
        "class", "nodes", "ways", "synthetic"
    );
    for class in FeatureClass::ALL {
        let of = |prefix: &str| {
            net.features()
                .iter()
                .filter(|f| f.class == class && f.id.starts_with(prefix))
                .count()
        };
        println!(
            "{:<20} {:>6} {:>6} {:>9}",
            class.as_str(),
            of("osm-node-"),
            of("osm-way-"),
            of("synthetic-")
        );
    }
    let backgrounds = ["leuvenA.jpg", "leuvenB.jpg"]
        .iter()
        .map(|n| std::fs::read(data.join("street").join(n)))
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    let assets = Assets::new(&backgrounds)?;
    println!("assets in {:?}", t.elapsed());
    let cfg = SimConfig {
        contributors: 1,
        drive: streetcomb_sim::DriveSettings {
            route_length_m: 1500.0,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let t = Instant::now();
    let drives = simulate(&net, &assets, &cfg)?;
    let n: usize = drives.iter().map(|d| d.frames.len()).sum();
    println!(
        "{n} frames in {:?} ({:?} per frame, plates included)",
        t.elapsed(),
        t.elapsed() / n as u32
    );
    let d = &drives[0];
    println!(
        "{} saw {} features; {} frames show one",
        d.drive_id,
        d.truth.features.len(),
        d.frames.iter().filter(|f| !f.visible.is_empty()).count()
    );
    // For each class, the frame where it appears largest.
    for class in RENDERED_CLASSES {
        let best = d
            .frames
            .iter()
            .flat_map(|f| f.visible.iter().map(move |v| (f, v)))
            .filter(|(_, v)| v.class == class)
            .max_by(|a, b| a.1.bbox.width().total_cmp(&b.1.bbox.width()));
        let Some((f, v)) = best else {
            println!("no {class} in this drive");
            continue;
        };
        let path = out.join(format!("sim-sample-{class}-{}", f.file_name));
        std::fs::write(&path, &f.jpeg)?;
        // A PNG copy for viewers without JPEG support.
        image::load_from_memory(&f.jpeg)?.save(path.with_extension("png"))?;
        println!(
            "{}: {class} at {:.1} m in {:?}",
            path.display(),
            v.distance_m,
            v.bbox
        );
    }
    Ok(())
}
