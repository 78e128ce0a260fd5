//! Reading an OSM PBF extract into the drivable road graph and the mapped point
//! features that the simulator renders.
//!
//! Roads are the ways whose `highway` is one of the drivable classes (motorway down
//! to service roads and their `_link`s); `oneway` (and roundabouts and motorways,
//! which are one-way by default) is honoured so that simulated cars drive legally.
//!
//! Features:
//! - `highway=traffic_signals` nodes are traffic lights;
//! - `highway=stop`, `highway=give_way` and nodes whose `traffic_sign*` value holds the
//!   Finnish codes `FI:231`/`FI:232` (give way / stop, pre-2020 numbering; also their
//!   2020 codes `FI:B5`/`FI:B6`) are rendered as a **stop sign**. The Helsinki extract
//!   has no `highway=stop` at all, and the COCO detector that streetcomb uses knows
//!   stop signs but not yield signs, so every such coded position is drawn as a stop
//!   sign. Ground truth is therefore "a sign of that class at the rendered position",
//!   not what really stands there.
//!
//! Signal and sign nodes usually sit on the road centreline, where a real pole cannot
//! stand, so each feature is moved to [`SIDE_OFFSET_M`] to the right of its nearest
//! road segment (Finland drives on the right) and [`TruthFeature::pos`] is that moved
//! position. Features further than [`MAX_ROAD_DISTANCE_M`] from any road are dropped
//! (they cannot be seen from a car), and features of one class closer together than
//! [`DEDUP_DISTANCE_M`] are merged (OSM often tags every approach of a junction).

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use osmpbf::{Element, ElementReader};
use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{FeatureClass, LatLon, LocalFrame};

use crate::SimError;
use crate::geom::{closest_on_segment, dist};
use crate::model::TruthFeature;
use crate::route;

/// How far to the right of the road centreline a feature is placed, metres.
pub const SIDE_OFFSET_M: f64 = 4.0;
/// Features further than this from every drivable road are ignored, metres.
pub const MAX_ROAD_DISTANCE_M: f64 = 30.0;
/// Features of one class closer than this are one feature, metres.
pub const DEDUP_DISTANCE_M: f64 = 8.0;

const DRIVABLE: [&str; 14] = [
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "motorway_link",
    "trunk_link",
    "primary_link",
    "secondary_link",
    "tertiary_link",
];

/// Which way traffic may use a way, relative to its node order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oneway {
    Both,
    Forward,
    Backward,
}

/// A feature-bearing node as read from OSM, before placement.
#[derive(Debug, Clone)]
pub(crate) struct RawFeature {
    pub(crate) osm_id: i64,
    pub(crate) class: FeatureClass,
    pub(crate) tags: String,
    pub(crate) pos: LatLon,
}

/// What the network is built from: the relevant subset of an OSM file. Tests build one
/// by hand.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawOsm {
    pub(crate) nodes: HashMap<i64, LatLon>,
    pub(crate) ways: Vec<(Vec<i64>, Oneway)>,
    pub(crate) features: Vec<RawFeature>,
}

/// The drivable road graph of an OSM extract plus the point features rendered into
/// simulated frames.
pub struct RoadNetwork {
    pub(crate) frame: LocalFrame,
    /// Graph node positions, local (east, north) metres.
    pub(crate) node_xy: Vec<[f64; 2]>,
    /// Directed edges: (to, length in metres).
    pub(crate) adj: Vec<Vec<(u32, f64)>>,
    /// Every road segment once, in way order or, on `oneway=-1` roads, in the direction
    /// of travel (the direction defines "right").
    pub(crate) segments: Vec<[u32; 2]>,
    road_length_m: f64,
    features: Vec<TruthFeature>,
    /// Local positions of `features`, same order.
    pub(crate) feature_xy: Vec<[f64; 2]>,
    pub(crate) feature_index: SpatialIndex,
    /// Graph nodes that routes aim for (near features, in the main strongly connected
    /// component, so a route between any two of them exists).
    pub(crate) waypoints: Vec<u32>,
}

impl fmt::Debug for RoadNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoadNetwork")
            .field("origin", &self.frame.origin())
            .field("nodes", &self.node_xy.len())
            .field("segments", &self.segments.len())
            .field("road_length_m", &self.road_length_m)
            .field("features", &self.features.len())
            .field("waypoints", &self.waypoints.len())
            .finish()
    }
}

