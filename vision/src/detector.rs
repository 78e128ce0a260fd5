//! Map-feature detection with a COCO SSD detector, swappable through its class map.
//!
//! The shipped model is COCO-SSD MobileNet v2 (Apache-2.0) converted to ONNX: input
//! `image_tensor:0` uint8 [1,H,W,3] of any size (resized to 300×300 inside), outputs
//! class scores [1,1917,90] (COCO id = index + 1) and boxes [1,1917,1,4] as normalised
//! ymin, xmin, ymax, xmax. A 300×300 input makes distant signs tiny, so besides the
//! full frame the detector also looks at overlapping crops ("tiles") at ~2.5x the
//! resolution (see `tiles`), the way Hivemapper's on-device mosaics do, and merges
//! with NMS.

use image::RgbImage;
use ort::value::TensorRef;
use streetcomb_core::{BBox, FeatureClass};

use crate::image_ops::scaled_region;
use crate::runtime::{Model, ModelInfo};
use crate::{VisionError, nms};

/// Which detector class becomes which map-feature class, and from what score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    /// The detector's class id (COCO ids for the default model).
    pub model_class: u32,
    pub class: FeatureClass,
    pub min_score: f32,
    /// Read the text on signs of this class (see [`crate::text`]).
    #[serde(default)]
    pub read_text: bool,
}

/// Crops for the tiled pass: three overlapping 4:3 windows, each 40 % of the frame
/// width, across the band from 1/6 to 2/3 of the height, where signs and signals
/// appear for a forward-facing dashcam. Each gets ~2.5x the pixels of the full-frame
/// pass, so a 40 px sign reaches ~23 px of the model's 300 px input.
fn tiles(w: u32, h: u32) -> Vec<(u32, u32, u32, u32)> {
    let cw = (w * 2 / 5).max(1);
    let ch = (cw * 3 / 4).min(h);
    let y = (h / 6).min(h - ch);
    let step = (w - cw) / 2;
    (0..3).map(|i| (i * step, y, cw, ch)).collect()
}

/// The default COCO class map.
pub fn coco_rules() -> Vec<ClassRule> {
    vec![
        ClassRule {
            model_class: 10,
            class: FeatureClass::TrafficLight,
            min_score: 0.35,
            read_text: false,
        },
        ClassRule {
            model_class: 11,
            class: FeatureClass::FireHydrant,
            min_score: 0.4,
            read_text: false,
        },
        ClassRule {
            model_class: 13,
            class: FeatureClass::StopSign,
            min_score: 0.25,
            // The word tells a stop sign from other red signs; a detector with a
            // speed-limit class would read its number the same way.
            read_text: true,
        },
        ClassRule {
            model_class: 14,
            class: FeatureClass::ParkingMeter,
            min_score: 0.45,
            read_text: false,
        },
    ]
}

/// The default vehicle classes of the COCO map: car, motorcycle, bus, truck. Their
/// boxes are not map features; they tell the plate pass where plates can be.
pub fn coco_vehicle_rules() -> Vec<ObjectRule> {
    [3, 4, 6, 8]
        .into_iter()
        .map(|model_class| ObjectRule {
            model_class,
            min_score: 0.3,
        })
        .collect()
}

/// The default person class of the COCO map: it tells the face pass where faces can
/// be.
pub fn coco_person_rules() -> Vec<ObjectRule> {
    vec![ObjectRule {
        model_class: 1,
        min_score: 0.3,
    }]
}

/// A detector class the privacy pass uses (a vehicle for plates, a person for
/// faces), and from what score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRule {
    pub model_class: u32,
    pub min_score: f32,
}

/// A vehicle or a person in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    pub bbox: BBox,
    pub score: f32,
}

pub type Vehicle = Object;
pub type Person = Object;

/// Everything one detector run found: map features, vehicles and persons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detected {
    pub features: Vec<RawDetection>,
    pub vehicles: Vec<Vehicle>,
    pub persons: Vec<Person>,
}

/// Longest side a region is scaled to before it goes to the model, which resizes
/// to 300×300 inside anyway: handing it a full 1080p frame only costs a 6 MB copy
/// and a slow resize in the graph.
const MODEL_FEED_SIDE: u32 = 640;

/// One detection in frame pixels, before it is tied to a frame's pose.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDetection {
    pub class: FeatureClass,
    pub score: f32,
    pub bbox: BBox,
    /// The text read on it, for classes whose rule says `read_text`.
    pub text: Option<String>,
    /// The number read on it, for classes with [`FeatureClass::has_value`].
    pub value: Option<u32>,
}

