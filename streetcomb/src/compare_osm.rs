//! `streetcomb compare-osm`: the built map against an OSM extract's mapped signals
//! and signs, the way KartaView reports sign changes.
//!
//! The mapped points are the extract's features as [`streetcomb_sim::RoadNetwork`]
//! reads them (traffic signals, stop and give-way nodes, crossings, hydrants, sign
//! codes, and a speed-limit sign where each way's `maxspeed` begins; see
//! `streetcomb_sim::osm`), each beside its road rather than on the centreline where
//! OSM puts it, so that a match radius of a few metres is fair. The features the
//! simulator invents for classes the extract does not map are left out: OSM does not
//! have them. The comparison itself is [`streetcomb_mapbuild::compare_with_osm`].

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use streetcomb_datasets::Store;
use streetcomb_mapbuild::{ComparisonRow, MappedPoint, OsmComparison};

/// A mapped point counts as looked at when a published frame passed this close.
pub const LOOKED_AT_M: f64 = 30.0;

#[derive(Debug, Clone, Serialize)]
pub struct OsmReport {
    pub radius_m: f64,
    /// Rows per class and outcome.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    pub rows: Vec<ComparisonRow>,
}

/// Compares the store's features with the mapped features of `net`.
pub async fn run(
    store: &Store,
    net: &streetcomb_sim::RoadNetwork,
    radius_m: f64,
) -> Result<OsmReport> {
    let features = store.read_features().await?;
    let frames: Vec<_> = store
        .read_frames()
        .await?
        .into_iter()
        .filter(|f| f.is_published())
        .collect();
    let mapped: Vec<MappedPoint> = net
        .features()
        .iter()
        .filter(|t| !t.is_synthetic())
        .map(|t| MappedPoint {
            id: t.id.clone(),
            class: t.class,
            pos: t.pos,
        })
        .collect();
    let rows =
        streetcomb_mapbuild::compare_with_osm(&features, &mapped, &frames, radius_m, LOOKED_AT_M);
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in &rows {
        *counts
            .entry(r.class.to_string())
            .or_default()
            .entry(outcome_name(r.outcome).to_owned())
            .or_default() += 1;
    }
    Ok(OsmReport {
        radius_m,
        counts,
        rows,
    })
}

fn outcome_name(o: OsmComparison) -> &'static str {
    match o {
        OsmComparison::Same => "same",
        OsmComparison::New => "new",
        OsmComparison::MissingInOsm => "missing_in_osm",
        OsmComparison::MissingInImagery => "missing_in_imagery",
    }
}

pub fn print(r: &OsmReport) {
    println!(
        "{:<14} {:>6} {:>6} {:>15} {:>19}",
        "class", "same", "new", "missing_in_osm", "missing_in_imagery"
    );
    for (class, c) in &r.counts {
        let n = |k: &str| c.get(k).copied().unwrap_or(0);
        println!(
            "{:<14} {:>6} {:>6} {:>15} {:>19}",
            class,
            n("same"),
            n("new"),
            n("missing_in_osm"),
            n("missing_in_imagery")
        );
    }
    println!(
        "(match radius {} m; mapped points count only where a published frame passed within {LOOKED_AT_M} m)",
        r.radius_m
    );
}

/// Writes the rows as JSON, or as CSV when `path` ends in `.csv`.
pub fn write(path: &Path, rows: &[ComparisonRow]) -> Result<()> {
    let bytes = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["id", "class", "lat", "lon", "outcome", "matched"])?;
        for r in rows {
            w.write_record([
                r.id.as_str(),
                r.class.as_str(),
                &r.pos.lat().to_string(),
                &r.pos.lon().to_string(),
                outcome_name(r.outcome),
                r.matched.as_deref().unwrap_or(""),
            ])?;
        }
        w.into_inner().context("writing CSV")?
    } else {
        serde_json::to_vec_pretty(rows)?
    };
    Ok(streetcomb_pipeline::drive_dir::write_atomic(path, &bytes)?)
}
