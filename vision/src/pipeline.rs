//! The per-frame vision pipeline: decode once, blur, re-encode, detect.

use std::io::Cursor;

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use streetcomb_core::{BBox, Detection, Frame};

use crate::detector::{FeatureDetector, RawDetection};
use crate::face::FaceDetector;
use crate::{VisionError, pixelate_regions};

/// A frame after vision: the anonymised JPEG (no EXIF) and what was found.
#[derive(Debug, Clone)]
pub struct ProcessedFrame {
    pub blurred_jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Blurred regions (faces with margin), frame pixels.
    pub blurred: Vec<BBox>,
    pub detections: Vec<RawDetection>,
}

/// Face blur then feature detection.
#[derive(Debug)]
pub struct FramePipeline {
    pub faces: FaceDetector,
    pub features: FeatureDetector,
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

    /// Processes a decoded frame.
    pub fn process_image(&mut self, mut img: RgbImage) -> Result<ProcessedFrame, VisionError> {
        let (w, h) = img.dimensions();
        let faces = self.faces.detect(&img)?;
        let margin = self.faces.params.margin;
        let blurred: Vec<BBox> = faces
            .iter()
            .map(|f| f.bbox.expanded(margin, w, h))
            .collect();
        // Detect on the original pixels (a blurred region hides no sign we map), but only
        // after the blur is known to have succeeded.
        let detections = self.features.detect(&img)?;
        pixelate_regions(&mut img, &blurred);
        let mut out = Vec::with_capacity(jpeg_capacity(w, h));
        JpegEncoder::new_with_quality(Cursor::new(&mut out), self.jpeg_quality)
            .encode_image(&img)
            .map_err(|e| VisionError::Encode(e.to_string()))?;
        Ok(ProcessedFrame {
            blurred_jpeg: out,
            width: w,
            height: h,
            blurred,
            detections,
        })
    }
}

fn jpeg_capacity(w: u32, h: u32) -> usize {
    (w as usize * h as usize) / 4
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
