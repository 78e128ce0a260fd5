//! Per-cell coverage: which contributor covered which H3 cell, when, and how, and
//! how many kilometres of distinct road each contributor drove in an epoch.
//!
//! The default resolution is H3 res 11 ([`streetcomb_core::cell::DEFAULT_RESOLUTION`]):
//! cells of ~2 150 m² with ~25 m edges. That is about one road's width plus its
//! sidewalks, so parallel streets one block apart (≥ 60 m in Helsinki's centre) never
//! share a cell, while a car at 8 m/s with a frame every 4 m still drops ~6 frames in
//! each cell it crosses; consumer GPS error (σ ≈ 3 m) moves a frame into the
//! neighbouring cell only near edges. Res 10 (~66 m edges) would merge a junction's
//! four approaches into one cell; res 12 (~9 m edges) is finer than GPS error, so one
//! drive would speckle cells on both sides of its own lane.

use std::collections::BTreeMap;

use streetcomb_core::{CellId, ContributorId, CoverageCell, Epoch, Frame};

/// Two passes through a cell belong to one direction of travel when their headings
/// differ by at most this, degrees: a street that bends inside a cell stays one
/// direction, the opposite carriageway (180°) and a crossing street (90°) do not.
pub const SAME_DIRECTION_DEG: f64 = 60.0;

/// Coverage rows, one per cell × contributor × day × direction of travel, from the
/// kept frames. `res` is the coverage resolution (the frames' own cell is used when it
/// is already at `res`). Directions are kept apart because imagery of one side of a
/// street says little about the other (signs face their approach): a cell driven
/// northbound and southbound has two rows, each with its own mean heading, frame
/// count and last-covered time. Frames are taken in time order, each joining the
/// first direction of its cell within [`SAME_DIRECTION_DEG`] of its heading, so the
/// result does not depend on the input's order.
pub fn coverage(frames: &[Frame], res: u8) -> Vec<CoverageCell> {
    struct Dir {
        last: chrono::DateTime<chrono::Utc>,
        n: u32,
        sx: f64,
        sy: f64,
    }
    impl Dir {
        fn heading(&self) -> f64 {
            streetcomb_core::geodesy::normalize_deg(self.sx.atan2(self.sy).to_degrees())
        }
    }
    let mut sorted: Vec<&Frame> = frames.iter().collect();
    sorted.sort_by(|a, b| {
        a.captured_at
            .cmp(&b.captured_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut acc: BTreeMap<(CellId, ContributorId, chrono::NaiveDate), Vec<Dir>> = BTreeMap::new();
    for f in sorted {
        let cell = if f.cell.resolution() == res {
            Some(f.cell)
        } else if f.cell.resolution() > res {
            f.cell.parent(res)
        } else {
            CellId::from_latlon(f.pos, res).ok()
        };
        let Some(cell) = cell else { continue };
        let dirs = acc
            .entry((cell, f.contributor.clone(), f.captured_at.date_naive()))
            .or_default();
        let same = dirs.iter().position(|d| {
            streetcomb_core::geodesy::angle_diff_deg(d.heading(), f.heading_deg).abs()
                <= SAME_DIRECTION_DEG
        });
        let d = match same {
            Some(i) => &mut dirs[i],
            None => {
                dirs.push(Dir {
                    last: f.captured_at,
                    n: 0,
                    sx: 0.0,
                    sy: 0.0,
                });
                dirs.last_mut().expect("just pushed")
            }
        };
        let h = f.heading_deg.to_radians();
        d.last = d.last.max(f.captured_at);
        d.n += 1;
        d.sx += h.sin();
        d.sy += h.cos();
    }
    acc.into_iter()
        .flat_map(|((cell, contributor, day), dirs)| {
            dirs.into_iter().map(move |d| CoverageCell {
                cell,
                contributor: contributor.clone(),
                day,
                last_covered_at: d.last,
                n_frames: d.n,
                heading_deg: d.heading(),
            })
        })
        .collect()
}

/// Kilometres of distinct road one contributor drove in one epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UniqueKm {
    pub contributor: ContributorId,
    pub epoch: Epoch,
    pub km: f64,
    /// Distinct cells (at the resolution asked for) driven through.
    pub cells: u32,
}

/// Consecutive frames of a drive further apart than this in time (s) or space (m)
/// are not joined: the road between them was not seen.
const MAX_GAP_S: i64 = 30;
const MAX_GAP_M: f64 = 100.0;

/// Unique kilometres per contributor and epoch: the path between consecutive frames
/// of a drive is credited to the cell (at `res`) of its midpoint, and each cell counts
/// once per contributor and epoch with the longest path any of their drives took
/// through it. Driving a street twice, or both ways, adds nothing.
pub fn unique_km(frames: &[Frame], res: u8) -> Vec<UniqueKm> {
    let mut drives: BTreeMap<&str, Vec<&Frame>> = BTreeMap::new();
    for f in frames {
        drives.entry(f.drive_id.as_str()).or_default().push(f);
    }
    // (contributor, epoch, cell) -> drive -> metres
    let mut per_cell: BTreeMap<(ContributorId, Epoch, CellId), BTreeMap<&str, f64>> =
        BTreeMap::new();
    for (drive, mut fs) in drives {
        fs.sort_by(|a, b| a.captured_at.cmp(&b.captured_at).then(a.id.cmp(&b.id)));
        for w in fs.windows(2) {
            let (a, b) = (w[0], w[1]);
            let d = a.pos.distance_m(b.pos);
            if (b.captured_at - a.captured_at).num_seconds() > MAX_GAP_S || d > MAX_GAP_M {
                continue;
            }
            let Ok(cell) = CellId::from_latlon(a.pos.lerp(b.pos, 0.5), res) else {
                continue;
            };
            let key = (a.contributor.clone(), Epoch::of(a.captured_at), cell);
            *per_cell.entry(key).or_default().entry(drive).or_default() += d;
        }
    }
    let mut out: BTreeMap<(ContributorId, Epoch), (f64, u32)> = BTreeMap::new();
    for ((c, e, _), by_drive) in per_cell {
        let m = by_drive.values().copied().fold(0.0, f64::max);
        let acc = out.entry((c, e)).or_default();
        acc.0 += m;
        acc.1 += 1;
    }
    out.into_iter()
        .map(|((contributor, epoch), (m, cells))| UniqueKm {
            contributor,
            epoch,
            km: m / 1000.0,
            cells,
        })
        .collect()
}
