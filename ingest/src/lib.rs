//! Ingest: turn an uploaded drive (JPEG frames + a GPS track) into geotagged frames.
//!
//! Tracks come as GPX 1.0/1.1 (`gpx`), NMEA 0183 (`nmea`), per-frame JSON metadata
//! (`frames_json`), CSV (`csv_track`), or the frames' own EXIF GPS (`exif_gps`). The
//! GPS is cleaned (`clean`) before use. Each frame's capture time comes from per-frame
//! metadata, its EXIF `DateTimeOriginal` (+ `SubSecTimeOriginal` and
//! `OffsetTimeOriginal`), or its file name (`YYYYMMDDTHHMMSS[.mmm]Z.jpg`, UTC),
//! corrected by the camera clock offset. Its position is interpolated in time between
//! the two good fixes around it, and its heading is the direction of travel there.
//! Sampling, privacy areas and deduplication (`geotag`, `dedup`) decide what is kept;
//! every input frame gets a row in the ingest report. A video drive is first sampled
//! into such frames by distance along its track (`video`).
//!
//! Pure logic: callers pass file names and bytes; nothing here reads the filesystem.

pub mod clean;
pub mod csv_track;
pub mod dedup;
pub mod error;
pub mod exif_gps;
pub mod frames_json;
pub mod fraud;
pub mod geotag;
pub mod gpx;
pub mod jpeg;
pub mod nmea;
pub mod phash;
pub mod time;
pub mod time_parse;
pub mod track;
pub mod video;

pub use clean::clean_fixes;
pub use dedup::{KnownFrame, ReplayIndex, ReplayMatch, decode_luma, jpeg_phash};
pub use error::IngestError;
pub use exif_gps::{ExifGps, ExifInfo, read_exif};
pub use geotag::{
    ClockOffset, ClockSource, DriveData, IngestOutcome, IngestParams, InputFrame, PointSummary,
    PrivacyZone, Sequence, ingest_drive,
};
pub use gpx::{parse_gpx, parse_gpx_fixes};
pub use jpeg::{JpegInfo, inspect_jpeg};
pub use phash::{hamming, phash_luma};
pub use time::{frame_file_name, time_from_exif, time_from_file_name};
pub use track::{Fix, TRACK_FILE_NAMES, Track, TrackFormat, parse_track};
pub use video::{VideoFrame, select_video_frames};

/// Parses a drive's `camera.json`.
pub fn parse_camera(json: &[u8], file: &str) -> Result<streetcomb_core::Camera, IngestError> {
    let cam: streetcomb_core::Camera =
        serde_json::from_slice(json).map_err(|e| IngestError::Camera {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
    if cam.width == 0 && cam.height == 0 {
        // Size filled in from the frames later; check the rest now.
        let probe = streetcomb_core::Camera {
            width: 1,
            height: 1,
            ..cam
        };
        probe.validate()
    } else {
        cam.validate()
    }
    .map_err(|e| IngestError::Camera {
        file: file.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(cam)
}
