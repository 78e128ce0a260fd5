//! The shared data model of streetcomb and the geodesy every stage needs.
//!
//! Stage crates (`ingest`, `vision`, `mapbuild`, `tiles`, `rewards`) speak only in
//! these types, so a dataset written by one stage is read back by the next without
//! knowing who wrote it. Values are validated on construction (ids, coordinates,
//! cells, epochs), so code that holds one can trust it.

pub mod camera;
pub mod cell;
pub mod epoch;
pub mod error;
pub mod geodesy;
pub mod ids;
pub mod matching;
pub mod model;
pub mod rng;
pub mod spatial;
pub mod testing;

pub use camera::Camera;
pub use cell::CellId;
pub use epoch::Epoch;
pub use error::CoreError;
pub use geodesy::{LatLon, LocalFrame};
pub use ids::{ContributorId, DriveId, FeatureId, FrameId};
pub use model::{
    BBox, BlurRecord, CoverageCell, Detection, Drive, DropKind, DropReason, FeatureClass,
    FeatureStatus, Frame, FrameFlags, FrameState, FraudReason, IMAGES_PREFIX, INCOMING_PREFIX,
    IngestDecision, IngestRecord, LedgerEntry, MapFeature, RoadSegment, TrackPoint,
};
