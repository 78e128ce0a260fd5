//! Simulator: drive contributors along OSM roads and render dashcam frames with
//! ground truth.
//!
//! This is what `streetcomb simulate --osm FILE` and the demo run. It is pure logic:
//! inputs arrive as bytes or readers, outputs are in-memory values, and the caller
//! writes them to disk.
//!
//! 1. [`RoadNetwork::from_bytes`] reads an OSM extract (PBF or XML) into a drivable
//!    road graph and places beside its roads the features of every rendered class:
//!    mapped signals, signs, crossings and hydrants (what the tags mean is in `tags`),
//!    speed-limit signs where ways' limits begin, and seeded synthetic features at
//!    junctions for the classes the extract does not map ([`osm`]).
//! 2. [`Assets::new`] decodes street photos used as backgrounds, scales them once to
//!    "plates" a little larger than the default frame, and rasterises the bundled sign
//!    art once per class (speed limits once per value, with their figure set in the
//!    bundled font) (`assets`).
//! 3. [`simulate`] plans one route per contributor through the feature-dense part of
//!    the network (`route`), drives it at constant speed and records a noisy GPS track
//!    as GPX (`gps`). Each frame is a panned crop of a plate with every visible sign
//!    composited over it at its physical size through the pinhole camera, at
//!    sub-pixel precision, and a drifting exposure, encoded with `image`'s JPEG
//!    encoder (`render`); the ground truth is kept alongside.
//!
//! The same seed gives byte-identical output.

mod assets;
pub mod cheat;
mod drive;
mod error;
mod geom;
mod gps;
mod model;
pub mod osm;
mod render;
mod route;
mod tags;
pub mod weeks;

pub use assets::{Assets, MAX_SPEED_LIMIT, RENDERED_CLASSES};
pub use drive::{simulate, simulate_with};
pub use error::SimError;
pub use model::{
    CONTRIBUTOR_STAGGER_MIN, DriveSettings, DriveTruth, FRAME_NAME_FORMAT, SimConfig, SimDrive,
    SimFrame, TruthFeature, VisibleFeature, frame_file_name, parse_frame_file_name,
};
pub use osm::RoadNetwork;
pub use render::{CAMERA_HEIGHT_M, MAX_RANGE_M};
