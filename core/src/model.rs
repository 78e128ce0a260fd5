//! The records that flow between stages: track points, drives, frames, detections,
//! map features and coverage.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Camera, CellId, ContributorId, CoreError, DriveId, FeatureId, FrameId, LatLon};

/// One GPS fix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    pub time: DateTime<Utc>,
    pub pos: LatLon,
    /// Altitude above the ellipsoid or sea level, metres, when known.
    pub alt_m: Option<f64>,
    /// Horizontal dilution of precision, when the source reports it.
    pub hdop: Option<f64>,
    /// Ground speed in m/s, when the source reports it.
    pub speed_mps: Option<f64>,
}

/// Per-frame flags raised by ingest (and later by fraud checks); carried to rewards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameFlags {
    /// The frame's time lies further than the allowed gap from a real fix.
    pub interpolated_far: bool,
    /// The implied speed to reach this frame is impossible.
    pub impossible_speed: bool,
    /// The same image was already seen (possibly from another contributor).
    pub replay: bool,
    /// The position jumped further than any vehicle could between two fixes (teleport).
    #[serde(default)]
    pub jump: bool,
    /// The GPS says the vehicle stood still while the imagery moved, or the reverse.
    #[serde(default)]
    pub motion_mismatch: bool,
    /// The same drive (same images) was uploaded from more than one device.
    #[serde(default)]
    pub duplicate_device: bool,
}

impl FrameFlags {
    /// Flags that make a frame worthless for rewards.
    pub fn is_fraud(&self) -> bool {
        self.fraud_reason().is_some()
    }

    /// The first fraud flag raised, in the order of [`FraudReason`].
    pub fn fraud_reason(&self) -> Option<FraudReason> {
        if self.replay {
            Some(FraudReason::Replay)
        } else if self.duplicate_device {
            Some(FraudReason::DuplicateDevice)
        } else if self.jump {
            Some(FraudReason::Jump)
        } else if self.impossible_speed {
            Some(FraudReason::ImpossibleSpeed)
        } else if self.motion_mismatch {
            Some(FraudReason::MotionMismatch)
        } else {
            None
        }
    }
}

/// Why the fraud checks flagged a frame; when several flags are raised, the first in
/// this order is the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudReason {
    /// The same image as another contributor's frame.
    Replay,
    /// The same drive uploaded from more than one device.
    DuplicateDevice,
    /// A teleport between two fixes.
    Jump,
    /// A speed no vehicle reaches.
    ImpossibleSpeed,
    /// The GPS and the imagery disagree about moving.
    MotionMismatch,
}

impl FraudReason {
    /// The name used in ledgers and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FraudReason::Replay => "replay",
            FraudReason::DuplicateDevice => "duplicate_device",
            FraudReason::Jump => "jump",
            FraudReason::ImpossibleSpeed => "impossible_speed",
            FraudReason::MotionMismatch => "motion_mismatch",
        }
    }
}

/// A kept, geotagged frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub id: FrameId,
    pub drive_id: DriveId,
    pub contributor: ContributorId,
    pub captured_at: DateTime<Utc>,
    pub pos: LatLon,
    /// Direction of travel, degrees clockwise from north.
    pub heading_deg: f64,
    pub cell: CellId,
    /// Where the image lives: the input file name for raw frames, then the
    /// object-store key of the blurred image once vision has run.
    pub image_key: String,
    /// sha256 of the raw image bytes (exact-duplicate detection and audit).
    pub content_sha256: String,
    /// 64-bit perceptual hash (DCT pHash) of the raw image, for near-duplicate and
    /// replay detection; `None` when ingest did not decode the image.
    #[serde(default)]
    pub phash: Option<u64>,
    pub camera: Camera,
    pub flags: FrameFlags,
    /// How vision anonymised the published image; `None` until vision has run. A
    /// frame whose image is published always has one (vision withholds the rest).
    #[serde(default)]
    pub blur: Option<BlurRecord>,
}

/// Object-store prefix of raw frames waiting for vision (never served).
pub const INCOMING_PREFIX: &str = "incoming";
/// Object-store prefix of published (blurred) frames.
pub const IMAGES_PREFIX: &str = "images";

