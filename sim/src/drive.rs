//! Simulating drives: plan each contributor's route, sample frames and GPS fixes along
//! it at constant speed, then render the frames on worker threads.
//!
//! Everything random comes from ChaCha8 streams seeded with `seed + contributor`
//! (stream 0: route, 1: GPS, 2: background look), and each frame is a pure function of
//! its plan, so the output is identical for a seed whatever the thread count.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use resvg::tiny_skia::Pixmap;
use streetcomb_core::{BBox, ContributorId, DriveId, LatLon};

use crate::assets::{Assets, PlateGeometry};
use crate::gps::{noisy_fixes, to_gpx};
use crate::model::{
    CONTRIBUTOR_STAGGER_MIN, DriveTruth, SimConfig, SimDrive, SimFrame, VisibleFeature,
    frame_file_name,
};
use crate::osm::RoadNetwork;
use crate::render::{FrameRenderer, Look, Placement, visible};
use crate::route::{Lane, plan_route};
use crate::{SimError, TruthFeature};

/// The background photo changes every this many metres of driving.
const BACKGROUND_BLOCK_M: f64 = 120.0;
/// How far the background pans per frame, sideways and vertically, pixels. Odd, so
/// that the pan never repeats from one frame to the next (see [`triangle`]).
const SWAY_PX: (usize, usize) = (5, 3);

/// Simulates `cfg.contributors` drives through `net`; see the crate docs.
pub fn simulate(
    net: &RoadNetwork,
    assets: &Assets,
    cfg: &SimConfig,
) -> Result<Vec<SimDrive>, SimError> {
    simulate_with(net, assets, cfg, &mut |_, _| {})
}

/// [`simulate`], calling `on_frame(done, total)` after each rendered frame (on the
/// calling thread), e.g. to drive a progress bar.
pub fn simulate_with(
    net: &RoadNetwork,
    assets: &Assets,
    cfg: &SimConfig,
    on_frame: &mut dyn FnMut(usize, usize),
) -> Result<Vec<SimDrive>, SimError> {
    cfg.validate()?;
    let geometry = PlateGeometry::for_camera(&cfg.drive.camera);
    let plans = (0..cfg.contributors)
        .map(|i| plan_drive(net, assets, cfg, &geometry, i))
        .collect::<Result<Vec<_>, _>>()?;

    // Only the backgrounds that some frame shows are prepared (for a camera of other
    // than the default size, each is resized now).
    let mut needed: Vec<usize> = plans
        .iter()
        .flat_map(|p| p.frames.iter().map(|f| f.look.background))
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let mut plates: Vec<Option<Cow<'_, Pixmap>>> =
        (0..assets.background_count()).map(|_| None).collect();
    try_parallel_map(
        &needed,
        || (),
        |_, &i| assets.plate(i, &geometry),
        |k, p| plates[needed[k]] = Some(p),
    )?;

    // Surface allocation failures here rather than on a worker.
    FrameRenderer::new(assets, &cfg.drive.camera, cfg.jpeg_quality)?;
    let jobs: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(d, p)| (0..p.frames.len()).map(move |f| (d, f)))
        .collect();
    let total = jobs.len();
    let mut jpegs: Vec<Vec<Vec<u8>>> = plans
        .iter()
        .map(|p| vec![Vec::new(); p.frames.len()])
        .collect();
    let mut done = 0;
    try_parallel_map(
        &jobs,
        || FrameRenderer::new(assets, &cfg.drive.camera, cfg.jpeg_quality).ok(),
        |renderer, &(d, f)| {
            let frame = &plans[d].frames[f];
            let plate = plates
                .get(frame.look.background)
                .and_then(Option::as_ref)
                .ok_or_else(|| SimError::Render("background was not prepared".into()))?;
            renderer
                .as_mut()
                .ok_or_else(|| SimError::Render("cannot allocate a frame canvas".into()))?
                .render(plate, &frame.look, &frame.placements)
        },
        |k, jpeg| {
            let (d, f) = jobs[k];
            jpegs[d][f] = jpeg;
            done += 1;
            on_frame(done, total);
        },
    )?;

    Ok(plans
        .into_iter()
        .zip(jpegs)
        .map(|(plan, jpegs)| assemble(net, cfg, plan, jpegs))
        .collect())
}

/// One frame, before rendering.
#[derive(Debug, Clone)]
struct FramePlan {
    time: DateTime<Utc>,
    pos: LatLon,
    heading_deg: f64,
    look: Look,
    placements: Vec<Placement>,
}

