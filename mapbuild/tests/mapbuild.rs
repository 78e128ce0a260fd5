//! Fusion and coverage on synthetic drives with known ground truth.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use streetcomb_core::{
    BBox, Camera, CellId, ContributorId, Detection, DriveId, FeatureClass, Frame, FrameFlags,
    FrameId, LatLon, LocalFrame,
};
use streetcomb_mapbuild::{FuseParams, coverage, fuse};

const ORIGIN: (f64, f64) = (60.17, 24.94);

fn local() -> LocalFrame {
    LocalFrame::new(LatLon::new(ORIGIN.0, ORIGIN.1).unwrap())
}

/// A drive heading north along x = 0 with a frame every `step` metres, and exact
/// detections of the given signs (east, north) while they are 4–40 m ahead and in view.
fn drive(
    name: &str,
    signs: &[(f64, f64, FeatureClass)],
    step: f64,
    gps_offset: (f64, f64),
) -> (Vec<Frame>, Vec<Detection>) {
    let cam = Camera {
        hfov_deg: 70.0,
        mount_yaw_deg: 0.0,
        width: 1280,
        height: 720,
    };
    let l = local();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap();
    let d = DriveId::new(name).unwrap();
    let mut frames = Vec::new();
    let mut dets = Vec::new();
    for i in 0..(120.0 / step) as usize {
        let y = -40.0 + i as f64 * step;
        let reported = l.to_latlon(gps_offset.0, y + gps_offset.1);
        let f = Frame {
            id: FrameId::of(&d, &format!("{i:04}")).unwrap(),
            drive_id: d.clone(),
            contributor: ContributorId::new(format!("c-{name}")).unwrap(),
            captured_at: t0 + Duration::milliseconds((i as f64 * step / 8.0 * 1000.0) as i64),
            pos: reported,
            heading_deg: 0.0,
            cell: CellId::from_latlon(reported, 11).unwrap(),
            image_key: String::new(),
            content_sha256: String::new(),
            phash: None,
            camera: cam,
            flags: FrameFlags::default(),
        };
        for &(sx, sy, class) in signs {
            let (fwd, right) = (sy - y, sx);
            if !(4.0..40.0).contains(&fwd) {
                continue;
            }
            let Some((px, _)) = cam.project(fwd, right, 0.0) else {
                continue;
            };
            if !(0.0..1280.0).contains(&px) {
                continue;
            }
            let w = (class.typical_width_m() * cam.focal_px() / fwd.hypot(right)) as f32;
            dets.push(Detection {
                frame_id: f.id.clone(),
                class,
                score: 0.8,
                bbox: BBox {
                    x0: px as f32 - w / 2.0,
                    y0: 100.0,
                    x1: px as f32 + w / 2.0,
                    y1: 100.0 + w,
                },
                bearing_deg: cam.column_bearing_deg(0.0, px),
                model: "test".into(),
            });
        }
        frames.push(f);
    }
    (frames, dets)
}

fn error_m(f: &streetcomb_core::MapFeature, e: f64, n: f64) -> f64 {
    let (x, y) = local().to_local(f.pos);
    (x - e).hypot(y - n)
}

#[test]
fn exact_detections_from_one_drive_recover_the_sign_position() {
    let (frames, dets) = drive(
        "d1",
        &[(4.0, 30.0, FeatureClass::StopSign)],
        4.0,
        (0.0, 0.0),
    );
    let feats = fuse(&frames, &dets, &FuseParams::default());
    assert_eq!(feats.len(), 1, "{feats:#?}");
    let f = &feats[0];
    assert!(
        error_m(f, 4.0, 30.0) < 0.05,
        "error {}",
        error_m(f, 4.0, 30.0)
    );
    assert!(!f.single_view);
    assert_eq!(f.n_drives, 1);
    assert!(f.n_detections >= 5);
    assert!(f.first_seen < f.last_seen);
    // The sign faces back down the road, towards the cameras (south).
    assert!(
        (f.azimuth_deg.unwrap() - 180.0).abs() < 30.0,
        "{:?}",
        f.azimuth_deg
    );
}

