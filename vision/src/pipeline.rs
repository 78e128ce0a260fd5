//! The per-frame vision pipeline: decode once, find faces, plates and vehicles, blur,
//! re-encode, and record how the frame was anonymised.

use image::RgbImage;
use streetcomb_core::{BBox, Detection, Frame};

use crate::detector::{FeatureDetector, RawDetection};
use crate::face::{Face, FaceDetector};
use crate::image_ops::encode_jpeg;
use crate::plates::{Plate, PlateDetector, plate_bands};
use crate::{VisionError, pixelate_regions};

/// How a frame was anonymised, kept with it so an audit can tell which models and
/// thresholds produced a published image.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrivacyRecord {
    /// `name@version` of every model that looked at the frame.
    pub models: Vec<String>,
    pub face_threshold: f32,
    pub plate_threshold: f32,
    pub faces: usize,
    pub plates: usize,
    /// Vehicle plate bands blurred because no plate was surely found on them.
    pub vehicle_bands: usize,
}

/// A frame after vision: the anonymised JPEG (no EXIF) and what was found.
#[derive(Debug, Clone)]
pub struct ProcessedFrame {
    pub blurred_jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Blurred regions (faces and plates with margin, vehicle bands), frame pixels.
    pub blurred: Vec<BBox>,
    /// What the privacy models found, before margins.
    pub faces: Vec<Face>,
    pub plates: Vec<Plate>,
    pub vehicle_bands: Vec<BBox>,
    pub detections: Vec<RawDetection>,
    pub privacy: PrivacyRecord,
}

/// Face and plate blur, then feature detection.
#[derive(Debug)]
pub struct FramePipeline {
    pub faces: FaceDetector,
    /// The map-feature detector; its vehicle boxes also feed the plate safety net.
    pub features: FeatureDetector,
    pub plates: PlateDetector,
    pub jpeg_quality: u8,
}

impl FramePipeline {
    /// Processes one JPEG. An `Err` means the frame must not be published.
    pub fn process(&mut self, jpeg: &[u8]) -> Result<ProcessedFrame, VisionError> {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .map_err(|e| VisionError::Decode(e.to_string()))?
            .into_rgb8();
        self.process_image(img)
    }

    /// Processes a decoded frame. Every model runs on the original pixels; the blur
    /// is applied only once all of them succeeded, so an error anywhere leaves no
    /// half-anonymised image behind.
    pub fn process_image(&mut self, mut img: RgbImage) -> Result<ProcessedFrame, VisionError> {
        let (w, h) = img.dimensions();
        let faces = self.faces.detect(&img)?;
        let found = self.features.detect_all(&img)?;
        let plates: Vec<Plate> = self.plates.detect(&img)?;
        let params = self.plates.params;
        let bands = plate_bands(&found.vehicles, &plates, &params);
        let margin = self.faces.params.margin;
        let mut blurred: Vec<BBox> = faces
            .iter()
            .map(|f| f.bbox.expanded(margin, w, h))
            .collect();
        blurred.extend(
            plates
                .iter()
                .filter(|p| p.score >= params.threshold)
                .map(|p| p.bbox.expanded(params.margin, w, h)),
        );
        blurred.extend(bands.iter().map(|b| b.expanded(0.0, w, h)));
        pixelate_regions(&mut img, &blurred);
        let blurred_jpeg = encode_jpeg(&img, self.jpeg_quality)?;
        let privacy = PrivacyRecord {
            models: vec![
                self.faces.info.label(),
                self.plates.info.label(),
                self.features.info.label(),
            ],
            face_threshold: self.faces.params.threshold,
            plate_threshold: params.threshold,
            faces: faces.len(),
            plates: plates.len(),
            vehicle_bands: bands.len(),
        };
        Ok(ProcessedFrame {
            blurred_jpeg,
            width: w,
            height: h,
            blurred,
            faces,
            plates,
            vehicle_bands: bands,
            detections: found.features,
            privacy,
        })
    }
}

/// Ties raw detections to a frame's pose: each gets the compass bearing of its box
/// centre through the frame's camera.
pub fn to_detections(frame: &Frame, raw: &[RawDetection], model: &str) -> Vec<Detection> {
    raw.iter()
        .map(|d| Detection {
            frame_id: frame.id.clone(),
            class: d.class,
            score: d.score,
            bbox: d.bbox,
            bearing_deg: frame
                .camera
                .column_bearing_deg(frame.heading_deg, d.bbox.center_x() as f64),
            model: model.to_owned(),
        })
        .collect()
}