#[derive(Debug, Clone)]
struct DrivePlan {
    drive_id: DriveId,
    contributor: ContributorId,
    gpx: String,
    frames: Vec<FramePlan>,
}

/// A ChaCha8 stream for one purpose of one contributor.
fn rng(cfg: &SimConfig, contributor: usize, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(contributor as u64));
    r.set_stream(stream);
    r
}

/// `start + seconds`, to the millisecond.
fn at(start: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    start + Duration::milliseconds((seconds * 1000.0).round() as i64)
}

/// A triangle wave over 0..=`max` that moves one step per unit of `t`. Sampled every
/// `s` units with `s` odd, it never gives the same value twice in a row (for
/// `max > 0`): that would need `t + s` to mirror `t` about a turning point.
fn triangle(t: usize, max: usize) -> usize {
    if max == 0 {
        return 0;
    }
    let p = t % (2 * max);
    if p <= max { p } else { 2 * max - p }
}

fn plan_drive(
    net: &RoadNetwork,
    assets: &Assets,
    cfg: &SimConfig,
    geometry: &PlateGeometry,
    i: usize,
) -> Result<DrivePlan, SimError> {
    let contributor = ContributorId::new(format!("sim-c{:02}", i + 1))?;
    let drive_id = DriveId::new(format!("{contributor}-d01"))?;
    let route = plan_route(net, &mut rng(cfg, i, 0), cfg.drive.route_length_m)?;
    let start = cfg.drive.start + Duration::minutes(CONTRIBUTOR_STAGGER_MIN * i as i64);
    let step_m = cfg.drive.speed_mps * cfg.drive.frame_interval_s;
    let n_frames = (route.length() / step_m + 1e-9).floor() as usize + 1;

    // The background's look: which photo per block of road, a sway through the plate
    // margin (a few pixels per frame sideways, slower vertically) and a drifting
    // exposure, so that consecutive frames always differ.
    // Two real drives never share a photo, but the bundled pool is small: when there
    // are at least as many photos as contributors, each contributor gets its own
    // share of them, so the imagery of different contributors never looks like a
    // replay of one another (the ingest fraud checks compare perceptual hashes).
    let mut look_rng = rng(cfg, i, 2);
    let pool: Vec<usize> = {
        let n_bg = assets.background_count();
        let own: Vec<usize> = (0..n_bg)
            .filter(|b| b % cfg.contributors.max(1) == i % cfg.contributors.max(1))
            .collect();
        if cfg.contributors <= n_bg && !own.is_empty() {
            own
        } else {
            (0..n_bg).collect()
        }
    };
    let n_bg = pool.len();
    let blocks = (route.length() / BACKGROUND_BLOCK_M).floor() as usize + 1;
    let mut backgrounds: Vec<usize> = Vec::with_capacity(blocks);
    for _ in 0..blocks {
        let mut b = look_rng.random_range(0..n_bg);
        if n_bg > 1 && backgrounds.last() == Some(&pool[b]) {
            b = (b + 1 + look_rng.random_range(0..n_bg - 1)) % n_bg;
        }
        backgrounds.push(pool[b]);
    }
    // The pan runs over 0..=2 * margin each way.
    let span_x = 2 * geometry.margin.0 as usize;
    let span_y = 2 * geometry.margin.1 as usize;
    let phase_x = look_rng.random_range(0..2 * span_x.max(1));
    let phase_y = look_rng.random_range(0..2 * span_y.max(1));
    let phase_slow: f64 = look_rng.random_range(0.0..std::f64::consts::TAU);
    let phase_fast: f64 = look_rng.random_range(0.0..std::f64::consts::TAU);

    let lane = Lane::random(&mut rng(cfg, i, 3));
    let mut frames = Vec::with_capacity(n_frames);
    for k in 0..n_frames {
        let s = (k as f64 * step_m).min(route.length());
        let (xy, heading_deg) = route.in_lane(s, &lane);
        let block = ((s / BACKGROUND_BLOCK_M) as usize).min(blocks - 1);
        let brightness = 7.0 * (std::f64::consts::TAU * s / 97.0 + phase_slow).sin()
            + 3.0 * (std::f64::consts::TAU * s / 23.0 + phase_fast).sin();
        frames.push(FramePlan {
            time: at(start, k as f64 * cfg.drive.frame_interval_s),
            pos: net.frame.to_latlon(xy[0], xy[1]),
            heading_deg,
            look: Look {
                background: backgrounds[block],
                pan: (
                    triangle(k * SWAY_PX.0 + phase_x, span_x) as u32,
                    triangle(k * SWAY_PX.1 + phase_y, span_y) as u32,
                ),
                brightness: brightness as f32,
            },
            placements: visible(net, &cfg.drive.camera, xy, heading_deg),
        });
    }

    // GPS fixes from the first frame until at or after the last one.
    let last_t = (n_frames - 1) as f64 * cfg.drive.frame_interval_s;
    let n_fixes = (last_t / cfg.drive.gps_interval_s - 1e-9).ceil().max(0.0) as usize + 1;
    let truth: Vec<(DateTime<Utc>, [f64; 2])> = (0..n_fixes)
        .map(|j| {
            let t = j as f64 * cfg.drive.gps_interval_s;
            (
                at(start, t),
                route.in_lane(t * cfg.drive.speed_mps, &lane).0,
            )
        })
        .collect();
    let fixes = noisy_fixes(
        &truth,
        &net.frame,
        cfg.drive.gps_sigma_m,
        cfg.drive.gps_interval_s,
        &mut rng(cfg, i, 1),
    );
    Ok(DrivePlan {
        gpx: to_gpx(drive_id.as_str(), &fixes),
        drive_id,
        contributor,
        frames,
    })
}

