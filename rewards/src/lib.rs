//! Rewards: score one weekly epoch into an integer, auditable, reproducible ledger.
//!
//! The rules live in a versioned TOML file ([`Rules`], documented field by field in
//! [`rules`] and `config/rewards.toml`). In short:
//!
//! 1. **Captures.** Each frame becomes a compact [`Capture`] (cell at the rules' H3
//!    resolution, capture time, contributor, [`Gate`]). Frames flagged as fraud by ingest
//!    (replay, duplicate device, jump, impossible speed, motion mismatch) or failing
//!    quality gates (not published with a blurred image, time far from any GPS fix)
//!    earn nothing and are listed with their reason at amount 0.
//! 2. **Visits.** A contributor's valid frames in a cell are one capture until a gap of
//!    `visit_gap_s`; the capture's time is its first frame's.
//! 3. **Freshness.** A cell's freshness drops to 0 when it is captured and refills
//!    linearly to 1 over `refill_days`; a capture is worth the freshness at its time
//!    (a never-mapped cell is worth 1). Captures by several contributors within
//!    `share_window_s` of the first share that value evenly.
//! 4. **Split.** The emission goes to the regions that earned anything, in proportion
//!    to their road length; inside a region, to captures in proportion to their value;
//!    then evenly among a capture's contributors. Fleet owners take their percentage of
//!    their drivers' rows. Bounties settle apart (funded by sponsors).
//!
//! Every split is integer, by the largest-remainder method with ties to the smaller
//! key, so the parts add up exactly: coverage rows + [`EpochRewards::unallocated`] ==
//! emission, bounty rows + refunds == bounty amounts. Inputs are sorted first, so the
//! input order never matters and a re-run is identical. A Merkle root over the
//! per-contributor totals ([`merkle`]) lets anyone check their line.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use streetcomb_core::{CellId, ContributorId, Epoch, Frame, LedgerEntry};

pub mod merkle;
pub mod rules;

pub use merkle::{Proof, Side, leaf_hash_hex, merkle_root, merkle_root_hex, prove, verify};
pub use rules::{Bounty, DEFAULT_RULES_TOML, Fleet, Region, RegionIndex, ReputationRules, Rules};

/// Errors of the rewards stage.
#[derive(Debug, thiserror::Error)]
pub enum RewardsError {
    #[error("{file}: {reason}")]
    Config { file: String, reason: String },
    #[error(
        "region {region:?} has no road length (road_m): give it in the rules or compute it from an OSM extract"
    )]
    NoRoadLength { region: String },
    #[error("capture {index} names contributor #{contributor}, but only {known} are listed")]
    UnknownContributor {
        index: usize,
        contributor: u32,
        known: usize,
    },
}

/// Ledger reasons.
pub mod reason {
    /// Coverage earnings (after any fleet owner's share).
    pub const EARNED: &str = "earned";
    /// A fleet owner's share of a driver's coverage row (same cell).
    pub const FLEET_SHARE: &str = "fleet_share";
    /// A valid capture in a cell outside every configured region (amount 0).
    pub const OUTSIDE_REGIONS: &str = "outside_regions";
    /// Prefix of a bounty payment, followed by the bounty id.
    pub const BOUNTY: &str = "bounty:";
    /// Prefix of a bounty refund to its sponsor, followed by the bounty id.
    pub const BOUNTY_REFUND: &str = "bounty_refund:";
}

/// Whether a capture may earn, and if not why (the ledger reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Gate {
    Ok = 0,
    /// Quality: the frame was never published with a blurred image (vision withheld
    /// it or has not run yet).
    Unpublished,
    /// Quality: the frame's time is far from any real GPS fix.
    InterpolatedFar,
    Replay,
    DuplicateDevice,
    Jump,
    ImpossibleSpeed,
    MotionMismatch,
}

