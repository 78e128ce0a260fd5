//! PMTiles v3: every non-empty tile of a [`TileSource`] in one clustered archive,
//! written to any seekable writer (a file, or a `Cursor<Vec<u8>>` in tests).
//!
//! Layout (all offsets are explicit in the header, so sections may sit anywhere
//! after it):
//!
//! | bytes               | section                                              |
//! |---------------------|------------------------------------------------------|
//! | `0..127`            | header                                               |
//! | `127..`             | root directory (gzip), within the first 16 KiB       |
//! | `..16384`           | zero padding (the space reserved for the root)       |
//! | `16384..`           | tile data, in TileID order (so `clustered` = 1)      |
//! | then                | metadata JSON (gzip), then leaf directories (gzip)   |
//!
//! Tiles are streamed to the writer as they are cut, so memory stays at one tile
//! plus the directory; the header and root directory are written last, once known.
//! Identical tiles share their bytes: consecutive ones as one run-length entry,
//! others (below [`DEDUP_MAX_BYTES`]) by pointing at the earlier copy.
//!
//! Tile bytes are the gzip-compressed MVT that [`TileSource::tile`] returns, so the
//! header says tile type MVT and tile compression gzip. Internal compression
//! (directories and metadata) is gzip too.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use crate::mercator::MAX_LAT;
use crate::{MAX_ZOOM, TileError, TileSource, tiles_covering};

/// Header size in bytes.
const HEADER_BYTES: usize = 127;
/// The header and root directory must fit in this many bytes.
const ROOT_SPACE: u64 = 16_384;
/// Tiles up to this size are deduplicated across the archive (typically the small
/// tiles of sparse areas); larger ones only when they repeat consecutively.
const DEDUP_MAX_BYTES: usize = 4096;
/// Entries per leaf directory to start with; doubled until the root fits.
const LEAF_SIZE: usize = 4096;

const COMPRESSION_GZIP: u8 = 2;
const TILE_TYPE_MVT: u8 = 1;

/// What [`write_pmtiles`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PmtilesStats {
    /// Non-empty tiles addressed by the archive.
    pub tiles: u64,
    /// Distinct tile contents stored (`tiles` minus duplicates).
    pub contents: u64,
    /// Directory entries (a run of identical consecutive tiles is one entry).
    pub entries: u64,
    /// Size of the whole archive in bytes.
    pub bytes: u64,
    pub min_zoom: u8,
    pub max_zoom: u8,
}

