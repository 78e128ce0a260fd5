//! Synthetic inputs shared by the criterion benchmarks in `benches/`.

use chrono::{Duration, TimeZone, Utc};
use streetcomb_core::{
    BBox, Camera, CellId, ContributorId, Detection, DriveId, FeatureClass, Frame, FrameFlags,
    FrameId, LatLon, LocalFrame,
};

/// `n_drives` drives north along parallel streets 60 m apart, a frame every 4 m, with
/// exact detections of a sign every 50 m on the right-hand side.
pub fn synthetic_city(n_drives: usize, frames_per_drive: usize) -> (Vec<Frame>, Vec<Detection>) {
    let origin = LocalFrame::new(LatLon::new(60.17, 24.94).expect("valid"));
    let cam = Camera {
        hfov_deg: 70.0,
        mount_yaw_deg: 0.0,
        width: 1280,
        height: 720,
    };
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 16, 8, 0, 0)
        .single()
        .expect("valid time");
    let mut frames = Vec::new();
    let mut dets = Vec::new();
    for d in 0..n_drives {
        let street_x = (d % 50) as f64 * 60.0;
        let drive = DriveId::new(format!("d{d}")).expect("valid id");
        for i in 0..frames_per_drive {
            let y = i as f64 * 4.0;
            let pos = origin.to_latlon(street_x, y);
            let f = Frame {
                id: FrameId::of(&drive, &format!("{i:05}")).expect("valid id"),
                drive_id: drive.clone(),
                contributor: ContributorId::new(format!("c{}", d % 7)).expect("valid id"),
                captured_at: t0 + Duration::milliseconds(i as i64 * 500 + d as i64 * 3_600_000),
                pos,
                heading_deg: 0.0,
                cell: CellId::from_latlon(pos, 11).expect("valid cell"),
                image_key: String::new(),
                content_sha256: String::new(),
                phash: None,
                camera: cam,
                flags: FrameFlags::default(),
                blur: None,
            };
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
                dets.push(Detection {
                    frame_id: f.id.clone(),
                    class: FeatureClass::StopSign,
                    score: 0.8,
                    bbox: BBox {
                        x0: px as f32 - w / 2.0,
                        y0: 100.0,
                        x1: px as f32 + w / 2.0,
                        y1: 100.0 + w,
                    },
                    bearing_deg: cam.column_bearing_deg(0.0, px),
                    model: "bench".into(),
                    text: None,
                });
            }
            frames.push(f);
        }
    }
    (frames, dets)
}
