//! Reading an OSM extract (PBF or XML) into the drivable road graph, and placing the
//! point features the simulator renders beside its roads.
//!
//! What tags mean (which ways are roads, which nodes are features of which class, how
//! speed limits read) is in `tags`. Features come from three sources, in this order:
//!
//! 1. **Mapped nodes**: traffic signals, stop and give-way nodes, marked crossings
//!    (only where the crossing node is on a drivable road: a crossing of two footpaths
//!    has no sign for drivers), fire hydrants, and `traffic_sign` codes. Ids are
//!    `osm-node-<id>`, or `osm-node-<id>-<class>` when one node carries several signs.
//!    A speed-limit sign without a figure takes the `maxspeed` of its road.
//! 2. **Speed limits of ways**: a `maxspeed` sign where each limit begins, i.e. at the
//!    first node of every way whose limit (for that direction of travel) differs from
//!    the limits of all ways that end there, so one sign starts each maximal run of
//!    consecutive ways with the same limit. It stands [`SPEED_SIGN_SETBACK_M`] into the
//!    run, on the right, once for each direction of travel on two-way roads. Signs of
//!    one value that serve the same direction (within 90°) keep
//!    [`SPEED_SIGN_SPACING_M`] apart, so split ways and extract edges do not flood the
//!    map. Ids are `osm-way-<id>-forward` / `-backward`.
//! 3. **Synthetic features**, for every rendered class the extract does not map at
//!    all, so that any extract shows every class: one per
//!    [`SYNTHETIC_ROAD_PER_FEATURE_M`] of road (at most [`MAX_SYNTHETIC_PER_CLASS`]),
//!    at junctions (graph nodes where three or more roads meet, in the main strongly
//!    connected component), [`SYNTHETIC_SETBACK_M`] before the junction on the right
//!    of a randomly chosen approach, at least [`SYNTHETIC_MIN_GAP_M`] from each other,
//!    preferring junctions with no feature within [`SYNTHETIC_CLEARANCE_M`] (several
//!    signs on one approach hide each other).
//!    The choice is seeded per class, so the same extract always gets the same
//!    features. Synthetic speed limits show 30, 40, 50, 60 or 80 km/h. Ids are
//!    `synthetic-<class>-<n>` (from 1); they have no OSM tags.
//!
//! Signal and sign nodes usually sit on the road centreline, where a real pole cannot
//! stand, so each feature is moved to [`SIDE_OFFSET_M`] to the right of its nearest
//! road segment (Finland drives on the right) and [`TruthFeature::pos`] is that moved
//! position. Features further than [`MAX_ROAD_DISTANCE_M`] from any road are dropped
//! (they cannot be seen from a car), features of one class (and value) closer together
//! than [`DEDUP_DISTANCE_M`] are merged into the first (OSM often tags every approach
//! of a junction, and such pairs could not be mapped apart), and a feature closer than
//! [`MIN_SEPARATION_M`] to one of another class is nudged along the road in
//! [`NUDGE_STEP_M`] steps, so that two sprites never share a pole.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Read};

use osmpbf::{Element, ElementReader};
use quick_xml::events::{BytesStart, Event};
use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{FeatureClass, LatLon, LocalFrame};

use crate::SimError;
use crate::assets::RENDERED_CLASSES;
use crate::geom::{closest_on_segment, dist};
use crate::model::TruthFeature;
use crate::route;
pub(crate) use crate::tags::Oneway;
use crate::tags::{classify, drivable, way_maxspeed};

/// How far to the right of the road centreline a feature is placed, metres.
pub const SIDE_OFFSET_M: f64 = 4.0;
/// Features further than this from every drivable road are ignored, metres.
pub const MAX_ROAD_DISTANCE_M: f64 = 30.0;
/// Features of one class (and value) closer than this are one feature, metres: OSM
/// often tags every approach of a junction, or both sides of a crossing, and two signs
/// of a kind closer than this cannot be told apart by position with GPS errors of a
/// few metres (the map builder would fuse them into one).
pub const DEDUP_DISTANCE_M: f64 = 15.0;
/// Features of different classes stand at least this far apart, metres.
pub const MIN_SEPARATION_M: f64 = 1.5;
/// How far along the road a feature moves per try to clear another, metres.
pub const NUDGE_STEP_M: f64 = 2.0;
/// Speed-limit signs of one value serving one direction are at least this far apart,
/// metres.
pub const SPEED_SIGN_SPACING_M: f64 = 150.0;
/// How far into the road where a limit begins its sign stands, metres (at most half
/// the first way).
pub const SPEED_SIGN_SETBACK_M: f64 = 10.0;
/// Road length per synthetic feature of a missing class, metres.
pub const SYNTHETIC_ROAD_PER_FEATURE_M: f64 = 1500.0;
/// The most synthetic features of one class.
pub const MAX_SYNTHETIC_PER_CLASS: usize = 40;
/// Synthetic features of one class are at least this far apart, metres.
pub const SYNTHETIC_MIN_GAP_M: f64 = 150.0;
/// Synthetic features go first to junctions with no feature this near, metres.
pub const SYNTHETIC_CLEARANCE_M: f64 = 25.0;
/// How far before its junction a synthetic feature stands, metres.
pub const SYNTHETIC_SETBACK_M: f64 = 6.0;
/// Approaches shorter than this get no synthetic feature (it would stand at the
/// previous junction), metres.
const MIN_APPROACH_M: f64 = 10.0;
/// Seeds the synthetic placements (plus the class's index in [`RENDERED_CLASSES`]).
const SYNTHETIC_SEED: u64 = 0x5747_0017;
/// The values synthetic speed-limit signs show, km/h.
const SYNTHETIC_SPEEDS: [u32; 5] = [30, 40, 50, 60, 80];
/// A PBF file starts with the length of its first blob header, which the format caps
/// at 64 KiB.
const MAX_PBF_HEADER: u32 = 64 * 1024;

/// A drivable way as read from OSM.
#[derive(Debug, Clone)]
pub(crate) struct RawWay {
    pub(crate) id: i64,
    pub(crate) refs: Vec<i64>,
    pub(crate) oneway: Oneway,
    /// Speed limit along and against the node order, km/h.
    pub(crate) maxspeed: [Option<u32>; 2],
    /// The way's tags as text when it has a speed limit (the truth of its signs);
    /// empty otherwise, to keep memory small on big extracts.
    pub(crate) tags: String,
}

