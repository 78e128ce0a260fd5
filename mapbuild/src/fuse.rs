//! Association of detections into features, and their positions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use streetcomb_core::{
    Detection, FeatureClass, FeatureId, FeatureStatus, Frame, LatLon, LocalFrame, MapFeature,
};

use crate::rays::{RangedRay, Ray, intersect, intersect_ranged};

/// Tunables of the fusion.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FuseParams {
    /// A ray joins a feature when it passes this close (metres) to it, plus `perp_per_m`
    /// per metre of range (bearing error grows with distance).
    pub perp_tol_m: f64,
    pub perp_per_m: f64,
    /// Detections further than this from the camera (by box size) are ignored.
    pub max_range_m: f64,
    /// Grid cell of the spatial index, metres.
    pub grid_m: f64,
    /// A feature is published with at least this many detections, or with a single
    /// detection scoring at least `single_min_score` (one sighting is mostly noise).
    pub min_detections: u32,
    pub single_min_score: f32,
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
        }
    }
}

/// One detection as a ray, with what fusion needs to know about it.
#[derive(Debug, Clone)]
struct Obs<'a> {
    det: &'a Detection,
    frame: &'a Frame,
    ray: Ray,
    /// Range from the box width and the class's typical size.
    range_m: f64,
}

impl Obs<'_> {
    fn single_view_point(&self) -> (f64, f64) {
        self.ray.at(self.range_m)
    }

    /// The ray with its range prior and noise model: bearing noise of ~4° (heading
    /// from GPS) plus 0.5 m, and 30 % range error from the box size.
    fn ranged(&self) -> RangedRay {
        RangedRay {
            ray: self.ray,
            range_m: self.range_m,
            sigma_perp_m: 0.5 + 0.07 * self.range_m,
            sigma_along_m: 1.0 + 0.3 * self.range_m,
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

/// Fuses detections into map features. Deterministic: the same input in any order
/// gives the same features with the same ids.
pub fn fuse(frames: &[Frame], detections: &[Detection], params: &FuseParams) -> Vec<MapFeature> {
    let by_id: HashMap<&str, &Frame> = frames.iter().map(|f| (f.id.as_str(), f)).collect();
    let Some(origin) = mean_position(frames) else {
        return Vec::new();
    };
    let local = LocalFrame::new(origin);
    let mut by_class: BTreeMap<FeatureClass, Vec<Obs>> = BTreeMap::new();
    for det in detections {
        let Some(frame) = by_id.get(det.frame_id.as_str()) else {
            continue;
        };
        let width_px = det.bbox.width().max(1.0) as f64;
        let range_m = det.class.typical_width_m() * frame.camera.focal_px() / width_px;
        if range_m > params.max_range_m {
            continue;
        }
        by_class.entry(det.class).or_default().push(Obs {
            det,
            frame,
            ray: Ray::new(local.to_local(frame.pos), det.bearing_deg),
            range_m,
        });
    }
    let mut out = Vec::new();
    for (_, mut obs) in by_class {
        // A canonical order makes the greedy grouping independent of input order.
        obs.sort_by(|a, b| {
            b.det
                .score
                .total_cmp(&a.det.score)
                .then_with(|| a.key().cmp(&b.key()))
        });
        out.extend(
            group(&obs, params)
                .into_iter()
                .map(|members| feature(&members, &local)),
        );
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn mean_position(frames: &[Frame]) -> Option<LatLon> {
    if frames.is_empty() {
        return None;
    }
    let n = frames.len() as f64;
    let lat = frames.iter().map(|f| f.pos.lat()).sum::<f64>() / n;
    let lon = frames.iter().map(|f| f.pos.lon()).sum::<f64>() / n;
    LatLon::new(lat, lon).ok()
}

/// Greedy seed-and-grow grouping over a grid index of single-view points: the best
/// unassigned detection seeds a feature; rays passing near the current estimate join;
/// the estimate is re-solved from the members; repeat a few times.
fn group<'a>(obs: &'a [Obs<'a>], params: &FuseParams) -> Vec<Vec<&'a Obs<'a>>> {
    let cell = |p: (f64, f64)| {
        (
            (p.0 / params.grid_m).floor() as i64,
            (p.1 / params.grid_m).floor() as i64,
        )
    };
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, o) in obs.iter().enumerate() {
        grid.entry(cell(o.single_view_point())).or_default().push(i);
    }
    let mut assigned = vec![false; obs.len()];
    let mut groups = Vec::new();
    for seed in 0..obs.len() {
        if assigned[seed] {
            continue;
        }
        let mut p = obs[seed].single_view_point();
        let mut members = vec![seed];
        for _ in 0..4 {
            let (cx, cy) = cell(p);
            let mut next: BTreeSet<usize> = BTreeSet::new();
            next.insert(seed);
            for gx in cx - 2..=cx + 2 {
                for gy in cy - 2..=cy + 2 {
                    for &i in grid.get(&(gx, gy)).into_iter().flatten() {
                        if !assigned[i] && fits(&obs[i], p, params) {
                            next.insert(i);
                        }
                    }
                }
            }
            // One detection per frame: a frame sees a given sign once.
            let mut per_frame: HashMap<&str, usize> = HashMap::new();
            for &i in &next {
                let f = obs[i].frame.id.as_str();
                match per_frame.get(f) {
                    Some(&j) if obs[j].ray.perp(p) <= obs[i].ray.perp(p) => {}
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
        let (cx, cy) = cell(p);
        for gx in cx - 2..=cx + 2 {
            for gy in cy - 2..=cy + 2 {
                for &i in grid.get(&(gx, gy)).into_iter().flatten() {
                    if !assigned[i]
                        && frames_in.contains(obs[i].frame.id.as_str())
                        && fits(&obs[i], p, params)
                    {
                        assigned[i] = true;
                    }
                }
            }
        }
        groups.push(members.into_iter().map(|i| &obs[i]).collect());
    }
    groups
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

fn feature(members: &[&Obs], local: &LocalFrame) -> MapFeature {
    let rays: Vec<Ray> = members.iter().map(|o| o.ray).collect();
    let ranged: Vec<RangedRay> = members.iter().map(|o| o.ranged()).collect();
    // Several frames whose rays really cross make a multi-view feature; otherwise the
    // position leans on the box-size ranges and is flagged single-view.
    let frames: BTreeSet<&str> = members.iter().map(|o| o.frame.id.as_str()).collect();
    let single_view = frames.len() < 2 || intersect(&rays).is_none();
    let (p, sigma) = intersect_ranged(&ranged)
        .unwrap_or_else(|| (mean_single_view(members.iter().copied()), f64::INFINITY));
    let uncertainty_m = if sigma.is_finite() {
        // Plus a floor for the GPS error all rays of one drive share.
        (sigma.powi(2) + 1.0).sqrt()
    } else {
        let r = members
            .iter()
            .map(|o| o.range_m)
            .fold(f64::INFINITY, f64::min);
        (0.3 * r).max(2.0)
    };
    let pos = local.to_latlon(p.0, p.1);
    let times: Vec<DateTime<Utc>> = members.iter().map(|o| o.frame.captured_at).collect();
    let drives: BTreeSet<&str> = members.iter().map(|o| o.frame.drive_id.as_str()).collect();
    let miss: f64 = members.iter().map(|o| 1.0 - o.det.score as f64).product();
    let confidence = (1.0 - miss) * if single_view { 0.5 } else { 1.0 };
    // The sign faces the cameras that saw it: mean bearing from the sign to them.
    let (sx, sy) = members.iter().fold((0.0, 0.0), |(sx, sy), o| {
        let b = pos.bearing_to(o.frame.pos).to_radians();
        (sx + b.sin(), sy + b.cos())
    });
    let azimuth = streetcomb_core::geodesy::normalize_deg(sx.atan2(sy).to_degrees());
    let class = members[0].det.class;
    MapFeature {
        id: feature_id(class, members),
        class,
        pos,
        uncertainty_m,
        n_detections: members.len() as u32,
        n_drives: drives.len() as u32,
        confidence,
        first_seen: times.iter().copied().min().unwrap_or_default(),
        last_seen: times.iter().copied().max().unwrap_or_default(),
        status: FeatureStatus::New,
        azimuth_deg: (sx.hypot(sy) > 1e-9).then_some(azimuth),
        single_view,
    }
}

/// Stable id: a hash of the class and the smallest member detection key, so the same
/// input always yields the same id regardless of order.
fn feature_id(class: FeatureClass, members: &[&Obs]) -> FeatureId {
    let first = members.iter().map(|o| o.key()).min().unwrap_or_default();
    let h = Sha256::digest(format!("{class}|{first}"));
    FeatureId::new(format!(
        "{}-{}",
        class.as_str().replace('_', ""),
        &hex::encode(h)[..16]
    ))
    .expect("class names and hex digits are valid id characters")
}