/// The share of `p`'s box that nearer placements' boxes cover, sampled on a 16 × 16
/// grid of points (enough to tell a sign in the open from one half behind another).
fn hidden_share(p: &Placement, all: &[Placement]) -> f32 {
    const N: usize = 16;
    let b = p.bbox();
    let nearer: Vec<BBox> = all
        .iter()
        .filter(|q| q.distance_m < p.distance_m)
        .map(Placement::bbox)
        .filter(|q| q.iou(&b) > 0.0)
        .collect();
    if nearer.is_empty() {
        return 0.0;
    }
    let covered = (0..N * N)
        .filter(|k| {
            let x = b.x0 + (b.x1 - b.x0) * ((k % N) as f32 + 0.5) / N as f32;
            let y = b.y0 + (b.y1 - b.y0) * ((k / N) as f32 + 0.5) / N as f32;
            nearer
                .iter()
                .any(|q| x >= q.x0 && x < q.x1 && y >= q.y0 && y < q.y1)
        })
        .count();
    covered as f32 / (N * N) as f32
}

fn assemble(net: &RoadNetwork, cfg: &SimConfig, plan: DrivePlan, jpegs: Vec<Vec<u8>>) -> SimDrive {
    let all = net.features();
    let mut seen = vec![false; all.len()];
    let mut features: Vec<TruthFeature> = Vec::new();
    let mut track = Vec::with_capacity(plan.frames.len());
    let mut frames = Vec::with_capacity(plan.frames.len());
    for (f, jpeg) in plan.frames.into_iter().zip(jpegs) {
        // Nearest first, so that first appearance order follows the drive.
        let mut firsts: Vec<&Placement> =
            f.placements.iter().filter(|p| !seen[p.feature]).collect();
        firsts.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        for p in firsts {
            seen[p.feature] = true;
            features.push(all[p.feature].clone());
        }
        track.push((f.time, f.pos));
        frames.push(SimFrame {
            file_name: frame_file_name(f.time),
            captured_at: f.time,
            jpeg,
            true_pos: f.pos,
            heading_deg: f.heading_deg,
            visible: f
                .placements
                .iter()
                .map(|p| VisibleFeature {
                    feature_id: all[p.feature].id.clone(),
                    class: p.class,
                    value: p.value,
                    bbox: p.bbox(),
                    distance_m: p.distance_m,
                    hidden: hidden_share(p, &f.placements),
                })
                .collect(),
        });
    }
    SimDrive {
        drive_id: plan.drive_id,
        contributor: plan.contributor,
        camera: cfg.drive.camera,
        frames,
        gpx: plan.gpx,
        truth: DriveTruth { features, track },
    }
}

