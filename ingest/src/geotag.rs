//! Geotagging: place each frame on the cleaned track by time, keep one frame every few
//! metres outside the privacy areas, drop duplicates, flag replays, and report every
//! decision.
//!
//! Order of the per-frame decisions (the first that applies is the frame's reason):
//! `unreadable_jpeg`, `exact_duplicate` (same sha256 as an earlier frame),
//! `no_capture_time`, `before_track` / `after_track` / `gps_gap` (no real fix within
//! `max_gap_s`), `privacy_zone`, `privacy_trim`, `stationary_duplicate` (within
//! `stationary_m` and `stationary_deg` of the previous kept frame),
//! `keyframe_spacing` (closer than the keyframe distance to the previous kept frame),
//! `near_duplicate` (pHash within `near_duplicate_bits` of the previous kept frame).
//! Kept frames whose pHash is within `replay_bits` of a frame another contributor
//! already uploaded keep their place but get `flags.replay` for the rewards stage.
//!
//! Kept frames are cut into sequences at time or distance gaps and at a maximum
//! length; a sequence is an index within the drive (`IngestOutcome::sequences`), so
//! frames keep their drive id.

use std::collections::HashMap;
use std::sync::OnceLock;

use rayon::prelude::*;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streetcomb_core::{
    Camera, CellId, ContributorId, Drive, DriveId, DropKind, DropReason, Frame, FrameFlags,
    FrameId, IngestDecision, IngestRecord, LatLon, TrackPoint,
};

use crate::clean::{PointDrops, clean_fixes};
use crate::dedup::{ReplayIndex, ReplayMatch, jpeg_phash};
use crate::exif_gps::{ExifInfo, read_exif};
use crate::track::{Fix, Track};
use crate::{IngestError, JpegInfo, inspect_jpeg, time_from_file_name};

/// Limits applied while cleaning the GPS, geotagging, sampling and deduplicating.
/// Every field has a default (see [`IngestParams::default`] for the reasons).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestParams {
    /// A frame further than this from a real fix (in time) is not placed.
    pub max_gap_s: f64,
    /// GPS points with a worse HDOP are dropped.
    pub max_hdop: f64,
    /// GPS points with a worse PDOP are dropped.
    pub max_pdop: f64,
    /// GPS points whose reported horizontal accuracy is worse (metres) are dropped.
    pub max_accuracy_m: f64,
    /// GPS points from fewer satellites are dropped (when the count is known).
    pub min_satellites: u32,
    /// Speed no road vehicle reaches between two fixes, m/s.
    pub max_speed_mps: f64,
    /// Distance two correct fixes may disagree by (metres), forgiven before judging
    /// a speed.
    pub gps_noise_m: f64,
    /// A point is a spike when both its legs are longer than this (metres) ...
    pub spike_min_m: f64,
    /// ... and the path through it is this many times the direct path.
    pub spike_ratio: f64,
    /// A new sequence starts after a time gap longer than this, seconds.
    pub seq_max_gap_s: f64,
    /// A new sequence starts after a distance gap longer than this, metres.
    pub seq_max_gap_m: f64,
    /// A sequence holds at most this many frames.
    pub seq_max_frames: usize,
    /// Keep a frame every this many metres (0 keeps all).
    pub keyframe_m: f64,
    /// Above this speed (m/s) the keyframe distance is widened ...
    pub keyframe_fast_mps: f64,
    /// ... by this factor.
    pub keyframe_fast_factor: f64,
    /// Frames within this distance along the track from the start or the end of a
    /// drive are dropped (where contributors live and work).
    pub privacy_trim_m: f64,
    /// A frame within this distance ...
    pub stationary_m: f64,
    /// ... and this heading change of the previous kept frame is a duplicate.
    pub stationary_deg: f64,
    /// A frame whose pHash is within this many bits of the previous kept frame's is a
    /// near duplicate (`None` disables) ...
    pub near_duplicate_bits: Option<u32>,
    /// ... when the track says the vehicle moves slower than this (m/s): a stopped
    /// car whose fixes drift past the keyframe distance. A moving car's frames a few
    /// metres apart are different views even when the hash is close.
    pub near_duplicate_max_speed_mps: f64,
    /// A frame whose pHash is within this many bits of another contributor's frame is
    /// flagged as a replay.
    pub replay_bits: u32,
    /// H3 resolution of the frames' cells.
    pub h3_resolution: u8,
    /// Refuse the whole drive on an unreadable JPEG (default) rather than dropping it.
    pub strict_jpeg: bool,
}

