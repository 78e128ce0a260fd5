//! Vision: privacy blur and map-feature detection over ONNX Runtime (`ort`).
//!
//! A frame goes through [`FramePipeline::process`]: decode once, find faces with
//! CenterFace, blur them irreversibly on the full-resolution image, re-encode (which
//! drops all EXIF), then run the map-feature detector. Any failure of the privacy step
//! is an error for that frame, so the caller cannot publish an unblurred image
//! (fail-closed). Models arrive as bytes; this crate never touches the filesystem.

pub mod audit;
pub mod blur;
pub mod config;
pub mod detector;
pub mod error;
pub mod face;
pub mod image_ops;
pub mod pipeline;
pub mod plates;
pub mod runtime;
pub mod signs;
pub mod text;

pub use blur::pixelate_regions;
pub use config::{Models, VisionConfig};
pub use detector::{ClassRule, FeatureDetector, RawDetection};
pub use error::VisionError;
pub use face::{FaceDetector, FaceParams};
pub use image_ops::{encode_jpeg, resize_rgb};
pub use pipeline::{DetectorLabels, FramePipeline, ProcessedFrame, to_detections};
pub use plates::{
    Plate, PlateCheck, PlateChoice, PlateDetector, PlateParams, choose_plates, plate_region,
};
pub use runtime::{DEFAULT_TIME_LIMIT, ModelInfo, init_runtime};
pub use signs::{SignCheck, SignDetector, SignParams};
pub use text::{Reading, TextReader};

/// Non-maximum suppression: keeps the best-scoring box of each overlapping group.
pub fn nms<T>(
    mut items: Vec<T>,
    iou: f32,
    key: impl Fn(&T) -> (streetcomb_core::BBox, f32),
) -> Vec<T> {
    items.sort_by(|a, b| key(b).1.total_cmp(&key(a).1));
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    for it in items {
        let (b, _) = key(&it);
        if kept.iter().all(|k| key(k).0.iou(&b) <= iou) {
            kept.push(it);
        }
    }
    kept
}
