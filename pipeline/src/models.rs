//! Finding ONNX Runtime and the model weights, and saying what to run when they are missing.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result, invalid};
use sha2::{Digest, Sha256};
use streetcomb_vision::{ModelInfo, Models, VisionConfig};

const ORT_FILE: &str = "onnxruntime-1.31.1/libonnxruntime.so.1.31.1";

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STREETCOMB_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("streetcomb")
}

/// The ONNX Runtime library: $ORT_DYLIB_PATH, else the set-up cache.
pub fn ort_library() -> Result<PathBuf> {
    let path = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join(ORT_FILE));
    if !path.is_file() {
        invalid!(
            "the ONNX Runtime library is missing ({}). Run `make setup` (scripts/setup.sh) once; it fetches \
             onnxruntime 1.31.1 from PyPI and caches it",
            path.display()
        );
    }
    Ok(path)
}

/// The model folder: $STREETCOMB_MODELS, else the set-up cache.
pub fn model_dir() -> PathBuf {
    std::env::var_os("STREETCOMB_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("models"))
}

/// Reads a model and names its version after its sha256.
pub fn load_model(dir: &Path, file: &str) -> Result<(Vec<u8>, ModelInfo)> {
    let path = dir.join(file);
    if !path.is_file() {
        invalid!(
            "model {} is missing. Run `make setup` (scripts/setup.sh) once to fetch and check it",
            path.display()
        );
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let version = hex::encode(Sha256::digest(&bytes))[..12].to_owned();
    let name = file.trim_end_matches(".onnx").to_owned();
    Ok((bytes, ModelInfo { name, version }))
}

/// The vision configuration: the file given (`--vision-config`), else the built-in
/// default.
pub fn vision_config(path: Option<&Path>) -> Result<VisionConfig> {
    let Some(path) = path else {
        return Ok(VisionConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the vision config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: not a valid vision config", path.display()))
}

/// Loads every model `config` names from the model folder.
pub fn load_models(config: &VisionConfig) -> Result<Models> {
    let dir = model_dir();
    config
        .model_files()
        .into_iter()
        .map(|file| Ok((file.to_owned(), load_model(&dir, file)?)))
        .collect()
}