/// Where a frame of the `frames` dataset stands. A frame the blur failed on is
/// withheld: it leaves `frames` and its `ingest_report` row says why
/// ([`DropKind::WithheldByVision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameState {
    /// Geotagged; the raw image waits under [`INCOMING_PREFIX`].
    Ingested,
    /// Blurred and public under [`IMAGES_PREFIX`].
    Published,
}

impl Frame {
    /// Where the frame stands, read from where its image lives.
    pub fn state(&self) -> FrameState {
        match self
            .image_key
            .strip_prefix(IMAGES_PREFIX)
            .and_then(|rest| rest.strip_prefix('/'))
        {
            Some(_) => FrameState::Published,
            None => FrameState::Ingested,
        }
    }

    /// Whether the frame's blurred image is public.
    pub fn is_published(&self) -> bool {
        self.state() == FrameState::Published
    }
}

/// The audit stamp of one frame's anonymisation: which models looked at it, at which
/// thresholds, and how many regions were blurred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlurRecord {
    /// `name@version` of every model that ran on the frame, comma-separated.
    pub models: String,
    /// Face score threshold.
    pub face_threshold: f32,
    /// Plate score threshold.
    pub plate_threshold: f32,
    /// Faces blurred.
    pub faces: u32,
    /// Plates blurred.
    pub plates: u32,
    /// Vehicle plate bands blurred because no plate was surely found on the vehicle.
    pub vehicle_bands: u32,
}

/// A drive as uploaded: who, which camera, its track and its frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drive {
    pub id: DriveId,
    pub contributor: ContributorId,
    pub camera: Camera,
    pub track: Vec<TrackPoint>,
    pub frames: Vec<Frame>,
}

/// Map-feature classes streetcomb builds. Detector classes map into these through the
/// detector's class map (see `vision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureClass {
    StopSign,
    TrafficLight,
    FireHydrant,
    ParkingMeter,
    /// A maximum-speed sign; its number is the feature's `value` (km/h).
    SpeedLimit,
    GiveWay,
    NoEntry,
    NoLeftTurn,
    NoRightTurn,
    NoUTurn,
    PedestrianCrossing,
}

impl FeatureClass {
    pub const ALL: [FeatureClass; 11] = [
        FeatureClass::StopSign,
        FeatureClass::TrafficLight,
        FeatureClass::FireHydrant,
        FeatureClass::ParkingMeter,
        FeatureClass::SpeedLimit,
        FeatureClass::GiveWay,
        FeatureClass::NoEntry,
        FeatureClass::NoLeftTurn,
        FeatureClass::NoRightTurn,
        FeatureClass::NoUTurn,
        FeatureClass::PedestrianCrossing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeatureClass::StopSign => "stop_sign",
            FeatureClass::TrafficLight => "traffic_light",
            FeatureClass::FireHydrant => "fire_hydrant",
            FeatureClass::ParkingMeter => "parking_meter",
            FeatureClass::SpeedLimit => "speed_limit",
            FeatureClass::GiveWay => "give_way",
            FeatureClass::NoEntry => "no_entry",
            FeatureClass::NoLeftTurn => "no_left_turn",
            FeatureClass::NoRightTurn => "no_right_turn",
            FeatureClass::NoUTurn => "no_u_turn",
            FeatureClass::PedestrianCrossing => "pedestrian_crossing",
        }
    }

    /// Whether features of this class carry a number (`value`): a speed limit's km/h.
    pub fn has_value(self) -> bool {
        self == FeatureClass::SpeedLimit
    }

    /// Typical physical width in metres, used for single-view range estimates.
    pub fn typical_width_m(self) -> f64 {
        self.typical_size_m().0
    }

    /// Typical physical height in metres of what a detector boxes: a second range
    /// estimate, and the better one for tall objects (a three-lamp signal head is
    /// almost three times taller than wide, so its box height has a third of the
    /// relative pixel error of its width).
    pub fn typical_height_m(self) -> f64 {
        self.typical_size_m().1
    }

    /// (width, height) in metres. Signs use the common European medium sizes: a
    /// 750 mm octagon, 640 mm discs and squares, a 900 mm give-way triangle.
    fn typical_size_m(self) -> (f64, f64) {
        match self {
            FeatureClass::StopSign => (0.75, 0.75),
            FeatureClass::TrafficLight => (0.35, 0.95),
            FeatureClass::FireHydrant => (0.35, 0.7),
            FeatureClass::ParkingMeter => (0.3, 1.2),
            FeatureClass::SpeedLimit
            | FeatureClass::NoEntry
            | FeatureClass::NoLeftTurn
            | FeatureClass::NoRightTurn
            | FeatureClass::NoUTurn
            | FeatureClass::PedestrianCrossing => (0.64, 0.64),
            FeatureClass::GiveWay => (0.9, 0.78),
        }
    }
}

