//! Licence plates: the plate detector's boxes plus a geometric safety net.
//!
//! Plates at normal following distance are only 25-40 px wide in a dashcam frame, and
//! no detector is perfect, so recall comes first: besides every plate the plate model
//! finds, the plate band of every detected vehicle (the lower part of its box, where
//! front and rear plates sit, full width since a vehicle seen from the side shows its
//! plate at one end) is blurred whenever the plate model found no confident plate on
//! that vehicle. Over-blurring a bumper is acceptable; a readable plate is not.

use streetcomb_core::BBox;

use crate::detector::Vehicle;

/// Tunables of the plate pass.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PlateParams {
    /// A plate box from the plate model is blurred from this score.
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
            threshold: 0.3,
            sure: 0.6,
            min_vehicle_px: 40.0,
            band: (0.45, 1.0),
            margin: 0.2,
        }
    }
}

/// A plate found by the plate model, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plate {
    pub bbox: BBox,
    pub score: f32,
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
