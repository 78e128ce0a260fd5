//! Where simulated contributors drive: waypoints in the feature-dense part of the
//! network, shortest paths (Dijkstra) chained between them, and the resulting
//! polyline sampled at constant speed.
//!
//! Every contributor picks waypoints from the same pool (graph nodes next to features
//! around the densest cluster of features), so drives overlap on some streets the way
//! real contributors share busy streets, while each contributor's own seed makes its
//! route different.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;
use streetcomb_core::geodesy::normalize_deg;
use streetcomb_core::spatial::SpatialIndex;

use crate::SimError;
use crate::geom::dist;
use crate::osm::RoadNetwork;

/// Features within this radius count towards a location's feature density, metres.
const DENSITY_RADIUS_M: f64 = 300.0;
/// Waypoints are drawn from features within this radius of the densest spot, metres.
const WAYPOINT_AREA_M: f64 = 400.0;
/// A feature's waypoint is the nearest routable graph node within this distance.
const WAYPOINT_SNAP_M: f64 = 60.0;
/// Consecutive waypoints should be at least this far apart (when possible), metres.
const MIN_HOP_M: f64 = 100.0;

/// Picks the graph nodes that routes aim for; see the module docs.
pub(crate) fn choose_waypoints(net: &RoadNetwork) -> Result<Vec<u32>, SimError> {
    let main = main_component(&net.adj);
    let main_nodes: Vec<u32> = (0..net.node_xy.len() as u32)
        .filter(|&i| main[i as usize])
        .collect();
    if main_nodes.len() < 2 {
        return Err(SimError::Route(
            "the road network has no two junctions connected both ways".into(),
        ));
    }
    let hotspot = densest_feature_spot(net).unwrap_or_else(|| {
        let n = main_nodes.len() as f64;
        let (e, no) = main_nodes.iter().fold((0.0, 0.0), |(e, n), &i| {
            let p = net.node_xy[i as usize];
            (e + p[0], n + p[1])
        });
        [e / n, no / n]
    });

    let node_index = SpatialIndex::of_ids(
        main_nodes
            .iter()
            .map(|&i| (i as usize, net.node_xy[i as usize])),
    );
    let mut waypoints: Vec<u32> = Vec::new();
    for &f in &net.feature_xy {
        if dist(f, hotspot) > WAYPOINT_AREA_M {
            continue;
        }
        let nearest = node_index
            .near(f, WAYPOINT_SNAP_M)
            .into_iter()
            .map(|i| (dist(net.node_xy[i], f), i as u32))
            .filter(|(d, _)| *d <= WAYPOINT_SNAP_M)
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some((_, i)) = nearest {
            waypoints.push(i);
        }
    }
    waypoints.sort_unstable();
    waypoints.dedup();
    if waypoints.len() < 2 {
        // No (or one) feature in reach: any junction near the hotspot will do.
        waypoints = main_nodes
            .iter()
            .copied()
            .filter(|&i| dist(net.node_xy[i as usize], hotspot) <= WAYPOINT_AREA_M)
            .collect();
    }
    if waypoints.len() < 2 {
        waypoints = main_nodes;
    }
    Ok(waypoints)
}

/// The feature with the most other features within [`DENSITY_RADIUS_M`].
fn densest_feature_spot(net: &RoadNetwork) -> Option<[f64; 2]> {
    let mut best: Option<(usize, [f64; 2])> = None;
    for &p in &net.feature_xy {
        let count = net
            .feature_index
            .near(p, DENSITY_RADIUS_M)
            .into_iter()
            .filter(|&j| dist(net.feature_xy[j], p) <= DENSITY_RADIUS_M)
            .count();
        if best.is_none_or(|(c, _)| count > c) {
            best = Some((count, p));
        }
    }
    best.map(|(_, p)| p)
}

