//! Clipping to the buffered tile and snapping to the integer tile grid.
//!
//! Clipping happens in floating-point tile units before rounding so that shapes cut
//! by the tile edge end exactly on the buffer line. Snapping then removes points
//! that collapse onto each other, and rings are re-wound so that exteriors have a
//! positive surveyor's-formula area in tile coordinates (clockwise on screen, y down),
//! as MVT 2.1 §4.3.4.4 requires.

use geo::{Coord, LineString, Simplify};

/// A point in tile units.
pub(crate) type TilePoint = [i32; 2];

/// Douglas-Peucker simplification of a line at `tolerance` (in the line's units).
pub(crate) fn simplify_line(line: &[[f64; 2]], tolerance: f64) -> Vec<[f64; 2]> {
    let ls: LineString<f64> = line.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
    ls.simplify(tolerance)
        .coords()
        .map(|c| [c.x, c.y])
        .collect()
}

/// Sutherland–Hodgman clipping of a ring (not closed) to the square `[lo, hi]²`.
/// Exact for convex rings such as H3 cells; an empty result means no overlap.
pub(crate) fn clip_ring(ring: &[[f64; 2]], lo: f64, hi: f64) -> Vec<[f64; 2]> {
    let mut out = ring.to_vec();
    for (axis, bound, keep_above) in [(0, lo, true), (0, hi, false), (1, lo, true), (1, hi, false)]
    {
        let input = std::mem::take(&mut out);
        let Some(&last) = input.last() else {
            break;
        };
        let inside = |p: [f64; 2]| {
            if keep_above {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        let mut prev = last;
        for &cur in &input {
            match (inside(prev), inside(cur)) {
                (true, true) => out.push(cur),
                (false, true) => {
                    out.push(cross_at(prev, cur, axis, bound));
                    out.push(cur);
                }
                (true, false) => out.push(cross_at(prev, cur, axis, bound)),
                (false, false) => {}
            }
            prev = cur;
        }
    }
    out
}

/// Where segment `a–b` crosses `p[axis] == bound` (the caller knows it does).
fn cross_at(a: [f64; 2], b: [f64; 2], axis: usize, bound: f64) -> [f64; 2] {
    let t = (bound - a[axis]) / (b[axis] - a[axis]);
    let mut p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
    p[axis] = bound;
    p
}

/// Clips a line to the square `[lo, hi]²`; each time it leaves and re-enters, a new
/// piece starts.
pub(crate) fn clip_line(line: &[[f64; 2]], lo: f64, hi: f64) -> Vec<Vec<[f64; 2]>> {
    let mut pieces = Vec::new();
    let mut cur: Vec<[f64; 2]> = Vec::new();
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        match clip_segment(a, b, lo, hi) {
            Some((t0, t1)) => {
                let at = |t: f64| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
                if t0 > 0.0 {
                    // Entering from outside: whatever came before is a finished piece.
                    if !cur.is_empty() {
                        pieces.push(std::mem::take(&mut cur));
                    }
                    cur.push(at(t0));
                } else if cur.is_empty() {
                    cur.push(a);
                }
                if t1 < 1.0 {
                    cur.push(at(t1));
                    pieces.push(std::mem::take(&mut cur));
                } else {
                    cur.push(b);
                }
            }
            None => {
                if !cur.is_empty() {
                    pieces.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

/// Liang–Barsky: the parameter range `[t0, t1]` of segment `a–b` inside `[lo, hi]²`.
fn clip_segment(a: [f64; 2], b: [f64; 2], lo: f64, hi: f64) -> Option<(f64, f64)> {
    let d = [b[0] - a[0], b[1] - a[1]];
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for axis in 0..2 {
        for (p, q) in [(-d[axis], a[axis] - lo), (d[axis], hi - a[axis])] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    if r > t1 {
                        return None;
                    }
                    t0 = t0.max(r);
                } else {
                    if r < t0 {
                        return None;
                    }
                    t1 = t1.min(r);
                }
            }
        }
    }
    Some((t0, t1))
}

/// Rounds to the tile grid. Tile units stay far inside `i32` after clipping.
pub(crate) fn snap(p: [f64; 2]) -> TilePoint {
    [p[0].round() as i32, p[1].round() as i32]
}

fn cross(o: TilePoint, a: TilePoint, b: TilePoint) -> i64 {
    let (ax, ay) = (i64::from(a[0] - o[0]), i64::from(a[1] - o[1]));
    let (bx, by) = (i64::from(b[0] - o[0]), i64::from(b[1] - o[1]));
    ax * by - ay * bx
}

/// Twice the signed area by the surveyor's formula; positive means clockwise on
/// screen in tile coordinates (y down), i.e. an MVT exterior ring.
pub(crate) fn ring_area2(ring: &[TilePoint]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1])
        })
        .sum()
}

