//! The [`Store`]: blobs and versioned Parquet datasets on an `object_store`.
//!
//! # Commit protocol
//!
//! A write (or append) of dataset `ds`:
//!
//! 1. reads the current manifest (version `N`, or none);
//! 2. splits the rows by partition ([`crate::partition`]), encodes each partition
//!    into one Parquet file in memory and writes each with a single `put` to a fresh
//!    key `ds/{partition folders}/part-{uuid}.parquet` (object-store puts are atomic:
//!    the local store writes a temporary file and renames it, S3 PUTs are whole);
//! 3. **commits** by creating `ds/_manifests/v{N+1}.json` with "create if absent";
//! 4. overwrites `ds/_manifest.json` with the same manifest.
//!
//! Readers only open files listed in a manifest, so a crash before step 3 leaves
//! version `N` as it was, plus an orphan file nobody reads. A crash between 3 and 4
//! is harmless too: readers start from `_manifest.json` and roll forward while
//! `_manifests/v{N+1}.json` exists (one extra GET that normally misses).
//!
//! After a replacing write or a [`Store::compact`] commits, the files the new
//! version no longer lists are deleted, so a dataset folder holds the current
//! version's files (plus orphans of crashed writes, which [`Store::compact`] removes
//! once they are an hour old) and tools that glob the folders with hive
//! partitioning see the current data.
//!
//! # Concurrency
//!
//! Two writers racing for the same version are detected: the loser's step 3 fails
//! with [`StoreError::ConcurrentWrite`]. An append then re-bases its (already
//! written) files onto the newer version and commits again; the `update_*` methods
//! re-run their change on the newer rows; a plain replacing write reports the
//! conflict and leaves its data file an orphan. So several workers may append to or
//! update one dataset at once, and readers may run at any time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use streetcomb_core::{CoverageCell, Detection, Frame, IngestRecord, LedgerEntry, MapFeature};
use tracing::{debug, warn};

use crate::codec::{Columns, Record};
use crate::geoparquet::{GEO_METADATA_KEY, bbox, geo_metadata};
use crate::manifest::{FileEntry, Manifest, current_key, data_key, version_key};
use crate::schema::{self, SCHEMA_VERSION};
use crate::{Dataset, DatasetInfo, StoreError};

/// Rows per Parquet row group: large enough for good compression and few footer
/// entries, small enough that a reader filtering on `h3`, position or time skips most
/// of a big file (pages inside a group are pruned too, by the page index).
pub const ROW_GROUP_ROWS: usize = 100_000;

/// Data files read concurrently by one `read_*` call (matters on remote stores).
const READ_CONCURRENCY: usize = 8;

/// Data files written concurrently by one write (one per partition).
const WRITE_CONCURRENCY: usize = 8;

/// How often an append or an update re-bases onto a version another writer committed
/// before giving up with [`StoreError::ConcurrentWrite`].
const MAX_REBASES: u32 = 50;

/// A short randomised pause before re-basing, so that racing writers spread out.
async fn backoff(attempt: u32) {
    let ms = 5 * u64::from(attempt.min(20)) + u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 16);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Parquet footer key naming the dataset a file belongs to.
pub const DATASET_METADATA_KEY: &str = "streetcomb:dataset";
/// Parquet footer key holding the schema version.
pub const SCHEMA_VERSION_METADATA_KEY: &str = "streetcomb:schema_version";

/// A data lake rooted at one location. Cheap to clone; all clones share the backend.
#[derive(Debug, Clone)]
pub struct Store {
    location: Arc<str>,
    objects: Arc<dyn ObjectStore>,
}

/// Where a location string points.
#[derive(Debug, PartialEq)]
enum Backend {
    Local(PathBuf),
    /// An S3 (or S3-compatible) bucket and the key prefix of the lake in it.
    S3 {
        bucket: String,
        prefix: String,
    },
}

fn parse_location(location: &str) -> Result<Backend, StoreError> {
    let unsupported = |reason: String| StoreError::Unsupported {
        location: location.to_owned(),
        reason,
    };
    if location.trim().is_empty() {
        return Err(unsupported("empty location".into()));
    }
    let Some((scheme, _)) = location.split_once("://") else {
        return Ok(Backend::Local(PathBuf::from(location)));
    };
    match scheme {
        "file" => {
            let url = url::Url::parse(location).map_err(|e| unsupported(e.to_string()))?;
            url.to_file_path()
                .map(Backend::Local)
                .map_err(|()| unsupported("not a local file URL".into()))
        }
        "s3" | "s3a" => {
            let url = url::Url::parse(location).map_err(|e| unsupported(e.to_string()))?;
            let bucket = url
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| unsupported("no bucket name (expected s3://bucket/prefix)".into()))?
                .to_owned();
            let prefix = url.path().trim_matches('/').to_owned();
            if prefix
                .split('/')
                .any(|s| s == "." || s == ".." || (s.is_empty() && !prefix.is_empty()))
            {
                return Err(unsupported(
                    "the key prefix has empty, '.' or '..' segments".into(),
                ));
            }
            Ok(Backend::S3 { bucket, prefix })
        }
        "gs" | "az" | "abfs" | "abfss" => Err(unsupported(format!(
            "{scheme}:// stores are not supported yet; use a local directory, file:// or s3:// URL"
        ))),
        other => Err(unsupported(format!(
            "unknown scheme {other:?}; use a local directory, file:// or s3:// URL"
        ))),
    }
}

