//! Per-cell coverage: which contributor covered which H3 cell, when, and how.

use std::collections::BTreeMap;

use streetcomb_core::{CellId, ContributorId, CoverageCell, Frame};

/// Coverage rows, one per cell × contributor × day, from the kept frames. `res` is the
/// coverage resolution (the frames' own cell is used when it is already at `res`).
pub fn coverage(frames: &[Frame], res: u8) -> Vec<CoverageCell> {
    struct Acc {
        last: chrono::DateTime<chrono::Utc>,
        n: u32,
        sx: f64,
        sy: f64,
    }
    let mut acc: BTreeMap<(CellId, ContributorId, chrono::NaiveDate), Acc> = BTreeMap::new();
    for f in frames {
        let cell = if f.cell.resolution() == res {
            Some(f.cell)
        } else if f.cell.resolution() > res {
            f.cell.parent(res)
        } else {
            CellId::from_latlon(f.pos, res).ok()
        };
        let Some(cell) = cell else { continue };
        let h = f.heading_deg.to_radians();
        let e = acc
            .entry((cell, f.contributor.clone(), f.captured_at.date_naive()))
            .or_insert(Acc {
                last: f.captured_at,
                n: 0,
                sx: 0.0,
                sy: 0.0,
            });
        e.last = e.last.max(f.captured_at);
        e.n += 1;
        e.sx += h.sin();
        e.sy += h.cos();
    }
    acc.into_iter()
        .map(|((cell, contributor, day), a)| CoverageCell {
            cell,
            contributor,
            day,
            last_covered_at: a.last,
            n_frames: a.n,
            heading_deg: streetcomb_core::geodesy::normalize_deg(a.sx.atan2(a.sy).to_degrees()),
        })
        .collect()
}
