//! The simulator's configuration and outputs: drives with JPEG frames, a noisy GPX
//! track and the ground truth that detector and map-building tests compare against.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use streetcomb_core::{BBox, Camera, ContributorId, DriveId, FeatureClass, LatLon};

use crate::SimError;

/// How each simulated drive is driven and recorded: route length, speed, frame and
/// GPS sampling, GPS noise, the dashcam and the start time. Shared (flattened, so the
/// serialized fields stay where they were) by [`SimConfig`] and
/// [`crate::weeks::WeeksConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriveSettings {
    /// Length of each drive, metres.
    pub route_length_m: f64,
    /// Constant driving speed, m/s.
    pub speed_mps: f64,
    /// Time between frames, seconds (frames are `speed * interval` metres apart).
    pub frame_interval_s: f64,
    /// Time between GPS fixes, seconds.
    pub gps_interval_s: f64,
    /// 1-sigma GPS error per axis, metres.
    pub gps_sigma_m: f64,
    /// The dashcam: field of view, mounting yaw and frame size.
    pub camera: Camera,
    /// When the first drive starts.
    pub start: DateTime<Utc>,
}

impl Default for DriveSettings {
    fn default() -> Self {
        Self {
            route_length_m: 1500.0,
            speed_mps: 8.0,
            frame_interval_s: 0.5,
            gps_interval_s: 1.0,
            gps_sigma_m: 3.0,
            camera: Camera {
                hfov_deg: 70.0,
                mount_yaw_deg: 0.0,
                width: 1280,
                height: 720,
            },
            start: Utc
                .with_ymd_and_hms(2026, 11, 16, 8, 0, 0)
                .single()
                .expect("2026-11-16T08:00:00Z is a valid UTC time"),
        }
    }
}

/// How to simulate: who drives how far, how the camera and GPS sample, and the seed
/// that makes it all reproducible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Everything random derives from this (contributor `i` uses `seed + i`).
    pub seed: u64,
    /// Number of contributors; each drives one drive. Contributor `i` (from 0) starts
    /// `i` × [`CONTRIBUTOR_STAGGER_MIN`] minutes after `drive.start`.
    pub contributors: usize,
    /// How each drive is driven and recorded.
    #[serde(flatten)]
    pub drive: DriveSettings,
    /// JPEG quality, 1..=100.
    pub jpeg_quality: u8,
}

/// The largest frame side the simulator renders, pixels.
const MAX_FRAME_SIDE: u32 = 8192;

/// Minutes between the start times of consecutive contributors (real contributors do
/// not all drive at the same instant).
pub const CONTRIBUTOR_STAGGER_MIN: i64 = 10;

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            contributors: 2,
            drive: DriveSettings::default(),
            jpeg_quality: 88,
        }
    }
}

impl SimConfig {
    /// `contributors` drives of `route_length_m` with 320×180 frames, cheap to render:
    /// for tests and examples about geometry rather than pixels.
    pub fn quick(route_length_m: f64, contributors: usize) -> SimConfig {
        let drive = DriveSettings::default();
        SimConfig {
            contributors,
            drive: DriveSettings {
                route_length_m,
                camera: Camera {
                    width: 320,
                    height: 180,
                    ..drive.camera
                },
                ..drive
            },
            ..SimConfig::default()
        }
    }

    /// Rejects values that would make the simulation meaningless or endless.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: &str| Err(SimError::Config(m.to_owned()));
        if self.contributors == 0 {
            return bad("contributors must be at least 1");
        }
        if !(self.drive.route_length_m.is_finite() && self.drive.route_length_m > 0.0) {
            return bad("route_length_m must be positive");
        }
        if !(self.drive.speed_mps.is_finite() && self.drive.speed_mps > 0.0) {
            return bad("speed_mps must be positive");
        }
        if !(self.drive.frame_interval_s.is_finite() && self.drive.frame_interval_s >= 0.001) {
            return bad("frame_interval_s must be at least 0.001 (file names have milliseconds)");
        }
        if !(self.drive.gps_interval_s.is_finite() && self.drive.gps_interval_s >= 0.001) {
            return bad("gps_interval_s must be at least 0.001");
        }
        if !(self.drive.gps_sigma_m.is_finite() && self.drive.gps_sigma_m >= 0.0) {
            return bad("gps_sigma_m must be zero or positive");
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return bad("jpeg_quality must be within 1..=100");
        }
        if self.drive.route_length_m / (self.drive.speed_mps * self.drive.frame_interval_s) > 1e6 {
            return bad("more than a million frames per drive");
        }
        if self.drive.camera.width > MAX_FRAME_SIDE || self.drive.camera.height > MAX_FRAME_SIDE {
            return bad("camera width and height must be at most 8192 pixels");
        }
        self.drive
            .camera
            .validate()
            .map_err(|e| SimError::Config(e.to_string()))
    }
}

/// A mapped feature as the simulator rendered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthFeature {
    /// `osm-node-<id>` (`osm-node-<id>-<class>` when the node has several signs) of the
    /// OSM node it came from, `osm-way-<id>-forward|backward` for the sign where a
    /// way's speed limit begins, or `synthetic-<class>-<n>` for a feature placed where
    /// the extract maps none of its class (see [`crate::osm`]).
    pub id: String,
    pub class: FeatureClass,
    /// The number the sign shows: a speed limit's km/h (the figure in OSM, which may
    /// be mph where the road is tagged so). `None` for other classes.
    #[serde(default)]
    pub value: Option<u32>,
    /// Where it was rendered: beside the road, not the OSM node position.
    pub pos: LatLon,
    /// The OSM node's (or way's) tags as `k=v;k=v`, sorted; empty for synthetic
    /// features.
    pub osm_tags: String,
}

