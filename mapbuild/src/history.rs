//! Feature identity over time and change detection, one weekly epoch at a time.
//!
//! Each epoch's detections are fused on their own ([`fuse`]), then merged into the
//! features known so far ([`merge_epoch`]):
//!
//! - a fresh feature of the same class within the match gate of a known one (a few
//!   combined sigmas, clamped) **is** that feature: it keeps its id, its position
//!   becomes the inverse-variance weighted mean of both, its counts and times add up,
//!   and it is `confirmed`;
//! - a known feature that fresh drives had in view but did not see, with a fresh
//!   unmatched feature of its class within [`ChangeParams::move_max_m`] and seen from
//!   the same side, has `moved` there (same id, the fresh position); "in view" here
//!   reaches as far as signs are detected ([`ChangeParams::move_view_max_m`]), since
//!   the fresh sighting close by is evidence in its own right;
//! - a known feature that at least [`ChangeParams::removed_min_drives`] fresh drives
//!   had in view (each for [`ChangeParams::miss_min_frames`] frames) without seeing it
//!   is `removed` (kept in the output, so that consumers learn of the removal);
//! - a weak fresh feature (one drive, or loose) near a known one is a fragment of it:
//!   it adds to that feature's counts if the feature was re-observed, and is dropped;
//! - any other fresh feature is `new`, with the id [`fuse`] gave it.
//!
//! A known feature that no fresh drive passed keeps its status. [`build_history`] runs
//! this over every epoch in order, so re-processing the same input gives the same
//! features, ids and statuses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use streetcomb_core::geodesy::{angle_diff_deg, normalize_deg};
use streetcomb_core::matching::greedy_closest_pairs;
use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{Detection, Epoch, FeatureStatus, Frame, LocalFrame, MapFeature};

use crate::fuse::{FuseParams, fuse};

/// Tunables of change detection.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ChangeParams {
    /// A fresh and a known feature match within this many combined sigmas ...
    pub match_sigmas: f64,
    /// ... but never closer than `match_min_m` is required nor further than
    /// `match_max_m` allowed, metres (below the spacing of distinct signs).
    pub match_min_m: f64,
    pub match_max_m: f64,
    /// A fresh feature seen by one drive, or looser than this (1 sigma, metres), is
    /// weak: near a known feature it is a fragment of it.
    pub weak_sigma_m: f64,
    /// Further than the match gate but within this, metres, an unseen known feature
    /// and an unmatched fresh one are the same sign, moved.
    pub move_max_m: f64,
    /// Seen-from directions of a moved sign must agree within this, degrees.
    pub move_max_azimuth_deg: f64,
    /// For a move, the old spot counts as looked at out to this range, metres: the
    /// sign's own fresh sighting close by already says it is there, so the old spot
    /// only has to have been where the detector sees signs at all (a sign moved
    /// along a side street is seen from the main road from 40-60 m), not within the
    /// close range that removal on its own asks for.
    pub move_view_max_m: f64,
    /// A feature is in view of a frame between these distances, metres, and inside
    /// the field of view less `view_margin_deg` on each side. 50 m is about where a
    /// stop sign's box is still 13-14 px wide, the sign detector's floor; at 30 m,
    /// signs seen only from down a long approach were never looked at closely enough
    /// to be marked removed (six simulated Helsinki scenarios, 24 removals, drives in
    /// their lane and aligned to the roads: 17 found at 40 m, 19 at 45, 21 at 50).
    pub view_min_m: f64,
    pub view_max_m: f64,
    pub view_margin_deg: f64,
    /// A drive "had it in view" with at least this many frames.
    pub miss_min_frames: u32,
    /// Drives that had it in view without detecting it before it is marked removed.
    pub removed_min_drives: u32,
}

impl Default for ChangeParams {
    fn default() -> Self {
        Self {
            match_sigmas: 3.0,
            match_min_m: 4.0,
            match_max_m: 8.0,
            weak_sigma_m: 3.0,
            move_max_m: 30.0,
            move_max_azimuth_deg: 60.0,
            move_view_max_m: 60.0,
            view_min_m: 6.0,
            view_max_m: 50.0,
            view_margin_deg: 5.0,
            miss_min_frames: 3,
            removed_min_drives: 2,
        }
    }
}

/// Fuses every epoch's detections on their own and merges the epochs in order.
pub fn build_history(
    frames: &[Frame],
    detections: &[Detection],
    fuse_params: &FuseParams,
    change: &ChangeParams,
) -> Vec<MapFeature> {
    let mut epochs: BTreeMap<Epoch, Vec<Frame>> = BTreeMap::new();
    let mut epoch_of: HashMap<&str, Epoch> = HashMap::new();
    for f in frames {
        let e = Epoch::of(f.captured_at);
        epoch_of.insert(f.id.as_str(), e);
        epochs.entry(e).or_default().push(f.clone());
    }
    let mut dets: BTreeMap<Epoch, Vec<Detection>> = BTreeMap::new();
    for d in detections {
        if let Some(e) = epoch_of.get(d.frame_id.as_str()) {
            dets.entry(*e).or_default().push(d.clone());
        }
    }
    let mut known: Option<Vec<MapFeature>> = None;
    for (e, fr) in &epochs {
        let fresh = fuse(fr, dets.get(e).map_or(&[][..], |d| &d[..]), fuse_params);
        known = Some(match known {
            None => fresh,
            Some(k) => merge_epoch(&k, &fresh, fr, change),
        });
    }
    known.unwrap_or_default()
}

