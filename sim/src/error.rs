//! Why a simulation could not be set up or run.

use streetcomb_core::CoreError;

/// Everything that can go wrong while reading inputs or simulating drives.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read OSM PBF data: {0}")]
    Osm(#[from] osmpbf::Error),
    #[error("OSM data has no drivable roads")]
    NoRoads,
    #[error("at least one background image is required")]
    NoBackgrounds,
    #[error("cannot decode background image #{index}: {message}")]
    Background { index: usize, message: String },
    #[error("cannot parse SVG {what}: {message}")]
    Svg { what: &'static str, message: String },
    #[error("invalid simulation config: {0}")]
    Config(String),
    #[error("cannot plan a route: {0}")]
    Route(String),
    #[error("cannot render frame: {0}")]
    Render(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}
