//! Rewards: score one weekly epoch per H3 cell into an integer, auditable ledger.
//!
//! Rules (see [`Rules`]):
//! - the epoch emits a fixed `emission` of base units;
//! - a contribution is a contributor's first capture in a cell during the epoch; its
//!   weight is the cell's freshness at capture time: 0 right after anyone mapped the
//!   cell, refilling linearly to 1 over `refill_days` (a never-mapped cell is fully fresh);
//! - the emission is split evenly between cells that earned any weight, and each
//!   cell's share between its contributions in proportion to their weight;
//! - frames flagged as fraud earn nothing and are listed with the reason.
//!
//! Integer arithmetic throughout, remainders given out by the largest-remainder method
//! with ties broken by contributor id then cell, so totals equal the emission exactly
//! and a re-run gives identical numbers.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streetcomb_core::{CellId, ContributorId, Epoch, Frame, LedgerEntry};

pub mod merkle;
pub use merkle::{Proof, Side, merkle_root, merkle_root_hex, prove, verify};

/// The reward rules of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Base units emitted per epoch.
    pub emission: u64,
    /// Days for a cell's freshness to refill from 0 to 1.
    pub refill_days: f64,
    /// H3 resolution of reward cells.
    pub h3_resolution: u8,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            emission: 1_000_000_000,
            refill_days: 7.0,
            h3_resolution: streetcomb_core::cell::DEFAULT_RESOLUTION,
        }
    }
}

/// An epoch's result: ledger rows and per-contributor totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochRewards {
    pub epoch: Epoch,
    /// Sorted by contributor, then cell, then reason.
    pub ledger: Vec<LedgerEntry>,
    /// Sorted by contributor.
    pub totals: Vec<(ContributorId, u64)>,
}

impl EpochRewards {
    /// The Merkle root over [`Self::totals`] (see [`merkle`]).
    pub fn root(&self) -> [u8; 32] {
        merkle_root(self.epoch, &self.totals)
    }

    /// [`Self::root`] as lowercase hex.
    pub fn root_hex(&self) -> String {
        merkle_root_hex(self.epoch, &self.totals)
    }

    /// A proof of `contributor`'s total against [`Self::root`].
    pub fn prove(&self, contributor: &ContributorId) -> Option<Proof> {
        prove(self.epoch, &self.totals, contributor)
    }
}

