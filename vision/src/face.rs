//! Face detection with CenterFace (MIT), decoded the way deface decodes it.

use image::RgbImage;
use streetcomb_core::BBox;

use crate::detector::Person;
use crate::image_ops::scaled_region;
use crate::runtime::TunedModel;
use crate::{VisionError, nms};

/// Tunables of the face pass.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceParams {
    /// Heatmap threshold. deface's default 0.2 blurred 43/43 labelled faces; recall
    /// matters more than a few blurred non-faces.
    pub threshold: f32,
    /// IoU above which overlapping face boxes are merged.
    pub nms_iou: f32,
    /// Fraction of the box size added on every side before blurring (hair, ears).
    pub margin: f32,
    /// Longest side the whole frame is scaled to for the full-frame pass (padded to
    /// multiples of 32). Faces outside the tiled band are near, so large: at 1280 a
    /// 20 px face of a 1080p frame keeps 13 px, above the model's ~10 px floor, at
    /// under half the full-resolution cost. Measured with `examples/face_scan.rs` on
    /// labelled faces pasted into 1080p frames, faces of 20, 25 and 30 px at the top
    /// and bottom edges: the float model finds 116/116 and 98/98 at 1280 and 1152;
    /// the 8-bit one finds them all at 1280 but loses 2 of the 82 faces of 20 px at
    /// 1152 (at 960, 12 of them and one of 25 px).
    pub max_side: u32,
    /// Tiles of the second pass, across the band where distant pedestrians stand
    /// for a forward-facing dashcam (`band` as fractions of the height), each scaled
    /// by `tile_scale` (1 = the frame's own resolution): faces of 10-20 px that the
    /// full-frame pass shrank below the model's floor keep their size there, as in
    /// Hivemapper's mosaics. Measured on faces of ~15 px in a 1080p frame: 19 of 24
    /// found by the full-frame pass, 24 of 24 with the tiles (also at 1.5x, which
    /// costs twice as much). 0 tiles turns the pass off; it is also skipped for frames
    /// no larger than `max_side`.
    pub tiles: u32,
    pub band: (f32, f32),
    pub tile_scale: f32,
    /// Faces are on persons, and the detector already finds the persons: a face whose
    /// centre lies outside every person box (grown by `person_margin` of its size on
    /// every side; detector boxes are loose and cut heads) is kept only from this
    /// score. What CenterFace finds at 0.2 away from any person is mostly texture:
    /// a face on a poster or a sign is hidden all the same from this score.
    pub outside_threshold: f32,
    pub person_margin: f32,
}

impl Default for FaceParams {
    fn default() -> Self {
        Self {
            threshold: 0.2,
            nms_iou: 0.3,
            margin: 0.15,
            max_side: 1280,
            tiles: 3,
            band: (0.25, 0.75),
            tile_scale: 1.0,
            outside_threshold: 0.5,
            person_margin: 0.15,
        }
    }
}

/// A detected face in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
}

/// The faces to blur in a `w` × `h` frame: those on a person from `threshold`
/// (already applied by the detector), the others from `outside_threshold`.
pub fn choose_faces(
    faces: Vec<Face>,
    persons: &[Person],
    params: &FaceParams,
    w: u32,
    h: u32,
) -> Vec<Face> {
    let zones: Vec<BBox> = persons
        .iter()
        .map(|p| p.bbox.expanded(params.person_margin, w, h))
        .collect();
    faces
        .into_iter()
        .filter(|f| {
            f.score >= params.outside_threshold || zones.iter().any(|z| z.holds_centre_of(&f.bbox))
        })
        .collect()
}

/// The blur box of a face: grown by `margin` on every side, then widened to its
/// height, since CenterFace boxes the face from brow to chin while hair and ears
/// around it identify as much (on the labelled faces, whose boxes are square, the
/// bare box left a tenth of them uncovered).
pub fn face_region(f: &Face, params: &FaceParams, w: u32, h: u32) -> BBox {
    let b = f.bbox.expanded(params.margin, w, h);
    let (bw, bh) = (b.width(), b.height());
    if bw >= bh {
        return b;
    }
    let grow = (bh - bw) / 2.0;
    BBox {
        x0: (b.x0 - grow).max(0.0),
        x1: (b.x1 + grow).min(w as f32),
        ..b
    }
}

/// CenterFace over ONNX Runtime.
pub type FaceDetector = TunedModel<FaceParams>;

