//! Bearing rays in a local plane and their least-squares intersection.

/// A ray from `origin` (east, north metres) along the unit vector `dir`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ray {
    pub origin: (f64, f64),
    pub dir: (f64, f64),
}

impl Ray {
    pub fn new(origin: (f64, f64), bearing_deg: f64) -> Self {
        Self {
            origin,
            dir: streetcomb_core::geodesy::bearing_unit(bearing_deg),
        }
    }

    /// Signed distance of `p` along the ray (negative: behind the origin).
    pub fn along(&self, p: (f64, f64)) -> f64 {
        (p.0 - self.origin.0) * self.dir.0 + (p.1 - self.origin.1) * self.dir.1
    }

    /// Perpendicular distance of `p` from the ray's line.
    pub fn perp(&self, p: (f64, f64)) -> f64 {
        ((p.0 - self.origin.0) * self.dir.1 - (p.1 - self.origin.1) * self.dir.0).abs()
    }

    pub fn at(&self, t: f64) -> (f64, f64) {
        (
            self.origin.0 + self.dir.0 * t,
            self.origin.1 + self.dir.1 * t,
        )
    }
}

/// The point minimising the sum of squared perpendicular distances to the rays,
/// or `None` when the rays are (nearly) parallel and the problem is ill-conditioned.
pub fn intersect(rays: &[Ray]) -> Option<(f64, f64)> {
    // Σ (I - d dᵀ) p = Σ (I - d dᵀ) o
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for r in rays {
        let (dx, dy) = r.dir;
        let (m11, m12, m22) = (1.0 - dx * dx, -dx * dy, 1.0 - dy * dy);
        a11 += m11;
        a12 += m12;
        a22 += m22;
        b1 += m11 * r.origin.0 + m12 * r.origin.1;
        b2 += m12 * r.origin.0 + m22 * r.origin.1;
    }
    let det = a11 * a22 - a12 * a12;
    // The smaller eigenvalue is Σ sin² of the rays' angles from their mean direction:
    // below ~0.004 per ray (about 4° of spread) the crossing point slides along the
    // rays with every decimetre of noise.
    let trace = a11 + a22;
    let min_eig = trace / 2.0 - ((trace / 2.0).powi(2) - det).max(0.0).sqrt();
    if rays.len() < 2 || min_eig < (0.004 * rays.len() as f64).max(0.01) {
        return None;
    }
    Some(((a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det))
}

/// A bearing ray with a prior on its range (from the detection's box size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangedRay {
    pub ray: Ray,
    /// Range estimate along the ray, metres.
    pub range_m: f64,
    /// 1-sigma error across the ray at the estimate (bearing noise), metres.
    pub sigma_perp_m: f64,
    /// 1-sigma error of the range estimate, metres.
    pub sigma_along_m: f64,
}

/// Weighted least squares over rays with range priors: each ray pulls the point onto
/// its line with weight 1/σ⊥² and towards its range estimate with weight 1/σ∥². Well
/// conditioned even when the rays are nearly parallel (a sign approached head-on),
/// where plain ray intersection slides along them with every degree of heading noise.
/// Returns the point and its 1-sigma error ellipse's major semi-axis, metres.
pub fn intersect_ranged(rays: &[RangedRay]) -> Option<((f64, f64), f64)> {
    solve_weighted(rays, &vec![1.0; rays.len()])
}

