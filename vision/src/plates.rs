//! Licence plates: the plate detector's boxes plus a geometric safety net.
//!
//! Plates at normal following distance are only 25-40 px wide in a dashcam frame, and
//! no detector is perfect, so recall comes first: besides every plate the plate model
//! finds, the plate band of every detected vehicle (the lower part of its box, where
//! front and rear plates sit, full width since a vehicle seen from the side shows its
//! plate at one end) is blurred whenever the plate model found no confident plate on
//! that vehicle. Over-blurring a bumper is acceptable; a readable plate is not.

use image::RgbImage;
use streetcomb_core::BBox;

use crate::detector::Vehicle;
use crate::runtime::{Model, ModelInfo};
use crate::{VisionError, nms};

/// Tunables of the plate pass.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlateParams {
    /// A plate box from the plate model is blurred from this score. Recall first:
    /// measured with `examples/plate_recall.rs` on 250 held-out pictures (760 rendered
    /// plates over 20 px, training/plates/README.md), the whole stage hides 94.6 % of
    /// them at 0.1 (margin 0.3) and blurs 21 % of a picture's area, mostly specks on
    /// foliage; at 0.3 (margin 0.2) it hides 86.1 % and blurs 8.3 %.
    pub threshold: f32,
    /// ... and from this score it stands for its vehicle's plate, so that vehicle's
    /// band is not blurred as well.
    pub sure: f32,
    /// Vehicles narrower than this (pixels) carry plates under ~6 px, which no one
    /// can read: no band.
    pub min_vehicle_px: f32,
    /// The band, as fractions of the vehicle box's height from its top.
    pub band: (f32, f32),
    /// Fraction of the box size added on every side of a plate box before blurring.
    pub margin: f32,
}

impl Default for PlateParams {
    fn default() -> Self {
        Self {
            threshold: 0.1,
            sure: 0.6,
            min_vehicle_px: 40.0,
            band: (0.45, 1.0),
            margin: 0.3,
        }
    }
}

/// A plate found by the plate model, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plate {
    pub bbox: BBox,
    pub score: f32,
}

/// The plate detector trained by `training/plates/` (see its README for the
/// contract): input `image` float32 [1,3,H,W] RGB 0-255, H and W multiples of 32,
/// zero-padded right and bottom; outputs at stride 4: `heatmap` [1,1,H/4,W/4]
/// (sigmoid, already 3×3 peak-filtered), `size` [1,2,..] (width, height in input
/// pixels), `offset` [1,2,..] (x, y within the cell, 0-1). It runs on the frame at
/// full resolution: plates are small.
#[derive(Debug)]
pub struct PlateDetector {
    model: Model,
    pub params: PlateParams,
    pub info: ModelInfo,
}

impl PlateDetector {
    /// Stops a run that takes longer than `limit` (it then fails, and the frame is
    /// withheld); [`crate::runtime::DEFAULT_TIME_LIMIT`] by default.
    pub fn set_time_limit(&mut self, limit: std::time::Duration) {
        self.model.limit = limit;
    }

    pub fn new(
        model: &[u8],
        info: ModelInfo,
        params: PlateParams,
        threads: usize,
    ) -> Result<Self, VisionError> {
        let model = Model::new(&info.name, model, threads)?;
        Ok(Self {
            model,
            params,
            info,
        })
    }

    /// Plates in `img` scoring at least `params.threshold`, frame pixels, after NMS.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Plate>, VisionError> {
        let (w, h) = img.dimensions();
        let (fw, fh) = (w as f32, h as f32);
        let threshold = self.params.threshold;
        let plates = self.model.run_dense(img, |m| {
            let grid = m.gh * m.gw;
            let (size, offset) = (m.first, m.second);
            let mut plates = Vec::new();
            for y in 0..m.gh {
                for x in 0..m.gw {
                    let i = y * m.gw + x;
                    let score = m.heat[i];
                    if score < threshold {
                        continue;
                    }
                    let cx = (x as f32 + offset[i]) * 4.0;
                    let cy = (y as f32 + offset[grid + i]) * 4.0;
                    let (bw, bh) = (size[i], size[grid + i]);
                    let b = BBox {
                        x0: (cx - bw / 2.0).clamp(0.0, fw),
                        y0: (cy - bh / 2.0).clamp(0.0, fh),
                        x1: (cx + bw / 2.0).clamp(0.0, fw),
                        y1: (cy + bh / 2.0).clamp(0.0, fh),
                    };
                    if b.x1 > b.x0 && b.y1 > b.y0 {
                        plates.push(Plate { bbox: b, score });
                    }
                }
            }
            plates
        })?;
        Ok(nms(plates, 0.5, |p| (p.bbox, p.score)))
    }
}

/// The bands to blur: one per vehicle wide enough to carry a readable plate and
/// holding no plate the model is sure of.
pub fn plate_bands(vehicles: &[Vehicle], plates: &[Plate], params: &PlateParams) -> Vec<BBox> {
    vehicles
        .iter()
        .filter(|v| v.bbox.width() >= params.min_vehicle_px)
        .filter(|v| {
            !plates.iter().any(|p| {
                p.score >= params.sure
                    && v.bbox.x0 <= p.bbox.center_x()
                    && p.bbox.center_x() <= v.bbox.x1
                    && v.bbox.y0 <= p.bbox.y1
                    && p.bbox.y0 <= v.bbox.y1
            })
        })
        .map(|v| {
            let h = v.bbox.y1 - v.bbox.y0;
            BBox {
                x0: v.bbox.x0,
                y0: v.bbox.y0 + h * params.band.0,
                x1: v.bbox.x1,
                y1: v.bbox.y0 + h * params.band.1,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    #[test]
    fn a_vehicle_without_a_sure_plate_gets_its_lower_band_blurred_and_tiny_ones_none() {
        let car = Vehicle {
            bbox: bbox(100.0, 200.0, 300.0, 300.0),
            score: 0.8,
        };
        let far = Vehicle {
            bbox: bbox(600.0, 200.0, 630.0, 220.0),
            score: 0.8,
        };
        let p = PlateParams::default();
        let bands = plate_bands(&[car, far], &[], &p);
        assert_eq!(bands, vec![bbox(100.0, 245.0, 300.0, 300.0)]);
        // An unsure plate does not stand for the vehicle's plate ...
        let unsure = Plate {
            bbox: bbox(180.0, 270.0, 220.0, 280.0),
            score: 0.4,
        };
        assert_eq!(plate_bands(&[car], &[unsure], &p).len(), 1);
        // ... a sure one does.
        let sure = Plate {
            score: 0.9,
            ..unsure
        };
        assert!(plate_bands(&[car], &[sure], &p).is_empty());
    }
}
