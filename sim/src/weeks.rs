//! Multi-week scenarios for map building: several contributors drive the same routes
//! every week while signs are added, removed and moved between weeks.
//!
//! No pixels are rendered. Each frame's ground truth (which signs the camera sees,
//! where, at what size, through the same pinhole projection as the rendered frames)
//! becomes a [`Detection`] directly, with a few pixels of box noise; each frame's
//! position and heading come from a noisy GPS track (the same wandering-bias model as
//! [`crate::simulate`], σ per axis `gps_sigma_m`), interpolated and turned into a
//! heading the way ingest does. That isolates map building from the detector, whose
//! misses are measured on their own; what is left is the geometry: bearing rays from
//! wrong positions, association across drives and weeks, and change detection.
//!
//! Changes are made only where a map could see them: to signs the routes have in view,
//! standing [`CHANGE_CLEARANCE_M`] from other signs of their class before and after,
//! and a moved sign lands where the routes still see it.
//!
//! Everything random derives from the seed, so a scenario is reproducible.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use streetcomb_core::geodesy::normalize_deg;
use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{
    BBox, CellId, ContributorId, Detection, DriveId, Epoch, FeatureClass, FeatureStatus, Frame,
    FrameFlags, FrameId, LatLon, MapFeature,
};

use crate::SimError;
use crate::geom::{closest_on_segment, dist};
use crate::gps::noisy_fixes;
use crate::model::DriveSettings;
use crate::model::{SimConfig, TruthFeature, frame_file_name};
use crate::osm::RoadNetwork;
use crate::render::{MAX_RANGE_M, place};
use crate::route::{Lane, Polyline, plan_route};

/// What to simulate over the weeks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WeeksConfig {
    pub seed: u64,
    pub weeks: usize,
    /// Distinct routes; each is driven every week by `drives_per_route` contributors.
    pub routes: usize,
    pub drives_per_route: usize,
    /// How each drive is driven and recorded; `drive.start` is the start of the first
    /// week's first drive (a Monday morning: one epoch per week).
    #[serde(flatten)]
    pub drive: DriveSettings,
    /// 1-sigma noise of each box edge, pixels.
    pub box_sigma_px: f64,
    /// Signs added, removed and moved (each) at the start of every week after the first.
    pub changes_per_week: usize,
    /// How far a moved sign moves along its road, metres (uniform in this range).
    pub move_m: (f64, f64),
}

impl Default for WeeksConfig {
    fn default() -> Self {
        Self {
            seed: 11,
            weeks: 3,
            routes: 3,
            drives_per_route: 5,
            drive: DriveSettings::default(),
            box_sigma_px: 1.5,
            changes_per_week: 2,
            move_m: (12.0, 20.0),
        }
    }
}

/// How the world changed at the start of a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Moved,
}

/// One change to the signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthChange {
    pub feature_id: String,
    pub class: FeatureClass,
    pub kind: ChangeKind,
    /// Where it stood before (removed, moved).
    pub from: Option<LatLon>,
    /// Where it stands now (added, moved).
    pub to: Option<LatLon>,
}

/// One simulated week.
#[derive(Debug, Clone)]
pub struct SimWeek {
    pub epoch: Epoch,
    /// Every frame of the week's drives, as ingest would have stored them.
    pub frames: Vec<Frame>,
    pub detections: Vec<Detection>,
    /// The signs standing this week.
    pub truth: Vec<TruthFeature>,
    /// Frames of this week in which each sign (by id) was in view.
    pub views: BTreeMap<String, usize>,
    /// Changes made at the start of this week (none in the first).
    pub changes: Vec<TruthChange>,
}

/// How many changes of each kind a map reported: a change counts as found when a
/// feature of its class with the expected status (`new` for added, `removed`,
/// `moved`) lies within `radius_m` of where the sign now stands (or stood, for a
/// removal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeScore {
    pub added: (usize, usize),
    pub removed: (usize, usize),
    pub moved: (usize, usize),
    /// Found over total, all kinds together; `None` without changes.
    pub accuracy: Option<f64>,
}

