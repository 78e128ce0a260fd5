//! Tiles: Mapbox Vector Tiles (MVT 2.1) and TileJSON for the streetcomb map.
//!
//! This crate is pure logic: [`TileSource::build`] indexes everything once, and
//! [`TileSource::tile`] answers one `z/x/y` request with gzip-compressed MVT bytes.
//! The `streetcomb` binary serves those bytes over HTTP; nothing here touches the
//! file system or an async runtime.
//!
//! # Layers
//!
//! Every tile has an extent of [`EXTENT`] (4096) units, y pointing down, and carries
//! geometry up to [`BUFFER`] (64) units beyond its edges so that lines and polygons
//! join without seams. Layers appear in draw order, and a layer with nothing in the
//! tile is left out.
//!
//! | layer       | geometry    | zooms | properties |
//! |-------------|-------------|-------|------------|
//! | `coverage`  | Polygon     | all   | `h3`, `last_covered_at`, `age_days`, `freshness`, `n_contributors`, `n_frames` |
//! | `sequences` | LineString  | all   | `drive_id`, `contributor`, `start`, `end` |
//! | `frames`    | Point       | ≥ 14  | `frame_id`, `heading`, `captured_at`, `image_url` |
//! | `features`  | Point       | ≥ 12  | `id`, `class`, `confidence`, `n_detections`, `status`, `first_seen`, `last_seen`, `uncertainty_m`, `value` (speed limits) |
//!
//! * Coverage cells are aggregated to coarser H3 parents at low zoom
//!   (see [`coverage_resolution`]): the freshest time wins and `n_frames` and
//!   `n_contributors` are summed (so at coarse levels `n_contributors` counts
//!   contributor-cells, an upper bound on distinct contributors). `freshness` falls
//!   linearly from 1 at age 0 to 0 at [`FRESHNESS_DAYS`] days.
//! * Sequences are simplified per zoom with Douglas-Peucker at a tolerance of one tile
//!   unit (1/4096 of the tile), below which the encoder would round the detail away.
//! * Times are RFC 3339 strings in UTC. Display-only numbers are rounded (`age_days`
//!   and `freshness` to 0.001, `heading` to 0.1°, `uncertainty_m` to 0.01 m,
//!   `confidence` to 0.001) so that repeated values share one entry in the layer's
//!   value table.
//!
//! A separate basemap source ([`Basemap`]) cuts `water`, `roads` and `buildings`
//! tiles from the OSM extract the store was built over; its module documents them.
//!
//! # Size budget
//!
//! No tile exceeds [`MAX_TILE_BYTES`] compressed. When one would, the least
//! important layer still holding features is thinned and the tile re-encoded,
//! in this order:
//!
//! 1. `frames`: keep only frames whose global rank (by capture time, then id) is a
//!    multiple of `k`, for `k` = 2, 4, 8, … — an even sample along every drive that
//!    neighbouring tiles agree on;
//! 2. `features`: keep the first `n / k` features of the tile by priority (highest
//!    confidence, then most detections, then id);
//! 3. `sequences`, then `coverage`: keep every `k`-th drive / cell. Coverage is
//!    aggregated so that this last resort should never be needed.
//!
//! # Antimeridian
//!
//! Drives are assumed not to cross the antimeridian; a coverage cell that straddles
//! it is drawn on the eastern side only.

mod basemap;
mod clip;
mod encode;
mod error;
mod index;
mod mercator;
mod model;
mod pmtiles;
mod source;
mod tilejson;

pub use basemap::{
    BUILDINGS_MIN_ZOOM, BaseWay, Basemap, BasemapCounts, BasemapError, LAYER_BUILDINGS,
    LAYER_ROADS, LAYER_WATER,
};
pub use error::TileError;
pub use mercator::{tile_bounds, tiles_covering};
pub use model::{
    CoverageSummary, FramePoint, Sequence, coverage_summary, freshness, sequences_from_frames,
};
pub use pmtiles::{PmtilesStats, tile_id, write_pmtiles, write_pmtiles_with};
pub use source::{TileSource, coverage_resolution};

/// Tile extent in tile units (per MVT convention).
pub const EXTENT: u32 = 4096;
/// Geometry is kept up to this many tile units outside the tile.
pub const BUFFER: u32 = 64;
/// The deepest zoom [`TileSource::tile`] answers.
pub const MAX_ZOOM: u8 = 22;
/// The deepest zoom advertised in TileJSON; clients overzoom beyond it.
pub const TILEJSON_MAX_ZOOM: u8 = 16;
/// No tile is larger than this many bytes once compressed.
pub const MAX_TILE_BYTES: usize = 500_000;
/// The `frames` layer appears from this zoom on.
pub const FRAMES_MIN_ZOOM: u8 = 14;
/// The `features` layer appears from this zoom on.
pub const FEATURES_MIN_ZOOM: u8 = 12;
/// Coverage older than this many days has freshness 0.
pub const FRESHNESS_DAYS: f64 = 7.0;

/// Layer names, in draw order.
pub const LAYER_COVERAGE: &str = "coverage";
pub const LAYER_SEQUENCES: &str = "sequences";
pub const LAYER_FRAMES: &str = "frames";
pub const LAYER_FEATURES: &str = "features";