impl RoadNetwork {
    /// Reads an OSM PBF stream (nodes, dense nodes and ways; relations are ignored).
    ///
    /// Every node's coordinates are held in memory while reading, which suits city
    /// extracts (the Helsinki test extract takes a fraction of a second).
    pub fn from_pbf(reader: impl Read + Send) -> Result<RoadNetwork, SimError> {
        let mut raw = RawOsm::default();
        let mut on_node = |id: i64, lat: f64, lon: f64, tags: Vec<(&str, &str)>| {
            // A broken coordinate should not sink a whole extract: skip the node.
            let Ok(pos) = LatLon::new(lat, lon) else {
                return;
            };
            raw.nodes.insert(id, pos);
            if let Some(class) = classify(&tags) {
                raw.features.push(RawFeature {
                    osm_id: id,
                    class,
                    tags: tags_text(&tags),
                    pos,
                });
            }
        };
        let mut ways = Vec::new();
        ElementReader::new(reader).for_each(|element| match element {
            Element::Node(n) => on_node(n.id(), n.lat(), n.lon(), n.tags().collect()),
            Element::DenseNode(n) => on_node(n.id(), n.lat(), n.lon(), n.tags().collect()),
            Element::Way(w) => {
                let tags: Vec<(&str, &str)> = w.tags().collect();
                if let Some(oneway) = drivable(&tags) {
                    ways.push((w.refs().collect(), oneway));
                }
            }
            Element::Relation(_) => {}
        })?;
        raw.ways = ways;
        Self::build(raw)
    }

    /// Total length of drivable road, each segment counted once, metres.
    pub fn road_length_m(&self) -> f64 {
        self.road_length_m
    }

    /// Every mapped feature that can be rendered, after placement and de-duplication.
    pub fn features(&self) -> &[TruthFeature] {
        &self.features
    }

    pub(crate) fn build(mut raw: RawOsm) -> Result<RoadNetwork, SimError> {
        // Graph nodes: those used by drivable ways, in first-use order (deterministic).
        let mut index: HashMap<i64, u32> = HashMap::new();
        let mut used: Vec<LatLon> = Vec::new();
        for (refs, _) in &raw.ways {
            for id in refs {
                if let Some(&pos) = raw.nodes.get(id)
                    && !index.contains_key(id)
                {
                    index.insert(*id, used.len() as u32);
                    used.push(pos);
                }
            }
        }
        if used.len() < 2 {
            return Err(SimError::NoRoads);
        }
        let (mut lat0, mut lat1, mut lon0, mut lon1) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
        for p in &used {
            lat0 = lat0.min(p.lat());
            lat1 = lat1.max(p.lat());
            lon0 = lon0.min(p.lon());
            lon1 = lon1.max(p.lon());
        }
        let frame = LocalFrame::new(LatLon::new((lat0 + lat1) / 2.0, (lon0 + lon1) / 2.0)?);
        let node_xy: Vec<[f64; 2]> = used
            .iter()
            .map(|p| {
                let (e, n) = frame.to_local(*p);
                [e, n]
            })
            .collect();

        let mut adj: Vec<Vec<(u32, f64)>> = vec![Vec::new(); node_xy.len()];
        let mut segments = Vec::new();
        let mut road_length_m = 0.0;
        for (refs, oneway) in &raw.ways {
            // Nodes outside a clipped extract are missing: the way breaks there.
            for pair in refs.windows(2) {
                let (Some(&a), Some(&b)) = (index.get(&pair[0]), index.get(&pair[1])) else {
                    continue;
                };
                if a == b {
                    continue;
                }
                let len = dist(node_xy[a as usize], node_xy[b as usize]);
                road_length_m += used[a as usize].distance_m(used[b as usize]);
                // Stored in the direction of travel, which defines "right".
                segments.push(if *oneway == Oneway::Backward {
                    [b, a]
                } else {
                    [a, b]
                });
                if *oneway != Oneway::Backward {
                    adj[a as usize].push((b, len));
                }
                if *oneway != Oneway::Forward {
                    adj[b as usize].push((a, len));
                }
            }
        }
        if segments.is_empty() {
            return Err(SimError::NoRoads);
        }
        let segment_index = SpatialIndex::of_boxes(
            segments
                .iter()
                .enumerate()
                .map(|(i, [a, b])| (i, node_xy[*a as usize], node_xy[*b as usize])),
        );

        // Place features beside the road, then merge near-duplicates (lowest id wins).
        raw.features.sort_by_key(|f| f.osm_id);
        raw.features.dedup_by_key(|f| f.osm_id);
        let mut features: Vec<TruthFeature> = Vec::new();
        let mut feature_xy: Vec<[f64; 2]> = Vec::new();
        let mut dedup = SpatialIndex::default();
        for f in raw.features {
            let (e, n) = frame.to_local(f.pos);
            let p = [e, n];
            let mut best: Option<(f64, [f64; 2], [f64; 2])> = None;
            for s in segment_index.near(p, MAX_ROAD_DISTANCE_M) {
                let [a, b] = segments[s];
                let (pa, pb) = (node_xy[a as usize], node_xy[b as usize]);
                let (q, _) = closest_on_segment(p, pa, pb);
                let d = dist(p, q);
                if d <= MAX_ROAD_DISTANCE_M && best.is_none_or(|(bd, _, _)| d < bd) {
                    best = Some((d, q, [pb[0] - pa[0], pb[1] - pa[1]]));
                }
            }
            let Some((_, q, dir)) = best else { continue };
            let len = dir[0].hypot(dir[1]);
            // Right of travel direction (east, north) = (north, -east).
            let placed = [
                q[0] + SIDE_OFFSET_M * dir[1] / len,
                q[1] - SIDE_OFFSET_M * dir[0] / len,
            ];
            let duplicate = dedup.near(placed, DEDUP_DISTANCE_M).into_iter().any(|i| {
                features[i].class == f.class && dist(feature_xy[i], placed) < DEDUP_DISTANCE_M
            });
            if duplicate {
                continue;
            }
            dedup.insert_point(features.len(), placed);
            feature_xy.push(placed);
            features.push(TruthFeature {
                id: format!("osm-node-{}", f.osm_id),
                class: f.class,
                pos: frame.to_latlon(placed[0], placed[1]),
                osm_tags: f.tags,
            });
        }
        let feature_index = SpatialIndex::of_points(&feature_xy);

        let mut net = RoadNetwork {
            frame,
            node_xy,
            adj,
            segments,
            road_length_m,
            features,
            feature_xy,
            feature_index,
            waypoints: Vec::new(),
        };
        net.waypoints = route::choose_waypoints(&net)?;
        Ok(net)
    }
}

