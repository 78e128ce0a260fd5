//! The basemap: roads, water and buildings cut from the OpenStreetMap extract a store
//! was built over, as vector tiles the viewer draws under the data, so the map shows
//! streets without any tile CDN.
//!
//! [`Basemap::from_pbf`] reads the ways of an OSM PBF stream once; [`Basemap::tile`]
//! cuts one `z/x/y` tile on request, with the same extent, buffer, clipping and size
//! budget as the data tiles:
//!
//! | layer       | geometry | zooms | properties |
//! |-------------|----------|-------|------------|
//! | `water`     | Polygon (lakes, ponds, riverbanks, basins); LineString (rivers, canals, streams) | areas ≥ 8, rivers ≥ 10, canals ≥ 12, streams ≥ 13 | `class` |
//! | `roads`     | LineString | motorway, trunk ≥ 5; primary ≥ 8; secondary ≥ 9; tertiary ≥ 11; minor ≥ 12; service, path ≥ 14 | `class`, `name` (when mapped) |
//! | `buildings` | Polygon  | ≥ 14 | – |
//!
//! Road classes fold OSM's `highway` values: `_link` roads join their road's class,
//! `residential`/`unclassified`/`living_street`/`road` are `minor`, and
//! `pedestrian`/`footway`/`cycleway`/`path`/`steps`/`track` are `path`.
//!
//! Areas come from closed ways only; multipolygon relations (the sea, large lakes,
//! buildings with courtyards) are not assembled, so those are missing from the map.
//! Lines and rings are simplified per tile (Douglas-Peucker, one tile unit), below
//! which the encoder would round the detail away anyway.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use osmpbf::{Element, ElementReader};
use rstar::RTree;
use streetcomb_core::LatLon;
use tilejson::{TileJSON, tilejson};

use crate::clip::{clip_line, clip_ring, simplify_line, snap_line, snap_ring};
use crate::encode::{Geom, Prop, Thinning, TileFeature, TileLayer, encode_within};
use crate::index::{Entry, query};
use crate::mercator::{TileTransform, check_tile, clip_limits, project};
use crate::tilejson::{bounds_or_world, layer};
use crate::{MAX_TILE_BYTES, TILEJSON_MAX_ZOOM, TileError};

/// Basemap layer names, in draw order.
pub const LAYER_WATER: &str = "water";
pub const LAYER_ROADS: &str = "roads";
pub const LAYER_BUILDINGS: &str = "buildings";

/// Buildings appear from this zoom.
pub const BUILDINGS_MIN_ZOOM: u8 = 14;

/// Which basemap layer a way belongs to; the order is the draw order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BaseLayer {
    Water,
    Roads,
    Buildings,
}

impl BaseLayer {
    fn name(self) -> &'static str {
        match self {
            BaseLayer::Water => LAYER_WATER,
            BaseLayer::Roads => LAYER_ROADS,
            BaseLayer::Buildings => LAYER_BUILDINGS,
        }
    }
}

/// What a way is drawn as: its layer, class, whether it is an area, and the first
/// zoom it appears at. The class order within a layer is its importance (kept first
/// when a tile is over budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    layer: BaseLayer,
    class: &'static str,
    area: bool,
    min_zoom: u8,
    importance: u8,
}

const fn kind(
    layer: BaseLayer,
    class: &'static str,
    area: bool,
    min_zoom: u8,
    importance: u8,
) -> Kind {
    Kind {
        layer,
        class,
        area,
        min_zoom,
        importance,
    }
}

/// The road class of a `highway` value: (class, first zoom, importance).
fn road(highway: &str) -> Option<(&'static str, u8, u8)> {
    let base = highway.strip_suffix("_link").unwrap_or(highway);
    Some(match base {
        "motorway" => ("motorway", 5, 0),
        "trunk" => ("trunk", 5, 1),
        "primary" => ("primary", 8, 2),
        "secondary" => ("secondary", 9, 3),
        "tertiary" => ("tertiary", 11, 4),
        "residential" | "unclassified" | "living_street" | "road" => ("minor", 12, 5),
        "service" => ("service", 14, 6),
        "pedestrian" | "footway" | "cycleway" | "path" | "steps" | "track" | "bridleway" => {
            ("path", 14, 7)
        }
        _ => return None,
    })
}

