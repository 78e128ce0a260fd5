//! Loading ONNX Runtime and models.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use image::RgbImage;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session, SessionInputs, SessionOutputs};
use ort::value::TensorRef;
use streetcomb_core::BBox;

use crate::VisionError;
use crate::image_ops::nchw_padded;

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

/// How long one model run may take before it is stopped, by default. Generous: a
/// 1080p pass takes well under a second on two cores; a run this slow means a stuck
/// or pathological model, and the frame is withheld instead of stalling the stage.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(30);

/// A session with a time limit on every run. A watchdog thread raises ONNX Runtime's
/// terminate flag when the limit passes, the run fails, and the caller withholds
/// the frame (fail-closed).
pub(crate) struct Model {
    session: Session,
    stop: Arc<RunOptions>,
    pub(crate) limit: Duration,
    name: String,
}

/// A model with its tunables `P` and its name and version: [`crate::FaceDetector`]
/// and [`crate::PlateDetector`], each with its own `detect`.
#[derive(Debug)]
pub struct TunedModel<P> {
    pub(crate) model: Model,
    pub params: P,
    pub info: ModelInfo,
}

impl<P> TunedModel<P> {
    /// Stops a run that takes longer than `limit` (it then fails, and the frame is
    /// withheld); [`DEFAULT_TIME_LIMIT`] by default.
    pub fn set_time_limit(&mut self, limit: Duration) {
        self.model.limit = limit;
    }

    pub fn new(
        model: &[u8],
        info: ModelInfo,
        params: P,
        threads: usize,
    ) -> Result<Self, VisionError> {
        let model = Model::new(&info.name, model, threads)?;
        Ok(Self {
            model,
            params,
            info,
        })
    }
}

/// The outputs of a dense, CenterNet-style model at stride 4 (CenterFace, the plate
/// and sign detectors): `channels` score maps and two 2-channel maps, each
/// `gh` × `gw`, channel-major.
pub(crate) struct DenseMaps<'a> {
    pub(crate) gw: usize,
    pub(crate) gh: usize,
    pub(crate) channels: usize,
    pub(crate) heat: &'a [f32],
    pub(crate) first: &'a [f32],
    pub(crate) second: &'a [f32],
}

impl DenseMaps<'_> {
    /// The box of cell `i` for a detector whose first map is the box size (width,
    /// height, input pixels) and whose second is the sub-cell centre offset (the
    /// plate and sign detectors): clamped to `w` × `h`, `None` when nothing is left.
    pub(crate) fn centre_box(&self, i: usize, w: f32, h: f32) -> Option<BBox> {
        let grid = self.gh * self.gw;
        let (x, y) = (i % self.gw, i / self.gw);
        let cx = (x as f32 + self.second[i]) * 4.0;
        let cy = (y as f32 + self.second[grid + i]) * 4.0;
        let (bw, bh) = (self.first[i], self.first[grid + i]);
        let b = BBox {
            x0: (cx - bw / 2.0).clamp(0.0, w),
            y0: (cy - bh / 2.0).clamp(0.0, h),
            x1: (cx + bw / 2.0).clamp(0.0, w),
            y1: (cy + bh / 2.0).clamp(0.0, h),
        };
        (b.x1 > b.x0 && b.y1 > b.y0).then_some(b)
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Model {
    pub(crate) fn new(name: &str, bytes: &[u8], threads: usize) -> Result<Self, VisionError> {
        let stop = RunOptions::new().map_err(|e| VisionError::Model {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            session: session(name, bytes, threads)?,
            stop: Arc::new(stop),
            limit: DEFAULT_TIME_LIMIT,
            name: name.to_owned(),
        })
    }

    /// Runs a dense model on `img` (as [`nchw_padded`] to a multiple of 32) and hands
    /// its three output maps, checked for size, to `decode`.
    pub(crate) fn run_dense<R>(
        &mut self,
        img: &RgbImage,
        decode: impl FnOnce(&DenseMaps<'_>) -> R,
    ) -> Result<R, VisionError> {
        let (data, pw, ph) = nchw_padded(img, 32);
        let name = self.name.clone();
        let input = TensorRef::from_array_view(([1usize, 3, ph as usize, pw as usize], &data[..]))
            .map_err(|e| VisionError::inference(&name, e))?;
        let outputs = self.run(ort::inputs![input])?;
        let get = |i: usize| {
            outputs[i]
                .try_extract_tensor::<f32>()
                .map_err(|e| VisionError::inference(&name, e))
        };
        let (hshape, heat) = get(0)?;
        let (_, first) = get(1)?;
        let (_, second) = get(2)?;
        if hshape.len() != 4 {
            return Err(VisionError::inference(&name, "unexpected output shapes"));
        }
        let (channels, gh, gw) = (
            hshape[1].max(1) as usize,
            hshape[2] as usize,
            hshape[3] as usize,
        );
        let grid = gh * gw;
        if heat.len() < channels * grid || first.len() < 2 * grid || second.len() < 2 * grid {
            return Err(VisionError::inference(&name, "unexpected output shapes"));
        }
        Ok(decode(&DenseMaps {
            gw,
            gh,
            channels,
            heat,
            first,
            second,
        }))
    }

    /// Runs a crop classifier on `n` planar RGB crops of `h` × `w` in one batch
    /// (`data`: n × 3 × h × w) and returns its first output, flattened.
    pub(crate) fn run_batch(
        &mut self,
        n: usize,
        h: usize,
        w: usize,
        data: &[f32],
    ) -> Result<Vec<f32>, VisionError> {
        let name = self.name.clone();
        let input = TensorRef::from_array_view(([n, 3, h, w], data))
            .map_err(|e| VisionError::inference(&name, e))?;
        let outputs = self.run(ort::inputs![input])?;
        let (_, out) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::inference(&name, e))?;
        Ok(out.to_vec())
    }

    /// A custom metadata value stored in the model file.
    pub(crate) fn metadata(&self, key: &str) -> Option<String> {
        self.session.metadata().ok()?.custom(key)
    }

    /// A custom metadata value the model cannot work without; `reason` is the error
    /// when the file lacks it.
    pub(crate) fn required_metadata(&self, key: &str, reason: &str) -> Result<String, VisionError> {
        self.metadata(key).ok_or_else(|| VisionError::Model {
            name: self.name.clone(),
            reason: reason.to_owned(),
        })
    }

    /// Runs the model, stopping it at the time limit.
    pub(crate) fn run<'s, 'i, 'v: 'i, const N: usize>(
        &'s mut self,
        inputs: impl Into<SessionInputs<'i, 'v, N>>,
    ) -> Result<SessionOutputs<'s>, VisionError> {
        let (done, wait) = mpsc::channel::<()>();
        let stop = Arc::clone(&self.stop);
        let limit = self.limit;
        let dog = std::thread::spawn(move || {
            matches!(wait.recv_timeout(limit), Err(RecvTimeoutError::Timeout))
                && stop.terminate().is_ok()
        });
        let res = self.session.run_with_options(inputs, &*self.stop);
        let _ = done.send(());
        let fired = dog.join().unwrap_or(false);
        if fired {
            // The flag stays raised until reset; the next frame must run.
            let _ = self.stop.unterminate();
        }
        match res {
            Ok(out) => Ok(out),
            Err(_) if fired => Err(VisionError::inference(
                &self.name,
                format!("stopped after the time limit of {:?}", self.limit),
            )),
            Err(e) => Err(VisionError::inference(&self.name, e)),
        }
    }
}