impl Default for IngestParams {
    fn default() -> Self {
        Self {
            // 5 s at city speed is ~70 m: further from a fix, interpolation guesses.
            max_gap_s: 5.0,
            // Hivemapper keeps HDOP ≤ 4 (about 20 m of error at a typical UERE).
            max_hdop: 4.0,
            max_pdop: 6.0,
            max_accuracy_m: 25.0,
            // Four satellites are the minimum for a 3-D fix.
            min_satellites: 4,
            // 300 km/h: above any road vehicle's cruising speed, well below the
            // jumps of a GPS glitch (mapillary_tools uses 400 km/h as an average).
            max_speed_mps: 300.0 / 3.6,
            gps_noise_m: 10.0,
            // A car covers 20 m in a second only above 72 km/h, and does not come
            // back in the next second.
            spike_min_m: 20.0,
            spike_ratio: 3.0,
            // mapillary_tools' sequence cuts: 60 s, 100 m, 1000 images.
            seq_max_gap_s: 60.0,
            seq_max_gap_m: 100.0,
            seq_max_frames: 1000,
            // Hivemapper: a frame every 8 m, ×1.5 above 24 m/s.
            keyframe_m: 8.0,
            keyframe_fast_mps: 24.0,
            keyframe_fast_factor: 1.5,
            privacy_trim_m: 500.0,
            stationary_m: 0.1,
            stationary_deg: 5.0,
            near_duplicate_bits: Some(4),
            // GPS drift of a parked receiver is about 1 m/s; walking pace is 1.4 m/s.
            near_duplicate_max_speed_mps: 2.0,
            replay_bits: 4,
            h3_resolution: streetcomb_core::cell::DEFAULT_RESOLUTION,
            strict_jpeg: true,
        }
    }
}

/// A circle where nothing is kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrivacyZone {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
}

impl PrivacyZone {
    pub fn contains(&self, p: LatLon) -> bool {
        LatLon::new(self.lat, self.lon).is_ok_and(|c| c.distance_m(p) <= self.radius_m)
    }
}

/// One input frame: its name inside `frames/` and its bytes.
#[derive(Debug, Clone)]
pub struct InputFrame {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Everything known about one drive before ingest.
#[derive(Debug, Clone)]
pub struct DriveData {
    pub drive_id: DriveId,
    pub contributor: ContributorId,
    pub camera: Camera,
    /// The parsed track file; `None` geotags from the frames' EXIF GPS.
    pub track: Option<Track>,
    pub frames: Vec<InputFrame>,
    /// Camera clock minus GPS time is corrected by adding this (seconds), when known.
    pub clock_offset_s: Option<f64>,
    pub privacy_zones: Vec<PrivacyZone>,
    /// Overrides `IngestParams::privacy_trim_m` for this drive.
    pub privacy_trim_m: Option<f64>,
    /// Overrides `IngestParams::keyframe_m` for this drive (a capture already
    /// sampled by distance).
    pub keyframe_m: Option<f64>,
}

/// Where the camera clock correction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// No correction needed or possible.
    None,
    /// Given by the contributor (`drive.json` or `--clock-offset`).
    Given,
    /// Median of (EXIF GPS time − EXIF capture time) over the frames with both.
    ExifGps,
    /// The whole drive was off the track by a time-zone step (multiple of 15 min).
    TimeZone,
}

/// The correction added to camera times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockOffset {
    pub seconds: f64,
    pub source: ClockSource,
}

