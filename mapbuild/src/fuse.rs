//! Association of detections into features, and their positions.
//!
//! Two levels, because the error that dominates differs between them:
//!
//! 1. **Within one drive** every ray shares the drive's GPS bias (consumer GPS wanders
//!    by metres but slowly), so rays of one sign cross consistently. Rays of one class
//!    and drive are grouped seed-and-grow over a spatial index and intersected by robust
//!    least squares ([`intersect_robust`]): a *sighting* with its own uncertainty and
//!    its outlier rays rejected.
//! 2. **Across drives** the sightings of one sign scatter by the drives' GPS biases.
//!    They are clustered around a running weighted centre (again over spatial
//!    indexes, so a lookup touches only the neighbourhood): strong sightings first, then weak
//!    ones join the nearest cluster in reach of their own uncertainty. A first pass
//!    measures each drive's offset from the others (time-weighted, since the bias
//!    wanders over a minute or so); the final pass associates with the offsets taken
//!    out. The feature's position is the robust (Huber) inverse-variance weighted
//!    mean of the raw sightings, which averages the biases of independent drives
//!    away; their scatter bounds its uncertainty from below.
//!
//! Features too loose to be useful (see [`FuseParams::max_uncertainty_m`]) or with too
//! little evidence are not published. Frames taken while turning fast are skipped: a
//! heading from the GPS track lags in turns.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{
    Detection, FeatureClass, FeatureId, FeatureStatus, Frame, LatLon, LocalFrame, MapFeature,
};

use crate::rays::{HUBER_K, RangedRay, Ray, intersect, intersect_robust};

/// Tunables of the fusion.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FuseParams {
    /// A ray joins a feature when it passes this close (metres) to it, plus `perp_per_m`
    /// per metre of range (bearing error grows with distance).
    pub perp_tol_m: f64,
    pub perp_per_m: f64,
    /// Detections further than this from the camera (by box size) are ignored.
    pub max_range_m: f64,
    /// Grouping within a drive looks for rays among the single-view points in the
    /// 5 × 5 block of squares of this side around the current estimate's, metres.
    pub grid_m: f64,
    /// A feature is published with at least this many detections, or with a single
    /// detection scoring at least `single_min_score` (one sighting is mostly noise).
    pub min_detections: u32,
    pub single_min_score: f32,
    /// ... and only when its 1-sigma uncertainty is at most this, metres: a sign a
    /// dozen metres either way is no map feature yet ...
    pub max_uncertainty_m: f64,
    /// ... or this when a single drive, or under a third of the drives that passed
    /// within `passed_within_m`, saw it (the others did not vouch for it: likely a
    /// stray cluster of rays).
    pub single_drive_max_uncertainty_m: f64,
    pub passed_within_m: f64,
    /// Rays whose residual from the robust intersection exceeds this many sigmas are
    /// rejected as outliers.
    pub reject_sigmas: f64,
    /// 1-sigma error of a drive's positions, metres: the GPS bias that all rays of
    /// one drive share, so more rays from the same drive cannot beat it.
    pub gps_sigma_m: f64,
    /// First association pass, which only serves to measure each drive's GPS offset
    /// against the other drives: sightings from different drives join within this
    /// distance (metres) of a cluster's running centre. Tight, so that offsets are
    /// measured against clearly the same sign.
    pub merge_radius_m: f64,
    /// Final association, with each drive's offset taken out: the same, metres. It
    /// must exceed what is left (the bias drifting within a drive, heading noise) with
    /// a margin, and so decides how close two signs of one class may stand and stay
    /// two features. Measured over six simulated Helsinki scenarios (GPS σ 3 m, 18
    /// weekly maps): 10.5 m left 16 duplicates, mostly a sign's sightings from one
    /// approach whose ranges fell ~10 m short; 12.5 m left one (the last went with
    /// the vouching rule in `feature`), at a cost of about a point of recall where two
    /// signs of a class stand 8-12 m apart.
    pub aligned_merge_radius_m: f64,
    /// A weak sighting (few rays, short baseline) joins within `merge_radius_m` plus
    /// twice its own uncertainty, up to this much more, metres: fragments of a sign
    /// seen briefly from a side street belong to it rather than becoming duplicates.
    pub merge_extra_max_m: f64,
    /// ... and only when the directions they were seen from differ by less than this
    /// (degrees). 180 (the default) disables it: signal heads and the simulator's
    /// signs are seen, and detected, from every approach.
    pub merge_max_azimuth_deg: f64,
    /// Detections from frames whose heading turns faster than this (degrees per
    /// second, over the neighbouring frames) are skipped: a heading derived from the
    /// GPS track lags in turns, and their rays point metres off.
    pub max_turn_deg_s: f64,
}

