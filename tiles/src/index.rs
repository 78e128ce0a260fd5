//! The R-tree entries that let one tile request touch only the data under it.

use rstar::{AABB, RTree, RTreeObject};

/// An item (by its position in a `Vec`) and its bounding box in world coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    pub idx: usize,
    env: AABB<[f64; 2]>,
}

impl Entry {
    pub(crate) fn point(idx: usize, p: [f64; 2]) -> Self {
        Self {
            idx,
            env: AABB::from_point(p),
        }
    }

    /// The box around `pts`; `None` for no points.
    pub(crate) fn around(idx: usize, pts: &[[f64; 2]]) -> Option<Self> {
        let first = *pts.first()?;
        let (mut lo, mut hi) = (first, first);
        for p in pts {
            lo = [lo[0].min(p[0]), lo[1].min(p[1])];
            hi = [hi[0].max(p[0]), hi[1].max(p[1])];
        }
        Some(Self {
            idx,
            env: AABB::from_corners(lo, hi),
        })
    }
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.env
    }
}

/// Indices of the entries whose box meets `[lo, hi]`, ascending — the order makes
/// tiles independent of the tree's internal layout.
pub(crate) fn query(tree: &RTree<Entry>, lo: [f64; 2], hi: [f64; 2]) -> Vec<usize> {
    let mut out: Vec<usize> = tree
        .locate_in_envelope_intersecting(&AABB::from_corners(lo, hi))
        .map(|e| e.idx)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_query_returns_only_the_boxes_it_meets_in_index_order() {
        let entries = vec![
            Entry::point(2, [0.5, 0.5]),
            Entry::around(0, &[[0.1, 0.1], [0.2, 0.3]]).unwrap(),
            Entry::point(1, [0.9, 0.9]),
        ];
        let tree = RTree::bulk_load(entries);
        assert_eq!(query(&tree, [0.0, 0.0], [0.6, 0.6]), vec![0, 2]);
        assert_eq!(query(&tree, [0.15, 0.25], [0.16, 0.26]), vec![0]);
        assert!(query(&tree, [0.6, 0.0], [0.7, 0.1]).is_empty());
        assert!(Entry::around(3, &[]).is_none());
    }
}
