//! Compaction: merging the small files that many appends leave in one partition into
//! one file per partition, committed as a new version like any write.
//!
//! Appends add one file per partition they touch, so a dataset fed by many small
//! ingests ends up with many small files per day and cell: many GETs and footers per
//! query and poor compression. [`Store::compact`] rewrites each partition holding
//! more than one file into a single sorted file, commits the new file list with the
//! ordinary commit protocol (a crash before the commit leaves the previous version
//! intact, a concurrent writer is detected), then deletes the replaced files and any
//! orphans of crashed writes older than [`ORPHAN_MIN_AGE`].

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;
use streetcomb_core::{CoverageCell, Detection, Frame, IngestRecord, LedgerEntry, MapFeature};
use tracing::{info, warn};

use crate::codec::Record;
use crate::manifest::FileEntry;
use crate::partition::dir_of_key;
use crate::store::{Stop, encode_parquet};
use crate::{Dataset, Store, StoreError};

/// Files not listed by the current manifest are deleted by compaction only when at
/// least this old, so a concurrent writer's not-yet-committed files survive.
pub const ORPHAN_MIN_AGE: chrono::Duration = chrono::Duration::hours(1);

/// What [`Store::compact`] did to one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CompactReport {
    pub dataset: String,
    /// Data files of the version before compaction.
    pub files_before: usize,
    /// Data files of the version after compaction.
    pub files_after: usize,
    /// Partitions whose files were merged.
    pub partitions_merged: usize,
    /// The version committed, or `None` when nothing needed merging.
    pub version: Option<u64>,
    /// Orphaned files (listed by no manifest, older than [`ORPHAN_MIN_AGE`]) deleted.
    pub orphans_deleted: usize,
}

impl Store {
    /// Merges every partition of `ds` that holds more than one file into one file.
    /// Rows are unchanged (same multiset; storage order within a partition becomes
    /// the sort order).
    pub async fn compact(&self, ds: Dataset) -> Result<CompactReport, StoreError> {
        self.compact_until(ds, Stop::Never).await
    }

    /// [`Store::compact`] for every dataset.
    pub async fn compact_all(&self) -> Result<Vec<CompactReport>, StoreError> {
        let mut out = Vec::new();
        for ds in Dataset::ALL {
            out.push(self.compact(ds).await?);
        }
        Ok(out)
    }

    pub(crate) async fn compact_until(
        &self,
        ds: Dataset,
        stop: Stop,
    ) -> Result<CompactReport, StoreError> {
        match ds {
            Dataset::Frames => self.compact_typed::<Frame>(stop).await,
            Dataset::Detections => self.compact_typed::<Detection>(stop).await,
            Dataset::Features => self.compact_typed::<MapFeature>(stop).await,
            Dataset::Coverage => self.compact_typed::<CoverageCell>(stop).await,
            Dataset::IngestReport => self.compact_typed::<IngestRecord>(stop).await,
            Dataset::RewardsLedger => self.compact_typed::<LedgerEntry>(stop).await,
            Dataset::RewardsSummary => self.compact_typed::<crate::RewardsSummaryRow>(stop).await,
        }
    }

    async fn compact_typed<T: Record>(&self, stop: Stop) -> Result<CompactReport, StoreError> {
        let ds = T::DATASET;
        let mut report = CompactReport {
            dataset: ds.name().to_owned(),
            ..CompactReport::default()
        };
        let Some(base) = self.manifest(ds).await? else {
            return Ok(report);
        };
        report.files_before = base.files.len();
        let mut by_dir: BTreeMap<&str, Vec<&FileEntry>> = BTreeMap::new();
        for f in &base.files {
            by_dir.entry(dir_of_key(&f.path)).or_default().push(f);
        }
        let mut files: Vec<FileEntry> = Vec::new();
        let mut encoded = Vec::new();
        for (dir, group) in by_dir {
            if group.len() < 2 {
                files.extend(group.into_iter().cloned());
                continue;
            }
            let mut rows: Vec<T> = Vec::new();
            for f in &group {
                rows.extend(self.read_file::<T>(f).await?);
            }
            let key = if dir.is_empty() {
                format!("{ds}/part-{}.parquet", uuid::Uuid::new_v4().simple())
            } else {
                format!("{ds}/{dir}/part-{}.parquet", uuid::Uuid::new_v4().simple())
            };
            let n = rows.len() as u64;
            encoded.push((key, n, encode_parquet(rows.iter().collect())?));
            report.partitions_merged += 1;
        }
        if report.partitions_merged > 0 {
            files.extend(self.put_files(ds, encoded).await?);
            if stop == Stop::BeforeCommit {
                return Ok(report);
            }
            let kept = files.clone();
            self.commit(ds, Some(&base), files, base.metadata.clone(), stop)
                .await?;
            self.delete_superseded(ds, Some(&base), &kept).await;
            report.version = Some(base.version + 1);
            report.files_after = kept.len();
            info!(dataset = %ds, before = report.files_before, after = report.files_after, "compacted");
        } else {
            report.files_after = report.files_before;
        }
        report.orphans_deleted = self.delete_orphans(ds).await?;
        Ok(report)
    }