impl Default for FuseParams {
    fn default() -> Self {
        Self {
            perp_tol_m: 1.5,
            perp_per_m: 0.06,
            max_range_m: 80.0,
            grid_m: 25.0,
            min_detections: 2,
            single_min_score: 0.6,
            max_uncertainty_m: 15.0,
            single_drive_max_uncertainty_m: 6.0,
            passed_within_m: 60.0,
            reject_sigmas: 3.0,
            gps_sigma_m: 3.0,
            merge_radius_m: 7.5,
            aligned_merge_radius_m: 12.5,
            merge_extra_max_m: 15.0,
            merge_max_azimuth_deg: 180.0,
            max_turn_deg_s: 20.0,
        }
    }
}

/// One detection as a ray, with what fusion needs to know about it.
#[derive(Debug, Clone)]
struct Obs<'a> {
    det: &'a Detection,
    frame: &'a Frame,
    ray: Ray,
    /// Range from the box size and the class's typical size.
    range_m: f64,
    /// Relative 1-sigma error of `range_m`.
    range_rel_sigma: f64,
    /// How fast the heading turned at this frame, degrees per second.
    turn_deg_s: f64,
}

impl Obs<'_> {
    fn single_view_point(&self) -> (f64, f64) {
        self.ray.at(self.range_m)
    }

    /// The ray with its range prior and noise model: bearing noise of ~4° (heading
    /// from GPS) plus 0.5 m, and the range error of [`box_range`] plus 0.5 m.
    /// A low-scoring box is a looser one: its ray weighs in proportion to the score.
    fn ranged(&self) -> RangedRay {
        let loose = 1.0 / (self.det.score as f64).clamp(0.05, 1.0).sqrt();
        RangedRay {
            ray: self.ray,
            range_m: self.range_m,
            // In a turn the track's heading lags by about half its ±1 s window.
            sigma_perp_m: loose
                * (0.5
                    + self.range_m
                        * (0.07 + (self.turn_deg_s * TURN_LAG_S).min(30.0).to_radians().tan())),
            sigma_along_m: loose * (0.5 + self.range_rel_sigma * self.range_m),
        }
    }

    fn key(&self) -> String {
        format!(
            "{}|{}|{:.1}|{:.1}|{:.1}|{:.1}",
            self.det.frame_id,
            self.det.class,
            self.det.bbox.x0,
            self.det.bbox.y0,
            self.det.bbox.x1,
            self.det.bbox.y1
        )
    }
}

/// 1-sigma error of a detector box's width or height, pixels (both edges jitter).
const BOX_SIDE_SIGMA_PX: f64 = 2.0;
/// Relative spread of real object sizes around the class's typical size (sign series
/// differ), which no amount of pixels removes.
const SIZE_REL_SIGMA: f64 = 0.15;

/// Range to a detected object along its ray, from its box's width and height and the
/// class's typical size, with its relative 1-sigma error. The two estimates are
/// weighted by their pixel error, so a small box side counts less; a side cut by the
/// frame border says nothing and is left out. The box gives the distance along the
/// optical axis; along the ray to an off-axis object it is longer by 1 / cos of the
/// column's angle.
fn box_range(det: &Detection, camera: &streetcomb_core::Camera) -> Option<(f64, f64)> {
    let b = &det.bbox;
    let f = camera.focal_px();
    let (w_cut, h_cut) = (
        b.x0 <= 1.0 || f64::from(b.x1) >= f64::from(camera.width) - 1.0,
        b.y0 <= 1.0 || f64::from(b.y1) >= f64::from(camera.height) - 1.0,
    );
    let mut acc = (0.0, 0.0);
    for (cut, side_px, size_m) in [
        (w_cut, f64::from(b.width()), det.class.typical_width_m()),
        (h_cut, f64::from(b.height()), det.class.typical_height_m()),
    ] {
        if cut || side_px < 1.0 {
            continue;
        }
        let rel = BOX_SIDE_SIGMA_PX / side_px;
        let w = 1.0 / (rel * rel);
        acc = (acc.0 + w * size_m * f / side_px, acc.1 + w);
    }
    if acc.1 <= 0.0 {
        return None;
    }
    let off_axis = camera
        .column_offset_deg(f64::from(b.center_x()))
        .to_radians();
    let range = acc.0 / acc.1 / off_axis.cos().max(0.1);
    Some((range, SIZE_REL_SIGMA.hypot(1.0 / acc.1.sqrt())))
}