impl Gate {
    /// The ledger reason of a gated capture (`""` for [`Gate::Ok`]).
    pub fn reason(self) -> &'static str {
        match self {
            Gate::Ok => "",
            Gate::Unpublished => "quality:unpublished",
            Gate::InterpolatedFar => "quality:interpolated_far",
            Gate::Replay => "fraud:replay",
            Gate::DuplicateDevice => "fraud:duplicate_device",
            Gate::Jump => "fraud:jump",
            Gate::ImpossibleSpeed => "fraud:impossible_speed",
            Gate::MotionMismatch => "fraud:motion_mismatch",
        }
    }

    /// Fraud (lowers reputation) rather than quality (does not).
    pub fn is_fraud(self) -> bool {
        self >= Gate::Replay
    }

    /// The gate of a frame: fraud flags first (in [`streetcomb_core::FrameFlags::fraud_reason`]
    /// order), then quality.
    pub fn of_frame(f: &Frame, published: bool) -> Gate {
        use streetcomb_core::FraudReason;
        match f.flags.fraud_reason() {
            Some(FraudReason::Replay) => Gate::Replay,
            Some(FraudReason::DuplicateDevice) => Gate::DuplicateDevice,
            Some(FraudReason::Jump) => Gate::Jump,
            Some(FraudReason::ImpossibleSpeed) => Gate::ImpossibleSpeed,
            Some(FraudReason::MotionMismatch) => Gate::MotionMismatch,
            None if !published => Gate::Unpublished,
            None if f.flags.interpolated_far => Gate::InterpolatedFar,
            None => Gate::Ok,
        }
    }
}

/// One frame as scoring needs it: 24 bytes, so 10⁷ frames fit in a quarter GiB.
/// The derived order (cell, time, contributor, gate) is the processing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capture {
    /// The reward cell (at the rules' resolution), as its raw H3 index.
    pub cell: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub t_us: i64,
    /// Index into [`Inputs::contributors`].
    pub contributor: u32,
    pub gate: Gate,
}

/// Scoring input: contributor ids (sorted, distinct) and captures referring to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    pub contributors: Vec<ContributorId>,
    pub captures: Vec<Capture>,
}

impl Inputs {
    /// Captures of `frames`, each with whether it was published (passed vision).
    pub fn from_frames<'a>(frames: impl IntoIterator<Item = (&'a Frame, bool)>, res: u8) -> Self {
        let mut ids: HashMap<&'a ContributorId, u32> = HashMap::new();
        let mut caps = Vec::new();
        for (f, published) in frames {
            let Some(cell) = reward_cell(f, res) else {
                continue;
            };
            let n = ids.len() as u32;
            let who = *ids.entry(&f.contributor).or_insert(n);
            caps.push(Capture {
                cell: cell.as_u64(),
                t_us: f.captured_at.timestamp_micros(),
                contributor: who,
                gate: Gate::of_frame(f, published),
            });
        }
        // Renumber contributors in id order, so indices order like ids.
        let mut sorted: Vec<(&ContributorId, u32)> = ids.into_iter().collect();
        sorted.sort();
        let mut remap = vec![0u32; sorted.len()];
        for (new, (_, old)) in sorted.iter().enumerate() {
            remap[*old as usize] = new as u32;
        }
        for c in &mut caps {
            c.contributor = remap[c.contributor as usize];
        }
        Inputs {
            contributors: sorted.into_iter().map(|(c, _)| c.clone()).collect(),
            captures: caps,
        }
    }
}

/// A contributor's line of the epoch summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    pub contributor: ContributorId,
    /// Sum of the contributor's ledger rows.
    pub total: u64,
    /// The Merkle leaf hash of (epoch, contributor, total), hex.
    pub leaf: String,
    /// Reputation after this epoch, per-mille.
    pub reputation: u32,
    /// `paid`, or `held` when the reputation is below the rules' `hold_below`.
    pub status: &'static str,
}

/// An epoch's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochRewards {
    pub epoch: Epoch,
    /// Sorted by contributor, then cell, then reason.
    pub ledger: Vec<LedgerEntry>,
    /// Per-contributor totals, sorted by contributor (the Merkle leaves).
    pub totals: Vec<(ContributorId, u64)>,
    /// One row per contributor in `totals`, same order.
    pub summary: Vec<SummaryRow>,
    /// The epoch's coverage emission.
    pub emission: u64,
    /// Emission nobody earned (no valid, fresh capture in any region): not paid.
    pub unallocated: u64,
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

    /// `contributor`'s total (0 when absent).
    pub fn total_of(&self, contributor: &str) -> u64 {
        self.totals
            .iter()
            .find(|(c, _)| c.as_str() == contributor)
            .map_or(0, |t| t.1)
    }
}

