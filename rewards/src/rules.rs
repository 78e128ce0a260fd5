//! The reward rules: a versioned TOML file whose every field is documented here.
//!
//! `config/rewards.toml` in the repository is a commented example; the binary embeds
//! [`DEFAULT_RULES_TOML`] and uses it when no `--config` is given. Parse with
//! [`Rules::from_toml`], which also validates (and names the field that is wrong).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streetcomb_core::{CellId, ContributorId};

use crate::RewardsError;

/// The only rules-file version this build understands.
pub const RULES_VERSION: u32 = 1;

/// The default rules, as shipped (also in `config/rewards.toml`).
pub const DEFAULT_RULES_TOML: &str = include_str!("default_rules.toml");

/// The reward rules of an epoch. Epochs are ISO weeks, Monday 00:00 UTC to the next
/// Monday 00:00 UTC (exclusive); see [`streetcomb_core::Epoch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Rules-file format version; must be [`RULES_VERSION`].
    pub version: u32,
    /// Base units emitted per epoch for coverage (integer; bounties are funded apart).
    pub emission: u64,
    /// H3 resolution of reward cells (0..=15; 11 ≈ 29 m edges).
    #[serde(default = "default_resolution")]
    pub h3_resolution: u8,
    /// Days for a cell's freshness to refill linearly from 0 (just mapped) to 1.
    #[serde(default = "default_refill_days")]
    pub refill_days: f64,
    /// A contributor's frames in one cell form one capture (a "visit") until a gap
    /// longer than this many seconds; a later return is a new capture.
    #[serde(default = "default_visit_gap_s")]
    pub visit_gap_s: u32,
    /// Captures of one cell by several contributors within this many seconds of the
    /// first one share the freshness that first capture found, evenly.
    #[serde(default = "default_share_window_s")]
    pub share_window_s: u32,
    /// Regions and their weights. Empty: one implicit region holding every cell.
    #[serde(default)]
    pub regions: Vec<Region>,
    /// Fleet owners and the share of their drivers' coverage earnings they take.
    #[serde(default)]
    pub fleets: Vec<Fleet>,
    /// Bounties on chosen cells with a time window.
    #[serde(default)]
    pub bounties: Vec<Bounty>,
    /// How reputation moves and when payouts are held.
    #[serde(default)]
    pub reputation: ReputationRules,
}

/// A region: an area whose share of the emission is proportional to its road length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// A unique name, used in messages.
    pub name: String,
    /// Road length inside the region, metres. Optional here when the caller computes
    /// it from an OSM extract ([`Rules::set_road_lengths`]); required at scoring time.
    #[serde(default)]
    pub road_m: Option<u64>,
    /// The outer ring as `[lon, lat]` pairs (WGS84 degrees); a cell belongs to the
    /// region when its centre lies inside.
    #[serde(default)]
    pub polygon: Vec<[f64; 2]>,
    /// Cells that belong to the region whatever the polygon says (H3 index strings, at
    /// any resolution at or above `h3_resolution`: a coarser cell includes its children).
    #[serde(default)]
    pub cells: Vec<CellId>,
}

/// A fleet: drivers whose coverage earnings are split with an owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// The contributor id paid the owner's share.
    pub owner: ContributorId,
    /// Percent (0..=100) of each driver ledger row's coverage amount paid to the owner,
    /// rounded down to whole base units; the driver keeps the rest, so nothing is lost.
    pub owner_percent: u8,
    /// The fleet's drivers (each in at most one fleet, never the owner).
    pub drivers: Vec<ContributorId>,
}

/// A bounty: `amount` base units for the first valid capture of any of `cells` inside
/// `[start, end)`, or back to `sponsor` when nobody captures them.
///
/// A bounty settles in the epoch that holds its last instant (`end` minus 1 µs), using
/// every capture in its window (also those of earlier epochs). The payment goes to the
/// earliest valid capture (ties: the smallest contributor id); the refund row goes to
/// the sponsor on the smallest listed cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounty {
    /// A unique id, shown in the ledger reason (`bounty:ID`, `bounty_refund:ID`).
    pub id: String,
    /// Who funded it and gets the refund.
    pub sponsor: ContributorId,
    /// Base units, funded apart from the emission.
    pub amount: u64,
    /// Window start (RFC 3339), inclusive.
    pub start: DateTime<Utc>,
    /// Window end (RFC 3339), exclusive.
    pub end: DateTime<Utc>,
    /// Target cells, at `h3_resolution` or coarser (a coarse cell covers its children).
    pub cells: Vec<CellId>,
}