/// A feature-bearing node as read from OSM, before placement.
#[derive(Debug, Clone)]
pub(crate) struct RawFeature {
    pub(crate) id: String,
    pub(crate) osm_id: i64,
    pub(crate) class: FeatureClass,
    /// A speed limit's figure, when the node says it.
    pub(crate) value: Option<u32>,
    pub(crate) tags: String,
    pub(crate) pos: LatLon,
    /// Placed only when the node is on a drivable road (crossings).
    pub(crate) on_road_only: bool,
}

/// What the network is built from: the relevant subset of an OSM file. Tests build one
/// by hand.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawOsm {
    pub(crate) nodes: HashMap<i64, LatLon>,
    pub(crate) ways: Vec<RawWay>,
    pub(crate) features: Vec<RawFeature>,
}

impl RawOsm {
    fn add_node(&mut self, id: i64, lat: f64, lon: f64, tags: &[(&str, &str)]) {
        // A broken coordinate should not sink a whole extract: skip the node.
        let Ok(pos) = LatLon::new(lat, lon) else {
            return;
        };
        self.nodes.insert(id, pos);
        let classes = classify(tags);
        if classes.is_empty() {
            return;
        }
        let text = tags_text(tags);
        let several = classes.len() > 1;
        for c in classes {
            self.features.push(RawFeature {
                id: if several {
                    format!("osm-node-{id}-{}", c.class)
                } else {
                    format!("osm-node-{id}")
                },
                osm_id: id,
                class: c.class,
                value: c.value,
                tags: text.clone(),
                pos,
                on_road_only: c.road_node_only,
            });
        }
    }

    fn add_way(&mut self, id: i64, refs: Vec<i64>, tags: &[(&str, &str)]) {
        let Some(oneway) = drivable(tags) else {
            return;
        };
        let maxspeed = way_maxspeed(tags);
        let tags = if maxspeed.iter().any(Option::is_some) {
            tags_text(tags)
        } else {
            String::new()
        };
        self.ways.push(RawWay {
            id,
            refs,
            oneway,
            maxspeed,
            tags,
        });
    }
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

/// The encodings of OSM extracts that [`RoadNetwork::from_bytes`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsmFormat {
    Pbf,
    Xml,
}

impl OsmFormat {
    /// Which encoding `bytes` are in, by content; `None` when neither.
    pub fn of(bytes: &[u8]) -> Option<OsmFormat> {
        sniff(bytes)
    }
}

/// Which encoding `bytes` are in, by content: XML starts (after a byte-order mark and
/// white space) with `<?xml` or `<osm`; PBF with the 4-byte big-endian length of its
/// first blob header, a protobuf message whose first field (tag byte 0x0A) is the
/// blob type.
fn sniff(bytes: &[u8]) -> Option<OsmFormat> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let text = start.map_or(&[][..], |i| &text[i..]);
    if text.starts_with(b"<?xml") || text.starts_with(b"<osm") {
        return Some(OsmFormat::Xml);
    }
    if let [a, b, c, d, 0x0A, ..] = *bytes {
        let len = u32::from_be_bytes([a, b, c, d]);
        if (1..=MAX_PBF_HEADER).contains(&len) {
            return Some(OsmFormat::Pbf);
        }
    }
    None
}

