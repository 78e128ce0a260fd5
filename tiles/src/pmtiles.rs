//! PMTiles v3: every non-empty tile of a [`TileSource`] in one clustered archive,
//! written to any seekable writer (a file, or a `Cursor<Vec<u8>>` in tests) by the
//! `pmtiles` crate's stream writer.
//!
//! Tiles are cut in TileID order and handed to the writer as they come, so the
//! archive is clustered and memory stays at one tile plus the directory. Tile bytes
//! are the gzip-compressed MVT that [`TileSource::tile`] returns, stored as they are
//! (the header says MVT, gzip); directories and metadata are gzip too. Identical
//! tiles are stored once.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Seek, SeekFrom, Write};

use pmtiles::{Compression, PmTilesWriter, TileCoord, TileId, TileType};
use serde_json::{Value, json};

use crate::mercator::MAX_LAT;
use crate::{MAX_ZOOM, TileError, TileSource, tiles_covering};

/// What [`write_pmtiles`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PmtilesStats {
    /// Non-empty tiles addressed by the archive.
    pub tiles: u64,
    /// Distinct tile contents stored (`tiles` minus duplicates).
    pub contents: u64,
    /// Size of the whole archive in bytes.
    pub bytes: u64,
    pub min_zoom: u8,
    pub max_zoom: u8,
}

/// The PMTiles TileID of `z/x/y`: tiles of lower zooms first, then the position
/// along the zoom's Hilbert curve. `None` for a tile outside the `2^z` grid.
pub fn tile_id(z: u8, x: u32, y: u32) -> Option<u64> {
    TileCoord::new(z, x, y)
        .ok()
        .map(|c| TileId::from(c).value())
}

/// Writes every non-empty tile of zooms `0..=max_zoom` to `out` as a PMTiles v3
/// archive. `out` should be empty: the archive starts at its position 0.
pub fn write_pmtiles<W: Write + Seek>(
    source: &TileSource,
    max_zoom: u8,
    out: W,
) -> Result<PmtilesStats, TileError> {
    write_pmtiles_with(source, max_zoom, out, &mut |_, _| {})
}

/// [`write_pmtiles`], calling `progress(done, total)` as candidate tiles are cut.
pub fn write_pmtiles_with<W: Write + Seek>(
    source: &TileSource,
    max_zoom: u8,
    mut out: W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PmtilesStats, TileError> {
    if max_zoom > MAX_ZOOM {
        return Err(TileError::ZoomTooHigh {
            z: max_zoom,
            max: MAX_ZOOM,
        });
    }
    let candidates = candidates(source, max_zoom);
    let total = candidates.len() as u64;
    let [w, s, e, n] = source
        .bounds()
        .unwrap_or([-180.0, -MAX_LAT, 180.0, MAX_LAT]);
    let [lon, lat, zoom] = source.center().unwrap_or([0.0, 0.0, 0.0]);
    let mut writer = PmTilesWriter::new(TileType::Mvt)
        .precompressed(Compression::Gzip)
        .internal_compression(Compression::Gzip)
        .min_zoom(0)
        .max_zoom(max_zoom)
        .bounds(w, s, e, n)
        .center(lon, lat)
        .center_zoom((zoom as u8).min(max_zoom))
        .metadata(metadata(source, max_zoom).to_string())
        .create(&mut out)?;
    let (mut tiles, mut distinct) = (0u64, HashSet::new());
    for (i, &(_, z, x, y)) in candidates.iter().enumerate() {
        progress(i as u64, total);
        let Some(bytes) = source.tile(z, x, y)? else {
            continue;
        };
        tiles += 1;
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        distinct.insert((h.finish(), bytes.len()));
        writer.add_tile(TileCoord::new(z, x, y)?, &bytes)?;
    }
    progress(total, total);
    writer.finalize()?;
    let bytes = out.seek(SeekFrom::End(0)).map_err(TileError::Write)?;
    out.flush().map_err(TileError::Write)?;
    Ok(PmtilesStats {
        tiles,
        contents: distinct.len() as u64,
        bytes,
        min_zoom: 0,
        max_zoom,
    })
}

/// Every tile that may hold data, as `(tile_id, z, x, y)` in TileID order: the
/// tiles over the data's bounds, widened by one tile each way for the geometry
/// buffer and for coarse coverage cells reaching beyond the data.
fn candidates(source: &TileSource, max_zoom: u8) -> Vec<(u64, u8, u32, u32)> {
    let Some(bounds) = source.bounds() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for z in 0..=max_zoom {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        let mut columns: Vec<u32> = Vec::new();
        for (x, y) in tiles_covering(bounds, z) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            columns.push(x);
        }
        if columns.is_empty() {
            continue;
        }
        let last = (1u64 << z) - 1;
        let widen = |lo: u32, hi: u32| (lo.saturating_sub(1), (u64::from(hi) + 1).min(last) as u32);
        let (y0, y1) = widen(y0, y1);
        columns.sort_unstable();
        columns.dedup();
        // Columns may wrap across the antimeridian: widen each, then merge.
        let mut xs: Vec<u32> = columns
            .iter()
            .flat_map(|&x| {
                let (a, b) = widen(x, x);
                a..=b
            })
            .collect();
        xs.sort_unstable();
        xs.dedup();
        for x in xs {
            for y in y0..=y1 {
                if let Some(id) = tile_id(z, x, y) {
                    out.push((id, z, x, y));
                }
            }
        }
    }
    out.sort_unstable_by_key(|t| t.0);
    out
}

/// The archive's metadata: the TileJSON's descriptive fields and vector layers,
/// with zooms capped at `max_zoom`.
fn metadata(source: &TileSource, max_zoom: u8) -> Value {
    let tj = source.tilejson("");
    let layers: Vec<Value> = tj
        .vector_layers
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.minzoom.is_some_and(|m| m <= max_zoom))
        .map(|mut l| {
            l.maxzoom = Some(max_zoom);
            serde_json::to_value(l).unwrap_or(Value::Null)
        })
        .collect();
    json!({
        "name": tj.name,
        "description": tj.description,
        "type": "overlay",
        "format": "pbf",
        "minzoom": 0,
        "maxzoom": max_zoom,
        "vector_layers": layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_ids_follow_the_reference_hilbert_numbering() {
        // Values from the PMTiles v3 specification's examples.
        assert_eq!(tile_id(0, 0, 0), Some(0));
        assert_eq!(tile_id(1, 0, 0), Some(1));
        assert_eq!(tile_id(1, 0, 1), Some(2));
        assert_eq!(tile_id(1, 1, 1), Some(3));
        assert_eq!(tile_id(1, 1, 0), Some(4));
        assert_eq!(tile_id(2, 0, 0), Some(5));
        assert_eq!(tile_id(12, 3423, 1763), Some(19_078_479));
        // From the reference Python reader (pmtiles 3.8.1).
        assert_eq!(tile_id(16, 37308, 18969), Some(5_110_937_968));
        assert_eq!(tile_id(1, 2, 0), None, "outside the 2x2 grid of zoom 1");
    }
}
