//! The tile source: all map data projected, simplified and indexed once, so that each
//! `z/x/y` request only reads the items under that tile.
//!
//! Per-zoom work is done at build time: coverage is aggregated for each resolution
//! band of [`coverage_resolution`], and sequences are simplified for every zoom up to
//! [`TILEJSON_MAX_ZOOM`] and cut into short chunks, each with its own R-tree entry,
//! so a long drive costs a tile only the stretch that crosses it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use rstar::RTree;
use streetcomb_core::{CellId, LatLon, MapFeature};

use crate::clip::{clip_line, clip_ring, simplify_line, snap, snap_line, snap_ring};
use crate::encode::{Geom, Prop, Thinning, TileFeature, TileLayer, encode_within};
use crate::index::{Entry, query};
use crate::mercator::{TileTransform, check_tile, clip_limits, lat_to_y, lon_to_x, project};
use crate::model::{CoverageSummary, FramePoint, Sequence, age_days, freshness};
use crate::{
    EXTENT, FEATURES_MIN_ZOOM, FRAMES_MIN_ZOOM, LAYER_COVERAGE, LAYER_FEATURES, LAYER_FRAMES,
    LAYER_SEQUENCES, MAX_TILE_BYTES, TILEJSON_MAX_ZOOM, TileError,
};

/// The H3 resolution coverage is drawn at for zoom `z`; `None` means the cells'
/// own resolution. Each band keeps hexagons a few to a few hundred tile units
/// across, so low-zoom tiles hold few, visible polygons.
pub fn coverage_resolution(z: u8) -> Option<u8> {
    match z {
        0..=3 => Some(4),
        4..=6 => Some(6),
        7..=9 => Some(7),
        10..=11 => Some(8),
        12..=13 => Some(9),
        _ => None,
    }
}

/// Every distinct value of [`coverage_resolution`].
const COVERAGE_BANDS: [Option<u8>; 6] = [Some(4), Some(6), Some(7), Some(8), Some(9), None];

/// Points per sequence chunk in the R-tree: short enough that a tile reads little
/// beyond its edges, long enough to keep the tree small.
const CHUNK_POINTS: usize = 32;

/// Layer positions in a tile, in draw order.
const COVERAGE: usize = 0;
const SEQUENCES: usize = 1;
const FRAMES: usize = 2;
const FEATURES: usize = 3;
/// Which layer gives way first when a tile is over budget.
const THIN_ORDER: [usize; 4] = [FRAMES, FEATURES, SEQUENCES, COVERAGE];

#[derive(Debug)]
struct CoverageRec {
    h3: String,
    /// Boundary in world coordinates, not closed.
    ring: Vec<[f64; 2]>,
    last_covered_at: DateTime<Utc>,
    n_contributors: u32,
    n_frames: u32,
}

#[derive(Debug)]
struct CoverageLevel {
    res: Option<u8>,
    cells: Vec<CoverageRec>,
    index: RTree<Entry>,
}

/// A run of points `start..=end` of one sequence; consecutive chunks share an end point.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    seq: usize,
    start: usize,
    end: usize,
}

#[derive(Debug)]
struct SequenceLevel {
    /// Per sequence (same order as `TileSource::sequences`), in world coordinates.
    lines: Vec<Vec<[f64; 2]>>,
    chunks: Vec<Chunk>,
    index: RTree<Entry>,
}

