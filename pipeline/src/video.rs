//! Video drives: turn a dashcam video plus its GPS track into JPEG frames sampled by
//! distance, which then go through ingest exactly like a photo dashcam's frames.
//!
//! `ffprobe` gives the frames' presentation times and the container's
//! `creation_time`; `streetcomb_ingest::select_video_frames` chooses the frames (one
//! every `video_spacing_m`, default 3 m, along the track); `ffmpeg` extracts just
//! those into a temporary directory. Both come from the PATH (Debian's `ffmpeg`
//! package; `make setup` installs it).
//!
//! Time: the video starts at `drive.json` `video_start`, else at the container's
//! `creation_time`, on the camera clock. Frames are named by their camera-clock time
//! (`YYYYMMDDTHHMMSS.mmmZ.jpg`) and the drive keeps its `clock_offset_s`, so ingest
//! applies the offset to them once, as to any frame, and reports it; the selection
//! applies the same offset to know where the car was.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{Context, Result, invalid};
use chrono::{DateTime, Utc};
use streetcomb_ingest::{IngestParams, InputFrame, Track, VideoFrame};

/// Video file extensions a drive directory may hold (compared case-insensitively).
pub const VIDEO_EXTENSIONS: [&str; 4] = ["mp4", "mov", "avi", "mkv"];

/// Default distance between kept video frames, metres.
pub const DEFAULT_SPACING_M: f64 = 3.0;

/// Whether `name` has a video extension.
pub fn is_video_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && VIDEO_EXTENSIONS.iter().any(|v| ext.eq_ignore_ascii_case(v))
    })
}

/// The drive's video: the one video file directly in `dir`, or, when there are
/// several, the one named `video.*`. `None` when there is none.
pub fn find_video(dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut videos: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(OsStr::to_str)
                    .is_some_and(is_video_name)
        })
        .collect();
    videos.sort();
    if videos.len() <= 1 {
        return Ok(videos.pop());
    }
    let named: Vec<&PathBuf> = videos
        .iter()
        .filter(|p| {
            p.file_stem()
                .and_then(OsStr::to_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("video"))
        })
        .collect();
    match named[..] {
        [one] => Ok(Some(one.clone())),
        _ => invalid!(
            "{}: {} video files ({}); keep one, or name the drive's video video.mp4",
            dir.display(),
            videos.len(),
            videos
                .iter()
                .filter_map(|p| p.file_name().and_then(OsStr::to_str))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What ffprobe says about a video.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Frame presentation times, seconds from the first frame, ascending (display order).
    pub frame_times_s: Vec<f64>,
    /// The container's `creation_time` tag.
    pub creation_time: Option<DateTime<Utc>>,
}

/// How a video drive is sampled.
#[derive(Debug, Clone, Copy)]
pub struct VideoOptions {
    /// `drive.json` `video_start`: overrides the container's `creation_time`.
    pub start: Option<DateTime<Utc>>,
    /// Seconds to add to the camera clock to get GPS time.
    pub clock_offset_s: f64,
    pub spacing_m: f64,
}

/// Samples `video` along `track` into JPEG frames named by camera-clock time.
pub fn video_frames(video: &Path, track: &Track, opts: &VideoOptions) -> Result<Vec<InputFrame>> {
    let file = video.display().to_string();
    tracing::info!(video = %file, "reading frame times");
    let probe = probe(video)?;
    if probe.frame_times_s.is_empty() {
        invalid!("{file}: the video has no frames");
    }
    let start = match (opts.start, probe.creation_time) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => invalid!(
            "{file}: the video has no creation_time, so its frames cannot be timed; set \
             \"video_start\" (RFC 3339, e.g. \"2026-11-16T08:00:00Z\", camera clock) in drive.json"
        ),
    };
    // The same cleaning ingest does, so no frame is chosen by a point it will drop.
    let (points, _) = streetcomb_ingest::clean_fixes(&track.fixes, &IngestParams::default());
    let chosen = streetcomb_ingest::select_video_frames(
        &points,
        &probe.frame_times_s,
        start,
        opts.clock_offset_s,
        opts.spacing_m,
        &file,
    )?;
    if chosen.is_empty() {
        invalid!(
            "{file}: no frame of the video falls on the track {} (video from {start} on the camera \
             clock, {:.1} s long, clock offset {} s); check video_start and clock_offset_s in \
             drive.json",
            track.file,
            probe.frame_times_s.last().copied().unwrap_or(0.0),
            opts.clock_offset_s
        );
    }
    tracing::info!(
        video = %file,
        frames = probe.frame_times_s.len(),
        chosen = chosen.len(),
        spacing_m = opts.spacing_m,
        "extracting the frames chosen by distance"
    );
    let jpegs = extract(video, &chosen)?;
    tracing::info!(video = %file, frames = jpegs.len(), "video frames extracted");
    Ok(chosen
        .iter()
        .zip(jpegs)
        .map(|(f, bytes)| InputFrame {
            file_name: streetcomb_ingest::frame_file_name(f.camera_time),
            bytes,
        })
        .collect())
}