/// How a way with these tags is drawn, if at all. `closed`: its first and last node
/// are the same (only closed ways can be areas).
fn classify(tags: &[(&str, &str)], closed: bool) -> Option<Kind> {
    let tag = |k: &str| tags.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    if tag("area") != Some("yes")
        && let Some((class, z, rank)) = tag("highway").and_then(road)
    {
        return Some(kind(BaseLayer::Roads, class, false, z, rank));
    }
    if closed {
        let water_area = tag("natural") == Some("water")
            || tag("waterway") == Some("riverbank")
            || matches!(tag("landuse"), Some("reservoir" | "basin"));
        if water_area {
            return Some(kind(BaseLayer::Water, "water", true, 8, 0));
        }
        if tag("building").is_some_and(|b| b != "no") {
            return Some(kind(
                BaseLayer::Buildings,
                "building",
                true,
                BUILDINGS_MIN_ZOOM,
                0,
            ));
        }
    }
    match tag("waterway") {
        Some("river") => Some(kind(BaseLayer::Water, "river", false, 10, 1)),
        Some("canal") => Some(kind(BaseLayer::Water, "canal", false, 12, 2)),
        Some("stream") => Some(kind(BaseLayer::Water, "stream", false, 13, 3)),
        _ => None,
    }
}

/// One way of the basemap, in world coordinates (Web Mercator, 0..1).
#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    name: Option<String>,
    /// For areas: the ring, not closed.
    world: Vec<[f64; 2]>,
}

/// A way as read from OSM, before projection; tests build these by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseWay {
    /// The way's tags (`highway`, `name`, `building`, `natural`, `waterway`, …).
    pub tags: Vec<(String, String)>,
    pub points: Vec<LatLon>,
}

/// Why an extract could not be read into a basemap.
#[derive(Debug, thiserror::Error)]
pub enum BasemapError {
    #[error("cannot read the OSM PBF extract: {0}")]
    Read(#[from] osmpbf::Error),
    #[error("the OSM extract holds no roads, water or buildings to draw")]
    Empty,
}

/// Counts of what a basemap holds, per layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BasemapCounts {
    pub roads: usize,
    pub water: usize,
    pub buildings: usize,
}

/// Roads, water and buildings, projected and indexed, ready to cut into tiles.
pub struct Basemap {
    /// Sorted by (layer, importance, read order): the rank used to thin a layer.
    items: Vec<Item>,
    index: RTree<Entry>,
    bounds: Option<[f64; 4]>,
}

