//! Mapbuild: fuse detections seen from many frames into positioned map features, and
//! mark per-H3-cell coverage.
//!
//! Every detection is a bearing ray from its frame's camera position. Rays of one class
//! that point at the same place are grouped ([`fuse`]), their least-squares
//! intersection is the feature's position, rays that disagree are dropped, and the
//! spread of the rest gives the uncertainty. A feature seen from one place only falls
//! back to a range estimate from the box size and is flagged `single_view`.
//!
//! Pure logic over `core` types.

pub mod coverage;
pub mod fuse;
pub mod rays;

pub use coverage::coverage;
pub use fuse::{FuseParams, fuse};
pub use rays::{Ray, intersect};
