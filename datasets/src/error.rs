//! Errors of the data lake, each naming what it was working on (dataset, file, key),
//! so a failed pipeline run says where to look.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location's scheme has no backend (yet).
    #[error("unsupported store location {location:?}: {reason}")]
    Unsupported { location: String, reason: String },

    /// A dataset name that is not one of the streetcomb datasets.
    #[error(
        "unknown dataset {0:?} (known: frames, detections, features, coverage, ingest_report, rewards_ledger, rewards_summary)"
    )]
    UnknownDataset(String),

    /// A blob key that is empty, escapes the store or collides with a dataset.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },

    /// A manifest object that is not a valid manifest.
    #[error("corrupt manifest {key}: {reason}")]
    CorruptManifest { key: String, reason: String },

    /// Another writer committed the version this writer was about to commit.
    #[error(
        "concurrent write to dataset {dataset}: version {version} was committed by another writer \
         first; re-read and retry"
    )]
    ConcurrentWrite { dataset: String, version: u64 },

    /// A data file does not have the columns of its dataset's schema.
    #[error("dataset {dataset}, file {file}: column {column}: {reason}")]
    Schema {
        dataset: String,
        file: String,
        column: String,
        reason: String,
    },

    /// A data file that does not match its manifest entry (missing, wrong size or
    /// row count).
    #[error("dataset {dataset}, file {file}: {reason}")]
    CorruptFile {
        dataset: String,
        file: String,
        reason: String,
    },

    /// A stored row that does not make a valid core value.
    #[error("dataset {dataset}, file {file}, row {row}, column {column}: {reason}")]
    InvalidRow {
        dataset: String,
        file: String,
        /// 0-based row index within the file.
        row: usize,
        column: String,
        reason: String,
    },

    /// A row that cannot be written (e.g. a position outside any H3 cell).
    #[error("dataset {dataset}: cannot write row {row}: {reason}")]
    InvalidInput {
        dataset: String,
        row: usize,
        reason: String,
    },

    /// The object store failed on `key`.
    #[error("object store error on {key}: {source}")]
    ObjectStore {
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },

    /// Encoding or decoding Parquet failed.
    #[error("parquet error in dataset {dataset}, file {file}: {source}")]
    Parquet {
        dataset: String,
        file: String,
        #[source]
        source: Box<parquet::errors::ParquetError>,
    },

    /// An Arrow operation failed.
    #[error("arrow error while {context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: Box<arrow::error::ArrowError>,
    },

    /// Planning or running a SQL query failed.
    #[error("query error while {context}: {source}")]
    Query {
        context: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },

    /// Local file-system set-up failed (creating the store directory).
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn object_store(key: impl Into<String>, source: object_store::Error) -> Self {
        Self::ObjectStore {
            key: key.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn parquet(
        dataset: impl Into<String>,
        file: impl Into<String>,
        source: parquet::errors::ParquetError,
    ) -> Self {
        Self::Parquet {
            dataset: dataset.into(),
            file: file.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Self::Arrow {
            context: context.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn query(
        context: impl Into<String>,
        source: datafusion::error::DataFusionError,
    ) -> Self {
        Self::Query {
            context: context.into(),
            source: Box::new(source),
        }
    }
}