/// Scores `built` (the map after the week of `changes`) against those changes.
pub fn score_changes(built: &[MapFeature], changes: &[TruthChange], radius_m: f64) -> ChangeScore {
    let mut s = ChangeScore::default();
    for c in changes {
        let (want, at, slot) = match c.kind {
            ChangeKind::Added => (FeatureStatus::New, c.to, &mut s.added),
            ChangeKind::Removed => (FeatureStatus::Removed, c.from, &mut s.removed),
            ChangeKind::Moved => (FeatureStatus::Moved, c.to, &mut s.moved),
        };
        let hit = at.is_some_and(|p| {
            built
                .iter()
                .any(|f| f.class == c.class && f.status == want && f.pos.distance_m(p) <= radius_m)
        });
        slot.0 += usize::from(hit);
        slot.1 += 1;
    }
    let (found, total) = [s.added, s.removed, s.moved]
        .iter()
        .fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1));
    s.accuracy = (total > 0).then(|| found as f64 / total as f64);
    s
}

/// Frames per drive in which a sign must be in view to be picked for a change (so
/// that the change can be seen at all).
const CHANGE_MIN_VIEWS: usize = 3;

#[derive(Debug, Clone)]
struct Sign {
    truth: TruthFeature,
    xy: [f64; 2],
    present: bool,
}

