//! Simulated drives over an OSM extract, written as drive directories: the demo's
//! input and the ground truth `eval` scores against.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::{drive_dir, progress, sample};

/// The bytes of an OSM extract (default: the bundled Helsinki one) and its name for
/// messages.
pub fn read_extract(osm: Option<&Path>) -> Result<(Vec<u8>, String)> {
    Ok(match osm {
        Some(p) => (
            std::fs::read(p)
                .with_context(|| format!("{}: cannot read the OSM extract", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            sample::HELSINKI_OSM.to_vec(),
            "the bundled Helsinki extract".to_owned(),
        ),
    })
}

/// The road network of an OSM extract (default: the bundled Helsinki one), PBF or
/// XML (`.osm`), told apart by content.
pub fn read_network(osm: Option<&Path>) -> Result<streetcomb_sim::RoadNetwork> {
    let (bytes, name) = read_extract(osm)?;
    streetcomb_sim::RoadNetwork::from_bytes(&bytes).with_context(|| format!("reading {name}"))
}

/// The simulator's pictures over the bundled street photos: what `simulate` and the
/// demo draw frames with.
pub fn assets() -> Result<streetcomb_sim::Assets> {
    assets_over(&sample::backgrounds())
}

/// The simulator's pictures over other street photos (encoded JPEG or PNG); the sign
/// art is always the bundled one.
pub fn assets_over(backgrounds: &[Vec<u8>]) -> Result<streetcomb_sim::Assets> {
    Ok(streetcomb_sim::Assets::new(backgrounds)?)
}

/// Simulates contributors driving the extract (default: the bundled one) and writes
/// their drives as drive directories under `out`, with a `views.json` beside each
/// (how many frames saw each true feature); returns their paths.
pub fn simulate(
    osm: Option<&Path>,
    cfg: &streetcomb_sim::SimConfig,
    out: &Path,
    quiet: bool,
) -> Result<Vec<PathBuf>> {
    let net = read_network(osm)?;
    let assets = assets()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let pb = progress::bar(0, "simulate", quiet);
    let drives = streetcomb_sim::simulate_with(&net, &assets, cfg, &mut |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    let mut dirs = Vec::new();
    for d in &drives {
        let dir = drive_dir::write_sim_drive(out, d)?;
        let mut views: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for f in &d.frames {
            for v in &f.visible {
                *views.entry(v.feature_id.as_str()).or_default() += 1;
            }
        }
        drive_dir::write_atomic(&dir.join("views.json"), &serde_json::to_vec_pretty(&views)?)?;
        dirs.push(dir);
    }
    tracing::info!(
        drives = drives.len(),
        road_km = net.road_length_m() / 1000.0,
        "simulated"
    );
    Ok(dirs)
}
