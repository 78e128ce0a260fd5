//! A simulated rewards week: honest contributors and cheaters, as geotagged frames
//! with perceptual hashes of really rendered images, for the fraud checks and rewards.
//!
//! Each honest contributor drives one straight lane of its own (lanes 250 m apart, so
//! no two share an H3 cell), one frame a second, at a different hour of the week.
//! Every frame is a small luma image rendered here: a side view of a street whose
//! facades, windows, skyline and exposure come from the drive's own seed, slid
//! sideways by the distance driven (a parked car sees a still picture, a moving one a
//! changing street). The caller hashes each image (e.g. with ingest's `phash_luma`),
//! so the checks run on real pixels, and two honest drives never look alike.
//!
//! Cheaters (two of each [`Cheat`]):
//! - [`Cheat::Replay`] re-uploads an honest contributor's frames a day later (the
//!   images re-rendered with other sensor noise and exposure, as a re-encode would);
//! - [`Cheat::Teleport`] drives its lane, then its GPS jumps 5 km north mid-drive;
//! - [`Cheat::Speeding`] "drives" at 70 m/s (252 km/h) all along;
//! - [`Cheat::StaticGps`] keeps a fixed GPS position while its imagery moves;
//! - [`Cheat::DuplicateDevice`] uploads a copy of an honest drive (same times and
//!   images, another device) under its own name after the original.
//!
//! [`Week::uploads`] lists the drives in upload order: every honest drive, then the
//! cheaters'.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use streetcomb_core::{Camera, CellId, ContributorId, DriveId, Frame, FrameFlags, FrameId, LatLon};

use crate::SimError;

/// How a cheater cheats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cheat {
    Replay,
    Teleport,
    Speeding,
    StaticGps,
    DuplicateDevice,
}

impl Cheat {
    pub const ALL: [Cheat; 5] = [
        Cheat::Replay,
        Cheat::Teleport,
        Cheat::Speeding,
        Cheat::StaticGps,
        Cheat::DuplicateDevice,
    ];