#[derive(Debug)]
struct SequenceMeta {
    drive_id: String,
    contributor: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// All map data, ready to cut into vector tiles.
pub struct TileSource {
    now: DateTime<Utc>,
    coverage: Vec<CoverageLevel>,
    sequences: Vec<SequenceMeta>,
    /// Index `z` for zooms up to [`TILEJSON_MAX_ZOOM`], then one unsimplified level.
    sequence_levels: Vec<SequenceLevel>,
    /// Sorted by capture time then id: the rank used to thin frames.
    frames: Vec<(FramePoint, [f64; 2])>,
    frame_index: RTree<Entry>,
    /// Sorted by priority: the rank used to thin features.
    features: Vec<(MapFeature, [f64; 2])>,
    feature_index: RTree<Entry>,
    bounds: Option<[f64; 4]>,
}

impl fmt::Debug for TileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TileSource")
            .field("now", &self.now)
            .field(
                "coverage_cells",
                &self.coverage.last().map_or(0, |l| l.cells.len()),
            )
            .field("sequences", &self.sequences.len())
            .field("frames", &self.frames.len())
            .field("features", &self.features.len())
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl TileSource {
    /// Projects, aggregates, simplifies and indexes everything. `now` is the instant
    /// coverage ages and freshness are measured from.
    pub fn build(
        mut sequences: Vec<Sequence>,
        coverage: Vec<CoverageSummary>,
        mut frames: Vec<FramePoint>,
        mut features: Vec<MapFeature>,
        now: DateTime<Utc>,
    ) -> TileSource {
        let bounds = data_bounds(&sequences, &coverage, &frames, &features);

        // Stable sorts: ranks (and so thinning) do not depend on the input order
        // except between exact duplicates.
        sequences.sort_by(|a, b| {
            (a.start, &a.drive_id, a.end, &a.contributor).cmp(&(
                b.start,
                &b.drive_id,
                b.end,
                &b.contributor,
            ))
        });
        let projected: Vec<Vec<[f64; 2]>> = sequences
            .iter()
            .map(|s| {
                let mut line: Vec<[f64; 2]> = s.points.iter().map(|p| project(*p)).collect();
                line.dedup();
                line
            })
            .collect();
        let sequence_levels = (0..=TILEJSON_MAX_ZOOM + 1)
            .map(|z| SequenceLevel::build(&projected, simplify_tolerance(z)))
            .collect();
        let sequences = sequences
            .into_iter()
            .map(|s| SequenceMeta {
                drive_id: s.drive_id,
                contributor: s.contributor,
                start: s.start,
                end: s.end,
            })
            .collect();

        let coverage = COVERAGE_BANDS
            .iter()
            .map(|&res| CoverageLevel::build(res, &coverage))
            .collect();

        frames.sort_by(|a, b| (a.captured_at, &a.frame_id).cmp(&(b.captured_at, &b.frame_id)));
        let frames: Vec<(FramePoint, [f64; 2])> = frames
            .into_iter()
            .map(|f| {
                let xy = project(f.pos);
                (f, xy)
            })
            .collect();
        let frame_index = point_index(frames.iter().map(|f| f.1));

        features.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then_with(|| b.n_detections.cmp(&a.n_detections))
                .then_with(|| a.id.cmp(&b.id))
        });
        let features: Vec<(MapFeature, [f64; 2])> = features
            .into_iter()
            .map(|f| {
                let xy = project(f.pos);
                (f, xy)
            })
            .collect();
        let feature_index = point_index(features.iter().map(|f| f.1));

