//! A uniform grid over local metres: the spatial index behind "which road segments
//! or features are near this point" (an R-tree would be overkill for city extracts).

use std::collections::HashMap;

/// Buckets of item indices per square cell of `cell_m` metres.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    cell_m: f64,
    cells: HashMap<(i64, i64), Vec<u32>>,
}

impl Grid {
    pub(crate) fn new(cell_m: f64) -> Self {
        Self {
            cell_m,
            cells: HashMap::new(),
        }
    }

    fn key(&self, v: f64) -> i64 {
        (v / self.cell_m).floor() as i64
    }

    /// Adds item `id` to every cell that the box `min..=max` touches.
    pub(crate) fn insert_box(&mut self, min: [f64; 2], max: [f64; 2], id: u32) {
        for cx in self.key(min[0])..=self.key(max[0]) {
            for cy in self.key(min[1])..=self.key(max[1]) {
                self.cells.entry((cx, cy)).or_default().push(id);
            }
        }
    }

    pub(crate) fn insert_point(&mut self, p: [f64; 2], id: u32) {
        self.insert_box(p, p, id);
    }

    /// Items in the cells overlapping the square of half-size `radius` around `p`.
    /// An item spanning several cells may appear more than once; callers filter by
    /// exact distance anyway.
    pub(crate) fn near(&self, p: [f64; 2], radius: f64) -> Vec<u32> {
        let mut out = Vec::new();
        for cx in self.key(p[0] - radius)..=self.key(p[0] + radius) {
            for cy in self.key(p[1] - radius)..=self.key(p[1] + radius) {
                if let Some(ids) = self.cells.get(&(cx, cy)) {
                    out.extend_from_slice(ids);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

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
    fn a_grid_finds_items_in_neighbouring_cells_but_not_far_ones() {
        let mut g = Grid::new(10.0);
        g.insert_point([5.0, 5.0], 1);
        g.insert_point([14.0, 5.0], 2);
        g.insert_box([-100.0, 0.0], [100.0, 1.0], 3);
        g.insert_point([500.0, 500.0], 4);
        let near = g.near([9.0, 4.0], 6.0);
        assert_eq!(near, vec![1, 2, 3]);
    }

    #[test]
    fn the_closest_point_on_a_segment_is_clamped_to_its_ends() {
        let (q, t) = closest_on_segment([5.0, 3.0], [0.0, 0.0], [10.0, 0.0]);
        assert_eq!((q, t), ([5.0, 0.0], 0.5));
        let (q, t) = closest_on_segment([-5.0, 3.0], [0.0, 0.0], [10.0, 0.0]);
        assert_eq!((q, t), ([0.0, 0.0], 0.0));
        assert!((dist([0.0, 0.0], [3.0, 4.0]) - 5.0).abs() < 1e-12);
    }
}
