//! Loading ONNX Runtime and models.

use std::path::Path;
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::VisionError;

static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads the ONNX Runtime shared library once per process. Later calls return the
/// first call's outcome, whatever path they pass.
pub fn init_runtime(lib: &Path) -> Result<(), VisionError> {
    let res = ENV.get_or_init(|| {
        if !lib.is_file() {
            return Err("no such file".to_owned());
        }
        ort::init_from(lib)
            .map_err(|e| e.to_string())?
            .with_name("streetcomb")
            .build()
            .map_err(|e| e.to_string())
    });
    res.as_ref()
        .map(|_| ())
        .map_err(|reason| VisionError::Runtime {
            path: lib.display().to_string(),
            reason: reason.clone(),
        })
}

/// A model's name and version, recorded with every frame it touched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// First 12 hex digits of the model file's sha256.
    pub version: String,
}

impl ModelInfo {
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

pub(crate) fn session(name: &str, bytes: &[u8], threads: usize) -> Result<Session, VisionError> {
    let err = |e: &dyn std::fmt::Display| VisionError::Model {
        name: name.to_owned(),
        reason: e.to_string(),
    };
    let Some(Ok(env)) = ENV.get() else {
        return Err(err(&"ONNX Runtime is not loaded (call init_runtime first)"));
    };
    let builder = Session::builder(env)
        .map_err(|e| err(&e))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(&e))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| err(&e))?;
    // With the `cuda` feature the CUDA execution provider goes first; ONNX Runtime
    // keeps the CPU provider behind it for what CUDA cannot run, and for machines
    // without a GPU (it logs a warning then).
    #[cfg(feature = "cuda")]
    let builder = builder
        .with_execution_providers([ort::ep::CUDA::default().build()])
        .map_err(|e| err(&e))?;
    let mut builder = builder;
    builder.commit_from_memory(bytes).map_err(|e| err(&e))
}
