//! The project's own traffic-sign detector (`training/signs/`, whose README is the
//! ONNX contract): a CenterNet-style network at stride 4 with one score map per
//! class, run once over the whole frame at its own resolution, so a 12 px sign keeps
//! its 12 px and its centre comes with a sub-pixel offset (the bearing that mapping
//! triangulates from). The class list travels in the model's metadata (`classes`),
//! so a retrained model with more classes drops in without code changes; names that
//! are not a [`FeatureClass`] are ignored.
//!
//! Speed limits also get their number: the inner disc of a speed-limit box is read
//! by the PP-OCR recogniser ([`crate::TextReader`]) and kept when it is a plausible
//! limit (see [`parse_speed`]).

use std::collections::BTreeMap;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use streetcomb_core::{BBox, FeatureClass};

use crate::detector::RawDetection;
use crate::runtime::{Model, ModelInfo};
use crate::{TextReader, VisionError, nms};

/// The sign detector's tunables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignParams {
    /// A box from this score is a sign, unless `min_score` names its class.
    pub threshold: f32,
    /// Per-class score thresholds, overriding `threshold`.
    pub min_score: BTreeMap<FeatureClass, f32>,
    /// Boxes of one class overlapping more than this are one sign.
    pub nms_iou: f32,
    /// Boxes of different classes overlapping more than this are one sign seen as
    /// two classes: the better-scoring one stays.
    pub cross_class_iou: f32,
    /// Numbers are read on boxes at least this tall, pixels (smaller digits are a
    /// guess).
    pub min_value_px: f32,
}

impl Default for SignParams {
    fn default() -> Self {
        Self {
            threshold: 0.35,
            // The lowest scores giving precision >= 0.9 on rendered signs of 14 px and
            // more; speed_limit and no_u_turn then set by the demo's end-to-end
            // evaluation (training/signs/README.md).
            min_score: BTreeMap::from([
                (FeatureClass::FireHydrant, 0.35),
                (FeatureClass::GiveWay, 0.4),
                (FeatureClass::NoEntry, 0.45),
                (FeatureClass::NoLeftTurn, 0.45),
                (FeatureClass::NoRightTurn, 0.5),
                (FeatureClass::NoUTurn, 0.55),
                (FeatureClass::PedestrianCrossing, 0.35),
                (FeatureClass::SpeedLimit, 0.5),
                (FeatureClass::StopSign, 0.45),
                (FeatureClass::TrafficLight, 0.3),
            ]),
            nms_iou: 0.5,
            cross_class_iou: 0.5,
            min_value_px: 20.0,
        }
    }
}

impl SignParams {
    fn threshold_of(&self, class: FeatureClass) -> f32 {
        self.min_score
            .get(&class)
            .copied()
            .unwrap_or(self.threshold)
    }
}

/// The sign detector and its class map.
#[derive(Debug)]
pub struct SignDetector {
    model: Model,
    /// Heatmap channel → class (`None`: a class streetcomb does not map).
    classes: Vec<Option<FeatureClass>>,
    pub params: SignParams,
    pub info: ModelInfo,
}

impl SignDetector {
    /// Loads the model; fails when its metadata has no `classes` list.
    pub fn new(
        model: &[u8],
        info: ModelInfo,
        params: SignParams,
        threads: usize,
    ) -> Result<Self, VisionError> {
        let model = Model::new(&info.name, model, threads)?;
        let names = model
            .metadata("classes")
            .ok_or_else(|| VisionError::Model {
                name: info.name.clone(),
                reason: "no `classes` in the model's metadata (see training/signs/README.md)"
                    .into(),
            })?;
        let classes = names
            .split(',')
            .map(|n| n.trim().parse::<FeatureClass>().ok())
            .collect();
        Ok(Self {
            model,
            classes,
            params,
            info,
        })
    }

    /// The classes this detector finds, in heatmap order.
    pub fn classes(&self) -> Vec<FeatureClass> {
        self.classes.iter().flatten().copied().collect()
    }

    /// Stops a run that takes longer than `limit`.
    pub fn set_time_limit(&mut self, limit: std::time::Duration) {
        self.model.limit = limit;
    }

    /// The signs in `img`, in frame pixels.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<RawDetection>, VisionError> {
        let (w, h) = img.dimensions();
        let (fw, fh) = (w as f32, h as f32);
        let classes = &self.classes;
        let params = &self.params;
        let found = self.model.run_dense(img, |m| {
            let grid = m.gh * m.gw;
            let mut out: Vec<RawDetection> = Vec::new();
            for (c, class) in classes.iter().enumerate().take(m.channels) {
                let Some(class) = *class else { continue };
                let t = params.threshold_of(class);
                let heat = &m.heat[c * grid..(c + 1) * grid];
                for (i, &score) in heat.iter().enumerate() {
                    if score < t {
                        continue;
                    }
                    if let Some(bbox) = m.centre_box(i, fw, fh) {
                        out.push(RawDetection {
                            class,
                            score,
                            bbox,
                            text: None,
                            value: None,
                        });
                    }
                }
            }
            out
        })?;
        Ok(suppress(found, params))
    }
}