/// Runs `work` over `items` on up to one thread per core, each with its own `init()`
/// state, handing results to `on_result(index, result)` on the calling thread in
/// completion order; `on_result` returning false stops the remaining work.
fn parallel_map<T, S, R>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &T) -> R + Sync,
    mut on_result: impl FnMut(usize, R) -> bool,
) where
    T: Sync,
    R: Send,
{
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16)
        .min(items.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, init, work) = (&next, &stop, &init, &work);
            scope.spawn(move || {
                let mut state = init();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if tx.send((i, work(&mut state, item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            if !on_result(i, r) {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
}

/// [`parallel_map`] of fallible `work`: hands each result to `on_ok(index, value)`
/// and stops at the first error, which it returns.
fn try_parallel_map<T, S, R>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &T) -> Result<R, SimError> + Sync,
    mut on_ok: impl FnMut(usize, R),
) -> Result<(), SimError>
where
    T: Sync,
    R: Send,
{
    let mut first_error = None;
    parallel_map(items, init, work, |i, r| match r {
        Ok(v) => {
            on_ok(i, v);
            true
        }
        Err(e) => {
            first_error.get_or_insert(e);
            false
        }
    });
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::assets::tests::assets;
    use crate::osm::tests::straight_street;
    use streetcomb_core::FeatureClass;

    fn placed(x: f64, w: f64, distance_m: f64) -> Placement {
        Placement {
            feature: 0,
            class: FeatureClass::StopSign,
            value: None,
            at: crate::render::Projected {
                x,
                y: 100.0,
                w,
                h: w,
                distance_m,
                pole: None,
            },
            distance_m,
        }
    }

    #[test]
    fn a_sign_half_behind_a_nearer_one_is_half_hidden_and_the_nearer_one_not_at_all() {
        let far = placed(100.0, 32.0, 40.0);
        // A nearer sign covering the right half of the far one.
        let near = placed(116.0, 40.0, 30.0);
        let all = [far.clone(), near.clone()];
        assert_eq!(hidden_share(&far, &all), 0.5);
        assert_eq!(hidden_share(&near, &all), 0.0);
        // Side by side: nothing hidden.
        let beside = placed(140.0, 32.0, 20.0);
        assert_eq!(hidden_share(&far, &[far.clone(), beside]), 0.0);
    }

    #[test]
    fn a_triangle_wave_steps_by_one_and_turns_at_the_ends() {
        let w: Vec<usize> = (0..10).map(|t| triangle(t, 3)).collect();
        assert_eq!(w, [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]);
        assert_eq!(triangle(5, 0), 0);
        // Odd steps never repeat a value from one sample to the next.
        for max in 1..12 {
            for s in [SWAY_PX.0, SWAY_PX.1, 1, 7] {
                for t in 0..200 {
                    assert_ne!(triangle(t, max), triangle(t + s, max), "{max} {s} {t}");
                }
            }
        }
    }

    #[test]
    fn parallel_map_hands_every_result_back_once() {
        let items: Vec<u32> = (0..100).collect();
        let mut got = vec![0u32; 100];
        parallel_map(
            &items,
            || 0u32,
            |calls, x| {
                *calls += 1;
                x * 2
            },
            |i, r| {
                got[i] += r;
                true
            },
        );
        assert_eq!(got, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_short_drive_has_a_frame_every_four_metres_and_gps_until_its_end() {
        let raw = straight_street(400.0, &[(FeatureClass::StopSign, 200.0, 0.0)]);
        let net = RoadNetwork::build(raw).unwrap();
        let cfg = SimConfig::quick(80.0, 2);
        let mut calls = Vec::new();
        let drives = simulate_with(&net, assets(), &cfg, &mut |d, t| calls.push((d, t))).unwrap();
        assert_eq!(drives.len(), 2);
        assert_eq!(drives[1].drive_id.as_str(), "sim-c02-d01");
        assert_eq!(drives[1].contributor.as_str(), "sim-c02");
        for d in &drives {
            assert_eq!(d.frames.len(), 21);
            let dt = d.frames[1].captured_at - d.frames[0].captured_at;
            assert_eq!(dt.num_milliseconds(), 500);
            // 80 m at 8 m/s: fixes at 0..=10 s.
            assert_eq!(d.gpx.matches("<trkpt ").count(), 11);
            // The street runs east-west; the car sways within its lane by a degree
            // or two at most.
            for f in &d.frames {
                let h = f.heading_deg;
                assert!((h - 90.0).abs() < 2.0 || (h - 270.0).abs() < 2.0, "{h}");
            }
            let img = image::load_from_memory(&d.frames[3].jpeg).unwrap();
            assert_eq!((img.width(), img.height()), (320, 180));
        }
        assert_eq!(
            drives[1].frames[0].captured_at - drives[0].frames[0].captured_at,
            Duration::minutes(CONTRIBUTOR_STAGGER_MIN)
        );
        // Progress counts up to the total once per frame.
        assert_eq!(calls.len(), 42);
        assert_eq!(calls.last(), Some(&(42, 42)));
    }
}