    /// Deletes data files under `ds/` that the current manifest does not list and
    /// that are older than [`ORPHAN_MIN_AGE`].
    async fn delete_orphans(&self, ds: Dataset) -> Result<usize, StoreError> {
        let listed: HashSet<String> = self
            .manifest(ds)
            .await?
            .map(|m| m.files.into_iter().map(|f| f.path).collect())
            .unwrap_or_default();
        let objects = self.object_store();
        let prefix = Path::from(ds.name());
        let all: Vec<_> = objects
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| StoreError::object_store(ds.name(), e))?;
        let cutoff = Utc::now() - ORPHAN_MIN_AGE;
        let mut deleted = 0;
        for meta in all {
            let key = meta.location.as_ref();
            if !key.ends_with(".parquet") || listed.contains(key) || meta.last_modified > cutoff {
                continue;
            }
            match objects.delete(&meta.location).await {
                Ok(()) => deleted += 1,
                Err(e) => warn!(dataset = %ds, file = key, "cannot delete an orphan: {e}"),
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use streetcomb_core::{CellId, ContributorId, Epoch, LatLon};

    use super::*;

    fn entry(amount: u64, week: u32) -> LedgerEntry {
        LedgerEntry {
            epoch: Epoch::new(2026, week).unwrap(),
            contributor: ContributorId::new("alice").unwrap(),
            cell: CellId::from_latlon(LatLon::new(60.17, 24.94).unwrap(), 11).unwrap(),
            amount,
            reason: "coverage".into(),
        }
    }

    fn sorted(mut rows: Vec<LedgerEntry>) -> Vec<LedgerEntry> {
        rows.sort_by_key(|e| (e.epoch, e.amount));
        rows
    }

    #[tokio::test]
    async fn many_small_appends_compact_into_one_file_per_partition_with_the_same_rows() {
        let store = Store::from_object_store("memory", Arc::new(InMemory::new()));
        for i in 0..10 {
            store
                .append_rewards_ledger(&[entry(i, 46 + (i % 2) as u32)])
                .await
                .unwrap();
        }
        let before = sorted(store.read_rewards_ledger().await.unwrap());
        let r = store.compact(Dataset::RewardsLedger).await.unwrap();
        // The ledger is unpartitioned: one partition, one file.
        assert_eq!(
            (r.files_before, r.files_after, r.partitions_merged),
            (10, 1, 1)
        );
        assert_eq!(sorted(store.read_rewards_ledger().await.unwrap()), before);
        let m = store
            .manifest(Dataset::RewardsLedger)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.files.len(), 1);
        assert_eq!(Some(m.version), r.version);
        // The replaced files are gone from the store, not just from the manifest.
        let stored: Vec<_> = store
            .object_store()
            .list(Some(&Path::from("rewards_ledger")))
            .try_collect()
            .await
            .unwrap();
        let parquet = stored
            .iter()
            .filter(|o| o.location.as_ref().ends_with(".parquet"))
            .count();
        assert_eq!(parquet, 1);
        // Compacting again has nothing to merge and commits nothing.
        let again = store.compact(Dataset::RewardsLedger).await.unwrap();
        assert_eq!((again.partitions_merged, again.version), (0, None));
    }

    #[tokio::test]
    async fn a_crash_during_compaction_before_the_commit_leaves_the_old_version() {
        let store = Store::from_object_store("memory", Arc::new(InMemory::new()));
        for i in 0..3 {
            store.append_rewards_ledger(&[entry(i, 47)]).await.unwrap();
        }
        let before = store
            .manifest(Dataset::RewardsLedger)
            .await
            .unwrap()
            .unwrap();
        store
            .compact_until(Dataset::RewardsLedger, Stop::BeforeCommit)
            .await
            .unwrap();
        let after = store
            .manifest(Dataset::RewardsLedger)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after, before);
        assert_eq!(store.read_rewards_ledger().await.unwrap().len(), 3);
    }
}
