//! The project's own traffic-sign detector (`training/signs/`, whose README is the
//! ONNX contract): a CenterNet-style network at stride 4 with one score map per
//! class, run once over the whole frame at its own resolution, so a 12 px sign keeps
//! its 12 px and its centre comes with a sub-pixel offset (the bearing that mapping
//! triangulates from). The class list travels in the model's metadata (`classes`),
//! so a retrained model with more classes drops in without code changes; names that
//! are not a [`FeatureClass`] are ignored.
//!
//! With SignCheck (`training/signs/verifier.py`, whose docstring is its contract),
//! the detector only proposes: every box from a low score is looked at again in a
//! 32×32 crop with context, and SignCheck's class and probability decide. The
//! detector's class scores alone are not separated enough to keep both recall and
//! precision high; the second look is.
//!
//! Speed limits also get their number: the inner disc of a speed-limit box is read
//! by the PP-OCR recogniser ([`crate::TextReader`]) and kept when it is a plausible
//! limit (see [`parse_speed`]).

use std::collections::BTreeMap;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use streetcomb_core::{BBox, FeatureClass};

use crate::detector::RawDetection;
use crate::image_ops::{Grid, resample_planar};
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
    /// guess). `make bench-signs`, 300 frames each over leuvenB and leuvenA: from
    /// 20 px 61/62 and 49/50 right, none wrong; from 16 px 75/77 and 65/66, one wrong
    /// (an 18-19 px box), so the far views of a sign get their number too.
    pub min_value_px: f32,
    /// With SignCheck: the detector score from which a box is a proposal (instead of
    /// `threshold` and `min_score`).
    pub propose: f32,
    /// With SignCheck: at most this many proposals a frame, the best-scoring ones.
    pub max_proposals: usize,
    /// With SignCheck: a proposal is a sign of SignCheck's class from this
    /// probability, unless `check_min` names the class.
    pub check_threshold: f32,
    /// Per-class SignCheck thresholds, overriding `check_threshold`.
    pub check_min: BTreeMap<FeatureClass, f32>,
    /// Per class, how the detector's box sides relate to the sign's, inverted on every
    /// found box about its centre: mapbuild takes range from box size, so a box 9 %
    /// too tall puts the sign 9 % too near. The boxes of small signs run loose by a
    /// pixel or two (the sign's anti-aliased rim), which a ratio alone cannot undo.
    pub box_fit: BTreeMap<FeatureClass, BoxFit>,
}

/// A class's box sides against the true ones: found = `scale` × true + `offset_px`,
/// per axis, each given as `[scale, offset_px]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxFit {
    pub width: [f32; 2],
    pub height: [f32; 2],
}

impl BoxFit {
    /// The true side from a found one; never under a pixel.
    fn invert([scale, offset_px]: [f32; 2], found: f32) -> f32 {
        ((found - offset_px) / scale).max(1.0)
    }
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
            // Two boxes on one sign (a part of it, or two classes) overlap less than
            // half as often as not; neighbouring signs on one pole do not overlap.
            cross_class_iou: 0.3,
            min_value_px: 16.0,
            propose: 0.15,
            max_proposals: 96,
            // The lowest SignCheck scores giving precision >= 0.95 on rendered signs of
            // 14 px and more over the training backgrounds; fire_hydrant from the
            // held-out set (training/signs/README.md).
            check_threshold: 0.5,
            check_min: BTreeMap::from([
                (FeatureClass::FireHydrant, 0.9),
                (FeatureClass::NoRightTurn, 0.9),
            ]),
            // `training/signs/fit_boxes.py` over the boxes of 3,000 frames of
            // `make bench-signs` (seeds 21-24 at 1280x720, 31 at 1920x1080; the
            // bundled backgrounds and leuvenB). stop_sign has no rendered signs.
            box_fit: BTreeMap::from([
                (FeatureClass::FireHydrant, fit([0.938, 1.8], [1.0, -0.6])),
                (FeatureClass::GiveWay, fit([0.995, -0.71], [1.097, -0.13])),
                (FeatureClass::NoEntry, fit([1.004, 0.21], [1.01, 0.73])),
                (FeatureClass::NoLeftTurn, fit([0.952, 1.49], [1.002, 0.82])),
                (FeatureClass::NoRightTurn, fit([1.009, 1.16], [1.018, 1.1])),
                (FeatureClass::NoUTurn, fit([0.978, 0.18], [1.008, -0.02])),
                (
                    FeatureClass::PedestrianCrossing,
                    fit([1.044, 0.81], [1.077, 0.61]),
                ),
                (FeatureClass::SpeedLimit, fit([0.928, 2.42], [0.973, 1.77])),
                (
                    FeatureClass::TrafficLight,
                    fit([1.008, -0.1], [0.958, 2.69]),
                ),
            ]),
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