/// Checks a blob key and turns it into an object path.
fn blob_path(key: &str) -> Result<Path, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidKey {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    if key.is_empty() {
        return Err(invalid("empty"));
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(invalid(
            "segments must be non-empty and not '.' or '..' (no leading, trailing or double '/')",
        ));
    }
    let first = key.split('/').next().unwrap_or_default();
    if Dataset::ALL.iter().any(|d| d.name() == first) {
        return Err(invalid(
            "the first segment is a dataset name; blobs must not live inside a dataset",
        ));
    }
    let path = Path::parse(key).map_err(|e| invalid(&e.to_string()))?;
    if path.as_ref() != key {
        return Err(invalid("not a canonical object key"));
    }
    Ok(path)
}

/// Whether a write replaces the dataset or adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Replace,
    Append,
}

/// Where a write stops early: crash injection for the commit-protocol tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Never,
    /// After the data file is written, before any manifest.
    BeforeCommit,
    /// After `_manifests/v{N}.json`, before `_manifest.json`.
    #[cfg_attr(not(test), allow(dead_code))]
    BeforePointer,
}

impl Store {
    /// Opens the lake at `location`: a local directory (created if missing), a
    /// `file://` URL, or `s3://bucket/prefix` (credentials, region and endpoint from
    /// the standard `AWS_*` environment variables). Other schemes give
    /// [`StoreError::Unsupported`].
    pub async fn open(location: &str) -> Result<Store, StoreError> {
        Self::open_with(location, std::iter::empty::<(String, String)>()).await
    }

