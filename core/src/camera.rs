//! The pinhole camera model that turns image columns into bearings and back.

use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::geodesy::normalize_deg;

/// How a dashcam is mounted and what it sees. Read from a drive's `camera.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    /// Horizontal field of view in degrees.
    pub hfov_deg: f64,
    /// Yaw of the optical axis relative to the direction of travel, degrees clockwise
    /// (0 = forward-facing, 90 = facing right).
    #[serde(default)]
    pub mount_yaw_deg: f64,
    /// Image width in pixels (filled from the frames when absent).
    #[serde(default)]
    pub width: u32,
    /// Image height in pixels.
    #[serde(default)]
    pub height: u32,
}

impl Default for Camera {
    fn default() -> Self {
        Self {
            hfov_deg: 90.0,
            mount_yaw_deg: 0.0,
            width: 1280,
            height: 720,
        }
    }
}

impl Camera {
    /// Checks the values are physically meaningful.
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(10.0..=170.0).contains(&self.hfov_deg) {
            return Err(CoreError::Camera("hfov_deg must be within 10..=170"));
        }
        if !self.mount_yaw_deg.is_finite() {
            return Err(CoreError::Camera("mount_yaw_deg must be a number"));
        }
        if self.width == 0 || self.height == 0 {
            return Err(CoreError::Camera("width and height must be positive"));
        }
        Ok(())
    }

    /// Focal length in pixels.
    pub fn focal_px(&self) -> f64 {
        (self.width as f64 / 2.0) / (self.hfov_deg.to_radians() / 2.0).tan()
    }

    /// Bearing offset (degrees, clockwise) of image column `x` from the optical axis.
    pub fn column_offset_deg(&self, x: f64) -> f64 {
        ((x - self.width as f64 / 2.0) / self.focal_px())
            .atan()
            .to_degrees()
    }

    /// Compass bearing of image column `x` for a vehicle heading `heading_deg`.
    pub fn column_bearing_deg(&self, heading_deg: f64, x: f64) -> f64 {
        normalize_deg(heading_deg + self.mount_yaw_deg + self.column_offset_deg(x))
    }

    /// Projects a point at (forward, right, up) metres in camera axes to pixels.
    /// `None` when it is behind the camera.
    pub fn project(&self, forward: f64, right: f64, up: f64) -> Option<(f64, f64)> {
        if forward <= 0.1 {
            return None;
        }
        let f = self.focal_px();
        Some((
            self.width as f64 / 2.0 + f * right / forward,
            self.height as f64 / 2.0 - f * up / forward,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_centre_looks_along_the_mounting_direction() {
        let c = Camera {
            mount_yaw_deg: 0.0,
            ..Camera::default()
        };
        assert!((c.column_bearing_deg(30.0, 640.0) - 30.0).abs() < 1e-9);
        // The right edge of a 90 degree camera is 45 degrees right.
        assert!((c.column_offset_deg(1280.0) - 45.0).abs() < 1e-9);
    }

    #[test]
    fn projecting_then_reading_the_column_gives_back_the_bearing() {
        let c = Camera::default();
        let (x, _) = c.project(10.0, 3.0, 1.0).unwrap();
        let expected = (3.0f64 / 10.0).atan().to_degrees();
        assert!((c.column_offset_deg(x) - expected).abs() < 1e-9);
        assert!(c.project(-1.0, 0.0, 0.0).is_none());
    }

    #[test]
    fn nonsense_cameras_are_rejected() {
        let bad = Camera {
            hfov_deg: 200.0,
            ..Camera::default()
        };
        assert!(bad.validate().is_err());
    }
}
