//! Mapbuild scaling: features built from 10⁴, 10⁵ and 10⁶ synthetic detections.
//!
//! The synthetic city grows with the input at constant density (parallel streets
//! 60 m apart, a sign every 25 m alternating sides and classes, four drives per street
//! with GPS offsets of a few metres), which is how real input grows: more drives cover
//! more streets. With spatial indexes the time per detection stays flat; an all-pairs
//! association would grow a hundredfold per step.
//!
//! `make bench-mapbuild` runs it (release); sample counts are small so the whole run
//! takes a few minutes.

use std::time::Duration as StdDuration;

use chrono::Duration;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use streetcomb_core::rng::{SplitMix64, mix};
use streetcomb_core::testing::{FrameBuilder, default_time, detection_at_column};
use streetcomb_core::{Camera, Detection, FeatureClass, Frame, LatLon, LocalFrame};
use streetcomb_mapbuild::{ChangeParams, FuseParams, build_history, fuse};

const STREET_M: f64 = 1000.0;
const SIGN_EVERY_M: f64 = 25.0;
const DRIVES_PER_STREET: usize = 4;

/// A deterministic offset in [-1, 1) for the pair (`a`, `b`).
fn jitter(a: u64, b: u64) -> f64 {
    SplitMix64::new(mix(a) ^ b).unit() * 2.0 - 1.0
}

/// About `target` detections over as many streets as it takes.
fn city(target: usize) -> (Vec<Frame>, Vec<Detection>) {
    let origin = LocalFrame::new(LatLon::new(60.17, 24.94).expect("valid"));
    let cam = Camera {
        hfov_deg: 70.0,
        ..Camera::default()
    };
    let t0 = default_time();
    let (mut frames, mut dets) = (Vec::new(), Vec::new());
    let mut street = 0u64;
    while dets.len() < target {
        let x = (street % 200) as f64 * 60.0;
        let y0 = (street / 200) as f64 * (STREET_M + 100.0);
        for d in 0..DRIVES_PER_STREET as u64 {
            let drive = format!("s{street}-d{d}");
            let contributor = format!("c{}", (street + d) % 97);
            let gps = (3.0 * jitter(street, d), 3.0 * jitter(d, street));
            let start = t0 + Duration::minutes((street % 500) as i64 * 7 + d as i64);
            for i in 0..(STREET_M / 4.0) as usize {
                let y = y0 + i as f64 * 4.0;
                let pos = origin.to_latlon(x + gps.0, y + gps.1);
                let f = FrameBuilder::new()
                    .drive(&drive)
                    .stem(format!("{i:04}"))
                    .contributor(&contributor)
                    .at(start + Duration::milliseconds(i as i64 * 500))
                    .pos(pos)
                    .camera(cam)
                    .build();
                let first = ((y - y0) / SIGN_EVERY_M).floor() as i64 + 1;
                for k in first..first + 2 {
                    let sy = y0 + k as f64 * SIGN_EVERY_M;
                    if sy > y0 + STREET_M {
                        continue;
                    }
                    let (side, class) = if k % 2 == 0 {
                        (4.0, FeatureClass::StopSign)
                    } else {
                        (-4.0, FeatureClass::TrafficLight)
                    };
                    let fwd = sy - y;
                    if !(5.0..40.0).contains(&fwd) {
                        continue;
                    }
                    let Some((px, _)) = cam.project(fwd, side, 0.0) else {
                        continue;
                    };
                    let w = (class.typical_width_m() * cam.focal_px() / fwd) as f32;
                    dets.push(detection_at_column(&f, class, px, (w, w)));
                }
                frames.push(f);
            }
        }
        street += 1;
    }
    (frames, dets)
}

fn mapbuild(c: &mut Criterion) {
    let mut g = c.benchmark_group("mapbuild_features");
    g.sample_size(10);
    g.warm_up_time(StdDuration::from_secs(1));
    g.measurement_time(StdDuration::from_secs(5));
    for n in [10_000usize, 100_000, 1_000_000] {
        let (frames, dets) = city(n);
        let built = fuse(&frames, &dets, &FuseParams::default());
        eprintln!(
            "{} detections, {} frames -> {} features",
            dets.len(),
            frames.len(),
            built.len()
        );
        g.throughput(Throughput::Elements(dets.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("fuse", dets.len()),
            &(frames, dets),
            |b, (f, d)| b.iter(|| fuse(f, d, &FuseParams::default())),
        );
    }
    // The whole history (one epoch here) adds the epoch split and merge bookkeeping.
    let (frames, dets) = city(100_000);
    g.throughput(Throughput::Elements(dets.len() as u64));
    g.bench_with_input(
        BenchmarkId::new("build_history", dets.len()),
        &(frames, dets),
        |b, (f, d)| {
            b.iter(|| build_history(f, d, &FuseParams::default(), &ChangeParams::default()))
        },
    );
    g.finish();
}

criterion_group!(benches, mapbuild);
criterion_main!(benches);