/// Scores `epoch` from the kept frames. `last_mapped` holds, per cell, when it was last
/// mapped before this epoch (from earlier coverage).
pub fn score_epoch(
    epoch: Epoch,
    frames: &[Frame],
    last_mapped: &HashMap<CellId, DateTime<Utc>>,
    rules: &Rules,
) -> EpochRewards {
    let mut excluded: BTreeMap<(ContributorId, CellId, &'static str), ()> = BTreeMap::new();
    // First clean capture of each contributor in each cell.
    let mut first: BTreeMap<(CellId, ContributorId), DateTime<Utc>> = BTreeMap::new();
    for f in frames.iter().filter(|f| epoch.contains(f.captured_at)) {
        let Some(cell) = reward_cell(f, rules.h3_resolution) else {
            continue;
        };
        if f.flags.is_fraud() {
            let why = if f.flags.replay {
                "excluded: replay"
            } else {
                "excluded: impossible speed"
            };
            excluded.insert((f.contributor.clone(), cell, why), ());
            continue;
        }
        first
            .entry((cell, f.contributor.clone()))
            .and_modify(|t| *t = (*t).min(f.captured_at))
            .or_insert(f.captured_at);
    }
    // Freshness per contribution, in time order within each cell.
    let mut per_cell: BTreeMap<CellId, Vec<(DateTime<Utc>, ContributorId)>> = BTreeMap::new();
    for ((cell, who), t) in first {
        per_cell.entry(cell).or_default().push((t, who));
    }
    let refill_us = (rules.refill_days * 86_400e6) as i64;
    // Weights in millionths, integer so the split is exact and reproducible.
    let mut weights: BTreeMap<CellId, Vec<(ContributorId, u64)>> = BTreeMap::new();
    for (cell, mut list) in per_cell {
        list.sort();
        let mut last = last_mapped.get(&cell).copied();
        let mut ws = Vec::new();
        for (t, who) in list {
            let w = match last {
                None => 1_000_000,
                Some(prev) => {
                    let age = (t - prev).num_microseconds().unwrap_or(i64::MAX).max(0);
                    ((age as i128 * 1_000_000) / refill_us.max(1) as i128).min(1_000_000) as u64
                }
            };
            ws.push((who, w));
            last = Some(t);
        }
        if ws.iter().any(|(_, w)| *w > 0) {
            weights.insert(cell, ws);
        }
    }
    // Emission -> cells (evenly) -> contributions (by weight).
    let cells: Vec<CellId> = weights.keys().copied().collect();
    let cell_shares = split(
        rules.emission,
        &cells.iter().map(|c| (*c, 1u64)).collect::<Vec<_>>(),
    );
    let mut ledger = Vec::new();
    for (cell, share) in cell_shares {
        let ws = &weights[&cell];
        let mut keyed: Vec<(ContributorId, u64)> = ws.clone();
        keyed.sort();
        for (who, amount) in split(share, &keyed) {
            ledger.push(LedgerEntry {
                epoch,
                contributor: who,
                cell,
                amount,
                reason: "coverage".into(),
            });
        }
    }
    for (who, cell, why) in excluded.into_keys() {
        ledger.push(LedgerEntry {
            epoch,
            contributor: who,
            cell,
            amount: 0,
            reason: why.into(),
        });
    }
    ledger.sort_by(|a, b| {
        (&a.contributor, a.cell, &a.reason).cmp(&(&b.contributor, b.cell, &b.reason))
    });
    let mut totals: BTreeMap<ContributorId, u64> = BTreeMap::new();
    for e in &ledger {
        *totals.entry(e.contributor.clone()).or_default() += e.amount;
    }
    EpochRewards {
        epoch,
        ledger,
        totals: totals.into_iter().collect(),
    }
}

fn reward_cell(f: &Frame, res: u8) -> Option<CellId> {
    match f.cell.resolution() {
        r if r == res => Some(f.cell),
        r if r > res => f.cell.parent(res),
        _ => CellId::from_latlon(f.pos, res).ok(),
    }
}

/// Splits `total` by integer weights with the largest-remainder method; ties go to the
/// earlier key. The parts always add up to `total` (when any weight is positive).
pub fn split<K: Clone + Ord>(total: u64, weights: &[(K, u64)]) -> Vec<(K, u64)> {
    let sum: u128 = weights.iter().map(|(_, w)| *w as u128).sum();
    if sum == 0 {
        return weights.iter().map(|(k, _)| (k.clone(), 0)).collect();
    }
    let mut parts: Vec<(K, u64, u128)> = weights
        .iter()
        .map(|(k, w)| {
            let exact = total as u128 * *w as u128;
            (k.clone(), (exact / sum) as u64, exact % sum)
        })
        .collect();
    let given: u64 = parts.iter().map(|p| p.1).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        parts[b]
            .2
            .cmp(&parts[a].2)
            .then_with(|| parts[a].0.cmp(&parts[b].0))
    });
    for &i in order.iter().take((total - given) as usize) {
        parts[i].1 += 1;
    }
    parts.into_iter().map(|(k, v, _)| (k, v)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_largest_remainder_split_adds_up_and_favours_earlier_keys_on_ties() {
        assert_eq!(
            split(10, &[("a", 1), ("b", 1), ("c", 1)]),
            vec![("a", 4), ("b", 3), ("c", 3)]
        );
        assert_eq!(split(7, &[("a", 0), ("b", 0)]), vec![("a", 0), ("b", 0)]);
    }

    proptest! {
        #[test]
        fn a_split_always_conserves_the_total(total in 0u64..u64::MAX / 4, ws in proptest::collection::vec(1u64..1_000_000, 1..20)) {
            let weights: Vec<(usize, u64)> = ws.into_iter().enumerate().collect();
            let parts = split(total, &weights);
            prop_assert_eq!(parts.iter().map(|p| p.1 as u128).sum::<u128>(), total as u128);
        }
    }
}
