//! A uniform grid over local metric coordinates: the spatial index behind mapbuild's
//! neighbour searches, so a lookup touches a few cells instead of every point.

use std::collections::HashMap;

/// Point ids bucketed by grid cell of `cell_m` metres.
pub(crate) struct Grid {
    cell_m: f64,
    cells: HashMap<(i64, i64), Vec<usize>>,
}

impl Grid {
    /// The grid of `points` (local metres), each known by its position in the input.
    pub(crate) fn of_points(points: &[(f64, f64)], cell_m: f64) -> Self {
        Self::of_ids(points.iter().copied().enumerate(), cell_m)
    }

    /// The grid of some points, each known by the id given with it.
    pub(crate) fn of_ids(
        points: impl IntoIterator<Item = (usize, (f64, f64))>,
        cell_m: f64,
    ) -> Self {
        let mut grid = Self {
            cell_m,
            cells: HashMap::new(),
        };
        for (i, p) in points {
            grid.cells.entry(grid.cell(p)).or_default().push(i);
        }
        grid
    }

    fn cell(&self, p: (f64, f64)) -> (i64, i64) {
        (
            (p.0 / self.cell_m).floor() as i64,
            (p.1 / self.cell_m).floor() as i64,
        )
    }

    /// Ids in the 3×3 cells around `p`: every point within `cell_m` of it, and some
    /// further ones (callers check the distance). Columns west to east, rows south to
    /// north, ids in input order within a cell.
    pub(crate) fn near(&self, p: (f64, f64)) -> Vec<usize> {
        self.around(p, 1)
    }

    /// Ids in the (2 `reach` + 1)² cells around `p`: every point within `reach` cells.
    pub(crate) fn around(&self, p: (f64, f64), reach: i64) -> Vec<usize> {
        let (cx, cy) = self.cell(p);
        let mut v = Vec::new();
        for gx in cx - reach..=cx + reach {
            for gy in cy - reach..=cy + reach {
                v.extend(self.cells.get(&(gx, gy)).into_iter().flatten().copied());
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_finds_every_point_within_one_cell_and_none_three_cells_away() {
        let points = [
            (0.0, 0.0),
            (9.9, -9.9),
            (-10.0, 5.0),
            (35.0, 0.0),
            (0.0, -31.0),
        ];
        let grid = Grid::of_points(&points, 10.0);
        let mut found = grid.near((0.5, 0.5));
        found.sort_unstable();
        assert_eq!(found, vec![0, 1, 2]);
    }

    #[test]
    fn around_reaches_further_and_of_ids_keeps_the_given_ids() {
        let grid = Grid::of_ids([(7, (0.0, 0.0)), (3, (25.0, 0.0)), (9, (45.0, 0.0))], 10.0);
        let mut found = grid.around((0.5, 0.5), 2);
        found.sort_unstable();
        assert_eq!(found, vec![3, 7]);
        assert_eq!(grid.near((0.5, 0.5)), vec![7]);
    }
}
