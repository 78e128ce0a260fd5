//! Road alignment: each drive's GPS bias, measured against the roads it drove on.
//!
//! Consumer GPS wanders by metres but slowly (a bias that holds for a minute or so),
//! and every ray of a drive inherits it, so a feature seen by one drive is off by
//! that drive's bias however many frames saw it. A car drives on roads, though, and
//! in its lane: each frame's distance across the road it is on, against where its lane
//! lies, measures the bias across that road. On a straight road that is one component
//! only; a drive that turns measures the other one too. The bias at each frame is the
//! time-weighted least-squares fit of those across-road residuals, held towards zero
//! by a prior of the GPS's own size, so a component no road measured stays where GPS
//! put it.
//!
//! The same match steadies each frame's heading. Ingest takes it from the track's
//! positions a second either side, so each metre of GPS jitter there turns it by a
//! few degrees, and a few degrees is metres across at the range signs are seen from.
//! A car heads along its road, give or take a lane change: a heading within
//! `heading_gate_deg` of its road's direction is pulled towards it by the two
//! headings' inverse variances, and [`steer_detections`] turns the frame's detection
//! bearings with it.
//!
//! What the roads can get wrong is bounded: a frame further than `search_m` from any
//! road of its heading measures nothing (car parks, roads the extract lacks), residuals
//! beyond `reject_m` after a first fit are dropped (the wrong one of two parallel
//! roads), and the correction never exceeds `max_shift_m`.

use std::collections::{BTreeMap, HashMap};

use streetcomb_core::geodesy::{angle_diff_deg, normalize_deg};
use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{Detection, Frame, LocalFrame, RoadSegment};

/// Tunables of the alignment.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AlignParams {
    /// A frame measures its bias against the nearest road within this distance whose
    /// direction is within `max_heading_diff_deg` of its heading, metres.
    pub search_m: f64,
    pub max_heading_diff_deg: f64,
    /// Where a car drives on a two-way road: this far from the centre line (half a
    /// lane of ~3.5 m), metres, on the `side` of it.
    pub lane_offset_m: f64,
    pub side: DriveSide,
    /// 1-sigma spread of a car's place across the road about `lane_offset_m` (its
    /// place in the lane, wider roads, the map's own error), metres; ...
    pub across_sigma_m: f64,
    /// ... which holds for about this far along the road, so frames closer together
    /// than this do not count as independent measurements, metres.
    pub across_corr_m: f64,
    /// 1-sigma GPS bias per axis, the prior that holds a component no road measured.
    pub gps_sigma_m: f64,
    /// How long the bias holds: residuals this far apart in time weigh e^-1 of each
    /// other, seconds.
    pub time_scale_s: f64,
    /// Residuals further than this from the first fit are dropped, metres.
    pub reject_m: f64,
    /// The correction is capped at this length, metres.
    pub max_shift_m: f64,
    /// A frame's heading within this of its road's direction is pulled towards it,
    /// degrees (further off, the car is turning or the road is not the one it is on).
    pub heading_gate_deg: f64,
    /// 1-sigma error of a heading taken from the GPS track, degrees: white GPS noise
    /// of ~1 m over the ±1 s baseline of a car at 10 m/s (the simulated drives' track
    /// headings lie a median 3.8° off their roads, 5.4° at the 68th percentile).
    pub track_heading_sigma_deg: f64,
    /// 1-sigma spread of a car's heading about its road's direction, degrees: its
    /// sway in the lane, and the map's straight segments along a curve.
    pub road_heading_sigma_deg: f64,
}

impl Default for AlignParams {
    fn default() -> Self {
        Self {
            search_m: 15.0,
            max_heading_diff_deg: 25.0,
            lane_offset_m: 1.75,
            side: DriveSide::Auto,
            across_sigma_m: 1.0,
            across_corr_m: 40.0,
            gps_sigma_m: 3.0,
            time_scale_s: 40.0,
            reject_m: 4.0,
            max_shift_m: 10.0,
            heading_gate_deg: 10.0,
            track_heading_sigma_deg: 5.0,
            road_heading_sigma_deg: 1.5,
        }
    }
}

/// Which side of a two-way road cars drive on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriveSide {
    Right,
    Left,
    /// Read from the drives themselves (see [`driving_side`]); right when they
    /// cannot tell.
    Auto,
}

/// [`DriveSide::Auto`] reads the side from drives with at least this many frames
/// on two-way roads, and only from this many such drives.
const SIDE_MIN_FRAMES: usize = 30;
const SIDE_MIN_DRIVES: usize = 20;

