//! Tiles: Mapbox Vector Tiles for coverage, sequences and features, and TileJSON.
