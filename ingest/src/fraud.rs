//! Fraud checks over geotagged frames: pure functions that raise [`FrameFlags`] so
//! that rewards can refuse the frames (listed with the reason).
//!
//! [`check_frames`] looks at each drive of the new frames on its own (time order) and
//! against every other drive, new or already stored:
//!
//! - **jump** (teleport): one step between consecutive frames of at least
//!   `jump_min_m` at more than `jump_speed_mps`. A spoofed position taints the whole
//!   drive, so every frame of it is flagged.
//! - **impossible_speed**: the path length over a window of `speed_window_s` (jump
//!   steps left out) divided by its duration exceeds `max_speed_mps`; the frames of
//!   every such window are flagged.
//! - **motion_mismatch**: over `motion_window` consecutive frames with pHashes, the
//!   GPS moved less than `stationary_m` while consecutive images differ by more than
//!   `moving_image_bits` on average (a parked phone replaying a video, a static GPS
//!   with moving imagery); or the reverse, the GPS moves faster than `moving_gps_mps`
//!   while no consecutive images differ by more than `frozen_image_bits` over
//!   `frozen_window` frames or the whole drive (a still picture with a spoofed moving
//!   track). The window's frames are flagged.
//! - **duplicate_device**: frames of another drive captured within `same_time_s` with
//!   a pHash within `same_image_bits`, on at least `duplicate_min_frames` frames: the
//!   same drive uploaded from two devices (or accounts). The *later upload* is flagged:
//!   a match against a stored frame flags the new frame only; when both drives arrive
//!   in the same batch they are simultaneous and both are flagged (nobody can tell
//!   which one is the original). Only the matching frames are flagged.
//!
//! [`flag_replays`] flags **replay** (another contributor's earlier frames re-uploaded
//! with new times): a new frame whose pHash is within `replay_bits` of another
//! contributor's frame captured more than `same_time_s` away (closer in time it is a
//! duplicate device instead), on at least `replay_min_frames` frames of the drive.
//! It uses the ingest [`ReplayIndex`]; the ingest stage runs its own replay check, so
//! the binary need not call this one. Checks only ever set flags, never clear them.

use std::collections::{BTreeMap, HashMap, HashSet};

use streetcomb_core::{DriveId, Frame};

use crate::dedup::{KnownFrame, ReplayIndex};
use crate::hamming;

/// Thresholds of the fraud checks (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FraudParams {
    /// A step faster than this is a teleport, m/s (300 km/h).
    pub jump_speed_mps: f64,
    /// ... when it is at least this long, m (GPS noise makes short steps jittery).
    pub jump_min_m: f64,
    /// Sustained speed cap, m/s (180 km/h).
    pub max_speed_mps: f64,
    /// Window over which speed is averaged, seconds.
    pub speed_window_s: f64,
    /// Consecutive frames compared for motion mismatch.
    pub motion_window: usize,
    /// GPS displacement over the window below which the vehicle stands still, m.
    pub stationary_m: f64,
    /// Mean consecutive pHash distance above which the imagery moves, bits.
    pub moving_image_bits: f64,
    /// GPS speed above which the vehicle moves, m/s.
    pub moving_gps_mps: f64,
    /// Largest consecutive pHash distance at or below which the imagery is frozen.
    pub frozen_image_bits: u32,
    /// Consecutive frames (or the whole drive, if shorter) that must be frozen while
    /// the GPS moves.
    pub frozen_window: usize,
    /// Frames of two drives this close in time may be the same capture, seconds.
    pub same_time_s: f64,
    /// ... when their pHashes are this close, bits.
    pub same_image_bits: u32,
    /// Matching frames needed to call two drives one.
    pub duplicate_min_frames: usize,
    /// pHash distance of a replayed frame to its original, bits.
    pub replay_bits: u32,
    /// Matching frames needed to call a drive a replay.
    pub replay_min_frames: usize,
}

impl Default for FraudParams {
    fn default() -> Self {
        Self {
            jump_speed_mps: 83.0,
            jump_min_m: 150.0,
            max_speed_mps: 50.0,
            speed_window_s: 20.0,
            motion_window: 5,
            stationary_m: 3.0,
            moving_image_bits: 8.0,
            moving_gps_mps: 5.0,
            frozen_image_bits: 1,
            frozen_window: 30,
            same_time_s: 1.0,
            same_image_bits: 6,
            duplicate_min_frames: 3,
            replay_bits: 6,
            replay_min_frames: 3,
        }
    }
}

/// How many frames each check flagged (a frame may count under several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FraudReport {
    pub jump: usize,
    pub impossible_speed: usize,
    pub motion_mismatch: usize,
    pub duplicate_device: usize,
    pub replay: usize,
}

