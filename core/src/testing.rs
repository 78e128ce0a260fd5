//! Builders of records for tests, benchmarks and examples: a [`Frame`] with sensible
//! defaults where a test only cares about a few fields, and the [`Detection`] of a
//! box in it.
//!
//! Compiled always (it is small and has no dependencies of its own), so that
//! integration tests, benchmarks and examples of every crate reach it without a
//! feature to turn on. Production code builds its records field by field.

use chrono::{DateTime, TimeZone, Utc};

use crate::{
    BBox, BlurRecord, Camera, CellId, ContributorId, Detection, DriveId, FeatureClass, Frame,
    FrameFlags, FrameId, LatLon,
};

/// The builder's default capture time: Monday 2026-11-16 08:00:00 UTC (the start of
/// ISO week 2026-W47).
pub fn default_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The builder's default position: central Helsinki.
pub fn default_pos() -> LatLon {
    LatLon::new(60.17, 24.94).expect("a valid coordinate")
}

/// A [`Frame`] under construction. Defaults: drive `d`, stem `0000` (id `d/0000`),
/// contributor `c`, captured at [`default_time`] at [`default_pos`] heading north,
/// its res-11 cell, an empty image key and hash, no pHash, the default camera, no
/// flags and no blur record.
///
/// ```
/// use streetcomb_core::testing::FrameBuilder;
/// let f = FrameBuilder::new().drive("d1").stem("0007").heading(90.0).build();
/// assert_eq!(f.id.as_str(), "d1/0007");
/// ```
#[derive(Debug, Clone)]
pub struct FrameBuilder {
    id: Option<String>,
    stem: String,
    drive: String,
    contributor: String,
    captured_at: DateTime<Utc>,
    pos: LatLon,
    heading_deg: f64,
    cell_resolution: u8,
    image_key: String,
    content_sha256: String,
    phash: Option<u64>,
    camera: Camera,
    flags: FrameFlags,
    blur: Option<BlurRecord>,
}

impl Default for FrameBuilder {
    fn default() -> Self {
        Self {
            id: None,
            stem: "0000".into(),
            drive: "d".into(),
            contributor: "c".into(),
            captured_at: default_time(),
            pos: default_pos(),
            heading_deg: 0.0,
            cell_resolution: 11,
            image_key: String::new(),
            content_sha256: String::new(),
            phash: None,
            camera: Camera::default(),
            flags: FrameFlags::default(),
            blur: None,
        }
    }
}

impl FrameBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole frame id, instead of `{drive}/{stem}`.
    pub fn id(mut self, id: impl std::fmt::Display) -> Self {
        self.id = Some(id.to_string());
        self
    }

    /// The last part of the id `{drive}/{stem}`.
    pub fn stem(mut self, stem: impl std::fmt::Display) -> Self {
        self.stem = stem.to_string();
        self
    }

    pub fn drive(mut self, drive: impl std::fmt::Display) -> Self {
        self.drive = drive.to_string();
        self
    }

    pub fn contributor(mut self, contributor: impl std::fmt::Display) -> Self {
        self.contributor = contributor.to_string();
        self
    }

    /// The capture time.
    pub fn at(mut self, captured_at: DateTime<Utc>) -> Self {
        self.captured_at = captured_at;
        self
    }

    pub fn pos(mut self, pos: LatLon) -> Self {
        self.pos = pos;
        self
    }

    /// Direction of travel, degrees clockwise from north.
    pub fn heading(mut self, heading_deg: f64) -> Self {
        self.heading_deg = heading_deg;
        self
    }

    /// The H3 resolution of the frame's cell (11 by default).
    pub fn cell_resolution(mut self, res: u8) -> Self {
        self.cell_resolution = res;
        self
    }

    pub fn image_key(mut self, key: impl Into<String>) -> Self {
        self.image_key = key.into();
        self
    }

    pub fn content_sha256(mut self, sha: impl Into<String>) -> Self {
        self.content_sha256 = sha.into();
        self
    }

    pub fn phash(mut self, phash: Option<u64>) -> Self {
        self.phash = phash;
        self
    }

    pub fn camera(mut self, camera: Camera) -> Self {
        self.camera = camera;
        self
    }

    pub fn flags(mut self, flags: FrameFlags) -> Self {
        self.flags = flags;
        self
    }

    pub fn blur(mut self, blur: Option<BlurRecord>) -> Self {
        self.blur = blur;
        self
    }

    /// The frame. Panics when an id is not valid or the cell resolution is out of
    /// range: a mistake in the test, not in the code under test.
    pub fn build(self) -> Frame {
        let drive_id = DriveId::new(self.drive).unwrap_or_else(|e| panic!("drive id: {e}"));
        let id = match self.id {
            Some(id) => FrameId::new(id),
            None => FrameId::of(&drive_id, &self.stem),
        }
        .unwrap_or_else(|e| panic!("frame id: {e}"));
        Frame {
            id,
            drive_id,
            contributor: ContributorId::new(self.contributor)
                .unwrap_or_else(|e| panic!("contributor id: {e}")),
            captured_at: self.captured_at,
            pos: self.pos,
            heading_deg: self.heading_deg,
            cell: CellId::from_latlon(self.pos, self.cell_resolution)
                .unwrap_or_else(|e| panic!("cell: {e}")),
            image_key: self.image_key,
            content_sha256: self.content_sha256,
            phash: self.phash,
            camera: self.camera,
            flags: self.flags,
            blur: self.blur,
        }
    }
}