/// Fuses detections into map features. Deterministic: the same input in any order
/// gives the same features with the same ids.
pub fn fuse(frames: &[Frame], detections: &[Detection], params: &FuseParams) -> Vec<MapFeature> {
    let by_id: HashMap<&str, &Frame> = frames.iter().map(|f| (f.id.as_str(), f)).collect();
    let Some(origin) = centre_position(frames) else {
        return Vec::new();
    };
    let local = LocalFrame::new(origin);
    let turning = turn_rates(frames);
    let mut by_drive: BTreeMap<(FeatureClass, &str), Vec<Obs>> = BTreeMap::new();
    for det in detections {
        let Some(frame) = by_id.get(det.frame_id.as_str()) else {
            continue;
        };
        let turn_deg_s = turning.get(frame.id.as_str()).copied().unwrap_or(0.0);
        if turn_deg_s > params.max_turn_deg_s {
            continue;
        }
        let Some((range_m, range_rel_sigma)) = box_range(det, &frame.camera) else {
            continue;
        };
        if range_m > params.max_range_m || !det.bearing_deg.is_finite() {
            continue;
        }
        by_drive
            .entry((det.class, frame.drive_id.as_str()))
            .or_default()
            .push(Obs {
                det,
                frame,
                ray: Ray::new(local.to_local(frame.pos), det.bearing_deg),
                range_m,
                range_rel_sigma,
                turn_deg_s,
            });
    }
    let mut sightings: BTreeMap<FeatureClass, Vec<Sighting>> = BTreeMap::new();
    for ((class, _), mut obs) in by_drive {
        // A canonical order makes the greedy grouping independent of input order.
        obs.sort_by(|a, b| {
            b.det
                .score
                .total_cmp(&a.det.score)
                .then_with(|| a.key().cmp(&b.key()))
        });
        let found: Vec<Sighting> = group(&obs, params)
            .into_iter()
            .filter_map(|members| sighting(&members, params))
            .collect();
        sightings.entry(class).or_default().extend(found);
    }
    for s in sightings.values_mut() {
        s.sort_by(|a, b| {
            b.n_detections()
                .cmp(&a.n_detections())
                .then_with(|| a.key.cmp(&b.key))
        });
    }
    // Association runs twice: the first clustering measures each drive's GPS offset
    // against the others, the second associates with those offsets taken out.
    let mut residuals: BTreeMap<&str, Vec<Residual>> = BTreeMap::new();
    for s in sightings.values() {
        for members in cluster(s, params) {
            let drives: BTreeSet<&str> = members.iter().map(|m| m.drive.as_str()).collect();
            if drives.len() < 2 {
                continue;
            }
            let c = robust_centre(members.iter().copied());
            for m in members.iter().filter(|m| is_strong(m)) {
                residuals
                    .entry(m.drive.as_str())
                    .or_default()
                    .push((m.mid_time(), (m.point.0 - c.0, m.point.1 - c.1)));
            }
        }
    }
    let offsets: Vec<Vec<(f64, f64)>> = sightings
        .values()
        .map(|v| {
            v.iter()
                .map(|s| drive_offset(residuals.get(s.drive.as_str()), s.mid_time()))
                .collect()
        })
        .collect();
    for (s, o) in sightings.values_mut().zip(offsets) {
        for (x, o) in s.iter_mut().zip(o) {
            x.assoc = (x.point.0 - o.0, x.point.1 - o.1);
        }
    }
    let passes = DrivePasses::new(frames, &local, params.passed_within_m);
    let aligned = FuseParams {
        merge_radius_m: params.aligned_merge_radius_m,
        ..*params
    };
    let mut out = Vec::new();
    for (class, s) in &sightings {
        for members in cluster(s, &aligned) {
            if let Some(f) = feature(*class, &members, &local, &passes, params) {
                out.push(f);
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// How far behind the true heading a heading from the GPS track is while turning,
/// seconds (half of ingest's ±1 s window).
const TURN_LAG_S: f64 = 0.5;

/// Heading change rate at each frame, degrees per second, across its neighbours in
/// its drive.
fn turn_rates(frames: &[Frame]) -> HashMap<&str, f64> {
    let mut drives: BTreeMap<&str, Vec<&Frame>> = BTreeMap::new();
    for f in frames {
        drives.entry(f.drive_id.as_str()).or_default().push(f);
    }
    let mut out = HashMap::with_capacity(frames.len());
    for (_, mut fs) in drives {
        fs.sort_by(|a, b| a.captured_at.cmp(&b.captured_at).then(a.id.cmp(&b.id)));
        let n = fs.len();
        for i in 0..n {
            let (a, b) = (fs[i.saturating_sub(1)], fs[(i + 1).min(n - 1)]);
            let dt = (b.captured_at - a.captured_at).num_milliseconds() as f64 / 1000.0;
            let rate = if dt > 0.0 {
                streetcomb_core::geodesy::angle_diff_deg(b.heading_deg, a.heading_deg).abs() / dt
            } else {
                0.0
            };
            out.insert(fs[i].id.as_str(), rate);
        }
    }
    out
}

/// One drive's estimate of one sign: the robust intersection of its rays.
#[derive(Debug, Clone)]
struct Sighting {
    point: (f64, f64),
    /// Variance of `point` including the drive's GPS error, m².
    var: f64,
    /// 1-sigma error of `point` from the rays alone, metres.
    sigma_rays: f64,
    /// `point` less the drive's estimated GPS offset: what association compares.
    assoc: (f64, f64),
    single_view: bool,
    /// Direction from the sign towards the cameras that saw it, degrees.
    azimuth: Option<f64>,
    /// The smallest detection key among its rays (ids and canonical order).
    key: String,
    drive: String,
    times: (DateTime<Utc>, DateTime<Utc>),
    /// Scores of the kept (inlier) detections.
    scores: Vec<f32>,
    /// Numbers read on the kept detections, each with its box height (nearer views
    /// read better, so they weigh more).
    values: Vec<(u32, f32)>,
}

impl Sighting {
    fn n_detections(&self) -> usize {
        self.scores.len()
    }

    /// Middle of its time span, milliseconds since the epoch.
    fn mid_time(&self) -> i64 {
        (self.times.0.timestamp_millis() + self.times.1.timestamp_millis()) / 2
    }
}

/// A strong sighting's offset from its cluster's centre (east, north metres) at a
/// time (milliseconds since the epoch).
type Residual = (i64, (f64, f64));

/// GPS bias wanders over about a minute; residuals further apart in time than this
/// say little about each other, milliseconds.
const OFFSET_TIME_SCALE_MS: f64 = 60_000.0;

/// A drive's GPS offset at time `t`: the time-weighted mean of its strong sightings'
/// residuals from their clusters, shrunk towards zero when there are few.
fn drive_offset(residuals: Option<&Vec<Residual>>, t: i64) -> (f64, f64) {
    let Some(rs) = residuals else {
        return (0.0, 0.0);
    };
    // The prior (no offset) counts as one residual.
    let (mut x, mut y, mut w) = (0.0, 0.0, 1.0);
    for &(ti, (dx, dy)) in rs {
        let k = (-((ti - t) as f64 / OFFSET_TIME_SCALE_MS).powi(2)).exp();
        x += k * dx;
        y += k * dy;
        w += k;
    }
    (x / w, y / w)
}

fn sighting(members: &[&Obs], params: &FuseParams) -> Option<Sighting> {
    let ranged: Vec<RangedRay> = members.iter().map(|o| o.ranged()).collect();
    let fit = intersect_robust(&ranged, params.reject_sigmas)?;
    let kept: Vec<&Obs> = members
        .iter()
        .zip(&fit.inliers)
        .filter(|(_, k)| **k)
        .map(|(o, _)| *o)
        .collect();
    let rays: Vec<Ray> = kept.iter().map(|o| o.ray).collect();
    // Several frames whose rays really cross make a multi-view sighting; otherwise the
    // position leans on the box-size ranges and is flagged single-view.
    let frames: BTreeSet<&str> = kept.iter().map(|o| o.frame.id.as_str()).collect();
    let single_view = frames.len() < 2 || intersect(&rays).is_none();
    let sigma = if single_view {
        // Along the ray only the range prior from the box size (see `ranged`) holds it.
        fit.sigma_m.max(2.0)
    } else {
        fit.sigma_m
    };
    let (sx, sy) = kept.iter().fold((0.0, 0.0), |(sx, sy), o| {
        let b = o.ray.dir;
        // The camera looks along `dir`; the sign faces back along it.
        (sx - b.0, sy - b.1)
    });
    let times = kept.iter().map(|o| o.frame.captured_at);
    Some(Sighting {
        point: fit.point,
        assoc: fit.point,
        var: sigma.powi(2) + params.gps_sigma_m.powi(2),
        sigma_rays: sigma,
        single_view,
        azimuth: (sx.hypot(sy) > 1e-9)
            .then(|| streetcomb_core::geodesy::normalize_deg(sx.atan2(sy).to_degrees())),
        key: kept.iter().map(|o| o.key()).min().unwrap_or_default(),
        drive: kept
            .first()
            .map(|o| o.frame.drive_id.to_string())
            .unwrap_or_default(),
        times: (
            times.clone().min().unwrap_or_default(),
            times.max().unwrap_or_default(),
        ),
        scores: kept.iter().map(|o| o.det.score).collect(),
        values: kept
            .iter()
            .filter_map(|o| o.det.value.map(|v| (v, o.det.bbox.height())))
            .collect(),
    })
}

fn azimuth_close(a: Option<f64>, b: Option<f64>, max_deg: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => streetcomb_core::geodesy::angle_diff_deg(a, b).abs() <= max_deg,
        _ => true,
    }
}

/// Whether a sighting pins its sign down on its own: rays that cross, several of
/// them, a tight intersection.
fn is_strong(x: &Sighting) -> bool {
    !x.single_view && x.n_detections() >= 3 && x.sigma_rays <= STRONG_SIGMA_M
}

/// Largest ray-only uncertainty of a strong sighting, metres.
const STRONG_SIGMA_M: f64 = 3.0;

/// Clustering of sightings (already in canonical order), in two passes over spatial
/// indexes: strong sightings gather greedily around a running inverse-variance
/// weighted centre within `merge_radius_m`; then each weak sighting joins the
/// nearest such cluster within `merge_radius_m` plus twice its own uncertainty
/// (capped by `merge_extra_max_m`); weak sightings left over cluster among
/// themselves. Strong sightings of two signs a junction apart never merge that way,
/// while the fragments around a sign do not become features of their own.
fn cluster<'a>(s: &'a [Sighting], params: &FuseParams) -> Vec<Vec<&'a Sighting>> {
    let r = params.merge_radius_m.max(0.1);
    let extra = params.merge_extra_max_m.max(0.0);
    let (strong, weak): (Vec<usize>, Vec<usize>) = (0..s.len()).partition(|&i| is_strong(&s[i]));
    let mut clusters = greedy_clusters(s, &strong, params);
    // Weak sightings: the nearest strong cluster in reach.
    let centres: Vec<(f64, f64)> = clusters
        .iter()
        .map(|m| weighted_centre(m.iter().map(|&i| &s[i])))
        .collect();
    let index = SpatialIndex::of_points(&centres);
    let mut left = Vec::new();
    for &i in &weak {
        let x = &s[i];
        let gate = r + (2.0 * x.sigma_rays).min(extra);
        let mut best: Option<(f64, usize)> = None;
        for k in index.near(x.assoc, gate) {
            let d = (x.assoc.0 - centres[k].0).hypot(x.assoc.1 - centres[k].1);
            let seed = &s[clusters[k][0]];
            if d <= gate
                && azimuth_close(x.azimuth, seed.azimuth, params.merge_max_azimuth_deg)
                && best.is_none_or(|(bd, bk)| d < bd || (d == bd && k < bk))
            {
                best = Some((d, k));
            }
        }
        match best {
            Some((_, k)) => clusters[k].push(i),
            None => left.push(i),
        }
    }
    clusters.extend(greedy_clusters(s, &left, params));
    clusters
        .into_iter()
        .map(|mut m| {
            m.sort_unstable();
            m.into_iter().map(|i| &s[i]).collect()
        })
        .collect()
}

/// Greedy seed-and-grow clusters of the sightings `which` (in canonical order) within
/// `merge_radius_m` of a running weighted centre.
fn greedy_clusters(s: &[Sighting], which: &[usize], params: &FuseParams) -> Vec<Vec<usize>> {
    let r = params.merge_radius_m.max(0.1);
    let index = SpatialIndex::of_ids(which.iter().map(|&i| (i, s[i].assoc)));
    let mut assigned = vec![false; s.len()];
    let mut out = Vec::new();
    for &seed in which {
        if assigned[seed] {
            continue;
        }
        let mut centre = s[seed].assoc;
        let mut members = vec![seed];
        for _ in 0..4 {
            let mut next = vec![seed];
            for i in index.near(centre, r) {
                let x = &s[i];
                if i != seed
                    && !assigned[i]
                    && (x.assoc.0 - centre.0).hypot(x.assoc.1 - centre.1) <= r
                    && azimuth_close(x.azimuth, s[seed].azimuth, params.merge_max_azimuth_deg)
                {
                    next.push(i);
                }
            }
            next.sort_unstable();
            let c = weighted_centre(next.iter().map(|&i| &s[i]));
            let converged = next == members && (c.0 - centre.0).hypot(c.1 - centre.1) < 0.01;
            centre = c;
            members = next;
            if converged {
                break;
            }
        }
        for &i in &members {
            assigned[i] = true;
        }
        out.push(members);
    }
    out
}

/// The inverse-variance weighted centre of the sightings' association points.
fn weighted_centre<'a>(s: impl Iterator<Item = &'a Sighting>) -> (f64, f64) {
    let (mut x, mut y, mut w) = (0.0, 0.0, 0.0);
    for a in s {
        let wi = 1.0 / a.var.max(1e-6);
        x += wi * a.assoc.0;
        y += wi * a.assoc.1;
        w += wi;
    }
    (x / w, y / w)
}

