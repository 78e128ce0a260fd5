//! Why a tile could not be produced.

/// Why [`crate::TileSource::tile`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    #[error("zoom {z} is above the maximum zoom {max}")]
    ZoomTooHigh { z: u8, max: u8 },
    #[error("tile {z}/{x}/{y} does not exist: x and y must be below {size} at zoom {z}")]
    OutOfRange { z: u8, x: u32, y: u32, size: u64 },
    #[error("encoding the vector tile failed: {0}")]
    Encode(#[from] mvt::Error),
    #[error("compressing the vector tile failed: {0}")]
    Compress(#[from] std::io::Error),
    #[error("writing the PMTiles archive failed: {0}")]
    Write(std::io::Error),
    #[error("writing the PMTiles archive failed: {0}")]
    Pmtiles(#[from] pmtiles::PmtError),
}