/// Frame indices of each drive, in capture-time order (ties: frame id).
fn drives(frames: &[Frame]) -> BTreeMap<&DriveId, Vec<usize>> {
    let mut by: BTreeMap<&DriveId, Vec<usize>> = BTreeMap::new();
    for (i, f) in frames.iter().enumerate() {
        by.entry(&f.drive_id).or_default().push(i);
    }
    for list in by.values_mut() {
        list.sort_by(|&a, &b| {
            (frames[a].captured_at, &frames[a].id).cmp(&(frames[b].captured_at, &frames[b].id))
        });
    }
    by
}

fn secs(a: &Frame, b: &Frame) -> f64 {
    (b.captured_at - a.captured_at)
        .num_microseconds()
        .unwrap_or(i64::MAX) as f64
        / 1e6
}

#[derive(Debug, Clone, Copy)]
enum Check {
    Jump,
    Speed,
    Motion,
    Duplicate,
}

/// Runs the jump, speed, motion and duplicate-device checks on `new` (flags raised in
/// place) against `existing` (frames stored before; not modified).
pub fn check_frames(new: &mut [Frame], existing: &[Frame], params: &FraudParams) -> FraudReport {
    let mut report = FraudReport::default();
    let mut raise: Vec<(usize, Check)> = Vec::new();
    for list in drives(new).into_values() {
        let fr = |k: usize| &new[list[k]];
        // Steps and which are jumps.
        let mut step_m = vec![0.0; list.len()];
        let mut jumped = false;
        for (k, step) in step_m.iter_mut().enumerate().skip(1) {
            let d = fr(k - 1).pos.distance_m(fr(k).pos);
            let dt = secs(fr(k - 1), fr(k));
            if d >= params.jump_min_m && (dt <= 0.0 || d / dt > params.jump_speed_mps) {
                jumped = true;
            } else {
                *step = d;
            }
        }
        if jumped {
            raise.extend(list.iter().map(|&i| (i, Check::Jump)));
        }
        // Sustained speed: from each frame, the window reaching `speed_window_s` ahead.
        let mut end = 0;
        let mut path = 0.0;
        for start in 0..list.len() {
            if start > 0 {
                path -= step_m[start];
            }
            if end < start {
                end = start;
                path = 0.0;
            }
            while end + 1 < list.len() && secs(fr(start), fr(end + 1)) <= params.speed_window_s {
                end += 1;
                path += step_m[end];
            }
            let dt = secs(fr(start), fr(end));
            if dt >= params.speed_window_s / 2.0 && path / dt > params.max_speed_mps {
                raise.extend((start..=end).map(|k| (list[k], Check::Speed)));
            }
        }
        // Motion mismatch over windows of consecutive hashed frames. Frozen imagery
        // needs a longer window (or the whole drive): a low-frequency hash can stay put
        // for a few frames of honest driving down a uniform street.
        let short = params.motion_window.max(2);
        let long = params.frozen_window.max(short).min(list.len());
        for (w, frozen) in [(short, false), (long, true)] {
            for start in 0..list.len().saturating_sub(w.saturating_sub(1)) {
                let win: Vec<&Frame> = (start..start + w).map(fr).collect();
                if win.len() < 2 {
                    continue;
                }
                let hashes: Option<Vec<u64>> = win.iter().map(|f| f.phash).collect();
                let Some(hashes) = hashes else { continue };
                let dists: Vec<u32> = hashes.windows(2).map(|p| hamming(p[0], p[1])).collect();
                let mean = f64::from(dists.iter().sum::<u32>()) / dists.len() as f64;
                let moved = win[0].pos.distance_m(win[w - 1].pos);
                let dt = secs(win[0], win[w - 1]);
                let mismatch = if frozen {
                    dt > 0.0
                        && moved / dt > params.moving_gps_mps
                        && dists.iter().all(|d| *d <= params.frozen_image_bits)
                } else {
                    moved < params.stationary_m && mean > params.moving_image_bits
                };
                if mismatch {
                    raise.extend((start..start + w).map(|k| (list[k], Check::Motion)));
                }
            }
        }
    }
    // Duplicate devices: frames bucketed by capture second.
    let bucket = |f: &Frame| f.captured_at.timestamp();
    let mut by_second: HashMap<i64, Vec<(bool, usize)>> = HashMap::new();
    for (i, f) in existing
        .iter()
        .enumerate()
        .filter(|(_, f)| f.phash.is_some())
    {
        by_second.entry(bucket(f)).or_default().push((false, i));
    }
    for (i, f) in new.iter().enumerate().filter(|(_, f)| f.phash.is_some()) {
        by_second.entry(bucket(f)).or_default().push((true, i));
    }
    let reach = params.same_time_s.ceil() as i64;
    // (new frame, other drive, other is new) pairs that match.
    let mut matches: BTreeMap<(&DriveId, &DriveId), (bool, Vec<usize>)> = BTreeMap::new();
    for (i, f) in new.iter().enumerate() {
        let Some(h) = f.phash else { continue };
        let mut seen: HashSet<(&DriveId, bool)> = HashSet::new();
        for s in bucket(f) - reach..=bucket(f) + reach {
            for &(is_new, j) in by_second.get(&s).into_iter().flatten() {
                let g = if is_new { &new[j] } else { &existing[j] };
                if g.drive_id == f.drive_id
                    || secs(f, g).abs() > params.same_time_s
                    || hamming(h, g.phash.unwrap_or(!h)) > params.same_image_bits
                    || !seen.insert((&g.drive_id, is_new))
                {
                    continue;
                }
                let e = matches
                    .entry((&f.drive_id, &g.drive_id))
                    .or_insert((is_new, Vec::new()));
                e.0 &= is_new;
                e.1.push(i);
            }
        }
    }
    for (_, (_, frames)) in matches {
        if frames.len() >= params.duplicate_min_frames {
            raise.extend(frames.into_iter().map(|i| (i, Check::Duplicate)));
        }
    }
    for (i, check) in raise {
        let f = &mut new[i].flags;
        let (flag, count) = match check {
            Check::Jump => (&mut f.jump, &mut report.jump),
            Check::Speed => (&mut f.impossible_speed, &mut report.impossible_speed),
            Check::Motion => (&mut f.motion_mismatch, &mut report.motion_mismatch),
            Check::Duplicate => (&mut f.duplicate_device, &mut report.duplicate_device),
        };
        *count += usize::from(!*flag);
        *flag = true;
    }
    report
}

