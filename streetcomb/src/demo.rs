//! `streetcomb demo`: simulate → ingest → vision → mapbuild → eval → rewards, with a summary.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use streetcomb_datasets::Store;

use crate::cli::DemoArgs;
use streetcomb_pipeline::{self as pipeline, drive_dir, eval};
use streetcomb_vision::VisionConfig;

pub async fn run(
    store_url: &str,
    args: &DemoArgs,
    vision: &VisionConfig,
    quiet: bool,
    json: bool,
) -> Result<()> {
    let started = Instant::now();
    let local = store_url.strip_prefix("file://").unwrap_or(store_url);
    if !args.keep && !store_url.contains("://") && Path::new(local).exists() {
        // Start afresh, but only in something that looks like our own data folder.
        let looks_ours =
            Path::new(local).join("frames").exists() || Path::new(local).join("drives").exists();
        if !looks_ours
            && std::fs::read_dir(local)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        {
            bail!(
                "{local} exists and does not look like a streetcomb store; choose another --store or remove it"
            );
        }
        std::fs::remove_dir_all(local).with_context(|| format!("clearing {local}"))?;
    }
    step(
        quiet,
        "1/6 simulate: contributors drive the bundled Helsinki extract",
    );
    let mut laps = Laps::new();
    let dirs = crate::cli::simulate(store_url, &args.sim, quiet)?;
    let store = Store::open(store_url).await?;
    // The extract the drives were simulated over is the map's basemap.
    let (osm, osm_name) = pipeline::simulate::read_extract(args.sim.osm.as_deref())?;
    // The basemap tiler reads PBF only; drives over an XML extract map all the same.
    let basemap = match streetcomb_sim::osm::OsmFormat::of(&osm) {
        Some(streetcomb_sim::osm::OsmFormat::Pbf) => {
            Some(pipeline::basemap::import(&store, osm, &osm_name).await?)
        }
        _ => {
            pipeline::basemap::import_xml_roads(&store, osm).await?;
            None
        }
    };
    laps.mark("simulate");

    step(
        quiet,
        "2/6 ingest: geotag frames against the noisy GPS tracks",
    );
    let inputs = dirs
        .iter()
        .map(|d| drive_dir::read_drive(d, None))
        .collect::<pipeline::Result<Vec<_>>>()?;
    let ing = pipeline::ingest(&store, inputs, &Default::default(), quiet).await?;
    laps.mark("ingest");

    step(
        quiet,
        "3/6 vision: blur faces (CenterFace) and plates (PlateNet + PlateCheck, on vehicles), detect signs (our sign detector) and read speed limits (PP-OCR)",
    );
    let vis = pipeline::process(&store, pipeline::available_cores(), vision, quiet).await?;
    laps.mark("vision");

    step(quiet, "4/6 mapbuild: triangulate features, mark coverage");
    let b = pipeline::build(&store).await?;
    laps.mark("mapbuild");

    step(
        quiet,
        "5/6 eval: features against the simulator's ground truth",
    );
    let (truth, views) = eval::read_truth(&pipeline::default_drives_dir(store_url))?;
    let ev = eval::evaluate(&store.read_features().await?, &truth, &views, 3);

    step(quiet, "6/6 rewards: score the epoch");
    let rw = pipeline::rewards(&store, None, &Default::default()).await?;
    laps.mark("eval+rewards");

    let secs = started.elapsed().as_secs_f64();
    if json {
        let totals: Vec<(String, u64)> =
            rw.totals.iter().map(|(c, v)| (c.to_string(), *v)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "basemap": basemap, "ingest": ing, "vision": vis, "mapbuild": b, "eval": ev,
                "rewards": {"epoch": rw.epoch.to_string(), "totals": totals}, "seconds": secs,
                "stage_seconds": laps.times,
            }))?
        );
        return Ok(());
    }
    println!(
        "\nstreetcomb demo — {} drives, store {store_url}, {secs:.0} s",
        ing.drives
    );
    match &basemap {
        Some(basemap) => println!(
            "basemap    {} roads, {} water areas and lines, {} buildings from {osm_name}",
            basemap.roads, basemap.water, basemap.buildings
        ),
        None => println!("basemap    none: {osm_name} is not PBF, which the basemap needs"),
    }
    println!(
        "frames     {} in, {} kept by ingest, {} published blurred, {} withheld",
        ing.frames_in, ing.kept, vis.published, vis.withheld
    );
    for (reason, n) in &ing.dropped {
        println!("           dropped {n}: {reason}");
    }
    let vision_s = laps
        .times
        .iter()
        .find(|t| t.0 == "vision")
        .map(|t| t.1)
        .unwrap_or(0.0);
    println!(
        "privacy    blurred {} faces, {} plate boxes ({:.2} a frame), {} vehicle plate bands; vision {:.1} frames/s",
        vis.faces_blurred,
        vis.plates_blurred,
        vis.plates_per_frame(),
        vis.vehicle_bands,
        vis.published as f64 / vision_s.max(1e-9)
    );
    println!(
        "           textured area altered by the blur: median {:.2} %, mean {:.2} % of a frame",
        100.0 * vis.altered_median,
        100.0 * vis.altered_mean
    );
    println!(
        "detections {} ({} sign texts read, {} speed-limit numbers read)",
        vis.detections, vis.signs_read, vis.values_read
    );
    println!(
        "features   {} ({} multi-view); {} cells covered (H3 res {})",
        b.features,
        b.multi_view,
        b.cells,
        streetcomb_core::cell::DEFAULT_RESOLUTION
    );
    eval::print_table(&ev);
    println!("rewards    epoch {}", rw.epoch);
    for (c, v) in &rw.totals {
        println!("           {c:<14} {v:>14} base units");
    }
    let stages: Vec<String> = laps
        .times
        .iter()
        .map(|(n, t)| format!("{n} {t:.0} s"))
        .collect();
    println!("time       {}", stages.join(", "));
    println!(
        "\nnext: `streetcomb --store {store_url} serve` and open http://127.0.0.1:8080/, or `streetcomb --store {store_url} query \"SELECT class, count(*) FROM features GROUP BY class\"`"
    );
    Ok(())
}

/// Wall-clock time of each demo stage.
struct Laps {
    times: Vec<(&'static str, f64)>,
    last: Instant,
}

impl Laps {
    fn new() -> Self {
        Self {
            times: Vec::new(),
            last: Instant::now(),
        }
    }

    fn mark(&mut self, name: &'static str) {
        self.times.push((name, self.last.elapsed().as_secs_f64()));
        self.last = Instant::now();
    }
}

fn step(quiet: bool, what: &str) {
    if !quiet {
        eprintln!("==> {what}");
    }
}
