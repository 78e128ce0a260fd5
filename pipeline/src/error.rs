//! Why a pipeline step failed, typed, so that callers act on the kind (the HTTP
//! server answers 409 to [`PipelineError::AlreadyIngested`]) instead of matching
//! message text.
//!
//! [`Context`] adds what was being done to any error of the stages' crates, the way
//! the command line shows it: `reading drive.json: expected value at line 1`.

use streetcomb_core::DriveId;

/// Why a pipeline step failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] streetcomb_datasets::StoreError),
    #[error(transparent)]
    Ingest(#[from] streetcomb_ingest::IngestError),
    #[error(transparent)]
    Vision(#[from] streetcomb_vision::VisionError),
    #[error(transparent)]
    Rewards(#[from] streetcomb_rewards::RewardsError),
    #[error(transparent)]
    Sim(#[from] streetcomb_sim::SimError),
    #[error(transparent)]
    Core(#[from] streetcomb_core::CoreError),
    #[error(transparent)]
    Basemap(#[from] streetcomb_tiles::BasemapError),
    #[error(transparent)]
    Tiles(#[from] streetcomb_tiles::TileError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error(transparent)]
    Time(#[from] chrono::ParseError),
    /// A blocking task panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// A drive already in the store was sent again; nothing was stored.
    #[error("drive {drive} was already ingested into {store}; nothing was stored")]
    AlreadyIngested { drive: DriveId, store: String },
    /// An input is not what it should be, or something a step needs is missing; the
    /// message names the file and says what to do.
    #[error("{0}")]
    Invalid(String),
    /// The store's datasets disagree with each other.
    #[error("{0}")]
    Inconsistent(String),
    /// A failure of a library outside the pipeline (an HTTP client, a server socket).
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
    /// A failure, with what was being done when it happened.
    #[error("{context}: {source}")]
    Context {
        context: String,
        source: Box<PipelineError>,
    },
}

impl PipelineError {
    /// Wraps an error of a library the pipeline does not know.
    pub fn other(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        PipelineError::Other(Box::new(e))
    }

    /// The innermost error under the added context.
    pub fn root(&self) -> &PipelineError {
        match self {
            PipelineError::Context { source, .. } => source.root(),
            other => other,
        }
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// Returns early with [`PipelineError::Invalid`] and a formatted message.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::PipelineError::Invalid(format!($($arg)*)))
    };
}
pub use invalid;

/// What was being done, added to an error (or to a missing value).
pub trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<PipelineError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| PipelineError::Context {
            context: context.into(),
            source: Box::new(e.into()),
        })
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| PipelineError::Context {
            context: context(),
            source: Box::new(e.into()),
        })
    }
}

/// On a missing value the context is the whole message.
impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| PipelineError::Invalid(context.into()))
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| PipelineError::Invalid(context()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_outside_in_and_the_root_is_the_first_error() {
        let e: Result<()> = Err(std::io::Error::other("disk on fire"))
            .context("writing frames.json")
            .with_context(|| "drive d1".to_owned());
        let Err(e) = e else {
            panic!("an error was expected");
        };
        assert_eq!(e.to_string(), "drive d1: writing frames.json: disk on fire");
        assert!(matches!(e.root(), PipelineError::Io(_)));
        let none: Option<u8> = None;
        assert_eq!(
            none.context("no frames").map_err(|e| e.to_string()),
            Err("no frames".to_owned())
        );
    }
}