/// The base map's roads, indexed for the alignment.
#[derive(Debug, Clone)]
pub struct Roads {
    local: LocalFrame,
    /// Segments in local metres: (a, b, two_way).
    segs: Vec<([f64; 2], [f64; 2], bool)>,
    index: SpatialIndex,
}

/// A frame's measurement: at time `t` (seconds), the bias along unit vector `n`
/// (across the road) is `r` metres, with weight `w`.
#[derive(Debug, Clone, Copy)]
struct Across {
    t: f64,
    n: (f64, f64),
    r: f64,
    w: f64,
}

impl Roads {
    /// Indexes `segments`; `None` when there are none.
    pub fn new(segments: &[RoadSegment]) -> Option<Roads> {
        let first = segments.first()?;
        let local = LocalFrame::new(first.a);
        let segs: Vec<([f64; 2], [f64; 2], bool)> = segments
            .iter()
            .map(|s| {
                let (a, b) = (local.to_local(s.a), local.to_local(s.b));
                ([a.0, a.1], [b.0, b.1], s.two_way)
            })
            .collect();
        // Each segment by the box of its reach (see `OVERRUN`), so a lookup within
        // `search_m` finds every segment a frame can be matched to.
        let index = SpatialIndex::of_boxes(segs.iter().enumerate().map(|(i, (a, b, _))| {
            let at = |t: f64| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
            (i, at(-OVERRUN), at(1.0 + OVERRUN))
        }));
        Some(Roads { local, segs, index })
    }

    /// Where a car at `p` (local metres) heading `heading_deg` is across the nearest
    /// road of its heading: the unit vector across it (to the right of travel), how
    /// far right of the centre line the car is, metres, and whether the road is
    /// two-way; `None` with no road of its heading in reach.
    fn across(&self, p: [f64; 2], heading_deg: f64, params: &AlignParams) -> Option<OnRoad> {
        let mut best: Option<OnRoad> = None;
        for i in self.index.near(p, params.search_m) {
            let (a, b, two_way) = self.segs[i];
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len = dx.hypot(dy);
            if len < 1e-6 {
                continue;
            }
            let road_deg = dx.atan2(dy).to_degrees();
            let diff = angle_diff_deg(heading_deg, road_deg).abs();
            // Travel along the segment or against it.
            let forward = if diff <= params.max_heading_diff_deg {
                1.0
            } else if 180.0 - diff <= params.max_heading_diff_deg {
                -1.0
            } else {
                continue;
            };
            let u = (forward * dx / len, forward * dy / len);
            let t = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (len * len);
            if !(-OVERRUN..=1.0 + OVERRUN).contains(&t) {
                continue;
            }
            // Right of travel is the direction rotated clockwise.
            let right = (u.1, -u.0);
            let rel = (p[0] - a[0], p[1] - a[1]);
            let across = rel.0 * right.0 + rel.1 * right.1;
            if across.abs() > params.search_m {
                continue;
            }
            if best.is_none_or(|b| across.abs() < b.across.abs()) {
                best = Some(OnRoad {
                    n: right,
                    across,
                    two_way,
                    dir_deg: u.0.atan2(u.1).to_degrees(),
                });
            }
        }
        best
    }
}

/// A frame matches a segment a little beyond its ends too (a twentieth of its
/// length): a car in a junction is on neither segment's stretch.
const OVERRUN: f64 = 0.05;

/// A car's place across the road it is on (see [`Roads::across`]).
#[derive(Debug, Clone, Copy)]
struct OnRoad {
    n: (f64, f64),
    across: f64,
    two_way: bool,
    /// The road's direction of travel, degrees clockwise from north.
    dir_deg: f64,
}