/// Scores `epoch` from frames that all count as published (see [`score_frames`]).
pub fn score_epoch(
    epoch: Epoch,
    frames: &[Frame],
    last_mapped: &HashMap<CellId, DateTime<Utc>>,
    rules: &Rules,
) -> Result<EpochRewards, RewardsError> {
    score_frames(
        epoch,
        frames.iter().map(|f| (f, true)),
        last_mapped,
        &BTreeMap::new(),
        rules,
    )
}

/// Scores `epoch`. `frames` pairs each frame with whether it was published (passed
/// vision); frames outside the epoch only matter to bounties whose window reaches back.
/// `last_mapped`: per cell, when it was last captured before the epoch (earlier
/// coverage). `reputation`: each contributor's reputation after their previous epoch.
pub fn score_frames<'a>(
    epoch: Epoch,
    frames: impl IntoIterator<Item = (&'a Frame, bool)>,
    last_mapped: &HashMap<CellId, DateTime<Utc>>,
    reputation: &BTreeMap<ContributorId, u32>,
    rules: &Rules,
) -> Result<EpochRewards, RewardsError> {
    let inputs = Inputs::from_frames(frames, rules.h3_resolution);
    let last: HashMap<u64, i64> = last_mapped
        .iter()
        .filter_map(|(c, t)| {
            Some((
                reward_cell_of(*c, rules.h3_resolution)?,
                t.timestamp_micros(),
            ))
        })
        .fold(HashMap::new(), |mut m, (c, t)| {
            let e = m.entry(c.as_u64()).or_insert(t);
            *e = (*e).max(t);
            m
        });
    score(epoch, inputs, &last, reputation, rules)
}

/// An award: one group of captures of one cell that share the freshness they found.
struct Award {
    cell: u64,
    region: u32,
    /// Freshness in millionths (0..=1_000_000).
    points: u64,
    members: std::ops::Range<usize>,
}