/// The COCO-SSD detector.
#[derive(Debug)]
pub struct FeatureDetector {
    model: Model,
    pub rules: Vec<ClassRule>,
    pub vehicles: Vec<ObjectRule>,
    pub persons: Vec<ObjectRule>,
    pub info: ModelInfo,
    /// Also run the tiled pass over the horizon band (more pixels per sign).
    pub tiles: bool,
}

impl FeatureDetector {
    /// Stops a run that takes longer than `limit` (it then fails, and the frame is
    /// withheld); [`crate::runtime::DEFAULT_TIME_LIMIT`] by default.
    pub fn set_time_limit(&mut self, limit: std::time::Duration) {
        self.model.limit = limit;
    }

    pub fn new(
        model: &[u8],
        info: ModelInfo,
        rules: Vec<ClassRule>,
        threads: usize,
    ) -> Result<Self, VisionError> {
        let model = Model::new(&info.name, model, threads)?;
        Ok(Self {
            model,
            rules,
            vehicles: coco_vehicle_rules(),
            persons: coco_person_rules(),
            info,
            tiles: true,
        })
    }

    /// Detections of mapped classes in `img`.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<RawDetection>, VisionError> {
        Ok(self.detect_all(img)?.features)
    }

    /// Map features and vehicles in `img`: the full frame, plus the tiled pass over
    /// the horizon band for the features.
    pub fn detect_all(&mut self, img: &RgbImage) -> Result<Detected, VisionError> {
        let (w, h) = img.dimensions();
        let mut all = self.detect_region(img, 0, 0, w, h)?;
        if self.tiles && w >= 640 {
            for (x, y, cw, ch) in tiles(w, h) {
                let more = self.detect_region(img, x, y, cw, ch)?;
                all.features.extend(more.features);
                all.vehicles.extend(more.vehicles);
                all.persons.extend(more.persons);
            }
        }
        // The same sign seen by the full-frame and a tiled pass gives boxes that differ
        // (housing alone, housing plus pole): also drop a box mostly inside a better one.
        let mut kept = nms(all.features, 0.4, |d| (d.bbox, d.score));
        let mut features: Vec<RawDetection> = Vec::with_capacity(kept.len());
        kept.sort_by(|a, b| b.score.total_cmp(&a.score));
        for d in kept {
            if !features
                .iter()
                .any(|k| k.class == d.class && d.bbox.overlap_of_smaller(&k.bbox) > 0.6)
            {
                features.push(d);
            }
        }
        Ok(Detected {
            features,
            vehicles: nms(all.vehicles, 0.5, |v| (v.bbox, v.score)),
            persons: nms(all.persons, 0.5, |p| (p.bbox, p.score)),
        })
    }

    fn detect_region(
        &mut self,
        img: &RgbImage,
        x: u32,
        y: u32,
        w: u32,
        h: u32,
    ) -> Result<Detected, VisionError> {
        let k = (MODEL_FEED_SIDE as f32 / w.max(h) as f32).min(1.0);
        let fed = scaled_region(img, (x, y, w, h), k)?;
        let (fw, fh) = fed.dimensions();
        let name = self.info.name.clone();
        let input = TensorRef::from_array_view((
            [1usize, fh as usize, fw as usize, 3],
            fed.as_raw().as_slice(),
        ))
        .map_err(|e| VisionError::inference(&name, e))?;
        let outputs = self.model.run(ort::inputs![input])?;
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
        let frame_box = |b: &[f32]| BBox {
            x0: x as f32 + b[1].clamp(0.0, 1.0) * w as f32,
            y0: y as f32 + b[0].clamp(0.0, 1.0) * h as f32,
            x1: x as f32 + b[3].clamp(0.0, 1.0) * w as f32,
            y1: y as f32 + b[2].clamp(0.0, 1.0) * h as f32,
        };
        let mut out = Detected::default();
        for a in 0..n {
            let b = &boxes[a * 4..a * 4 + 4];
            // COCO ids start at 1; a class 0 in a config matches nothing.
            let score = |class: u32| {
                (class as usize)
                    .checked_sub(1)
                    .filter(|&i| i < k)
                    .map_or(0.0, |i| scores[a * k + i])
            };
            for rule in &self.rules {
                let s = score(rule.model_class);
                if s >= rule.min_score && s > 0.0 {
                    out.features.push(RawDetection {
                        class: rule.class,
                        score: s,
                        bbox: frame_box(b),
                        text: None,
                        value: None,
                    });
                }
            }
            for (rules, objects) in [
                (&self.vehicles, &mut out.vehicles),
                (&self.persons, &mut out.persons),
            ] {
                for rule in rules {
                    let s = score(rule.model_class);
                    if s >= rule.min_score && s > 0.0 {
                        objects.push(Object {
                            score: s,
                            bbox: frame_box(b),
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}