/// The side of two-way roads the drives keep to: +1 right, -1 left. With
/// [`DriveSide::Auto`], from how far right of the centre line each drive's frames on
/// two-way roads lie (its median): the lane is always on one side, while drives' GPS
/// biases point every way, so the median over [`SIDE_MIN_DRIVES`] drives or more
/// gives the side. With fewer drives a bias of a few metres could pass for a lane:
/// right, as on most of the world's roads.
pub fn driving_side(frames: &[Frame], roads: &Roads, params: &AlignParams) -> f64 {
    match params.side {
        DriveSide::Right => return 1.0,
        DriveSide::Left => return -1.0,
        DriveSide::Auto => {}
    }
    let mut by_drive: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for f in frames {
        let (x, y) = roads.local.to_local(f.pos);
        if let Some(a) = roads.across([x, y], f.heading_deg, params)
            && a.two_way
        {
            by_drive
                .entry(f.drive_id.as_str())
                .or_default()
                .push(a.across);
        }
    }
    let mut medians: Vec<f64> = by_drive
        .into_values()
        .filter(|v| v.len() >= SIDE_MIN_FRAMES)
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    if medians.len() < SIDE_MIN_DRIVES {
        return 1.0;
    }
    medians.sort_by(f64::total_cmp);
    if medians[medians.len() / 2] <= -0.5 {
        -1.0
    } else {
        1.0
    }
}

/// Frame times in seconds from the drive's first frame.
fn seconds(frames: &[&Frame]) -> Vec<f64> {
    let t0 = frames
        .first()
        .map(|f| f.captured_at.timestamp_millis())
        .unwrap_or(0);
    frames
        .iter()
        .map(|f| (f.captured_at.timestamp_millis() - t0) as f64 / 1000.0)
        .collect()
}

/// The bias at time `t` from across-road measurements: the 2×2 weighted least
/// squares with the GPS prior.
fn fit(ms: &[Across], t: f64, params: &AlignParams) -> (f64, f64) {
    let prior = 1.0 / params.gps_sigma_m.powi(2);
    let obs = 1.0 / params.across_sigma_m.powi(2);
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (prior, 0.0, prior, 0.0, 0.0);
    for m in ms {
        let k = m.w * obs * (-((m.t - t) / params.time_scale_s).powi(2)).exp();
        if k < 1e-9 {
            continue;
        }
        a11 += k * m.n.0 * m.n.0;
        a12 += k * m.n.0 * m.n.1;
        a22 += k * m.n.1 * m.n.1;
        b1 += k * m.n.0 * m.r;
        b2 += k * m.n.1 * m.r;
    }
    let det = a11 * a22 - a12 * a12;
    if det <= 0.0 {
        return (0.0, 0.0);
    }
    let (x, y) = ((a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det);
    let len = x.hypot(y);
    if len > params.max_shift_m {
        (x * params.max_shift_m / len, y * params.max_shift_m / len)
    } else {
        (x, y)
    }
}

/// One drive's frames (sorted by time): each frame's estimated GPS bias, east and
/// north metres.
fn drive_bias(
    frames: &[&Frame],
    roads: &Roads,
    side: f64,
    params: &AlignParams,
) -> Vec<(f64, f64)> {
    let ts = seconds(frames);
    let xy: Vec<[f64; 2]> = frames
        .iter()
        .map(|f| {
            let p = roads.local.to_local(f.pos);
            [p.0, p.1]
        })
        .collect();
    // Frames closer together than the across-road error's correlation length share
    // one measurement's weight.
    let weights: Vec<f64> = (0..frames.len())
        .map(|i| {
            let gap = |j: usize| (xy[i][0] - xy[j][0]).hypot(xy[i][1] - xy[j][1]);
            let before = if i > 0 { gap(i - 1) } else { 0.0 };
            let after = if i + 1 < frames.len() {
                gap(i + 1)
            } else {
                0.0
            };
            ((before + after) / 2.0 / params.across_corr_m).min(1.0)
        })
        .collect();
    let measure = |bias: &[(f64, f64)], gate: Option<f64>| -> Vec<Across> {
        (0..frames.len())
            .filter_map(|i| {
                let p = [xy[i][0] - bias[i].0, xy[i][1] - bias[i].1];
                let a = roads.across(p, frames[i].heading_deg, params)?;
                let lane = if a.two_way {
                    side * params.lane_offset_m
                } else {
                    0.0
                };
                let (n, r) = (a.n, a.across - lane);
                if gate.is_some_and(|g| r.abs() > g) {
                    return None;
                }
                // The residual was taken after removing the bias: add back its part
                // across the road.
                let r = r + n.0 * bias[i].0 + n.1 * bias[i].1;
                Some(Across {
                    t: ts[i],
                    n,
                    r,
                    w: weights[i],
                })
            })
            .collect()
    };
    let zero = vec![(0.0, 0.0); frames.len()];
    let first = measure(&zero, None);
    let bias: Vec<(f64, f64)> = ts.iter().map(|&t| fit(&first, t, params)).collect();
    // Again from the corrected positions: the right road where two run side by side,
    // and residuals far off the first fit dropped.
    let second = measure(&bias, Some(params.reject_m));
    ts.iter().map(|&t| fit(&second, t, params)).collect()
}

/// `frames` with each drive's GPS bias, as measured against `roads`, taken out of
/// their positions, and their headings steadied by their roads' directions (same
/// order). Frames of drives that never came near a road keep their positions and
/// headings; detections follow the new headings through [`steer_detections`].
pub fn align_to_roads(frames: &[Frame], roads: &Roads, params: &AlignParams) -> Vec<Frame> {
    let mut drives: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, f) in frames.iter().enumerate() {
        drives.entry(f.drive_id.as_str()).or_default().push(i);
    }
    let side = driving_side(frames, roads, params);
    // The road's pull on a heading that passes the gate: the share of the two
    // headings' inverse variances that is the road's.
    let (track, road) = (
        params.track_heading_sigma_deg.powi(-2),
        params.road_heading_sigma_deg.powi(-2),
    );
    let pull = if (track + road).is_finite() && track + road > 0.0 {
        road / (track + road)
    } else {
        0.0
    };
    let mut out = frames.to_vec();
    for (_, mut idx) in drives {
        idx.sort_by(|&a, &b| {
            frames[a]
                .captured_at
                .cmp(&frames[b].captured_at)
                .then(frames[a].id.cmp(&frames[b].id))
        });
        let fs: Vec<&Frame> = idx.iter().map(|&i| &frames[i]).collect();
        for (&i, (bx, by)) in idx.iter().zip(drive_bias(&fs, roads, side, params)) {
            let (x, y) = roads.local.to_local(frames[i].pos);
            let (x, y) = (x - bx, y - by);
            out[i].pos = roads.local.to_latlon(x, y);
            let heading = frames[i].heading_deg;
            if let Some(on) = roads.across([x, y], heading, params) {
                let diff = angle_diff_deg(on.dir_deg, heading);
                if diff.abs() <= params.heading_gate_deg {
                    out[i].heading_deg = normalize_deg(heading + pull * diff);
                }
            }
        }
    }
    out
}