/// Marks the nodes of the largest strongly connected component (Kosaraju): between
/// any two of them a route exists, so a simulated car never gets stuck in a one-way
/// dead end at the edge of the extract.
pub(crate) fn main_component(adj: &[Vec<(u32, f64)>]) -> Vec<bool> {
    let n = adj.len();
    let mut visited = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for s in 0..n {
        if visited[s] {
            continue;
        }
        visited[s] = true;
        stack.push((s as u32, 0));
        while let Some((v, i)) = stack.last_mut() {
            let edges = &adj[*v as usize];
            if *i < edges.len() {
                let w = edges[*i].0;
                *i += 1;
                if !visited[w as usize] {
                    visited[w as usize] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(*v);
                stack.pop();
            }
        }
    }
    let mut radj: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (v, edges) in adj.iter().enumerate() {
        for (w, _) in edges {
            radj[*w as usize].push(v as u32);
        }
    }
    let mut comp = vec![usize::MAX; n];
    let mut sizes: Vec<usize> = Vec::new();
    for &v in order.iter().rev() {
        if comp[v as usize] != usize::MAX {
            continue;
        }
        let c = sizes.len();
        comp[v as usize] = c;
        let mut size = 0;
        let mut todo = vec![v];
        while let Some(x) = todo.pop() {
            size += 1;
            for &y in &radj[x as usize] {
                if comp[y as usize] == usize::MAX {
                    comp[y as usize] = c;
                    todo.push(y);
                }
            }
        }
        sizes.push(size);
    }
    let mut best = 0;
    for (c, &s) in sizes.iter().enumerate() {
        if s > sizes[best] {
            best = c;
        }
    }
    comp.into_iter().map(|c| c == best).collect()
}

/// Dijkstra from `from` to `to`; `no_first_hop` forbids leaving `from` towards that
/// node (used to avoid U-turns where a waypoint is passed through).
pub(crate) fn shortest_path(
    adj: &[Vec<(u32, f64)>],
    from: u32,
    to: u32,
    no_first_hop: Option<u32>,
) -> Option<Vec<u32>> {
    let n = adj.len();
    let mut best = vec![f64::INFINITY; n];
    let mut prev = vec![u32::MAX; n];
    // Non-negative f64s order like their bit patterns, which gives a total order.
    let mut heap = BinaryHeap::new();
    best[from as usize] = 0.0;
    heap.push(Reverse((0f64.to_bits(), from)));
    while let Some(Reverse((bits, v))) = heap.pop() {
        let d = f64::from_bits(bits);
        if d > best[v as usize] {
            continue;
        }
        if v == to {
            break;
        }
        for &(w, len) in &adj[v as usize] {
            if v == from && Some(w) == no_first_hop {
                continue;
            }
            let nd = d + len;
            if nd < best[w as usize] {
                best[w as usize] = nd;
                prev[w as usize] = v;
                heap.push(Reverse((nd.to_bits(), w)));
            }
        }
    }
    if !best[to as usize].is_finite() {
        return None;
    }
    let mut path = vec![to];
    let mut v = to;
    while v != from {
        v = prev[v as usize];
        path.push(v);
    }
    path.reverse();
    Some(path)
}

/// A route of about `length_m` metres: shortest paths chained between random
/// waypoints, cut to exactly `length_m`.
pub(crate) fn plan_route(
    net: &RoadNetwork,
    rng: &mut impl Rng,
    length_m: f64,
) -> Result<Polyline, SimError> {
    let wps = &net.waypoints;
    if wps.len() < 2 {
        return Err(SimError::Route("fewer than two waypoints".into()));
    }
    let mut current = wps[rng.random_range(0..wps.len())];
    let mut path = vec![current];
    let mut len = 0.0;
    let mut hops = 0;
    while len < length_m {
        hops += 1;
        if hops > 10_000 {
            return Err(SimError::Route(format!(
                "no progress after {len:.0} of {length_m:.0} m"
            )));
        }
        let here = net.node_xy[current as usize];
        let mut target = wps[rng.random_range(0..wps.len())];
        for _ in 0..8 {
            if target != current && dist(net.node_xy[target as usize], here) >= MIN_HOP_M {
                break;
            }
            target = wps[rng.random_range(0..wps.len())];
        }
        if target == current {
            continue;
        }
        let came_from = path.len().checked_sub(2).map(|i| path[i]);
        let Some(hop) = shortest_path(&net.adj, current, target, came_from)
            .or_else(|| shortest_path(&net.adj, current, target, None))
        else {
            continue;
        };
        for w in hop.into_iter().skip(1) {
            let last = path.last().copied().unwrap_or(w);
            len += dist(net.node_xy[last as usize], net.node_xy[w as usize]);
            path.push(w);
        }
        current = target;
    }
    let pts = path.iter().map(|&i| net.node_xy[i as usize]).collect();
    // Cars keep right of the centre line of a two-way road and drive on it on a
    // one-way road.
    let right_m = path
        .windows(2)
        .map(|w| {
            let two_way = net.adj[w[1] as usize].iter().any(|&(to, _)| to == w[0]);
            if two_way { LANE_OFFSET_M } else { 0.0 }
        })
        .collect();
    Ok(Polyline::with_lanes(pts, right_m).truncated(length_m))
}

/// Where a car drives on a two-way road, metres right of the centre line: the middle
/// of a ~3.5 m lane.
pub const LANE_OFFSET_M: f64 = 1.75;

/// How far before and after a bend a car's place across the road turns from one
/// segment's to the next, metres.
const CORNER_BLEND_M: f64 = 6.0;

/// How one drive keeps its lane: off the nominal place ([`LANE_OFFSET_M`]) by a
/// constant for the drive (the car's habit, and the map's centre lines being off)
/// plus a slow sway along the road. About 0.6 m 1-sigma across the road: what a
/// position taken from the road alone gets wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lane {
    offset_m: f64,
    sway: [(f64, f64, f64); 2],
}