/// Scores `epoch` from compact inputs (what [`score_frames`] and the benchmark call).
/// `last_mapped` maps raw cell indices to microseconds.
pub fn score(
    epoch: Epoch,
    inputs: Inputs,
    last_mapped: &HashMap<u64, i64>,
    reputation: &BTreeMap<ContributorId, u32>,
    rules: &Rules,
) -> Result<EpochRewards, RewardsError> {
    let Inputs {
        contributors,
        mut captures,
    } = inputs;
    let nc = contributors.len();
    if let Some((index, c)) = captures
        .iter()
        .enumerate()
        .find(|(_, c)| c.contributor as usize >= nc)
    {
        return Err(RewardsError::UnknownContributor {
            index,
            contributor: c.contributor,
            known: nc,
        });
    }
    let weights = region_weights(rules)?;
    let region_index = RegionIndex::new(rules);
    captures.sort_unstable();

    let (start, end) = (
        epoch.start().timestamp_micros(),
        epoch.end().timestamp_micros(),
    );
    let refill_us = ((rules.refill_days * 86_400e6) as i64).max(1);
    let visit_gap = i64::from(rules.visit_gap_s) * 1_000_000;
    let share = i64::from(rules.share_window_s) * 1_000_000;

    // Per contributor: frames and fraud-flagged frames in the epoch (reputation).
    let mut frames_n = vec![0u64; nc];
    let mut flagged_n = vec![0u64; nc];
    // (contributor, cell, gate) of excluded captures, and (contributor, cell) earning 0
    // because the cell is in no region.
    let mut excluded: Vec<(u32, u64, Gate)> = Vec::new();
    let mut awards: Vec<Award> = Vec::new();
    let mut members: Vec<u32> = Vec::new();

    let mut i = 0;
    let mut visits: Vec<(i64, u32)> = Vec::new();
    let mut last_seen: Vec<(u32, i64)> = Vec::new();
    while i < captures.len() {
        let cell = captures[i].cell;
        let mut j = i;
        visits.clear();
        last_seen.clear();
        while j < captures.len() && captures[j].cell == cell {
            let c = captures[j];
            j += 1;
            if c.t_us < start || c.t_us >= end {
                continue;
            }
            frames_n[c.contributor as usize] += 1;
            if c.gate != Gate::Ok {
                if c.gate.is_fraud() {
                    flagged_n[c.contributor as usize] += 1;
                }
                excluded.push((c.contributor, cell, c.gate));
                continue;
            }
            // A new visit unless this contributor was here within the visit gap.
            match last_seen.iter_mut().find(|(w, _)| *w == c.contributor) {
                Some((_, t)) if c.t_us - *t <= visit_gap => *t = c.t_us,
                Some((_, t)) => {
                    *t = c.t_us;
                    visits.push((c.t_us, c.contributor));
                }
                None => {
                    last_seen.push((c.contributor, c.t_us));
                    visits.push((c.t_us, c.contributor));
                }
            }
        }
        i = j;
        if visits.is_empty() {
            continue;
        }
        let Some(region) = CellId::from_u64(cell)
            .ok()
            .and_then(|c| region_index.region_of(c))
        else {
            for &(_, who) in &visits {
                excluded.push((who, cell, Gate::Ok)); // Ok here marks "outside regions".
            }
            continue;
        };
        // `visits` is in time order (captures are sorted by time within a cell).
        let mut prev = last_mapped.get(&cell).copied();
        let mut k = 0;
        while k < visits.len() {
            let lead = visits[k].0;
            let points = match prev {
                None => 1_000_000,
                Some(p) => {
                    let age = (lead - p).max(0) as i128;
                    ((age * 1_000_000) / refill_us as i128).min(1_000_000) as u64
                }
            };
            let from = members.len();
            while k < visits.len() && visits[k].0 - lead <= share {
                members.push(visits[k].1);
                k += 1;
            }
            members[from..].sort_unstable();
            let mut n = from;
            for m in from..members.len() {
                if n == from || members[n - 1] != members[m] {
                    members[n] = members[m];
                    n += 1;
                }
            }
            members.truncate(n);
            awards.push(Award {
                cell,
                region: region as u32,
                points,
                members: from..n,
            });
            prev = Some(lead);
        }
    }

    // Emission -> regions (by road length, among regions that earned) -> awards (by
    // points) -> members (evenly).
    let mut region_points = vec![0u64; weights.len()];
    for a in &awards {
        region_points[a.region as usize] += a.points;
    }
    let region_w: Vec<u64> = weights
        .iter()
        .zip(&region_points)
        .map(|(w, p)| if *p > 0 { *w } else { 0 })
        .collect();
    let region_amount = split_indexed(rules.emission, &region_w);
    let mut by_region: Vec<Vec<usize>> = vec![Vec::new(); weights.len()];
    for (k, a) in awards.iter().enumerate() {
        by_region[a.region as usize].push(k);
    }
    // (contributor, cell, amount) before merging repeated captures of a cell.
    let mut earned: Vec<(u32, u64, u64)> = Vec::with_capacity(members.len());
    let mut paid = 0u64;
    for (r, list) in by_region.iter().enumerate() {
        let pts: Vec<u64> = list.iter().map(|&k| awards[k].points).collect();
        let amounts = split_indexed(region_amount[r], &pts);
        for (&k, amount) in list.iter().zip(amounts) {
            let a = &awards[k];
            let m = &members[a.members.clone()];
            paid += amount;
            let each = split_indexed(amount, &vec![1; m.len()]);
            for (&who, v) in m.iter().zip(each) {
                earned.push((who, a.cell, v));
            }
        }
    }
    earned.sort_unstable();
    let mut merged: Vec<(u32, u64, u64)> = Vec::with_capacity(earned.len());
    for e in earned {
        match merged.last_mut() {
            Some(l) if l.0 == e.0 && l.1 == e.1 => l.2 += e.2,
            _ => merged.push(e),
        }
    }

    let fleet: HashMap<&ContributorId, (&ContributorId, u8)> = rules
        .fleets
        .iter()
        .flat_map(|f| {
            f.drivers
                .iter()
                .map(move |d| (d, (&f.owner, f.owner_percent)))
        })
        .collect();
    let cell_id = |raw: u64| CellId::from_u64(raw).expect("cells come from valid CellIds");
    let mut ledger: Vec<LedgerEntry> = Vec::with_capacity(merged.len() + excluded.len());
    let row = |who: &ContributorId, cell: CellId, amount: u64, reason: &str| LedgerEntry {
        epoch,
        contributor: who.clone(),
        cell,
        amount,
        reason: reason.to_owned(),
    };
    for (who, cell, amount) in merged {
        let id = &contributors[who as usize];
        let cell = cell_id(cell);
        match fleet.get(id) {
            Some((owner, pct)) => {
                let owner_part = (u128::from(amount) * u128::from(*pct) / 100) as u64;
                ledger.push(row(id, cell, amount - owner_part, reason::EARNED));
                ledger.push(row(owner, cell, owner_part, reason::FLEET_SHARE));
            }
            None => ledger.push(row(id, cell, amount, reason::EARNED)),
        }
    }
    excluded.sort_unstable();
    excluded.dedup();
    for (who, cell, gate) in excluded {
        let why = if gate == Gate::Ok {
            reason::OUTSIDE_REGIONS
        } else {
            gate.reason()
        };
        ledger.push(row(&contributors[who as usize], cell_id(cell), 0, why));
    }
    settle_bounties(epoch, &captures, &contributors, rules, &mut ledger);

    // Merge rows with the same key (a fleet owner who also drives the same cell).
    ledger.sort_by(|a, b| {
        (&a.contributor, a.cell, &a.reason).cmp(&(&b.contributor, b.cell, &b.reason))
    });
    let mut rows: Vec<LedgerEntry> = Vec::with_capacity(ledger.len());
    for e in ledger {
        match rows.last_mut() {
            Some(l)
                if l.contributor == e.contributor && l.cell == e.cell && l.reason == e.reason =>
            {
                l.amount += e.amount
            }
            _ => rows.push(e),
        }
    }
    let mut totals: Vec<(ContributorId, u64)> = Vec::new();
    for e in &rows {
        match totals.last_mut() {
            Some((c, t)) if *c == e.contributor => *t += e.amount,
            _ => totals.push((e.contributor.clone(), e.amount)),
        }
    }
    let index_of: HashMap<&ContributorId, usize> = contributors
        .iter()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let summary = totals
        .iter()
        .map(|(c, total)| {
            let before = reputation
                .get(c)
                .copied()
                .unwrap_or(rules.reputation.initial);
            let after = match index_of.get(c) {
                Some(&i) if frames_n[i] > 0 => {
                    rules.reputation.update(before, frames_n[i], flagged_n[i])
                }
                _ => before,
            };
            SummaryRow {
                contributor: c.clone(),
                total: *total,
                leaf: leaf_hash_hex(epoch, c, *total),
                reputation: after,
                status: if after < rules.reputation.hold_below {
                    "held"
                } else {
                    "paid"
                },
            }
        })
        .collect();
    Ok(EpochRewards {
        epoch,
        ledger: rows,
        totals,
        summary,
        emission: rules.emission,
        unallocated: rules.emission - paid,
    })
}

