//! Datasets: the streetcomb data lake. Parquet datasets on an `object_store` with
//! atomic manifests, queried through DataFusion.
//!
//! Every pipeline stage writes its output as a dataset (see [`Dataset`]): a set of
//! Parquet files whose current version is named by a JSON manifest, so a crashed
//! write never leaves half a dataset behind (see [`store`] for the commit protocol
//! and [`manifest`] for the layout). The files are plain, sorted, zstd-compressed
//! GeoParquet ([`schema`] documents every column), readable by DuckDB, Spark or GDAL
//! without streetcomb; inside streetcomb, [`Store::query`] runs SQL over all
//! datasets at once. Blobs (blurred images) live beside the datasets.
//!
//! This crate and the binary are the only ones that do I/O; everything is async.
//!
//! ```no_run
//! # async fn demo(frames: Vec<streetcomb_core::Frame>) -> Result<(), streetcomb_datasets::StoreError> {
//! let store = streetcomb_datasets::Store::open("lake").await?;
//! store.append_frames(&frames).await?;
//! let batches = store.query("SELECT h3, count(*) AS n FROM frames GROUP BY h3").await?;
//! println!("{}", streetcomb_datasets::format_batches(&batches)?);
//! # Ok(()) }
//! ```

mod codec;
mod compact;
mod dataset;
mod error;
pub mod geoparquet;
pub mod manifest;
mod output;
pub mod partition;
pub mod query;
pub mod schema;
pub mod store;

pub use compact::CompactReport;
pub use dataset::{Dataset, DatasetInfo, RewardsSummaryRow};
pub use error::StoreError;
pub use output::{batches_to_csv, batches_to_json, batches_to_parquet, format_batches};
pub use store::Store;

/// Re-exported so callers can name the batch type of [`Store::query`] without
/// depending on arrow themselves.
pub use arrow::record_batch::RecordBatch;