/// Runs the scenario over `net`.
pub fn simulate_weeks(net: &RoadNetwork, cfg: &WeeksConfig) -> Result<Vec<SimWeek>, SimError> {
    let base = SimConfig {
        seed: cfg.seed,
        drive: cfg.drive.clone(),
        ..SimConfig::default()
    };
    base.validate()?;
    if cfg.weeks == 0 || cfg.routes == 0 || cfg.drives_per_route == 0 {
        return Err(SimError::Config(
            "weeks, routes and drives_per_route must be at least 1".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let routes = (0..cfg.routes)
        .map(|_| plan_route(net, &mut rng, cfg.drive.route_length_m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut signs: Vec<Sign> = net
        .features()
        .iter()
        .zip(&net.feature_xy)
        .map(|(t, xy)| Sign {
            truth: t.clone(),
            xy: *xy,
            present: true,
        })
        .collect();

    // Signs the routes see well enough; changes are drawn from them.
    let observable: Vec<usize> = {
        let views = true_views(cfg, &routes, &signs);
        let mut v: Vec<usize> = (0..signs.len())
            .filter(|&i| {
                views[i] >= CHANGE_MIN_VIEWS
                    && shape_known(signs[i].truth.class)
                    && clear_of(&signs, i, signs[i].xy)
            })
            .collect();
        v.shuffle(&mut rng);
        v
    };
    // Signs added later are absent at first.
    let n_later = cfg.changes_per_week * cfg.weeks.saturating_sub(1);
    let mut to_add: Vec<usize> = observable.iter().copied().take(n_later).collect();
    for &i in &to_add {
        signs[i].present = false;
    }
    let mut changeable: Vec<usize> = observable.iter().copied().skip(n_later).collect();

    let mut out = Vec::with_capacity(cfg.weeks);
    for w in 0..cfg.weeks {
        let mut changes = Vec::new();
        if w > 0 {
            for _ in 0..cfg.changes_per_week {
                if let Some(i) = to_add.pop() {
                    signs[i].present = true;
                    changes.push(TruthChange {
                        feature_id: signs[i].truth.id.clone(),
                        class: signs[i].truth.class,
                        kind: ChangeKind::Added,
                        from: None,
                        to: Some(signs[i].truth.pos),
                    });
                }
                if let Some(i) = changeable.pop() {
                    signs[i].present = false;
                    changes.push(TruthChange {
                        feature_id: signs[i].truth.id.clone(),
                        class: signs[i].truth.class,
                        kind: ChangeKind::Removed,
                        from: Some(signs[i].truth.pos),
                        to: None,
                    });
                }
                // A sign that cannot move anywhere in view and clear of its
                // neighbours is left alone; the next one moves.
                while let Some(i) = changeable.pop() {
                    let Some(xy) = move_target(net, cfg, &routes, &signs, i, &mut rng) else {
                        continue;
                    };
                    let from = signs[i].truth.pos;
                    signs[i].xy = xy;
                    signs[i].truth.pos = net.frame.to_latlon(xy[0], xy[1]);
                    changes.push(TruthChange {
                        feature_id: signs[i].truth.id.clone(),
                        class: signs[i].truth.class,
                        kind: ChangeKind::Moved,
                        from: Some(from),
                        to: Some(signs[i].truth.pos),
                    });
                    break;
                }
            }
        }
        let week_start = cfg.drive.start + Duration::weeks(w as i64);
        let mut week = SimWeek {
            epoch: Epoch::of(week_start),
            frames: Vec::new(),
            detections: Vec::new(),
            truth: signs
                .iter()
                .filter(|s| s.present)
                .map(|s| s.truth.clone())
                .collect(),
            views: BTreeMap::new(),
            changes,
        };
        let index = SpatialIndex::of_ids(
            signs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.present)
                .map(|(i, s)| (i, s.xy)),
        );
        for (r, route) in routes.iter().enumerate() {
            for k in 0..cfg.drives_per_route {
                let n = r * cfg.drives_per_route + k;
                drive(net, cfg, route, &signs, &index, w, n, week_start, &mut week)?;
            }
        }
        out.push(week);
    }
    Ok(out)
}

/// A changed sign stands at least this far from every other sign of its class,
/// before and after the change, metres. A map tells two signs of one class apart only
/// beyond ~10 m (mapbuild's `aligned_merge_radius_m`), so a sign moved next to
/// another, or removed from beside one, is a change no map can report as such; the
/// margin covers the GPS error of a week's drives.
pub const CHANGE_CLEARANCE_M: f64 = 20.0;

/// Whether `xy` is at least [`CHANGE_CLEARANCE_M`] from every other sign of sign
/// `i`'s class (present or to be added).
fn clear_of(signs: &[Sign], i: usize, xy: [f64; 2]) -> bool {
    let class = signs[i].truth.class;
    signs
        .iter()
        .enumerate()
        .all(|(j, s)| j == i || s.truth.class != class || dist(s.xy, xy) >= CHANGE_CLEARANCE_M)
}

/// Where sign `i` moves: `move_m` along its road, either way, to a spot clear of its
/// class's other signs that the routes see in at least [`CHANGE_MIN_VIEWS`] frames
/// (a move to where nobody looks can only be seen as a removal).
fn move_target(
    net: &RoadNetwork,
    cfg: &WeeksConfig,
    routes: &[Polyline],
    signs: &[Sign],
    i: usize,
    rng: &mut ChaCha8Rng,
) -> Option<[f64; 2]> {
    let d = rng.random_range(cfg.move_m.0..=cfg.move_m.1.max(cfg.move_m.0));
    let first = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
    let dir = road_direction(net, signs[i].xy);
    [first, -first].into_iter().find_map(|way| {
        let xy = [
            signs[i].xy[0] + way * d * dir[0],
            signs[i].xy[1] + way * d * dir[1],
        ];
        let moved = Sign {
            xy,
            ..signs[i].clone()
        };
        (clear_of(signs, i, xy)
            && true_views(cfg, routes, std::slice::from_ref(&moved))[0] >= CHANGE_MIN_VIEWS)
            .then_some(xy)
    })
}

fn shape_known(class: FeatureClass) -> bool {
    crate::render::shape(class).is_some()
}

/// Unit vector of the road segment nearest to `p`.
fn road_direction(net: &RoadNetwork, p: [f64; 2]) -> [f64; 2] {
    let mut best = (f64::INFINITY, [1.0, 0.0]);
    for [a, b] in &net.segments {
        let (pa, pb) = (net.node_xy[*a as usize], net.node_xy[*b as usize]);
        let (q, _) = closest_on_segment(p, pa, pb);
        let d = dist(p, q);
        let len = dist(pa, pb);
        if d < best.0 && len > 1e-6 {
            best = (d, [(pb[0] - pa[0]) / len, (pb[1] - pa[1]) / len]);
        }
    }
    best.1
}

/// Frames (true positions) in which each sign is in view along the routes.
fn true_views(cfg: &WeeksConfig, routes: &[Polyline], signs: &[Sign]) -> Vec<usize> {
    let mut views = vec![0; signs.len()];
    let step = cfg.drive.speed_mps * cfg.drive.frame_interval_s;
    for route in routes {
        let n = (route.length() / step).floor() as usize + 1;
        for k in 0..n {
            let (xy, heading) = route.at(k as f64 * step);
            for (i, s) in signs.iter().enumerate() {
                if dist(xy, s.xy) <= MAX_RANGE_M
                    && place(&cfg.drive.camera, xy, heading, s.xy, s.truth.class).is_some()
                {
                    views[i] += 1;
                }
            }
        }
    }
    views
}

/// Linear interpolation of a track (local metres) at `t` seconds, clamped to its ends.
fn track_at(track: &[(f64, [f64; 2])], t: f64) -> [f64; 2] {
    let i = track.partition_point(|(tt, _)| *tt <= t);
    if i == 0 {
        return track[0].1;
    }
    if i >= track.len() {
        return track[track.len() - 1].1;
    }
    let ((t0, a), (t1, b)) = (track[i - 1], track[i]);
    let f = ((t - t0) / (t1 - t0).max(1e-9)).clamp(0.0, 1.0);
    [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])]
}

/// One contributor's drive of one route in week `w`.
#[allow(clippy::too_many_arguments)]
fn drive(
    net: &RoadNetwork,
    cfg: &WeeksConfig,
    route: &Polyline,
    signs: &[Sign],
    index: &SpatialIndex,
    w: usize,
    n: usize,
    week_start: DateTime<Utc>,
    week: &mut SimWeek,
) -> Result<(), SimError> {
    let contributor = ContributorId::new(format!("sim-c{:02}", n + 1))?;
    let drive_id = DriveId::new(format!("{contributor}-w{w}"))?;
    let start = week_start + Duration::minutes(crate::CONTRIBUTOR_STAGGER_MIN * n as i64);
    let mut rng = ChaCha8Rng::seed_from_u64(
        cfg.seed
            .wrapping_mul(1_000_003)
            .wrapping_add((w * 1000 + n) as u64),
    );
    let at = |s: f64| start + Duration::milliseconds((s * 1000.0).round() as i64);
    rng.set_stream(4);
    let lane = Lane::random(&mut rng);
    let step = cfg.drive.speed_mps * cfg.drive.frame_interval_s;
    let n_frames = (route.length() / step + 1e-9).floor() as usize + 1;
    let last_t = (n_frames - 1) as f64 * cfg.drive.frame_interval_s;
    let n_fixes = (last_t / cfg.drive.gps_interval_s - 1e-9).ceil().max(0.0) as usize + 1;
    let truth: Vec<(DateTime<Utc>, [f64; 2])> = (0..n_fixes)
        .map(|j| {
            let t = j as f64 * cfg.drive.gps_interval_s;
            (at(t), route.in_lane(t * cfg.drive.speed_mps, &lane).0)
        })
        .collect();
    rng.set_stream(1);
    let fixes = noisy_fixes(
        &truth,
        &net.frame,
        cfg.drive.gps_sigma_m,
        cfg.drive.gps_interval_s,
        &mut rng,
    );
    let track: Vec<(f64, [f64; 2])> = fixes
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let (e, n) = net.frame.to_local(f.pos);
            (j as f64 * cfg.drive.gps_interval_s, [e, n])
        })
        .collect();
    rng.set_stream(3);
    let cam = cfg.drive.camera;
    for k in 0..n_frames {
        let t = k as f64 * cfg.drive.frame_interval_s;
        let (true_xy, true_heading) = route.in_lane(t * cfg.drive.speed_mps, &lane);
        let reported = track_at(&track, t);
        // As ingest: the bearing across ±1 s of track, widened until 2 m apart.
        let mut heading = true_heading;
        for half in [1.0, 2.0, 4.0, 8.0] {
            let (a, b) = (track_at(&track, t - half), track_at(&track, t + half));
            if dist(a, b) >= 2.0 {
                heading = normalize_deg((b[0] - a[0]).atan2(b[1] - a[1]).to_degrees());
                break;
            }
        }
        let time = at(t);
        let name = frame_file_name(time);
        let stem = name.trim_end_matches(".jpg");
        let pos = net.frame.to_latlon(reported[0], reported[1]);
        let frame = Frame {
            id: FrameId::of(&drive_id, stem)?,
            drive_id: drive_id.clone(),
            contributor: contributor.clone(),
            captured_at: time,
            pos,
            heading_deg: heading,
            cell: CellId::from_latlon(pos, streetcomb_core::cell::DEFAULT_RESOLUTION)?,
            image_key: format!("images/{drive_id}/{name}"),
            content_sha256: String::new(),
            phash: None,
            camera: cam,
            flags: FrameFlags::default(),
            blur: None,
        };
        for i in index.near(true_xy, MAX_RANGE_M) {
            let s = &signs[i];
            let Some(at) = place(&cam, true_xy, true_heading, s.xy, s.truth.class) else {
                continue;
            };
            *week.views.entry(s.truth.id.clone()).or_default() += 1;
            let mut noise = || cfg.box_sigma_px * rng.sample::<f64, _>(StandardNormal);
            let x0 = (at.x + noise()).max(0.0);
            let x1 = (at.x + at.w + noise()).min(cam.width as f64);
            let y0 = (at.y + noise()).max(0.0);
            let y1 = (at.y + at.h + noise()).min(cam.height as f64);
            if x1 - x0 < 1.0 || y1 - y0 < 1.0 {
                continue;
            }
            let centre = (x0 + x1) / 2.0;
            week.detections.push(Detection {
                frame_id: frame.id.clone(),
                class: s.truth.class,
                // Bigger boxes score higher, as real detectors do.
                score: (0.55 + 0.4 * ((x1 - x0) / 40.0).min(1.0)) as f32,
                bbox: BBox {
                    x0: x0 as f32,
                    y0: y0 as f32,
                    x1: x1 as f32,
                    y1: y1 as f32,
                },
                bearing_deg: cam.column_bearing_deg(heading, centre),
                model: "sim-truth".into(),
                text: None,
                value: s.truth.value,
            });
        }
        week.frames.push(frame);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::osm::tests::straight_street;

    #[test]
    fn weeks_change_signs_and_every_drive_sees_the_street() {
        let raw = straight_street(
            600.0,
            &[
                (FeatureClass::StopSign, 100.0, 0.0),
                (FeatureClass::TrafficLight, 200.0, 0.0),
                (FeatureClass::StopSign, 300.0, 0.0),
                (FeatureClass::StopSign, 400.0, 0.0),
                (FeatureClass::TrafficLight, 500.0, 0.0),
            ],
        );
        let net = RoadNetwork::build(raw).unwrap();
        let cfg = WeeksConfig {
            weeks: 2,
            routes: 1,
            drives_per_route: 2,
            drive: DriveSettings {
                route_length_m: 500.0,
                ..DriveSettings::default()
            },
            changes_per_week: 1,
            ..WeeksConfig::default()
        };
        let weeks = simulate_weeks(&net, &cfg).unwrap();
        assert_eq!(weeks.len(), 2);
        assert_ne!(weeks[0].epoch, weeks[1].epoch);
        assert!(weeks[0].changes.is_empty());
        let kinds: Vec<ChangeKind> = weeks[1].changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        for w in &weeks {
            let drives: std::collections::BTreeSet<&str> =
                w.frames.iter().map(|f| f.drive_id.as_str()).collect();
            assert_eq!(drives.len(), 2);
            assert!(!w.detections.is_empty());
            assert!(w.frames.iter().all(|f| Epoch::of(f.captured_at) == w.epoch));
        }
        // A map that reports nothing finds no change; one that reports all finds all.
        assert_eq!(
            score_changes(&[], &weeks[1].changes, 5.0).accuracy,
            Some(0.0)
        );
        let t0 = weeks[1].frames[0].captured_at;
        let perfect: Vec<MapFeature> = weeks[1]
            .changes
            .iter()
            .map(|c| MapFeature {
                id: streetcomb_core::FeatureId::new(c.feature_id.clone()).unwrap(),
                class: c.class,
                pos: c.to.or(c.from).unwrap(),
                uncertainty_m: 1.0,
                n_detections: 5,
                n_drives: 2,
                confidence: 0.9,
                first_seen: t0,
                last_seen: t0,
                status: match c.kind {
                    ChangeKind::Added => FeatureStatus::New,
                    ChangeKind::Removed => FeatureStatus::Removed,
                    ChangeKind::Moved => FeatureStatus::Moved,
                },
                azimuth_deg: None,
                single_view: false,
                value: None,
            })
            .collect();
        let score = score_changes(&perfect, &weeks[1].changes, 5.0);
        assert_eq!(score.accuracy, Some(1.0));
        assert_eq!(score.added.1 + score.removed.1 + score.moved.1, 3);
        // The same seed gives the same scenario.
        let again = simulate_weeks(&net, &cfg).unwrap();
        assert_eq!(again[1].detections, weeks[1].detections);
        assert_eq!(again[1].changes, weeks[1].changes);
    }
}
