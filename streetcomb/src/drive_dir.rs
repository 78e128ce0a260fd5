//! Reading and writing drive directories (the input format documented in the README):
//!
//! ```text
//! DRIVE/
//!   frames/*.jpg     capture time from EXIF, or the name YYYYMMDDTHHMMSS.mmmZ.jpg
//!   track.gpx        GPX 1.0/1.1 with <time> on each point
//!   camera.json      optional: {"hfov_deg": 70, "mount_yaw_deg": 0, "width": 1280, "height": 720}
//!   drive.json       optional: {"drive_id": "...", "contributor": "..."}
//!   truth.json       simulator only: ground truth, never read by the pipeline
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use streetcomb_core::{Camera, ContributorId, DriveId};
use streetcomb_ingest::InputFrame;

/// `drive.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DriveMeta {
    pub drive_id: Option<String>,
    pub contributor: Option<String>,
}

/// A drive read from disk, ready for ingest.
#[derive(Debug)]
pub struct DriveInput {
    pub drive_id: DriveId,
    pub contributor: ContributorId,
    pub camera: Camera,
    pub track: Vec<streetcomb_core::TrackPoint>,
    pub track_file: String,
    pub frames: Vec<InputFrame>,
}

pub fn read_drive(dir: &Path, contributor: Option<&str>) -> Result<DriveInput> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("drive")
        .to_owned();
    let meta: DriveMeta = match std::fs::read(dir.join("drive.json")) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{}: invalid drive.json", dir.display()))?,
        Err(_) => DriveMeta::default(),
    };
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
    let track_path = dir.join("track.gpx");
    let track_file = track_path.display().to_string();
    let f = std::fs::File::open(&track_path)
        .with_context(|| format!("{track_file}: cannot open the track"))?;
    let track = streetcomb_ingest::parse_gpx(std::io::BufReader::new(f), &track_file)?;
    let frames_dir = dir.join("frames");
    let paths = list_jpegs(&frames_dir)?;
    if paths.is_empty() {
        bail!("{}: no .jpg frames", frames_dir.display());
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
    Ok(DriveInput {
        drive_id,
        contributor,
        camera,
        track,
        track_file,
        frames,
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
    };
    write_atomic(&dir.join("drive.json"), &serde_json::to_vec_pretty(&meta)?)?;
    write_atomic(
        &dir.join("truth.json"),
        &serde_json::to_vec_pretty(&d.truth)?,
    )?;
    Ok(dir)
}

/// Drive directories directly under `root` (those holding a track.gpx).
pub fn list_drives(root: &Path) -> Result<Vec<PathBuf>> {
    if root.join("track.gpx").is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("{}: cannot list drives", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("track.gpx").is_file())
        .collect();
    v.sort();
    Ok(v)
}
