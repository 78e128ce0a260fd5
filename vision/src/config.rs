//! The vision stage as configuration: which model files, the detector's class map,
//! every threshold. [`VisionConfig::build`] turns it into a runnable
//! [`FramePipeline`], so a better detector drops in by editing the config (its file
//! name, its class ids and thresholds), not the code. `config/vision.toml` in the
//! repository spells out the defaults.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use streetcomb_core::FeatureClass;

use crate::detector::{ClassRule, ObjectRule, coco_person_rules, coco_rules, coco_vehicle_rules};
use crate::{
    FaceDetector, FaceParams, FeatureDetector, FramePipeline, ModelInfo, PlateCheck, PlateDetector,
    PlateParams, SignCheck, SignDetector, SignParams, TextReader, VisionError,
};

/// Everything the vision stage can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisionConfig {
    /// Model files, by name in the model folder. The face model is CenterFace in
    /// 8 bits (`scripts/quantize-centerface.py`), 2.3x faster on a CPU than the float
    /// `centerface.onnx`, which finds the same faces; the float one suits a GPU.
    pub face_model: String,
    pub plate_model: String,
    /// PlateCheck, the second look at each plate box; empty decides on the plate
    /// model's score alone.
    pub plate_check_model: String,
    /// An SSD-style detector: uint8 NHWC input, class scores and boxes out. It finds
    /// the vehicles (for the plate pass) and the classes in `classes`.
    pub detector_model: String,
    /// The project's sign detector (`training/signs/`); empty leaves map features to
    /// `detector_model` and `classes` alone.
    pub sign_model: String,
    /// SignCheck, the second look at each sign proposal; empty decides on the sign
    /// model's scores alone (`signs.threshold` and `signs.min_score`).
    pub sign_check_model: String,
    pub signs: SignParams,
    /// The PP-OCR recognition model reading sign text; empty for no reading.
    pub text_model: String,
    pub faces: FaceParams,
    pub plates: PlateParams,
    /// Detector class id → map-feature class, score threshold, whether to read it.
    pub classes: Vec<ClassRule>,
    /// Detector classes that are vehicles (the plate safety net).
    pub vehicles: Vec<ObjectRule>,
    /// Detector classes that are persons (where faces can be).
    pub persons: Vec<ObjectRule>,
    /// Also run the detector on tiles of the horizon band.
    pub detector_tiles: bool,
    /// Sign readings below this mean character probability are dropped.
    pub text_min_score: f32,
    /// Quality of the published JPEG.
    pub jpeg_quality: u8,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            face_model: "centerface_int8.onnx".into(),
            plate_model: "plate_detector.onnx".into(),
            plate_check_model: "plate_check.onnx".into(),
            detector_model: "coco_ssd_mobilenet_v2.onnx".into(),
            sign_model: "sign_detector.onnx".into(),
            sign_check_model: "sign_check.onnx".into(),
            signs: SignParams::default(),
            text_model: "ppocr_rec.onnx".into(),
            faces: FaceParams::default(),
            plates: PlateParams::default(),
            // The sign detector finds signs, lights and hydrants; COCO keeps what it
            // alone knows.
            classes: coco_rules()
                .into_iter()
                .filter(|r| r.class == FeatureClass::ParkingMeter)
                .collect(),
            vehicles: coco_vehicle_rules(),
            persons: coco_person_rules(),
            detector_tiles: true,
            text_min_score: 0.5,
            jpeg_quality: 85,
        }
    }
}

/// Model bytes and identity, by file name.
pub type Models = HashMap<String, (Vec<u8>, ModelInfo)>;

impl VisionConfig {
    /// The model files this configuration needs.
    pub fn model_files(&self) -> Vec<&str> {
        let mut files = vec![
            self.face_model.as_str(),
            self.plate_model.as_str(),
            self.detector_model.as_str(),
        ];
        let check = (!self.sign_model.is_empty()).then_some(&self.sign_check_model);
        for optional in [&self.plate_check_model, &self.sign_model, &self.text_model]
            .into_iter()
            .chain(check)
        {
            if !optional.is_empty() {
                files.push(optional.as_str());
            }
        }
        files
    }

    /// A pipeline running on `threads` threads, from the models (loaded by the
    /// caller, see [`Self::model_files`]).
    pub fn build(&self, models: &Models, threads: usize) -> Result<FramePipeline, VisionError> {
        let get = |file: &str| {
            models.get(file).ok_or_else(|| VisionError::Model {
                name: file.to_owned(),
                reason: "not loaded".into(),
            })
        };
        let (bytes, info) = get(&self.face_model)?;
        let faces = FaceDetector::new(bytes, info.clone(), self.faces, threads)?;
        let (bytes, info) = get(&self.plate_model)?;
        let plates = PlateDetector::new(bytes, info.clone(), self.plates, threads)?;
        let check = if self.plate_check_model.is_empty() {
            None
        } else {
            let (bytes, info) = get(&self.plate_check_model)?;
            Some(PlateCheck::new(bytes, info.clone(), threads)?)
        };
        let (bytes, info) = get(&self.detector_model)?;
        let mut features =
            FeatureDetector::new(bytes, info.clone(), self.classes.clone(), threads)?;
        features.vehicles = self.vehicles.clone();
        features.persons = self.persons.clone();
        features.tiles = self.detector_tiles;
        let signs = if self.sign_model.is_empty() {
            None
        } else {
            let (bytes, info) = get(&self.sign_model)?;
            let mut signs = SignDetector::new(bytes, info.clone(), self.signs.clone(), threads)?;
            if !self.sign_check_model.is_empty() {
                let (bytes, info) = get(&self.sign_check_model)?;
                signs.check = Some(SignCheck::new(bytes, info.clone(), threads)?);
            }
            Some(signs)
        };
        let reader = if self.text_model.is_empty() {
            None
        } else {
            let (bytes, info) = get(&self.text_model)?;
            let mut r = TextReader::new(bytes, info.clone(), threads)?;
            r.min_score = self.text_min_score;
            Some(r)
        };
        Ok(FramePipeline {
            faces,
            features,
            signs,
            plates,
            check,
            reader,
            jpeg_quality: self.jpeg_quality,
        })
    }
}