/// `detections` with their bearings turned as [`align_to_roads`] turned their frames'
/// headings from `recorded` to `aligned` (the same frames, in any order). A detection
/// of a frame in neither keeps its bearing.
pub fn steer_detections(
    detections: &[Detection],
    recorded: &[Frame],
    aligned: &[Frame],
) -> Vec<Detection> {
    let before: HashMap<&str, f64> = recorded
        .iter()
        .map(|f| (f.id.as_str(), f.heading_deg))
        .collect();
    let turn: HashMap<&str, f64> = aligned
        .iter()
        .filter_map(|f| {
            let b = before.get(f.id.as_str())?;
            Some((f.id.as_str(), angle_diff_deg(f.heading_deg, *b)))
        })
        .filter(|(_, d)| *d != 0.0)
        .collect();
    detections
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if let Some(t) = turn.get(d.frame_id.as_str()) {
                d.bearing_deg = normalize_deg(d.bearing_deg + t);
            }
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use streetcomb_core::LatLon;
    use streetcomb_core::testing::FrameBuilder;

    fn origin() -> LatLon {
        LatLon::new(60.17, 24.94).unwrap()
    }

    /// An L-shaped two-way road: `leg_m` east from the origin, then `leg_m` north.
    fn l_road(local: &LocalFrame, leg_m: f64) -> Vec<RoadSegment> {
        let corner = local.to_latlon(leg_m, 0.0);
        vec![
            RoadSegment {
                a: local.to_latlon(0.0, 0.0),
                b: corner,
                two_way: true,
            },
            RoadSegment {
                a: corner,
                b: local.to_latlon(leg_m, leg_m),
                two_way: true,
            },
        ]
    }

    /// A drive along the L road in its right-hand lane at 10 m/s, a frame every
    /// 0.4 s: (frames as GPS put them, true positions in local metres).
    fn l_drive(
        local: &LocalFrame,
        leg_m: f64,
        bias: (f64, f64),
        lane_m: f64,
    ) -> (Vec<Frame>, Vec<(f64, f64)>) {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        let (mut frames, mut truth) = (Vec::new(), Vec::new());
        let n = (2.0 * leg_m / 4.0) as usize;
        for k in 0..=n {
            let s = k as f64 * 4.0;
            // East leg: right of travel is south; north leg: right is east.
            let (p, heading) = if s <= leg_m {
                ((s, -lane_m), 90.0)
            } else {
                ((leg_m + lane_m, s - leg_m), 0.0)
            };
            truth.push(p);
            frames.push(
                FrameBuilder::new()
                    .id(format!("f{k:04}"))
                    .drive("d1")
                    .at(t0 + chrono::Duration::milliseconds(400 * k as i64))
                    .pos(local.to_latlon(p.0 + bias.0, p.1 + bias.1))
                    .heading(heading)
                    .build(),
            );
        }
        (frames, truth)
    }

    fn errors(local: &LocalFrame, frames: &[Frame], truth: &[(f64, f64)]) -> Vec<f64> {
        frames
            .iter()
            .zip(truth)
            .map(|(f, t)| {
                let p = local.to_local(f.pos);
                (p.0 - t.0).hypot(p.1 - t.1)
            })
            .collect()
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    #[test]
    fn a_drive_that_turns_gets_both_components_of_its_bias_back() {
        let local = LocalFrame::new(origin());
        let roads = Roads::new(&l_road(&local, 300.0)).unwrap();
        let (frames, truth) = l_drive(&local, 300.0, (3.0, -2.5), 1.75);
        let before = median(errors(&local, &frames, &truth));
        let aligned = align_to_roads(&frames, &roads, &AlignParams::default());
        let after = median(errors(&local, &aligned, &truth));
        assert!(before > 3.5, "{before}");
        assert!(after < 0.6, "median error {before:.2} -> {after:.2} m");
    }

    /// `n` drives along the L road keeping `lane_m` right of the line, with GPS
    /// biases spread over ±4 m.
    fn l_drives(local: &LocalFrame, n: usize, lane_m: f64) -> (Vec<Frame>, Vec<(f64, f64)>) {
        let (mut frames, mut truth) = (Vec::new(), Vec::new());
        for d in 0..n {
            let a = d as f64 * 2.4;
            let bias = (4.0 * a.cos() * (d % 3) as f64 / 2.0, 4.0 * a.sin());
            let (f, t) = l_drive(local, 300.0, bias, lane_m);
            frames.extend(f.into_iter().map(|mut f| {
                f.drive_id = streetcomb_core::DriveId::new(format!("d{d}")).unwrap();
                f.id = streetcomb_core::FrameId::new(format!("d{d}-{}", f.id)).unwrap();
                f
            }));
            truth.extend(t);
        }
        (frames, truth)
    }

    #[test]
    fn the_side_cars_keep_to_is_read_from_enough_drives() {
        let local = LocalFrame::new(origin());
        let roads = Roads::new(&l_road(&local, 300.0)).unwrap();
        let params = AlignParams::default();
        let (left, truth) = l_drives(&local, 24, -1.75);
        assert_eq!(driving_side(&left, &roads, &params), -1.0);
        let before = median(errors(&local, &left, &truth));
        let after = median(errors(
            &local,
            &align_to_roads(&left, &roads, &params),
            &truth,
        ));
        assert!(
            after < 1.0 && after < before / 2.0,
            "{before:.2} -> {after:.2} m"
        );
        let (right, _) = l_drives(&local, 24, 1.75);
        assert_eq!(driving_side(&right, &roads, &params), 1.0);
        // A few drives cannot tell a lane from a bias: right, unless told.
        let (few, _) = l_drives(&local, 5, -1.75);
        assert_eq!(driving_side(&few, &roads, &params), 1.0);
        let told = AlignParams {
            side: DriveSide::Left,
            ..params
        };
        assert_eq!(driving_side(&few, &roads, &told), -1.0);
    }

    #[test]
    fn on_a_straight_road_only_the_component_across_it_is_measured() {
        let local = LocalFrame::new(origin());
        let roads = Roads::new(&l_road(&local, 300.0)[..1]).unwrap();
        let (frames, truth) = l_drive(&local, 300.0, (3.0, -2.5), 1.75);
        let n = truth.iter().filter(|t| t.1 < 0.0).count();
        let aligned = align_to_roads(&frames[..n], &roads, &AlignParams::default());
        for (f, t) in aligned.iter().zip(&truth[..n]) {
            let p = local.to_local(f.pos);
            // Across the road (north) the bias is gone; along it (east) it stays.
            assert!((p.1 - t.1).abs() < 0.5, "{p:?} vs {t:?}");
            assert!((p.0 - t.0 - 3.0).abs() < 0.5, "{p:?} vs {t:?}");
        }
    }

    /// Detections straight ahead of each frame (bearing = heading).
    fn ahead(frames: &[Frame]) -> Vec<Detection> {
        frames
            .iter()
            .map(|f| Detection {
                frame_id: f.id.clone(),
                class: streetcomb_core::FeatureClass::NoEntry,
                score: 0.9,
                bbox: streetcomb_core::BBox::new(630.0, 300.0, 650.0, 320.0),
                bearing_deg: f.heading_deg,
                model: "test".into(),
                text: None,
                value: None,
            })
            .collect()
    }

    #[test]
    fn headings_jittered_off_their_road_are_pulled_to_it_and_detections_turn_with_them() {
        let local = LocalFrame::new(origin());
        let roads = Roads::new(&l_road(&local, 300.0)).unwrap();
        let (mut frames, _) = l_drive(&local, 300.0, (0.0, 0.0), 1.75);
        // Track headings off by ±6° (within the gate) and one by 40° (a turn).
        for (k, f) in frames.iter_mut().enumerate() {
            f.heading_deg = normalize_deg(f.heading_deg + if k % 2 == 0 { 6.0 } else { -6.0 });
        }
        frames[20].heading_deg = normalize_deg(frames[20].heading_deg + 34.0);
        let dets = ahead(&frames);
        let params = AlignParams::default();
        let aligned = align_to_roads(&frames, &roads, &params);
        let steered = steer_detections(&dets, &frames, &aligned);
        let road = |f: &Frame| {
            if local.to_local(f.pos).1 < 1.0 {
                90.0
            } else {
                0.0
            }
        };
        let left = 6.0 * (1.0 - 0.92);
        for (i, (a, d)) in aligned.iter().zip(&steered).enumerate() {
            let off = angle_diff_deg(a.heading_deg, road(a)).abs();
            if i == 20 {
                assert_eq!(
                    a.heading_deg, frames[20].heading_deg,
                    "a turn is left alone"
                );
            } else if (60..90).contains(&i) {
                // Round the corner the road is the nearer of two: unchecked.
            } else {
                assert!(off < left + 0.1, "frame {i}: {off:.2}° off its road");
            }
            assert!(angle_diff_deg(d.bearing_deg, a.heading_deg).abs() < 1e-9);
        }
        // Detections of frames the alignment never saw keep their bearings.
        assert_eq!(steer_detections(&dets, &frames, &[]), dets);
    }

    #[test]
    fn frames_far_from_every_road_keep_their_positions() {
        let local = LocalFrame::new(origin());
        let roads = Roads::new(&l_road(&local, 300.0)).unwrap();
        let (frames, _) = l_drive(&local, 300.0, (0.0, 500.0), 1.75);
        let aligned = align_to_roads(&frames, &roads, &AlignParams::default());
        assert_eq!(aligned, frames);
        assert!(Roads::new(&[]).is_none());
    }

    #[test]
    fn the_correction_never_exceeds_its_cap() {
        let local = LocalFrame::new(origin());
        let roads = Roads::new(&l_road(&local, 300.0)).unwrap();
        let (frames, _) = l_drive(&local, 300.0, (9.0, -9.0), 1.75);
        let params = AlignParams {
            search_m: 20.0,
            max_shift_m: 4.0,
            ..AlignParams::default()
        };
        let aligned = align_to_roads(&frames, &roads, &params);
        for (a, f) in aligned.iter().zip(&frames) {
            assert!(a.pos.distance_m(f.pos) <= 4.0 + 1e-6);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever a bias within GPS's usual few metres and wherever in its lane the
        /// car drives, a drive round a corner comes out closer to the truth.
        #[test]
        fn alignment_brings_a_turning_drive_closer_to_the_truth(
            bx in -5.0f64..5.0, by in -5.0f64..5.0, lane in 1.0f64..2.5,
        ) {
            let local = LocalFrame::new(origin());
            let roads = Roads::new(&l_road(&local, 250.0)).unwrap();
            let (frames, truth) = l_drive(&local, 250.0, (bx, by), lane);
            let aligned = align_to_roads(&frames, &roads, &AlignParams::default());
            let after = median(errors(&local, &aligned, &truth));
            // What is left: how far the lane is from the assumed one.
            prop_assert!(after <= (lane - 1.75).abs() * 1.5 + 0.5, "bias ({bx:.1}, {by:.1}): {after:.2} m");
        }
    }
}
