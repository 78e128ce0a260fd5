//! Synthetic inputs shared by the criterion benchmarks in `benches/`.

use chrono::{DateTime, Duration, Utc};
use streetcomb_core::rng::SplitMix64;
use streetcomb_core::testing::{FrameBuilder, default_time, detection_at_column};
use streetcomb_core::{
    Camera, Detection, FeatureClass, FeatureId, FeatureStatus, Frame, LatLon, LocalFrame,
    MapFeature,
};

/// `n_drives` drives north along parallel streets 60 m apart, a frame every 4 m, with
/// exact detections of a sign every 50 m on the right-hand side.
pub fn synthetic_city(n_drives: usize, frames_per_drive: usize) -> (Vec<Frame>, Vec<Detection>) {
    let origin = LocalFrame::new(LatLon::new(60.17, 24.94).expect("valid"));
    let cam = Camera {
        hfov_deg: 70.0,
        ..Camera::default()
    };
    let t0 = default_time();
    let mut frames = Vec::new();
    let mut dets = Vec::new();
    for d in 0..n_drives {
        let street_x = (d % 50) as f64 * 60.0;
        for i in 0..frames_per_drive {
            let y = i as f64 * 4.0;
            let pos = origin.to_latlon(street_x, y);
            let f = FrameBuilder::new()
                .drive(format!("d{d}"))
                .stem(format!("{i:05}"))
                .contributor(format!("c{}", d % 7))
                .at(t0 + Duration::milliseconds(i as i64 * 500 + d as i64 * 3_600_000))
                .pos(pos)
                .camera(cam)
                .build();
            let next_sign = ((y / 50.0).floor() + 1.0) * 50.0;
            for sy in [next_sign, next_sign + 50.0] {
                let fwd = sy - y;
                if !(5.0..40.0).contains(&fwd) {
                    continue;
                }
                let Some((px, _)) = cam.project(fwd, 4.0, 0.0) else {
                    continue;
                };
                if !(0.0..1280.0).contains(&px) {
                    continue;
                }
                let w = (0.75 * cam.focal_px() / fwd.hypot(4.0)) as f32;
                dets.push(detection_at_column(&f, FeatureClass::StopSign, px, (w, w)));
            }
            frames.push(f);
        }
    }
    (frames, dets)
}

/// Map feature `i` of the tile benchmarks: uniformly random in `bbox` (west, south,
/// east, north), first seen up to ~4 weeks before `t0`, with random confidence,
/// detections and uncertainty.
pub fn random_feature(
    i: usize,
    rng: &mut SplitMix64,
    bbox: [f64; 4],
    t0: DateTime<Utc>,
    status: FeatureStatus,
) -> MapFeature {
    let [w, s, e, n] = bbox;
    let pos = LatLon::new(s + rng.unit() * (n - s), w + rng.unit() * (e - w))
        .unwrap_or_else(|_| LatLon::new(s, w).expect("the bbox corner is a valid position"));
    let first = t0 - Duration::minutes((rng.unit() * 40_000.0) as i64);
    MapFeature {
        id: FeatureId::new(format!("f{i:06}")).expect("a valid feature id"),
        class: FeatureClass::ALL[i % 4],
        pos,
        uncertainty_m: (rng.unit() * 500.0).round() / 100.0,
        n_detections: 1 + (rng.unit() * 20.0) as u32,
        n_drives: 1,
        confidence: (rng.unit() * 1000.0).round() / 1000.0,
        first_seen: first,
        last_seen: first + Duration::minutes((rng.unit() * 20_000.0) as i64),
        status,
        azimuth_deg: None,
        single_view: false,
        value: None,
    }
}