/// Region weights (road metres); one implicit region of weight 1 without regions.
fn region_weights(rules: &Rules) -> Result<Vec<u64>, RewardsError> {
    if rules.regions.is_empty() {
        return Ok(vec![1]);
    }
    rules
        .regions
        .iter()
        .map(|r| {
            r.road_m.ok_or_else(|| RewardsError::NoRoadLength {
                region: r.name.clone(),
            })
        })
        .collect()
}

/// Pays or refunds every bounty whose window's last instant lies in `epoch`.
fn settle_bounties(
    epoch: Epoch,
    captures: &[Capture],
    contributors: &[ContributorId],
    rules: &Rules,
    ledger: &mut Vec<LedgerEntry>,
) {
    let due: Vec<&Bounty> = rules
        .bounties
        .iter()
        .filter(|b| Epoch::of(b.end - chrono::Duration::microseconds(1)) == epoch)
        .collect();
    if due.is_empty() {
        return;
    }
    // Best (time, contributor, cell) per bounty.
    let mut best: Vec<Option<(i64, u32, u64)>> = vec![None; due.len()];
    let targets: Vec<(i64, i64, std::collections::BTreeSet<CellId>)> = due
        .iter()
        .map(|b| {
            (
                b.start.timestamp_micros(),
                b.end.timestamp_micros(),
                b.cells.iter().copied().collect(),
            )
        })
        .collect();
    let resolutions: std::collections::BTreeSet<u8> = due
        .iter()
        .flat_map(|b| b.cells.iter().map(|c| c.resolution()))
        .collect();
    let mut last_cell = None;
    let mut parents: Vec<CellId> = Vec::new();
    for c in captures.iter().filter(|c| c.gate == Gate::Ok) {
        if !targets.iter().any(|(s, e, _)| c.t_us >= *s && c.t_us < *e) {
            continue;
        }
        if last_cell != Some(c.cell) {
            last_cell = Some(c.cell);
            parents = CellId::from_u64(c.cell)
                .ok()
                .map(|cell| resolutions.iter().filter_map(|r| cell.parent(*r)).collect())
                .unwrap_or_default();
        }
        for (k, (s, e, cells)) in targets.iter().enumerate() {
            if c.t_us >= *s && c.t_us < *e && parents.iter().any(|p| cells.contains(p)) {
                let cand = (c.t_us, c.contributor, c.cell);
                if best[k].is_none_or(|b| cand < b) {
                    best[k] = Some(cand);
                }
            }
        }
    }
    for (b, won) in due.iter().zip(best) {
        let (who, cell, why) = match won {
            Some((_, who, cell)) => (
                contributors[who as usize].clone(),
                CellId::from_u64(cell).expect("cells come from valid CellIds"),
                reason::BOUNTY,
            ),
            None => (
                b.sponsor.clone(),
                *b.cells
                    .iter()
                    .min()
                    .expect("validated: bounty cells are not empty"),
                reason::BOUNTY_REFUND,
            ),
        };
        ledger.push(LedgerEntry {
            epoch,
            contributor: who,
            cell,
            amount: b.amount,
            reason: format!("{why}{}", b.id),
        });
    }
}