impl RoadNetwork {
    /// Reads an OSM extract in either encoding, told apart by its content (see
    /// [`RoadNetwork::from_pbf`] and [`RoadNetwork::from_osm_xml`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<RoadNetwork, SimError> {
        match sniff(bytes) {
            Some(OsmFormat::Pbf) => Self::from_pbf(bytes),
            Some(OsmFormat::Xml) => Self::from_osm_xml(bytes),
            None => {
                let head = &bytes[..bytes.len().min(16)];
                Err(SimError::OsmFormat(
                    String::from_utf8_lossy(head).into_owned(),
                ))
            }
        }
    }

    /// Reads an OSM PBF stream (nodes, dense nodes and ways; relations are ignored).
    ///
    /// Every node's coordinates are held in memory while reading, which suits city
    /// extracts (the Helsinki test extract takes a fraction of a second).
    pub fn from_pbf(reader: impl Read + Send) -> Result<RoadNetwork, SimError> {
        let mut raw = RawOsm::default();
        ElementReader::new(reader).for_each(|element| match element {
            Element::Node(n) => {
                let tags: Vec<(&str, &str)> = n.tags().collect();
                raw.add_node(n.id(), n.lat(), n.lon(), &tags);
            }
            Element::DenseNode(n) => {
                let tags: Vec<(&str, &str)> = n.tags().collect();
                raw.add_node(n.id(), n.lat(), n.lon(), &tags);
            }
            Element::Way(w) => {
                let tags: Vec<(&str, &str)> = w.tags().collect();
                raw.add_way(w.id(), w.refs().collect(), &tags);
            }
            Element::Relation(_) => {}
        })?;
        Self::build(raw)
    }

    /// Reads an OSM XML document (`<osm>` with `<node>`s and `<way>`s, as the OSM API,
    /// JOSM and osmium write it), streaming: nodes with their tags, ways with their node
    /// references and tags; relations are ignored. Nodes without coordinates (or with
    /// broken ones) are skipped; malformed XML and unreadable ids are errors.
    pub fn from_osm_xml(reader: impl BufRead) -> Result<RoadNetwork, SimError> {
        let mut xml = quick_xml::Reader::from_reader(reader);
        let mut raw = RawOsm::default();
        let mut buf = Vec::new();
        let mut open: Option<XmlElement> = None;
        loop {
            let event = xml
                .read_event_into(&mut buf)
                .map_err(|e| SimError::OsmXml(format!("at byte {}: {e}", xml.error_position())))?;
            let position = xml.buffer_position();
            let err = |m: String| SimError::OsmXml(format!("near byte {position}: {m}"));
            match event {
                Event::Start(e) => {
                    if let Some(done) = on_xml_start(&e, &mut open).map_err(err)? {
                        finish_xml(&mut raw, done);
                    }
                }
                Event::Empty(e) => {
                    if let Some(done) = on_xml_start(&e, &mut open).map_err(err)? {
                        finish_xml(&mut raw, done);
                    }
                    if matches!(e.name().as_ref(), b"node" | b"way" | b"relation")
                        && let Some(done) = open.take()
                    {
                        finish_xml(&mut raw, done);
                    }
                }
                Event::End(e) => {
                    if matches!(e.name().as_ref(), b"node" | b"way" | b"relation")
                        && let Some(done) = open.take()
                    {
                        finish_xml(&mut raw, done);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        Self::build(raw)
    }

    /// Total length of drivable road, each segment counted once, metres.
    pub fn road_length_m(&self) -> f64 {
        self.road_length_m
    }

    /// Every drivable road segment once, as a base map for road alignment
    /// (`streetcomb_mapbuild::align`).
    pub fn road_segments(&self) -> Vec<streetcomb_core::RoadSegment> {
        self.segments
            .iter()
            .map(|&[a, b]| {
                let (pa, pb) = (self.node_xy[a as usize], self.node_xy[b as usize]);
                let there = self.adj[a as usize].iter().any(|&(to, _)| to == b);
                let back = self.adj[b as usize].iter().any(|&(to, _)| to == a);
                streetcomb_core::RoadSegment {
                    a: self.frame.to_latlon(pa[0], pa[1]),
                    b: self.frame.to_latlon(pb[0], pb[1]),
                    two_way: there && back,
                }
            })
            .collect()
    }

    /// Every feature that can be rendered, after placement and de-duplication: mapped
    /// ones first, then speed limits of ways, then synthetic ones (see the module
    /// docs).
    pub fn features(&self) -> &[TruthFeature] {
        &self.features
    }

    pub(crate) fn build(mut raw: RawOsm) -> Result<RoadNetwork, SimError> {
        // Graph nodes: those used by drivable ways, in first-use order (deterministic).
        let mut index: HashMap<i64, u32> = HashMap::new();
        let mut used: Vec<LatLon> = Vec::new();
        for way in &raw.ways {
            for id in &way.refs {
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
        // The speed limit for travel along each segment as stored.
        let mut segment_speed: Vec<Option<u32>> = Vec::new();
        let mut road_length_m = 0.0;
        for way in &raw.ways {
            // Nodes outside a clipped extract are missing: the way breaks there.
            for pair in way.refs.windows(2) {
                let (Some(&a), Some(&b)) = (index.get(&pair[0]), index.get(&pair[1])) else {
                    continue;
                };
                if a == b {
                    continue;
                }
                let len = dist(node_xy[a as usize], node_xy[b as usize]);
                road_length_m += used[a as usize].distance_m(used[b as usize]);
                // Stored in the direction of travel, which defines "right".
                if way.oneway == Oneway::Backward {
                    segments.push([b, a]);
                    segment_speed.push(way.maxspeed[1]);
                } else {
                    segments.push([a, b]);
                    segment_speed.push(way.maxspeed[0]);
                }
                if way.oneway != Oneway::Backward {
                    adj[a as usize].push((b, len));
                }
                if way.oneway != Oneway::Forward {
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

        let mut placer = Placer::new(frame);
        // 1. Mapped nodes, beside their nearest road; near-duplicates merge into the
        // lowest id.
        raw.features
            .sort_by(|a, b| a.osm_id.cmp(&b.osm_id).then(a.class.cmp(&b.class)));
        raw.features
            .dedup_by(|a, b| a.osm_id == b.osm_id && a.class == b.class);
        for f in raw.features {
            if f.on_road_only && !index.contains_key(&f.osm_id) {
                continue;
            }
            let (e, n) = frame.to_local(f.pos);
            let p = [e, n];
            let mut best: Option<(f64, [f64; 2], usize)> = None;
            for s in segment_index.near(p, MAX_ROAD_DISTANCE_M) {
                let [a, b] = segments[s];
                let (q, _) = closest_on_segment(p, node_xy[a as usize], node_xy[b as usize]);
                let d = dist(p, q);
                if d <= MAX_ROAD_DISTANCE_M && best.is_none_or(|(bd, _, _)| d < bd) {
                    best = Some((d, q, s));
                }
            }
            let Some((_, q, s)) = best else { continue };
            let [a, b] = segments[s];
            let Some(dir) = unit(node_xy[a as usize], node_xy[b as usize]) else {
                continue;
            };
            let value = if f.class == FeatureClass::SpeedLimit {
                // A sign without a figure shows the limit of its road, if known.
                let Some(v) = f.value.or(segment_speed[s]) else {
                    continue;
                };
                Some(v)
            } else {
                None
            };
            placer.add(
                Candidate {
                    id: f.id,
                    class: f.class,
                    value,
                    tags: f.tags,
                },
                q,
                dir,
            );
        }
        // 2. Where the limits of ways begin.
        place_way_speed_limits(&raw.ways, &index, &node_xy, &mut placer);
        // 3. Every rendered class the extract lacks.
        place_synthetic(&mut placer, &node_xy, &adj, &segments, road_length_m);

        let Placer {
            features,
            xy: feature_xy,
            ..
        } = placer;
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

/// A `<node>`, `<way>` or `<relation>` being read, with what it has collected so far.
#[derive(Debug)]
enum XmlElement {
    Node {
        id: i64,
        /// `None` when a coordinate is missing or unreadable: the node is skipped.
        pos: Option<(f64, f64)>,
        tags: Vec<(String, String)>,
    },
    Way {
        id: i64,
        refs: Vec<i64>,
        tags: Vec<(String, String)>,
    },
    /// Relations' members and tags are not needed.
    Ignored,
}

/// Opens, or adds to, the element being read. Returns an element that a new one
/// implicitly closed (a `<node>` inside a `<node>` is invalid OSM, but the first
/// node's data is still good).
fn on_xml_start(
    e: &BytesStart<'_>,
    open: &mut Option<XmlElement>,
) -> Result<Option<XmlElement>, String> {
    let attrs = || -> Result<Vec<(Vec<u8>, String)>, String> {
        e.attributes()
            .map(|a| {
                let a = a.map_err(|e| e.to_string())?;
                let v = a.unescape_value().map_err(|e| e.to_string())?;
                Ok((a.key.as_ref().to_vec(), v.into_owned()))
            })
            .collect()
    };
    let find = |attrs: &[(Vec<u8>, String)], key: &[u8]| -> Option<String> {
        attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let id = |attrs: &[(Vec<u8>, String)], what: &str| -> Result<i64, String> {
        let v = find(attrs, b"id").ok_or_else(|| format!("a {what} without an id"))?;
        v.parse()
            .map_err(|_| format!("a {what} with the id {v:?}, not a number"))
    };
    match e.name().as_ref() {
        b"node" => {
            let a = attrs()?;
            let coord = |k: &[u8]| find(&a, k).and_then(|v| v.parse::<f64>().ok());
            let new = XmlElement::Node {
                id: id(&a, "node")?,
                pos: coord(b"lat").zip(coord(b"lon")),
                tags: Vec::new(),
            };
            Ok(open.replace(new))
        }
        b"way" => {
            let a = attrs()?;
            let new = XmlElement::Way {
                id: id(&a, "way")?,
                refs: Vec::new(),
                tags: Vec::new(),
            };
            Ok(open.replace(new))
        }
        b"relation" => Ok(open.replace(XmlElement::Ignored)),
        b"tag" => {
            if let Some(XmlElement::Node { tags, .. } | XmlElement::Way { tags, .. }) = open {
                let a = attrs()?;
                if let (Some(k), Some(v)) = (find(&a, b"k"), find(&a, b"v")) {
                    tags.push((k, v));
                }
            }
            Ok(None)
        }
        b"nd" => {
            if let Some(XmlElement::Way { refs, .. }) = open {
                let a = attrs()?;
                let r = find(&a, b"ref").ok_or("a way's <nd> without a ref")?;
                refs.push(
                    r.parse()
                        .map_err(|_| format!("a way's node reference {r:?}, not a number"))?,
                );
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Adds a fully read element to `raw`.
fn finish_xml(raw: &mut RawOsm, element: XmlElement) {
    fn borrow(tags: &[(String, String)]) -> Vec<(&str, &str)> {
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
    match element {
        XmlElement::Node { id, pos, tags } => {
            if let Some((lat, lon)) = pos {
                raw.add_node(id, lat, lon, &borrow(&tags));
            }
        }
        XmlElement::Way { id, refs, tags } => raw.add_way(id, refs, &borrow(&tags)),
        XmlElement::Ignored => {}
    }
}

/// The unit vector from `a` to `b`; `None` when they coincide.
fn unit(a: [f64; 2], b: [f64; 2]) -> Option<[f64; 2]> {
    let len = dist(a, b);
    (len > 1e-9).then(|| [(b[0] - a[0]) / len, (b[1] - a[1]) / len])
}

/// A feature about to be placed.
struct Candidate {
    id: String,
    class: FeatureClass,
    value: Option<u32>,
    tags: String,
}

/// The features placed so far, and the checks that keep them apart.
struct Placer {
    frame: LocalFrame,
    features: Vec<TruthFeature>,
    xy: Vec<[f64; 2]>,
    /// Unit direction of travel of the road each feature stands beside.
    dir: Vec<[f64; 2]>,
    index: SpatialIndex,
}

impl Placer {
    fn new(frame: LocalFrame) -> Self {
        Self {
            frame,
            features: Vec::new(),
            xy: Vec::new(),
            dir: Vec::new(),
            index: SpatialIndex::default(),
        }
    }

    /// Indices of placed features within `radius` of `p`.
    fn near(&self, p: [f64; 2], radius: f64) -> impl Iterator<Item = usize> + '_ {
        self.index
            .near(p, radius)
            .into_iter()
            .filter(move |&i| dist(self.xy[i], p) < radius)
    }

    fn has_class(&self, class: FeatureClass) -> bool {
        self.features.iter().any(|f| f.class == class)
    }

    /// Places `c` [`SIDE_OFFSET_M`] right of the road point `q` whose direction of
    /// travel is `dir` (a unit vector), nudged along the road clear of other
    /// features. `false` when it merged into a feature of its class and value, or
    /// found no free spot.
    fn add(&mut self, c: Candidate, q: [f64; 2], dir: [f64; 2]) -> bool {
        // Right of travel direction (east, north) = (north, -east).
        let base = [q[0] + SIDE_OFFSET_M * dir[1], q[1] - SIDE_OFFSET_M * dir[0]];
        let duplicate = self
            .near(base, DEDUP_DISTANCE_M)
            .any(|i| self.features[i].class == c.class && self.features[i].value == c.value);
        if duplicate {
            return false;
        }
        let spot = [0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0]
            .into_iter()
            .map(|k| {
                [
                    base[0] + k * NUDGE_STEP_M * dir[0],
                    base[1] + k * NUDGE_STEP_M * dir[1],
                ]
            })
            .find(|&p| self.near(p, MIN_SEPARATION_M).next().is_none());
        let Some(p) = spot else {
            return false;
        };
        self.index.insert_point(self.features.len(), p);
        self.xy.push(p);
        self.dir.push(dir);
        self.features.push(TruthFeature {
            id: c.id,
            class: c.class,
            value: c.value,
            pos: self.frame.to_latlon(p[0], p[1]),
            osm_tags: c.tags,
        });
        true
    }
}

/// The point `d` metres along the polyline `nodes` (at most half its length) and the
/// unit direction of the segment there.
fn along(nodes: &[u32], node_xy: &[[f64; 2]], d: f64) -> Option<([f64; 2], [f64; 2])> {
    let total: f64 = nodes
        .windows(2)
        .map(|w| dist(node_xy[w[0] as usize], node_xy[w[1] as usize]))
        .sum();
    let mut left = d.min(total / 2.0);
    for w in nodes.windows(2) {
        let (a, b) = (node_xy[w[0] as usize], node_xy[w[1] as usize]);
        let len = dist(a, b);
        let Some(dir) = unit(a, b) else { continue };
        if left <= len {
            return Some(([a[0] + left * dir[0], a[1] + left * dir[1]], dir));
        }
        left -= len;
    }
    None
}

/// Speed-limit signs where the limits of ways begin; see the module docs.
fn place_way_speed_limits(
    ways: &[RawWay],
    index: &HashMap<i64, u32>,
    node_xy: &[[f64; 2]],
    placer: &mut Placer,
) {
    // (way, backward?, graph nodes in the direction of travel, limit)
    let mut runs: Vec<(&RawWay, bool, Vec<u32>, u32)> = Vec::new();
    for way in ways {
        for backward in [false, true] {
            let allowed = match way.oneway {
                Oneway::Both => true,
                Oneway::Forward => !backward,
                Oneway::Backward => backward,
            };
            let Some(limit) = way.maxspeed[usize::from(backward)] else {
                continue;
            };
            let mut nodes: Vec<u32> = way
                .refs
                .iter()
                .filter_map(|id| index.get(id).copied())
                .collect();
            nodes.dedup();
            if backward {
                nodes.reverse();
            }
            if allowed && nodes.len() >= 2 {
                runs.push((way, backward, nodes, limit));
            }
        }
    }
    // The (way, limit) pairs traffic arrives at each node with.
    let mut arriving: HashMap<u32, Vec<(i64, u32)>> = HashMap::new();
    for (way, _, nodes, limit) in &runs {
        if let Some(last) = nodes.last() {
            arriving.entry(*last).or_default().push((way.id, *limit));
        }
    }
    for (way, backward, nodes, limit) in runs {
        // The limit carries on from another way ending here (the same way's other
        // direction ending here is a U-turn, not a continuation).
        let carried_on = arriving
            .get(&nodes[0])
            .is_some_and(|a| a.iter().any(|&(w, l)| w != way.id && l == limit));
        if carried_on {
            continue;
        }
        let Some((q, dir)) = along(&nodes, node_xy, SPEED_SIGN_SETBACK_M) else {
            continue;
        };
        let crowded = placer.near(q, SPEED_SIGN_SPACING_M).any(|i| {
            let f = &placer.features[i];
            let d = placer.dir[i];
            f.class == FeatureClass::SpeedLimit
                && f.value == Some(limit)
                && d[0] * dir[0] + d[1] * dir[1] > 0.0
        });
        if crowded {
            continue;
        }
        let side = if backward { "backward" } else { "forward" };
        placer.add(
            Candidate {
                id: format!("osm-way-{}-{side}", way.id),
                class: FeatureClass::SpeedLimit,
                value: Some(limit),
                tags: way.tags.clone(),
            },
            q,
            dir,
        );
    }
}

/// Synthetic features for the rendered classes that nothing placed so far has; see
/// the module docs.
fn place_synthetic(
    placer: &mut Placer,
    node_xy: &[[f64; 2]],
    adj: &[Vec<(u32, f64)>],
    segments: &[[u32; 2]],
    road_length_m: f64,
) {
    let main = route::main_component(adj);
    let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); node_xy.len()];
    for &[a, b] in segments {
        neighbours[a as usize].push(b);
        neighbours[b as usize].push(a);
    }
    let junctions: Vec<u32> = (0..node_xy.len())
        .filter(|&i| {
            let n = &mut neighbours[i];
            n.sort_unstable();
            n.dedup();
            main[i] && n.len() >= 3
        })
        .map(|i| i as u32)
        .collect();
    // Where traffic can come from into each node.
    let mut incoming: Vec<Vec<u32>> = vec![Vec::new(); node_xy.len()];
    for (from, edges) in adj.iter().enumerate() {
        for &(to, _) in edges {
            incoming[to as usize].push(from as u32);
        }
    }
    let per_class = ((road_length_m / SYNTHETIC_ROAD_PER_FEATURE_M).round() as usize)
        .clamp(1, MAX_SYNTHETIC_PER_CLASS);
    for (k, class) in RENDERED_CLASSES.into_iter().enumerate() {
        if placer.has_class(class) {
            continue;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(SYNTHETIC_SEED + k as u64);
        let mut order = junctions.clone();
        order.shuffle(&mut rng);
        let mut placed = 0;
        // First junctions with nothing placed near them, then any: signs of several
        // classes on one approach hide each other in the frames.
        for clear in [true, false] {
            for &j in &order {
                if placed == per_class {
                    break;
                }
                let jp = node_xy[j as usize];
                let taken = placer
                    .near(jp, SYNTHETIC_MIN_GAP_M)
                    .any(|i| placer.features[i].class == class);
                if taken || (clear && placer.near(jp, SYNTHETIC_CLEARANCE_M).next().is_some()) {
                    continue;
                }
                let approaches: Vec<u32> = incoming[j as usize]
                    .iter()
                    .copied()
                    .filter(|&u| {
                        main[u as usize] && dist(node_xy[u as usize], jp) >= MIN_APPROACH_M
                    })
                    .collect();
                let Some(&from) = approaches.choose(&mut rng) else {
                    continue;
                };
                let Some(dir) = unit(node_xy[from as usize], jp) else {
                    continue;
                };
                let q = [
                    jp[0] - SYNTHETIC_SETBACK_M * dir[0],
                    jp[1] - SYNTHETIC_SETBACK_M * dir[1],
                ];
                let value = (class == FeatureClass::SpeedLimit)
                    .then(|| SYNTHETIC_SPEEDS.choose(&mut rng).copied())
                    .flatten();
                let c = Candidate {
                    id: format!("synthetic-{class}-{}", placed + 1),
                    class,
                    value,
                    tags: String::new(),
                };
                if placer.add(c, q, dir) {
                    placed += 1;
                }
            }
        }
    }
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
    /// with nodes every 50 m and the given features (offsets east, north from the
    /// start; speed limits show 50).
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
        raw.ways.push(way(1, refs, Oneway::Both, None));
        for (i, (class, east, north)) in features.iter().enumerate() {
            let p = start.destination(90.0, *east).destination(0.0, *north);
            let osm_id = 1000 + i as i64;
            raw.features.push(RawFeature {
                id: format!("osm-node-{osm_id}"),
                osm_id,
                class: *class,
                value: (*class == FeatureClass::SpeedLimit).then_some(50),
                tags: "test".into(),
                pos: p,
                on_road_only: false,
            });
        }
        raw
    }

    fn way(id: i64, refs: Vec<i64>, oneway: Oneway, maxspeed: Option<u32>) -> RawWay {
        RawWay {
            id,
            refs,
            oneway,
            maxspeed: [maxspeed; 2],
            tags: maxspeed
                .map(|v| format!("maxspeed={v}"))
                .unwrap_or_default(),
        }
    }

    /// A grid of `n` x `n` two-way streets `block_m` apart (nodes at every crossing and
    /// halfway between), so every inner node where streets cross is a junction.
    fn grid(n: i64, block_m: f64) -> RawOsm {
        let start = LatLon::new(60.17, 24.94).unwrap();
        let mut raw = RawOsm::default();
        let steps = 2 * (n - 1);
        let id = |i: i64, j: i64| 1 + i * (steps + 1) + j;
        for i in 0..=steps {
            for j in 0..=steps {
                let p = start
                    .destination(90.0, block_m / 2.0 * j as f64)
                    .destination(0.0, block_m / 2.0 * i as f64);
                raw.nodes.insert(id(i, j), p);
            }
        }
        let mut way_id = 1;
        for k in (0..=steps).step_by(2) {
            let row = (0..=steps).map(|j| id(k, j)).collect();
            let col = (0..=steps).map(|i| id(i, k)).collect();
            raw.ways.push(way(way_id, row, Oneway::Both, None));
            raw.ways.push(way(way_id + 1, col, Oneway::Both, None));
            way_id += 2;
        }
        raw
    }

    #[test]
    fn road_segments_say_which_roads_carry_traffic_both_ways() {
        let mut raw = straight_street(200.0, &[]);
        // A one-way street north from the start.
        let start = LatLon::new(60.17, 24.94).unwrap();
        raw.nodes.insert(100, start.destination(0.0, 100.0));
        raw.ways.push(way(2, vec![1, 100], Oneway::Forward, None));
        let net = RoadNetwork::build(raw).unwrap();
        let segs = net.road_segments();
        assert_eq!(segs.len(), 5);
        let north: Vec<_> = segs
            .iter()
            .filter(|s| s.b.lat() > s.a.lat() + 1e-4)
            .collect();
        assert_eq!(north.len(), 1);
        assert!(!north[0].two_way);
        assert_eq!(segs.iter().filter(|s| s.two_way).count(), 4);
    }

    fn count(net: &RoadNetwork, class: FeatureClass) -> usize {
        net.features().iter().filter(|f| f.class == class).count()
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
    fn features_of_one_class_closer_than_fifteen_metres_are_merged() {
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
    fn features_of_different_classes_at_one_spot_are_nudged_apart_along_the_road() {
        let raw = straight_street(
            300.0,
            &[
                (FeatureClass::TrafficLight, 100.0, 0.0),
                (FeatureClass::PedestrianCrossing, 100.0, 0.0),
                (FeatureClass::SpeedLimit, 100.5, 0.0),
            ],
        );
        let net = RoadNetwork::build(raw).unwrap();
        assert_eq!(net.features().len(), 3);
        let road_north = net.frame.to_local(LatLon::new(60.17, 24.94).unwrap()).1;
        for (i, a) in net.feature_xy.iter().enumerate() {
            // Still beside the road, on the right.
            assert!((a[1] + SIDE_OFFSET_M - road_north).abs() < 0.05);
            for b in &net.feature_xy[i + 1..] {
                assert!(dist(*a, *b) >= MIN_SEPARATION_M, "{a:?} and {b:?}");
                assert!(dist(*a, *b) <= 3.0 * NUDGE_STEP_M, "nudged, not moved away");
            }
        }
    }

    #[test]
    fn a_crossing_node_off_the_road_is_not_a_crossing_sign() {
        let mut raw = straight_street(200.0, &[]);
        raw.add_node(5000, 60.17, 24.941, &[("highway", "crossing")]);
        // Node 2 is on the street (50 m in).
        let on_road = raw.nodes[&2];
        raw.add_node(2, on_road.lat(), on_road.lon(), &[("highway", "crossing")]);
        let net = RoadNetwork::build(raw).unwrap();
        let ids: Vec<&str> = net.features().iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["osm-node-2"]);
        assert_eq!(net.features()[0].class, FeatureClass::PedestrianCrossing);
    }

    #[test]
    fn a_speed_sign_without_a_figure_shows_its_roads_limit_or_is_dropped() {
        let mut raw = straight_street(200.0, &[]);
        raw.add_node(5000, 60.17, 24.941, &[("traffic_sign", "FI:C32")]);
        let no_limit = RoadNetwork::build(raw.clone()).unwrap();
        assert_eq!(no_limit.features().len(), 0);
        raw.ways[0].maxspeed = [Some(40), Some(40)];
        let net = RoadNetwork::build(raw).unwrap();
        let signs: Vec<_> = net
            .features()
            .iter()
            .filter(|f| f.id == "osm-node-5000")
            .collect();
        assert_eq!(signs.len(), 1);
        assert_eq!(signs[0].value, Some(40));
    }

    #[test]
    fn a_node_with_several_signs_gives_one_feature_per_class_with_distinct_ids() {
        let mut raw = straight_street(200.0, &[]);
        raw.add_node(5000, 60.17, 24.941, &[("traffic_sign", "FI:B6;FI:C32[30]")]);
        let net = RoadNetwork::build(raw).unwrap();
        let got: Vec<(&str, FeatureClass, Option<u32>)> = net
            .features()
            .iter()
            .map(|f| (f.id.as_str(), f.class, f.value))
            .collect();
        assert_eq!(
            got,
            [
                ("osm-node-5000-stop_sign", FeatureClass::StopSign, None),
                (
                    "osm-node-5000-speed_limit",
                    FeatureClass::SpeedLimit,
                    Some(30)
                ),
            ]
        );
        assert!(dist(net.feature_xy[0], net.feature_xy[1]) >= MIN_SEPARATION_M);
    }

    /// Three ways in a row, west to east, 200 m each: 50, 50, then 30 km/h.
    fn limits_street(oneway: Oneway) -> RawOsm {
        let start = LatLon::new(60.17, 24.94).unwrap();
        let mut raw = RawOsm::default();
        for i in 0..=12 {
            raw.nodes
                .insert(i + 1, start.destination(90.0, 50.0 * i as f64));
        }
        let refs = |a: i64| (a..=a + 4).collect::<Vec<_>>();
        raw.ways.push(way(11, refs(1), oneway, Some(50)));
        raw.ways.push(way(12, refs(5), oneway, Some(50)));
        raw.ways.push(way(13, refs(9), oneway, Some(30)));
        raw
    }

    #[test]
    fn a_speed_limit_sign_stands_where_each_limit_begins_on_the_right() {
        let net = RoadNetwork::build(limits_street(Oneway::Both)).unwrap();
        let eastbound: Vec<(&str, Option<u32>, [f64; 2])> = net
            .features()
            .iter()
            .zip(&net.feature_xy)
            .filter(|(f, _)| f.id.ends_with("forward"))
            .map(|(f, xy)| (f.id.as_str(), f.value, *xy))
            .collect();
        // 50 begins with way 11 (way 12 carries it on); 30 begins with way 13.
        let signs: Vec<_> = eastbound.iter().map(|(id, v, _)| (*id, *v)).collect();
        assert_eq!(
            signs,
            [
                ("osm-way-11-forward", Some(50)),
                ("osm-way-13-forward", Some(30))
            ]
        );
        let start = net.frame.to_local(LatLon::new(60.17, 24.94).unwrap());
        for ((_, _, xy), begins) in eastbound.iter().zip([0.0, 400.0]) {
            // 10 m past where the limit begins, 4 m right (south) of the eastbound road.
            assert!((xy[0] - start.0 - begins - SPEED_SIGN_SETBACK_M).abs() < 0.1);
            assert!((xy[1] - start.1 + SIDE_OFFSET_M).abs() < 0.1);
        }
    }

    #[test]
    fn two_way_roads_get_speed_signs_for_both_directions() {
        let net = RoadNetwork::build(limits_street(Oneway::Both)).unwrap();
        let mut ids: Vec<&str> = net.features().iter().map(|f| f.id.as_str()).collect();
        ids.sort_unstable();
        // Westbound, 30 begins at the east end of way 13 and 50 at the east end of way 12.
        assert_eq!(
            ids,
            [
                "osm-way-11-forward",
                "osm-way-12-backward",
                "osm-way-13-backward",
                "osm-way-13-forward"
            ]
        );
        let start = net.frame.to_local(LatLon::new(60.17, 24.94).unwrap());
        for (f, xy) in net.features().iter().zip(&net.feature_xy) {
            // Westbound signs stand north of the road: right of westbound traffic.
            let north = f.id.ends_with("backward");
            let offset = xy[1] - start.1;
            assert_eq!(offset > 0.0, north, "{f:?} at {offset}");
        }
    }

    #[test]
    fn speed_signs_of_one_value_and_direction_are_thinned_to_150_m() {
        // Ten separate 40 m ways in a row, all 40 km/h: each starts a run of its own
        // (no way ends where the next begins), as at the edge of a clipped extract.
        let start = LatLon::new(60.17, 24.94).unwrap();
        let mut raw = RawOsm::default();
        for i in 0..10 {
            let (a, b) = (100 + 2 * i, 101 + 2 * i);
            raw.nodes
                .insert(a, start.destination(90.0, 45.0 * i as f64));
            raw.nodes
                .insert(b, start.destination(90.0, 45.0 * i as f64 + 40.0));
            raw.ways.push(way(i, vec![a, b], Oneway::Both, Some(40)));
        }
        let net = RoadNetwork::build(raw).unwrap();
        for direction in ["forward", "backward"] {
            let xs: Vec<f64> = net
                .features()
                .iter()
                .zip(&net.feature_xy)
                .filter(|(f, _)| f.id.ends_with(direction))
                .map(|(_, p)| p[0])
                .collect();
            // Signs at 45 i + 10 (or + 30 westbound): every fourth way keeps one.
            assert_eq!(xs.len(), 3, "{direction}: {xs:?}");
            for w in xs.windows(2) {
                assert!(w[1] - w[0] >= SPEED_SIGN_SPACING_M, "{direction}: {xs:?}");
            }
        }
    }

    #[test]
    fn synthetic_features_fill_every_missing_class_at_junctions_deterministically() {
        // 6 x 6 blocks of 200 m: 16.8 km of road, so 11 of each class, and junctions
        // further apart than synthetic features of one class must be.
        let raw = grid(7, 200.0);
        let net = RoadNetwork::build(raw.clone()).unwrap();
        let again = RoadNetwork::build(raw).unwrap();
        assert_eq!(net.features(), again.features(), "deterministic");
        let per_class = (net.road_length_m() / SYNTHETIC_ROAD_PER_FEATURE_M).round() as usize;
        assert_eq!(per_class, 11);
        for class in RENDERED_CLASSES {
            assert_eq!(count(&net, class), per_class, "{class}");
        }
        assert_eq!(count(&net, FeatureClass::ParkingMeter), 0);
        for f in net.features() {
            assert!(
                f.id.starts_with(&format!("synthetic-{}-", f.class)),
                "{f:?}"
            );
            assert!(f.is_synthetic() && f.osm_tags.is_empty());
            assert_eq!(f.value.is_some(), f.class == FeatureClass::SpeedLimit);
            if let Some(v) = f.value {
                assert!(SYNTHETIC_SPEEDS.contains(&v), "{v}");
            }
        }
    }

    #[test]
    fn synthetic_features_of_several_classes_take_separate_junctions_while_any_are_free() {
        // 45 junctions; the first three classes need 33 of them.
        let net = RoadNetwork::build(grid(7, 200.0)).unwrap();
        let first: Vec<_> = net
            .features()
            .iter()
            .filter(|f| RENDERED_CLASSES[..3].contains(&f.class))
            .collect();
        assert_eq!(first.len(), 33);
        for a in &first {
            for b in &first {
                if a.id != b.id {
                    let d = a.pos.distance_m(b.pos);
                    assert!(d >= SYNTHETIC_CLEARANCE_M, "{} {} {d:.1} m", a.id, b.id);
                }
            }
        }
    }

    #[test]
    fn synthetic_features_stand_right_of_an_approach_just_before_a_junction() {
        let net = RoadNetwork::build(grid(7, 200.0)).unwrap();
        // Junctions: nodes with three or more neighbours.
        let mut neighbours = vec![std::collections::BTreeSet::new(); net.node_xy.len()];
        for &[a, b] in &net.segments {
            neighbours[a as usize].insert(b);
            neighbours[b as usize].insert(a);
        }
        for (f, xy) in net.features().iter().zip(&net.feature_xy) {
            let (d, j) = (0..net.node_xy.len())
                .filter(|&j| neighbours[j].len() >= 3)
                .map(|j| (dist(net.node_xy[j], *xy), j))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap();
            // Setback and side offset, plus at most a few nudges.
            let expected = SYNTHETIC_SETBACK_M.hypot(SIDE_OFFSET_M);
            assert!(
                d <= expected + 3.0 * NUDGE_STEP_M,
                "{f:?} is {d} m from a junction"
            );
            // Right of some approach into that junction: the cross product of the
            // approach direction and the junction-to-feature vector is negative.
            let jp = net.node_xy[j];
            let right_of_some = neighbours[j].iter().any(|&u| {
                let up = net.node_xy[u as usize];
                let (ax, ay) = (jp[0] - up[0], jp[1] - up[1]);
                let (fx, fy) = (xy[0] - jp[0], xy[1] - jp[1]);
                let along = (ax * fx + ay * fy) / ax.hypot(ay);
                let cross = (ax * fy - ay * fx) / ax.hypot(ay);
                (cross + SIDE_OFFSET_M).abs() < 0.1 && along < 0.0
            });
            assert!(
                right_of_some,
                "{f:?} is not right of an approach before {jp:?}"
            );
        }
    }

    #[test]
    fn synthetic_features_only_fill_classes_the_extract_lacks() {
        let mut raw = grid(5, 150.0);
        // A mapped traffic signal on a junction and a mapped speed limit on a way.
        let junction = raw.nodes[&(1 + 2 * 9 + 2)];
        raw.add_node(
            1 + 2 * 9 + 2,
            junction.lat(),
            junction.lon(),
            &[("highway", "traffic_signals")],
        );
        raw.ways[0].maxspeed = [Some(40), Some(40)];
        let net = RoadNetwork::build(raw).unwrap();
        let lights: Vec<&str> = net
            .features()
            .iter()
            .filter(|f| f.class == FeatureClass::TrafficLight)
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(lights, ["osm-node-21"]);
        assert!(
            net.features()
                .iter()
                .filter(|f| f.class == FeatureClass::SpeedLimit)
                .all(|f| f.id.starts_with("osm-way-1-"))
        );
        assert!(count(&net, FeatureClass::NoUTurn) > 0);
    }

    #[test]
    fn a_street_without_junctions_gets_no_synthetic_features() {
        let net = RoadNetwork::build(straight_street(400.0, &[])).unwrap();
        assert!(net.features().is_empty());
    }

    #[test]
    fn data_without_drivable_roads_is_an_error() {
        let err = RoadNetwork::build(RawOsm::default()).unwrap_err();
        assert_eq!(err.to_string(), "OSM data has no drivable roads");
        assert!(RoadNetwork::from_pbf(&b"not a pbf"[..]).is_err());
    }

    const TINY_XML: &[u8] = include_bytes!("../../testdata/osm/tiny.osm");

    #[test]
    fn the_encoding_of_an_extract_is_told_by_its_content() {
        assert_eq!(sniff(TINY_XML), Some(OsmFormat::Xml));
        assert_eq!(
            sniff(b"\xEF\xBB\xBF\n  <osm version=\"0.6\">"),
            Some(OsmFormat::Xml)
        );
        let pbf = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/osm/helsinki.osm.pbf"
        ))
        .unwrap();
        assert_eq!(sniff(&pbf), Some(OsmFormat::Pbf));
        assert_eq!(sniff(b"GIF89a..."), None);
        assert_eq!(sniff(b""), None);
        let err = RoadNetwork::from_bytes(b"GIF89a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "OSM data is neither PBF nor XML (it starts with \"GIF89a\")"
        );
    }

    #[test]
    fn a_hand_written_osm_xml_extract_yields_roads_and_every_rendered_class() {
        let net = RoadNetwork::from_bytes(TINY_XML).unwrap();
        let same = RoadNetwork::from_osm_xml(TINY_XML).unwrap();
        assert_eq!(net.features(), same.features());
        // Four streets of about 600 m crossing in a # shape.
        let km = net.road_length_m() / 1000.0;
        assert!((2.0..2.8).contains(&km), "{km} km");
        for class in RENDERED_CLASSES {
            assert!(
                count(&net, class) >= 1,
                "no {class} in {:?}",
                net.features()
            );
        }
        // The file maps no signs: everything is synthetic.
        assert!(
            net.features()
                .iter()
                .all(|f| f.id.starts_with("synthetic-"))
        );
    }

    #[test]
    fn osm_xml_nodes_tags_and_ways_are_read_and_relations_ignored() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <bounds minlat="60.16" minlon="24.93" maxlat="60.18" maxlon="24.96"/>
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1700" lon="24.9450">
    <tag k="highway" v="traffic_signals"/>
  </node>
  <node id="3" lat="60.1700" lon="24.9500"/>
  <node id="4" lat="60.1702" lon="24.9450"><tag k="emergency" v="fire_hydrant"/></node>
  <node id="5" lon="24.9"/>
  <way id="10">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/>
    <tag k="maxspeed" v="30"/>
    <tag k="name" v="Tom &amp; Jerry"/>
  </way>
  <way id="11"><nd ref="2"/><nd ref="4"/><tag k="highway" v="footway"/></way>
  <relation id="20">
    <member type="way" ref="10" role=""/>
    <tag k="highway" v="traffic_signals"/>
  </relation>
</osm>"#;
        let net = RoadNetwork::from_osm_xml(&xml[..]).unwrap();
        assert!(
            (net.road_length_m() - 554.0).abs() < 2.0,
            "{}",
            net.road_length_m()
        );
        let f = |id: &str| net.features().iter().find(|f| f.id == id).unwrap();
        assert_eq!(f("osm-node-2").class, FeatureClass::TrafficLight);
        assert_eq!(f("osm-node-4").class, FeatureClass::FireHydrant);
        let sign = f("osm-way-10-forward");
        assert_eq!(sign.value, Some(30));
        assert!(
            sign.osm_tags.contains("name=Tom & Jerry"),
            "{}",
            sign.osm_tags
        );
        assert!(f("osm-way-10-backward").value == Some(30));
    }

    #[test]
    fn malformed_osm_xml_is_an_error_not_a_panic() {
        for bad in [
            &b"<osm><node id=\"x\" lat=\"1\" lon=\"2\"/></osm>"[..],
            b"<osm><way id=\"1\"><nd ref=\"two\"/></way></osm>",
            b"<osm><node id=\"1\" lat=\"60\" lon=\"24\"></way></osm>",
            b"<osm><node lat=\"60\" lon=\"24\"/></osm>",
        ] {
            let err = RoadNetwork::from_osm_xml(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("cannot read OSM XML data:"),
                "{err}"
            );
        }
        let no_roads = RoadNetwork::from_osm_xml(&b"<osm></osm>"[..]).unwrap_err();
        assert!(matches!(no_roads, SimError::NoRoads));
    }
}