impl fmt::Display for FeatureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FeatureClass {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CoreError::FeatureClass(s.to_owned()))
    }
}

/// An axis-aligned box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    /// The box from `(x0, y0)` (top left) to `(x1, y1)` (bottom right), in pixels.
    pub const fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self { x0, y0, x1, y1 }
    }

    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn center_x(&self) -> f32 {
        (self.x0 + self.x1) / 2.0
    }

    pub fn center_y(&self) -> f32 {
        (self.y0 + self.y1) / 2.0
    }

    /// The area the two boxes share.
    pub fn intersection_area(&self, o: &BBox) -> f32 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        w * h
    }

    /// Intersection over union.
    pub fn iou(&self, o: &BBox) -> f32 {
        let inter = self.intersection_area(o);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The share of this box's area that lies inside `o`.
    pub fn share_inside(&self, o: &BBox) -> f32 {
        let area = self.area();
        if area > 0.0 {
            self.intersection_area(o) / area
        } else {
            0.0
        }
    }

    /// Intersection over the smaller box's area: 1 when one box holds the other.
    pub fn overlap_of_smaller(&self, o: &BBox) -> f32 {
        let smaller = self.area().min(o.area());
        if smaller > 0.0 {
            self.intersection_area(o) / smaller
        } else {
            0.0
        }
    }

    /// The smallest box holding both.
    pub fn union(&self, o: &BBox) -> BBox {
        BBox::new(
            self.x0.min(o.x0),
            self.y0.min(o.y0),
            self.x1.max(o.x1),
            self.y1.max(o.y1),
        )
    }

    /// Whether `other`'s centre lies in this box, edges included.
    pub fn holds_centre_of(&self, other: &BBox) -> bool {
        let (cx, cy) = (other.center_x(), other.center_y());
        self.x0 <= cx && cx <= self.x1 && self.y0 <= cy && cy <= self.y1
    }

    /// The box grown by `frac` of its size on every side, clamped to the image.
    pub fn expanded(&self, frac: f32, width: u32, height: u32) -> BBox {
        let dx = self.width() * frac;
        let dy = self.height() * frac;
        BBox {
            x0: (self.x0 - dx).max(0.0),
            y0: (self.y0 - dy).max(0.0),
            x1: (self.x1 + dx).min(width as f32),
            y1: (self.y1 + dy).min(height as f32),
        }
    }
}

/// One detection of a map feature in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub frame_id: FrameId,
    pub class: FeatureClass,
    pub score: f32,
    pub bbox: BBox,
    /// Compass bearing from the camera to the box centre, degrees.
    pub bearing_deg: f64,
    /// Model name and version that produced it.
    pub model: String,
    /// The text read on the sign (a stop sign's word, a speed limit's number), when
    /// its class is read and the reading was confident.
    #[serde(default)]
    pub text: Option<String>,
    /// The number the sign shows (a speed limit's km/h), for classes with
    /// [`FeatureClass::has_value`] when it was read.
    #[serde(default)]
    pub value: Option<u32>,
}

/// Lifecycle of a map feature across epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureStatus {
    New,
    Confirmed,
    Moved,
    Removed,
}

impl FeatureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureStatus::New => "new",
            FeatureStatus::Confirmed => "confirmed",
            FeatureStatus::Moved => "moved",
            FeatureStatus::Removed => "removed",
        }
    }
}

impl std::str::FromStr for FeatureStatus {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        [
            FeatureStatus::New,
            FeatureStatus::Confirmed,
            FeatureStatus::Moved,
            FeatureStatus::Removed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| CoreError::FeatureClass(s.to_owned()))
    }
}

