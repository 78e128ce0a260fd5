//! Comparison of built features with a map's mapped points (e.g. an OSM extract's
//! traffic signals and stop signs), in the way KartaView reports sign changes.
//!
//! - `same`: a built feature with a mapped point of its class within the radius;
//! - `new`: a built feature that appeared in the latest epoch (status `new`) with no
//!   mapped point near: likely a sign the map does not have yet;
//! - `missing_in_osm`: an established built feature (seen over several epochs or
//!   drives) with no mapped point near: the map lacks it;
//! - `missing_in_imagery`: a mapped point that the drives had in view (a built
//!   feature's or a covered frame's surroundings) but no built feature stands for,
//!   or whose feature was marked removed.
//!
//! Mapped points further than `coverage_m` from every frame are not judged: nobody
//! looked.

use streetcomb_core::matching::greedy_closest_pairs;
use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{FeatureClass, FeatureStatus, Frame, LatLon, LocalFrame, MapFeature};

/// The outcome for one built feature or mapped point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsmComparison {
    Same,
    New,
    MissingInOsm,
    MissingInImagery,
}

/// A point of the reference map.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MappedPoint {
    pub id: String,
    pub class: FeatureClass,
    pub pos: LatLon,
}

/// One row of the comparison: a built feature's id, or a mapped point's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ComparisonRow {
    pub id: String,
    pub class: FeatureClass,
    pub pos: LatLon,
    pub outcome: OsmComparison,
    /// The other side of a `same` pair.
    pub matched: Option<String>,
}

/// Compares `features` with `mapped` within `radius_m`; a mapped point counts as
/// looked at within `coverage_m` of a frame. Rows: every live built feature, then the
/// mapped points that imagery should have shown. Deterministic (greedy closest pairs).
pub fn compare_with_osm(
    features: &[MapFeature],
    mapped: &[MappedPoint],
    frames: &[Frame],
    radius_m: f64,
    coverage_m: f64,
) -> Vec<ComparisonRow> {
    let Some(origin) = features
        .first()
        .map(|f| f.pos)
        .or(mapped.first().map(|m| m.pos))
    else {
        return Vec::new();
    };
    let local = LocalFrame::new(origin);
    let mxy: Vec<(f64, f64)> = mapped.iter().map(|m| local.to_local(m.pos)).collect();
    let index = SpatialIndex::of_points(&mxy);
    let live: Vec<&MapFeature> = features
        .iter()
        .filter(|f| f.status != FeatureStatus::Removed)
        .collect();
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, f) in live.iter().enumerate() {
        let p = local.to_local(f.pos);
        for j in index.near(p, radius_m) {
            let d = (p.0 - mxy[j].0).hypot(p.1 - mxy[j].1);
            if mapped[j].class == f.class && d <= radius_m {
                pairs.push((d, i, j));
            }
        }
    }
    let mut f_used = vec![false; live.len()];
    let mut m_used = vec![false; mapped.len()];
    let mut f_match: Vec<Option<usize>> = vec![None; live.len()];
    for (_, i, j) in greedy_closest_pairs(pairs, &mut f_used, &mut m_used) {
        f_match[i] = Some(j);
    }
    let mut rows: Vec<ComparisonRow> = live
        .iter()
        .zip(&f_match)
        .map(|(f, m)| ComparisonRow {
            id: f.id.to_string(),
            class: f.class,
            pos: f.pos,
            outcome: match m {
                Some(_) => OsmComparison::Same,
                None if f.status == FeatureStatus::New => OsmComparison::New,
                None => OsmComparison::MissingInOsm,
            },
            matched: m.map(|j| mapped[j].id.clone()),
        })
        .collect();
    // Mapped points the drives passed without a feature to show for them.
    let mut looked = vec![false; mapped.len()];
    for fr in frames {
        let p = local.to_local(fr.pos);
        for j in index.near(p, coverage_m) {
            if (p.0 - mxy[j].0).hypot(p.1 - mxy[j].1) <= coverage_m {
                looked[j] = true;
            }
        }
    }
    for (j, m) in mapped.iter().enumerate() {
        if !m_used[j] && looked[j] {
            rows.push(ComparisonRow {
                id: m.id.clone(),
                class: m.class,
                pos: m.pos,
                outcome: OsmComparison::MissingInImagery,
                matched: None,
            });
        }
    }
    rows
}