fn reward_cell_of(cell: CellId, res: u8) -> Option<CellId> {
    match cell.resolution() {
        r if r == res => Some(cell),
        r if r > res => cell.parent(res),
        _ => None,
    }
}

fn reward_cell(f: &Frame, res: u8) -> Option<CellId> {
    reward_cell_of(f.cell, res).or_else(|| CellId::from_latlon(f.pos, res).ok())
}

/// Splits `total` by integer weights with the largest-remainder method; ties go to the
/// earlier key. The parts always add up to `total` when any weight is positive (all
/// parts are 0 otherwise).
pub fn split<K: Clone + Ord>(total: u64, weights: &[(K, u64)]) -> Vec<(K, u64)> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[a].0.cmp(&weights[b].0));
    let w: Vec<u64> = order.iter().map(|&i| weights[i].1).collect();
    let parts = split_indexed(total, &w);
    let mut out: Vec<(K, u64)> = weights.iter().map(|(k, _)| (k.clone(), 0)).collect();
    for (&i, p) in order.iter().zip(parts) {
        out[i].1 = p;
    }
    out
}

/// [`split`] with the index as the key: ties go to the smaller index.
pub fn split_indexed(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut rems = Vec::with_capacity(weights.len());
    let mut given = 0u64;
    for w in weights {
        let exact = u128::from(total) * u128::from(*w);
        let p = (exact / sum) as u64;
        given += p;
        parts.push(p);
        rems.push(exact % sum);
    }
    let left = (total - given) as usize;
    if left > 0 {
        let mut order: Vec<usize> = (0..weights.len()).collect();
        let cmp = |a: &usize, b: &usize| rems[*b].cmp(&rems[*a]).then(a.cmp(b));
        if left < order.len() {
            order.select_nth_unstable_by(left - 1, cmp);
        }
        for &i in &order[..left] {
            parts[i] += 1;
        }
    }
    parts
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
        assert_eq!(
            split(10, &[("c", 1), ("b", 1), ("a", 1)]),
            vec![("c", 3), ("b", 3), ("a", 4)]
        );
        assert_eq!(split(7, &[("a", 0), ("b", 0)]), vec![("a", 0), ("b", 0)]);
        assert_eq!(
            split_indexed(5, &[1, 1, 1, 1, 1, 1, 1]),
            vec![1, 1, 1, 1, 1, 0, 0]
        );
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
