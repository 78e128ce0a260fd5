//! Errors raised when a core value would be invalid.

/// Why a core value could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    #[error("latitude {0} is outside -90..=90 or not a number")]
    Latitude(f64),
    #[error("longitude {0} is outside -180..=180 or not a number")]
    Longitude(f64),
    #[error("invalid {kind} id {value:?}: {reason}")]
    Id {
        kind: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("invalid H3 cell: {0}")]
    Cell(String),
    #[error("invalid epoch {0:?}: expected an ISO week like 2026-W47")]
    Epoch(String),
    #[error("invalid camera: {0}")]
    Camera(&'static str),
    #[error("unknown feature class {0:?}")]
    FeatureClass(String),
    #[error("unknown kind of dropped frame {0:?}")]
    DropKind(String),
}
