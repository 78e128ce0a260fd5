//! The per-frame vision pipeline: decode once, find faces, plates and vehicles, blur,
//! re-encode, and record how the frame was anonymised.

use std::collections::BTreeMap;

use image::RgbImage;
use streetcomb_core::{BBox, BlurRecord, Detection, FeatureClass, Frame};

use crate::audit::{BlockVariance, alteration};
use crate::blur::merge_overlapping;
use crate::detector::Person;
use crate::detector::{FeatureDetector, RawDetection};
use crate::face::{Face, FaceDetector, choose_faces, face_region};
use crate::image_ops::encode_jpeg;
use crate::plates::{
    Plate, PlateCheck, PlateDetector, choose_plates, drop_sign_parts, plate_region,
};
use crate::signs::{SignDetector, read_values};
use crate::text::{MIN_SIGN_PX, TextReader, text_band};
use crate::{VisionError, pixelate_regions};

/// A frame after vision: the anonymised JPEG (no EXIF) and what was found.
#[derive(Debug, Clone)]
pub struct ProcessedFrame {
    pub blurred_jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Blurred regions (faces and plates with margin, vehicle bands; overlapping ones
    /// joined, see [`merge_overlapping`]), frame pixels.
    pub blurred: Vec<BBox>,
    /// What the privacy models found, before margins.
    pub faces: Vec<Face>,
    pub plates: Vec<Plate>,
    pub vehicle_bands: Vec<BBox>,
    /// The persons the detector found (they decide which weak faces are kept).
    pub persons: Vec<Person>,
    pub detections: Vec<RawDetection>,
    /// How the frame was anonymised, stored with the published frame for audit.
    pub privacy: BlurRecord,
    /// Share of the frame's textured 8×8 blocks the blur destroyed (see
    /// [`crate::audit`]): what the privacy step cost the picture.
    pub altered: f64,
}

/// Face and plate blur, then feature detection.
#[derive(Debug)]
pub struct FramePipeline {
    pub faces: FaceDetector,
    /// The COCO detector: vehicles for the plate safety net, and the map-feature
    /// classes its class map names.
    pub features: FeatureDetector,
    /// The project's sign detector; `None` leaves map features to `features`.
    pub signs: Option<SignDetector>,
    pub plates: PlateDetector,
    /// The second look at each plate box; `None` decides on the plate model's score.
    pub check: Option<PlateCheck>,
    /// Reads the text of detections whose class rule says `read_text`; `None` reads
    /// nothing.
    pub reader: Option<TextReader>,
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
        let mut found = self.features.detect_all(&img)?;
        if let Some(signs) = self.signs.as_mut() {
            found.features.extend(signs.detect(&img)?);
        }
        self.read_signs(&img, &mut found.features);
        let mut candidates: Vec<Plate> = self.plates.detect(&img)?;
        let params = self.plates.params;
        let signs: Vec<(BBox, f32)> = found.features.iter().map(|d| (d.bbox, d.score)).collect();
        drop_sign_parts(&mut candidates, &signs, &found.vehicles, &params);
        if let Some(check) = self.check.as_mut() {
            check.rescore(&img, &mut candidates, &found.vehicles, &params)?;
        }
        let chosen = choose_plates(&candidates, &found.vehicles, &params);
        let fp = self.faces.params;
        let faces = choose_faces(faces, &found.persons, &fp, w, h);
        let mut blurred: Vec<BBox> = faces.iter().map(|f| face_region(f, &fp, w, h)).collect();
        blurred.extend(chosen.plates.iter().map(|p| plate_region(p, &params, w, h)));
        blurred.extend(chosen.bands.iter().map(|b| b.expanded(0.0, w, h)));
        let blurred = merge_overlapping(blurred);
        let before = BlockVariance::of(&img);
        pixelate_regions(&mut img, &blurred);
        let altered = alteration(&before, &img, &[]).destroyed_share();
        let blurred_jpeg = encode_jpeg(&img, self.jpeg_quality)?;
        let privacy = BlurRecord {
            models: [
                Some(self.faces.info.label()),
                Some(self.plates.info.label()),
                self.check.as_ref().map(|c| c.info.label()),
                Some(self.features.info.label()),
                self.signs.as_ref().map(SignDetector::label),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(","),
            face_threshold: self.faces.params.threshold,
            plate_threshold: params.threshold,
            faces: count(faces.len()),
            plates: count(chosen.plates.len()),
            vehicle_bands: count(chosen.bands.len()),
        };
        Ok(ProcessedFrame {
            blurred_jpeg,
            width: w,
            height: h,
            blurred,
            faces,
            plates: chosen.plates,
            vehicle_bands: chosen.bands,
            persons: found.persons,
            detections: found.features,
            privacy,
            altered,
        })
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl FramePipeline {
    /// Fills in the text of signs whose class is read, from the unblurred frame. Text
    /// is an extra, not a privacy step: a failed reading leaves the text empty and
    /// the frame goes on.
    fn read_signs(&mut self, img: &RgbImage, features: &mut [RawDetection]) {
        let Some(reader) = self.reader.as_mut() else {
            return;
        };
        if let Some(signs) = self.signs.as_ref() {
            read_values(reader, img, features, signs.params.min_value_px);
        }
        for d in features.iter_mut() {
            let read = self
                .features
                .rules
                .iter()
                .any(|r| r.class == d.class && r.read_text);
            if read && d.bbox.height() >= MIN_SIGN_PX {
                d.text = reader
                    .read(img, &text_band(&d.bbox))
                    .ok()
                    .flatten()
                    .map(|r| r.text);
            }
        }
    }
}

/// Which model finds each class, as `name@version`: the sign detector for its
/// classes, the COCO detector for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorLabels {
    coco: String,
    signs: BTreeMap<FeatureClass, String>,
}

impl DetectorLabels {
    pub fn of(&self, class: FeatureClass) -> &str {
        self.signs.get(&class).unwrap_or(&self.coco)
    }
}

impl FramePipeline {
    pub fn detector_labels(&self) -> DetectorLabels {
        let signs = self
            .signs
            .iter()
            .flat_map(|s| {
                let label = s.label();
                s.classes().into_iter().map(move |c| (c, label.clone()))
            })
            .collect();
        DetectorLabels {
            coco: self.features.info.label(),
            signs,
        }
    }
}

/// Ties raw detections to a frame's pose: each gets the compass bearing of its box
/// centre through the frame's camera, and the label of the model that found it.
pub fn to_detections(
    frame: &Frame,
    raw: &[RawDetection],
    models: &DetectorLabels,
) -> Vec<Detection> {
    raw.iter()
        .map(|d| Detection {
            frame_id: frame.id.clone(),
            class: d.class,
            score: d.score,
            bbox: d.bbox,
            bearing_deg: frame
                .camera
                .column_bearing_deg(frame.heading_deg, d.bbox.center_x() as f64),
            model: models.of(d.class).to_owned(),
            text: d.text.clone(),
            value: d.value,
        })
        .collect()
}
