//! Web Mercator (EPSG:3857) and the XYZ tile grid.
//!
//! Positions are projected once to "world" coordinates in `[0, 1]²` (x east, y south,
//! as in the tile grid), so a tile `z/x/y` is simply the square
//! `[x, x+1] × [y, y+1] / 2^z` and tile units are an affine map away.

use std::f64::consts::PI;

use streetcomb_core::LatLon;

use crate::{BUFFER, EXTENT, MAX_ZOOM};

/// The latitude at which Web Mercator becomes a square (atan(sinh(π))).
pub(crate) const MAX_LAT: f64 = 85.051_128_779_806_59;

/// Slack (in tiles, far below one tile unit) when deciding which tiles a box touches,
/// so that a tile's own bounds, after the round trip through degrees, do not spill
/// into its neighbours.
const EDGE_EPS: f64 = 1e-6;

pub(crate) fn lon_to_x(lon: f64) -> f64 {
    (lon + 180.0) / 360.0
}

pub(crate) fn lat_to_y(lat: f64) -> f64 {
    let phi = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / PI) / 2.0
}

pub(crate) fn x_to_lon(x: f64) -> f64 {
    x * 360.0 - 180.0
}

pub(crate) fn y_to_lat(y: f64) -> f64 {
    (PI * (1.0 - 2.0 * y)).sinh().atan().to_degrees()
}

/// World coordinates of a position.
pub(crate) fn project(p: LatLon) -> [f64; 2] {
    [lon_to_x(p.lon()), lat_to_y(p.lat())]
}

/// The lon/lat box `[west, south, east, north]` of Web Mercator tile `z/x/y`.
///
/// Coordinates outside the grid are extrapolated rather than rejected, so callers
/// that need validation should go through [`crate::TileSource::tile`].
pub fn tile_bounds(z: u8, x: u32, y: u32) -> [f64; 4] {
    let n = 2f64.powi(i32::from(z));
    let (x, y) = (f64::from(x), f64::from(y));
    [
        x_to_lon(x / n),
        y_to_lat((y + 1.0) / n),
        x_to_lon((x + 1.0) / n),
        y_to_lat(y / n),
    ]
}

/// Refuses a tile address that does not exist: a zoom above [`MAX_ZOOM`], or `x` or
/// `y` outside the `2^z` grid.
pub(crate) fn check_tile(z: u8, x: u32, y: u32) -> Result<(), crate::TileError> {
    if z > MAX_ZOOM {
        return Err(crate::TileError::ZoomTooHigh { z, max: MAX_ZOOM });
    }
    let size = 1u64 << z;
    if u64::from(x) >= size || u64::from(y) >= size {
        return Err(crate::TileError::OutOfRange { z, x, y, size });
    }
    Ok(())
}

/// The tiles `(x, y)` at zoom `z` that a lon/lat box `[west, south, east, north]`
/// touches, column by column. A box with `west > east` crosses the antimeridian.
/// Latitudes are clamped to the Mercator square; a zoom above [`MAX_ZOOM`] yields
/// nothing.
pub fn tiles_covering(bbox: [f64; 4], z: u8) -> impl Iterator<Item = (u32, u32)> {
    let [west, south, east, north] = bbox;
    let mut columns: Vec<(u32, u32)> = Vec::new();
    let mut rows = (0, 0);
    if z <= MAX_ZOOM {
        let n = 1u64 << z;
        let nf = n as f64;
        let xw = lon_to_x(west.clamp(-180.0, 180.0)) * nf;
        let xe = lon_to_x(east.clamp(-180.0, 180.0)) * nf;
        if west <= east {
            columns.push(index_span(xw, xe, n));
        } else {
            columns.push(index_span(xw, nf, n));
            columns.push(index_span(0.0, xe, n));
        }
        rows = index_span(lat_to_y(north) * nf, lat_to_y(south) * nf, n);
    }
    let (y0, y1) = rows;
    columns
        .into_iter()
        .flat_map(move |(x0, x1)| (x0..=x1).flat_map(move |x| (y0..=y1).map(move |y| (x, y))))
}