/// What cleaning did to the GPS points.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PointSummary {
    /// Where the points came from (a file name, or "EXIF GPS").
    pub source: String,
    pub input: usize,
    pub kept: usize,
    pub dropped: PointDrops,
}

/// One sequence of kept frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sequence {
    pub index: u32,
    pub frames: Vec<FrameId>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub length_m: f64,
}

/// The result of ingesting one drive: the kept frames and a report row per input.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub drive: Drive,
    pub report: Vec<IngestRecord>,
    pub points: PointSummary,
    pub clock: ClockOffset,
    pub sequences: Vec<Sequence>,
    /// Kept frames flagged as replays, with the other contributor's frame.
    pub replays: Vec<(FrameId, crate::dedup::ReplayMatch)>,
}

impl IngestOutcome {
    /// Dropped frames counted by kind of reason, sorted by kind name.
    pub fn dropped_by_reason(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<DropKind, usize> = HashMap::new();
        for r in &self.report {
            if let IngestDecision::Dropped(reason) = &r.decision {
                *counts.entry(reason.kind).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(k, n)| (k.as_str().to_owned(), n))
            .collect();
        v.sort();
        v
    }
}

/// A [`DropReason`] of `kind` with `detail`.
fn drop(kind: DropKind, detail: impl Into<String>) -> DropReason {
    DropReason::new(kind, detail)
}

/// What is read from one frame's bytes (in parallel, once).
#[derive(Debug)]
struct Analysed {
    info: Result<JpegInfo, IngestError>,
    exif: ExifInfo,
    sha: String,
    /// Decoded on first use (see [`Analysed::phash`]).
    phash: OnceLock<Option<u64>>,
}

impl Analysed {
    /// The frame's pHash. Decoding the pixels is most of ingest's cost and only frames
    /// that pass the position filters need a hash, so it is computed on demand.
    fn phash(&self, f: &InputFrame) -> Option<u64> {
        if self.info.is_err() {
            return None;
        }
        *self.phash.get_or_init(|| jpeg_phash(&f.bytes))
    }
}

fn analyse(f: &InputFrame) -> Analysed {
    let info = inspect_jpeg(&f.bytes, &f.file_name);
    let ok = info.is_ok();
    Analysed {
        info,
        exif: if ok {
            read_exif(&f.bytes)
        } else {
            ExifInfo::default()
        },
        sha: hex::encode(Sha256::digest(&f.bytes)),
        phash: OnceLock::new(),
    }
}

/// Geotags a drive. Errors only for what invalidates the whole drive (an unreadable
/// JPEG in strict mode, no usable fix); everything else is a per-frame decision.
/// `replay` holds other contributors' frames (empty: no replay check).
pub fn ingest_drive(
    data: &DriveData,
    params: &IngestParams,
    replay: &ReplayIndex,
) -> Result<IngestOutcome, IngestError> {
    if data.frames.is_empty() {
        return Err(IngestError::NoFrames);
    }
    let analysed: Vec<Analysed> = data.frames.par_iter().map(analyse).collect();
    if params.strict_jpeg {
        let mut bad: Vec<usize> = (0..analysed.len())
            .filter(|&i| analysed[i].info.is_err())
            .collect();
        bad.sort_by(|&a, &b| data.frames[a].file_name.cmp(&data.frames[b].file_name));
        if let Some(&i) = bad.first() {
            return Err(
                inspect_jpeg(&data.frames[i].bytes, &data.frames[i].file_name)
                    .err()
                    .unwrap_or(IngestError::NoFrames),
            );
        }
    }
    let frame_times = data.track.as_ref().map(|t| &t.frame_times);
    // Camera-clock times (EXIF, else the file name); per-frame metadata times are
    // already GPS times.
    let camera_time: Vec<Option<DateTime<Utc>>> = data
        .frames
        .iter()
        .zip(&analysed)
        .map(|(f, a)| a.exif.time.or_else(|| time_from_file_name(&f.file_name)))
        .collect();
    let gps_time: Vec<Option<DateTime<Utc>>> = data
        .frames
        .iter()
        .map(|f| frame_times.and_then(|m| m.get(&f.file_name).copied()))
        .collect();

    // The fixes: the track file's, or the frames' EXIF GPS.
    let (fixes, source): (Vec<Fix>, String) = match &data.track {
        Some(t) => (t.fixes.clone(), t.file.clone()),
        None => (Vec::new(), "EXIF GPS of the frames".to_owned()),
    };
    let clock = clock_offset(data, &analysed, &camera_time, &gps_time, &fixes, params);
    let offset = Duration::milliseconds((clock.seconds * 1000.0).round() as i64);
    let times: Vec<Option<DateTime<Utc>>> = camera_time
        .iter()
        .zip(&gps_time)
        .map(|(c, g)| g.or(c.map(|c| c + offset)))
        .collect();
    let fixes = if data.track.is_some() {
        fixes
    } else {
        let mut v: Vec<Fix> = analysed
            .iter()
            .zip(&times)
            .filter_map(|(a, t)| {
                let g = a.exif.gps?;
                Some(Fix {
                    point: TrackPoint {
                        time: g.time.or(*t)?,
                        pos: g.pos,
                        alt_m: g.alt_m,
                        hdop: g.dop,
                        speed_mps: g.speed_mps,
                    },
                    has_fix: g.has_fix,
                    pdop: None,
                    satellites: g.satellites,
                    accuracy_m: g.accuracy_m,
                })
            })
            .collect();
        v.sort_by_key(|f| f.point.time);
        v
    };
    if fixes.is_empty() {
        return Err(IngestError::EmptyTrack {
            file: source,
            reason: "no track file, and no frame has EXIF GPS with a time".to_owned(),
        });
    }
    let (track, point_drops) = clean_fixes(&fixes, params);
    if track.is_empty() {
        let why: Vec<String> = point_drops
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        return Err(IngestError::EmptyTrack {
            file: source,
            reason: format!("every point was dropped: {}", why.join(", ")),
        });
    }
    let points = PointSummary {
        source: source.clone(),
        input: fixes.len(),
        kept: track.len(),
        dropped: point_drops,
    };

    // Timed frames first, in time order: of two identical files the placeable one is kept.
    let mut order: Vec<usize> = (0..data.frames.len()).collect();
    order.sort_by(|&a, &b| {
        (times[a].is_none(), times[a], &data.frames[a].file_name).cmp(&(
            times[b].is_none(),
            times[b],
            &data.frames[b].file_name,
        ))
    });
    let along = Along::new(&track);
    let trim = data.privacy_trim_m.unwrap_or(params.privacy_trim_m);
    let params = &IngestParams {
        keyframe_m: data.keyframe_m.unwrap_or(params.keyframe_m),
        ..*params
    };
    // The selection runs twice: first without the pHash checks, to learn which frames
    // pass the position filters and hash just those on all cores, then for real (any
    // other frame the real run needs is hashed on demand).
    let select = |dry: bool| -> Result<Selection, IngestError> {
        let no_near_dup = IngestParams {
            near_duplicate_bits: None,
            ..*params
        };
        let params = if dry { &no_near_dup } else { params };
        let mut kept_idx = Vec::new();
        let mut camera = data.camera;
        let mut report = Vec::with_capacity(order.len());
        let mut kept: Vec<Frame> = Vec::new();
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let mut last_heading: Option<f64> = None;
        let mut sequences: Vec<Sequence> = Vec::new();
        let mut replays = Vec::new();
        for &i in &order {
            let f = &data.frames[i];
            let a = &analysed[i];
            let mut record = IngestRecord {
                drive_id: data.drive_id.clone(),
                contributor: data.contributor.clone(),
                file: f.file_name.clone(),
                captured_at: times[i],
                decision: IngestDecision::Kept,
                flags: FrameFlags::default(),
            };
            let decided = decide(
                f,
                a,
                times[i],
                &track,
                &along,
                params,
                trim,
                &data.privacy_zones,
                &mut seen,
                kept.last(),
                &data.drive_id,
                last_heading,
            );
            match decided {
                Err(reason) => record.decision = IngestDecision::Dropped(reason),
                Ok(p) => {
                    last_heading = Some(p.heading);
                    if camera.width == 0 || camera.height == 0 {
                        camera.width = p.info.width;
                        camera.height = p.info.height;
                    }
                    let cell = CellId::from_latlon(p.pos, params.h3_resolution).map_err(|e| {
                        IngestError::Camera {
                            file: f.file_name.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    let mut flags = FrameFlags::default();
                    let phash = if dry { None } else { a.phash(f) };
                    if let Some(m) =
                        phash.and_then(|h| replay.find_other(h, data.contributor.as_str()))
                    {
                        flags.replay = true;
                        replays.push((p.id.clone(), m));
                    }
                    record.flags = flags;
                    let frame = Frame {
                        id: p.id,
                        drive_id: data.drive_id.clone(),
                        contributor: data.contributor.clone(),
                        captured_at: p.time,
                        pos: p.pos,
                        heading_deg: p.heading,
                        cell,
                        image_key: f.file_name.clone(),
                        content_sha256: a.sha.clone(),
                        phash,
                        camera: Camera {
                            width: p.info.width,
                            height: p.info.height,
                            ..camera
                        },
                        flags,
                        blur: None,
                    };
                    add_to_sequence(&mut sequences, kept.last(), &frame, params);
                    kept.push(frame);
                    kept_idx.push(i);
                }
            }
            report.push(record);
        }
        Ok(Selection {
            camera,
            report,
            kept,
            kept_idx,
            sequences,
            replays,
        })
    };
    let candidates = select(true)?.kept_idx;
    // Decode and hash the candidates on all cores; the selection below reads them.
    candidates.par_iter().for_each(|&i| {
        analysed[i].phash(&data.frames[i]);
    });
    let Selection {
        camera,
        report,
        kept,
        sequences,
        replays,
        ..
    } = select(false)?;
    Ok(IngestOutcome {
        drive: Drive {
            id: data.drive_id.clone(),
            contributor: data.contributor.clone(),
            camera,
            track,
            frames: kept,
        },
        report,
        points,
        clock,
        sequences,
        replays,
    })
}

/// Starts a new sequence at a time or distance gap or a full sequence, else extends
/// the current one.
fn add_to_sequence(seqs: &mut Vec<Sequence>, prev: Option<&Frame>, f: &Frame, p: &IngestParams) {
    if let (Some(prev), Some(cur)) = (prev, seqs.last_mut()) {
        let gap_s = (f.captured_at - prev.captured_at).num_milliseconds() as f64 / 1000.0;
        let gap_m = prev.pos.distance_m(f.pos);
        if gap_s <= p.seq_max_gap_s
            && gap_m <= p.seq_max_gap_m
            && cur.frames.len() < p.seq_max_frames
        {
            cur.frames.push(f.id.clone());
            cur.end = f.captured_at;
            cur.length_m += gap_m;
            return;
        }
    }
    seqs.push(Sequence {
        index: seqs.len() as u32,
        frames: vec![f.id.clone()],
        start: f.captured_at,
        end: f.captured_at,
        length_m: 0.0,
    });
}

/// Cumulative distance along the track, to find how far into the drive a time is.
pub(crate) struct Along {
    cum: Vec<f64>,
}

impl Along {
    pub(crate) fn new(track: &[TrackPoint]) -> Self {
        let mut cum = Vec::with_capacity(track.len());
        let mut d = 0.0;
        for (i, p) in track.iter().enumerate() {
            if i > 0 {
                d += track[i - 1].pos.distance_m(p.pos);
            }
            cum.push(d);
        }
        Self { cum }
    }

    fn total(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }

    /// Metres from the start of `track` (the one this was built from) at time `t`,
    /// interpolated between fixes; 0 before the track, its length after it.
    pub(crate) fn at(&self, track: &[TrackPoint], t: DateTime<Utc>) -> f64 {
        let i = track.partition_point(|p| p.time <= t);
        if i == 0 {
            return 0.0;
        }
        let Some(b) = track.get(i) else {
            return self.total();
        };
        let a = &track[i - 1];
        let frac = secs(t - a.time) / secs(b.time - a.time).max(1e-9);
        self.cum[i - 1] + frac * (self.cum[i] - self.cum[i - 1])
    }
}

/// What one pass of the frame selection decided.
struct Selection {
    camera: Camera,
    report: Vec<IngestRecord>,
    kept: Vec<Frame>,
    /// Input indices of `kept`.
    kept_idx: Vec<usize>,
    sequences: Vec<Sequence>,
    replays: Vec<(FrameId, ReplayMatch)>,
}

/// A frame that passed every filter.
struct Placed {
    id: FrameId,
    time: DateTime<Utc>,
    pos: LatLon,
    heading: f64,
    info: JpegInfo,
}

#[allow(clippy::too_many_arguments)]
fn decide<'a>(
    f: &'a InputFrame,
    a: &'a Analysed,
    time: Option<DateTime<Utc>>,
    track: &[TrackPoint],
    along: &Along,
    params: &IngestParams,
    trim: f64,
    zones: &[PrivacyZone],
    seen: &mut HashMap<&'a str, &'a str>,
    prev: Option<&Frame>,
    drive: &DriveId,
    last_heading: Option<f64>,
) -> Result<Placed, DropReason> {
    let info = match &a.info {
        Ok(info) => *info,
        Err(e) => return Err(drop(DropKind::UnreadableJpeg, format!("{e}"))),
    };
    // Content first: a byte-identical copy is a duplicate whatever its name says.
    if let Some(first) = seen.get(a.sha.as_str()) {
        return Err(drop(
            DropKind::ExactDuplicate,
            format!("same bytes as {first}"),
        ));
    }
    seen.insert(&a.sha, &f.file_name);
    let t = time.ok_or_else(|| {
        drop(
            DropKind::NoCaptureTime,
            "no EXIF DateTimeOriginal, no per-frame metadata, and the file name is not YYYYMMDDTHHMMSS.mmmZ.jpg",
        )
    })?;
    let pos = interpolate(track, t, params.max_gap_s)?;
    if let Some(z) = zones.iter().find(|z| z.contains(pos)) {
        return Err(drop(
            DropKind::PrivacyZone,
            format!("within {} m of {:.5},{:.5}", z.radius_m, z.lat, z.lon),
        ));
    }
    if trim > 0.0 {
        let s = along.at(track, t);
        let to_end = along.total() - s;
        if s < trim || to_end < trim {
            return Err(drop(
                DropKind::PrivacyTrim,
                format!(
                    "{:.0} m from the start, {:.0} m from the end (limit {trim} m)",
                    s, to_end
                ),
            ));
        }
    }
    let heading = heading_at(track, t).or(last_heading).unwrap_or(0.0);
    if let Some(prev) = prev {
        let d = prev.pos.distance_m(pos);
        let speed = speed_at(track, t);
        let turn = {
            let x = (heading - prev.heading_deg).rem_euclid(360.0);
            x.min(360.0 - x)
        };
        if d <= params.stationary_m && turn <= params.stationary_deg {
            return Err(drop(
                DropKind::StationaryDuplicate,
                format!("{d:.2} m and {turn:.1}° from {}", prev.id),
            ));
        }
        if params.keyframe_m > 0.0 {
            let spacing = if speed > params.keyframe_fast_mps {
                params.keyframe_m * params.keyframe_fast_factor
            } else {
                params.keyframe_m
            };
            if d < spacing {
                return Err(drop(
                    DropKind::KeyframeSpacing,
                    format!("{d:.1} m from the previous kept frame (every {spacing} m)"),
                ));
            }
        }
        if let (Some(limit), Some(ph)) = (params.near_duplicate_bits, prev.phash)
            && let Some(h) = a.phash(f)
        {
            let bits = crate::hamming(h, ph);
            if bits <= limit && speed < params.near_duplicate_max_speed_mps {
                return Err(drop(
                    DropKind::NearDuplicate,
                    format!("pHash {bits} bits from {} at {speed:.1} m/s", prev.id),
                ));
            }
        }
    }
    let stem = f.file_name.rsplit('/').next().unwrap_or(&f.file_name);
    let stem = stem
        .strip_suffix(".jpg")
        .or_else(|| stem.strip_suffix(".jpeg"))
        .or_else(|| stem.strip_suffix(".JPG"))
        .or_else(|| stem.strip_suffix(".JPEG"))
        .unwrap_or(stem);
    let id = FrameId::of(drive, stem).map_err(|e| drop(DropKind::BadFileName, format!("{e}")))?;
    Ok(Placed {
        id,
        time: t,
        pos,
        heading,
        info,
    })
}

/// Ground speed at `t` from the track (m/s), over ±1 s clamped to the track's span.
fn speed_at(track: &[TrackPoint], t: DateTime<Utc>) -> f64 {
    let (Some(first), Some(last)) = (track.first(), track.last()) else {
        return 0.0;
    };
    let d = Duration::seconds(1);
    let (ta, tb) = ((t - d).max(first.time), (t + d).min(last.time));
    let span = secs(tb - ta);
    match (interpolate(track, ta, 1e9), interpolate(track, tb, 1e9)) {
        (Ok(a), Ok(b)) if span > 0.0 => a.distance_m(b) / span,
        _ => 0.0,
    }
}

/// The camera clock correction: given, else estimated from EXIF GPS times, else from
/// a time-zone step that puts the frames on the track.
fn clock_offset(
    data: &DriveData,
    analysed: &[Analysed],
    camera_time: &[Option<DateTime<Utc>>],
    gps_time: &[Option<DateTime<Utc>>],
    fixes: &[Fix],
    params: &IngestParams,
) -> ClockOffset {
    if let Some(s) = data.clock_offset_s {
        return ClockOffset {
            seconds: s,
            source: ClockSource::Given,
        };
    }
    let mut diffs: Vec<f64> = analysed
        .iter()
        .zip(camera_time)
        .filter_map(|(a, c)| {
            let g = a.exif.gps?.time?;
            Some(secs(g - (*c)?))
        })
        .collect();
    if !diffs.is_empty() {
        diffs.sort_by(f64::total_cmp);
        let median = diffs[diffs.len() / 2];
        // GPSTimeStamp is often whole seconds: below a second the clocks agree.
        if median.abs() >= 1.0 {
            return ClockOffset {
                seconds: median,
                source: ClockSource::ExifGps,
            };
        }
        return ClockOffset {
            seconds: 0.0,
            source: ClockSource::None,
        };
    }
    let none = ClockOffset {
        seconds: 0.0,
        source: ClockSource::None,
    };
    let (Some(first), Some(last)) = (
        fixes.iter().map(|f| f.point.time).min(),
        fixes.iter().map(|f| f.point.time).max(),
    ) else {
        return none;
    };
    let cam: Vec<DateTime<Utc>> = camera_time
        .iter()
        .zip(gps_time)
        .filter(|(_, g)| g.is_none())
        .filter_map(|(c, _)| *c)
        .collect();
    if cam.is_empty() {
        return none;
    }
    let gap = Duration::milliseconds((params.max_gap_s * 1000.0) as i64);
    let inside = |shift: Duration| {
        cam.iter()
            .filter(|&&t| t + shift >= first - gap && t + shift <= last + gap)
            .count()
    };
    let base = inside(Duration::zero());
    if base * 2 >= cam.len() {
        return none;
    }
    // Time zones run from −12 h to +14 h in steps of 15 min.
    let best = (-56i64..=56)
        .map(|k| (inside(Duration::minutes(15 * k)), -(k.abs()), k))
        .max();
    match best {
        Some((n, _, k)) if n > base && n * 2 >= cam.len() => ClockOffset {
            seconds: (k * 900) as f64,
            source: ClockSource::TimeZone,
        },
        _ => none,
    }
}

/// Position at `t` by linear interpolation between the fixes around it.
pub fn interpolate(
    track: &[TrackPoint],
    t: DateTime<Utc>,
    max_gap_s: f64,
) -> Result<LatLon, DropReason> {
    let gap = Duration::microseconds((max_gap_s * 1e6) as i64);
    let i = track.partition_point(|p| p.time <= t);
    if i == 0 {
        let first = &track[0];
        return if first.time - t <= gap {
            Ok(first.pos)
        } else {
            Err(drop(
                DropKind::BeforeTrack,
                format!("{:.1} s before the first GPS fix", secs(first.time - t)),
            ))
        };
    }
    let a = &track[i - 1];
    if a.time == t {
        return Ok(a.pos);
    }
    let Some(b) = track.get(i) else {
        return if t - a.time <= gap {
            Ok(a.pos)
        } else {
            Err(drop(
                DropKind::AfterTrack,
                format!("{:.1} s after the last GPS fix", secs(t - a.time)),
            ))
        };
    };
    let span = b.time - a.time;
    if span > gap * 2 && (t - a.time > gap && b.time - t > gap) {
        return Err(drop(
            DropKind::GpsGap,
            format!(
                "no fix within {max_gap_s} s (fixes {:.1} s apart)",
                secs(span)
            ),
        ));
    }
    let frac = secs(t - a.time) / secs(span);
    Ok(a.pos.lerp(b.pos, frac))
}

fn secs(d: Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// Direction of travel at `t`: the bearing between the track positions 2 s before and
/// after, widened until the vehicle has moved at least 2 m (a stopped car keeps no
/// heading of its own).
fn heading_at(track: &[TrackPoint], t: DateTime<Utc>) -> Option<f64> {
    for half in [1.0, 2.0, 4.0, 8.0] {
        let d = Duration::milliseconds((half * 1000.0) as i64);
        let (Ok(a), Ok(b)) = (
            interpolate(track, t - d, 1e9),
            interpolate(track, t + d, 1e9),
        ) else {
            continue;
        };
        if a.distance_m(b) >= 2.0 {
            return Some(a.bearing_to(b));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn pt(sec: i64, lat: f64, lon: f64) -> TrackPoint {
        TrackPoint {
            time: Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap() + Duration::seconds(sec),
            pos: LatLon::new(lat, lon).unwrap(),
            alt_m: None,
            hdop: Some(1.0),
            speed_mps: None,
        }
    }

    #[test]
    fn a_frame_halfway_between_fixes_lands_halfway() {
        let track = vec![pt(0, 60.0, 25.0), pt(2, 60.001, 25.0)];
        let t = track[0].time + Duration::seconds(1);
        let p = interpolate(&track, t, 5.0).unwrap();
        assert!((p.lat() - 60.0005).abs() < 1e-9);
    }

    #[test]
    fn frames_far_outside_the_track_or_in_a_gap_are_refused_with_a_reason() {
        let track = vec![pt(0, 60.0, 25.0), pt(1, 60.0001, 25.0), pt(60, 60.01, 25.0)];
        let before = track[0].time - Duration::seconds(30);
        assert_eq!(
            interpolate(&track, before, 5.0).unwrap_err().kind,
            DropKind::BeforeTrack
        );
        let in_gap = track[0].time + Duration::seconds(30);
        assert_eq!(
            interpolate(&track, in_gap, 5.0).unwrap_err().kind,
            DropKind::GpsGap
        );
        let after = track[2].time + Duration::seconds(6);
        assert_eq!(
            interpolate(&track, after, 5.0).unwrap_err().kind,
            DropKind::AfterTrack
        );
    }

    #[test]
    fn heading_follows_the_direction_of_travel() {
        // Moving east along a parallel.
        let track: Vec<_> = (0..10)
            .map(|s| pt(s, 60.0, 25.0 + s as f64 * 0.0002))
            .collect();
        let h = heading_at(&track, track[5].time).unwrap();
        assert!((h - 90.0).abs() < 0.5, "{h}");
        // Standing still: no heading of its own.
        let still: Vec<_> = (0..10).map(|s| pt(s, 60.0, 25.0)).collect();
        assert!(heading_at(&still, still[5].time).is_none());
    }
}
