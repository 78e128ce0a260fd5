//! Rewards at scale: one epoch over 10⁵, 10⁶ or 10⁷ frames (cells: a tenth of the
//! frames, so 10⁶ cells at 10⁷ frames), timed in-process, with the peak resident
//! memory of the whole process (`VmHWM`, input generation included).
//!
//! Run one size per process so each peak is its own (`make bench-rewards` runs all
//! three): `cargo bench -p streetcomb-benches --bench rewards -- 10000000`.
//!
//! The input is the compact scoring form (`Capture`, 24 bytes a frame): ten frames a
//! second per contributor visit of a cell, contributors spread over the week, 1 % of
//! frames fraud-flagged and 1 % unpublished, two road-length-weighted regions, a fleet
//! and a bounty; a tenth of the cells were mapped during the previous week.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use streetcomb_core::rng::mix;
use streetcomb_core::{CellId, ContributorId, Epoch, LatLon};
use streetcomb_rewards::{Capture, Gate, Inputs, Rules, score};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // No size (e.g. under `cargo test --all-targets`): a quick smoke run.
    let sizes = if sizes.is_empty() {
        vec![10_000]
    } else {
        sizes
    };
    for n in sizes {
        run(n);
    }
}

fn run(n_frames: usize) {
    let epoch: Epoch = "2026-W47".parse().unwrap();
    let n_cells = (n_frames / 10).max(1);
    let n_contributors = (n_frames / 1000).max(2);
    let t_gen = Instant::now();
    // Cells on a square grid ~60 m apart around Helsinki (distinct res-11 cells).
    let side = (n_cells as f64).sqrt().ceil() as usize;
    let mut cells: Vec<u64> = Vec::with_capacity(n_cells);
    let mut k = 0;
    while cells.len() < n_cells {
        let (i, j) = (k / side, k % side);
        let pos = LatLon::new(60.0 + i as f64 * 0.00055, 24.0 + j as f64 * 0.0011).unwrap();
        cells.push(CellId::from_latlon(pos, 11).unwrap().as_u64());
        k += 1;
    }
    cells.sort_unstable();
    cells.dedup();
    let start = epoch.start().timestamp_micros();
    let week_s = 7 * 86_400u64;
    let captures: Vec<Capture> = (0..n_frames)
        .map(|f| {
            let visit = (f / 10) as u64;
            let r = mix(visit);
            let gate = match mix(f as u64) % 100 {
                0 => Gate::Replay,
                1 => Gate::Unpublished,
                _ => Gate::Ok,
            };
            Capture {
                cell: cells[(r % cells.len() as u64) as usize],
                t_us: start + (((r >> 20) % (week_s - 60)) as i64 + (f % 10) as i64) * 1_000_000,
                contributor: ((mix(visit ^ 0xABCD) % n_contributors as u64) as u32),
                gate,
            }
        })
        .collect();
    let contributors: Vec<ContributorId> = (0..n_contributors)
        .map(|i| ContributorId::new(format!("c{i:07}")).unwrap())
        .collect();
    let last: HashMap<u64, i64> = cells
        .iter()
        .step_by(10)
        .map(|c| (*c, start - 3 * 86_400_000_000))
        .collect();
    let rules = Rules::from_toml(
        &format!(
            r#"
version = 1
emission = 1_000_000_000_000
[[regions]]
name = "south"
road_m = 1_000_000
polygon = [[23.9, 59.9], [26.0, 59.9], [26.0, 60.3], [23.9, 60.3]]
[[regions]]
name = "north"
road_m = 3_000_000
polygon = [[23.9, 60.3], [26.0, 60.3], [26.0, 61.5], [23.9, 61.5]]
[[fleets]]
owner = "fleet-owner"
owner_percent = 25
drivers = ["c0000000", "c0000001"]
[[bounties]]
id = "b"
sponsor = "city"
amount = 1000
start = "2026-11-16T00:00:00Z"
end = "2026-11-23T00:00:00Z"
cells = ["{}"]
"#,
            CellId::from_u64(cells[0]).unwrap()
        ),
        "bench rules",
    )
    .unwrap();
    let gen_s = t_gen.elapsed().as_secs_f64();
    let inputs = Inputs {
        contributors,
        captures,
    };
    let t = Instant::now();
    let r = score(epoch, inputs, &last, &BTreeMap::new(), &rules).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let t_root = Instant::now();
    let root = r.root_hex();
    let root_s = t_root.elapsed().as_secs_f64();
    let paid: u64 = r
        .ledger
        .iter()
        .filter(|e| !e.reason.starts_with("bounty"))
        .map(|e| e.amount)
        .sum();
    assert_eq!(paid + r.unallocated, r.emission);
    println!(
        "rewards frames={n_frames} cells={} contributors={n_contributors} score_s={secs:.2} \
         merkle_s={root_s:.3} gen_s={gen_s:.1} ledger_rows={} peak_rss_mib={:.0} root={}",
        cells.len(),
        r.ledger.len(),
        peak_rss_mib(),
        &root[..16]
    );
}
