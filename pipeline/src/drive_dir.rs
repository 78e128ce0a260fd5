//! Reading and writing drive directories (the input format documented in the README):
//!
//! ```text
//! DRIVE/
//!   frames/*.jpg     capture time from frames.json, EXIF, or the name YYYYMMDDTHHMMSS.mmmZ.jpg
//!   or one video     *.mp4/.mov/.avi/.mkv (video.* if several), no frames/: sampled
//!                    every video_spacing_m along the track (needs a track file), see video.rs
//!   one track (the first found): track.gpx (GPX 1.0/1.1), track.nmea (NMEA 0183),
//!                    frames.json (per-frame metadata), track.csv; none: EXIF GPS of the frames
//!   camera.json      optional: {"hfov_deg": 70, "mount_yaw_deg": 0, "width": 1280, "height": 720}
//!   drive.json       optional: {"drive_id": "...", "contributor": "...", "clock_offset_s": 0.0,
//!                    "privacy_trim_m": 500, "keyframe_m": 8,
//!                    "privacy_zones": [{"lat": .., "lon": .., "radius_m": ..}],
//!                    video only: "video_start": "2026-11-16T08:00:00Z", "video_spacing_m": 3}
//!   truth.json       simulator only: ground truth, never read by the pipeline
//! ```

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streetcomb_core::{Camera, ContributorId, DriveId};
use streetcomb_ingest::{DriveData, InputFrame, PrivacyZone, TRACK_FILE_NAMES};

use crate::error::{Context, Result, invalid};
use crate::video;

/// `drive.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DriveMeta {
    pub drive_id: Option<String>,
    pub contributor: Option<String>,
    /// Seconds to add to the camera clock to get GPS time (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_s: Option<f64>,
    /// Overrides the privacy trim at both ends of the drive, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_trim_m: Option<f64>,
    /// Overrides the keyframe distance, metres (0 keeps every frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyframe_m: Option<f64>,
    /// Circles where nothing is kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privacy_zones: Vec<PrivacyZone>,
    /// Video drives: when the video's first frame was taken, on the camera clock
    /// (RFC 3339); overrides the container's `creation_time`. `clock_offset_s` is
    /// added to it like to any camera time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_start: Option<DateTime<Utc>>,
    /// Video drives: metres travelled between kept frames (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_spacing_m: Option<f64>,
}

/// A drive read from disk, ready for ingest.
pub type DriveInput = DriveData;