impl fmt::Debug for Basemap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Basemap")
            .field("counts", &self.counts())
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl Basemap {
    /// Reads the drawable ways of an OSM PBF stream (nodes and ways; relations are
    /// skipped). Every node's position is held while reading, as for the simulator.
    pub fn from_pbf(reader: impl Read + Send) -> Result<Basemap, BasemapError> {
        let mut nodes: HashMap<i64, LatLon> = HashMap::new();
        let mut ways: Vec<(Kind, Option<String>, Vec<i64>)> = Vec::new();
        ElementReader::new(reader).for_each(|element| match element {
            Element::Node(n) => {
                if let Ok(p) = LatLon::new(n.lat(), n.lon()) {
                    nodes.insert(n.id(), p);
                }
            }
            Element::DenseNode(n) => {
                if let Ok(p) = LatLon::new(n.lat(), n.lon()) {
                    nodes.insert(n.id(), p);
                }
            }
            Element::Way(w) => {
                let refs: Vec<i64> = w.refs().collect();
                let closed = refs.len() >= 4 && refs.first() == refs.last();
                let tags: Vec<(&str, &str)> = w.tags().collect();
                if let Some(k) = classify(&tags, closed) {
                    let name = tags
                        .iter()
                        .find(|(key, _)| *key == "name")
                        .map(|(_, v)| (*v).to_owned());
                    ways.push((k, name, refs));
                }
            }
            Element::Relation(_) => {}
        })?;
        let items = ways
            .into_iter()
            .filter_map(|(kind, name, refs)| {
                // A way whose nodes are cut off by the extract's edge keeps what is inside.
                let pts: Vec<LatLon> = refs
                    .iter()
                    .filter_map(|id| nodes.get(id).copied())
                    .collect();
                item(kind, name, &pts)
            })
            .collect();
        let map = Self::from_items(items);
        if map.items.is_empty() {
            return Err(BasemapError::Empty);
        }
        Ok(map)
    }

    /// A basemap of hand-made ways; ways that draw as nothing are skipped.
    pub fn from_ways(ways: &[BaseWay]) -> Basemap {
        let items = ways
            .iter()
            .filter_map(|w| {
                let tags: Vec<(&str, &str)> = w
                    .tags
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let closed = w.points.len() >= 4 && w.points.first() == w.points.last();
                let kind = classify(&tags, closed)?;
                let name = tags
                    .iter()
                    .find(|(k, _)| *k == "name")
                    .map(|(_, v)| (*v).to_owned());
                item(kind, name, &w.points)
            })
            .collect();
        Self::from_items(items)
    }

    fn from_items(mut items: Vec<Item>) -> Basemap {
        // Stable: equal kinds keep the extract's order, so tiles are deterministic.
        items.sort_by_key(|i| (i.kind.layer, i.kind.importance));
        let entries: Vec<Entry> = items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| Entry::around(i, &it.world))
            .collect();
        let index = RTree::bulk_load(entries);
        Basemap {
            bounds: bounds(&index),
            index,
            items,
        }
    }

    /// How many ways each layer holds.
    pub fn counts(&self) -> BasemapCounts {
        let mut c = BasemapCounts::default();
        for i in &self.items {
            match i.kind.layer {
                BaseLayer::Roads => c.roads += 1,
                BaseLayer::Water => c.water += 1,
                BaseLayer::Buildings => c.buildings += 1,
            }
        }
        c
    }

    /// `[west, south, east, north]` of everything drawn, `None` when empty.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        self.bounds
    }

    /// The gzip-compressed MVT tile `z/x/y`, or `None` when nothing is drawn in it.
    pub fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, TileError> {
        check_tile(z, x, y)?;
        let t = TileTransform::new(z, x, y);
        let (lo, hi) = t.buffered_world_box();
        let (clip_lo, clip_hi) = clip_limits();
        let mut layers =
            [BaseLayer::Water, BaseLayer::Roads, BaseLayer::Buildings].map(|l| TileLayer {
                name: l.name(),
                thinning: match l {
                    BaseLayer::Buildings => Thinning::EveryKth,
                    _ => Thinning::Top,
                },
                features: Vec::new(),
            });
        for idx in query(&self.index, lo, hi) {
            let Some(it) = self.items.get(idx) else {
                continue;
            };
            if z < it.kind.min_zoom {
                continue;
            }
            let local = simplified(it.world.iter().map(|p| t.apply(*p)).collect(), it.kind.area);
            let geom = if it.kind.area {
                match snap_ring(&clip_ring(&local, clip_lo, clip_hi)) {
                    Some(ring) => Geom::Polygon(ring),
                    None => continue,
                }
            } else {
                let pieces: Vec<_> = clip_line(&local, clip_lo, clip_hi)
                    .iter()
                    .filter_map(|p| snap_line(p))
                    .collect();
                if pieces.is_empty() {
                    continue;
                }
                Geom::Lines(pieces)
            };
            let mut props = Vec::with_capacity(2);
            if it.kind.layer != BaseLayer::Buildings {
                props.push(("class", Prop::Str(it.kind.class.to_owned())));
            }
            if let (BaseLayer::Roads, Some(n)) = (it.kind.layer, &it.name) {
                props.push(("name", Prop::Str(n.clone())));
            }
            layers[it.kind.layer as usize].features.push(TileFeature {
                rank: idx,
                geom,
                props,
            });
        }
        // Over budget, buildings go first, then the least important roads, then water.
        encode_within(&layers, &[2, 1, 0], MAX_TILE_BYTES)
    }

    /// The TileJSON document for basemap tiles served at `tiles_url_template`.
    pub fn tilejson(&self, tiles_url_template: &str) -> TileJSON {
        let max = TILEJSON_MAX_ZOOM;
        tilejson! {
            tiles: vec![tiles_url_template.to_owned()],
            name: "streetcomb basemap".to_owned(),
            description: "Roads, water and buildings from the OpenStreetMap extract the store was built over".to_owned(),
            attribution: "© OpenStreetMap contributors (ODbL)".to_owned(),
            scheme: "xyz".to_owned(),
            minzoom: 0,
            maxzoom: max,
            bounds: bounds_or_world(self.bounds),
            vector_layers: vec![
                layer(
                    LAYER_WATER,
                    "Lakes, ponds, riverbanks and basins (closed ways); rivers, canals and streams",
                    8,
                    max,
                    &[("class", "water, river, canal or stream")],
                ),
                layer(
                    LAYER_ROADS,
                    "Roads and paths by class",
                    5,
                    max,
                    &[
                        ("class", "motorway, trunk, primary, secondary, tertiary, minor, service or path"),
                        ("name", "the road's name, when mapped"),
                    ],
                ),
                layer(LAYER_BUILDINGS, "Building footprints (closed ways)", BUILDINGS_MIN_ZOOM, max, &[]),
            ],
        }
    }
}