/// Per-class NMS, then one class per sign.
fn suppress(found: Vec<RawDetection>, params: &SignParams) -> Vec<RawDetection> {
    let mut by_class: BTreeMap<FeatureClass, Vec<RawDetection>> = BTreeMap::new();
    for d in found {
        by_class.entry(d.class).or_default().push(d);
    }
    let kept: Vec<RawDetection> = by_class
        .into_values()
        .flat_map(|ds| nms(ds, params.nms_iou, |d| (d.bbox, d.score)))
        .collect();
    nms(kept, params.cross_class_iou, |d| (d.bbox, d.score))
}

/// The part of a speed-limit box the number is in: the disc inside the red ring.
pub fn value_region(sign: &BBox) -> BBox {
    let (w, h) = (sign.width(), sign.height());
    BBox {
        x0: sign.x0 + 0.17 * w,
        y0: sign.y0 + 0.25 * h,
        x1: sign.x1 - 0.17 * w,
        y1: sign.y1 - 0.25 * h,
    }
}

/// A speed limit from the text read on a sign: its digits (letters around them, such
/// as "km/h", are dropped; O, S, I read in a number are 0, 5, 1), kept when they make
/// a limit that exists: 5 to 150 km/h in steps of 5.
pub fn parse_speed(text: &str) -> Option<u32> {
    // Letters only stand for digits beside a digit the reader did see: "STOP" is no
    // limit, "5O" is 50.
    if !text.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = text
        .chars()
        .map(|c| match c {
            // The recogniser's usual confusions inside a ring of digits.
            'O' | 'o' | 'D' | 'Q' => '0',
            'I' | 'l' | '|' => '1',
            'S' | 's' => '5',
            c => c,
        })
        .filter(char::is_ascii_digit)
        .collect();
    let v: u32 = digits.parse().ok()?;
    ((5..=150).contains(&v) && v.is_multiple_of(5)).then_some(v)
}

/// Reads the number of every speed-limit box at least `min_px` tall. A failed
/// reading leaves the value empty: numbers are an extra, not a privacy step.
pub fn read_values(
    reader: &mut TextReader,
    img: &RgbImage,
    signs: &mut [RawDetection],
    min_px: f32,
) {
    for d in signs.iter_mut() {
        if d.class.has_value() && d.bbox.height() >= min_px {
            d.value = reader
                .read(img, &value_region(&d.bbox))
                .ok()
                .flatten()
                .and_then(|r| parse_speed(&r.text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class: FeatureClass, x0: f32, score: f32) -> RawDetection {
        RawDetection {
            class,
            score,
            bbox: BBox::new(x0, 10.0, x0 + 20.0, 30.0),
            text: None,
            value: None,
        }
    }

    #[test]
    fn speed_readings_keep_the_limits_that_exist() {
        assert_eq!(parse_speed("50"), Some(50));
        assert_eq!(parse_speed("120"), Some(120));
        assert_eq!(parse_speed("5O"), Some(50));
        assert_eq!(parse_speed("30 km/h"), Some(30));
        assert_eq!(parse_speed("S0"), Some(50));
        assert_eq!(parse_speed("47"), None);
        assert_eq!(parse_speed("500"), None);
        assert_eq!(parse_speed("0"), None);
        assert_eq!(parse_speed("STOP"), None);
        assert_eq!(parse_speed(""), None);
    }

    #[test]
    fn one_sign_seen_as_two_classes_keeps_the_better_one_and_neighbours_stay() {
        let p = SignParams::default();
        let out = suppress(
            vec![
                det(FeatureClass::NoLeftTurn, 0.0, 0.6),
                det(FeatureClass::NoRightTurn, 1.0, 0.8),
                det(FeatureClass::NoRightTurn, 2.0, 0.5),
                det(FeatureClass::SpeedLimit, 40.0, 0.7),
            ],
            &p,
        );
        let mut got: Vec<(FeatureClass, f32)> = out.iter().map(|d| (d.class, d.score)).collect();
        got.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(
            got,
            vec![
                (FeatureClass::SpeedLimit, 0.7),
                (FeatureClass::NoRightTurn, 0.8)
            ]
        );
    }

    #[test]
    fn a_class_threshold_overrides_the_default() {
        let mut p = SignParams::default();
        p.min_score.insert(FeatureClass::FireHydrant, 0.6);
        assert_eq!(p.threshold_of(FeatureClass::FireHydrant), 0.6);
        assert_eq!(p.threshold_of(FeatureClass::ParkingMeter), p.threshold);
    }

    #[test]
    fn the_number_is_read_inside_the_ring() {
        let r = value_region(&BBox::new(100.0, 200.0, 200.0, 300.0));
        assert_eq!(r, BBox::new(117.0, 225.0, 183.0, 275.0));
    }
}
