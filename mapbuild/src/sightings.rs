//! Which frames saw a map feature: the detections of its class whose bearing ray
//! passes close to it, from within range. The viewer lists these under a feature, so
//! a user can check it against the pictures.
//!
//! Features are re-derived from rays every epoch and merged across epochs, so the
//! link is recomputed from geometry instead of being stored: a detection sees a
//! feature when its ray points at it (a miss of at most [`MISS_BASE_M`] plus
//! [`MISS_PER_M`] of the range plus twice the feature's uncertainty, which allows for
//! GPS noise and bearing error), from no further than the fusion's range limit. A
//! detection that could see several features of its class is given to the one it
//! misses least, so two signs on one pole do not share their pictures.

use std::collections::HashMap;

use streetcomb_core::spatial::SpatialIndex;
use streetcomb_core::{Detection, Frame, LocalFrame, MapFeature};

use crate::rays::Ray;

/// Miss allowed at any range, metres (GPS noise of a phone or dashcam).
pub const MISS_BASE_M: f64 = 4.0;
/// Miss allowed per metre of range (about 3° of bearing error).
pub const MISS_PER_M: f64 = 0.05;

/// One detection seeing one feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// Index into the `detections` given to [`sightings`].
    pub detection: usize,
    /// Distance from the camera to the feature, metres.
    pub range_m: f64,
    /// How far the detection's ray passes from the feature, metres.
    pub miss_m: f64,
}

