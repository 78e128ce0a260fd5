//! Licence plates: the plate detector's boxes, a second look at them (PlateCheck),
//! where plates can be (on vehicles), and a geometric safety net.
//!
//! Plates at normal following distance are only 25-40 px wide in a dashcam frame, and
//! no detector is perfect, so recall comes first on vehicles: a weak box in a
//! vehicle's plate zone is kept, and the plate band of every detected vehicle (the
//! lower part of its box, where front and rear plates sit, full width since a vehicle
//! seen from the side shows its plate at one end) is blurred whenever no sure plate
//! was found on it. Elsewhere a box must convince both models, since at the
//! recall-first threshold the plate model sees plates in foliage, brick and windows.

use image::RgbImage;
use streetcomb_core::BBox;

use crate::detector::Vehicle;
use crate::image_ops::{Grid, resample_planar};
use crate::runtime::{Model, ModelInfo, TunedModel};
use crate::{VisionError, nms};

/// Tunables of the plate pass.
///
/// Plates live on vehicles, and the detector already finds the vehicles: a plate box
/// inside a vehicle's plate zone is kept from the low `threshold` (recall first),
/// anywhere else only from `outside_threshold`. PlateCheck, where it runs, must also
/// agree (`zone_check`, `outside_check`). Measured with `make bench-privacy`
/// (examples/privacy_bench.rs): the plate model alone at 0.1 left ~100 boxes a
/// frame on real street frames, mostly specks on foliage, brick and windows, and
/// destroyed a median 23 % of their textured area.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlateParams {
    /// The plate model's boxes from this score are candidates.
    pub threshold: f32,
    /// A candidate outside every vehicle's plate zone needs this plate-model score
    /// (plates on vehicles the detector missed, or on trailers) ...
    pub outside_threshold: f32,
    /// ... or this one when it is at least `wide_px` wide: calibrated per size,
    /// since what PlateCheck wrongly passes on real frames is mostly small (sign
    /// panels, cards on grass), while on a wide box it is rarely wrong. With the
    /// fine-tuned PlateNet (stage 3) and PlateCheck (version 4), one floor of 0.15
    /// at every width found 92.0 % of the held-out plates over 20 px against 91.3 %
    /// at 0.2, for a real-frame median destroyed of 2.06 % against 1.76 %
    /// (`make bench-privacy`); with the earlier models 0.15 had cost 2.6 % ...
    pub outside_threshold_wide: f32,
    pub wide_px: f32,
    /// ... and this PlateCheck score.
    pub outside_check: f32,
    /// A candidate in a vehicle's plate zone needs this PlateCheck score.
    pub zone_check: f32,
    /// A box with this plate-model score and `sure_check` stands for its vehicle's
    /// plate: that vehicle's band is not blurred, and the box is blurred with
    /// `sure_margin` only.
    pub sure: f32,
    pub sure_check: f32,
    /// Vehicles narrower than this (pixels) carry plates under ~20 px (a plate is
    /// about a quarter of a car's width seen from behind): no band.
    pub min_vehicle_px: f32,
    /// The band, as fractions of the vehicle box's height from its top.
    pub band: (f32, f32),
    /// The plate zone of a vehicle: its box from this fraction of its height down,
    /// grown by `vehicle_margin` of its size on the sides and bottom (detector boxes
    /// are loose, and a plate sits at the very bottom of a bus).
    pub zone_top: f32,
    pub vehicle_margin: f32,
    /// Fraction of the box size added on every side of a plate box before blurring.
    pub margin: f32,
    /// ... and of a sure box. Plate boxes are loose even when sure: on the held-out
    /// rendered set, 0.15 instead of 0.3 left 3.7 points more of the plates over
    /// 20 px less than nine-tenths covered.
    pub sure_margin: f32,
    /// A candidate outside every vehicle's plate zone that lies mostly (60 %) inside
    /// a map-feature box scoring at least this is part of that sign (a no-entry
    /// bar, a speed limit's figures), not a plate; above 1 turns this off.
    pub sign_veto: f32,
}