        TileSource {
            now,
            coverage,
            sequences,
            sequence_levels,
            frames,
            frame_index,
            features,
            feature_index,
            bounds,
        }
    }

    /// The gzip-compressed MVT tile `z/x/y`, or `None` when nothing falls in it.
    /// The result never exceeds [`MAX_TILE_BYTES`] and is the same bytes for the
    /// same input.
    pub fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, TileError> {
        check_tile(z, x, y)?;
        let cut = Cut::new(z, x, y);
        // In the order of the COVERAGE..FEATURES constants.
        let layers = [
            self.coverage_layer(&cut),
            self.sequence_layer(&cut),
            self.frame_layer(&cut),
            self.feature_layer(&cut),
        ];
        encode_within(&layers, &THIN_ORDER, MAX_TILE_BYTES)
    }

    /// `[west, south, east, north]` of all the data, `None` when there is none.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        self.bounds
    }

    /// `[lon, lat, zoom]`: the middle of [`Self::bounds`] and the deepest zoom (up to
    /// [`TILEJSON_MAX_ZOOM`]) at which all the data fits in one tile.
    pub fn center(&self) -> Option<[f64; 3]> {
        let [w, s, e, n] = self.bounds?;
        let span = (lon_to_x(e) - lon_to_x(w)).max(lat_to_y(s) - lat_to_y(n));
        let max = f64::from(TILEJSON_MAX_ZOOM);
        let zoom = if span > 0.0 {
            (1.0 / span).log2().floor().clamp(0.0, max)
        } else {
            max
        };
        Some([(w + e) / 2.0, (s + n) / 2.0, zoom])
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn coverage_layer(&self, cut: &Cut) -> TileLayer {
        let res = coverage_resolution(cut.z);
        let mut features = Vec::new();
        if let Some(level) = self.coverage.iter().find(|l| l.res == res) {
            for idx in query(&level.index, cut.lo, cut.hi) {
                let Some(c) = level.cells.get(idx) else {
                    continue;
                };
                let ring: Vec<[f64; 2]> = c.ring.iter().map(|p| cut.t.apply(*p)).collect();
                let Some(ring) = snap_ring(&clip_ring(&ring, cut.clip_lo, cut.clip_hi)) else {
                    continue;
                };
                let age = age_days(c.last_covered_at, self.now);
                features.push(TileFeature {
                    rank: idx,
                    geom: Geom::Polygon(ring),
                    props: vec![
                        ("h3", Prop::Str(c.h3.clone())),
                        ("last_covered_at", Prop::Str(rfc3339(c.last_covered_at))),
                        ("age_days", Prop::Double(round_dp(age, 1e3))),
                        (
                            "freshness",
                            Prop::Double(round_dp(freshness(c.last_covered_at, self.now), 1e3)),
                        ),
                        ("n_contributors", Prop::Uint(u64::from(c.n_contributors))),
                        ("n_frames", Prop::Uint(u64::from(c.n_frames))),
                    ],
                });
            }
        }
        TileLayer {
            name: LAYER_COVERAGE,
            thinning: Thinning::EveryKth,
            features,
        }
    }

    fn sequence_layer(&self, cut: &Cut) -> TileLayer {
        let mut features = Vec::new();
        let level_idx = usize::from(cut.z).min(self.sequence_levels.len().saturating_sub(1));
        if let Some(level) = self.sequence_levels.get(level_idx) {
            // Chunk ids ascend with (sequence, start), so touching chunks of one drive
            // are adjacent here and merge into continuous runs.
            let mut runs: Vec<Chunk> = Vec::new();
            for id in query(&level.index, cut.lo, cut.hi) {
                let Some(&c) = level.chunks.get(id) else {
                    continue;
                };
                match runs.last_mut() {
                    Some(r) if r.seq == c.seq && c.start <= r.end => r.end = r.end.max(c.end),
                    _ => runs.push(c),
                }
            }
            let mut i = 0;
            while i < runs.len() {
                let seq = runs[i].seq;
                let mut pieces = Vec::new();
                while i < runs.len() && runs[i].seq == seq {
                    let r = runs[i];
                    if let Some(pts) = level.lines.get(seq).and_then(|l| l.get(r.start..=r.end)) {
                        let local: Vec<[f64; 2]> = pts.iter().map(|p| cut.t.apply(*p)).collect();
                        pieces.extend(
                            clip_line(&local, cut.clip_lo, cut.clip_hi)
                                .iter()
                                .filter_map(|p| snap_line(p)),
                        );
                    }
                    i += 1;
                }
                let Some(meta) = self.sequences.get(seq) else {
                    continue;
                };
                if pieces.is_empty() {
                    continue;
                }
                features.push(TileFeature {
                    rank: seq,
                    geom: Geom::Lines(pieces),
                    props: vec![
                        ("drive_id", Prop::Str(meta.drive_id.clone())),
                        ("contributor", Prop::Str(meta.contributor.clone())),
                        ("start", Prop::Str(rfc3339(meta.start))),
                        ("end", Prop::Str(rfc3339(meta.end))),
                    ],
                });
            }
        }
        TileLayer {
            name: LAYER_SEQUENCES,
            thinning: Thinning::EveryKth,
            features,
        }
    }

    fn frame_layer(&self, cut: &Cut) -> TileLayer {
        let mut features = Vec::new();
        if cut.z >= FRAMES_MIN_ZOOM {
            for idx in query(&self.frame_index, cut.lo, cut.hi) {
                let Some((f, xy)) = self.frames.get(idx) else {
                    continue;
                };
                features.push(TileFeature {
                    rank: idx,
                    geom: Geom::Point(snap(cut.t.apply(*xy))),
                    props: vec![
                        ("frame_id", Prop::Str(f.frame_id.clone())),
                        ("heading", Prop::Double(round_dp(f.heading_deg, 10.0))),
                        ("captured_at", Prop::Str(rfc3339(f.captured_at))),
                        ("image_url", Prop::Str(f.image_url.clone())),
                    ],
                });
            }
        }
        TileLayer {
            name: LAYER_FRAMES,
            thinning: Thinning::EveryKth,
            features,
        }
    }

    fn feature_layer(&self, cut: &Cut) -> TileLayer {
        let mut features = Vec::new();
        if cut.z >= FEATURES_MIN_ZOOM {
            for idx in query(&self.feature_index, cut.lo, cut.hi) {
                let Some((f, xy)) = self.features.get(idx) else {
                    continue;
                };
                let mut props = vec![
                    ("id", Prop::Str(f.id.to_string())),
                    ("class", Prop::Str(f.class.as_str().to_owned())),
                    ("confidence", Prop::Double(round_dp(f.confidence, 1e3))),
                    ("n_detections", Prop::Uint(u64::from(f.n_detections))),
                    ("status", Prop::Str(f.status.as_str().to_owned())),
                    ("first_seen", Prop::Str(rfc3339(f.first_seen))),
                    ("last_seen", Prop::Str(rfc3339(f.last_seen))),
                    (
                        "uncertainty_m",
                        Prop::Double(round_dp(f.uncertainty_m, 100.0)),
                    ),
                ];
                // Only signs that show a number carry one (a speed limit's km/h).
                if let Some(v) = f.value {
                    props.push(("value", Prop::Uint(u64::from(v))));
                }
                features.push(TileFeature {
                    rank: idx,
                    geom: Geom::Point(snap(cut.t.apply(*xy))),
                    props,
                });
            }
        }
        TileLayer {
            name: LAYER_FEATURES,
            thinning: Thinning::Top,
            features,
        }
    }
}

