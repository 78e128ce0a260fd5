//! The seven datasets of the lake, by name, and what [`crate::Store::datasets`] reports
//! about each.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::StoreError;

/// One of the pipeline's datasets. Its [`Dataset::name`] is both the folder under the
/// store root and the SQL table name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dataset {
    /// Kept, geotagged frames ([`streetcomb_core::Frame`]), written by ingest.
    Frames,
    /// Detections of map features in frames ([`streetcomb_core::Detection`]), by vision.
    Detections,
    /// Fused, positioned map features ([`streetcomb_core::MapFeature`]), by mapbuild.
    Features,
    /// Per cell, contributor and day coverage ([`streetcomb_core::CoverageCell`]).
    Coverage,
    /// Every input frame, kept or dropped and why ([`streetcomb_core::IngestRecord`]).
    IngestReport,
    /// Rewards per epoch, contributor and cell ([`streetcomb_core::LedgerEntry`]).
    RewardsLedger,
    /// Per epoch and contributor: total, Merkle leaf, reputation ([`RewardsSummaryRow`]).
    RewardsSummary,
}

/// One row of `rewards_summary`: a contributor's total for an epoch, its Merkle leaf
/// (hex) and reputation after the epoch. The epoch's root is in the dataset metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardsSummaryRow {
    pub epoch: streetcomb_core::Epoch,
    pub contributor: streetcomb_core::ContributorId,
    /// Sum of the contributor's ledger rows, integer base units.
    pub total: u64,
    /// sha256 leaf hash of (epoch, contributor, total), lowercase hex.
    pub leaf: String,
    /// Reputation after the epoch, per-mille.
    pub reputation: u32,
    /// `paid` or `held`.
    pub status: String,
}

impl Dataset {
    pub const ALL: [Dataset; 7] = [
        Dataset::Frames,
        Dataset::Detections,
        Dataset::Features,
        Dataset::Coverage,
        Dataset::IngestReport,
        Dataset::RewardsLedger,
        Dataset::RewardsSummary,
    ];

    /// The folder and table name.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Frames => "frames",
            Dataset::Detections => "detections",
            Dataset::Features => "features",
            Dataset::Coverage => "coverage",
            Dataset::IngestReport => "ingest_report",
            Dataset::RewardsLedger => "rewards_ledger",
            Dataset::RewardsSummary => "rewards_summary",
        }
    }

    /// Whether rows carry a position (`lon`, `lat`, `geometry`) and files carry
    /// GeoParquet metadata.
    pub fn has_geometry(self) -> bool {
        matches!(
            self,
            Dataset::Frames | Dataset::Features | Dataset::Coverage
        )
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Dataset {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| StoreError::UnknownDataset(s.to_owned()))
    }
}

/// The current version of one dataset, as its manifest describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub name: String,
    /// Manifest version, 1 for the first write.
    pub version: u64,
    /// Number of data files in this version.
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub schema_version: u32,
    pub written_at: DateTime<Utc>,
    /// Free-form key/value pairs set with [`crate::Store::set_metadata`].
    pub metadata: BTreeMap<String, String>,
}