#[test]
fn two_signs_close_together_stay_two_features_and_classes_never_mix() {
    let signs = [
        (4.0, 30.0, FeatureClass::StopSign),
        (4.0, 45.0, FeatureClass::StopSign),
        (-4.0, 30.0, FeatureClass::TrafficLight),
    ];
    let (frames, dets) = drive("d1", &signs, 4.0, (0.0, 0.0));
    let feats = fuse(&frames, &dets, &FuseParams::default());
    assert_eq!(feats.len(), 3, "{feats:#?}");
    for (e, n, class) in signs {
        let best = feats
            .iter()
            .filter(|f| f.class == class)
            .map(|f| error_m(f, e, n))
            .fold(f64::INFINITY, f64::min);
        assert!(best < 0.5, "{class} at ({e},{n}): nearest {best}");
    }
}

#[test]
fn several_drives_with_gps_offsets_give_one_feature_between_them() {
    let sign = [(4.0, 30.0, FeatureClass::TrafficLight)];
    let mut frames = Vec::new();
    let mut dets = Vec::new();
    for (i, off) in [(2.0, 1.0), (-2.0, -1.5), (0.5, 2.0)]
        .into_iter()
        .enumerate()
    {
        let (f, d) = drive(&format!("d{i}"), &sign, 4.0, off);
        frames.extend(f);
        dets.extend(d);
    }
    let feats = fuse(&frames, &dets, &FuseParams::default());
    assert_eq!(
        feats.len(),
        1,
        "one physical sign must be one feature: {feats:#?}"
    );
    assert_eq!(feats[0].n_drives, 3);
    assert!(
        error_m(&feats[0], 4.0, 30.0) < 2.0,
        "{}",
        error_m(&feats[0], 4.0, 30.0)
    );
}

#[test]
fn a_sign_seen_once_falls_back_to_a_flagged_single_view_estimate() {
    let (frames, dets) = drive(
        "d1",
        &[(4.0, 30.0, FeatureClass::StopSign)],
        4.0,
        (0.0, 0.0),
    );
    let one = vec![dets[2].clone()];
    let feats = fuse(&frames, &one, &FuseParams::default());
    assert_eq!(feats.len(), 1);
    assert!(feats[0].single_view);
    assert!(error_m(&feats[0], 4.0, 30.0) < 3.0);
    assert!(feats[0].uncertainty_m >= 2.0);
}

#[test]
fn coverage_counts_frames_per_cell_and_contributor() {
    let (frames, _) = drive("d1", &[], 4.0, (0.0, 0.0));
    let cov = coverage(&frames, 11);
    assert!(cov.len() >= 3, "{}", cov.len());
    assert_eq!(
        cov.iter().map(|c| c.n_frames as usize).sum::<usize>(),
        frames.len()
    );
    assert!(
        cov.iter()
            .all(|c| c.heading_deg < 1.0 || c.heading_deg > 359.0)
    );
    let coarse = coverage(&frames, 8);
    assert!(coarse.len() < cov.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn feature_ids_are_stable_under_reordering_of_the_input(seed in any::<u64>()) {
        let signs = [(4.0, 30.0, FeatureClass::StopSign), (-5.0, 50.0, FeatureClass::StopSign), (3.0, 60.0, FeatureClass::TrafficLight)];
        let (mut frames, mut dets) = drive("d1", &signs, 4.0, (0.0, 0.0));
        let a = fuse(&frames, &dets, &FuseParams::default());
        // A deterministic shuffle from the seed.
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
        for i in (1..dets.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; dets.swap(i, j); }
        for i in (1..frames.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; frames.swap(i, j); }
        let b = fuse(&frames, &dets, &FuseParams::default());
        prop_assert_eq!(a, b);
    }
}