/// Merges one epoch's freshly fused features (`fresh`, from `frames`) into the
/// features known before it. See the module docs for the rules. The output is sorted
/// by id.
pub fn merge_epoch(
    known: &[MapFeature],
    fresh: &[MapFeature],
    frames: &[Frame],
    params: &ChangeParams,
) -> Vec<MapFeature> {
    let Some(origin) = known.first().or(fresh.first()).map(|f| f.pos) else {
        return Vec::new();
    };
    let local = LocalFrame::new(origin);
    let kxy: Vec<(f64, f64)> = known.iter().map(|f| local.to_local(f.pos)).collect();
    let fxy: Vec<(f64, f64)> = fresh.iter().map(|f| local.to_local(f.pos)).collect();
    let index = SpatialIndex::of_points(&kxy);
    let dist = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).hypot(a.1 - b.1);

    // 1. Same feature: greedy closest pairs within the match gate.
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (j, f) in fresh.iter().enumerate() {
        for i in index.near(fxy[j], params.match_max_m) {
            let k = &known[i];
            if k.class != f.class {
                continue;
            }
            let gate = (params.match_sigmas * k.uncertainty_m.hypot(f.uncertainty_m))
                .clamp(params.match_min_m, params.match_max_m);
            let d = dist(kxy[i], fxy[j]);
            if d <= gate {
                pairs.push((d, i, j));
            }
        }
    }
    let mut known_used = vec![false; known.len()];
    let mut fresh_used = vec![false; fresh.len()];
    let mut out: Vec<MapFeature> = Vec::with_capacity(known.len() + fresh.len());
    for (_, i, j) in greedy_closest_pairs(pairs, &mut known_used, &mut fresh_used) {
        out.push(combine(&known[i], &fresh[j], &local));
    }

    // 1b. A weak fresh feature (one drive, or a loose position) near a known one is
    // a fragment of it, not a new sign.
    let mut absorbed: Vec<(f64, usize, usize)> = Vec::new();
    for (j, f) in fresh.iter().enumerate() {
        if fresh_used[j] || !(f.n_drives < 2 || f.uncertainty_m > params.weak_sigma_m) {
            continue;
        }
        let reach = params.match_max_m + 2.0 * f.uncertainty_m;
        let best = index
            .near(fxy[j], reach)
            .into_iter()
            .filter(|&i| known[i].class == f.class && known[i].status != FeatureStatus::Removed)
            .map(|i| (dist(kxy[i], fxy[j]), i))
            .filter(|(d, _)| *d <= reach)
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some((d, i)) = best {
            fresh_used[j] = true;
            absorbed.push((d, i, j));
        }
    }
    for (_, i, j) in absorbed {
        // Counted into the feature when it was re-observed; on its own a fragment is
        // too weak to confirm a sign that may have moved or gone.
        if let Some(m) = out.iter_mut().find(|m| m.id == known[i].id) {
            absorb(m, &fresh[j]);
        }
    }

    // 2. Which unmatched known features the fresh drives had in view, and how often.
    let unmatched: Vec<usize> = (0..known.len()).filter(|&i| !known_used[i]).collect();
    let views = in_view_drives(&unmatched, &kxy, known, frames, &local, params);
    let far = ChangeParams {
        view_max_m: params.move_view_max_m.max(params.view_max_m),
        ..*params
    };
    let move_views = in_view_drives(&unmatched, &kxy, known, frames, &local, &far);

    // 3. Moved: an unseen known feature that fresh drives looked at, and an unmatched
    // fresh one of its class close by, seen from the same side.
    let mut pairs = Vec::new();
    for (j, f) in fresh.iter().enumerate() {
        if fresh_used[j] {
            continue;
        }
        for i in index.near(fxy[j], params.move_max_m) {
            let k = &known[i];
            let looked = move_views.get(&i).is_some_and(|v| !v.is_empty());
            let d = dist(kxy[i], fxy[j]);
            let same_side = match (k.azimuth_deg, f.azimuth_deg) {
                (Some(a), Some(b)) => angle_diff_deg(a, b).abs() <= params.move_max_azimuth_deg,
                _ => true,
            };
            if !known_used[i]
                && k.class == f.class
                && k.status != FeatureStatus::Removed
                && looked
                && same_side
                && d <= params.move_max_m
            {
                pairs.push((d, i, j));
            }
        }
    }
    for (_, i, j) in greedy_closest_pairs(pairs, &mut known_used, &mut fresh_used) {
        let (k, f) = (&known[i], &fresh[j]);
        out.push(MapFeature {
            id: k.id.clone(),
            pos: f.pos,
            uncertainty_m: f.uncertainty_m,
            n_detections: k.n_detections + f.n_detections,
            n_drives: k.n_drives + f.n_drives,
            confidence: f.confidence,
            first_seen: k.first_seen.min(f.first_seen),
            last_seen: k.last_seen.max(f.last_seen),
            status: FeatureStatus::Moved,
            azimuth_deg: f.azimuth_deg,
            single_view: f.single_view,
            value: f.value.or(k.value),
            class: k.class,
        });
    }

    // 4. Removed, or left as it was.
    for i in 0..known.len() {
        if known_used[i] {
            continue;
        }
        let missed = views.get(&i).map_or(0, BTreeSet::len);
        let mut k = known[i].clone();
        if missed >= params.removed_min_drives as usize {
            k.status = FeatureStatus::Removed;
        }
        out.push(k);
    }
    // 5. New.
    for (j, f) in fresh.iter().enumerate() {
        if !fresh_used[j] {
            let mut f = f.clone();
            f.status = FeatureStatus::New;
            out.push(f);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Counts and times of a weak fresh fragment added to a feature; its position, too
/// loose to help, is left out.
fn absorb(m: &mut MapFeature, f: &MapFeature) {
    m.n_detections += f.n_detections;
    m.n_drives += f.n_drives;
    m.first_seen = m.first_seen.min(f.first_seen);
    m.last_seen = m.last_seen.max(f.last_seen);
}

/// A known feature re-observed: inverse-variance weighted position (independent GPS
/// errors of the epochs average out), summed counts, widened time span.
fn combine(k: &MapFeature, f: &MapFeature, local: &LocalFrame) -> MapFeature {
    let (wk, wf) = (
        1.0 / k.uncertainty_m.max(0.05).powi(2),
        1.0 / f.uncertainty_m.max(0.05).powi(2),
    );
    let (a, b) = (local.to_local(k.pos), local.to_local(f.pos));
    let p = (
        (wk * a.0 + wf * b.0) / (wk + wf),
        (wk * a.1 + wf * b.1) / (wk + wf),
    );
    let azimuth_deg = match (k.azimuth_deg, f.azimuth_deg) {
        (Some(x), Some(y)) => {
            let (nk, nf) = (k.n_detections as f64, f.n_detections as f64);
            let (xe, xn) = streetcomb_core::geodesy::bearing_unit(x);
            let (ye, yn) = streetcomb_core::geodesy::bearing_unit(y);
            let (e, n) = (nk * xe + nf * ye, nk * xn + nf * yn);
            (e.hypot(n) > 1e-9).then(|| normalize_deg(e.atan2(n).to_degrees()))
        }
        (x, y) => x.or(y),
    };
    MapFeature {
        id: k.id.clone(),
        class: k.class,
        pos: local.to_latlon(p.0, p.1),
        uncertainty_m: (1.0 / (wk + wf)).sqrt(),
        n_detections: k.n_detections + f.n_detections,
        n_drives: k.n_drives + f.n_drives,
        confidence: 1.0 - (1.0 - k.confidence) * (1.0 - f.confidence),
        first_seen: k.first_seen.min(f.first_seen),
        last_seen: k.last_seen.max(f.last_seen),
        status: FeatureStatus::Confirmed,
        azimuth_deg,
        single_view: k.single_view && f.single_view,
        value: f.value.or(k.value),
    }
}

/// For each of `which` (indices into `known`), the fresh drives that had it in view
/// for at least `miss_min_frames` frames.
fn in_view_drives(
    which: &[usize],
    kxy: &[(f64, f64)],
    known: &[MapFeature],
    frames: &[Frame],
    local: &LocalFrame,
    params: &ChangeParams,
) -> HashMap<usize, BTreeSet<String>> {
    let index = SpatialIndex::of_ids(which.iter().map(|&i| (i, kxy[i])));
    let mut counts: BTreeMap<(usize, &str), u32> = BTreeMap::new();
    for fr in frames {
        let c = local.to_local(fr.pos);
        let half_fov = fr.camera.hfov_deg / 2.0 - params.view_margin_deg;
        let axis = fr.heading_deg + fr.camera.mount_yaw_deg;
        for i in index.near(c, params.view_max_m) {
            let p = kxy[i];
            let (de, dn) = (p.0 - c.0, p.1 - c.1);
            let d = de.hypot(dn);
            if d < params.view_min_m || d > params.view_max_m {
                continue;
            }
            let bearing = de.atan2(dn).to_degrees();
            if angle_diff_deg(bearing, axis).abs() > half_fov {
                continue;
            }
            // The sign faces its approach: seen from behind it shows no face.
            if let Some(az) = known[i].azimuth_deg
                && angle_diff_deg(normalize_deg(bearing + 180.0), az).abs() > 75.0
            {
                continue;
            }
            *counts.entry((i, fr.drive_id.as_str())).or_default() += 1;
        }
    }
    let mut out: HashMap<usize, BTreeSet<String>> = HashMap::new();
    for ((i, drive), n) in counts {
        if n >= params.miss_min_frames {
            out.entry(i).or_default().insert(drive.to_owned());
        }
    }
    out
}
