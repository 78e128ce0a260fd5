//! Why a cluster operation failed.

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A pipeline stage failed (the job is retried, then dead-lettered).
    #[error(transparent)]
    Pipeline(#[from] streetcomb_pipeline::PipelineError),
    #[error(transparent)]
    Store(#[from] streetcomb_datasets::StoreError),
    /// Talking to the NATS server failed: what was being done, and why.
    #[error("NATS: {what}: {reason}")]
    Nats { what: String, reason: String },
    /// A message on the work queue is not a job.
    #[error("message {seq} on {subject} is not a job: {reason}")]
    BadJob {
        seq: u64,
        subject: String,
        reason: String,
    },
    /// An input named by the user is unusable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// Adds what was being done to a NATS client error.
pub(crate) trait NatsContext<T> {
    fn nats(self, what: impl Into<String>) -> Result<T>;
}

impl<T, E: std::fmt::Display> NatsContext<T> for std::result::Result<T, E> {
    fn nats(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| ClusterError::Nats {
            what: what.into(),
            reason: e.to_string(),
        })
    }
}