/// Indices of the tiles spanned by `[lo, hi]` (in tiles), clamped to `0..n`.
fn index_span(lo: f64, hi: f64, n: u64) -> (u32, u32) {
    let max = (n - 1) as f64;
    let a = (lo + EDGE_EPS).floor().clamp(0.0, max);
    let b = ((hi - EDGE_EPS).ceil() - 1.0).clamp(0.0, max).max(a);
    // Both are whole numbers in 0..2^22 after the clamps, so the casts are exact.
    (a as u32, b as u32)
}

/// Maps world coordinates into one tile's units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileTransform {
    scale: f64,
    ox: f64,
    oy: f64,
    n: f64,
    x: f64,
    y: f64,
}

impl TileTransform {
    pub(crate) fn new(z: u8, x: u32, y: u32) -> Self {
        let n = 2f64.powi(i32::from(z));
        let extent = f64::from(EXTENT);
        let (x, y) = (f64::from(x), f64::from(y));
        Self {
            scale: n * extent,
            ox: x * extent,
            oy: y * extent,
            n,
            x,
            y,
        }
    }

    /// A world point in (unrounded) tile units.
    pub(crate) fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [p[0] * self.scale - self.ox, p[1] * self.scale - self.oy]
    }

    /// The buffered tile in world coordinates: `[min, max]` corners.
    pub(crate) fn buffered_world_box(&self) -> ([f64; 2], [f64; 2]) {
        let b = f64::from(BUFFER) / f64::from(EXTENT);
        (
            [(self.x - b) / self.n, (self.y - b) / self.n],
            [(self.x + 1.0 + b) / self.n, (self.y + 1.0 + b) / self.n],
        )
    }
}

/// The buffered tile in tile units: geometry is clipped to `[lo, hi]` on both axes.
pub(crate) fn clip_limits() -> (f64, f64) {
    let b = f64::from(BUFFER);
    (-b, f64::from(EXTENT) + b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn projection_round_trips_through_world_coordinates() {
        for (lat, lon) in [
            (60.1699, 24.9384),
            (-33.9, 151.2),
            (0.0, 0.0),
            (85.0, -179.9),
        ] {
            let p = project(LatLon::new(lat, lon).unwrap());
            assert!((y_to_lat(p[1]) - lat).abs() < 1e-9, "{lat}");
            assert!((x_to_lon(p[0]) - lon).abs() < 1e-9, "{lon}");
        }
        assert!((lat_to_y(MAX_LAT)).abs() < 1e-12);
        assert!((lat_to_y(90.0)).abs() < 1e-12, "poles are clamped");
    }

    #[test]
    fn the_tiles_covering_a_tiles_own_bounds_are_just_that_tile() {
        for (z, x, y) in [
            (0, 0, 0),
            (10, 582, 296),
            (16, 37_310, 18_957),
            (22, 1, 4_000_000),
        ] {
            let got: Vec<_> = tiles_covering(tile_bounds(z, x, y), z).collect();
            assert_eq!(got, vec![(x, y)], "{z}/{x}/{y}");
        }
    }

    #[test]
    fn a_box_crossing_the_antimeridian_covers_both_edges_of_the_map() {
        let got: Vec<_> = tiles_covering([170.0, -10.0, -170.0, 10.0], 2).collect();
        assert_eq!(got, vec![(3, 1), (3, 2), (0, 1), (0, 2)]);
        assert_eq!(tiles_covering([0.0, 0.0, 1.0, 1.0], 23).count(), 0);
    }

    #[test]
    fn the_transform_puts_a_tiles_corners_at_zero_and_the_extent() {
        let t = TileTransform::new(3, 4, 2);
        let a = t.apply([4.0 / 8.0, 2.0 / 8.0]);
        let b = t.apply([5.0 / 8.0, 3.0 / 8.0]);
        assert!(a[0].abs() < 1e-9 && a[1].abs() < 1e-9);
        assert!((b[0] - 4096.0).abs() < 1e-9 && (b[1] - 4096.0).abs() < 1e-9);
        let (lo, hi) = t.buffered_world_box();
        assert!((t.apply(lo)[0] + 64.0).abs() < 1e-9);
        assert!((t.apply(hi)[1] - 4160.0).abs() < 1e-9);
    }
}
