//! Reading the text on signs (a stop sign's word, a speed limit's number) with the
//! PP-OCR recognition model (Apache-2.0, from the `rapidocr` wheel).
//!
//! The model reads one line of text: input `x` float32 [1,3,48,W] (BGR, scaled to
//! -1..1, W free), output per-column class probabilities [1,W/8,C] decoded by CTC
//! (best class per column, repeats merged, blanks dropped). Its alphabet is stored in
//! the model's metadata (`character`, one per line; class 0 is the CTC blank and
//! the last class a space).

use image::RgbImage;
use ort::value::TensorRef;
use streetcomb_core::BBox;

use crate::VisionError;
use crate::image_ops::{pixel_span, resized_region};
use crate::runtime::{Model, ModelInfo};

/// The model's input height.
const HEIGHT: u32 = 48;
/// Widest input: text lines longer than this are squeezed (PP-OCR's own default).
const MAX_WIDTH: u32 = 320;

/// What was read, and the mean probability of its characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub text: String,
    pub score: f32,
}

/// Where the text sits inside a sign's box, as fractions (x0, y0, x1, y1): the word
/// of a stop sign and the number of a round speed-limit sign both fill the middle
/// band, and the model reads one line.
pub const SIGN_TEXT_BAND: (f32, f32, f32, f32) = (0.06, 0.28, 0.94, 0.72);

/// Signs shorter than this (pixels) are not read: their text is under ~10 px tall,
/// where the model reads garbage.
pub const MIN_SIGN_PX: f32 = 24.0;

/// The PP-OCR recognition model and its alphabet.
#[derive(Debug)]
pub struct TextReader {
    model: Model,
    alphabet: Vec<String>,
    pub info: ModelInfo,
    /// Readings below this mean character probability are dropped.
    pub min_score: f32,
}

impl TextReader {
    pub fn new(bytes: &[u8], info: ModelInfo, threads: usize) -> Result<Self, VisionError> {
        let model = Model::new(&info.name, bytes, threads)?;
        let chars = model.required_metadata(
            "character",
            "no `character` alphabet in the model's metadata (not a PP-OCR rec model?)",
        )?;
        let mut alphabet = vec![String::new()];
        alphabet.extend(chars.lines().map(str::to_owned));
        alphabet.push(" ".to_owned());
        Ok(Self {
            model,
            alphabet,
            info,
            min_score: 0.5,
        })
    }

    /// Stops a run that takes longer than `limit`; [`crate::DEFAULT_TIME_LIMIT`] by
    /// default.
    pub fn set_time_limit(&mut self, limit: std::time::Duration) {
        self.model.limit = limit;
    }

    /// Reads the text in `region` of `img` (frame pixels): `None` when nothing was
    /// read with confidence.
    pub fn read(&mut self, img: &RgbImage, region: &BBox) -> Result<Option<Reading>, VisionError> {
        let (x0, y0, x1, y1) = pixel_span(region, img.width(), img.height());
        let (w, h) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        if w < 4 || h < 4 {
            return Ok(None);
        }
        let width =
            ((HEIGHT as f32 * w as f32 / h as f32).ceil() as u32).clamp(HEIGHT / 2, MAX_WIDTH);
        let line = resized_region(img, (x0, y0, w, h), (width, HEIGHT))?;
        // Padded to a multiple of 8 columns (one output step each) with zeros, which
        // is mid-grey after the scaling, as PP-OCR pads.
        let pw = width.div_ceil(8) * 8;
        let plane = (pw * HEIGHT) as usize;
        let mut data = vec![0f32; 3 * plane];
        for (x, y, p) in line.enumerate_pixels() {
            let i = (y * pw + x) as usize;
            // BGR, as PaddleOCR feeds OpenCV images.
            for (c, v) in [p[2], p[1], p[0]].into_iter().enumerate() {
                data[c * plane + i] = f32::from(v) / 127.5 - 1.0;
            }
        }
        let name = self.info.name.clone();
        let input =
            TensorRef::from_array_view(([1usize, 3, HEIGHT as usize, pw as usize], &data[..]))
                .map_err(|e| VisionError::inference(&name, e))?;
        let outputs = self.model.run(ort::inputs![input])?;
        let (shape, probs) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::inference(&name, e))?;
        if shape.len() != 3 {
            return Err(VisionError::inference(&name, "unexpected output shape"));
        }
        let (steps, classes) = (shape[1] as usize, shape[2] as usize);
        if probs.len() < steps * classes {
            return Err(VisionError::inference(&name, "unexpected output shape"));
        }
        Ok(
            ctc_decode(&probs[..steps * classes], classes, &self.alphabet)
                .filter(|r| r.score >= self.min_score),
        )
    }
}

