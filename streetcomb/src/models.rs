//! Finding ONNX Runtime and the model weights, and saying what to run when they are missing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use streetcomb_vision::ModelInfo;

const ORT_FILE: &str = "onnxruntime-1.31.1/libonnxruntime.so.1.31.1";
pub const FACE_MODEL: &str = "centerface.onnx";
pub const FEATURE_MODEL: &str = "coco_ssd_mobilenet_v2.onnx";
pub const PLATE_MODEL: &str = "plate_detector.onnx";

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
        bail!(
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
        bail!(
            "model {} is missing. Run `make setup` (scripts/setup.sh) once to fetch and check it",
            path.display()
        );
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let version = hex::encode(Sha256::digest(&bytes))[..12].to_owned();
    let name = file.trim_end_matches(".onnx").to_owned();
    Ok((bytes, ModelInfo { name, version }))
}