/// Runs a tool of the ffmpeg package, with a clear message when it is missing.
fn run_tool(cmd: &mut Command, tool: &str, file: &str) -> Result<Output> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            crate::PipelineError::Invalid(format!(
                "{file}: reading a video needs {tool}, which is not on the PATH: install \
                 Debian's ffmpeg (make setup does it)"
            ))
        } else {
            crate::PipelineError::Invalid(format!("{file}: cannot run {tool}: {e}"))
        }
    })?;
    if !out.status.success() {
        invalid!(
            "{file}: not a readable video ({tool} failed: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Frame times and creation time from ffprobe.
pub fn probe(video: &Path) -> Result<Probe> {
    let file = video.display().to_string();
    // Packet times need no decoding; sorted, they are the display order (B-frames
    // arrive out of order). Containers without packet times (some AVI) fall back to
    // the decoded frames' times.
    let mut times = read_times(video, &file, "packet=pts_time")?;
    if times.iter().any(Option::is_none) {
        times = read_times(video, &file, "frame=best_effort_timestamp_time")?;
    }
    let mut times: Vec<f64> = times
        .into_iter()
        .collect::<Option<Vec<f64>>>()
        .with_context(|| format!("{file}: a video frame has no timestamp"))?;
    times.sort_by(f64::total_cmp);
    if let Some(&first) = times.first() {
        for t in &mut times {
            *t -= first;
        }
    }
    let out = run_tool(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format_tags=creation_time"])
            .args(["-of", "default=noprint_wrappers=1:nokey=1"])
            .arg(video),
        "ffprobe",
        &file,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let creation_time = match text.trim() {
        "" => None,
        s => Some(
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .with_context(|| format!("{file}: creation_time {s:?} is not an RFC 3339 time"))?,
        ),
    };
    Ok(Probe {
        frame_times_s: times,
        creation_time,
    })
}

/// One time per video packet or frame (`entry` is ffprobe's `-show_entries`);
/// `None` where ffprobe has none (`N/A`).
fn read_times(video: &Path, file: &str, entry: &str) -> Result<Vec<Option<f64>>> {
    let out = run_tool(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                entry,
            ])
            .args(["-of", "csv=p=0"])
            .arg(video),
        "ffprobe",
        file,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let times: Vec<Option<f64>> = text
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<f64>().ok().filter(|t| t.is_finite()))
        .collect();
    if times.is_empty() {
        invalid!("{file}: no video stream");
    }
    Ok(times)
}

/// An ffmpeg `select` expression true exactly for the frame numbers in `idx`
/// (ascending): a balanced tree of `if(lt(n,…),…,…)`, so each decoded frame costs
/// log(chosen) comparisons rather than one per chosen frame.
fn select_expr(idx: &[usize]) -> String {
    match idx {
        [] => "0".to_owned(),
        [i] => format!("eq(n\\,{i})"),
        _ => {
            let mid = idx.len() / 2;
            format!(
                "if(lt(n\\,{})\\,{}\\,{})",
                idx[mid],
                select_expr(&idx[..mid]),
                select_expr(&idx[mid..])
            )
        }
    }
}

/// Extracts the chosen frames as JPEGs (quality 2), in order.
fn extract(video: &Path, chosen: &[VideoFrame]) -> Result<Vec<Vec<u8>>> {
    let file = video.display().to_string();
    let tmp = tempfile::tempdir().context("creating a temporary directory for video frames")?;
    let idx: Vec<usize> = chosen.iter().map(|f| f.index).collect();
    // A script file: the expression of a long drive is far over any command-line limit.
    let script = tmp.path().join("select.txt");
    std::fs::write(&script, format!("select='{}'", select_expr(&idx)))
        .with_context(|| format!("writing {}", script.display()))?;
    let pattern = tmp.path().join("%08d.jpg");
    run_tool(
        Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
            .arg(video)
            .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-filter_script:v"])
            .arg(&script)
            // One output file per selected frame: no frame duplicated or dropped to
            // keep a constant rate.
            .args([
                "-fps_mode",
                "passthrough",
                "-q:v",
                "2",
                "-start_number",
                "0",
            ])
            .arg(&pattern),
        "ffmpeg",
        &file,
    )?;
    let mut out = Vec::with_capacity(idx.len());
    for k in 0..idx.len() {
        let p = tmp.path().join(format!("{k:08}.jpg"));
        match std::fs::read(&p) {
            Ok(b) => out.push(b),
            Err(_) => invalid!(
                "{file}: ffmpeg gave {k} of the {} chosen frames (frame {} missing); the video \
                 may be truncated",
                idx.len(),
                idx[k]
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn video_names_are_recognised_by_extension_whatever_the_case() {
        assert!(is_video_name("GX010042.MP4"));
        assert!(is_video_name("video.mkv"));
        assert!(is_video_name("a.Mov"));
        assert!(!is_video_name("track.gpx"));
        assert!(!is_video_name(".mp4"));
        assert!(!is_video_name("mp4"));
    }

    #[test]
    fn the_drives_video_is_its_only_video_or_the_one_named_video() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert_eq!(find_video(d).unwrap(), None);
        std::fs::write(d.join("track.gpx"), "").unwrap();
        std::fs::write(d.join("GX010042.MP4"), "").unwrap();
        assert_eq!(find_video(d).unwrap(), Some(d.join("GX010042.MP4")));
        std::fs::write(d.join("other.mov"), "").unwrap();
        let e = find_video(d).unwrap_err().to_string();
        assert!(
            e.contains("2 video files") && e.contains("video.mp4"),
            "{e}"
        );
        std::fs::write(d.join("Video.mkv"), "").unwrap();
        assert_eq!(find_video(d).unwrap(), Some(d.join("Video.mkv")));
    }

    #[test]
    fn the_select_expression_is_a_balanced_tree_over_the_chosen_frames() {
        assert_eq!(select_expr(&[4]), "eq(n\\,4)");
        assert_eq!(
            select_expr(&[1, 5, 9]),
            "if(lt(n\\,5)\\,eq(n\\,1)\\,if(lt(n\\,9)\\,eq(n\\,5)\\,eq(n\\,9)))"
        );
    }
}