impl Default for PlateParams {
    fn default() -> Self {
        Self {
            threshold: 0.1,
            outside_threshold: 0.15,
            outside_threshold_wide: 0.15,
            wide_px: 30.0,
            outside_check: 0.95,
            zone_check: 0.3,
            sure: 0.5,
            sure_check: 0.8,
            min_vehicle_px: 64.0,
            band: (0.45, 1.0),
            zone_top: 0.3,
            vehicle_margin: 0.1,
            margin: 0.3,
            sure_margin: 0.3,
            sign_veto: 0.8,
        }
    }
}

/// A plate found by the plate model, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plate {
    pub bbox: BBox,
    /// The plate model's score.
    pub score: f32,
    /// PlateCheck's score of the box, where it ran.
    pub check: Option<f32>,
}

impl Plate {
    /// The plate-model score this box needs outside every vehicle's plate zone.
    fn outside_floor(&self, params: &PlateParams) -> f32 {
        if self.bbox.width() >= params.wide_px {
            params.outside_threshold_wide
        } else {
            params.outside_threshold
        }
    }

    /// Whether PlateCheck gave at least `t`; a box it did not look at passes.
    fn checked(&self, t: f32) -> bool {
        self.check.is_none_or(|c| c >= t)
    }

    /// Whether this box stands for its vehicle's plate.
    pub fn is_sure(&self, params: &PlateParams) -> bool {
        self.score >= params.sure && self.checked(params.sure_check)
    }
}

/// The plate detector trained by `training/plates/` (see its README for the
/// contract): input `image` float32 [1,3,H,W] RGB 0-255, H and W multiples of 32,
/// zero-padded right and bottom; outputs at stride 4: `heatmap` [1,1,H/4,W/4]
/// (sigmoid, already 3×3 peak-filtered), `size` [1,2,..] (width, height in input
/// pixels), `offset` [1,2,..] (x, y within the cell, 0-1). It runs on the frame at
/// full resolution: plates are small.
pub type PlateDetector = TunedModel<PlateParams>;

impl PlateDetector {
    /// Plates in `img` scoring at least `params.threshold`, frame pixels, after NMS.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Plate>, VisionError> {
        let (w, h) = img.dimensions();
        let (fw, fh) = (w as f32, h as f32);
        let threshold = self.params.threshold;
        let plates = self.model.run_dense(img, |m| {
            let mut plates = Vec::new();
            for y in 0..m.gh {
                for x in 0..m.gw {
                    let i = y * m.gw + x;
                    let score = m.heat[i];
                    if score < threshold {
                        continue;
                    }
                    if let Some(b) = m.centre_box(i, fw, fh) {
                        plates.push(Plate {
                            bbox: b,
                            score,
                            check: None,
                        });
                    }
                }
            }
            plates
        })?;
        Ok(nms(plates, 0.5, |p| (p.bbox, p.score)))
    }
}

/// PlateCheck, the second look at each plate box (`training/plates/verifier.py`,
/// whose docstring is the contract): a small classifier over a 32×64 crop with
/// context around the box, trained on the plate model's own false boxes (foliage,
/// brick, windows, text), giving a plate score in 0..1.
#[derive(Debug)]
pub struct PlateCheck {
    model: Model,
    pub info: ModelInfo,
}

/// The crop PlateCheck takes, pixels.
pub const CHECK_W: usize = 64;
pub const CHECK_H: usize = 32;

impl PlateCheck {
    pub fn new(model: &[u8], info: ModelInfo, threads: usize) -> Result<Self, VisionError> {
        Ok(Self {
            model: Model::new(&info.name, model, threads)?,
            info,
        })
    }

    /// Stops a run that takes longer than `limit`.
    pub fn set_time_limit(&mut self, limit: std::time::Duration) {
        self.model.limit = limit;
    }

    /// Scores, in one model run, the candidates whose fate PlateCheck decides (see
    /// [`worth_checking`]) and leaves the others unchecked.
    pub fn rescore(
        &mut self,
        img: &RgbImage,
        candidates: &mut [Plate],
        vehicles: &[Vehicle],
        params: &PlateParams,
    ) -> Result<(), VisionError> {
        let worth = worth_checking(candidates, vehicles, params);
        let picked: Vec<usize> = (0..candidates.len()).filter(|&i| worth[i]).collect();
        let boxes: Vec<BBox> = picked.iter().map(|&i| candidates[i].bbox).collect();
        for (i, s) in picked.into_iter().zip(self.scores(img, &boxes)?) {
            candidates[i].check = Some(s);
        }
        Ok(())
    }