/// The inverse-variance weighted centre of sightings, made robust with Huber
/// weights (IRLS): one drive whose GPS jumped or whose rays were mis-grouped is
/// down-weighted instead of dragging the feature.
fn robust_centre<'a>(s: impl Iterator<Item = &'a Sighting> + Clone) -> (f64, f64) {
    let mean = |h: &dyn Fn(&Sighting) -> f64| {
        let (mut x, mut y, mut w) = (0.0, 0.0, 0.0);
        for a in s.clone() {
            let wi = h(a) / a.var.max(1e-6);
            x += wi * a.point.0;
            y += wi * a.point.1;
            w += wi;
        }
        (x / w, y / w)
    };
    let mut c = mean(&|_| 1.0);
    for _ in 0..10 {
        let huber = |a: &Sighting| {
            let e = (a.point.0 - c.0).hypot(a.point.1 - c.1) / a.var.max(1e-6).sqrt();
            if e <= HUBER_K { 1.0 } else { HUBER_K / e }
        };
        let next = mean(&huber);
        let moved = (next.0 - c.0).hypot(next.1 - c.1);
        c = next;
        if moved < 1e-4 {
            break;
        }
    }
    c
}

fn centre_position(frames: &[Frame]) -> Option<LatLon> {
    // The centre of the bounding box, not the mean: min and max do not depend on the
    // input's order, where a float sum does in its last digits, and those digits
    // would reach positions and uncertainties through the local frame.
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for f in frames {
        lat0 = lat0.min(f.pos.lat());
        lat1 = lat1.max(f.pos.lat());
        lon0 = lon0.min(f.pos.lon());
        lon1 = lon1.max(f.pos.lon());
    }
    (!frames.is_empty())
        .then(|| LatLon::new((lat0 + lat1) / 2.0, (lon0 + lon1) / 2.0).ok())
        .flatten()
}