/// Greedy CTC: the best class of each step, repeats merged, blanks (class 0) dropped.
/// The score is the mean probability of the characters kept; `None` for no text.
fn ctc_decode(probs: &[f32], classes: usize, alphabet: &[String]) -> Option<Reading> {
    let mut text = String::new();
    let (mut sum, mut n) = (0.0f32, 0usize);
    let mut prev = 0usize;
    for step in probs.chunks_exact(classes) {
        let (best, p) =
            step.iter().enumerate().fold(
                (0, f32::MIN),
                |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc },
            );
        if best != 0
            && best != prev
            && let Some(ch) = alphabet.get(best)
        {
            text.push_str(ch);
            sum += p;
            n += 1;
        }
        prev = best;
    }
    let text = text.trim().to_owned();
    (!text.is_empty()).then(|| Reading {
        text,
        score: sum / n.max(1) as f32,
    })
}

/// The part of a sign's box where its text is (see [`SIGN_TEXT_BAND`]).
pub fn text_band(sign: &BBox) -> BBox {
    let (fx0, fy0, fx1, fy1) = SIGN_TEXT_BAND;
    let (w, h) = (sign.width(), sign.height());
    BBox {
        x0: sign.x0 + fx0 * w,
        y0: sign.y0 + fy0 * h,
        x1: sign.x0 + fx1 * w,
        y1: sign.y0 + fy1 * h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alphabet() -> Vec<String> {
        ["", "5", "0", "S", "T", "O", "P", " "]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// One-hot-ish steps: `best` gets `p`, the rest share what is left.
    fn steps(seq: &[(usize, f32)]) -> Vec<f32> {
        let k = alphabet().len();
        seq.iter()
            .flat_map(|&(best, p)| {
                (0..k).map(move |i| {
                    if i == best {
                        p
                    } else {
                        (1.0 - p) / (k - 1) as f32
                    }
                })
            })
            .collect()
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks_but_keeps_letters_a_blank_separates() {
        // S S blank T O O blank O P -> "STOOP"
        let p = steps(&[
            (3, 0.9),
            (3, 0.9),
            (0, 0.9),
            (4, 0.8),
            (5, 0.7),
            (5, 0.7),
            (0, 0.9),
            (5, 0.6),
            (6, 1.0),
        ]);
        let r = ctc_decode(&p, alphabet().len(), &alphabet()).unwrap();
        assert_eq!(r.text, "STOOP");
        assert!(
            (r.score - (0.9 + 0.8 + 0.7 + 0.6 + 1.0) / 5.0).abs() < 1e-5,
            "{r:?}"
        );
    }

    #[test]
    fn ctc_of_only_blanks_and_spaces_is_no_reading() {
        let p = steps(&[(0, 0.9), (7, 0.8), (0, 0.9)]);
        assert_eq!(ctc_decode(&p, alphabet().len(), &alphabet()), None);
    }

    #[test]
    fn the_text_band_is_the_middle_of_the_sign() {
        let b = text_band(&BBox {
            x0: 100.0,
            y0: 200.0,
            x1: 200.0,
            y1: 300.0,
        });
        assert!(
            b.x0 > 100.0 && b.x1 < 200.0 && b.y0 > 220.0 && b.y1 < 280.0,
            "{b:?}"
        );
    }
}