    /// [`Store::open`] with object-store options that override the environment for
    /// cloud locations, as `object_store` configuration keys (for S3 e.g.
    /// `aws_endpoint`, `aws_allow_http`, `aws_access_key_id`, `aws_region`). Ignored for
    /// local stores.
    pub async fn open_with<K: AsRef<str>, V: Into<String>>(
        location: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Store, StoreError> {
        let objects: Arc<dyn ObjectStore> = match parse_location(location)? {
            Backend::Local(dir) => {
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|source| StoreError::Io {
                        path: dir.display().to_string(),
                        source,
                    })?;
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| StoreError::object_store(dir.display().to_string(), e))?;
                Arc::new(fs)
            }
            Backend::S3 { bucket, prefix } => {
                // Credentials, region and endpoint come from the usual AWS_* variables
                // (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
                // AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, …).
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
                for (key, value) in options {
                    let key: AmazonS3ConfigKey =
                        key.as_ref().parse().map_err(|e: object_store::Error| {
                            StoreError::Unsupported {
                                location: location.to_owned(),
                                reason: e.to_string(),
                            }
                        })?;
                    builder = builder.with_config(key, value);
                }
                let s3 = builder
                    .build()
                    .map_err(|e| StoreError::object_store(location, e))?;
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                }
            }
        };
        Ok(Self::from_object_store(location, objects))
    }

    /// A lake on any object store (in-memory, or a cloud bucket already scoped to a
    /// prefix). `location` is only reported back by [`Store::location`].
    pub fn from_object_store(location: &str, objects: Arc<dyn ObjectStore>) -> Store {
        Store {
            location: location.into(),
            objects,
        }
    }

    /// The location this store was opened with.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The underlying object store, keys relative to the lake root.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.objects.clone()
    }

    // ---- blobs ------------------------------------------------------------------

    /// Stores `bytes` under `key` in one atomic put: readers see the old object or the
    /// whole new one. Keys are `/`-separated and must not start with a dataset name.
    pub async fn put_blob(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = blob_path(key)?;
        self.objects
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| StoreError::object_store(key, e))?;
        Ok(())
    }

    /// The blob under `key`, or `None` if there is none.
    pub async fn get_blob(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = blob_path(key)?;
        self.get_bytes(&path).await.map(|b| b.map(|b| b.to_vec()))
    }

    /// A tag that changes whenever the blob under `key` is replaced (its ETag, else its
    /// size and modification time), or `None` if there is none. One HEAD request.
    pub async fn blob_tag(&self, key: &str) -> Result<Option<String>, StoreError> {
        let path = blob_path(key)?;
        match self.objects.head(&path).await {
            Ok(m) => Ok(Some(m.e_tag.unwrap_or_else(|| {
                format!(
                    "{}-{}",
                    m.size,
                    m.last_modified.timestamp_nanos_opt().unwrap_or_default()
                )
            }))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StoreError::object_store(key, e)),
        }
    }

    /// Deletes the blob under `key`; deleting a missing blob is not an error.
    pub async fn delete_blob(&self, key: &str) -> Result<(), StoreError> {
        let path = blob_path(key)?;
        match self.objects.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::object_store(key, e)),
        }
    }

    async fn get_bytes(&self, path: &Path) -> Result<Option<bytes::Bytes>, StoreError> {
        let res = match self.objects.get(path).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(StoreError::object_store(path.as_ref(), e)),
        };
        res.bytes()
            .await
            .map(Some)
            .map_err(|e| StoreError::object_store(path.as_ref(), e))
    }

    // ---- typed datasets -----------------------------------------------------------

    /// Adds `rows` to `frames` as a new file (new version = old files + new file).
    /// Appending no rows commits nothing.
    pub async fn append_frames(&self, rows: &[Frame]) -> Result<(), StoreError> {
        self.save(rows, Mode::Append).await
    }

    /// Replaces the content of `frames` with `rows` (a new version).
    pub async fn write_frames(&self, rows: &[Frame]) -> Result<(), StoreError> {
        self.save(rows, Mode::Replace).await
    }

    /// Read-modify-write of `frames` that re-runs `change` on the newer rows when
    /// another writer commits first (see [`Store::update_detections`]).
    pub async fn update_frames<R>(
        &self,
        change: impl FnMut(Vec<Frame>) -> (Vec<Frame>, R),
    ) -> Result<R, StoreError> {
        self.update(change).await
    }

    /// All rows of the current version of `frames` (empty if never written), in
    /// storage order (see [`crate::schema`]).
    pub async fn read_frames(&self) -> Result<Vec<Frame>, StoreError> {
        self.load().await
    }

    /// Read-modify-write of `detections` under optimistic concurrency: `change` gets
    /// the latest rows and returns the new ones (plus a value passed back); if another
    /// writer commits in between, `change` runs again on its result. For writers that
    /// share a dataset, such as several vision workers.
    pub async fn update_detections<R>(
        &self,
        change: impl FnMut(Vec<Detection>) -> (Vec<Detection>, R),
    ) -> Result<R, StoreError> {
        self.update(change).await
    }

    /// [`Store::update_detections`] for `features`.
    pub async fn update_features<R>(
        &self,
        change: impl FnMut(Vec<MapFeature>) -> (Vec<MapFeature>, R),
    ) -> Result<R, StoreError> {
        self.update(change).await
    }

    /// [`Store::update_detections`] for `coverage`.
    pub async fn update_coverage<R>(
        &self,
        change: impl FnMut(Vec<CoverageCell>) -> (Vec<CoverageCell>, R),
    ) -> Result<R, StoreError> {
        self.update(change).await
    }

    /// Adds `rows` to `detections` as a new file.
    pub async fn append_detections(&self, rows: &[Detection]) -> Result<(), StoreError> {
        self.save(rows, Mode::Append).await
    }

    /// Replaces the content of `detections`.
    pub async fn write_detections(&self, rows: &[Detection]) -> Result<(), StoreError> {
        self.save(rows, Mode::Replace).await
    }

    /// All rows of `detections`.
    pub async fn read_detections(&self) -> Result<Vec<Detection>, StoreError> {
        self.load().await
    }

    /// Adds `rows` to `features` as a new file.
    pub async fn append_features(&self, rows: &[MapFeature]) -> Result<(), StoreError> {
        self.save(rows, Mode::Append).await
    }

    /// Replaces the content of `features`.
    pub async fn write_features(&self, rows: &[MapFeature]) -> Result<(), StoreError> {
        self.save(rows, Mode::Replace).await
    }

    /// All rows of `features`.
    pub async fn read_features(&self) -> Result<Vec<MapFeature>, StoreError> {
        self.load().await
    }

    /// Adds `rows` to `coverage` as a new file.
    pub async fn append_coverage(&self, rows: &[CoverageCell]) -> Result<(), StoreError> {
        self.save(rows, Mode::Append).await
    }

    /// Replaces the content of `coverage`.
    pub async fn write_coverage(&self, rows: &[CoverageCell]) -> Result<(), StoreError> {
        self.save(rows, Mode::Replace).await
    }

    /// All rows of `coverage`.
    pub async fn read_coverage(&self) -> Result<Vec<CoverageCell>, StoreError> {
        self.load().await
    }

    /// Adds `rows` to `ingest_report` as a new file.
    pub async fn append_ingest_report(&self, rows: &[IngestRecord]) -> Result<(), StoreError> {
        self.save(rows, Mode::Append).await
    }

    /// Replaces the content of `ingest_report`.
    pub async fn write_ingest_report(&self, rows: &[IngestRecord]) -> Result<(), StoreError> {
        self.save(rows, Mode::Replace).await
    }

    /// All rows of `ingest_report`.
    pub async fn read_ingest_report(&self) -> Result<Vec<IngestRecord>, StoreError> {
        self.load().await
    }

    /// Adds `rows` to `rewards_ledger` as a new file.
    pub async fn append_rewards_ledger(&self, rows: &[LedgerEntry]) -> Result<(), StoreError> {
        self.save(rows, Mode::Append).await
    }

    /// Replaces the content of `rewards_ledger`.
    pub async fn write_rewards_ledger(&self, rows: &[LedgerEntry]) -> Result<(), StoreError> {
        self.save(rows, Mode::Replace).await
    }

    /// All rows of `rewards_ledger`.
    pub async fn read_rewards_ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        self.load().await
    }

    /// Replaces the content of `rewards_summary`.
    pub async fn write_rewards_summary(
        &self,
        rows: &[crate::RewardsSummaryRow],
    ) -> Result<(), StoreError> {
        self.save(rows, Mode::Replace).await
    }

    /// All rows of `rewards_summary`.
    pub async fn read_rewards_summary(&self) -> Result<Vec<crate::RewardsSummaryRow>, StoreError> {
        self.load().await
    }

    // ---- catalogue ------------------------------------------------------------------

    /// The current version of every dataset that has been written, in
    /// [`Dataset::ALL`] order.
    pub async fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        let mut out = Vec::new();
        for ds in Dataset::ALL {
            if let Some(m) = self.manifest(ds).await? {
                out.push(DatasetInfo {
                    name: ds.name().to_owned(),
                    version: m.version,
                    files: m.files.len(),
                    rows: m.rows(),
                    bytes: m.bytes(),
                    schema_version: m.schema_version,
                    written_at: m.written_at,
                    metadata: m.metadata,
                });
            }
        }
        Ok(out)
    }

    /// Sets a free-form `key` = `value` on `dataset`'s manifest (a new version with the
    /// same files), e.g. which run or model produced it.
    pub async fn set_metadata(
        &self,
        dataset: &str,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let ds: Dataset = dataset.parse()?;
        let base = self.manifest(ds).await?;
        let files = base.as_ref().map(|m| m.files.clone()).unwrap_or_default();
        let mut metadata = base
            .as_ref()
            .map(|m| m.metadata.clone())
            .unwrap_or_default();
        metadata.insert(key.to_owned(), value.to_owned());
        self.commit(ds, base.as_ref(), files, metadata, Stop::Never)
            .await
    }

    /// The current manifest of `ds`, or `None` if it was never written.
    pub async fn manifest(&self, ds: Dataset) -> Result<Option<Manifest>, StoreError> {
        let key = current_key(ds);
        let mut current = match self.get_bytes(&Path::from(key.as_str())).await? {
            Some(b) => Some(Manifest::parse(ds, &key, &b, None)?),
            None => None,
        };
        // Roll forward past commits whose `_manifest.json` update was lost.
        loop {
            let next = current.as_ref().map_or(1, |m| m.version + 1);
            let key = version_key(ds, next);
            match self.get_bytes(&Path::from(key.as_str())).await? {
                Some(b) => current = Some(Manifest::parse(ds, &key, &b, Some(next))?),
                None => return Ok(current),
            }
        }
    }

    // ---- internals ------------------------------------------------------------------

    async fn save<T: Record>(&self, rows: &[T], mode: Mode) -> Result<(), StoreError> {
        self.save_until(rows, mode, Stop::Never).await
    }

    pub(crate) async fn save_until<T: Record>(
        &self,
        rows: &[T],
        mode: Mode,
        stop: Stop,
    ) -> Result<(), StoreError> {
        let ds = T::DATASET;
        if rows.is_empty() && mode == Mode::Append {
            return Ok(());
        }
        let encoded = encode_partitions(rows)?;
        let written = self.put_files(ds, encoded).await?;
        if stop == Stop::BeforeCommit {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            let base = self.manifest(ds).await?;
            let mut files = match (mode, &base) {
                (Mode::Append, Some(m)) => m.files.clone(),
                _ => Vec::new(),
            };
            files.extend(written.iter().cloned());
            let metadata = base
                .as_ref()
                .map(|m| m.metadata.clone())
                .unwrap_or_default();
            let new_files = files.clone();
            match self.commit(ds, base.as_ref(), files, metadata, stop).await {
                Ok(()) => {
                    if mode == Mode::Replace {
                        self.delete_superseded(ds, base.as_ref(), &new_files).await;
                    }
                    return Ok(());
                }
                // An append commutes with whatever another writer committed: rebase the
                // new files onto the latest version. A replace must not silently win.
                Err(StoreError::ConcurrentWrite { .. })
                    if mode == Mode::Append && attempt < MAX_REBASES =>
                {
                    attempt += 1;
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Read-modify-write of a whole dataset under optimistic concurrency: `change`
    /// gets the rows of the latest version and returns the new rows, committed as the
    /// next version. When another writer commits first, the new files are discarded
    /// and `change` runs again on the newer rows, so no concurrent write is lost;
    /// `change` must therefore be a pure function of its input. Returns what the last
    /// `change` returned besides the rows.
    pub(crate) async fn update<T: Record, R>(
        &self,
        mut change: impl FnMut(Vec<T>) -> (Vec<T>, R),
    ) -> Result<R, StoreError> {
        let ds = T::DATASET;
        let mut attempt = 0;
        loop {
            let base = self.manifest(ds).await?;
            let rows = match &base {
                Some(m) => self.load_version::<T>(m).await?,
                None => Vec::new(),
            };
            let (rows, out) = change(rows);
            let written = self.put_files(ds, encode_partitions(&rows)?).await?;
            let metadata = base
                .as_ref()
                .map(|m| m.metadata.clone())
                .unwrap_or_default();
            match self
                .commit(ds, base.as_ref(), written.clone(), metadata, Stop::Never)
                .await
            {
                Ok(()) => {
                    self.delete_superseded(ds, base.as_ref(), &written).await;
                    return Ok(out);
                }
                Err(StoreError::ConcurrentWrite { .. }) if attempt < MAX_REBASES => {
                    attempt += 1;
                    // Nobody lists these files: remove them now rather than leave them
                    // for compaction.
                    self.delete_files(ds, &written).await;
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes encoded files concurrently (each a single atomic put) and returns their
    /// manifest entries.
    pub(crate) async fn put_files(
        &self,
        ds: Dataset,
        encoded: Vec<(String, u64, Vec<u8>)>,
    ) -> Result<Vec<FileEntry>, StoreError> {
        let puts: Vec<_> = encoded
            .into_iter()
            .map(|(key, rows, bytes)| {
                let objects = self.objects.clone();
                async move {
                    let entry = FileEntry {
                        path: key.clone(),
                        rows,
                        bytes: bytes.len() as u64,
                    };
                    objects
                        .put(&Path::from(key.as_str()), PutPayload::from(bytes))
                        .await
                        .map_err(|e| StoreError::object_store(&key, e))?;
                    debug!(dataset = %ds, %key, rows, "wrote data file");
                    Ok::<_, StoreError>(entry)
                }
            })
            .collect();
        futures::stream::iter(puts)
            .buffered(WRITE_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Deletes the files of `base` that the newly committed version no longer lists.
    /// Best effort: a failure leaves an orphan that no manifest lists, never a
    /// broken version. (Readers still planning against `base` may then miss a file
    /// and fail; they retry with the new version.)
    pub(crate) async fn delete_superseded(
        &self,
        ds: Dataset,
        base: Option<&Manifest>,
        kept: &[FileEntry],
    ) {
        let Some(base) = base else { return };
        let kept: std::collections::HashSet<&str> = kept.iter().map(|f| f.path.as_str()).collect();
        let gone: Vec<FileEntry> = base
            .files
            .iter()
            .filter(|f| !kept.contains(f.path.as_str()))
            .cloned()
            .collect();
        self.delete_files(ds, &gone).await;
    }

    /// Deletes data files, best effort (a failure leaves an orphan).
    async fn delete_files(&self, ds: Dataset, files: &[FileEntry]) {
        for f in files {
            match self.objects.delete(&Path::from(f.path.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    warn!(dataset = %ds, file = %f.path, "cannot delete a superseded file: {e}")
                }
            }
        }
    }

    /// Steps 3 and 4 of the commit protocol.
    pub(crate) async fn commit(
        &self,
        ds: Dataset,
        base: Option<&Manifest>,
        files: Vec<FileEntry>,
        metadata: BTreeMap<String, String>,
        stop: Stop,
    ) -> Result<(), StoreError> {
        let version = base.map_or(1, |m| m.version + 1);
        let manifest = Manifest {
            version,
            files,
            schema_version: SCHEMA_VERSION,
            written_at: Utc::now(),
            metadata,
        };
        let vkey = version_key(ds, version);
        let json = manifest.to_json(&vkey)?;
        let create = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let vpath = Path::from(vkey.as_str());
        match self
            .objects
            .put_opts(&vpath, PutPayload::from(json.clone()), create)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(StoreError::ConcurrentWrite {
                    dataset: ds.name().to_owned(),
                    version,
                });
            }
            // A backend without conditional puts: fall back to a plain put and lose
            // concurrent-writer detection, not the write.
            Err(object_store::Error::NotImplemented { .. }) => {
                warn!(dataset = %ds, "object store lacks create-if-absent; concurrent writers go undetected");
                self.objects
                    .put(&vpath, PutPayload::from(json.clone()))
                    .await
                    .map_err(|e| StoreError::object_store(&vkey, e))?;
            }
            Err(e) => return Err(StoreError::object_store(&vkey, e)),
        }
        if stop == Stop::BeforePointer {
            return Ok(());
        }
        let ckey = current_key(ds);
        self.objects
            .put(&Path::from(ckey.as_str()), PutPayload::from(json))
            .await
            .map_err(|e| StoreError::object_store(&ckey, e))?;
        debug!(dataset = %ds, version, rows = manifest.rows(), "committed");
        Ok(())
    }

    async fn load<T: Record>(&self) -> Result<Vec<T>, StoreError> {
        match self.manifest(T::DATASET).await? {
            Some(m) => self.load_version(&m).await,
            None => Ok(Vec::new()),
        }
    }

    /// All rows of one version.
    async fn load_version<T: Record>(&self, m: &Manifest) -> Result<Vec<T>, StoreError> {
        // Futures collected first: a stream over borrowing closures would make this
        // future not `Send` (higher-ranked lifetime limits), and servers spawn reads.
        let reads: Vec<_> = m.files.iter().map(|f| self.read_file::<T>(f)).collect();
        let parts: Vec<Vec<T>> = futures::stream::iter(reads)
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    pub(crate) async fn read_file<T: Record>(
        &self,
        file: &FileEntry,
    ) -> Result<Vec<T>, StoreError> {
        let ds = T::DATASET;
        let corrupt = |reason: String| StoreError::CorruptFile {
            dataset: ds.name().to_owned(),
            file: file.path.clone(),
            reason,
        };
        // One GET for the whole file: files are written whole, and a single request
        // beats many ranged ones on remote stores.
        let bytes = self
            .get_bytes(&Path::from(file.path.as_str()))
            .await?
            .ok_or_else(|| corrupt("listed in the manifest but missing".into()))?;
        if bytes.len() as u64 != file.bytes {
            return Err(corrupt(format!(
                "file has {} bytes, the manifest says {}",
                bytes.len(),
                file.bytes
            )));
        }
        let perr = |e| StoreError::parquet(ds.name(), &file.path, e);
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(perr)?;
        check_schema(ds, &file.path, builder.schema())?;
        let reader = builder.with_batch_size(8192).build().map_err(perr)?;
        let mut out = Vec::with_capacity(usize::try_from(file.rows).unwrap_or(0));
        let mut offset = 0usize;
        for batch in reader {
            let batch =
                batch.map_err(|e| StoreError::arrow(format!("reading {}", file.path), e))?;
            T::decode(&Columns::new(&batch), &mut out).map_err(|b| StoreError::InvalidRow {
                dataset: ds.name().to_owned(),
                file: file.path.clone(),
                row: offset + b.row,
                column: b.column.to_owned(),
                reason: b.reason,
            })?;
            offset += batch.num_rows();
        }
        if offset as u64 != file.rows {
            return Err(corrupt(format!(
                "file has {offset} rows, the manifest says {}",
                file.rows
            )));
        }
        Ok(out)
    }
}

/// Splits rows by partition and encodes each partition into one Parquet file:
/// `(key, rows, bytes)` per file, in partition order.
fn encode_partitions<T: Record>(rows: &[T]) -> Result<Vec<(String, u64, Vec<u8>)>, StoreError> {
    let ds = T::DATASET;
    let mut parts: BTreeMap<Vec<String>, Vec<&T>> = BTreeMap::new();
    for (row, r) in rows.iter().enumerate() {
        let values = r.partition().map_err(|e| StoreError::InvalidInput {
            dataset: ds.name().to_owned(),
            row,
            reason: e.to_string(),
        })?;
        parts.entry(values).or_default().push(r);
    }
    parts
        .into_iter()
        .map(|(values, part)| {
            let n = part.len() as u64;
            Ok((data_key(ds, &values), n, encode_parquet(part)?))
        })
        .collect()
}

/// Encodes rows into a complete Parquet file: sorted, zstd, GeoParquet metadata,
/// statistics and page index for pruning. Deterministic: no wall-clock or random
/// values go into the file.
pub(crate) fn encode_parquet<T: Record>(mut sorted: Vec<&T>) -> Result<Vec<u8>, StoreError> {
    let ds = T::DATASET;
    let perr = |e| StoreError::parquet(ds.name(), "(new file)", e);
    T::sort(&mut sorted);

    let mut kv = vec![
        KeyValue::new(DATASET_METADATA_KEY.to_owned(), ds.name().to_owned()),
        KeyValue::new(
            SCHEMA_VERSION_METADATA_KEY.to_owned(),
            SCHEMA_VERSION.to_string(),
        ),
    ];
    if ds.has_geometry()
        && let Some(b) = bbox(sorted.iter().filter_map(|r| r.point()))
    {
        kv.push(KeyValue::new(GEO_METADATA_KEY.to_owned(), geo_metadata(b)));
    }
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Page-level statistics also write the column and offset indexes, so readers
        // prune pages inside a row group, not just whole row groups.
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(Some(kv))
        .build();

    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, schema::of(ds), Some(props)).map_err(perr)?;
    for chunk in sorted.chunks(ROW_GROUP_ROWS) {
        writer.write(&T::to_batch(chunk)?).map_err(perr)?;
    }
    writer.close().map_err(perr)?;
    Ok(buf)
}

/// Checks a file has every column of its dataset's schema with the right type.
/// Extra columns are allowed (files from a newer minor schema stay readable).
fn check_schema(ds: Dataset, file: &str, found: &SchemaRef) -> Result<(), StoreError> {
    for want in schema::of(ds).fields() {
        let err = |reason: String| StoreError::Schema {
            dataset: ds.name().to_owned(),
            file: file.to_owned(),
            column: want.name().clone(),
            reason,
        };
        let got = found
            .field_with_name(want.name())
            .map_err(|_| err("missing".into()))?;
        // Any timezone is fine: Arrow timestamps with a zone are UTC instants.
        let same = match (want.data_type(), got.data_type()) {
            (
                DataType::Timestamp(TimeUnit::Microsecond, Some(_)),
                DataType::Timestamp(TimeUnit::Microsecond, Some(_)),
            ) => true,
            (a, b) => a == b,
        };
        if !same {
            return Err(err(format!(
                "expected type {}, found {}",
                want.data_type(),
                got.data_type()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use object_store::memory::InMemory;
    use streetcomb_core::{CellId, ContributorId, Epoch, LatLon};

    fn memory_store() -> Store {
        Store::from_object_store("memory", Arc::new(InMemory::new()))
    }

    fn entry(amount: u64) -> LedgerEntry {
        LedgerEntry {
            epoch: Epoch::new(2026, 47).unwrap(),
            contributor: ContributorId::new("alice").unwrap(),
            cell: CellId::from_latlon(LatLon::new(60.17, 24.94).unwrap(), 11).unwrap(),
            amount,
            reason: "coverage".into(),
        }
    }

    fn assert_send<T: Send>(_: T) {}

    #[test]
    fn every_public_future_is_send_so_servers_can_spawn_them() {
        // Compile-time check: the futures are built, never polled.
        let s = memory_store();
        assert_send(Store::open("x"));
        assert_send(s.put_blob("a", vec![]));
        assert_send(s.get_blob("a"));
        assert_send(s.delete_blob("a"));
        assert_send(s.append_frames(&[]));
        assert_send(s.write_frames(&[]));
        assert_send(s.read_frames());
        assert_send(s.append_detections(&[]));
        assert_send(s.write_detections(&[]));
        assert_send(s.read_detections());
        assert_send(s.append_features(&[]));
        assert_send(s.write_features(&[]));
        assert_send(s.read_features());
        assert_send(s.append_coverage(&[]));
        assert_send(s.write_coverage(&[]));
        assert_send(s.read_coverage());
        assert_send(s.append_ingest_report(&[]));
        assert_send(s.write_ingest_report(&[]));
        assert_send(s.read_ingest_report());
        assert_send(s.append_rewards_ledger(&[]));
        assert_send(s.write_rewards_ledger(&[]));
        assert_send(s.read_rewards_ledger());
        assert_send(s.datasets());
        assert_send(s.set_metadata("frames", "k", "v"));
        assert_send(s.manifest(Dataset::Frames));
        assert_send(s.session());
        assert_send(s.query("SELECT 1"));
    }

    #[test]
    fn local_paths_and_file_urls_open_locally_s3_urls_name_bucket_and_prefix() {
        assert_eq!(
            parse_location("/tmp/lake").unwrap(),
            Backend::Local(PathBuf::from("/tmp/lake"))
        );
        assert_eq!(
            parse_location("file:///tmp/lake").unwrap(),
            Backend::Local(PathBuf::from("/tmp/lake"))
        );
        assert_eq!(
            parse_location("s3://bucket/lake/v2/").unwrap(),
            Backend::S3 {
                bucket: "bucket".into(),
                prefix: "lake/v2".into()
            }
        );
        assert_eq!(
            parse_location("s3://bucket").unwrap(),
            Backend::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert!(parse_location("s3://bucket/a//b").is_err());
        let err = parse_location("gs://bucket/lake").unwrap_err().to_string();
        assert!(
            err.contains("gs://") && err.contains("not supported"),
            "{err}"
        );
        assert!(matches!(
            parse_location("ftp://x/y"),
            Err(StoreError::Unsupported { .. })
        ));
    }

    #[test]
    fn blob_keys_must_be_clean_and_stay_out_of_datasets() {
        assert!(blob_path("images/d1/000001.jpg").is_ok());
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/../b",
            "trailing/",
            "frames/x.jpg",
            "coverage",
        ] {
            assert!(
                matches!(blob_path(bad), Err(StoreError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_crash_before_the_commit_leaves_the_previous_version_readable() {
        let store = memory_store();
        store.write_rewards_ledger(&[entry(1)]).await.unwrap();
        store
            .save_until(&[entry(2), entry(3)], Mode::Replace, Stop::BeforeCommit)
            .await
            .unwrap();
        let rows = store.read_rewards_ledger().await.unwrap();
        assert_eq!(rows, vec![entry(1)]);
        let m = store
            .manifest(Dataset::RewardsLedger)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.version, 1);
        // The orphan exists but is listed nowhere.
        let listed: Vec<_> = store
            .objects
            .list(Some(&Path::from("rewards_ledger")))
            .try_collect()
            .await
            .unwrap();
        let parquet: Vec<_> = listed
            .iter()
            .filter(|o| o.location.as_ref().ends_with(".parquet"))
            .collect();
        assert_eq!(parquet.len(), 2);
        assert!(
            parquet
                .iter()
                .any(|o| !m.files.iter().any(|f| f.path == o.location.as_ref())),
            "one data file is an orphan"
        );
    }

    #[tokio::test]
    async fn a_crash_between_the_versioned_manifest_and_the_pointer_still_commits() {
        let store = memory_store();
        store.write_rewards_ledger(&[entry(1)]).await.unwrap();
        store
            .save_until(&[entry(2)], Mode::Append, Stop::BeforePointer)
            .await
            .unwrap();
        // `_manifest.json` still says version 1, but readers roll forward.
        let pointer = store
            .get_bytes(&Path::from("rewards_ledger/_manifest.json"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            Manifest::parse(Dataset::RewardsLedger, "k", &pointer, None)
                .unwrap()
                .version,
            1
        );
        assert_eq!(store.read_rewards_ledger().await.unwrap().len(), 2);
        // And the next writer builds on version 2, not a conflicting 2.
        store.append_rewards_ledger(&[entry(3)]).await.unwrap();
        let m = store
            .manifest(Dataset::RewardsLedger)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((m.version, m.rows()), (3, 3));
    }

    #[tokio::test]
    async fn a_second_writer_committing_the_same_version_is_detected() {
        let store = memory_store();
        store.write_rewards_ledger(&[entry(1)]).await.unwrap();
        let stale = store.manifest(Dataset::RewardsLedger).await.unwrap();
        store.append_rewards_ledger(&[entry(2)]).await.unwrap();
        // A writer that read version 1 before the append now tries to commit version 2.
        let err = store
            .commit(
                Dataset::RewardsLedger,
                stale.as_ref(),
                Vec::new(),
                BTreeMap::new(),
                Stop::Never,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ConcurrentWrite { version: 2, .. }),
            "{err}"
        );
        assert_eq!(store.read_rewards_ledger().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn concurrent_appends_all_land() {
        let store = memory_store();
        let writes: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.append_rewards_ledger(&[entry(i)]).await })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        let mut amounts: Vec<u64> = store
            .read_rewards_ledger()
            .await
            .unwrap()
            .iter()
            .map(|e| e.amount)
            .collect();
        amounts.sort();
        assert_eq!(amounts, (0..8).map(|i| entry(i).amount).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn concurrent_updates_rerun_on_newer_rows_and_lose_nothing() {
        let store = memory_store();
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writes: Vec<_> = (0..6)
            .map(|i| {
                let (store, runs) = (store.clone(), runs.clone());
                tokio::spawn(async move {
                    store
                        .update(|mut rows: Vec<LedgerEntry>| {
                            runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            rows.push(entry(i));
                            let n = rows.len();
                            (rows, n)
                        })
                        .await
                })
            })
            .collect();
        let mut seen = Vec::new();
        for w in writes {
            seen.push(w.await.unwrap().unwrap());
        }
        seen.sort();
        // Each writer saw the rows of the writers that committed before it.
        assert_eq!(seen, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(store.read_rewards_ledger().await.unwrap().len(), 6);
        let m = store
            .manifest(Dataset::RewardsLedger)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.version, 6);
        // The files of the losing attempts were removed: only the last version's remain.
        let listed = store
            .object_store()
            .list(Some(&Path::from("rewards_ledger")))
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        let parquet = listed
            .iter()
            .filter(|o| o.location.as_ref().ends_with(".parquet"))
            .count();
        assert_eq!(parquet, m.files.len());
        assert!(runs.load(std::sync::atomic::Ordering::Relaxed) >= 6);
    }

    #[tokio::test]
    async fn metadata_is_kept_across_later_writes() {
        let store = memory_store();
        store.write_rewards_ledger(&[entry(1)]).await.unwrap();
        store
            .set_metadata("rewards_ledger", "run", "r42")
            .await
            .unwrap();
        store.append_rewards_ledger(&[entry(2)]).await.unwrap();
        let info = store.datasets().await.unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].version, 3);
        assert_eq!(info[0].metadata.get("run").map(String::as_str), Some("r42"));
        assert!(matches!(
            store.set_metadata("nope", "k", "v").await,
            Err(StoreError::UnknownDataset(_))
        ));
    }

    #[tokio::test]
    async fn a_file_missing_a_column_is_rejected_naming_the_column() {
        let store = memory_store();
        let batch = arrow::record_batch::RecordBatch::try_from_iter([(
            "epoch",
            Arc::new(arrow::array::StringArray::from(vec!["2026-W47"])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let key = "rewards_ledger/part-x.parquet";
        let len = buf.len() as u64;
        store
            .objects
            .put(&Path::from(key), buf.into())
            .await
            .unwrap();
        store
            .commit(
                Dataset::RewardsLedger,
                None,
                vec![FileEntry {
                    path: key.into(),
                    rows: 1,
                    bytes: len,
                }],
                BTreeMap::new(),
                Stop::Never,
            )
            .await
            .unwrap();
        let err = store.read_rewards_ledger().await.unwrap_err().to_string();
        assert!(
            err.contains("rewards_ledger") && err.contains(key) && err.contains("contributor_id"),
            "{err}"
        );
    }
}