/// The PMTiles TileID of `z/x/y`: tiles of lower zooms first, then the position
/// along the zoom's Hilbert curve.
pub fn tile_id(z: u8, x: u32, y: u32) -> u64 {
    let mut acc: u64 = ((1u64 << (2 * u32::from(z))) - 1) / 3;
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    for a in (0..u32::from(z)).rev() {
        let s = 1u64 << a;
        let rx = s & x;
        let ry = s & y;
        acc += ((3 * rx) ^ ry) << a;
        // Rotate the quadrant; only the lower bits matter from here on, so the
        // subtraction may wrap.
        if ry == 0 {
            if rx != 0 {
                x = s.wrapping_sub(1).wrapping_sub(x);
                y = s.wrapping_sub(1).wrapping_sub(y);
            }
            std::mem::swap(&mut x, &mut y);
        }
    }
    acc
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

    out.seek(SeekFrom::Start(ROOT_SPACE))
        .map_err(TileError::Write)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: HashMap<Vec<u8>, (u64, u64)> = HashMap::new();
    let mut data_len: u64 = 0;
    let mut tiles: u64 = 0;
    let mut contents: u64 = 0;
    let mut last: Option<Vec<u8>> = None;
    for (i, &(id, z, x, y)) in candidates.iter().enumerate() {
        progress(i as u64, total);
        let Some(bytes) = source.tile(z, x, y)? else {
            continue;
        };
        tiles += 1;
        // A repeat of the previous tile, right after it: extend its run.
        if let (Some(prev), Some(e)) = (&last, entries.last_mut())
            && *prev == bytes
            && e.tile_id + e.run_length == id
        {
            e.run_length += 1;
            continue;
        }
        let (offset, length) = match seen.get(&bytes) {
            Some(&at) => at,
            None => {
                out.write_all(&bytes).map_err(TileError::Write)?;
                let at = (data_len, bytes.len() as u64);
                data_len += at.1;
                contents += 1;
                if bytes.len() <= DEDUP_MAX_BYTES {
                    seen.insert(bytes.clone(), at);
                }
                at
            }
        };
        entries.push(Entry {
            tile_id: id,
            offset,
            length,
            run_length: 1,
        });
        last = Some(bytes);
    }
    progress(total, total);

    let metadata = gzip(
        &serde_json::to_vec(&metadata(source, max_zoom)).map_err(|e| {
            TileError::Write(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?,
    )?;
    let (root, leaves) = directories(&entries, ROOT_SPACE as usize - HEADER_BYTES)?;

    let metadata_offset = ROOT_SPACE + data_len;
    let leaves_offset = metadata_offset + metadata.len() as u64;
    out.write_all(&metadata).map_err(TileError::Write)?;
    out.write_all(&leaves).map_err(TileError::Write)?;
    let bytes = leaves_offset + leaves.len() as u64;

    let [w, s, e, n] = source
        .bounds()
        .unwrap_or([-180.0, -MAX_LAT, 180.0, MAX_LAT]);
    let [clon, clat, czoom] = source.center().unwrap_or([0.0, 0.0, 0.0]);
    let mut h = Vec::with_capacity(HEADER_BYTES);
    h.extend_from_slice(b"PMTiles");
    h.push(3);
    for v in [
        HEADER_BYTES as u64,
        root.len() as u64,
        metadata_offset,
        metadata.len() as u64,
        leaves_offset,
        leaves.len() as u64,
        ROOT_SPACE,
        data_len,
        tiles,
        entries.len() as u64,
        contents,
    ] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&[
        1, // clustered
        COMPRESSION_GZIP,
        COMPRESSION_GZIP,
        TILE_TYPE_MVT,
        0,
        max_zoom,
    ]);
    for v in [w, s, e, n] {
        h.extend_from_slice(&e7(v).to_le_bytes());
    }
    h.push((czoom as u8).min(max_zoom));
    h.extend_from_slice(&e7(clon).to_le_bytes());
    h.extend_from_slice(&e7(clat).to_le_bytes());
    debug_assert_eq!(h.len(), HEADER_BYTES);

    out.seek(SeekFrom::Start(0)).map_err(TileError::Write)?;
    out.write_all(&h).map_err(TileError::Write)?;
    out.write_all(&root).map_err(TileError::Write)?;
    out.flush().map_err(TileError::Write)?;
    Ok(PmtilesStats {
        tiles,
        contents,
        entries: entries.len() as u64,
        bytes,
        min_zoom: 0,
        max_zoom,
    })
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tile_id: u64,
    offset: u64,
    length: u64,
    run_length: u64,
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
                out.push((tile_id(z, x, y), z, x, y));
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

/// The serialized (gzip) root directory and leaf directories: everything in the
/// root when it fits in `root_space` bytes, else leaves of 4096, 8192, … entries.
fn directories(entries: &[Entry], root_space: usize) -> Result<(Vec<u8>, Vec<u8>), TileError> {
    let root = serialize_directory(entries)?;
    if root.len() <= root_space {
        return Ok((root, Vec::new()));
    }
    let mut leaf_size = LEAF_SIZE;
    loop {
        let mut leaves = Vec::new();
        let mut root_entries = Vec::new();
        for chunk in entries.chunks(leaf_size) {
            let leaf = serialize_directory(chunk)?;
            root_entries.push(Entry {
                tile_id: chunk.first().map_or(0, |e| e.tile_id),
                offset: leaves.len() as u64,
                length: leaf.len() as u64,
                run_length: 0,
            });
            leaves.extend_from_slice(&leaf);
        }
        let root = serialize_directory(&root_entries)?;
        if root.len() <= root_space {
            return Ok((root, leaves));
        }
        leaf_size *= 2;
    }
}

/// Varint columns: count, TileID deltas, run lengths, lengths, offsets (0 when
/// contiguous with the previous entry, else offset + 1); then gzip.
fn serialize_directory(entries: &[Entry]) -> Result<Vec<u8>, TileError> {
    let mut buf = Vec::new();
    varint(&mut buf, entries.len() as u64);
    let mut last_id = 0;
    for e in entries {
        varint(&mut buf, e.tile_id - last_id);
        last_id = e.tile_id;
    }
    for e in entries {
        varint(&mut buf, e.run_length);
    }
    for e in entries {
        varint(&mut buf, e.length);
    }
    let mut prev: Option<&Entry> = None;
    for e in entries {
        match prev {
            Some(p) if e.offset == p.offset + p.length => varint(&mut buf, 0),
            _ => varint(&mut buf, e.offset + 1),
        }
        prev = Some(e);
    }
    gzip(&buf)
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, TileError> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).map_err(TileError::Write)?;
    enc.finish().map_err(TileError::Write)
}

fn e7(deg: f64) -> i32 {
    (deg * 1e7).round() as i32
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tile_ids_follow_the_reference_hilbert_numbering() {
        // Values from the PMTiles v3 specification's examples.
        assert_eq!(tile_id(0, 0, 0), 0);
        assert_eq!(tile_id(1, 0, 0), 1);
        assert_eq!(tile_id(1, 0, 1), 2);
        assert_eq!(tile_id(1, 1, 1), 3);
        assert_eq!(tile_id(1, 1, 0), 4);
        assert_eq!(tile_id(2, 0, 0), 5);
        assert_eq!(tile_id(12, 3423, 1763), 19_078_479);
        // From the reference Python reader (pmtiles 3.8.1).
        assert_eq!(tile_id(16, 37308, 18969), 5_110_937_968);
    }

    fn read_varint(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                return v;
            }
        }
    }

    fn deserialize(gz: &[u8]) -> Vec<Entry> {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut b).unwrap();
        let mut at = 0;
        let n = read_varint(&b, &mut at) as usize;
        let mut es = vec![
            Entry {
                tile_id: 0,
                offset: 0,
                length: 0,
                run_length: 0
            };
            n
        ];
        let mut id = 0;
        for e in es.iter_mut() {
            id += read_varint(&b, &mut at);
            e.tile_id = id;
        }
        for e in es.iter_mut() {
            e.run_length = read_varint(&b, &mut at);
        }
        for e in es.iter_mut() {
            e.length = read_varint(&b, &mut at);
        }
        for i in 0..n {
            let v = read_varint(&b, &mut at);
            es[i].offset = if i > 0 && v == 0 {
                es[i - 1].offset + es[i - 1].length
            } else {
                v - 1
            };
        }
        assert_eq!(at, b.len());
        es
    }

    #[test]
    fn a_directory_too_big_for_the_root_is_split_into_leaves_that_list_every_entry() {
        let entries: Vec<Entry> = (0..200_000u64)
            .map(|i| Entry {
                tile_id: i * 3,
                offset: i * 1000 + (i % 7),
                length: 500 + i % 97,
                run_length: 1 + i % 2,
            })
            .collect();
        let (root, leaves) = directories(&entries, ROOT_SPACE as usize - HEADER_BYTES).unwrap();
        assert!(root.len() <= ROOT_SPACE as usize - HEADER_BYTES);
        assert!(!leaves.is_empty());
        let mut back = Vec::new();
        for r in deserialize(&root) {
            assert_eq!(r.run_length, 0, "root entries point at leaves");
            let (a, b) = (r.offset as usize, (r.offset + r.length) as usize);
            let leaf = deserialize(&leaves[a..b]);
            assert_eq!(leaf[0].tile_id, r.tile_id);
            back.extend(leaf);
        }
        assert_eq!(back.len(), entries.len());
        for (a, b) in back.iter().zip(&entries) {
            assert_eq!(
                (a.tile_id, a.offset, a.length, a.run_length),
                (b.tile_id, b.offset, b.length, b.run_length)
            );
        }
    }

    #[test]
    fn varints_use_seven_bits_per_byte_low_first() {
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
    }
}