impl TruthFeature {
    /// Whether the simulator invented it (its class is not mapped in the extract)
    /// rather than read it from OSM.
    pub fn is_synthetic(&self) -> bool {
        self.id.starts_with("synthetic-")
    }
}

/// A feature rendered into one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisibleFeature {
    pub feature_id: String,
    pub class: FeatureClass,
    /// The number the sign shows (a speed limit's km/h), as drawn.
    #[serde(default)]
    pub value: Option<u32>,
    /// The pixels the sign face (or signal housing, or hydrant) covers, exactly as
    /// drawn (sub-pixel); the pole is not included. Features are drawn far to near, so
    /// a nearer one may cover part of this box.
    pub bbox: BBox,
    /// Horizontal distance from the camera, metres.
    pub distance_m: f64,
    /// The share of `bbox` that nearer features cover (0: in the open, 1: behind
    /// another sign); a detector need not find a sign that is mostly hidden.
    #[serde(default)]
    pub hidden: f32,
}

impl VisibleFeature {
    /// At most this share of a feature's box hidden, a detector is asked to find it.
    pub const MAX_HIDDEN: f32 = 0.25;

    /// Whether a detector should find this view: at most [`Self::MAX_HIDDEN`] of it
    /// is behind nearer features.
    pub fn in_the_open(&self) -> bool {
        self.hidden <= Self::MAX_HIDDEN
    }
}

/// What really happened in one drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriveTruth {
    /// Features rendered in at least one frame, in order of first appearance.
    pub features: Vec<TruthFeature>,
    /// The true camera position of every frame.
    pub track: Vec<(DateTime<Utc>, LatLon)>,
}

/// One simulated drive, ready to be written as a drive folder.
#[derive(Debug, Clone)]
pub struct SimDrive {
    pub drive_id: DriveId,
    pub contributor: ContributorId,
    pub camera: Camera,
    pub frames: Vec<SimFrame>,
    /// The noisy GPS track as GPX 1.1 text (`<time>` and `<hdop>` on every point).
    pub gpx: String,
    pub truth: DriveTruth,
}

/// One rendered frame.
#[derive(Clone, PartialEq)]
pub struct SimFrame {
    /// [`frame_file_name`] of `captured_at`.
    pub file_name: String,
    pub captured_at: DateTime<Utc>,
    pub jpeg: Vec<u8>,
    pub true_pos: LatLon,
    /// Direction of travel, degrees clockwise from north.
    pub heading_deg: f64,
    /// Every feature drawn into this frame.
    pub visible: Vec<VisibleFeature>,
}

impl fmt::Debug for SimFrame {
    // The JPEG bytes would drown everything else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFrame")
            .field("file_name", &self.file_name)
            .field("captured_at", &self.captured_at)
            .field("jpeg_bytes", &self.jpeg.len())
            .field("true_pos", &self.true_pos)
            .field("heading_deg", &self.heading_deg)
            .field("visible", &self.visible)
            .finish()
    }
}

/// The chrono format of frame file names: `YYYYMMDDTHHMMSS.mmmZ.jpg` in UTC.
pub const FRAME_NAME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ.jpg";

/// The file name of a frame captured at `t`, e.g. `20261116T080000.500Z.jpg`.
pub fn frame_file_name(t: DateTime<Utc>) -> String {
    t.format(FRAME_NAME_FORMAT).to_string()
}

/// The capture time encoded in a frame file name written by [`frame_file_name`].
pub fn parse_frame_file_name(name: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(name, FRAME_NAME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frame_file_names_carry_utc_milliseconds_and_parse_back() {
        let t = SimConfig::default().drive.start + chrono::Duration::milliseconds(500);
        let name = frame_file_name(t);
        assert_eq!(name, "20261116T080000.500Z.jpg");
        assert_eq!(parse_frame_file_name(&name), Some(t));
        assert_eq!(parse_frame_file_name("20261116T080000.500Z.png"), None);
        assert_eq!(parse_frame_file_name("frame_0001.jpg"), None);
    }

    #[test]
    fn the_default_config_is_valid_and_nonsense_is_rejected() {
        assert!(SimConfig::default().validate().is_ok());
        let zero_speed = SimConfig {
            drive: DriveSettings {
                speed_mps: 0.0,
                ..DriveSettings::default()
            },
            ..SimConfig::default()
        };
        let err = zero_speed.validate().unwrap_err().to_string();
        assert_eq!(err, "invalid simulation config: speed_mps must be positive");
        let no_one = SimConfig {
            contributors: 0,
            ..SimConfig::default()
        };
        assert!(no_one.validate().is_err());
        let huge = SimConfig {
            drive: DriveSettings {
                camera: Camera {
                    width: 100_000,
                    ..Camera::default()
                },
                ..DriveSettings::default()
            },
            ..SimConfig::default()
        };
        assert!(huge.validate().is_err());
    }

    #[test]
    fn errors_can_cross_threads_and_join_anyhow_chains() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<SimError>();
        send_sync::<SimDrive>();
    }

    #[test]
    fn a_partial_json_config_fills_in_the_defaults() {
        let cfg: SimConfig = serde_json::from_str(r#"{"seed": 3, "contributors": 5}"#).unwrap();
        assert_eq!(cfg.seed, 3);
        assert_eq!(cfg.contributors, 5);
        assert_eq!(cfg.drive.camera.width, 1280);
        assert_eq!(cfg.jpeg_quality, 88);
    }
}
