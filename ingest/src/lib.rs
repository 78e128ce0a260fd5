//! Ingest: turn an uploaded drive (JPEG frames + a GPS track) into geotagged frames.
//!
//! Each frame's capture time comes from its EXIF `DateTimeOriginal` (+ `SubSecTimeOriginal`
//! and `OffsetTimeOriginal`), or from its file name (`YYYYMMDDTHHMMSS[.mmm]Z.jpg`, UTC).
//! Its position is interpolated in time between the two GPS fixes around it, and its
//! heading is the direction of travel there. A frame that cannot be placed is dropped
//! with a reason, and every input frame gets a row in the ingest report.
//!
//! Pure logic: callers pass file names and bytes; nothing here reads the filesystem.

pub mod error;
pub mod geotag;
pub mod gpx;
pub mod jpeg;
pub mod phash;
pub mod time;

pub use error::IngestError;
pub use geotag::{IngestOutcome, IngestParams, InputFrame, ingest_drive};
pub use gpx::parse_gpx;
pub use jpeg::{JpegInfo, inspect_jpeg};
pub use phash::{hamming, phash_luma};
pub use time::{frame_file_name, time_from_exif, time_from_file_name};

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
