//! Plane geometry on local metres (a `LocalFrame`'s east/north): distances and the
//! closest point on a road segment. Neighbour searches go through
//! `streetcomb_core::spatial::SpatialIndex`.

/// Planar distance between two local points.
pub(crate) fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// The closest point to `p` on segment `a..b` and its parameter `t` in [0, 1].
pub(crate) fn closest_on_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> ([f64; 2], f64) {
    let d = [b[0] - a[0], b[1] - a[1]];
    let len2 = d[0] * d[0] + d[1] * d[1];
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ([a[0] + t * d[0], a[1] + t * d[1]], t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_point_on_a_segment_is_clamped_to_its_ends() {
        let (q, t) = closest_on_segment([5.0, 3.0], [0.0, 0.0], [10.0, 0.0]);
        assert_eq!((q, t), ([5.0, 0.0], 0.5));
        let (q, t) = closest_on_segment([-5.0, 3.0], [0.0, 0.0], [10.0, 0.0]);
        assert_eq!((q, t), ([0.0, 0.0], 0.0));
        assert!((dist([0.0, 0.0], [3.0, 4.0]) - 5.0).abs() < 1e-12);
    }
}