/// Greedy seed-and-grow grouping over a spatial index of single-view points: the best
/// unassigned detection seeds a feature; rays passing near the current estimate join;
/// the estimate is re-solved from the members; repeat a few times.
fn group<'a>(obs: &'a [Obs<'a>], params: &FuseParams) -> Vec<Vec<&'a Obs<'a>>> {
    let points: Vec<(f64, f64)> = obs.iter().map(Obs::single_view_point).collect();
    let index = SpatialIndex::of_points(&points);
    let mut assigned = vec![false; obs.len()];
    let mut groups = Vec::new();
    for seed in 0..obs.len() {
        if assigned[seed] {
            continue;
        }
        let mut p = obs[seed].single_view_point();
        let mut members = vec![seed];
        for _ in 0..4 {
            let mut next: BTreeSet<usize> = BTreeSet::new();
            next.insert(seed);
            for i in search_area(&index, &points, p, params.grid_m) {
                if !assigned[i] && fits(&obs[i], p, params) {
                    next.insert(i);
                }
            }
            // One detection per frame: a frame sees a given sign once.
            let mut per_frame: HashMap<&str, usize> = HashMap::new();
            for &i in &next {
                let f = obs[i].frame.id.as_str();
                // The box that fits best across and along (its size) stays.
                match per_frame.get(f) {
                    Some(&j)
                        if obs[j].ranged().normalized_residual(p)
                            <= obs[i].ranged().normalized_residual(p) => {}
                    _ => {
                        per_frame.insert(f, i);
                    }
                }
            }
            let mut chosen: Vec<usize> = per_frame.into_values().collect();
            if !chosen.contains(&seed) {
                chosen.push(seed);
            }
            chosen.sort_unstable();
            let rays: Vec<Ray> = chosen.iter().map(|&i| obs[i].ray).collect();
            let new_p = intersect(&rays)
                .unwrap_or_else(|| mean_single_view(chosen.iter().map(|&i| &obs[i])));
            let converged = chosen == members && (new_p.0 - p.0).hypot(new_p.1 - p.1) < 0.01;
            p = new_p;
            members = chosen;
            if converged {
                break;
            }
        }
        // Outliers: rays that ended up far from the final point leave the group.
        members.retain(|&i| i == seed || fits(&obs[i], p, params));
        for &i in &members {
            assigned[i] = true;
        }
        // A second box of this sign in a frame already in the group is the same sign
        // seen twice by the detector: absorb it rather than let it seed a ghost.
        let frames_in: BTreeSet<&str> = members.iter().map(|&i| obs[i].frame.id.as_str()).collect();
        for i in search_area(&index, &points, p, params.grid_m) {
            if !assigned[i]
                && frames_in.contains(obs[i].frame.id.as_str())
                && fits(&obs[i], p, params)
            {
                assigned[i] = true;
            }
        }
        groups.push(members.into_iter().map(|i| &obs[i]).collect());
    }
    groups
}