    fn name(self) -> &'static str {
        match self {
            Cheat::Replay => "replay",
            Cheat::Teleport => "teleport",
            Cheat::Speeding => "speeding",
            Cheat::StaticGps => "static-gps",
            Cheat::DuplicateDevice => "duplicate-device",
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct WeekConfig {
    pub seed: u64,
    /// Honest contributors.
    pub honest: usize,
    /// Cheaters per [`Cheat`].
    pub cheaters_per_kind: usize,
    /// Frames per drive (one a second).
    pub frames_per_drive: usize,
    /// Honest driving speed, m/s.
    pub speed_mps: f64,
    /// Rendered image size, pixels.
    pub width: usize,
    pub height: usize,
    /// The first drive's start; drives are spread over the following four days.
    pub start: DateTime<Utc>,
    /// South end of lane 0; lane `i` is `250 i` m east of it.
    pub origin: LatLon,
}

impl Default for WeekConfig {
    fn default() -> Self {
        Self {
            seed: 47,
            honest: 50,
            cheaters_per_kind: 2,
            frames_per_drive: 24,
            speed_mps: 12.0,
            width: 160,
            height: 90,
            // Monday of ISO week 2026-W47, 06:00 UTC.
            start: Utc
                .with_ymd_and_hms(2026, 11, 16, 6, 0, 0)
                .single()
                .unwrap_or_default(),
            #[allow(clippy::expect_used)]
            origin: LatLon::new(60.10, 24.60).expect("a valid position"),
        }
    }
}

/// The simulated week.
#[derive(Debug, Clone)]
pub struct Week {
    /// Drives in upload order, each a list of frames (flags all clear).
    pub uploads: Vec<Vec<Frame>>,
    /// The cheaters and how they cheat.
    pub cheaters: BTreeMap<ContributorId, Cheat>,
    /// The honest contributors.
    pub honest: Vec<ContributorId>,
}

/// Hashes a rendered luma image (width, height, pixels); `None` when it cannot.
pub type ImageHasher = dyn Fn(usize, usize, &[u8]) -> Option<u64>;

/// Lanes are this far apart, metres.
const LANE_SPACING_M: f64 = 250.0;
/// Image pixels the view slides per metre driven.
const PX_PER_M: f64 = 1.5;

/// Simulates the week; `hash(width, height, luma)` hashes each rendered image.
pub fn simulate_week(cfg: &WeekConfig, hash: &ImageHasher) -> Result<Week, SimError> {
    if cfg.width < 8 || cfg.height < 8 || cfg.frames_per_drive < 6 || cfg.honest < 2 {
        return Err(SimError::Config(
            "the week needs images of at least 8x8, 6 frames per drive and 2 honest contributors"
                .into(),
        ));
    }
    let id = |s: String| ContributorId::new(s).map_err(|e| SimError::Config(e.to_string()));
    let n = cfg.frames_per_drive;
    let mut uploads = Vec::new();
    let mut honest = Vec::new();
    // Honest drives, spread over four days.
    for i in 0..cfg.honest {
        let who = id(format!("honest-{i:02}"))?;
        let start = cfg.start + Duration::minutes((i as i64 * 4 * 24 * 60) / cfg.honest as i64);
        let plan = per_second(start, n, |k| {
            let d = cfg.speed_mps * k as f64;
            (lane(cfg, i).destination(0.0, d), d)
        });
        uploads.push(make_drive(
            cfg,
            &who,
            "d1",
            drive_seed(cfg, i as u64),
            0,
            &plan,
            hash,
        )?);
        honest.push(who);
    }
    let mut cheaters = BTreeMap::new();
    let mut lane_no = cfg.honest;
    for cheat in Cheat::ALL {
        for c in 0..cfg.cheaters_per_kind {
            let who = id(format!("cheat-{}-{c}", cheat.name()))?;
            let seed = drive_seed(cfg, 1000 + lane_no as u64);
            let start = cfg.start + Duration::hours(12 + 7 * lane_no as i64 % 72);
            let own_lane = lane(cfg, lane_no);
            lane_no += 1;
            // A drive on its own lane, one frame a second: `at(k)` as in [`per_second`].
            let own_drive = |at: &dyn Fn(usize) -> (LatLon, f64)| {
                make_drive(cfg, &who, "d1", seed, 0, &per_second(start, n, at), hash)
            };
            // The honest drive a copying cheater takes (a different one each).
            let victim = (c * 7 + cheat as usize * 3) % cfg.honest;
            let drive = match cheat {
                Cheat::Replay | Cheat::DuplicateDevice => {
                    let shift = if cheat == Cheat::Replay {
                        Duration::days(1)
                    } else {
                        Duration::zero()
                    };
                    let original = &uploads[victim];
                    let plan: Vec<Step> = original
                        .iter()
                        .enumerate()
                        .map(|(k, f): (usize, &Frame)| Step {
                            t: f.captured_at + shift,
                            pos: f.pos,
                            travel_m: cfg.speed_mps * k as f64,
                        })
                        .collect();
                    // Same scene, other sensor noise and exposure: a re-encode.
                    make_drive(
                        cfg,
                        &who,
                        "d1",
                        drive_seed(cfg, victim as u64),
                        1,
                        &plan,
                        hash,
                    )?
                }
                Cheat::Teleport => own_drive(&|k| {
                    let d = cfg.speed_mps * k as f64;
                    let jump = if k >= n / 2 { 5000.0 } else { 0.0 };
                    (own_lane.destination(0.0, d + jump), d)
                })?,
                Cheat::Speeding => own_drive(&|k| {
                    let d = 70.0 * k as f64;
                    (own_lane.destination(0.0, d), d)
                })?,
                Cheat::StaticGps => own_drive(&|k| (own_lane, cfg.speed_mps * k as f64))?,
            };
            uploads.push(drive);
            cheaters.insert(who, cheat);
        }
    }
    Ok(Week {
        uploads,
        cheaters,
        honest,
    })
}

fn lane(cfg: &WeekConfig, i: usize) -> LatLon {
    cfg.origin.destination(90.0, LANE_SPACING_M * i as f64)
}

fn drive_seed(cfg: &WeekConfig, k: u64) -> u64 {
    cfg.seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(k.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// Where the car is (per GPS) and how far the camera has really moved.
struct Step {
    t: DateTime<Utc>,
    pos: LatLon,
    travel_m: f64,
}

/// `n` steps one second apart from `start`; `at(k)` gives step `k`'s position and the
/// metres really driven by then.
fn per_second(start: DateTime<Utc>, n: usize, at: impl Fn(usize) -> (LatLon, f64)) -> Vec<Step> {
    (0..n)
        .map(|k| {
            let (pos, travel_m) = at(k);
            Step {
                t: start + Duration::seconds(k as i64),
                pos,
                travel_m,
            }
        })
        .collect()
}

fn make_drive(
    cfg: &WeekConfig,
    who: &ContributorId,
    name: &str,
    scene_seed: u64,
    take: u64,
    plan: &[Step],
    hash: &ImageHasher,
) -> Result<Vec<Frame>, SimError> {
    let scene = Scene::new(scene_seed);
    let drive =
        DriveId::new(format!("{who}-{name}")).map_err(|e| SimError::Config(e.to_string()))?;
    let mut noise = ChaCha8Rng::seed_from_u64(scene_seed ^ (take + 1).wrapping_mul(0x5851_F42D));
    let exposure: i16 = if take == 0 {
        0
    } else {
        noise.random_range(-12..=12)
    };
    plan.iter()
        .enumerate()
        .map(|(k, s)| {
            let luma = scene.render(cfg.width, cfg.height, s.travel_m, exposure, &mut noise);
            let phash = hash(cfg.width, cfg.height, &luma);
            let id = FrameId::of(&drive, &format!("{k:04}"))
                .map_err(|e| SimError::Config(e.to_string()))?;
            Ok(Frame {
                image_key: format!("images/{id}.jpg"),
                id,
                drive_id: drive.clone(),
                contributor: who.clone(),
                captured_at: s.t,
                pos: s.pos,
                heading_deg: 0.0,
                cell: CellId::from_latlon(s.pos, streetcomb_core::cell::DEFAULT_RESOLUTION)
                    .map_err(|e| SimError::Config(e.to_string()))?,
                content_sha256: format!("{:016x}{:048x}", phash.unwrap_or(0), k),
                phash,
                camera: Camera {
                    width: cfg.width as u32,
                    height: cfg.height as u32,
                    ..Camera::default()
                },
                flags: FrameFlags::default(),
                blur: None,
            })
        })
        .collect()
}

/// A street seen from the side: a skyline of facades with windows, drawn from a seed.
struct Scene {
    seed: u64,
    /// Horizon (road edge) as a share of the image height.
    horizon: f64,
    sky: i16,
    road: i16,
    /// Facade width range in world metres.
    facade_m: (f64, f64),
}

impl Scene {
    fn new(seed: u64) -> Self {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        Self {
            seed,
            horizon: r.random_range(0.6..0.85),
            sky: r.random_range(150..250),
            road: r.random_range(30..110),
            facade_m: (r.random_range(4.0..8.0), r.random_range(9.0..20.0)),
        }
    }

    /// Facade number `i` along the street: (start m, width m, top share, tone, window
    /// pitch px, window tone).
    fn facade(&self, i: i64) -> (f64, f64, i16, usize, i16) {
        let mut r =
            ChaCha8Rng::seed_from_u64(self.seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let width = r.random_range(self.facade_m.0..self.facade_m.1);
        (
            width,
            r.random_range(0.05..0.5),
            r.random_range(20..230),
            r.random_range(3..9),
            r.random_range(0..255),
        )
    }

    fn render(
        &self,
        w: usize,
        h: usize,
        travel_m: f64,
        exposure: i16,
        noise: &mut ChaCha8Rng,
    ) -> Vec<u8> {
        let mut img = vec![0u8; w * h];
        let horizon = (self.horizon * h as f64) as usize;
        // Facades are laid out on a fixed grid of slots, each of its own width, so a
        // column's facade depends only on the world position.
        let slot_m = self.facade_m.1;
        for x in 0..w {
            let world_m = travel_m + x as f64 / PX_PER_M;
            let slot = (world_m / slot_m).floor() as i64;
            let (width, top, tone, pitch, win) = self.facade(slot);
            let in_facade = world_m - slot as f64 * slot_m < width;
            let top_px = (top * h as f64) as usize;
            let col_px = ((world_m * PX_PER_M) as usize) % pitch;
            for y in 0..h {
                let v: i16 = if y >= horizon {
                    self.road + ((y - horizon) as i16) / 2
                } else if in_facade && y >= top_px {
                    if col_px < pitch / 2 && (y - top_px) % pitch < pitch / 2 {
                        win
                    } else {
                        tone
                    }
                } else {
                    self.sky - (y as i16) / 3
                };
                let n: i16 = noise.random_range(-3..=3);
                img[y * w + x] = (v + exposure + n).clamp(0, 255) as u8;
            }
        }
        img
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The 8x8 block means of an image, as a crude stand-in hash for pixel tests.
    fn mean(img: &[u8]) -> f64 {
        img.iter().map(|v| f64::from(*v)).sum::<f64>() / img.len() as f64
    }

    #[test]
    fn a_parked_camera_sees_the_same_street_and_a_moving_one_a_changing_street() {
        let s = Scene::new(3);
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let a = s.render(160, 90, 10.0, 0, &mut r);
        let b = s.render(160, 90, 10.0, 0, &mut r);
        let c = s.render(160, 90, 22.0, 0, &mut r);
        let diff = |p: &[u8], q: &[u8]| {
            p.iter()
                .zip(q)
                .map(|(x, y)| (i32::from(*x) - i32::from(*y)).abs())
                .sum::<i32>() as f64
                / p.len() as f64
        };
        assert!(diff(&a, &b) < 4.0, "{}", diff(&a, &b));
        assert!(diff(&a, &c) > 10.0, "{}", diff(&a, &c));
        assert!((mean(&a) - mean(&b)).abs() < 1.0);
    }

    #[test]
    fn a_week_has_every_cheat_and_the_same_output_for_a_seed() {
        let cfg = WeekConfig {
            honest: 4,
            cheaters_per_kind: 1,
            frames_per_drive: 8,
            ..WeekConfig::default()
        };
        let h = |w: usize, _: usize, img: &[u8]| {
            Some(img.iter().step_by(w).map(|v| u64::from(*v)).sum())
        };
        let a = simulate_week(&cfg, &h).unwrap();
        let b = simulate_week(&cfg, &h).unwrap();
        assert_eq!(a.uploads, b.uploads);
        assert_eq!(a.uploads.len(), 4 + 5);
        assert_eq!(a.cheaters.len(), 5);
        assert!(a.uploads.iter().all(|d| d.len() == 8));
    }
}
