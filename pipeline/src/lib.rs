//! The pipeline over the datasets: the one place where frames change state.
//!
//! The stage crates (`ingest`, `vision`, `mapbuild`, `tiles`, `rewards`) are pure
//! logic over `core` types; this crate does their I/O. It reads drive directories
//! (JPEG frames or a video, with a track; [`drive_dir`], [`video`]), runs each stage
//! over the store's datasets ([`ingest`], [`process`], [`build`], [`rewards`]),
//! finds ONNX Runtime and the model weights ([`models`]), scores features against
//! the simulator's ground truth ([`eval`]), keeps the basemap extract
//! ([`basemap`]), draws blur contact sheets ([`blur_review`]) and holds the bundled
//! sample data ([`sample`]).
//!
//! A frame enters `frames` as [`FrameState::Ingested`] (its raw image under
//! [`INCOMING`]); [`process`] publishes it (blurred image under [`IMAGES`]) or
//! withholds it (removed from `frames`, reported in `ingest_report`).
//!
//! Errors are [`PipelineError`]s; the `streetcomb` binary and the HTTP server
//! (`streetcomb-server`) are thin layers over this crate.

pub mod basemap;
mod blur;
pub mod blur_review;
pub mod drive_dir;
mod error;
pub mod eval;
pub mod models;
pub mod progress;
pub mod sample;
pub mod simulate;
mod stages;
pub mod video;

pub use error::{Context, PipelineError, Result};
// `invalid!` is exported at the crate root by `#[macro_export]`.
pub use blur::blur_folder;
pub use stages::*;
pub use streetcomb_core::FrameState;