    /// The plate score of each box, in order; one model run for all of them.
    pub fn scores(&mut self, img: &RgbImage, boxes: &[BBox]) -> Result<Vec<f32>, VisionError> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let per = 3 * CHECK_H * CHECK_W;
        let mut data = vec![0.0f32; boxes.len() * per];
        for (b, out) in boxes.iter().zip(data.chunks_exact_mut(per)) {
            check_crop(img, b, out);
        }
        let scores = self.model.run_batch(boxes.len(), CHECK_H, CHECK_W, &data)?;
        if scores.len() != boxes.len() {
            return Err(VisionError::inference(
                &self.info.name,
                "unexpected output shape",
            ));
        }
        Ok(scores)
    }
}

/// The crop window of a box: its centre ± its width across and ± max(1.5 × height,
/// width / 4) down, clipped to the picture, as whole pixels.
fn check_window(b: &BBox, w: u32, h: u32) -> (usize, usize, usize, usize) {
    let (bw, bh) = (b.width(), b.height());
    let (cx, cy) = (b.center_x(), b.center_y());
    let hh = (1.5 * bh).max(bw / 4.0);
    let (w, h) = (w as usize, h as usize);
    let x0 = ((cx - bw).max(0.0).floor() as usize).min(w - 1);
    let y0 = ((cy - hh).max(0.0).floor() as usize).min(h - 1);
    let x1 = ((cx + bw).min(w as f32).ceil() as usize).clamp(x0 + 1, w);
    let y1 = ((cy + hh).min(h as f32).ceil() as usize).clamp(y0 + 1, h);
    (x0, y0, x1, y1)
}

/// Writes the crop of `b` as planar RGB 0-255 into `out` (3 × 32 × 64), resampled
/// bilinearly with pixel centres at +0.5 and edges clamped, as OpenCV's
/// `INTER_LINEAR` that the training used.
pub fn check_crop(img: &RgbImage, b: &BBox, out: &mut [f32]) {
    let (x0, y0, x1, y1) = check_window(b, img.width(), img.height());
    let grid = Grid {
        origin: (x0 as f32, y0 as f32),
        scale: (
            (x1 - x0) as f32 / CHECK_W as f32,
            (y1 - y0) as f32 / CHECK_H as f32,
        ),
        bounds: (x0, y0, x1, y1),
    };
    resample_planar(img, &grid, CHECK_W, CHECK_H, out);
}

/// Where a vehicle's plate can be (see [`PlateParams::zone_top`]).
fn plate_zone(v: &Vehicle, params: &PlateParams) -> BBox {
    let (w, h) = (v.bbox.width(), v.bbox.height());
    BBox {
        x0: v.bbox.x0 - w * params.vehicle_margin,
        y0: v.bbox.y0 + h * params.zone_top,
        x1: v.bbox.x1 + w * params.vehicle_margin,
        y1: v.bbox.y1 + h * params.vehicle_margin,
    }
}

fn holds(zone: &BBox, p: &Plate) -> bool {
    zone.holds_centre_of(&p.bbox)
}

/// Whether PlateCheck's score can change what happens to each candidate: a box in a
/// vehicle's plate zone, or one scoring enough elsewhere to be kept or to be sure.
/// The rest (most of them: specks on foliage and brick) are dropped whatever
/// PlateCheck says, so it does not look at them.
pub fn worth_checking(
    candidates: &[Plate],
    vehicles: &[Vehicle],
    params: &PlateParams,
) -> Vec<bool> {
    let zones: Vec<BBox> = vehicles.iter().map(|v| plate_zone(v, params)).collect();
    candidates
        .iter()
        .map(|p| {
            let floor = p.outside_floor(params).min(params.sure);
            p.score >= params.threshold && (p.score >= floor || zones.iter().any(|z| holds(z, p)))
        })
        .collect()
}

