//! Errors of the vision stage.

/// Why a model could not be loaded or a frame could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error(
        "cannot load the ONNX Runtime library {path}: {reason}. Run `make setup` (or scripts/setup.sh) and set ORT_DYLIB_PATH"
    )]
    Runtime { path: String, reason: String },
    #[error("cannot load model {name}: {reason}")]
    Model { name: String, reason: String },
    #[error("model {name} failed on this frame: {reason}")]
    Inference { name: String, reason: String },
    #[error("cannot decode image: {0}")]
    Decode(String),
    #[error("cannot encode image: {0}")]
    Encode(String),
}

impl VisionError {
    pub(crate) fn inference(name: &str, e: impl std::fmt::Display) -> Self {
        VisionError::Inference {
            name: name.to_owned(),
            reason: e.to_string(),
        }
    }
}