/// [`intersect_ranged`] with an extra weight per ray (IRLS).
fn solve_weighted(rays: &[RangedRay], weights: &[f64]) -> Option<((f64, f64), f64)> {
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (r, &w) in rays.iter().zip(weights) {
        let (dx, dy) = r.ray.dir;
        let wp = w / r.sigma_perp_m.max(1e-3).powi(2);
        let wa = w / r.sigma_along_m.max(1e-3).powi(2);
        // M = wp (I - d dᵀ) + wa d dᵀ; target for the along part is the ranged point.
        let m11 = wp * (1.0 - dx * dx) + wa * dx * dx;
        let m12 = (wa - wp) * dx * dy;
        let m22 = wp * (1.0 - dy * dy) + wa * dy * dy;
        let o = r.ray.origin;
        let q = r.ray.at(r.range_m);
        // wp (I - d dᵀ) o + wa d dᵀ q
        let po = (
            o.0 * (1.0 - dx * dx) - o.1 * dx * dy,
            -o.0 * dx * dy + o.1 * (1.0 - dy * dy),
        );
        let dq = dx * q.0 + dy * q.1;
        a11 += m11;
        a12 += m12;
        a22 += m22;
        b1 += wp * po.0 + wa * dx * dq;
        b2 += wp * po.1 + wa * dy * dq;
    }
    let det = a11 * a22 - a12 * a12;
    if rays.is_empty() || det <= 0.0 || !det.is_finite() {
        return None;
    }
    let p = ((a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det);
    // Covariance is A⁻¹; its largest eigenvalue is 1 / the smallest of A.
    let trace = a11 + a22;
    let min_eig = trace / 2.0 - ((trace / 2.0).powi(2) - det).max(0.0).sqrt();
    Some((p, (1.0 / min_eig.max(1e-12)).sqrt()))
}

impl RangedRay {
    /// Residual of `p` against this ray in units of its sigmas (across and along).
    pub fn normalized_residual(&self, p: (f64, f64)) -> f64 {
        let perp = self.ray.perp(p) / self.sigma_perp_m.max(1e-3);
        let along = (self.ray.along(p) - self.range_m) / self.sigma_along_m.max(1e-3);
        perp.hypot(along)
    }
}

/// A robust intersection: the point, its 1-sigma uncertainty and which rays it kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RobustFit {
    pub point: (f64, f64),
    /// Major semi-axis of the 1-sigma error ellipse, metres, inflated by the scatter
    /// of the kept rays when they disagree more than their sigmas say.
    pub sigma_m: f64,
    /// Per input ray: kept (true) or rejected as an outlier.
    pub inliers: Vec<bool>,
}

/// Huber constant of [`intersect_robust`], in sigmas: rays within it count fully,
/// rays beyond it are down-weighted in proportion (95 % efficiency on Gaussian noise).
pub const HUBER_K: f64 = 1.345;

