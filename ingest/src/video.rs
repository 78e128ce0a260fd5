//! Video drives: which frames of a dashcam video to keep, chosen by distance travelled
//! along the GPS track, so that a video becomes the same evenly spaced stills a
//! photo-mode dashcam would have taken.
//!
//! The caller (the binary, which runs ffprobe and ffmpeg) passes the frames'
//! presentation times and the video's start on the camera clock; this module places
//! each frame on the track by time, walks the distance travelled, and keeps the first
//! frame and then the first frame at or past each further `spacing_m` metres. Frames
//! outside the track's time span are never kept, and a car that does not move adds no
//! distance, so it yields no frames.

use chrono::{DateTime, Duration, Utc};
use streetcomb_core::TrackPoint;

use crate::IngestError;
use crate::geotag::Along;

/// A frame of the video to extract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoFrame {
    /// Index of the frame in display order (ffmpeg's `n`).
    pub index: usize,
    /// Capture time on the camera clock (video start + presentation time), to the
    /// millisecond: what the frame's file name records, as for a photo dashcam.
    pub camera_time: DateTime<Utc>,
    /// Capture time in GPS time (camera time + clock offset), to the millisecond.
    pub time: DateTime<Utc>,
    /// Distance travelled along the track since the first kept frame, metres.
    pub along_m: f64,
}

