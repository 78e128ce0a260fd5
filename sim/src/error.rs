//! Why a simulation could not be set up or run.

use streetcomb_core::CoreError;

/// Everything that can go wrong while reading inputs or simulating drives.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read OSM PBF data: {0}")]
    Osm(#[from] osmpbf::Error),
    #[error("cannot read OSM XML data: {0}")]
    OsmXml(String),
    #[error("OSM data is neither PBF nor XML (it starts with {0:?})")]
    OsmFormat(String),
    #[error("OSM data has no drivable roads")]
    NoRoads,
    #[error("at least one background image is required")]
    NoBackgrounds,
    #[error("cannot decode background image #{index}: {message}")]
    Background { index: usize, message: String },
    #[error("cannot parse SVG {what}: {message}")]
    Svg { what: &'static str, message: String },
    #[error("cannot draw a speed-limit sign {}", match .0 {
        Some(v) => format!("of {v} km/h (1..=999 fit)"),
        None => "without a value".to_owned(),
    })]
    SpeedLimitValue(Option<u32>),
    #[error("invalid simulation config: {0}")]
    Config(String),
    #[error("cannot plan a route: {0}")]
    Route(String),
    #[error("cannot render frame: {0}")]
    Render(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}