/// A detection of `class` in `frame`, scored 0.8 by model `test`: a box of `size`
/// (width, height) pixels centred on column `column_px` with its top at row 100, and
/// the bearing of that column through the frame's camera and heading.
pub fn detection_at_column(
    frame: &Frame,
    class: FeatureClass,
    column_px: f64,
    size: (f32, f32),
) -> Detection {
    let (w, h) = size;
    Detection {
        frame_id: frame.id.clone(),
        class,
        score: 0.8,
        bbox: BBox {
            x0: column_px as f32 - w / 2.0,
            y0: 100.0,
            x1: column_px as f32 + w / 2.0,
            y1: 100.0 + h,
        },
        bearing_deg: frame
            .camera
            .column_bearing_deg(frame.heading_deg, column_px),
        model: "test".into(),
        text: None,
        value: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_built_with_no_setters_has_the_documented_defaults() {
        let f = FrameBuilder::new().build();
        assert_eq!(f.id.as_str(), "d/0000");
        assert_eq!(f.drive_id.as_str(), "d");
        assert_eq!(f.contributor.as_str(), "c");
        assert_eq!(f.captured_at, default_time());
        assert_eq!(f.captured_at.to_rfc3339(), "2026-11-16T08:00:00+00:00");
        assert_eq!(f.pos, default_pos());
        assert_eq!(f.heading_deg, 0.0);
        assert_eq!(f.cell, CellId::from_latlon(f.pos, 11).unwrap());
        assert_eq!((f.image_key.as_str(), f.content_sha256.as_str()), ("", ""));
        assert_eq!(f.phash, None);
        assert_eq!(f.camera, Camera::default());
        assert_eq!(f.flags, FrameFlags::default());
        assert!(f.blur.is_none());
    }

    #[test]
    fn setters_change_only_their_field_and_an_explicit_id_wins_over_the_stem() {
        let pos = LatLon::new(61.5, 23.76).unwrap();
        let f = FrameBuilder::new()
            .drive("d1")
            .stem("0042")
            .contributor("alice")
            .pos(pos)
            .heading(90.0)
            .cell_resolution(12)
            .image_key("images/d1/0042.jpg")
            .phash(Some(7))
            .build();
        assert_eq!(f.id.as_str(), "d1/0042");
        assert_eq!(f.contributor.as_str(), "alice");
        assert_eq!((f.pos, f.heading_deg), (pos, 90.0));
        assert_eq!(f.cell, CellId::from_latlon(pos, 12).unwrap());
        assert_eq!(
            (f.image_key.as_str(), f.phash),
            ("images/d1/0042.jpg", Some(7))
        );
        let g = FrameBuilder::new().drive("d1").stem("0042").id("a").build();
        assert_eq!((g.id.as_str(), g.drive_id.as_str()), ("a", "d1"));
    }

    #[test]
    fn a_detection_at_the_centre_column_points_along_the_heading() {
        let f = FrameBuilder::new().heading(90.0).build();
        let d = detection_at_column(&f, FeatureClass::StopSign, 640.0, (20.0, 30.0));
        assert_eq!(d.frame_id, f.id);
        assert!((d.bearing_deg - 90.0).abs() < 1e-9, "{}", d.bearing_deg);
        assert_eq!(
            (d.bbox.x0, d.bbox.x1, d.bbox.y0, d.bbox.y1),
            (630.0, 650.0, 100.0, 130.0)
        );
    }
}