/// Robust least squares over ranged rays: iteratively re-weighted least squares with
/// Huber weights, so that a few wrong rays (a mis-associated detection, a GPS jump)
/// cannot drag the point; then rays whose residual exceeds `reject_sigmas` are
/// rejected and the point is re-solved from the rest. At least two rays (or the
/// single one) are always kept.
pub fn intersect_robust(rays: &[RangedRay], reject_sigmas: f64) -> Option<RobustFit> {
    let (mut p, _) = intersect_ranged(rays)?;
    let mut w = vec![1.0; rays.len()];
    for _ in 0..30 {
        for (wi, r) in w.iter_mut().zip(rays) {
            let e = r.normalized_residual(p);
            *wi = if e <= HUBER_K { 1.0 } else { HUBER_K / e };
        }
        let (next, _) = solve_weighted(rays, &w)?;
        let moved = (next.0 - p.0).hypot(next.1 - p.1);
        p = next;
        if moved < 1e-6 {
            break;
        }
    }
    let residuals: Vec<f64> = rays.iter().map(|r| r.normalized_residual(p)).collect();
    let mut inliers: Vec<bool> = residuals.iter().map(|&e| e <= reject_sigmas).collect();
    if inliers.iter().filter(|&&k| k).count() < rays.len().min(2) {
        // Too few left to say who is wrong: keep the two (or one) that fit best.
        let mut order: Vec<usize> = (0..rays.len()).collect();
        order.sort_by(|&a, &b| residuals[a].total_cmp(&residuals[b]).then(a.cmp(&b)));
        for &i in order.iter().take(2) {
            inliers[i] = true;
        }
    }
    let kept: Vec<RangedRay> = rays
        .iter()
        .zip(&inliers)
        .filter(|(_, k)| **k)
        .map(|(r, _)| *r)
        .collect();
    let (point, sigma) = intersect_ranged(&kept)?;
    // A posteriori variance factor: when the kept rays scatter more than their sigmas
    // claim (chi² per degree of freedom above 1), the uncertainty grows with it.
    let dof = 2 * kept.len() as i64 - 2;
    let chi2: f64 = kept
        .iter()
        .map(|r| r.normalized_residual(point).powi(2))
        .sum();
    let factor = if dof > 0 {
        (chi2 / dof as f64).max(1.0).sqrt()
    } else {
        1.0
    };
    Some(RobustFit {
        point,
        sigma_m: sigma * factor,
        inliers,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn two_perpendicular_rays_meet_at_their_crossing() {
        let p = intersect(&[Ray::new((0.0, 0.0), 90.0), Ray::new((5.0, -5.0), 0.0)]).unwrap();
        assert!((p.0 - 5.0).abs() < 1e-9 && p.1.abs() < 1e-9);
    }

    #[test]
    fn parallel_rays_have_no_intersection() {
        assert!(intersect(&[Ray::new((0.0, 0.0), 0.0), Ray::new((3.0, 0.0), 0.0)]).is_none());
        assert!(intersect(&[Ray::new((0.0, 0.0), 0.0)]).is_none());
    }

    #[test]
    fn ranged_rays_without_noise_return_the_target_even_when_parallel() {
        // Two parallel rays both ranging to points on a line: the prior pins the point.
        let r = |o: (f64, f64)| RangedRay {
            ray: Ray::new(o, 0.0),
            range_m: 20.0 - o.1,
            sigma_perp_m: 0.5,
            sigma_along_m: 5.0,
        };
        let (p, sigma) = intersect_ranged(&[r((0.0, 0.0)), r((0.0, 8.0))]).unwrap();
        assert!(p.0.abs() < 1e-9 && (p.1 - 20.0).abs() < 1e-9, "{p:?}");
        // Along the rays only the range priors constrain it: about 5/sqrt(2).
        assert!((sigma - 5.0 / 2f64.sqrt()).abs() < 1e-6, "{sigma}");
    }

    fn exact(o: (f64, f64), t: (f64, f64)) -> RangedRay {
        let b = (t.0 - o.0).atan2(t.1 - o.1).to_degrees();
        let range = (t.0 - o.0).hypot(t.1 - o.1);
        RangedRay {
            ray: Ray::new(o, b),
            range_m: range,
            sigma_perp_m: 0.5 + 0.07 * range,
            sigma_along_m: 1.0 + 0.3 * range,
        }
    }

    #[test]
    fn a_wild_ray_among_good_ones_is_rejected_and_does_not_move_the_point() {
        let t = (4.0, 30.0);
        let mut rays: Vec<RangedRay> = (0..6).map(|i| exact((0.0, i as f64 * 4.0), t)).collect();
        // A detection of something else 10 m off, from the middle of the drive.
        rays.insert(3, exact((0.0, 10.0), (-6.0, 33.0)));
        let plain = intersect_ranged(&rays).unwrap().0;
        let fit = intersect_robust(&rays, 3.0).unwrap();
        assert!(!fit.inliers[3], "{fit:?}");
        assert_eq!(fit.inliers.iter().filter(|&&k| k).count(), 6);
        let err = (fit.point.0 - t.0).hypot(fit.point.1 - t.1);
        let plain_err = (plain.0 - t.0).hypot(plain.1 - t.1);
        assert!(err < 1e-6, "robust error {err}");
        assert!(
            plain_err > 0.5,
            "plain least squares should suffer: {plain_err}"
        );
    }

    #[test]
    fn scattered_rays_report_a_larger_uncertainty_than_consistent_ones() {
        let t = (4.0, 30.0);
        let tight = |o: (f64, f64), p: (f64, f64)| RangedRay {
            sigma_perp_m: 0.3,
            sigma_along_m: 3.0,
            ..exact(o, p)
        };
        let good: Vec<RangedRay> = (0..6).map(|i| tight((0.0, i as f64 * 4.0), t)).collect();
        // Rays that miss by about two of their sigmas each way.
        let noisy: Vec<RangedRay> = (0..6)
            .map(|i| {
                let off = if i % 2 == 0 { 0.6 } else { -0.6 };
                tight((0.0, i as f64 * 4.0), (t.0 + off, t.1))
            })
            .collect();
        let a = intersect_robust(&good, 3.0).unwrap();
        let b = intersect_robust(&noisy, 3.0).unwrap();
        assert!(
            b.sigma_m > 1.3 * a.sigma_m,
            "{} vs {}",
            b.sigma_m,
            a.sigma_m
        );
        assert!(b.inliers.iter().all(|&k| k));
    }

    proptest! {
        #[test]
        fn exact_ranged_rays_intersect_at_the_target(
            tx in -50.0f64..50.0, ty in -50.0f64..50.0,
            origins in proptest::collection::vec((-60.0f64..60.0, -60.0f64..60.0), 1..8),
        ) {
            let rays: Vec<RangedRay> = origins.iter()
                .filter(|o| ((o.0 - tx).powi(2) + (o.1 - ty).powi(2)).sqrt() > 1.0)
                .map(|&o| {
                    let b = (tx - o.0).atan2(ty - o.1).to_degrees();
                    let range = (tx - o.0).hypot(ty - o.1);
                    RangedRay { ray: Ray::new(o, b), range_m: range, sigma_perp_m: 0.5, sigma_along_m: 0.3 * range }
                })
                .collect();
            if let Some((p, _)) = intersect_ranged(&rays) {
                prop_assert!((p.0 - tx).abs() < 1e-6 && (p.1 - ty).abs() < 1e-6, "{p:?}");
            }
        }

        #[test]
        fn exact_rays_through_robust_least_squares_return_the_target_and_keep_every_ray(
            tx in -50.0f64..50.0, ty in -50.0f64..50.0,
            origins in proptest::collection::vec((-60.0f64..60.0, -60.0f64..60.0), 1..8),
        ) {
            let rays: Vec<RangedRay> = origins.iter()
                .filter(|o| ((o.0 - tx).powi(2) + (o.1 - ty).powi(2)).sqrt() > 1.0)
                .map(|&o| exact(o, (tx, ty)))
                .collect();
            if let Some(fit) = intersect_robust(&rays, 3.0) {
                prop_assert!((fit.point.0 - tx).abs() < 1e-6 && (fit.point.1 - ty).abs() < 1e-6, "{fit:?}");
                prop_assert!(fit.inliers.iter().all(|&k| k));
            }
        }

        #[test]
        fn the_robust_point_does_not_depend_on_the_order_of_the_rays(
            pts in proptest::collection::vec((-60.0f64..60.0, -60.0f64..60.0, -2.0f64..2.0), 2..8),
        ) {
            let rays: Vec<RangedRay> = pts.iter()
                .map(|&(x, y, e)| exact((x, y), (5.0 + e, 70.0)))
                .collect();
            let mut rev = rays.clone();
            rev.reverse();
            let (a, b) = (intersect_robust(&rays, 3.0), intersect_robust(&rev, 3.0));
            prop_assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                prop_assert!((a.point.0 - b.point.0).abs() < 1e-6 && (a.point.1 - b.point.1).abs() < 1e-6);
            }
        }

        #[test]
        fn exact_rays_intersect_at_the_target(
            tx in -50.0f64..50.0, ty in -50.0f64..50.0,
            origins in proptest::collection::vec((-60.0f64..60.0, -60.0f64..60.0), 2..8),
        ) {
            let rays: Vec<Ray> = origins.iter()
                .filter(|o| ((o.0 - tx).powi(2) + (o.1 - ty).powi(2)).sqrt() > 1.0)
                .map(|&o| {
                    let b = (tx - o.0).atan2(ty - o.1).to_degrees();
                    Ray::new(o, b)
                })
                .collect();
            if let Some(p) = intersect(&rays) {
                prop_assert!((p.0 - tx).abs() < 1e-6 && (p.1 - ty).abs() < 1e-6, "{p:?}");
            }
        }
    }
}
