//! Map-feature detection with a COCO SSD detector, swappable through its class map.
//!
//! The shipped model is COCO-SSD MobileNet v2 (Apache-2.0) converted to ONNX: input
//! `image_tensor:0` uint8 [1,H,W,3] of any size (resized to 300×300 inside), outputs
//! class scores [1,1917,90] (COCO id = index + 1) and boxes [1,1917,1,4] as normalised
//! ymin, xmin, ymax, xmax. A 300×300 input makes distant signs tiny, so besides the
//! full frame the detector also looks at overlapping crops ("tiles") at twice the
//! resolution, the way Hivemapper's on-device mosaics do, and merges with NMS.

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use streetcomb_core::{BBox, FeatureClass};

use crate::runtime::{ModelInfo, session};
use crate::{VisionError, nms};

/// Which detector class becomes which map-feature class, and from what score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassRule {
    /// The detector's class id (COCO ids for the default model).
    pub model_class: u32,
    pub class: FeatureClass,
    pub min_score: f32,
}

/// The default COCO class map.
pub fn coco_rules() -> Vec<ClassRule> {
    vec![
        ClassRule {
            model_class: 10,
            class: FeatureClass::TrafficLight,
            min_score: 0.35,
        },
        ClassRule {
            model_class: 11,
            class: FeatureClass::FireHydrant,
            min_score: 0.4,
        },
        ClassRule {
            model_class: 13,
            class: FeatureClass::StopSign,
            min_score: 0.35,
        },
        ClassRule {
            model_class: 14,
            class: FeatureClass::ParkingMeter,
            min_score: 0.45,
        },
    ]
}

/// One detection in frame pixels, before it is tied to a frame's pose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawDetection {
    pub class: FeatureClass,
    pub score: f32,
    pub bbox: BBox,
}

/// The COCO-SSD detector.
#[derive(Debug)]
pub struct FeatureDetector {
    session: Session,
    pub rules: Vec<ClassRule>,
    pub info: ModelInfo,
    /// Also run 2 × 1 overlapping half-frame crops (more pixels per sign).
    pub tiles: bool,
}

impl FeatureDetector {
    pub fn new(
        model: &[u8],
        info: ModelInfo,
        rules: Vec<ClassRule>,
        threads: usize,
    ) -> Result<Self, VisionError> {
        let session = session(&info.name, model, threads)?;
        Ok(Self {
            session,
            rules,
            info,
            tiles: true,
        })
    }

    /// Detections of mapped classes in `img`.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<RawDetection>, VisionError> {
        let (w, h) = img.dimensions();
        let mut all = self.detect_region(img, 0, 0, w, h)?;
        if self.tiles && w >= 600 {
            // Two crops, each 60 % of the width and the upper 75 % of the height:
            // signs sit above the road, and the overlap keeps centred signs whole.
            let cw = w * 3 / 5;
            let ch = h * 3 / 4;
            for x in [0, w - cw] {
                all.extend(self.detect_region(img, x, 0, cw, ch)?);
            }
        }
        Ok(nms(all, 0.4, |d| (d.bbox, d.score)))
    }

    fn detect_region(
        &mut self,
        img: &RgbImage,
        x: u32,
        y: u32,
        w: u32,
        h: u32,
    ) -> Result<Vec<RawDetection>, VisionError> {
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for row in y..y + h {
            let start = ((row * img.width() + x) * 3) as usize;
            data.extend_from_slice(&img.as_raw()[start..start + (w * 3) as usize]);
        }
        let name = self.info.name.clone();
        let input = TensorRef::from_array_view(([1usize, h as usize, w as usize, 3], &data[..]))
            .map_err(|e| VisionError::inference(&name, e))?;
        let outputs = self
            .session
            .run(ort::inputs![input])
            .map_err(|e| VisionError::inference(&name, e))?;
        let (sshape, scores) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::inference(&name, e))?;
        let (_, boxes) = outputs[1]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::inference(&name, e))?;
        let (n, k) = (sshape[1] as usize, sshape[2] as usize);
        if scores.len() < n * k || boxes.len() < n * 4 {
            return Err(VisionError::inference(&name, "unexpected output shapes"));
        }
        let mut out = Vec::new();
        for a in 0..n {
            for rule in &self.rules {
                let idx = rule.model_class as usize - 1;
                if idx >= k {
                    continue;
                }
                let s = scores[a * k + idx];
                if s < rule.min_score {
                    continue;
                }
                let b = &boxes[a * 4..a * 4 + 4];
                out.push(RawDetection {
                    class: rule.class,
                    score: s,
                    bbox: BBox {
                        x0: x as f32 + b[1].clamp(0.0, 1.0) * w as f32,
                        y0: y as f32 + b[0].clamp(0.0, 1.0) * h as f32,
                        x1: x as f32 + b[3].clamp(0.0, 1.0) * w as f32,
                        y1: y as f32 + b[2].clamp(0.0, 1.0) * h as f32,
                    },
                });
            }
        }
        Ok(out)
    }
}