/// Drops the candidates that are part of a sign (see [`PlateParams::sign_veto`]):
/// `signs` are the map features found in the frame, with their scores. A box in a
/// vehicle's plate zone stays whatever sign it overlaps: privacy first.
pub fn drop_sign_parts(
    candidates: &mut Vec<Plate>,
    signs: &[(BBox, f32)],
    vehicles: &[Vehicle],
    params: &PlateParams,
) {
    let zones: Vec<BBox> = vehicles.iter().map(|v| plate_zone(v, params)).collect();
    let sure_signs: Vec<&BBox> = signs
        .iter()
        .filter(|(_, s)| *s >= params.sign_veto)
        .map(|(b, _)| b)
        .collect();
    candidates.retain(|p| {
        zones.iter().any(|z| holds(z, p))
            || !sure_signs
                .iter()
                .any(|s| p.bbox.share_inside(s) >= SIGN_PART_SHARE)
    });
}

/// How much of a plate box must lie inside a sign's box for it to be a part of it.
const SIGN_PART_SHARE: f32 = 0.6;

/// What the plate pass blurs: the plate boxes to keep and the vehicle bands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlateChoice {
    pub plates: Vec<Plate>,
    pub bands: Vec<BBox>,
}

/// Chooses, from the plate model's boxes (`candidates`, at least `params.threshold`)
/// and the detected vehicles, what to blur:
/// * a box in some vehicle's plate zone is kept when PlateCheck agrees
///   (`zone_check`); elsewhere only from `outside_threshold` (`outside_threshold_wide`
///   for a wide box) and `outside_check`; a sure box anywhere;
/// * a vehicle wide enough to carry a readable plate and holding no sure box gets its
///   plate band blurred (the safety net for plates the model misses), and a kept box
///   lying wholly inside a band adds nothing, so it is dropped;
/// * a vehicle holding a sure box keeps only its sure boxes: a vehicle shows one
///   plate, and its other boxes are its lights, grille and stickers.
pub fn choose_plates(
    candidates: &[Plate],
    vehicles: &[Vehicle],
    params: &PlateParams,
) -> PlateChoice {
    let zones: Vec<BBox> = vehicles.iter().map(|v| plate_zone(v, params)).collect();
    let sure_zone: Vec<bool> = zones
        .iter()
        .map(|z| candidates.iter().any(|p| p.is_sure(params) && holds(z, p)))
        .collect();
    let bands: Vec<BBox> = vehicles
        .iter()
        .zip(&sure_zone)
        .filter(|(v, sure)| !**sure && v.bbox.width() >= params.min_vehicle_px)
        .map(|(v, _)| {
            let h = v.bbox.height();
            BBox {
                x0: v.bbox.x0,
                y0: v.bbox.y0 + h * params.band.0,
                x1: v.bbox.x1,
                y1: v.bbox.y0 + h * params.band.1,
            }
        })
        .collect();
    let plates = candidates
        .iter()
        .filter(|p| p.score >= params.threshold)
        .filter(|p| {
            if p.is_sure(params) {
                return true;
            }
            let mut inside = zones.iter().zip(&sure_zone).filter(|(z, _)| holds(z, p));
            match inside.next() {
                // Outside every zone: only a confident box.
                None => p.score >= p.outside_floor(params) && p.checked(params.outside_check),
                Some(_) if !p.checked(params.zone_check) => false,
                // In the zone of a vehicle whose plate was surely found: another box
                // there is not a plate, unless another vehicle's zone also holds it.
                Some((_, &sure)) => !sure || inside.any(|(_, &s)| !s),
            }
        })
        .filter(|p| !bands.iter().any(|b| contains(b, &p.bbox)))
        .copied()
        .collect();
    PlateChoice { plates, bands }
}

fn contains(outer: &BBox, inner: &BBox) -> bool {
    outer.x0 <= inner.x0 && inner.x1 <= outer.x1 && outer.y0 <= inner.y0 && inner.y1 <= outer.y1
}