/// A positioned map feature fused from one or more detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapFeature {
    pub id: FeatureId,
    pub class: FeatureClass,
    pub pos: LatLon,
    /// 1-sigma horizontal uncertainty in metres.
    pub uncertainty_m: f64,
    pub n_detections: u32,
    pub n_drives: u32,
    /// 0..1.
    pub confidence: f64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub status: FeatureStatus,
    /// Which way the sign faces (towards the cameras that saw it), degrees.
    pub azimuth_deg: Option<f64>,
    /// True when the position comes from a single view and the box size.
    pub single_view: bool,
    /// The number the sign shows (a speed limit's km/h): the value most of its
    /// detections read.
    #[serde(default)]
    pub value: Option<u32>,
}

/// Coverage of one H3 cell by one contributor on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageCell {
    pub cell: CellId,
    pub contributor: ContributorId,
    pub day: chrono::NaiveDate,
    pub last_covered_at: DateTime<Utc>,
    pub n_frames: u32,
    /// Mean direction of travel through the cell, degrees.
    pub heading_deg: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_boxes_zero() {
        let a = BBox {
            x0: 0.0,
            y0: 0.0,
            x1: 10.0,
            y1: 10.0,
        };
        let b = BBox {
            x0: 20.0,
            y0: 20.0,
            x1: 30.0,
            y1: 30.0,
        };
        let c = BBox {
            x0: 5.0,
            y0: 0.0,
            x1: 15.0,
            y1: 10.0,
        };
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&b), 0.0);
        assert!((a.iou(&c) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn overlap_shares_are_taken_over_the_right_area() {
        let big = BBox::new(0.0, 0.0, 20.0, 10.0);
        let small = BBox::new(15.0, 0.0, 25.0, 10.0); // half of it inside big
        assert_eq!(big.intersection_area(&small), 50.0);
        assert_eq!(small.share_inside(&big), 0.5);
        assert_eq!(big.share_inside(&small), 0.25);
        assert_eq!(big.overlap_of_smaller(&small), 0.5);
        assert_eq!(small.overlap_of_smaller(&big), 0.5);
        assert_eq!(big.union(&small), BBox::new(0.0, 0.0, 25.0, 10.0));
        let flat = BBox::new(1.0, 1.0, 1.0, 5.0);
        assert_eq!(flat.share_inside(&big), 0.0);
        assert_eq!(flat.overlap_of_smaller(&big), 0.0);
    }

    #[test]
    fn an_expanded_box_stays_inside_the_image() {
        let a = BBox {
            x0: 2.0,
            y0: 2.0,
            x1: 12.0,
            y1: 12.0,
        };
        let e = a.expanded(0.5, 14, 100);
        assert_eq!((e.x0, e.y0, e.x1, e.y1), (0.0, 0.0, 14.0, 17.0));
    }

    #[test]
    fn drop_reasons_round_trip_through_their_report_text() {
        for &k in DropKind::ALL {
            let r = DropReason::new(k, "12.5 m from frame d/1");
            let text = r.to_string();
            assert!(text.starts_with(k.as_str()), "{text}");
            assert_eq!(text.parse::<DropReason>().unwrap(), r);
        }
        let bare: DropReason = "no_capture_time".parse().unwrap();
        assert_eq!(
            (bare.kind, bare.detail.as_str()),
            (DropKind::NoCaptureTime, "")
        );
        assert!("fell_off_a_truck: yes".parse::<DropReason>().is_err());
        let json = serde_json::to_string(&IngestDecision::Dropped(bare)).unwrap();
        assert_eq!(json, r#"{"decision":"dropped","reason":"no_capture_time"}"#);
    }

    #[test]
    fn a_frame_is_published_once_its_image_is_under_images() {
        let mut f = crate::testing::FrameBuilder::default().build();
        f.image_key = format!("{INCOMING_PREFIX}/d/1.jpg");
        assert_eq!(f.state(), FrameState::Ingested);
        f.image_key = format!("{IMAGES_PREFIX}/d/1.jpg");
        assert!(f.is_published());
        f.image_key = "imagesque/d/1.jpg".to_owned();
        assert!(!f.is_published());
    }

    #[test]
    fn feature_classes_round_trip_through_their_names() {
        for c in FeatureClass::ALL {
            assert_eq!(c.as_str().parse::<FeatureClass>().unwrap(), c);
        }
        assert!("tree".parse::<FeatureClass>().is_err());
    }
}

/// What ingest decided for one input frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision", content = "reason")]
pub enum IngestDecision {
    Kept,
    /// Dropped (by ingest, or withheld by vision), and why.
    Dropped(DropReason),
}

/// Why a frame was left out: the kind, which reports count by, and the details.
/// Written as `kind: details` (the `reason` column of `ingest_report`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct DropReason {
    pub kind: DropKind,
    /// What exactly happened (distances, times, the frame it duplicates…).
    pub detail: String,
}

impl DropReason {
    pub fn new(kind: DropKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            f.write_str(self.kind.as_str())
        } else {
            write!(f, "{}: {}", self.kind.as_str(), self.detail)
        }
    }
}