impl FaceDetector {
    /// Faces in `img`, boxes in `img` pixels (without margin): the full-frame pass
    /// plus the tiled pass, merged by NMS across passes.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Face>, VisionError> {
        let (w, h) = img.dimensions();
        let p = self.params;
        let scale = (p.max_side as f32 / w.max(h) as f32).min(1.0);
        let mut faces = self.pass(img, (0, 0, w, h), scale)?;
        if p.tiles > 0 && scale < 1.0 {
            for tile in tiles(w, h, p.tiles, p.band) {
                faces.extend(self.pass(img, tile, p.tile_scale)?);
            }
        }
        Ok(nms(faces, p.nms_iou, |f| (f.bbox, f.score)))
    }

    /// One CenterFace run over the `region` (x, y, w, h) of `img` scaled by `scale`;
    /// boxes in `img` pixels.
    fn pass(
        &mut self,
        img: &RgbImage,
        (rx, ry, rw, rh): (u32, u32, u32, u32),
        scale: f32,
    ) -> Result<Vec<Face>, VisionError> {
        let src = scaled_region(img, (rx, ry, rw, rh), scale)?;
        let (sw, sh) = src.dimensions();
        let (iw, ih) = (img.width() as f32, img.height() as f32);
        let sx = rw as f32 / sw as f32;
        let sy = rh as f32 / sh as f32;
        let threshold = self.params.threshold;
        self.model.run_dense(&src, |m| {
            let grid = m.gh * m.gw;
            let (scales, offsets) = (m.first, m.second);
            let mut faces = Vec::new();
            for r in 0..m.gh {
                for c in 0..m.gw {
                    let i = r * m.gw + c;
                    let score = m.heat[i];
                    if score <= threshold {
                        continue;
                    }
                    let s0 = scales[i].exp() * 4.0;
                    let s1 = scales[grid + i].exp() * 4.0;
                    let x0 = ((c as f32 + offsets[grid + i] + 0.5) * 4.0 - s1 / 2.0).max(0.0);
                    let y0 = ((r as f32 + offsets[i] + 0.5) * 4.0 - s0 / 2.0).max(0.0);
                    faces.push(Face {
                        bbox: BBox {
                            x0: (rx as f32 + x0 * sx).min(iw),
                            y0: (ry as f32 + y0 * sy).min(ih),
                            x1: (rx as f32 + (x0 + s1) * sx).min(iw),
                            y1: (ry as f32 + (y0 + s0) * sy).min(ih),
                        },
                        score,
                    });
                }
            }
            faces
        })
    }
}

/// `n` tiles across the band `band` (fractions of the height) of a `w` × `h` frame,
/// overlapping by a tenth of a tile so a face on a seam is whole in one of them.
fn tiles(w: u32, h: u32, n: u32, band: (f32, f32)) -> Vec<(u32, u32, u32, u32)> {
    let y0 = ((band.0.clamp(0.0, 1.0) * h as f32) as u32).min(h.saturating_sub(1));
    let y1 = ((band.1.clamp(0.0, 1.0) * h as f32) as u32).clamp(y0 + 1, h);
    let n = n.max(1);
    let tw = ((w as f32 / (n as f32 - (n as f32 - 1.0) * 0.1)).ceil() as u32).min(w);
    let step = if n > 1 { (w - tw) / (n - 1) } else { 0 };
    (0..n).map(|i| (i * step, y0, tw, y1 - y0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, score: f32) -> Face {
        Face {
            bbox: BBox {
                x0: x - 10.0,
                y0: y - 10.0,
                x1: x + 10.0,
                y1: y + 10.0,
            },
            score,
        }
    }

    #[test]
    fn a_weak_face_is_kept_on_a_person_and_dropped_elsewhere() {
        let params = FaceParams::default();
        let person = Person {
            bbox: BBox {
                x0: 100.0,
                y0: 100.0,
                x1: 200.0,
                y1: 400.0,
            },
            score: 0.6,
        };
        let faces = vec![
            face(150.0, 130.0, 0.25),
            // Just above the person's box: its head cut off by the detector.
            face(150.0, 80.0, 0.25),
            face(600.0, 130.0, 0.25),
            face(600.0, 500.0, 0.9),
        ];
        let kept = choose_faces(faces.clone(), &[person], &params, 1920, 1080);
        assert_eq!(kept, vec![faces[0], faces[1], faces[3]]);
        // With no person found, only the sure face stays.
        assert_eq!(
            choose_faces(faces.clone(), &[], &params, 1920, 1080),
            vec![faces[3]]
        );
        // outside_threshold at the detector's own threshold turns the gate off.
        let open = FaceParams {
            outside_threshold: params.threshold,
            ..params
        };
        assert_eq!(choose_faces(faces.clone(), &[], &open, 1920, 1080), faces);
    }

    #[test]
    fn tiles_cover_the_band_edge_to_edge_with_overlap() {
        let t = tiles(1920, 1080, 3, (0.25, 0.75));
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].0, 0);
        assert_eq!(t[2].0 + t[2].2, 1920);
        for pair in t.windows(2) {
            assert!(pair[1].0 < pair[0].0 + pair[0].2, "{t:?}");
        }
        assert!(
            t.iter().all(|&(_, y, _, th)| y == 270 && th == 540),
            "{t:?}"
        );
    }
}