/// Snaps a clipped ring to the grid, drops repeated and collinear points (which also
/// removes zero-width spikes), and winds it as an exterior. `None` when nothing with
/// area is left — a cell smaller than a tile unit.
pub(crate) fn snap_ring(ring: &[[f64; 2]]) -> Option<Vec<TilePoint>> {
    let mut out: Vec<TilePoint> = Vec::with_capacity(ring.len());
    for p in ring.iter().copied().map(snap) {
        while out.len() >= 2 && cross(out[out.len() - 2], out[out.len() - 1], p) == 0 {
            out.pop();
        }
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    // The same clean-up across the seam between the last and the first point.
    while out.len() >= 3 {
        let n = out.len();
        if out[n - 1] == out[0] || cross(out[n - 2], out[n - 1], out[0]) == 0 {
            out.pop();
        } else if cross(out[n - 1], out[0], out[1]) == 0 {
            out.remove(0);
        } else {
            break;
        }
    }
    if out.len() < 3 {
        return None;
    }
    match ring_area2(&out) {
        0 => None,
        a if a < 0 => {
            out.reverse();
            Some(out)
        }
        _ => Some(out),
    }
}

/// Snaps a clipped line to the grid and drops repeated points; `None` when fewer than
/// two distinct points remain.
pub(crate) fn snap_line(line: &[[f64; 2]]) -> Option<Vec<TilePoint>> {
    let mut out: Vec<TilePoint> = Vec::with_capacity(line.len());
    for p in line.iter().copied().map(snap) {
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    (out.len() >= 2).then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_ring_inside_the_box_is_unchanged_and_one_outside_vanishes() {
        let ring = [[10.0, 10.0], [20.0, 10.0], [20.0, 20.0]];
        assert_eq!(clip_ring(&ring, 0.0, 100.0), ring.to_vec());
        let away = [[200.0, 10.0], [220.0, 10.0], [220.0, 20.0]];
        assert!(clip_ring(&away, 0.0, 100.0).is_empty());
    }

    #[test]
    fn a_square_over_the_corner_is_cut_to_the_box() {
        let ring = [[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]];
        let clipped = clip_ring(&ring, 0.0, 100.0);
        let snapped = snap_ring(&clipped).unwrap();
        assert_eq!(ring_area2(&snapped), 200);
        assert!(snapped.iter().all(|p| p[0] >= 0 && p[1] >= 0));
    }

    #[test]
    fn counter_clockwise_rings_are_rewound_and_slivers_dropped() {
        // Counter-clockwise on screen (negative surveyor's area with y down).
        let ccw = [[0.0, 0.0], [0.0, 10.0], [10.0, 10.0], [10.0, 0.0]];
        let r = snap_ring(&ccw).unwrap();
        assert!(ring_area2(&r) > 0);
        assert_eq!(r.len(), 4);
        let sliver = [[0.1, 0.1], [0.2, 0.3], [0.4, 0.2]];
        assert!(snap_ring(&sliver).is_none());
        let collinear = [[0.0, 0.0], [5.0, 0.0], [10.0, 0.0], [10.0, 10.0]];
        assert_eq!(snap_ring(&collinear).unwrap().len(), 3);
    }

    #[test]
    fn a_line_leaving_and_reentering_the_box_becomes_two_pieces() {
        let line = [[10.0, 50.0], [150.0, 50.0], [150.0, 60.0], [50.0, 60.0]];
        let pieces = clip_line(&line, 0.0, 100.0);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0], vec![[10.0, 50.0], [100.0, 50.0]]);
        assert_eq!(pieces[1], vec![[100.0, 60.0], [50.0, 60.0]]);
        let through = [[-50.0, -50.0], [150.0, 150.0]];
        assert_eq!(
            clip_line(&through, 0.0, 100.0),
            vec![vec![[0.0, 0.0], [100.0, 100.0]]]
        );
        assert!(clip_line(&[[200.0, 0.0], [300.0, 0.0]], 0.0, 100.0).is_empty());
    }

    #[test]
    fn lines_shorter_than_a_tile_unit_are_dropped() {
        assert!(snap_line(&[[1.1, 1.1], [1.2, 1.3]]).is_none());
        assert_eq!(
            snap_line(&[[1.0, 1.0], [1.2, 1.0], [3.0, 1.0]]).unwrap(),
            vec![[1, 1], [3, 1]]
        );
    }
}