/// The track file of a drive directory, if it has one.
pub fn track_path(dir: &Path) -> Option<PathBuf> {
    TRACK_FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

pub fn read_drive(dir: &Path, contributor: Option<&str>) -> Result<DriveInput> {
    read_drive_with_clock(dir, contributor, None)
}

/// [`read_drive`], with a clock offset (`ingest --clock-offset`) that overrides
/// `drive.json`'s: a video drive's frames are chosen by it.
pub fn read_drive_with_clock(
    dir: &Path,
    contributor: Option<&str>,
    clock_offset_s: Option<f64>,
) -> Result<DriveInput> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("drive")
        .to_owned();
    let meta_path = dir.join("drive.json");
    let meta: DriveMeta = match std::fs::read(&meta_path) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{}: invalid drive.json", meta_path.display()))?,
        Err(_) => DriveMeta::default(),
    };
    for z in &meta.privacy_zones {
        if streetcomb_core::LatLon::new(z.lat, z.lon).is_err()
            || !(z.radius_m.is_finite() && z.radius_m >= 0.0)
        {
            invalid!(
                "{}: privacy zone {},{} radius {} is not a valid circle",
                meta_path.display(),
                z.lat,
                z.lon,
                z.radius_m
            );
        }
    }
    let drive_id = DriveId::new(meta.drive_id.unwrap_or(name))?;
    let contributor = ContributorId::new(
        contributor
            .map(str::to_owned)
            .or(meta.contributor)
            .unwrap_or_else(|| "anonymous".to_owned()),
    )?;
    let camera_path = dir.join("camera.json");
    let camera = match std::fs::read(&camera_path) {
        Ok(b) => streetcomb_ingest::parse_camera(&b, &camera_path.display().to_string())?,
        Err(_) => Camera {
            width: 0,
            height: 0,
            ..Camera::default()
        },
    };
    let track = match track_path(dir) {
        Some(p) => {
            let file = p.display().to_string();
            let bytes =
                std::fs::read(&p).with_context(|| format!("{file}: cannot read the track"))?;
            Some(streetcomb_ingest::parse_track(&bytes, &file)?)
        }
        None => None,
    };
    let clock_offset_s = clock_offset_s.or(meta.clock_offset_s);
    let frames_dir = dir.join("frames");
    let video = if frames_dir.is_dir() {
        None
    } else {
        video::find_video(dir)?
    };
    if let Some(video) = video {
        let file = video.display().to_string();
        let Some(track) = track else {
            invalid!(
                "{file}: a video drive needs a track file next to the video (one of {})",
                TRACK_FILE_NAMES.join(", ")
            );
        };
        let spacing_m = meta.video_spacing_m.unwrap_or(video::DEFAULT_SPACING_M);
        if !(spacing_m.is_finite() && spacing_m > 0.0) {
            invalid!(
                "{}: video_spacing_m must be a positive number of metres, not {spacing_m}",
                meta_path.display()
            );
        }
        let opts = video::VideoOptions {
            start: meta.video_start,
            clock_offset_s: clock_offset_s.unwrap_or(0.0),
            spacing_m,
        };
        let frames = video::video_frames(&video, &track, &opts)?;
        return Ok(DriveData {
            drive_id,
            contributor,
            camera,
            track: Some(track),
            frames,
            // The frames carry camera-clock times: ingest adds the offset once.
            clock_offset_s,
            privacy_zones: meta.privacy_zones,
            privacy_trim_m: meta.privacy_trim_m,
            // Already one frame every video_spacing_m.
            keyframe_m: meta.keyframe_m.or(Some(0.0)),
        });
    }
    if !frames_dir.is_dir() {
        invalid!(
            "{}: no frames/ folder and no video (.{})",
            dir.display(),
            video::VIDEO_EXTENSIONS.join(", .")
        );
    }
    let paths = list_jpegs(&frames_dir)?;
    if paths.is_empty() {
        invalid!("{}: no .jpg frames", frames_dir.display());
    }
    let mut frames = Vec::with_capacity(paths.len());
    for p in paths {
        let bytes = std::fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))?;
        let file_name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        frames.push(InputFrame { file_name, bytes });
    }
    Ok(DriveData {
        drive_id,
        contributor,
        camera,
        track,
        frames,
        clock_offset_s,
        privacy_zones: meta.privacy_zones,
        privacy_trim_m: meta.privacy_trim_m,
        keyframe_m: meta.keyframe_m,
    })
}

/// The `.jpg`/`.jpeg` files directly in `dir`, sorted by name.
pub fn list_jpegs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Writes a file atomically (temp file + rename) so a crash never leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Writes one simulated drive in the drive-directory format, plus its ground truth.
pub fn write_sim_drive(root: &Path, d: &streetcomb_sim::SimDrive) -> Result<PathBuf> {
    let dir = root.join(d.drive_id.as_str());
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).with_context(|| format!("creating {}", frames.display()))?;
    for f in &d.frames {
        write_atomic(&frames.join(&f.file_name), &f.jpeg)?;
    }
    write_atomic(&dir.join("track.gpx"), d.gpx.as_bytes())?;
    write_atomic(
        &dir.join("camera.json"),
        &serde_json::to_vec_pretty(&d.camera)?,
    )?;
    let meta = DriveMeta {
        drive_id: Some(d.drive_id.to_string()),
        contributor: Some(d.contributor.to_string()),
        // A simulated route starts at a random point of the network, nobody's home:
        // trimming its ends would only shorten the demo's drives.
        privacy_trim_m: Some(0.0),
        // The simulator already spaces frames by distance (speed × frame interval).
        keyframe_m: Some(0.0),
        ..DriveMeta::default()
    };
    write_atomic(&dir.join("drive.json"), &serde_json::to_vec_pretty(&meta)?)?;
    write_atomic(
        &dir.join("truth.json"),
        &serde_json::to_vec_pretty(&d.truth)?,
    )?;
    Ok(dir)
}

/// Whether `dir` looks like a drive directory: a track file, a `frames/` folder, or
/// a video.
pub fn is_drive_dir(dir: &Path) -> bool {
    track_path(dir).is_some()
        || dir.join("frames").is_dir()
        // Several videos with none named video.*: a drive, refused with the reason.
        || !matches!(video::find_video(dir), Ok(None))
}

/// Drive directories: `root` itself, or the drive directories directly under it.
pub fn list_drives(root: &Path) -> Result<Vec<PathBuf>> {
    if is_drive_dir(root) {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("{}: cannot list drives", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_drive_dir(p))
        .collect();
    v.sort();
    Ok(v)
}