/// Flags `replay` on new frames that re-use another contributor's frames (see the
/// module docs); returns how many frames it flagged.
pub fn flag_replays(new: &mut [Frame], existing: &[Frame], params: &FraudParams) -> usize {
    let mut index = ReplayIndex::new(params.replay_bits);
    // Index entries name a frame by its position: "e{i}" stored, "n{i}" new.
    for (i, f) in existing.iter().enumerate() {
        if let Some(h) = f.phash {
            index.insert(
                h,
                KnownFrame {
                    contributor: f.contributor.to_string(),
                    frame: format!("e{i}"),
                },
            );
        }
    }
    for (i, f) in new.iter().enumerate() {
        if let Some(h) = f.phash {
            index.insert(
                h,
                KnownFrame {
                    contributor: f.contributor.to_string(),
                    frame: format!("n{i}"),
                },
            );
        }
    }
    let mut hits: BTreeMap<&DriveId, Vec<usize>> = BTreeMap::new();
    for (i, f) in new.iter().enumerate() {
        let Some(h) = f.phash else { continue };
        let Some(m) = index.find_other(h, f.contributor.as_str()) else {
            continue;
        };
        let (kind, k) = m.frame.frame.split_at(1);
        let Ok(k) = k.parse::<usize>() else { continue };
        let original = if kind == "e" { &existing[k] } else { &new[k] };
        let dt = secs(original, f);
        // A stored original makes any later re-upload a replay; inside one batch the
        // later capture is the copy. Near-simultaneous captures are duplicate devices.
        let replay = if kind == "e" {
            dt.abs() > params.same_time_s
        } else {
            dt > params.same_time_s
        };
        if replay {
            hits.entry(&f.drive_id).or_default().push(i);
        }
    }
    let flagged: Vec<usize> = hits
        .into_values()
        .filter(|v| v.len() >= params.replay_min_frames)
        .flatten()
        .collect();
    let mut n = 0;
    for i in flagged {
        n += usize::from(!new[i].flags.replay);
        new[i].flags.replay = true;
    }
    n
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use streetcomb_core::testing::{FrameBuilder, default_time};
    use streetcomb_core::{FrameFlags, LatLon};

    fn t0() -> DateTime<Utc> {
        default_time()
    }

    /// A drive heading north at `speed` m/s, one frame a second, hashes from `hash`.
    fn drive(
        who: &str,
        drive: &str,
        n: usize,
        speed: f64,
        hash: impl Fn(usize) -> u64,
    ) -> Vec<Frame> {
        let start = LatLon::new(60.17, 24.94).unwrap();
        (0..n)
            .map(|k| {
                FrameBuilder::new()
                    .drive(drive)
                    .stem(format!("{k:04}"))
                    .contributor(who)
                    .at(t0() + Duration::seconds(k as i64))
                    .pos(start.destination(0.0, speed * k as f64))
                    .phash(Some(hash(k)))
                    .build()
            })
            .collect()
    }

    /// Hashes that change by `bits` bits from one frame to the next, like a moving
    /// camera's.
    fn drifting(seed: u64, bits: u32) -> impl Fn(usize) -> u64 {
        move |k| {
            let mut h = seed;
            for s in 1..=k as u32 {
                for j in 0..bits {
                    h ^= 1u64 << ((s * bits + j) % 64);
                }
            }
            h
        }
    }

    #[test]
    fn an_honest_drive_raises_no_flag() {
        let mut f = drive("a", "a-1", 30, 12.0, drifting(0xDEADBEEF, 3));
        let r = check_frames(&mut f, &[], &FraudParams::default());
        assert_eq!(r, FraudReport::default());
        assert!(f.iter().all(|f| !f.flags.is_fraud()));
    }

    #[test]
    fn a_teleport_flags_the_whole_drive_as_a_jump() {
        let mut f = drive("a", "a-1", 20, 12.0, drifting(1, 3));
        let far = f[10].pos.destination(90.0, 5000.0);
        for (k, fr) in f.iter_mut().enumerate().skip(10) {
            fr.pos = far.destination(0.0, 12.0 * k as f64);
        }
        check_frames(&mut f, &[], &FraudParams::default());
        assert!(f.iter().all(|f| f.flags.jump));
        assert!(
            f.iter().all(|f| !f.flags.impossible_speed),
            "jump steps are left out of speeds"
        );
    }

    #[test]
    fn sustained_speed_over_the_cap_is_impossible_but_a_fast_legal_drive_is_not() {
        let mut fast = drive("a", "a-1", 40, 70.0, drifting(1, 3));
        check_frames(&mut fast, &[], &FraudParams::default());
        assert!(fast.iter().all(|f| f.flags.impossible_speed));
        let mut ok = drive("b", "b-1", 40, 36.0, drifting(2, 3));
        check_frames(&mut ok, &[], &FraudParams::default());
        assert!(ok.iter().all(|f| !f.flags.impossible_speed));
    }

    #[test]
    fn static_gps_with_moving_imagery_and_moving_gps_with_frozen_imagery_mismatch() {
        let mut parked = drive("a", "a-1", 10, 0.0, drifting(1, 13));
        check_frames(&mut parked, &[], &FraudParams::default());
        assert!(parked.iter().all(|f| f.flags.motion_mismatch));
        let mut frozen = drive("b", "b-1", 10, 12.0, |_| 42);
        check_frames(&mut frozen, &[], &FraudParams::default());
        assert!(frozen.iter().all(|f| f.flags.motion_mismatch));
        // Standing still at a light with a still picture is fine.
        let mut waiting = drive("c", "c-1", 10, 0.0, |_| 42);
        check_frames(&mut waiting, &[], &FraudParams::default());
        assert!(waiting.iter().all(|f| !f.flags.motion_mismatch));
    }

    #[test]
    fn a_drive_uploaded_twice_flags_the_later_upload_or_both_when_simultaneous() {
        let original = drive("a", "a-1", 10, 12.0, drifting(7, 3));
        let mut copy = drive("b", "b-1", 10, 12.0, drifting(7, 3));
        let r = check_frames(&mut copy, &original, &FraudParams::default());
        assert_eq!(r.duplicate_device, 10);
        assert!(copy.iter().all(|f| f.flags.duplicate_device));
        let mut both: Vec<Frame> = original.iter().chain(&copy).cloned().collect();
        for f in &mut both {
            f.flags = FrameFlags::default();
        }
        check_frames(&mut both, &[], &FraudParams::default());
        assert!(both.iter().all(|f| f.flags.duplicate_device));
        // Another contributor at the same time and place with other images is fine.
        let mut other = drive("c", "c-1", 10, 12.0, drifting(0xFFFF_0000_1234, 3));
        check_frames(&mut other, &original, &FraudParams::default());
        assert!(other.iter().all(|f| !f.flags.duplicate_device));
    }

    #[test]
    fn re_uploading_another_contributors_frames_later_is_a_replay() {
        let original = drive("a", "a-1", 10, 12.0, drifting(7, 3));
        let mut replayed = drive("m", "m-1", 10, 12.0, drifting(7, 3));
        for f in &mut replayed {
            f.captured_at += Duration::days(2);
        }
        assert_eq!(
            flag_replays(&mut replayed, &original, &FraudParams::default()),
            10
        );
        // The contributor's own earlier frames, and a simultaneous copy, are not replays.
        let mut own = drive("a", "a-2", 10, 12.0, drifting(7, 3));
        assert_eq!(
            flag_replays(&mut own, &original, &FraudParams::default()),
            0
        );
        let mut dup = drive("b", "b-1", 10, 12.0, drifting(7, 3));
        assert_eq!(
            flag_replays(&mut dup, &original, &FraudParams::default()),
            0
        );
    }
}