/// The feature class of a node's tags, if it is one we render.
pub(crate) fn classify(tags: &[(&str, &str)]) -> Option<FeatureClass> {
    let has = |k: &str, v: &str| tags.iter().any(|(tk, tv)| *tk == k && *tv == v);
    if has("highway", "traffic_signals") {
        return Some(FeatureClass::TrafficLight);
    }
    if has("highway", "stop") || has("highway", "give_way") {
        return Some(FeatureClass::StopSign);
    }
    let coded = tags.iter().any(|(k, v)| {
        k.starts_with("traffic_sign")
            && ["FI:231", "FI:232", "FI:B5", "FI:B6"]
                .iter()
                .any(|code| v.contains(code))
    });
    coded.then_some(FeatureClass::StopSign)
}

/// `Some(direction)` when a way's tags make it a drivable road.
pub(crate) fn drivable(tags: &[(&str, &str)]) -> Option<Oneway> {
    let get = |k: &str| tags.iter().find(|(tk, _)| *tk == k).map(|(_, v)| *v);
    let highway = get("highway")?;
    if !DRIVABLE.contains(&highway) || get("area") == Some("yes") {
        return None;
    }
    Some(match get("oneway") {
        Some("yes" | "true" | "1") => Oneway::Forward,
        Some("-1" | "reverse") => Oneway::Backward,
        Some("no" | "false" | "0") => Oneway::Both,
        _ if highway == "motorway"
            || matches!(get("junction"), Some("roundabout" | "circular")) =>
        {
            Oneway::Forward
        }
        _ => Oneway::Both,
    })
}