/// Everything one tile request needs to know about where it cuts.
struct Cut {
    z: u8,
    t: TileTransform,
    /// The buffered tile in world coordinates.
    lo: [f64; 2],
    hi: [f64; 2],
    /// The buffered tile in tile units.
    clip_lo: f64,
    clip_hi: f64,
}

impl Cut {
    fn new(z: u8, x: u32, y: u32) -> Self {
        let t = TileTransform::new(z, x, y);
        let (lo, hi) = t.buffered_world_box();
        let (clip_lo, clip_hi) = clip_limits();
        Self {
            z,
            t,
            lo,
            hi,
            clip_lo,
            clip_hi,
        }
    }
}

impl CoverageLevel {
    /// Merges cells into their parents at `res` (cells already coarser stay as they
    /// are): the freshest time wins and counts add up.
    fn build(res: Option<u8>, coverage: &[CoverageSummary]) -> Self {
        let mut merged: BTreeMap<CellId, (DateTime<Utc>, u32, u32)> = BTreeMap::new();
        for c in coverage {
            let key = res.and_then(|r| c.cell.parent(r)).unwrap_or(c.cell);
            let e = merged.entry(key).or_insert((c.last_covered_at, 0, 0));
            e.0 = e.0.max(c.last_covered_at);
            e.1 = e.1.saturating_add(c.n_contributors);
            e.2 = e.2.saturating_add(c.n_frames);
        }
        let cells: Vec<CoverageRec> = merged
            .into_iter()
            .map(|(cell, (last, contributors, frames))| CoverageRec {
                h3: cell.to_string(),
                ring: cell_ring(cell),
                last_covered_at: last,
                n_contributors: contributors,
                n_frames: frames,
            })
            .collect();
        let entries = cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Entry::around(i, &c.ring))
            .collect();
        Self {
            res,
            cells,
            index: RTree::bulk_load(entries),
        }
    }
}

/// A cell's boundary in world coordinates. A cell straddling the antimeridian is
/// unwrapped eastwards so that it stays one small ring instead of spanning the world.
fn cell_ring(cell: CellId) -> Vec<[f64; 2]> {
    let mut ring: Vec<[f64; 2]> = cell.boundary().into_iter().map(project).collect();
    let (min, max) = ring
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p[0]), hi.max(p[0]))
        });
    if max - min > 0.5 {
        for p in &mut ring {
            if p[0] < 0.5 {
                p[0] += 1.0;
            }
        }
    }
    ring
}

impl SequenceLevel {
    fn build(lines: &[Vec<[f64; 2]>], tolerance: f64) -> Self {
        let lines: Vec<Vec<[f64; 2]>> = lines
            .iter()
            .map(|line| {
                if tolerance <= 0.0 || line.len() < 3 {
                    return line.clone();
                }
                simplify_line(line, tolerance)
            })
            .collect();
        let mut chunks = Vec::new();
        let mut entries = Vec::new();
        for (seq, line) in lines.iter().enumerate() {
            let mut start = 0;
            while start + 1 < line.len() {
                let end = (start + CHUNK_POINTS - 1).min(line.len() - 1);
                if let Some(e) = line
                    .get(start..=end)
                    .and_then(|pts| Entry::around(chunks.len(), pts))
                {
                    entries.push(e);
                    chunks.push(Chunk { seq, start, end });
                }
                start = end;
            }
        }
        Self {
            lines,
            chunks,
            index: RTree::bulk_load(entries),
        }
    }
}