/// The blur box of a kept plate: grown by `sure_margin` for a sure one, else by
/// `margin`.
pub fn plate_region(p: &Plate, params: &PlateParams, w: u32, h: u32) -> BBox {
    let margin = if p.is_sure(params) {
        params.sure_margin
    } else {
        params.margin
    };
    p.bbox.expanded(margin, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    fn car() -> Vehicle {
        Vehicle {
            bbox: bbox(100.0, 200.0, 300.0, 300.0),
            score: 0.8,
        }
    }

    fn plate(x0: f32, y0: f32, score: f32) -> Plate {
        Plate {
            bbox: bbox(x0, y0, x0 + 40.0, y0 + 10.0),
            score,
            check: None,
        }
    }

    #[test]
    fn a_vehicle_without_a_sure_plate_gets_its_lower_band_blurred_and_small_ones_none() {
        let far = Vehicle {
            bbox: bbox(600.0, 200.0, 650.0, 230.0),
            score: 0.8,
        };
        let p = PlateParams::default();
        let chosen = choose_plates(&[], &[car(), far], &p);
        assert_eq!(chosen.bands, vec![bbox(100.0, 245.0, 300.0, 300.0)]);
        // An unsure plate does not stand for the vehicle's plate ...
        let unsure = plate(180.0, 270.0, 0.4);
        assert_eq!(choose_plates(&[unsure], &[car()], &p).bands.len(), 1);
        // ... a sure one does.
        let sure = plate(180.0, 270.0, 0.9);
        assert!(choose_plates(&[sure], &[car()], &p).bands.is_empty());
    }

    /// Narrow and wide boxes calibrated apart outside the zones: 0.3 under 30 px,
    /// 0.2 from 30 px (the defaults set both to 0.15).
    fn per_width() -> PlateParams {
        PlateParams {
            outside_threshold: 0.3,
            outside_threshold_wide: 0.2,
            ..PlateParams::default()
        }
    }

    #[test]
    fn a_weak_box_is_kept_on_a_vehicle_and_dropped_on_a_wall() {
        let p = per_width();
        // Narrow boxes (20 px): outside a zone they need 0.3.
        let narrow = |x0: f32, y0: f32, score: f32| Plate {
            bbox: bbox(x0, y0, x0 + 20.0, y0 + 6.0),
            score,
            check: None,
        };
        // On the car's roof line: above its plate zone.
        let roof = narrow(180.0, 205.0, 0.2);
        // Just under the car's box: still in its (grown) zone, not in its band.
        let low = narrow(180.0, 296.0, 0.2);
        let wall = narrow(500.0, 100.0, 0.2);
        let bright_wall = plate(500.0, 150.0, 0.7);
        let chosen = choose_plates(&[roof, low, wall, bright_wall], &[car()], &p);
        assert_eq!(chosen.plates, vec![low, bright_wall]);
        // Without vehicles, only the confident box stays.
        assert_eq!(
            choose_plates(&[roof, low, wall, bright_wall], &[], &p).plates,
            vec![bright_wall]
        );
        // A wide box is calibrated apart: 40 px from 0.2.
        let wide_wall = plate(500.0, 200.0, 0.22);
        assert_eq!(choose_plates(&[wide_wall], &[], &p).plates, vec![wide_wall]);
    }

    #[test]
    fn a_vehicle_with_a_sure_plate_keeps_only_that_box_and_a_box_inside_a_band_adds_nothing() {
        let p = PlateParams::default();
        let sure = plate(180.0, 270.0, 0.9);
        let lamp = plate(110.0, 260.0, 0.3);
        assert_eq!(
            choose_plates(&[sure, lamp], &[car()], &p).plates,
            vec![sure]
        );
        // No sure plate: the band covers the lamp box, which is dropped.
        let chosen = choose_plates(&[lamp], &[car()], &p);
        assert_eq!(chosen.bands.len(), 1);
        assert!(chosen.plates.is_empty());
    }

    #[test]
    fn plate_check_must_agree_in_a_zone_and_outside_it() {
        let p = PlateParams::default();
        let checked = |x0, y0, score, check| Plate {
            check: Some(check),
            ..plate(x0, y0, score)
        };
        // In the zone, above the band: a box PlateCheck rejects is dropped.
        let low_ok = checked(180.0, 296.0, 0.2, 0.9);
        let low_bad = checked(130.0, 296.0, 0.2, 0.05);
        // Outside: the plate model's high score is not enough on its own.
        let wall_ok = checked(500.0, 100.0, 0.4, 0.95);
        let wall_bad = checked(500.0, 150.0, 0.4, 0.6);
        let chosen = choose_plates(&[low_ok, low_bad, wall_ok, wall_bad], &[car()], &p);
        assert_eq!(chosen.plates, vec![low_ok, wall_ok]);
        // A sure plate needs PlateCheck's word too, or the vehicle keeps its band.
        let doubtful = checked(180.0, 270.0, 0.9, 0.5);
        assert_eq!(choose_plates(&[doubtful], &[car()], &p).bands.len(), 1);
        let sure = checked(180.0, 270.0, 0.9, 0.95);
        assert!(choose_plates(&[sure], &[car()], &p).bands.is_empty());
    }

    #[test]
    fn a_plate_check_crop_is_the_box_with_context_resampled_to_32_by_64() {
        // Left half black, right half white: a box centred on the edge sees both.
        let img = RgbImage::from_fn(200, 100, |x, _| {
            let v = if x < 100 { 0 } else { 255 };
            image::Rgb([v, v, v])
        });
        let b = bbox(90.0, 45.0, 110.0, 55.0);
        assert_eq!(check_window(&b, 200, 100), (80, 35, 120, 65));
        let mut out = vec![0.0; 3 * CHECK_H * CHECK_W];
        check_crop(&img, &b, &mut out);
        let at = |c: usize, y: usize, x: usize| out[c * CHECK_H * CHECK_W + y * CHECK_W + x];
        assert_eq!(at(0, 16, 0), 0.0);
        assert_eq!(at(2, 16, 63), 255.0);
        assert!(at(1, 0, 31) < 128.0 && at(1, 0, 32) > 128.0);
        // A box at the picture's edge is clipped, never read out of bounds.
        let edge = bbox(195.0, 95.0, 200.0, 100.0);
        check_crop(&img, &edge, &mut out);
        assert!(out.iter().all(|&v| v == 255.0));
    }

    #[test]
    fn plate_check_looks_only_at_boxes_whose_fate_it_decides() {
        let p = per_width();
        let in_zone = plate(180.0, 296.0, 0.12);
        // 20 px wide: needs 0.3 outside a zone.
        let weak_wall = Plate {
            bbox: bbox(500.0, 100.0, 520.0, 106.0),
            score: 0.25,
            check: None,
        };
        let strong_wall = plate(500.0, 150.0, 0.35);
        // 40 px wide: from 0.2.
        let wide_wall = plate(500.0, 200.0, 0.22);
        let cands = [in_zone, weak_wall, strong_wall, wide_wall];
        assert_eq!(
            worth_checking(&cands, &[car()], &p),
            vec![true, false, true, true]
        );
        // Unchecked, the weak box is dropped all the same: the choice is unchanged.
        let all_checked: Vec<Plate> = cands
            .iter()
            .map(|c| Plate {
                check: Some(0.95),
                ..*c
            })
            .collect();
        let some_checked = [all_checked[0], weak_wall, all_checked[2], all_checked[3]];
        assert_eq!(
            choose_plates(&all_checked, &[car()], &p).plates.len(),
            choose_plates(&some_checked, &[car()], &p).plates.len()
        );
    }

    #[test]
    fn a_plate_box_inside_a_sure_sign_is_dropped_unless_it_is_on_a_vehicle() {
        let params = PlateParams::default();
        // A no-entry sign's white bar, 40 x 10 px inside a 60 px sign.
        let sign = (bbox(500.0, 100.0, 560.0, 160.0), 0.95);
        let bar = plate(510.0, 125.0, 0.6);
        let wall = plate(700.0, 125.0, 0.6);
        let mut c = vec![bar, wall];
        drop_sign_parts(&mut c, &[sign], &[], &params);
        assert_eq!(c, vec![wall]);
        // A doubtful sign vetoes nothing.
        let mut c = vec![bar];
        drop_sign_parts(&mut c, &[(sign.0, 0.6)], &[], &params);
        assert_eq!(c, vec![bar]);
        // A box on a vehicle stays even inside a sign's box.
        let mut v = car();
        v.bbox = bbox(440.0, 40.0, 620.0, 150.0);
        let mut c = vec![bar];
        drop_sign_parts(&mut c, &[sign], &[v], &params);
        assert_eq!(c, vec![bar]);
    }

    #[test]
    fn a_sure_plate_is_blurred_with_its_own_margin() {
        let p = PlateParams {
            sure_margin: 0.15,
            ..PlateParams::default()
        };
        let sure = plate_region(&plate(100.0, 100.0, 0.9), &p, 1000, 1000);
        let unsure = plate_region(&plate(100.0, 100.0, 0.3), &p, 1000, 1000);
        assert!(sure.area() < unsure.area(), "{sure:?} {unsure:?}");
        assert!(sure.area() > 40.0 * 10.0);
    }
}