/// The single-view points (ids into `points`, ascending) in the search area of the
/// grouping around `p`: the 5 × 5 block of `cell` squares (a grid anchored at the
/// local origin) centred on the square that holds `p`. Everything within two cells,
/// and more on the sides where `p` is near the edge of its square; how far rays are
/// looked for shapes the groups, so the block is kept exactly as it was.
fn search_area(
    index: &SpatialIndex,
    points: &[(f64, f64)],
    p: (f64, f64),
    cell: f64,
) -> Vec<usize> {
    let square = |v: f64| (v / cell).floor() as i64;
    let (cx, cy) = (square(p.0), square(p.1));
    // The block lies within 3 cells of `p`; half a cell more keeps rounding out.
    let mut ids = index.near(p, 3.5 * cell);
    ids.retain(|&i| {
        let q = points[i];
        square(q.0).abs_diff(cx) <= 2 && square(q.1).abs_diff(cy) <= 2
    });
    ids
}

fn fits(o: &Obs, p: (f64, f64), params: &FuseParams) -> bool {
    let along = o.ray.along(p);
    along > 0.5
        && o.ray.perp(p) <= params.perp_tol_m + params.perp_per_m * along
        // The box size must roughly agree with the distance (factor 2 either way).
        && along < o.range_m * 2.0 + 5.0
        && along > o.range_m * 0.5 - 5.0
}