/// Reputation, in per-mille (0..=1000), updated once per epoch for every contributor
/// with frames in it:
///
/// - a clean epoch (no fraud-flagged frame) adds `clean_gain`, capped at 1000;
/// - an epoch with `f` fraud-flagged frames out of `n` subtracts
///   `flag_penalty + flag_penalty_per_mille_flagged * (1000 * f / n) / 1000`
///   (integer division), floored at 0;
/// - contributors seen for the first time start from `initial`.
///
/// A contributor whose reputation after the update is below `hold_below` has the
/// epoch's payout held (summary status `held`): the amounts stay in the ledger and
/// the Merkle tree, so the emission is still fully accounted for, but are not paid.
/// Quality problems (e.g. a frame far from any GPS fix) do not affect reputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReputationRules {
    pub initial: u32,
    pub clean_gain: u32,
    pub flag_penalty: u32,
    pub flag_penalty_per_mille_flagged: u32,
    pub hold_below: u32,
}

impl Default for ReputationRules {
    fn default() -> Self {
        Self {
            initial: 500,
            clean_gain: 100,
            flag_penalty: 200,
            flag_penalty_per_mille_flagged: 800,
            hold_below: 400,
        }
    }
}

impl ReputationRules {
    /// The reputation after an epoch with `flagged` of `frames` frames flagged.
    pub fn update(&self, before: u32, frames: u64, flagged: u64) -> u32 {
        if flagged == 0 {
            return (before.saturating_add(self.clean_gain)).min(1000);
        }
        let share = (1000 * flagged.min(frames) / frames.max(1)) as u32;
        let drop = self.flag_penalty.saturating_add(
            (u64::from(self.flag_penalty_per_mille_flagged) * u64::from(share) / 1000) as u32,
        );
        before.saturating_sub(drop).min(1000)
    }
}

fn default_resolution() -> u8 {
    streetcomb_core::cell::DEFAULT_RESOLUTION
}
fn default_refill_days() -> f64 {
    7.0
}
fn default_visit_gap_s() -> u32 {
    600
}
fn default_share_window_s() -> u32 {
    60
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            version: RULES_VERSION,
            emission: 1_000_000_000,
            h3_resolution: default_resolution(),
            refill_days: default_refill_days(),
            visit_gap_s: default_visit_gap_s(),
            share_window_s: default_share_window_s(),
            regions: Vec::new(),
            fleets: Vec::new(),
            bounties: Vec::new(),
            reputation: ReputationRules::default(),
        }
    }
}

