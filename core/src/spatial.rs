//! The spatial index behind every "what is near this point" question on local metric
//! coordinates (a [`crate::LocalFrame`]'s east/north metres): an R-tree (`rstar`) of
//! points or boxes, each known by an id the caller chose (usually its index in a
//! slice).
//!
//! A query returns the ids whose box meets a square around the point, in ascending
//! order and each once: a superset of the items within that distance, so callers keep
//! their own exact test (a circle, a ray, a segment distance), and a result that does
//! not depend on how the tree happens to be built.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

type Item = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// Points or boxes in local metres, each with an id.
#[derive(Debug, Clone, Default)]
pub struct SpatialIndex {
    tree: RTree<Item>,
}

impl SpatialIndex {
    /// The index of `points`, each known by its position in the slice.
    pub fn of_points<P: Copy + Into<[f64; 2]>>(points: &[P]) -> Self {
        Self::of_ids(points.iter().copied().enumerate())
    }

    /// The index of some points, each known by the id given with it.
    pub fn of_ids<P: Into<[f64; 2]>>(points: impl IntoIterator<Item = (usize, P)>) -> Self {
        Self::of_boxes(points.into_iter().map(|(id, p)| {
            let p = p.into();
            (id, p, p)
        }))
    }

    /// The index of some boxes, each given by its id and two opposite corners.
    pub fn of_boxes(boxes: impl IntoIterator<Item = (usize, [f64; 2], [f64; 2])>) -> Self {
        let items = boxes
            .into_iter()
            .filter_map(|(id, a, b)| item(id, a, b))
            .collect();
        Self {
            tree: RTree::bulk_load(items),
        }
    }

    /// Adds the point `p` as `id`.
    pub fn insert_point(&mut self, id: usize, p: impl Into<[f64; 2]>) {
        let p = p.into();
        if let Some(it) = item(id, p, p) {
            self.tree.insert(it);
        }
    }

    /// The ids whose point or box meets the square of half-side `radius` centred on
    /// `p` (edges included): every item within `radius` of `p`, and some in the
    /// square's corners. Ascending, each id once.
    pub fn near(&self, p: impl Into<[f64; 2]>, radius: f64) -> Vec<usize> {
        let [x, y] = p.into();
        let square = AABB::from_corners([x - radius, y - radius], [x + radius, y + radius]);
        let mut ids: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&square)
            .map(|it| it.data)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// An indexable item; `None` for a box with a coordinate that is not finite (such an
/// item has no place, so no query finds it).
fn item(id: usize, a: [f64; 2], b: [f64; 2]) -> Option<Item> {
    a.iter()
        .chain(&b)
        .all(|v| v.is_finite())
        .then(|| GeomWithData::new(Rectangle::from_corners(a, b), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_finds_the_points_in_the_square_and_none_further() {
        let points = [
            (0.0, 0.0),
            (9.9, -9.9),
            (-10.0, 5.0),
            (35.0, 0.0),
            (0.0, -31.0),
        ];
        let index = SpatialIndex::of_points(&points);
        assert_eq!(index.near((0.0, 0.0), 10.0), vec![0, 1, 2]);
        assert_eq!(index.near((0.0, 0.0), 35.0), vec![0, 1, 2, 3, 4]);
        assert!(index.near((500.0, 0.0), 10.0).is_empty());
    }

    #[test]
    fn of_ids_keeps_the_given_ids_and_results_come_in_ascending_order() {
        let index = SpatialIndex::of_ids([(7, [0.0, 0.0]), (3, [25.0, 0.0]), (9, [45.0, 0.0])]);
        assert_eq!(index.near([0.5, 0.5], 30.0), vec![3, 7]);
        assert_eq!(index.near([0.5, 0.5], 10.0), vec![7]);
    }

    #[test]
    fn a_box_is_found_from_anywhere_along_it_once_and_inserted_points_too() {
        let mut index = SpatialIndex::of_boxes([(3, [-100.0, 0.0], [100.0, 1.0])]);
        index.insert_point(1, [5.0, 5.0]);
        index.insert_point(2, [14.0, 5.0]);
        index.insert_point(4, [500.0, 500.0]);
        assert_eq!(index.near([9.0, 4.0], 6.0), vec![1, 2, 3]);
        assert_eq!(index.near([-90.0, 3.0], 6.0), vec![3]);
    }

    #[test]
    fn items_without_a_finite_position_are_never_found() {
        let index = SpatialIndex::of_points(&[(f64::NAN, 0.0), (0.0, 0.0)]);
        assert_eq!(index.near((0.0, 0.0), f64::MAX), vec![1]);
    }
}