fn mean_single_view<'a>(obs: impl Iterator<Item = &'a Obs<'a>>) -> (f64, f64) {
    let (mut x, mut y, mut n) = (0.0, 0.0, 0.0);
    for o in obs {
        let p = o.single_view_point();
        x += p.0;
        y += p.1;
        n += 1.0;
    }
    (x / n, y / n)
}

/// A frame's local position and its drive.
type FramePoint<'a> = ((f64, f64), &'a str);

/// Which drives had frames near a point: a spatial index of frame positions.
struct DrivePasses<'a> {
    within_m: f64,
    points: Vec<FramePoint<'a>>,
    index: SpatialIndex,
}

impl<'a> DrivePasses<'a> {
    fn new(frames: &'a [Frame], local: &LocalFrame, within_m: f64) -> Self {
        let within_m = within_m.max(1.0);
        let points: Vec<FramePoint<'a>> = frames
            .iter()
            .map(|f| (local.to_local(f.pos), f.drive_id.as_str()))
            .collect();
        let xy: Vec<(f64, f64)> = points.iter().map(|p| p.0).collect();
        Self {
            within_m,
            index: SpatialIndex::of_points(&xy),
            points,
        }
    }

    /// How many drives had a frame within `within_m` of `p`, counting no further than
    /// `limit` (the caller only needs to know whether that many passed).
    fn passed_count(&self, p: (f64, f64), limit: usize) -> usize {
        let mut seen: Vec<&str> = Vec::new();
        for i in self.index.near(p, self.within_m) {
            let (q, d) = self.points[i];
            if (q.0 - p.0).hypot(q.1 - p.1) <= self.within_m && !seen.contains(&d) {
                seen.push(d);
                if seen.len() >= limit {
                    break;
                }
            }
        }
        seen.len()
    }
}