/// Douglas-Peucker tolerance for zoom `z`: one tile unit, in world coordinates.
/// Beyond the advertised max zoom, lines are kept as recorded.
fn simplify_tolerance(z: u8) -> f64 {
    if z > TILEJSON_MAX_ZOOM {
        0.0
    } else {
        1.0 / (f64::from(EXTENT) * 2f64.powi(i32::from(z)))
    }
}

fn point_index(points: impl Iterator<Item = [f64; 2]>) -> RTree<Entry> {
    RTree::bulk_load(
        points
            .enumerate()
            .map(|(i, p)| Entry::point(i, p))
            .collect(),
    )
}

fn data_bounds(
    sequences: &[Sequence],
    coverage: &[CoverageSummary],
    frames: &[FramePoint],
    features: &[MapFeature],
) -> Option<[f64; 4]> {
    let cell_vertices = coverage.iter().flat_map(|c| c.cell.boundary());
    let all = sequences
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .chain(frames.iter().map(|f| f.pos))
        .chain(features.iter().map(|f| f.pos))
        .chain(cell_vertices);
    all.fold(None, |acc: Option<[f64; 4]>, p: LatLon| {
        let (lon, lat) = (p.lon(), p.lat());
        Some(match acc {
            None => [lon, lat, lon, lat],
            Some([w, s, e, n]) => [w.min(lon), s.min(lat), e.max(lon), n.max(lat)],
        })
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Rounds to `1 / scale` (e.g. scale 1000 keeps three decimals).
fn round_dp(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::MAX_ZOOM;
    use chrono::TimeZone;

    fn cell(lat: f64, lon: f64) -> CellId {
        CellId::from_latlon(LatLon::new(lat, lon).unwrap(), 11).unwrap()
    }

    #[test]
    fn coverage_bands_get_coarser_as_zoom_drops() {
        let mut last = Some(0);
        for z in 0..=MAX_ZOOM {
            let r = coverage_resolution(z);
            assert!(COVERAGE_BANDS.contains(&r), "z{z}");
            if let (Some(prev), Some(now)) = (last, r) {
                assert!(now >= prev, "z{z}");
            }
            last = r;
        }
        assert_eq!(coverage_resolution(9), Some(7));
        assert_eq!(coverage_resolution(14), None);
    }

    #[test]
    fn aggregating_coverage_keeps_the_freshest_time_and_sums_counts() {
        let t = |d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        let cov = vec![
            CoverageSummary {
                cell: cell(60.1699, 24.9384),
                last_covered_at: t(10),
                n_contributors: 1,
                n_frames: 5,
            },
            CoverageSummary {
                cell: cell(60.1702, 24.9390),
                last_covered_at: t(12),
                n_contributors: 2,
                n_frames: 7,
            },
        ];
        let level = CoverageLevel::build(Some(7), &cov);
        assert_eq!(level.cells.len(), 1);
        let c = &level.cells[0];
        assert_eq!(c.last_covered_at, t(12));
        assert_eq!((c.n_contributors, c.n_frames), (3, 12));
        assert_eq!(c.h3, cov[0].cell.parent(7).unwrap().to_string());
        let native = CoverageLevel::build(None, &cov);
        assert_eq!(native.cells.len(), 2);
    }

    #[test]
    fn simplification_drops_points_a_tile_unit_cannot_show() {
        // A straight line with tiny wiggles: at zoom 0 it becomes its two end points,
        // beyond the max zoom it is kept as is.
        let line: Vec<[f64; 2]> = (0..100)
            .map(|i| {
                [
                    0.5 + i as f64 * 1e-5,
                    0.3 + if i % 2 == 0 { 0.0 } else { 1e-9 },
                ]
            })
            .collect();
        let coarse = SequenceLevel::build(std::slice::from_ref(&line), simplify_tolerance(0));
        assert_eq!(coarse.lines[0].len(), 2);
        let raw = SequenceLevel::build(std::slice::from_ref(&line), simplify_tolerance(17));
        assert_eq!(raw.lines[0].len(), 100);
        // 100 points in chunks of 32 sharing end points: 0-31, 31-62, 62-93, 93-99.
        assert_eq!(raw.chunks.len(), 4);
    }

    #[test]
    fn a_cell_across_the_antimeridian_stays_a_small_ring() {
        let c = CellId::from_latlon(LatLon::new(0.0, 179.999).unwrap(), 4).unwrap();
        let ring = cell_ring(c);
        let xs: Vec<f64> = ring.iter().map(|p| p[0]).collect();
        let span = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            - xs.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(span < 0.01, "{span}");
    }
}
