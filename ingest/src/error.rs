//! Errors that reject a whole drive. Per-frame problems are not errors: they become
//! "dropped" rows of the ingest report.

/// Why a drive could not be ingested. Each names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{file}: not a readable GPX track: {reason}")]
    Gpx { file: String, reason: String },
    /// A malformed NMEA, CSV or JSON track; `line` is 1-based when known.
    #[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Track {
        file: String,
        line: Option<usize>,
        reason: String,
    },
    #[error("{file}: the track has no usable GPS fix ({reason})")]
    EmptyTrack { file: String, reason: String },
    #[error("{file}: not a readable JPEG: {reason}")]
    Jpeg { file: String, reason: String },
    #[error("{file}: invalid camera description: {reason}")]
    Camera { file: String, reason: String },
    /// A video whose frames cannot be placed on the track (bad spacing, frame times).
    #[error("{file}: {reason}")]
    Video { file: String, reason: String },
    #[error("drive has no frames")]
    NoFrames,
}