/// Chooses the frames to keep, every `spacing_m` metres along `track`.
///
/// `track` is time-ordered (as `clean_fixes` returns it); `frame_times_s` are the
/// frames' presentation times in seconds from the video's start, ascending (display
/// order); `video_start` is the start on the camera clock and `clock_offset_s` the
/// seconds to add to the camera clock to get GPS time. `file` names the video in
/// errors.
pub fn select_video_frames(
    track: &[TrackPoint],
    frame_times_s: &[f64],
    video_start: DateTime<Utc>,
    clock_offset_s: f64,
    spacing_m: f64,
    file: &str,
) -> Result<Vec<VideoFrame>, IngestError> {
    let bad = |reason: String| IngestError::Video {
        file: file.to_owned(),
        reason,
    };
    if !(spacing_m.is_finite() && spacing_m > 0.0) {
        return Err(bad(format!(
            "frame spacing must be a positive number of metres, not {spacing_m}"
        )));
    }
    if !clock_offset_s.is_finite() {
        return Err(bad(format!(
            "clock offset {clock_offset_s} s is not a number"
        )));
    }
    if let Some(w) = frame_times_s
        .windows(2)
        .find(|w| !(w[0].is_finite() && w[1].is_finite() && w[0] <= w[1]))
    {
        return Err(bad(format!(
            "frame times must be ascending numbers ({} then {})",
            w[0], w[1]
        )));
    }
    let (Some(first), Some(last)) = (track.first(), track.last()) else {
        return Err(IngestError::EmptyTrack {
            file: file.to_owned(),
            reason: "no GPS point to place the video's frames by".to_owned(),
        });
    };
    let distance = Along::new(track);
    // Whole milliseconds, the same rounding ingest applies to the clock offset, so
    // that the file-name time plus the offset is exactly `time`.
    let offset = Duration::milliseconds((clock_offset_s * 1000.0).round() as i64);
    // Float noise in the haversine sums must not push a threshold to the next frame.
    const EPS_M: f64 = 1e-6;
    let mut kept: Vec<VideoFrame> = Vec::new();
    let mut start_m = 0.0;
    let mut next_m = 0.0;
    for (index, &s) in frame_times_s.iter().enumerate() {
        let camera_time = video_start + Duration::milliseconds((s * 1000.0).round() as i64);
        let time = camera_time + offset;
        if time < first.time || time > last.time {
            continue;
        }
        let along = distance.at(track, time);
        if kept.is_empty() {
            start_m = along;
            next_m = along + spacing_m;
        } else if along + EPS_M >= next_m {
            // Several thresholds may pass between two frames (fast car, low frame
            // rate): the next one is the first still ahead.
            let passed = ((along + EPS_M - next_m) / spacing_m).floor() + 1.0;
            next_m += passed * spacing_m;
        } else {
            continue;
        }
        kept.push(VideoFrame {
            index,
            camera_time,
            time,
            along_m: along - start_m,
        });
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;
    use streetcomb_core::LatLon;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap()
    }

    /// A fix every second, `speeds[i]` m/s eastwards during second i, from Helsinki.
    fn track(speeds: &[f64]) -> Vec<TrackPoint> {
        let mut pos = LatLon::new(60.17, 24.94).unwrap();
        let mut v = Vec::new();
        for (i, s) in std::iter::once(&0.0).chain(speeds).enumerate() {
            pos = pos.destination(90.0, *s);
            v.push(TrackPoint {
                time: t0() + Duration::seconds(i as i64),
                pos,
                alt_m: None,
                hdop: None,
                speed_mps: None,
            });
        }
        v
    }

    /// Frame times at `fps` for `secs` seconds.
    fn frames(fps: f64, secs: f64) -> Vec<f64> {
        (0..(fps * secs) as usize).map(|i| i as f64 / fps).collect()
    }

    #[test]
    fn a_constant_speed_keeps_a_frame_every_spacing_metres_within_one_frame_of_travel() {
        // 10 m/s at 30 fps: 0.33 m between frames.
        let tr = track(&[10.0; 20]);
        let kept = select_video_frames(&tr, &frames(30.0, 20.0), t0(), 0.0, 3.0, "v.mp4").unwrap();
        let per_frame = 10.0 / 30.0;
        // 199.7 m travelled while filming: the first frame and one per 3 m.
        assert!((66..=67).contains(&kept.len()), "{}", kept.len());
        assert_eq!(kept[0].index, 0);
        assert_eq!(kept[0].time, t0());
        for w in kept.windows(2) {
            let gap = w[1].along_m - w[0].along_m;
            assert!((gap - 3.0).abs() <= per_frame + 1e-6, "gap {gap}");
            assert!(w[1].index > w[0].index);
        }
    }

    #[test]
    fn a_car_faster_than_the_spacing_per_frame_gets_every_frame_and_no_threshold_twice() {
        // 30 m/s at 5 fps: 6 m a frame, two thresholds passed each frame.
        let tr = track(&[30.0; 10]);
        let kept = select_video_frames(&tr, &frames(5.0, 10.0), t0(), 0.0, 3.0, "v.mp4").unwrap();
        assert_eq!(kept.len(), 50);
    }

    #[test]
    fn a_stopped_car_yields_no_frames_until_it_moves_again() {
        // 5 s at 10 m/s, 10 s stopped, 5 s at 10 m/s.
        let mut speeds = vec![10.0; 5];
        speeds.extend([0.0; 10]);
        speeds.extend([10.0; 5]);
        let tr = track(&speeds);
        let kept = select_video_frames(&tr, &frames(30.0, 20.0), t0(), 0.0, 3.0, "v.mp4").unwrap();
        let stopped = kept
            .iter()
            .filter(|f| f.time > t0() + Duration::milliseconds(5100))
            .filter(|f| f.time < t0() + Duration::seconds(15))
            .count();
        assert_eq!(stopped, 0, "{kept:?}");
        assert!(kept.iter().any(|f| f.time > t0() + Duration::seconds(15)));
    }

    #[test]
    fn frames_before_and_after_the_track_are_dropped() {
        // The video starts 5 s before the track and runs 5 s past its end.
        let tr = track(&[10.0; 10]);
        let start = t0() - Duration::seconds(5);
        let kept = select_video_frames(&tr, &frames(10.0, 20.0), start, 0.0, 3.0, "v.mp4").unwrap();
        assert_eq!(kept[0].index, 50, "the first frame on the track is kept");
        assert_eq!(kept[0].time, t0());
        let last = kept.last().unwrap();
        assert!(last.time <= t0() + Duration::seconds(10), "{last:?}");
        assert!(kept.len() >= 30, "{}", kept.len());
    }

    #[test]
    fn the_clock_offset_shifts_which_frames_are_picked() {
        // Stopped for 10 s, then 10 m/s. The camera clock runs 10 s behind GPS time:
        // read as GPS time, the video starts at the stop and its frames past 3 m come
        // 10 s late; with the offset the video starts as the car pulls away.
        let mut speeds = vec![0.0; 10];
        speeds.extend([10.0; 20]);
        let tr = track(&speeds);
        let fr = frames(10.0, 20.0);
        let plain = select_video_frames(&tr, &fr, t0(), 0.0, 3.0, "v.mp4").unwrap();
        let shifted = select_video_frames(&tr, &fr, t0(), 10.0, 3.0, "v.mp4").unwrap();
        assert_ne!(
            plain.iter().map(|f| f.index).collect::<Vec<_>>(),
            shifted.iter().map(|f| f.index).collect::<Vec<_>>()
        );
        assert_eq!(plain[0].index, 0);
        assert_eq!(plain[1].index, 103, "0.3 s after the car pulls away");
        assert_eq!(shifted[0].index, 0);
        assert_eq!(shifted[0].camera_time, t0());
        assert_eq!(shifted[0].time, t0() + Duration::seconds(10));
        assert_eq!(shifted[1].index, 3, "3 m from the video's start");
        assert!(
            shifted.len() > plain.len(),
            "the offset video covers more road"
        );
    }

    #[test]
    fn descending_frame_times_and_a_zero_spacing_are_refused_naming_the_file() {
        let tr = track(&[10.0; 5]);
        let e = select_video_frames(&tr, &[0.0, 0.2, 0.1], t0(), 0.0, 3.0, "cam/v.mp4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cam/v.mp4") && e.contains("ascending"), "{e}");
        let e = select_video_frames(&tr, &[0.0], t0(), 0.0, 0.0, "cam/v.mp4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cam/v.mp4") && e.contains("spacing"), "{e}");
    }
}