fn feature(
    class: FeatureClass,
    members: &[&Sighting],
    local: &LocalFrame,
    passes: &DrivePasses,
    params: &FuseParams,
) -> Option<MapFeature> {
    let n_detections: usize = members.iter().map(|s| s.n_detections()).sum();
    let best = members
        .iter()
        .flat_map(|s| s.scores.iter().copied())
        .fold(0.0f32, f32::max);
    if n_detections < params.min_detections as usize && best < params.single_min_score {
        return None;
    }
    let p = robust_centre(members.iter().copied());
    let w: f64 = members.iter().map(|s| 1.0 / s.var.max(1e-6)).sum();
    let formal = (1.0 / w).sqrt();
    // With several drives, their scatter says how well the GPS biases averaged out.
    let scatter = if members.len() >= 2 {
        let ss: f64 = members
            .iter()
            .map(|s| ((s.point.0 - p.0).powi(2) + (s.point.1 - p.1).powi(2)) / s.var.max(1e-6))
            .sum();
        (ss / (w * (members.len() - 1) as f64)).sqrt()
    } else {
        0.0
    };
    let drives: BTreeSet<&str> = members.iter().map(|s| s.drive.as_str()).collect();
    // Drives that passed by without seeing it did not vouch for it: when one drive, or
    // under a third of those that passed, saw it, only a tight position is a sign
    // rather than stray rays (of a sign nearby, seen from afar).
    let enough = if drives.len() < 2 {
        2
    } else {
        3 * drives.len() + 1
    };
    let unvouched = passes.passed_count(p, enough) >= enough;
    let max_uncertainty = if unvouched {
        params.single_drive_max_uncertainty_m
    } else {
        params.max_uncertainty_m
    };
    if formal.max(scatter) > max_uncertainty {
        return None;
    }
    let single_view = members.iter().all(|s| s.single_view);
    let miss: f64 = members
        .iter()
        .flat_map(|s| s.scores.iter())
        .map(|&sc| 1.0 - sc as f64)
        .product();
    let confidence = (1.0 - miss) * if single_view { 0.5 } else { 1.0 };
    let (sx, sy) = members
        .iter()
        .fold((0.0, 0.0), |(sx, sy), s| match s.azimuth {
            Some(a) => {
                let (e, n) = streetcomb_core::geodesy::bearing_unit(a);
                let k = s.n_detections() as f64;
                (sx + k * e, sy + k * n)
            }
            None => (sx, sy),
        });
    let key = members
        .iter()
        .map(|s| s.key.as_str())
        .min()
        .unwrap_or_default();
    Some(MapFeature {
        id: feature_id(class, key),
        class,
        pos: local.to_latlon(p.0, p.1),
        uncertainty_m: formal.max(scatter),
        n_detections: n_detections as u32,
        n_drives: drives.len() as u32,
        confidence,
        first_seen: members.iter().map(|s| s.times.0).min().unwrap_or_default(),
        last_seen: members.iter().map(|s| s.times.1).max().unwrap_or_default(),
        status: FeatureStatus::New,
        azimuth_deg: (sx.hypot(sy) > 1e-9)
            .then(|| streetcomb_core::geodesy::normalize_deg(sx.atan2(sy).to_degrees())),
        single_view,
        value: vote(members.iter().flat_map(|s| s.values.iter().copied())),
    })
}

/// The number most of the readings agree on, each weighed by its box height; ties go
/// to the smaller number so the result does not depend on order.
pub(crate) fn vote(readings: impl Iterator<Item = (u32, f32)>) -> Option<u32> {
    let mut tally: BTreeMap<u32, f32> = BTreeMap::new();
    for (v, w) in readings {
        *tally.entry(v).or_default() += w.max(1.0);
    }
    let mut best: Option<(u32, f32)> = None;
    for (v, w) in tally {
        if best.is_none_or(|(_, bw)| w > bw) {
            best = Some((v, w));
        }
    }
    best.map(|(v, _)| v)
}

/// Stable id: a hash of the class and the smallest member detection key, so the same
/// input always yields the same id regardless of order.
pub(crate) fn feature_id(class: FeatureClass, first_key: &str) -> FeatureId {
    let h = Sha256::digest(format!("{class}|{first_key}"));
    FeatureId::new(format!(
        "{}-{}",
        class.as_str().replace('_', ""),
        &hex::encode(h)[..16]
    ))
    .expect("class names and hex digits are valid id characters")
}