/// For each feature (same order), the detections that saw it, in capture order (then
/// detection order). Detections whose frame is not in `frames` are ignored.
/// `max_range_m` is the fusion's range limit ([`crate::FuseParams::max_range_m`]).
pub fn sightings(
    features: &[MapFeature],
    frames: &[Frame],
    detections: &[Detection],
    max_range_m: f64,
) -> Vec<Vec<Sighting>> {
    let mut out = vec![Vec::new(); features.len()];
    let Some(first) = features.first() else {
        return out;
    };
    // One tangent plane for the lot: street-level ranges are short, and the plane's
    // error over a city is far below the GPS noise.
    let plane = LocalFrame::new(first.pos);
    let by_id: HashMap<&str, &Frame> = frames.iter().map(|f| (f.id.as_str(), f)).collect();
    let feature_xy: Vec<(f64, f64)> = features.iter().map(|f| plane.to_local(f.pos)).collect();
    let index = SpatialIndex::of_points(&feature_xy);
    // The furthest a feature can stand from a camera that sees it: the range limit
    // along the ray and the largest miss allowed across it.
    let widest = features
        .iter()
        .map(|f| f.uncertainty_m.max(0.0))
        .fold(0.0, f64::max);
    let reach = max_range_m.hypot(MISS_BASE_M + MISS_PER_M * max_range_m + 2.0 * widest);
    // Per detection, its best feature: (feature, sighting, capture time).
    let mut best: Vec<(usize, Sighting, chrono::DateTime<chrono::Utc>)> = Vec::new();
    for (i, d) in detections.iter().enumerate() {
        let Some(frame) = by_id.get(d.frame_id.as_str()) else {
            continue;
        };
        if !d.bearing_deg.is_finite() {
            continue;
        }
        let cam = plane.to_local(frame.pos);
        let ray = Ray::new(cam, d.bearing_deg);
        let mut pick: Option<(usize, Sighting)> = None;
        for fi in index.near(cam, reach) {
            let (Some(f), Some(&xy)) = (features.get(fi), feature_xy.get(fi)) else {
                continue;
            };
            if f.class != d.class {
                continue;
            }
            let range = ray.along(xy);
            let miss = ray.perp(xy);
            let allowed = MISS_BASE_M + MISS_PER_M * range + 2.0 * f.uncertainty_m.max(0.0);
            if range <= 0.0 || range > max_range_m || miss > allowed {
                continue;
            }
            if pick.as_ref().is_none_or(|(_, s)| miss < s.miss_m) {
                pick = Some((
                    fi,
                    Sighting {
                        detection: i,
                        range_m: range,
                        miss_m: miss,
                    },
                ));
            }
        }
        if let Some((fi, s)) = pick {
            best.push((fi, s, frame.captured_at));
        }
    }
    best.sort_by_key(|b| (b.2, b.1.detection));
    for (fi, s, _) in best {
        if let Some(v) = out.get_mut(fi) {
            v.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{TimeZone, Utc};
    use streetcomb_core::testing::FrameBuilder;
    use streetcomb_core::{BBox, FeatureClass, FeatureId, FeatureStatus, FrameId, LatLon};

    fn frame(id: &str, pos: LatLon, second: u32) -> Frame {
        FrameBuilder::new()
            .id(id)
            .at(Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, second).unwrap())
            .pos(pos)
            .cell_resolution(12)
            .image_key(format!("images/{id}.jpg"))
            .build()
    }

    fn detection(frame: &str, class: FeatureClass, bearing_deg: f64) -> Detection {
        Detection {
            frame_id: FrameId::new(frame).unwrap(),
            class,
            score: 0.9,
            bbox: BBox {
                x0: 0.0,
                y0: 0.0,
                x1: 10.0,
                y1: 10.0,
            },
            bearing_deg,
            model: "test".into(),
            text: None,
            value: None,
        }
    }

    fn feature(id: &str, class: FeatureClass, pos: LatLon) -> MapFeature {
        let t = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        MapFeature {
            id: FeatureId::new(id).unwrap(),
            class,
            pos,
            uncertainty_m: 1.0,
            n_detections: 2,
            n_drives: 1,
            confidence: 0.9,
            first_seen: t,
            last_seen: t,
            status: FeatureStatus::New,
            azimuth_deg: None,
            single_view: false,
            value: None,
        }
    }

    #[test]
    fn detections_pointing_at_a_feature_see_it_and_others_do_not() {
        let sign = LatLon::new(60.17, 24.94).unwrap();
        // Cameras 30 m and 15 m south of the sign, then one 30 m east of it.
        let a = frame("a", sign.destination(180.0, 30.0), 1);
        let b = frame("b", sign.destination(180.0, 15.0), 2);
        let c = frame("c", sign.destination(90.0, 30.0), 3);
        let far = frame("far", sign.destination(180.0, 200.0), 4);
        let dets = vec![
            detection("b", FeatureClass::StopSign, 1.0),
            detection("a", FeatureClass::StopSign, 359.0),
            // Points north from the east camera: misses by 30 m.
            detection("c", FeatureClass::StopSign, 0.0),
            // Right bearing, wrong class.
            detection("a", FeatureClass::TrafficLight, 0.0),
            // Beyond the range limit.
            detection("far", FeatureClass::StopSign, 0.0),
            // Its frame is unknown.
            detection("ghost", FeatureClass::StopSign, 0.0),
        ];
        let frames = vec![a, b, c, far];
        let features = vec![feature("f", FeatureClass::StopSign, sign)];
        let seen = sightings(&features, &frames, &dets, 80.0);
        let got: Vec<usize> = seen[0].iter().map(|s| s.detection).collect();
        // Capture order: frame a (second 1) before frame b (second 2).
        assert_eq!(got, vec![1, 0]);
        assert!((seen[0][0].range_m - 30.0).abs() < 0.5, "{:?}", seen[0][0]);
        assert!(seen[0].iter().all(|s| s.miss_m < 1.0));
    }

    #[test]
    fn a_detection_between_two_signs_goes_to_the_one_it_points_at() {
        let cam_pos = LatLon::new(60.17, 24.94).unwrap();
        let left = cam_pos.destination(350.0, 25.0);
        let right = cam_pos.destination(5.0, 25.0);
        let frames = vec![frame("a", cam_pos, 1)];
        let dets = vec![detection("a", FeatureClass::StopSign, 4.0)];
        let features = vec![
            feature("left", FeatureClass::StopSign, left),
            feature("right", FeatureClass::StopSign, right),
        ];
        let seen = sightings(&features, &frames, &dets, 80.0);
        assert!(seen[0].is_empty());
        assert_eq!(seen[1].len(), 1);
        assert!(sightings(&[], &frames, &dets, 80.0).is_empty());
    }
}