impl Rules {
    /// Parses and validates a rules file; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Rules, RewardsError> {
        let rules: Rules = toml::from_str(text).map_err(|e| RewardsError::Config {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        rules.validate().map_err(|reason| RewardsError::Config {
            file: file.to_owned(),
            reason,
        })?;
        Ok(rules)
    }

    /// The embedded default rules ([`DEFAULT_RULES_TOML`]).
    pub fn embedded_default() -> Rules {
        Rules::from_toml(DEFAULT_RULES_TOML, "embedded default rules")
            .unwrap_or_else(|_| Rules::default())
    }

    /// Sets each region's `road_m` from a caller's measurement (e.g. summed OSM road
    /// segment lengths per region, see [`Rules::region_of`]); regions that already have
    /// one keep it.
    pub fn set_road_lengths(&mut self, road_m: &[u64]) {
        for (r, m) in self.regions.iter_mut().zip(road_m) {
            r.road_m.get_or_insert(*m);
        }
    }

    /// Checks field ranges and cross-references; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != RULES_VERSION {
            return Err(format!(
                "version: {} is not supported (this build reads version {RULES_VERSION})",
                self.version
            ));
        }
        if self.h3_resolution > 15 {
            return Err(format!(
                "h3_resolution: {} is not in 0..=15",
                self.h3_resolution
            ));
        }
        if !(self.refill_days.is_finite() && self.refill_days > 0.0) {
            return Err(format!(
                "refill_days: {} must be a positive number",
                self.refill_days
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.regions.iter().enumerate() {
            if !names.insert(r.name.as_str()) {
                return Err(format!("regions[{i}].name: {:?} is used twice", r.name));
            }
            if r.polygon.is_empty() && r.cells.is_empty() {
                return Err(format!(
                    "regions[{i}] ({}): give a polygon or cells",
                    r.name
                ));
            }
            if !r.polygon.is_empty() && r.polygon.len() < 3 {
                return Err(format!(
                    "regions[{i}].polygon: a ring needs at least 3 points"
                ));
            }
            for (k, p) in r.polygon.iter().enumerate() {
                let lon_ok = p[0].is_finite() && (-180.0..=180.0).contains(&p[0]);
                let lat_ok = p[1].is_finite() && (-90.0..=90.0).contains(&p[1]);
                if !(lon_ok && lat_ok) {
                    return Err(format!(
                        "regions[{i}].polygon[{k}]: {p:?} is not [lon, lat] in degrees"
                    ));
                }
            }
            if let Some(c) = r.cells.iter().find(|c| c.resolution() > self.h3_resolution) {
                return Err(format!(
                    "regions[{i}].cells: {c} is finer than h3_resolution {}",
                    self.h3_resolution
                ));
            }
        }
        let mut drivers = std::collections::BTreeSet::new();
        for (i, f) in self.fleets.iter().enumerate() {
            if f.owner_percent > 100 {
                return Err(format!(
                    "fleets[{i}].owner_percent: {} is over 100",
                    f.owner_percent
                ));
            }
            for d in &f.drivers {
                if d == &f.owner {
                    return Err(format!("fleets[{i}].drivers: {d} is the fleet's owner"));
                }
                if !drivers.insert(d.clone()) {
                    return Err(format!(
                        "fleets[{i}].drivers: {d} is in more than one fleet"
                    ));
                }
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, b) in self.bounties.iter().enumerate() {
            if !ids.insert(b.id.as_str()) {
                return Err(format!("bounties[{i}].id: {:?} is used twice", b.id));
            }
            if b.end <= b.start {
                return Err(format!("bounties[{i}] ({}): end must be after start", b.id));
            }
            if b.cells.is_empty() {
                return Err(format!("bounties[{i}].cells: empty"));
            }
            if let Some(c) = b.cells.iter().find(|c| c.resolution() > self.h3_resolution) {
                return Err(format!(
                    "bounties[{i}].cells: {c} is finer than h3_resolution {}",
                    self.h3_resolution
                ));
            }
        }
        let rep = &self.reputation;
        if rep.initial > 1000 || rep.hold_below > 1000 {
            return Err("reputation: initial and hold_below are per-mille (0..=1000)".into());
        }
        Ok(())
    }

    /// Index of the first region (in file order) holding `cell`, or `None`. With no
    /// regions configured every cell is in the implicit region 0. (For many cells,
    /// build a [`RegionIndex`] once.)
    pub fn region_of(&self, cell: CellId) -> Option<usize> {
        RegionIndex::new(self).region_of(cell)
    }
}

/// The rules' regions, prepared for many [`RegionIndex::region_of`] lookups.
#[derive(Debug, Clone)]
pub struct RegionIndex {
    implicit: bool,
    regions: Vec<(Vec<CellId>, Option<geo::Polygon>)>,
}

impl RegionIndex {
    pub fn new(rules: &Rules) -> Self {
        Self {
            implicit: rules.regions.is_empty(),
            regions: rules
                .regions
                .iter()
                .map(|r| {
                    let poly = (r.polygon.len() >= 3).then(|| {
                        let ring: Vec<geo::Coord> = r
                            .polygon
                            .iter()
                            .map(|p| geo::Coord { x: p[0], y: p[1] })
                            .collect();
                        geo::Polygon::new(geo::LineString::from(ring), vec![])
                    });
                    (r.cells.clone(), poly)
                })
                .collect(),
        }
    }

    /// Index of the first region holding `cell` (listed, or its centre inside).
    pub fn region_of(&self, cell: CellId) -> Option<usize> {
        use geo::Contains;
        if self.implicit {
            return Some(0);
        }
        let centre = cell.center();
        let pt = geo::Point::new(centre.lon(), centre.lat());
        self.regions.iter().position(|(cells, poly)| {
            cells
                .iter()
                .any(|c| cell.parent(c.resolution()) == Some(*c))
                || poly.as_ref().is_some_and(|p| p.contains(&pt))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_embedded_default_rules_parse_and_validate() {
        let r = Rules::from_toml(DEFAULT_RULES_TOML, "default").unwrap();
        assert_eq!(r.version, RULES_VERSION);
        assert_eq!(r.refill_days, 7.0);
        assert!(r.emission > 0);
    }

    #[test]
    fn a_bad_field_is_named_in_the_error() {
        let e = Rules::from_toml("version = 1\nemission = 5\nrefill_days = -1\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("refill_days"), "{e}");
        let e = Rules::from_toml("version = 2\nemission = 5\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("version"), "{e}");
        let e = Rules::from_toml("version = 1\nemision = 5\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("emision"), "{e}");
    }

    #[test]
    fn reputation_rises_with_clean_epochs_and_falls_with_flags() {
        let r = ReputationRules::default();
        assert_eq!(r.update(500, 10, 0), 600);
        assert_eq!(r.update(950, 10, 0), 1000);
        // Half the frames flagged: 200 + 800 * 500 / 1000 = 600 off.
        assert_eq!(r.update(900, 10, 5), 300);
        assert_eq!(r.update(100, 10, 10), 0);
    }
}