impl Lane {
    pub(crate) fn random(rng: &mut impl Rng) -> Lane {
        let mut sway =
            |amp: f64, wave_m: f64| (amp, wave_m, rng.random_range(0.0..std::f64::consts::TAU));
        let sway = [sway(0.3, 150.0), sway(0.15, 60.0)];
        Lane {
            offset_m: rng.random_range(-1.0..1.0),
            sway,
        }
    }

    /// How far right of the nominal place the car is after `s` metres.
    fn deviation_m(&self, s: f64) -> f64 {
        self.offset_m
            + self
                .sway
                .iter()
                .map(|(amp, wave, phase)| amp * (std::f64::consts::TAU * s / wave + phase).sin())
                .sum::<f64>()
    }

    /// How fast the deviation grows, metres sideways per metre along.
    fn slope(&self, s: f64) -> f64 {
        self.sway
            .iter()
            .map(|(amp, wave, phase)| {
                let k = std::f64::consts::TAU / wave;
                amp * k * (k * s + phase).cos()
            })
            .sum()
    }
}

/// A path in local metres with cumulative distances, sampled by distance travelled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Polyline {
    pts: Vec<[f64; 2]>,
    cum: Vec<f64>,
    /// Per segment: where a car drives, metres right of the line.
    right_m: Vec<f64>,
}

impl Polyline {
    /// Builds a polyline, dropping repeated points (zero-length segments have no
    /// direction).
    #[cfg(test)]
    pub(crate) fn new(points: Vec<[f64; 2]>) -> Self {
        let n = points.len().saturating_sub(1);
        Self::with_lanes(points, vec![0.0; n])
    }

    /// [`Self::new`] with, per segment (`points.len() - 1` of them), where a car
    /// drives: metres right of the line.
    pub(crate) fn with_lanes(points: Vec<[f64; 2]>, lanes: Vec<f64>) -> Self {
        let mut pts: Vec<[f64; 2]> = Vec::with_capacity(points.len());
        let mut cum = Vec::with_capacity(points.len());
        let mut right_m = Vec::with_capacity(points.len());
        for (i, p) in points.into_iter().enumerate() {
            match pts.last() {
                Some(&q) if dist(p, q) < 1e-6 => {}
                Some(&q) => {
                    cum.push(cum.last().copied().unwrap_or(0.0) + dist(p, q));
                    pts.push(p);
                    right_m.push(lanes.get(i - 1).copied().unwrap_or(0.0));
                }
                None => {
                    cum.push(0.0);
                    pts.push(p);
                }
            }
        }
        Self { pts, cum, right_m }
    }

