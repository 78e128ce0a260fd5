//! Dataset manifests: the list of data files that make up one version of a dataset.
//!
//! Layout under the store root, per dataset `{ds}`:
//!
//! * `{ds}/{partition folders}/part-{uuid}.parquet` — data files, written once, never
//!   modified, e.g. `frames/date=2026-11-16/h3_4=84089b1ffffffff/part-….parquet`
//!   (see [`crate::partition`]; unpartitioned datasets have no folders); a file is
//!   part of a version only if that version's manifest lists it;
//! * `{ds}/_manifests/v{N}.json` — the manifest of version `N`, created with
//!   "create if absent" (`PutMode::Create`); **its creation is the commit point**;
//! * `{ds}/_manifest.json` — a copy of the latest manifest, overwritten after each
//!   commit, so readers (and people with `cat`) find the current version in one GET.
//!
//! A manifest looks like
//! `{"version": 3, "files": [{"path": "frames/date=2026-11-16/h3_4=…/part-….parquet", "rows": 120, "bytes": 8041}],
//! "schema_version": 1, "written_at": "2026-11-21T12:00:00Z"}` (plus `metadata`, a
//! string map, when set). Paths are object keys relative to the store root.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::schema::SCHEMA_VERSION;
use crate::{Dataset, StoreError};

/// One data file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Object key relative to the store root, e.g.
    /// `frames/date=2026-11-16/h3_4=84089b1ffffffff/part-….parquet`.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

/// One version of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// 1 for the first write, +1 for every write, append or metadata change.
    pub version: u64,
    pub files: Vec<FileEntry>,
    pub schema_version: u32,
    pub written_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// `{ds}/_manifest.json`, the pointer to the latest version.
pub fn current_key(ds: Dataset) -> String {
    format!("{ds}/_manifest.json")
}

/// `{ds}/_manifests/v{N}.json`, the immutable manifest of version `N`.
pub fn version_key(ds: Dataset, version: u64) -> String {
    format!("{ds}/_manifests/v{version}.json")
}

/// A fresh data file key in the partition with `values`. Unique (uuid) so that two
/// writers never overwrite each other's files.
pub fn data_key(ds: Dataset, values: &[String]) -> String {
    let dir = crate::partition::dir(ds, values);
    let uuid = uuid::Uuid::new_v4().simple();
    if dir.is_empty() {
        format!("{ds}/part-{uuid}.parquet")
    } else {
        format!("{ds}/{dir}/part-{uuid}.parquet")
    }
}

impl Manifest {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    pub(crate) fn to_json(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec_pretty(self).map_err(|e| StoreError::CorruptManifest {
            key: key.to_owned(),
            reason: format!("cannot serialise: {e}"),
        })
    }

    /// Parses and checks the manifest stored at `key`; `expected_version` is the `N`
    /// of a `_manifests/v{N}.json` key.
    pub(crate) fn parse(
        ds: Dataset,
        key: &str,
        bytes: &[u8],
        expected_version: Option<u64>,
    ) -> Result<Manifest, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptManifest {
            key: key.to_owned(),
            reason,
        };
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if m.schema_version != SCHEMA_VERSION {
            return Err(corrupt(format!(
                "schema_version {} is not supported (this build reads {SCHEMA_VERSION})",
                m.schema_version
            )));
        }
        if m.version == 0 {
            return Err(corrupt("version must be at least 1".into()));
        }
        if let Some(v) = expected_version.filter(|v| *v != m.version) {
            return Err(corrupt(format!(
                "holds version {} instead of {v}",
                m.version
            )));
        }
        let prefix = format!("{ds}/");
        for f in &m.files {
            let inside = f.path.starts_with(&prefix)
                && f.path.ends_with(".parquet")
                && f.path
                    .split('/')
                    .all(|s| !s.is_empty() && s != "." && s != "..");
            if !inside {
                return Err(corrupt(format!(
                    "file path {:?} is not a .parquet key under {prefix}",
                    f.path
                )));
            }
            crate::partition::values_of_key(ds, &f.path)
                .map_err(|e| corrupt(format!("file path {:?}: {e}", f.path)))?;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest {
            version: 2,
            files,
            schema_version: SCHEMA_VERSION,
            written_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn a_manifest_round_trips_through_json_in_the_documented_shape() {
        let m = manifest(vec![FileEntry {
            path: "frames/date=2026-11-16/h3_4=84089b1ffffffff/part-a.parquet".into(),
            rows: 3,
            bytes: 100,
        }]);
        let json = m.to_json("k").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(v["schema_version"], 2);
        assert_eq!(
            v["files"][0]["path"],
            "frames/date=2026-11-16/h3_4=84089b1ffffffff/part-a.parquet"
        );
        assert_eq!(v["files"][0]["rows"], 3);
        assert_eq!(v["written_at"], "2023-11-14T22:13:20Z");
        assert!(v.get("metadata").is_none());
        assert_eq!(
            Manifest::parse(Dataset::Frames, "k", &json, Some(2)).unwrap(),
            m
        );
    }

    #[test]
    fn manifests_pointing_outside_their_dataset_or_at_the_wrong_version_are_corrupt() {
        let escape = manifest(vec![FileEntry {
            path: "frames/../coverage/x.parquet".into(),
            rows: 1,
            bytes: 1,
        }]);
        let json = escape.to_json("k").unwrap();
        let err = Manifest::parse(Dataset::Frames, "frames/_manifest.json", &json, None);
        assert!(matches!(err, Err(StoreError::CorruptManifest { .. })));

        let ok = manifest(vec![]).to_json("k").unwrap();
        let err = Manifest::parse(Dataset::Frames, "frames/_manifests/v3.json", &ok, Some(3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("frames/_manifests/v3.json"), "{err}");
    }

    #[test]
    fn data_keys_are_unique_per_call() {
        let values = ["2026-11-16".to_owned(), "84089b1ffffffff".to_owned()];
        let a = data_key(Dataset::Coverage, &values);
        assert!(
            a.starts_with("coverage/date=2026-11-16/h3_4=84089b1ffffffff/part-")
                && a.ends_with(".parquet"),
            "{a}"
        );
        assert_ne!(a, data_key(Dataset::Coverage, &values));
        let d = data_key(Dataset::Detections, &[]);
        assert!(d.starts_with("detections/part-"), "{d}");
    }
}
