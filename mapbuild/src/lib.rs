//! Mapbuild: fuse detections seen from many frames into positioned map features, and
//! mark per-H3-cell coverage.
//!
//! Every detection is a bearing ray from its frame's camera position. Rays of one class
//! that point at the same place are grouped ([`fuse`]), their least-squares
//! intersection is the feature's position, rays that disagree are dropped, and the
//! spread of the rest gives the uncertainty. A feature seen from one place only falls
//! back to a range estimate from the box size and is flagged `single_view`.
//!
//! Features keep their identity across weekly epochs ([`history`]): each epoch is
//! fused on its own and merged into what was known, which marks features new,
//! confirmed, moved or removed. [`osm_compare`] sets the result against a map's
//! mapped points (same / new / missing in OSM / missing in imagery).
//!
//! Pure logic over `core` types.

pub mod align;
pub mod coverage;
pub mod fuse;
pub mod history;
pub mod osm_compare;
pub mod rays;
pub mod sightings;

pub use align::{AlignParams, Roads, align_to_roads, steer_detections};
pub use coverage::{UniqueKm, coverage, unique_km};
pub use fuse::{FuseParams, fuse};
pub use history::{ChangeParams, build_history, merge_epoch};
pub use osm_compare::{ComparisonRow, MappedPoint, OsmComparison, compare_with_osm};
pub use rays::{RangedRay, Ray, RobustFit, intersect, intersect_ranged, intersect_robust};
pub use sightings::{Sighting, sightings};