impl From<DropReason> for String {
    fn from(r: DropReason) -> String {
        r.to_string()
    }
}

impl std::str::FromStr for DropReason {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        let (kind, detail) = s.split_once(": ").unwrap_or((s, ""));
        Ok(Self::new(kind.parse()?, detail))
    }
}

impl TryFrom<String> for DropReason {
    type Error = CoreError;

    fn try_from(s: String) -> Result<Self, CoreError> {
        s.parse()
    }
}

macro_rules! drop_kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// The kinds of [`DropReason`], each with its name in reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DropKind {
            $($(#[$doc])* $variant,)*
        }

        impl DropKind {
            pub const ALL: &[DropKind] = &[$(DropKind::$variant,)*];

            /// The name reports and the `ingest_report` dataset use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DropKind::$variant => $name,)*
                }
            }
        }

        impl std::str::FromStr for DropKind {
            type Err = CoreError;

            fn from_str(s: &str) -> Result<Self, CoreError> {
                match s {
                    $($name => Ok(DropKind::$variant),)*
                    other => Err(CoreError::DropKind(other.to_owned())),
                }
            }
        }
    };
}

drop_kinds! {
    /// The JPEG could not be read.
    UnreadableJpeg => "unreadable_jpeg",
    /// The same bytes as an earlier frame of the drive.
    ExactDuplicate => "exact_duplicate",
    /// No capture time from EXIF, metadata or the file name.
    NoCaptureTime => "no_capture_time",
    /// Captured before the first GPS fix (beyond the allowed gap).
    BeforeTrack => "before_track",
    /// Captured after the last GPS fix (beyond the allowed gap).
    AfterTrack => "after_track",
    /// No GPS fix near enough in time.
    GpsGap => "gps_gap",
    /// Inside a contributor's privacy zone.
    PrivacyZone => "privacy_zone",
    /// Within the privacy trim at either end of the drive.
    PrivacyTrim => "privacy_trim",
    /// The car did not move or turn since the previous kept frame.
    StationaryDuplicate => "stationary_duplicate",
    /// Closer to the previous kept frame than the keyframe distance.
    KeyframeSpacing => "keyframe_spacing",
    /// Looks the same as the previous kept frame at low speed.
    NearDuplicate => "near_duplicate",
    /// The file name cannot make a frame id.
    BadFileName => "bad_file_name",
    /// Vision could not blur it, so it is never published (fail-closed).
    WithheldByVision => "withheld by vision",
}

/// One row of the ingest report: every input frame, kept or not, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestRecord {
    pub drive_id: DriveId,
    pub contributor: ContributorId,
    /// The input file name inside the drive's `frames/` folder.
    pub file: String,
    pub captured_at: Option<DateTime<Utc>>,
    pub decision: IngestDecision,
    pub flags: FrameFlags,
}

/// One row of an epoch's rewards ledger, in integer base units.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub epoch: crate::Epoch,
    pub contributor: ContributorId,
    pub cell: CellId,
    pub amount: u64,
    /// Why this amount (e.g. "coverage", or "excluded: replay" with amount 0).
    pub reason: String,
}

/// One drivable road segment of a base map (an OSM way between two of its nodes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoadSegment {
    pub a: LatLon,
    pub b: LatLon,
    /// Traffic both ways: cars keep to their side of the centre line. On a one-way
    /// road they drive on it.
    pub two_way: bool,
}