    pub(crate) fn length(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }

    /// The first `len` metres.
    pub(crate) fn truncated(self, len: f64) -> Self {
        if len >= self.length() {
            return self;
        }
        let (end, _) = self.at(len);
        let keep = self.cum.partition_point(|&c| c < len);
        let mut pts = self.pts[..keep].to_vec();
        pts.push(end);
        let lanes = self.right_m[..keep.min(self.right_m.len())].to_vec();
        Self::with_lanes(pts, lanes)
    }

    /// Where a car keeping `lane` is after `s` metres, and its heading: [`Self::at`]
    /// moved right of the line by the segment's lane and the drive's deviation. Within
    /// [`CORNER_BLEND_M`] of a bend the sideways direction and the lane turn
    /// gradually from one segment's to the next, as a car's path does.
    pub(crate) fn in_lane(&self, s: f64, lane: &Lane) -> ([f64; 2], f64) {
        let (p, heading) = self.at(s);
        let Some((i, s)) = self.segment_at(s) else {
            return (p, heading);
        };
        let n = self.pts.len();
        let right_of = |k: usize| {
            let (a, b) = (self.pts[k], self.pts[k + 1]);
            let len = dist(a, b);
            // Right of a direction (dx, dy) is (dy, -dx).
            ([(b[1] - a[1]) / len, -(b[0] - a[0]) / len], self.right_m[k])
        };
        let (mut normal, mut right) = right_of(i);
        let (into, left) = (s - self.cum[i], self.cum[i + 1] - s);
        let neighbour = if into < CORNER_BLEND_M && i > 0 {
            Some((i - 1, 0.5 - into / (2.0 * CORNER_BLEND_M)))
        } else if left < CORNER_BLEND_M && i + 2 < n {
            Some((i + 1, 0.5 - left / (2.0 * CORNER_BLEND_M)))
        } else {
            None
        };
        if let Some((k, w)) = neighbour {
            let (nk, rk) = right_of(k);
            let v = [
                (1.0 - w) * normal[0] + w * nk[0],
                (1.0 - w) * normal[1] + w * nk[1],
            ];
            let len = v[0].hypot(v[1]).max(1e-9);
            normal = [v[0] / len, v[1] / len];
            right = (1.0 - w) * right + w * rk;
        }
        let off = right + lane.deviation_m(s);
        let heading = normalize_deg(heading + lane.slope(s).atan().to_degrees());
        ([p[0] + off * normal[0], p[1] + off * normal[1]], heading)
    }

    /// The segment holding the point `s` metres along (clamped to the ends), and that
    /// clamped `s`; `None` for a polyline of fewer than two points.
    fn segment_at(&self, s: f64) -> Option<(usize, f64)> {
        let n = self.pts.len();
        if n < 2 {
            return None;
        }
        let s = s.clamp(0.0, self.length());
        Some((self.cum.partition_point(|&c| c <= s).clamp(1, n - 1) - 1, s))
    }

    /// Position and heading (degrees clockwise from north) after `s` metres; clamped
    /// to the ends.
    pub(crate) fn at(&self, s: f64) -> ([f64; 2], f64) {
        let Some((i, s)) = self.segment_at(s) else {
            return (self.pts.first().copied().unwrap_or([0.0, 0.0]), 0.0);
        };
        let (a, b) = (self.pts[i], self.pts[i + 1]);
        let seg = self.cum[i + 1] - self.cum[i];
        let t = ((s - self.cum[i]) / seg).clamp(0.0, 1.0);
        let heading = normalize_deg((b[0] - a[0]).atan2(b[1] - a[1]).to_degrees());
        (
            [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])],
            heading,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn graph(edges: &[(u32, u32, f64)], n: usize) -> Vec<Vec<(u32, f64)>> {
        let mut adj = vec![Vec::new(); n];
        for &(a, b, l) in edges {
            adj[a as usize].push((b, l));
        }
        adj
    }