    fn check_threshold_of(&self, class: FeatureClass) -> f32 {
        self.check_min
            .get(&class)
            .copied()
            .unwrap_or(self.check_threshold)
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
    /// The second look at each proposal; `None` decides on the detector's scores.
    pub check: Option<SignCheck>,
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
        let names = model.required_metadata(
            "classes",
            "no `classes` in the model's metadata (see training/signs/README.md)",
        )?;
        Ok(Self {
            model,
            classes: class_map(&names),
            params,
            info,
            check: None,
        })
    }

    /// The label recorded with its detections: the detector, and SignCheck where
    /// it decides.
    pub fn label(&self) -> String {
        match &self.check {
            Some(c) => format!("{}+{}", self.info.label(), c.info.label()),
            None => self.info.label(),
        }
    }

    /// The classes this detector finds, in heatmap order.
    pub fn classes(&self) -> Vec<FeatureClass> {
        self.classes.iter().flatten().copied().collect()
    }

    /// Stops a run that takes longer than `limit`.
    pub fn set_time_limit(&mut self, limit: std::time::Duration) {
        self.model.limit = limit;
        if let Some(c) = self.check.as_mut() {
            c.model.limit = limit;
        }
    }

    /// The signs in `img`, in frame pixels.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<RawDetection>, VisionError> {
        let (w, h) = img.dimensions();
        let (fw, fh) = (w as f32, h as f32);
        let classes = &self.classes;
        let params = &self.params;
        let checked = self.check.is_some();
        let found = self.model.run_dense(img, |m| {
            let grid = m.gh * m.gw;
            let mut out: Vec<RawDetection> = Vec::new();
            for (c, class) in classes.iter().enumerate().take(m.channels) {
                let Some(class) = *class else { continue };
                let t = if checked {
                    params.propose
                } else {
                    params.threshold_of(class)
                };
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
        let Some(check) = self.check.as_mut() else {
            return Ok(fit_boxes(
                one_class_per_sign(per_class_nms(found, params), params),
                params,
            ));
        };
        let mut proposals = per_class_nms(found, params);
        proposals.sort_by(|a, b| b.score.total_cmp(&a.score));
        proposals.truncate(params.max_proposals);
        let probs = check.probs(img, &proposals.iter().map(|d| d.bbox).collect::<Vec<_>>())?;
        let verified = proposals
            .into_iter()
            .zip(probs)
            .filter_map(|(d, p)| check.decide(d, &p, params))
            .collect();
        Ok(fit_boxes(one_class_per_sign(verified, params), params))
    }
}

fn fit(width: [f32; 2], height: [f32; 2]) -> BoxFit {
    BoxFit { width, height }
}

/// Resizes each box about its centre by its class's [`SignParams::box_fit`].
fn fit_boxes(mut found: Vec<RawDetection>, params: &SignParams) -> Vec<RawDetection> {
    for d in &mut found {
        if let Some(f) = params.box_fit.get(&d.class) {
            let (cx, cy) = (d.bbox.center_x(), d.bbox.center_y());
            let hw = BoxFit::invert(f.width, d.bbox.width()) / 2.0;
            let hh = BoxFit::invert(f.height, d.bbox.height()) / 2.0;
            d.bbox = BBox {
                x0: cx - hw,
                y0: cy - hh,
                x1: cx + hw,
                y1: cy + hh,
            };
        }
    }
    found
}

/// Heatmap channel names → classes (`None`: a class streetcomb does not map).
fn class_map(names: &str) -> Vec<Option<FeatureClass>> {
    names
        .split(',')
        .map(|n| n.trim().parse::<FeatureClass>().ok())
        .collect()
}

/// Per-class NMS.
fn per_class_nms(found: Vec<RawDetection>, params: &SignParams) -> Vec<RawDetection> {
    let mut by_class: BTreeMap<FeatureClass, Vec<RawDetection>> = BTreeMap::new();
    for d in found {
        by_class.entry(d.class).or_default().push(d);
    }
    by_class
        .into_values()
        .flat_map(|ds| nms(ds, params.nms_iou, |d| (d.bbox, d.score)))
        .collect()
}

/// Boxes overlapping across classes are one sign: the best-scoring one stays.
fn one_class_per_sign(found: Vec<RawDetection>, params: &SignParams) -> Vec<RawDetection> {
    nms(found, params.cross_class_iou, |d| (d.bbox, d.score))
}

/// SignCheck, the second look at each sign proposal: a small classifier over a
/// 32×32 crop with context, giving a probability for each class of its metadata and
/// a last one for "not a sign of ours".
#[derive(Debug)]
pub struct SignCheck {
    model: Model,
    classes: Vec<Option<FeatureClass>>,
    /// The crop's side over the box's longer side.
    context: f32,
    pub info: ModelInfo,
}

/// The side of SignCheck's crop, pixels.
pub const SIGN_CHECK_SIDE: usize = 32;

impl SignCheck {
    /// Loads the model; fails when its metadata has no `classes` list.
    pub fn new(model: &[u8], info: ModelInfo, threads: usize) -> Result<Self, VisionError> {
        let model = Model::new(&info.name, model, threads)?;
        let missing = |what: &str| {
            format!("no `{what}` in the model's metadata (see training/signs/verifier.py)")
        };
        let classes = class_map(&model.required_metadata("classes", &missing("classes"))?);
        let context = model
            .required_metadata("context", &missing("context"))?
            .parse::<f32>()
            .ok()
            .filter(|c| *c >= 1.0)
            .ok_or_else(|| VisionError::Model {
                name: info.name.clone(),
                reason: "`context` in the model's metadata is not a number >= 1".into(),
            })?;
        Ok(Self {
            model,
            classes,
            context,
            info,
        })
    }

    /// The class probabilities of each box (the last one: background), one model run.
    pub fn probs(&mut self, img: &RgbImage, boxes: &[BBox]) -> Result<Vec<Vec<f32>>, VisionError> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let per = 3 * SIGN_CHECK_SIDE * SIGN_CHECK_SIDE;
        let mut data = vec![0.0f32; boxes.len() * per];
        for (b, out) in boxes.iter().zip(data.chunks_exact_mut(per)) {
            sign_crop(img, b, self.context, out);
        }
        let probs = self
            .model
            .run_batch(boxes.len(), SIGN_CHECK_SIDE, SIGN_CHECK_SIDE, &data)?;
        let k = self.classes.len() + 1;
        if probs.len() != boxes.len() * k {
            return Err(VisionError::inference(
                &self.info.name,
                "unexpected output shape",
            ));
        }
        Ok(probs.chunks_exact(k).map(<[f32]>::to_vec).collect())
    }

    /// A proposal as SignCheck sees it: the class it finds most likely (not
    /// background), with that probability as score, when it reaches the class's
    /// threshold; otherwise nothing.
    pub fn decide(
        &self,
        d: RawDetection,
        probs: &[f32],
        params: &SignParams,
    ) -> Option<RawDetection> {
        verdict(&self.classes, d, probs, params)
    }
}

/// See [`SignCheck::decide`]; `classes` names the probabilities in order.
fn verdict(
    classes: &[Option<FeatureClass>],
    mut d: RawDetection,
    probs: &[f32],
    params: &SignParams,
) -> Option<RawDetection> {
    let (class, p) = classes
        .iter()
        .zip(probs)
        .filter_map(|(c, &p)| c.map(|c| (c, p)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (p >= params.check_threshold_of(class)).then(|| {
        d.class = class;
        d.score = p;
        d
    })
}

/// Writes SignCheck's crop of `b` as planar RGB 0-255 into `out` (3 × 32 × 32): the
/// square of side `context` × the box's longer side around its centre, sampled
/// bilinearly, the picture's edge pixels repeated beyond it.
pub fn sign_crop(img: &RgbImage, b: &BBox, context: f32, out: &mut [f32]) {
    let side = context * b.width().max(b.height()).max(1.0);
    let scale = side / SIGN_CHECK_SIDE as f32;
    let grid = Grid {
        origin: (b.center_x() - side / 2.0, b.center_y() - side / 2.0),
        scale: (scale, scale),
        bounds: (0, 0, img.width() as usize, img.height() as usize),
    };
    resample_planar(img, &grid, SIGN_CHECK_SIDE, SIGN_CHECK_SIDE, out);
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
    fn a_class_box_fit_resizes_its_boxes_about_their_centre_and_no_other() {
        // found = 2 × true + 0 wide, 1 × true + 4 tall: a 20 × 20 box is a 10 × 16 sign.
        let params = SignParams {
            box_fit: BTreeMap::from([(FeatureClass::GiveWay, fit([2.0, 0.0], [1.0, 4.0]))]),
            ..SignParams::default()
        };
        let out = fit_boxes(
            vec![
                det(FeatureClass::GiveWay, 0.0, 0.9),
                det(FeatureClass::StopSign, 40.0, 0.9),
            ],
            &params,
        );
        assert_eq!(out[0].bbox, BBox::new(5.0, 12.0, 15.0, 28.0));
        assert_eq!(out[1].bbox, BBox::new(40.0, 10.0, 60.0, 30.0));
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
        let out = one_class_per_sign(
            per_class_nms(
                vec![
                    det(FeatureClass::NoLeftTurn, 0.0, 0.6),
                    det(FeatureClass::NoRightTurn, 1.0, 0.8),
                    det(FeatureClass::NoRightTurn, 2.0, 0.5),
                    det(FeatureClass::SpeedLimit, 40.0, 0.7),
                ],
                &p,
            ),
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
    fn sign_check_relabels_a_proposal_with_its_own_class_and_probability() {
        let classes = class_map("speed_limit,stop_sign,not_ours");
        let p = SignParams::default();
        let d = det(FeatureClass::StopSign, 0.0, 0.2);
        let got = verdict(&classes, d.clone(), &[0.7, 0.2, 0.05, 0.05], &p).unwrap();
        assert_eq!((got.class, got.score), (FeatureClass::SpeedLimit, 0.7));
        assert_eq!(got.bbox, d.bbox);
        // Background most likely: no sign.
        assert!(verdict(&classes, d.clone(), &[0.3, 0.1, 0.0, 0.6], &p).is_none());
        // A class only SignCheck knows is never the answer.
        assert!(verdict(&classes, d, &[0.1, 0.1, 0.8, 0.0], &p).is_none());
    }

    #[test]
    fn a_sign_check_class_threshold_overrides_the_default() {
        let classes = class_map("speed_limit,stop_sign");
        let mut p = SignParams::default();
        let d = det(FeatureClass::StopSign, 0.0, 0.2);
        assert!(verdict(&classes, d.clone(), &[0.6, 0.1, 0.3], &p).is_some());
        p.check_min.insert(FeatureClass::SpeedLimit, 0.8);
        assert!(verdict(&classes, d, &[0.6, 0.1, 0.3], &p).is_none());
    }

    #[test]
    fn a_sign_check_crop_is_the_box_with_context_and_repeats_the_edge_beyond_the_picture() {
        // A 100 x 60 picture, red left of x = 50, blue right of it; a 20 px box
        // centred on the border, and one hanging off the top-left corner.
        let img = RgbImage::from_fn(100, 60, |x, _| {
            if x < 50 {
                image::Rgb([200, 0, 0])
            } else {
                image::Rgb([0, 0, 200])
            }
        });
        let n = SIGN_CHECK_SIDE;
        let mut out = vec![0.0; 3 * n * n];
        sign_crop(&img, &BBox::new(40.0, 20.0, 60.0, 40.0), 1.5, &mut out);
        let (red, blue) = (
            |o: &[f32], x: usize, y: usize| o[y * n + x],
            |o: &[f32], x: usize, y: usize| o[2 * n * n + y * n + x],
        );
        // 30 px window over 32 samples: the left half red, the right half blue.
        assert_eq!((red(&out, 0, 5), blue(&out, 0, 5)), (200.0, 0.0));
        assert_eq!((red(&out, n - 1, 5), blue(&out, n - 1, 5)), (0.0, 200.0));
        sign_crop(&img, &BBox::new(-10.0, -10.0, 10.0, 10.0), 1.5, &mut out);
        assert!(
            out[..n * n].iter().all(|&v| v == 200.0),
            "the edge is repeated"
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