/// Projects a way; `None` when too few points are left to draw it.
fn item(kind: Kind, name: Option<String>, pts: &[LatLon]) -> Option<Item> {
    let mut world: Vec<[f64; 2]> = pts.iter().map(|p| project(*p)).collect();
    world.dedup();
    if kind.area {
        if world.len() >= 2 && world.first() == world.last() {
            world.pop();
        }
        if world.len() < 3 {
            return None;
        }
    } else if world.len() < 2 {
        return None;
    }
    Some(Item { kind, name, world })
}

/// Douglas-Peucker at one tile unit; rings are simplified closed and returned open.
fn simplified(mut pts: Vec<[f64; 2]>, ring: bool) -> Vec<[f64; 2]> {
    if ring && let Some(&first) = pts.first() {
        pts.push(first);
    }
    let mut out = simplify_line(&pts, 1.0);
    if ring && out.len() >= 2 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// `[west, south, east, north]` of everything in `index`, `None` when it is empty.
fn bounds(index: &RTree<Entry>) -> Option<[f64; 4]> {
    if index.size() == 0 {
        return None;
    }
    let env = index.root().envelope();
    let (lo, hi) = (env.lower(), env.upper());
    // World y grows southwards.
    Some([
        crate::mercator::x_to_lon(lo[0]),
        crate::mercator::y_to_lat(hi[1]),
        crate::mercator::x_to_lon(hi[0]),
        crate::mercator::y_to_lat(lo[1]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highway_values_fold_into_road_classes_with_their_first_zoom() {
        let k = classify(&[("highway", "primary_link")], false);
        assert_eq!(
            k.map(|k| (k.layer, k.class, k.min_zoom)),
            Some((BaseLayer::Roads, "primary", 8))
        );
        let k = classify(&[("highway", "living_street")], false);
        assert_eq!(k.map(|k| k.class), Some("minor"));
        let k = classify(&[("highway", "footway")], false);
        assert_eq!(k.map(|k| (k.class, k.min_zoom)), Some(("path", 14)));
        assert_eq!(classify(&[("highway", "proposed")], false), None);
        assert_eq!(classify(&[("name", "Mannerheimintie")], false), None);
    }

    #[test]
    fn only_closed_ways_become_water_or_building_areas() {
        let building = [("building", "yes")];
        assert_eq!(
            classify(&building, true).map(|k| (k.layer, k.area)),
            Some((BaseLayer::Buildings, true))
        );
        assert_eq!(classify(&building, false), None);
        assert_eq!(classify(&[("building", "no")], true), None);
        let lake = [("natural", "water")];
        assert_eq!(
            classify(&lake, true).map(|k| (k.layer, k.class)),
            Some((BaseLayer::Water, "water"))
        );
        assert_eq!(classify(&lake, false), None);
        let river = [("waterway", "river")];
        assert_eq!(
            classify(&river, false).map(|k| (k.class, k.area)),
            Some(("river", false))
        );
        // A pedestrian square mapped as an area is not a road line.
        assert_eq!(
            classify(&[("highway", "pedestrian"), ("area", "yes")], true),
            None
        );
    }
}