    #[test]
    fn dijkstra_takes_the_shorter_of_two_ways_and_respects_one_way_edges() {
        // 0 -> 1 -> 3 costs 2; 0 -> 2 -> 3 costs 10; 3 -> 0 only via 4.
        let adj = graph(
            &[
                (0, 1, 1.0),
                (1, 3, 1.0),
                (0, 2, 5.0),
                (2, 3, 5.0),
                (3, 4, 1.0),
                (4, 0, 1.0),
            ],
            5,
        );
        assert_eq!(shortest_path(&adj, 0, 3, None).unwrap(), vec![0, 1, 3]);
        assert_eq!(shortest_path(&adj, 0, 3, Some(1)).unwrap(), vec![0, 2, 3]);
        assert_eq!(shortest_path(&adj, 3, 0, None).unwrap(), vec![3, 4, 0]);
        assert_eq!(shortest_path(&adj, 3, 1, Some(4)), None);
    }

    #[test]
    fn the_main_component_excludes_one_way_dead_ends() {
        // 0 <-> 1 <-> 2 is a loop; 2 -> 3 is a one-way exit with no way back.
        let adj = graph(
            &[
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 2, 1.0),
                (2, 1, 1.0),
                (2, 3, 1.0),
            ],
            4,
        );
        assert_eq!(main_component(&adj), vec![true, true, true, false]);
    }

    #[test]
    fn a_polyline_is_sampled_by_distance_with_the_heading_of_travel() {
        let p = Polyline::new(vec![[0.0, 0.0], [0.0, 10.0], [0.0, 10.0], [10.0, 10.0]]);
        assert_eq!(p.length(), 20.0);
        let (pos, h) = p.at(5.0);
        assert_eq!((pos, h), ([0.0, 5.0], 0.0));
        let (pos, h) = p.at(15.0);
        assert_eq!((pos, h), ([5.0, 10.0], 90.0));
        let (pos, _) = p.at(99.0);
        assert_eq!(pos, [10.0, 10.0]);
        let t = p.truncated(12.5);
        assert_eq!(t.length(), 12.5);
        assert_eq!(t.at(12.5).0, [2.5, 10.0]);
    }

    #[test]
    fn a_car_keeps_right_of_a_two_way_line_and_on_a_one_way_one() {
        let p = Polyline::with_lanes(
            vec![[0.0, 0.0], [0.0, 100.0], [100.0, 100.0]],
            vec![LANE_OFFSET_M, 0.0],
        );
        let still = Lane {
            offset_m: 0.0,
            sway: [(0.0, 1.0, 0.0); 2],
        };
        // Northbound on the two-way segment: right is east.
        let (pos, h) = p.in_lane(50.0, &still);
        assert_eq!(h, 0.0);
        assert!((pos[0] - LANE_OFFSET_M).abs() < 1e-9 && (pos[1] - 50.0).abs() < 1e-9);
        // Eastbound on the one-way segment: on the line.
        let (pos, _) = p.in_lane(150.0, &still);
        assert!(
            (pos[0] - 50.0).abs() < 1e-9 && (pos[1] - 100.0).abs() < 1e-9,
            "{pos:?}"
        );
        // Truncating keeps the lanes.
        let t = p.truncated(60.0);
        assert!((t.in_lane(30.0, &still).0[0] - LANE_OFFSET_M).abs() < 1e-9);
        // A drive's own lane keeping stays within a couple of metres of the nominal.
        let lane =
            Lane::random(&mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5));
        for s in [0.0, 25.0, 77.0, 150.0] {
            assert!(lane.deviation_m(s).abs() <= 1.8, "{}", lane.deviation_m(s));
        }
    }
}