/// Tags as `k=v;k=v`, sorted by key so the text is stable.
fn tags_text(tags: &[(&str, &str)]) -> String {
    let mut sorted: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    sorted.sort();
    sorted.join(";")
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A straight two-way east-west street of `len_m` metres through (60.17, 24.94)
    /// with nodes every 50 m and the given features (offsets east, north from the start).
    pub(crate) fn straight_street(len_m: f64, features: &[(FeatureClass, f64, f64)]) -> RawOsm {
        let start = LatLon::new(60.17, 24.94).unwrap();
        let mut raw = RawOsm::default();
        let n = (len_m / 50.0).ceil() as i64;
        let mut refs = Vec::new();
        for i in 0..=n {
            let p = start.destination(90.0, len_m * i as f64 / n as f64);
            raw.nodes.insert(i + 1, p);
            refs.push(i + 1);
        }
        raw.ways.push((refs, Oneway::Both));
        for (i, (class, east, north)) in features.iter().enumerate() {
            let p = start.destination(90.0, *east).destination(0.0, *north);
            raw.features.push(RawFeature {
                osm_id: 1000 + i as i64,
                class: *class,
                tags: "test".into(),
                pos: p,
            });
        }
        raw
    }

    #[test]
    fn only_drivable_highways_become_roads_and_oneway_is_read() {
        assert_eq!(drivable(&[("highway", "residential")]), Some(Oneway::Both));
        assert_eq!(
            drivable(&[("highway", "primary"), ("oneway", "yes")]),
            Some(Oneway::Forward)
        );
        assert_eq!(
            drivable(&[("highway", "tertiary_link"), ("oneway", "-1")]),
            Some(Oneway::Backward)
        );
        assert_eq!(
            drivable(&[("highway", "secondary"), ("junction", "roundabout")]),
            Some(Oneway::Forward)
        );
        assert_eq!(drivable(&[("highway", "footway")]), None);
        assert_eq!(drivable(&[("highway", "cycleway")]), None);
        assert_eq!(drivable(&[("building", "yes")]), None);
    }

    #[test]
    fn signals_stops_give_ways_and_finnish_sign_codes_are_classified() {
        assert_eq!(
            classify(&[("highway", "traffic_signals")]),
            Some(FeatureClass::TrafficLight)
        );
        assert_eq!(
            classify(&[("highway", "stop")]),
            Some(FeatureClass::StopSign)
        );
        assert_eq!(
            classify(&[("highway", "give_way")]),
            Some(FeatureClass::StopSign)
        );
        assert_eq!(
            classify(&[("traffic_sign", "FI:231")]),
            Some(FeatureClass::StopSign)
        );
        assert_eq!(
            classify(&[("traffic_sign:forward", "FI:232;FI:361")]),
            Some(FeatureClass::StopSign)
        );
        assert_eq!(classify(&[("traffic_sign", "FI:361")]), None);
        assert_eq!(classify(&[("highway", "crossing")]), None);
    }

    #[test]
    fn features_are_moved_four_metres_right_of_the_road_and_far_ones_dropped() {
        let raw = straight_street(
            300.0,
            &[
                (FeatureClass::StopSign, 100.0, 0.0),
                (FeatureClass::TrafficLight, 200.0, 0.0),
                (FeatureClass::StopSign, 150.0, 80.0),
            ],
        );
        let net = RoadNetwork::build(raw).unwrap();
        assert_eq!(net.features().len(), 2, "{:?}", net.features());
        // The road runs east, so "right" is south.
        let road_north = net.frame.to_local(LatLon::new(60.17, 24.94).unwrap()).1;
        for (f, xy) in net.features().iter().zip(&net.feature_xy) {
            assert!(
                (xy[1] + SIDE_OFFSET_M - road_north).abs() < 0.05,
                "{f:?} is not 4 m south of the road"
            );
            let (e, n) = net.frame.to_local(f.pos);
            assert!((e - xy[0]).abs() < 1e-6 && (n - xy[1]).abs() < 1e-6);
        }
        assert!((net.road_length_m() - 300.0).abs() < 0.5);
    }

    #[test]
    fn features_of_one_class_closer_than_eight_metres_are_merged() {
        let raw = straight_street(
            300.0,
            &[
                (FeatureClass::TrafficLight, 100.0, 0.0),
                (FeatureClass::TrafficLight, 105.0, 1.0),
                (FeatureClass::StopSign, 103.0, 0.0),
                (FeatureClass::TrafficLight, 120.0, 0.0),
            ],
        );
        let net = RoadNetwork::build(raw).unwrap();
        let ids: Vec<&str> = net.features().iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["osm-node-1000", "osm-node-1002", "osm-node-1003"]);
    }

    #[test]
    fn data_without_drivable_roads_is_an_error() {
        let err = RoadNetwork::build(RawOsm::default()).unwrap_err();
        assert_eq!(err.to_string(), "OSM data has no drivable roads");
        assert!(RoadNetwork::from_pbf(&b"not a pbf"[..]).is_err());
    }
}
