//! End-to-end checks of the vector tiles: decoded with an independent MVT reader.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::f64::consts::PI;
use std::fmt::Write as _;
use std::io::Read;

use chrono::{DateTime, Duration, TimeZone, Utc};
use geo::{Coord, Geometry, LineString};
use mvt_reader::Reader;
use mvt_reader::feature::{Feature, Value};
use streetcomb_core::rng::SplitMix64;
use streetcomb_core::{
    CellId, ContributorId, CoverageCell, FeatureClass, FeatureId, FeatureStatus, LatLon, MapFeature,
};
use streetcomb_tiles::{
    BaseWay, Basemap, BasemapCounts, CoverageSummary, FramePoint, MAX_TILE_BYTES, Sequence,
    TileError, TileSource, coverage_summary, tile_bounds, tiles_covering,
};

// ---------------------------------------------------------------- helpers

const HELSINKI: (f64, f64) = (60.1699, 24.9384);

fn ll(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

/// Web Mercator tile coordinates (fractional tiles), written out independently of
/// the crate: x = (lon + 180) / 360 · 2^z, y = (1 − asinh(tan φ) / π) / 2 · 2^z.
fn tile_xy(lat: f64, lon: f64, z: u8) -> (f64, f64) {
    let n = 2f64.powi(i32::from(z));
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - lat.to_radians().tan().asinh() / PI) / 2.0 * n;
    (x, y)
}

/// The tile holding a position and its pixel (tile unit) inside that tile.
fn tile_and_pixel(lat: f64, lon: f64, z: u8) -> ((u32, u32), (i32, i32)) {
    let (x, y) = tile_xy(lat, lon, z);
    let (tx, ty) = (x.floor(), y.floor());
    (
        (tx as u32, ty as u32),
        (
            ((x - tx) * 4096.0).round() as i32,
            ((y - ty) * 4096.0).round() as i32,
        ),
    )
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Layer name -> features with integer tile coordinates, in tile order.
fn decode(bytes: &[u8]) -> Vec<(String, Vec<Feature<i32>>)> {
    let reader = Reader::new(gunzip(bytes)).unwrap();
    let meta = reader.get_layer_metadata().unwrap();
    meta.iter()
        .map(|l| {
            assert_eq!(l.extent, 4096, "layer {}", l.name);
            assert_eq!(l.version, 2, "layer {}", l.name);
            (
                l.name.clone(),
                reader.get_features_as::<i32>(l.layer_index).unwrap(),
            )
        })
        .collect()
}

fn layer<'a>(tile: &'a [(String, Vec<Feature<i32>>)], name: &str) -> Option<&'a [Feature<i32>]> {
    tile.iter()
        .find(|(n, _)| n == name)
        .map(|(_, f)| f.as_slice())
}

fn names(tile: &[(String, Vec<Feature<i32>>)]) -> Vec<&str> {
    tile.iter().map(|(n, _)| n.as_str()).collect()
}

fn prop<'a>(f: &'a Feature<i32>, key: &str) -> &'a Value {
    f.properties
        .as_ref()
        .and_then(|p| p.get(key))
        .unwrap_or_else(|| panic!("no property {key}"))
}

fn string(v: &Value) -> &str {
    match v {
        Value::String(s) => s,
        other => panic!("{other:?} is not a string"),
    }
}

fn the_point(f: &Feature<i32>) -> (i32, i32) {
    match &f.geometry {
        Geometry::MultiPoint(mp) if mp.0.len() == 1 => (mp.0[0].x(), mp.0[0].y()),
        Geometry::Point(p) => (p.x(), p.y()),
        other => panic!("not a single point: {other:?}"),
    }
}

/// Twice the surveyor's-formula area of a closed ring; positive = exterior per MVT 2.1.
fn ring_area2(ring: &LineString<i32>) -> i64 {
    ring.0
        .windows(2)
        .map(|w| {
            let (a, b): (Coord<i32>, Coord<i32>) = (w[0], w[1]);
            i64::from(a.x) * i64::from(b.y) - i64::from(b.x) * i64::from(a.y)
        })
        .sum()
}

fn exterior_rings(f: &Feature<i32>) -> Vec<LineString<i32>> {
    match &f.geometry {
        Geometry::Polygon(p) => vec![p.exterior().clone()],
        Geometry::MultiPolygon(mp) => mp.0.iter().map(|p| p.exterior().clone()).collect(),
        other => panic!("not a polygon: {other:?}"),
    }
}

fn map_feature(id: &str, lat: f64, lon: f64) -> MapFeature {
    MapFeature {
        id: FeatureId::new(id).unwrap(),
        class: FeatureClass::StopSign,
        pos: ll(lat, lon),
        uncertainty_m: 1.234,
        n_detections: 7,
        n_drives: 2,
        confidence: 0.875,
        first_seen: now() - Duration::days(3),
        last_seen: now() - Duration::hours(5),
        status: FeatureStatus::Confirmed,
        azimuth_deg: Some(180.0),
        single_view: false,
        value: None,
    }
}

fn frame_point(id: &str, lat: f64, lon: f64, at: DateTime<Utc>) -> FramePoint {
    FramePoint {
        frame_id: id.to_owned(),
        pos: ll(lat, lon),
        heading_deg: 92.04,
        captured_at: at,
        image_url: format!("https://img.example/{id}.jpg"),
    }
}

/// A small scene around one stop sign in central Helsinki: one coverage cell (res 11)
/// under it, a drive passing east-west through it, and one frame.
fn small_scene() -> TileSource {
    let (lat, lon) = HELSINKI;
    let t0 = now() - Duration::days(2);
    let seq = Sequence {
        drive_id: "drive-1".into(),
        contributor: "alice".into(),
        points: vec![
            ll(lat, lon - 0.002),
            ll(lat, lon),
            ll(lat + 0.001, lon + 0.002),
        ],
        start: t0,
        end: t0 + Duration::seconds(40),
    };
    let cov = CoverageSummary {
        cell: CellId::from_latlon(ll(lat, lon), 11).unwrap(),
        last_covered_at: t0 + Duration::seconds(20),
        n_contributors: 1,
        n_frames: 3,
    };
    TileSource::build(
        vec![seq],
        vec![cov],
        vec![frame_point(
            "drive-1/000002",
            lat,
            lon - 0.0003,
            t0 + Duration::seconds(20),
        )],
        vec![map_feature("stop-1", lat + 0.0001, lon + 0.0002)],
        now(),
    )
}

// ---------------------------------------------------------------- grid

#[test]
fn tile_bounds_of_zoom_zero_is_the_whole_mercator_world() {
    let [w, s, e, n] = tile_bounds(0, 0, 0);
    assert_eq!((w, e), (-180.0, 180.0));
    assert!((n - 85.051_128_779_806_6).abs() < 1e-9, "{n}");
    assert!((s + 85.051_128_779_806_6).abs() < 1e-9, "{s}");
}

#[test]
fn tile_bounds_of_the_helsinki_tile_10_582_296_hold_the_city_centre() {
    let [w, s, e, n] = tile_bounds(10, 582, 296);
    assert!((w - 24.609_375).abs() < 1e-12, "{w}");
    assert!((e - 24.960_937_5).abs() < 1e-12, "{e}");
    assert!((s - 60.064_840_460_104_5).abs() < 1e-9, "{s}");
    assert!((n - 60.239_811_169_998_9).abs() < 1e-9, "{n}");
    let (lat, lon) = HELSINKI;
    assert!(w < lon && lon < e && s < lat && lat < n);
    let covering: Vec<_> = tiles_covering([lon, lat, lon, lat], 10).collect();
    assert_eq!(covering, vec![(582, 296)]);
}

// ---------------------------------------------------------------- layers

#[test]
fn a_tile_holding_one_feature_decodes_to_four_layers_with_the_feature_at_its_pixel() {
    let src = small_scene();
    let (lat, lon) = (HELSINKI.0 + 0.0001, HELSINKI.1 + 0.0002);
    let ((x, y), pixel) = tile_and_pixel(lat, lon, 16);
    let tile = decode(&src.tile(16, x, y).unwrap().unwrap());
    assert_eq!(
        names(&tile),
        vec!["coverage", "sequences", "frames", "features"]
    );

    let features = layer(&tile, "features").unwrap();
    assert_eq!(features.len(), 1);
    let f = &features[0];
    assert_eq!(the_point(f), pixel);
    assert_eq!(string(prop(f, "id")), "stop-1");
    assert_eq!(string(prop(f, "class")), "stop_sign");
    assert_eq!(string(prop(f, "status")), "confirmed");
    assert_eq!(prop(f, "confidence"), &Value::Double(0.875));
    assert_eq!(prop(f, "n_detections"), &Value::UInt(7));
    assert_eq!(prop(f, "uncertainty_m"), &Value::Double(1.23));
    assert_eq!(string(prop(f, "first_seen")), "2026-11-17T12:00:00Z");
    assert_eq!(string(prop(f, "last_seen")), "2026-11-20T07:00:00Z");
    // Only signs that show a number carry `value`.
    assert!(f.properties.as_ref().unwrap().get("value").is_none());

    let frame = &layer(&tile, "frames").unwrap()[0];
    assert_eq!(string(prop(frame, "frame_id")), "drive-1/000002");
    assert_eq!(prop(frame, "heading"), &Value::Double(92.0));
    assert_eq!(
        string(prop(frame, "image_url")),
        "https://img.example/drive-1/000002.jpg"
    );
    let (_, frame_pixel) = tile_and_pixel(HELSINKI.0, HELSINKI.1 - 0.0003, 16);
    assert_eq!(the_point(frame), frame_pixel);

    let cell = &layer(&tile, "coverage").unwrap()[0];
    let expected_h3 = CellId::from_latlon(ll(HELSINKI.0, HELSINKI.1), 11).unwrap();
    assert_eq!(string(prop(cell, "h3")), expected_h3.to_string());
    assert_eq!(prop(cell, "n_frames"), &Value::UInt(3));
    assert_eq!(prop(cell, "n_contributors"), &Value::UInt(1));
    // Covered 2 days minus 20 s before `now`.
    let age = 2.0 - 20.0 / 86_400.0;
    assert_eq!(
        prop(cell, "age_days"),
        &Value::Double((age * 1e3f64).round() / 1e3)
    );
    assert_eq!(
        prop(cell, "freshness"),
        &Value::Double(((1.0 - age / 7.0) * 1e3f64).round() / 1e3)
    );
    assert_eq!(
        string(prop(cell, "last_covered_at")),
        "2026-11-18T12:00:20Z"
    );

    let seq = &layer(&tile, "sequences").unwrap()[0];
    assert_eq!(string(prop(seq, "drive_id")), "drive-1");
    assert_eq!(string(prop(seq, "contributor")), "alice");
    assert_eq!(string(prop(seq, "start")), "2026-11-18T12:00:00Z");
    assert_eq!(string(prop(seq, "end")), "2026-11-18T12:00:40Z");
}

#[test]
fn a_speed_limit_feature_carries_its_number_into_the_tile() {
    let (lat, lon) = (HELSINKI.0 + 0.0001, HELSINKI.1 + 0.0002);
    let mut limit = map_feature("limit-1", lat, lon);
    limit.class = FeatureClass::SpeedLimit;
    limit.value = Some(40);
    let src = TileSource::build(Vec::new(), Vec::new(), Vec::new(), vec![limit], now());
    let ((x, y), _) = tile_and_pixel(lat, lon, 16);
    let tile = decode(&src.tile(16, x, y).unwrap().unwrap());
    let f = &layer(&tile, "features").unwrap()[0];
    assert_eq!(string(prop(f, "class")), "speed_limit");
    assert_eq!(prop(f, "value"), &Value::UInt(40));
}

#[test]
fn frames_are_absent_below_zoom_14_and_features_below_zoom_12() {
    let src = small_scene();
    let (lat, lon) = HELSINKI;
    let at = |z: u8| {
        let ((x, y), _) = tile_and_pixel(lat, lon, z);
        decode(&src.tile(z, x, y).unwrap().unwrap())
    };
    assert!(layer(&at(14), "frames").is_some());
    assert!(layer(&at(13), "frames").is_none());
    assert!(layer(&at(13), "features").is_some());
    assert!(layer(&at(12), "features").is_some());
    assert!(layer(&at(11), "features").is_none());
    assert_eq!(names(&at(11)), vec!["coverage", "sequences"]);
    // At zoom 9 coverage is aggregated to the res-7 parent cell.
    let z9 = at(9);
    let parent = CellId::from_latlon(ll(lat, lon), 7).unwrap();
    assert_eq!(
        string(prop(&layer(&z9, "coverage").unwrap()[0], "h3")),
        parent.to_string()
    );
}

#[test]
fn coverage_rings_are_closed_and_wound_clockwise_in_tile_coordinates() {
    // Cells along a line that crosses a tile edge, so some rings are clipped.
    let (lat, lon) = HELSINKI;
    let ((x, y), _) = tile_and_pixel(lat, lon, 15);
    let [w, _, e, _] = tile_bounds(15, x, y);
    let cov: Vec<CoverageSummary> = (0..60)
        .map(|i| {
            let lon = w + (e - w) * (-0.2 + 1.4 * f64::from(i) / 59.0);
            CoverageSummary {
                cell: CellId::from_latlon(ll(lat, lon), 11).unwrap(),
                last_covered_at: now(),
                n_contributors: 1,
                n_frames: 1,
            }
        })
        .collect();
    let src = TileSource::build(vec![], cov, vec![], vec![], now());
    for z in [15u8, 16] {
        let ((x, y), _) = tile_and_pixel(lat, lon, z);
        let tile = decode(&src.tile(z, x, y).unwrap().unwrap());
        let cells = layer(&tile, "coverage").unwrap();
        assert!(cells.len() > 3, "z{z}: {}", cells.len());
        let mut clipped = 0;
        for f in cells {
            for ring in exterior_rings(f) {
                assert!(
                    ring.0.len() >= 4,
                    "a ring needs 3 corners and its closing point"
                );
                assert_eq!(ring.0.first(), ring.0.last(), "ring is closed");
                assert!(
                    ring_area2(&ring) > 0,
                    "exterior ring must be clockwise: {ring:?}"
                );
                for c in &ring.0 {
                    assert!(
                        (-64..=4160).contains(&c.x) && (-64..=4160).contains(&c.y),
                        "{c:?}"
                    );
                }
                if ring.0.iter().any(|c| c.x == -64 || c.x == 4160) {
                    clipped += 1;
                }
            }
        }
        assert!(
            clipped > 0,
            "z{z}: some cell should be cut at the buffer edge"
        );
    }
}

#[test]
fn sequences_are_clipped_to_the_buffered_tile_and_simplified_at_low_zoom() {
    let (lat, lon) = HELSINKI;
    // A wiggly 2 km drive east, one point every ~2 m.
    let points: Vec<LatLon> = (0..1000)
        .map(|i| {
            let wiggle = if i % 2 == 0 { 0.0 } else { 0.000_005 };
            ll(lat + wiggle, lon - 0.02 + 0.04 * f64::from(i) / 999.0)
        })
        .collect();
    let seq = Sequence {
        drive_id: "d".into(),
        contributor: "c".into(),
        points,
        start: now(),
        end: now(),
    };
    let src = TileSource::build(vec![seq], vec![], vec![], vec![], now());
    let vertices = |z: u8| {
        let ((x, y), _) = tile_and_pixel(lat, lon, z);
        let tile = decode(&src.tile(z, x, y).unwrap().unwrap());
        let f = &layer(&tile, "sequences").unwrap()[0];
        let coords: Vec<Coord<i32>> = match &f.geometry {
            Geometry::LineString(l) => l.0.clone(),
            Geometry::MultiLineString(m) => m.0.iter().flat_map(|l| l.0.clone()).collect(),
            other => panic!("not a line: {other:?}"),
        };
        for c in &coords {
            assert!(
                (-64..=4160).contains(&c.x) && (-64..=4160).contains(&c.y),
                "z{z} {c:?}"
            );
        }
        coords.len()
    };
    // At z16 (~300 m tiles) the drive leaves the tile on both sides, wiggles intact.
    assert!(vertices(16) > 50);
    // At z10 the 0.5 m wiggles are far below one tile unit (~19 m): a straight line.
    assert_eq!(vertices(10), 2);
}

// ---------------------------------------------------------------- golden

/// A stable text rendering of a decoded tile: layers in order, then each feature's
/// geometry and its properties sorted by key.
fn render(tile: &[(String, Vec<Feature<i32>>)]) -> String {
    let mut out = String::new();
    for (name, features) in tile {
        writeln!(out, "layer {name}: {} feature(s)", features.len()).unwrap();
        for f in features {
            let geom = match &f.geometry {
                Geometry::MultiPoint(mp) => {
                    let pts: Vec<String> =
                        mp.0.iter()
                            .map(|p| format!("{} {}", p.x(), p.y()))
                            .collect();
                    format!("POINT ({})", pts.join(", "))
                }
                Geometry::LineString(l) => format!("LINESTRING ({})", coords(&l.0)),
                Geometry::MultiLineString(m) => {
                    let parts: Vec<String> =
                        m.0.iter().map(|l| format!("({})", coords(&l.0))).collect();
                    format!("MULTILINESTRING ({})", parts.join(", "))
                }
                Geometry::MultiPolygon(mp) => {
                    let parts: Vec<String> =
                        mp.0.iter()
                            .map(|p| format!("(({}))", coords(&p.exterior().0)))
                            .collect();
                    format!("MULTIPOLYGON ({})", parts.join(", "))
                }
                other => format!("{other:?}"),
            };
            writeln!(out, "  {geom}").unwrap();
            let props: BTreeMap<&String, &Value> =
                f.properties.iter().flat_map(HashMap::iter).collect();
            for (k, v) in props {
                writeln!(out, "    {k} = {v:?}").unwrap();
            }
        }
    }
    out
}

fn coords(c: &[Coord<i32>]) -> String {
    c.iter()
        .map(|c| format!("{} {}", c.x, c.y))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn a_decoded_tile_matches_the_golden_snapshot() {
    let src = small_scene();
    let ((x, y), _) = tile_and_pixel(HELSINKI.0, HELSINKI.1, 16);
    assert_eq!((x, y), (37_307, 18_969));
    let tile = decode(&src.tile(16, x, y).unwrap().unwrap());
    insta::assert_snapshot!("helsinki_z16_37307_18969", render(&tile));
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let (a, b) = (small_scene(), small_scene());
    let ((x, y), _) = tile_and_pixel(HELSINKI.0, HELSINKI.1, 16);
    let first = a.tile(16, x, y).unwrap().unwrap();
    assert_eq!(first, a.tile(16, x, y).unwrap().unwrap());
    assert_eq!(first, b.tile(16, x, y).unwrap().unwrap());
}

#[test]
fn requests_outside_the_grid_fail_and_tiles_without_data_are_none() {
    let src = small_scene();
    assert!(matches!(
        src.tile(23, 0, 0),
        Err(TileError::ZoomTooHigh { z: 23, .. })
    ));
    assert!(matches!(
        src.tile(3, 8, 0),
        Err(TileError::OutOfRange { .. })
    ));
    assert!(matches!(
        src.tile(3, 0, 8),
        Err(TileError::OutOfRange { .. })
    ));
    assert!(src.tile(22, 0, 0).unwrap().is_none());
    // The far side of the world from Helsinki.
    assert!(src.tile(2, 0, 3).unwrap().is_none());
    let empty = TileSource::build(vec![], vec![], vec![], vec![], now());
    assert!(empty.tile(0, 0, 0).unwrap().is_none());
    assert!(empty.bounds().is_none());
}

// ---------------------------------------------------------------- tilejson

#[test]
fn tilejson_advertises_the_tiles_zooms_bounds_and_layers() {
    let src = small_scene();
    let tj = serde_json::to_value(src.tilejson("https://tiles.example/{z}/{x}/{y}.mvt")).unwrap();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(tj["name"], "streetcomb");
    assert_eq!(tj["tiles"][0], "https://tiles.example/{z}/{x}/{y}.mvt");
    assert_eq!(tj["minzoom"], 0);
    assert_eq!(tj["maxzoom"], 16);
    let bounds: Vec<f64> = tj["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let [w, s, e, n] = src.bounds().unwrap();
    assert_eq!(bounds, vec![w, s, e, n]);
    let (lat, lon) = HELSINKI;
    assert!(w < lon && lon < e && s < lat && lat < n);
    assert!(
        e - w < 0.01 && n - s < 0.01,
        "bounds hug the data: {bounds:?}"
    );
    let center = tj["center"].as_array().unwrap();
    assert_eq!(center.len(), 3);
    let zoom = center[2].as_f64().unwrap();
    assert!((10.0..=16.0).contains(&zoom), "{zoom}");
    let layers = tj["vector_layers"].as_array().unwrap();
    let ids: Vec<&str> = layers.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["coverage", "sequences", "frames", "features"]);
    assert_eq!(layers[2]["minzoom"], 14);
    assert_eq!(layers[3]["minzoom"], 12);
    assert_eq!(layers[0]["fields"]["freshness"], "Number");
    assert_eq!(layers[3]["fields"]["class"], "String");
    for l in layers {
        assert_eq!(l["maxzoom"], 16);
        assert!(l["fields"].as_object().is_some_and(|f| !f.is_empty()));
    }
    assert!(tj.get("attribution").is_none());
}

// ---------------------------------------------------------------- scale

/// 200 drives × 1000 frames (200k frame points, ~3 m apart) on a street grid with
/// 150 m blocks covering 4 km × 4 km of Helsinki, their coverage and 5000 features.
fn city() -> (TileSource, Vec<FramePoint>) {
    const DRIVES: usize = 200;
    const FRAMES_PER_DRIVE: usize = 1000;
    const STEP_M: f64 = 3.0;
    const BLOCK_STEPS: i64 = 50;
    const BLOCKS: i64 = 26;
    let (lat0, lon0) = (60.15f64, 24.90f64);
    let m_lat = 1.0 / 111_320.0;
    let m_lon = 1.0 / (111_320.0 * lat0.to_radians().cos());
    let mut rng = SplitMix64::new(7);
    let day0 = now() - Duration::days(10);
    let mut frames = Vec::with_capacity(DRIVES * FRAMES_PER_DRIVE);
    let mut sequences = Vec::new();
    let mut coverage_rows = Vec::new();
    for d in 0..DRIVES {
        let drive = format!("drive-{d:04}");
        let who = ContributorId::new(format!("contrib-{:02}", d % 37)).unwrap();
        let start = day0 + Duration::minutes(rng.below(10 * 24 * 60) as i64);
        // Position in steps on the grid; drive along streets, turning at crossings.
        let (mut gx, mut gy) = (
            rng.below(BLOCKS as u64) as i64 * BLOCK_STEPS,
            rng.below(BLOCKS as u64) as i64 * BLOCK_STEPS,
        );
        let (mut dx, mut dy) = (1i64, 0i64);
        let mut points = Vec::with_capacity(FRAMES_PER_DRIVE);
        for i in 0..FRAMES_PER_DRIVE {
            if gx % BLOCK_STEPS == 0 && gy % BLOCK_STEPS == 0 {
                loop {
                    (dx, dy) = [(1, 0), (-1, 0), (0, 1), (0, -1)][rng.below(4) as usize];
                    let (nx, ny) = (gx + dx * BLOCK_STEPS, gy + dy * BLOCK_STEPS);
                    let max = BLOCKS * BLOCK_STEPS;
                    if (0..=max).contains(&nx) && (0..=max).contains(&ny) {
                        break;
                    }
                }
            }
            gx += dx;
            gy += dy;
            let pos = ll(
                lat0 + gy as f64 * STEP_M * m_lat + (rng.unit() - 0.5) * 2.0 * m_lat,
                lon0 + gx as f64 * STEP_M * m_lon + (rng.unit() - 0.5) * 2.0 * m_lon,
            );
            let at = start + Duration::seconds(i as i64);
            let heading = if dx != 0 {
                90.0 - 90.0 * dx as f64
            } else {
                90.0 + 90.0 * dy as f64
            };
            frames.push(FramePoint {
                frame_id: format!("{drive}/{i:06}"),
                pos,
                heading_deg: heading + rng.unit(),
                captured_at: at,
                image_url: format!("https://img.streetcomb.example/blurred/{drive}/{i:06}.jpg"),
            });
            coverage_rows.push(CoverageCell {
                cell: CellId::from_latlon(pos, 11).unwrap(),
                contributor: who.clone(),
                day: at.date_naive(),
                last_covered_at: at,
                n_frames: 1,
                heading_deg: heading,
            });
            points.push(pos);
        }
        sequences.push(Sequence {
            drive_id: drive,
            contributor: who.to_string(),
            points,
            start,
            end: start + Duration::seconds(FRAMES_PER_DRIVE as i64 - 1),
        });
    }
    let features = (0..5000)
        .map(|i| {
            let mut f = map_feature(
                &format!("feat-{i:05}"),
                lat0 + rng.unit() * 3900.0 * m_lat,
                lon0 + rng.unit() * 3900.0 * m_lon,
            );
            f.confidence = rng.unit();
            f.n_detections = 1 + rng.below(20) as u32;
            f.uncertainty_m = rng.unit() * 5.0;
            f
        })
        .collect();
    let coverage = coverage_summary(&coverage_rows);
    assert!(coverage.len() > 1000);
    let src = TileSource::build(sequences, coverage, frames.clone(), features, now());
    (src, frames)
}

#[test]
fn a_city_of_200k_frames_keeps_every_z0_to_z16_tile_under_500_kb_and_decodable() {
    let (src, frames) = city();
    assert_eq!(frames.len(), 200_000);
    let bounds = src.bounds().unwrap();
    let mut largest = (0usize, (0u8, 0u32, 0u32));
    let mut tiles = 0;
    for z in 0..=16u8 {
        for (x, y) in tiles_covering(bounds, z) {
            let Some(bytes) = src.tile(z, x, y).unwrap() else {
                continue;
            };
            tiles += 1;
            assert!(
                bytes.len() <= MAX_TILE_BYTES,
                "{z}/{x}/{y}: {} bytes",
                bytes.len()
            );
            if bytes.len() > largest.0 {
                largest = (bytes.len(), (z, x, y));
            }
            let decoded = decode(&bytes);
            assert!(!decoded.is_empty(), "{z}/{x}/{y}");
            if z < 14 {
                assert!(layer(&decoded, "frames").is_none(), "{z}/{x}/{y}");
            }
            if z < 12 {
                assert!(layer(&decoded, "features").is_none(), "{z}/{x}/{y}");
            }
        }
    }
    println!(
        "{tiles} tiles; largest {} bytes at {:?}",
        largest.0, largest.1
    );
    assert!(tiles > 200, "{tiles}");

    // The densest z14 tile holds more frames than fit: thinning must have kicked in,
    // leaving an even sample rather than nothing.
    let mut per_tile: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for f in &frames {
        let ((x, y), _) = tile_and_pixel(f.pos.lat(), f.pos.lon(), 14);
        *per_tile.entry((x, y)).or_default() += 1;
    }
    let (&(x, y), &inside) = per_tile
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
        .unwrap();
    let decoded = decode(&src.tile(14, x, y).unwrap().unwrap());
    let shown = layer(&decoded, "frames").unwrap().len();
    assert!(shown < inside, "{shown} of {inside} frames shown");
    assert!(shown > inside / 64, "{shown} of {inside} frames shown");
}

// ---------------------------------------------------------------- pmtiles

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
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

/// A gzip-compressed PMTiles directory: `(tile_id, offset, length, run_length)`.
fn pmtiles_directory(gz: &[u8]) -> Vec<(u64, u64, u64, u64)> {
    let b = gunzip(gz);
    let mut at = 0;
    let n = read_varint(&b, &mut at) as usize;
    let mut ids = Vec::new();
    let mut id = 0;
    for _ in 0..n {
        id += read_varint(&b, &mut at);
        ids.push(id);
    }
    let runs: Vec<u64> = (0..n).map(|_| read_varint(&b, &mut at)).collect();
    let lens: Vec<u64> = (0..n).map(|_| read_varint(&b, &mut at)).collect();
    let mut out: Vec<(u64, u64, u64, u64)> = Vec::new();
    for i in 0..n {
        let v = read_varint(&b, &mut at);
        let offset = match out.last() {
            Some(&(_, o, l, _)) if v == 0 => o + l,
            _ => v - 1,
        };
        out.push((ids[i], offset, lens[i], runs[i]));
    }
    assert_eq!(at, b.len(), "trailing bytes in a directory");
    out
}

/// The PMTiles TileID, written out from the specification: tiles of all lower
/// zooms, then the Hilbert index of (x, y) at this zoom.
fn hilbert_tile_id(z: u8, x: u32, y: u32) -> u64 {
    let n = 1i64 << z;
    let (mut x, mut y) = (i64::from(x), i64::from(y));
    let mut d = 0i64;
    let mut s = n / 2;
    while s > 0 {
        let rx = i64::from(x & s > 0);
        let ry = i64::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    ((1u64 << (2 * z)) - 1) / 3 + d as u64
}

#[test]
fn a_pmtiles_archive_holds_every_non_empty_tile_of_zooms_0_to_16() {
    let src = small_scene();
    let mut cur = std::io::Cursor::new(Vec::new());
    let stats = streetcomb_tiles::write_pmtiles(&src, 16, &mut cur).unwrap();
    let a = cur.into_inner();
    assert_eq!(stats.bytes, a.len() as u64);

    // Header.
    assert_eq!(&a[0..7], b"PMTiles");
    assert_eq!(a[7], 3, "spec version");
    assert_eq!(
        (a[96], a[97], a[98], a[99]),
        (1, 2, 2, 1),
        "clustered, gzip, gzip, MVT"
    );
    assert_eq!((a[100], a[101]), (0, 16), "zoom range");
    let [w, s, e, n] = src.bounds().unwrap();
    let e7 = |v: f64| (v * 1e7).round() as i32;
    assert_eq!(
        [
            le_i32(&a, 102),
            le_i32(&a, 106),
            le_i32(&a, 110),
            le_i32(&a, 114)
        ],
        [e7(w), e7(s), e7(e), e7(n)]
    );
    let (root_off, root_len) = (le_u64(&a, 8) as usize, le_u64(&a, 16) as usize);
    assert!(
        root_off + root_len <= 16_384,
        "root within the first 16 KiB"
    );
    let (meta_off, meta_len) = (le_u64(&a, 24) as usize, le_u64(&a, 32) as usize);
    let leaf_off = le_u64(&a, 40) as usize;
    let data_off = le_u64(&a, 56) as usize;
    let addressed = le_u64(&a, 72);
    assert_eq!(addressed, stats.tiles);

    let meta: serde_json::Value =
        serde_json::from_slice(&gunzip(&a[meta_off..meta_off + meta_len])).unwrap();
    let layers: Vec<&str> = meta["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(layers, ["coverage", "sequences", "frames", "features"]);

    // Directory, leaves followed, as TileID -> tile bytes.
    let mut tiles: BTreeMap<u64, &[u8]> = BTreeMap::new();
    let mut last_id = None;
    for (id, off, len, run) in pmtiles_directory(&a[root_off..root_off + root_len]) {
        let entries = if run == 0 {
            let at = leaf_off + off as usize;
            pmtiles_directory(&a[at..at + len as usize])
        } else {
            vec![(id, off, len, run)]
        };
        for (id, off, len, run) in entries {
            assert!(last_id < Some(id), "entries in TileID order");
            last_id = Some(id);
            let at = data_off + off as usize;
            for k in 0..run {
                tiles.insert(id + k, &a[at..at + len as usize]);
            }
        }
    }
    assert_eq!(tiles.len() as u64, addressed);

    // Every tile the source yields, searched well beyond the data, is in the
    // archive with the same bytes.
    let mut found = 0;
    for z in 0..=16u8 {
        let max = (1u32 << z) - 1;
        let cover: Vec<(u32, u32)> = tiles_covering([w, s, e, n], z).collect();
        let (x0, x1) = (
            cover.iter().map(|t| t.0).min().unwrap(),
            cover.iter().map(|t| t.0).max().unwrap(),
        );
        let (y0, y1) = (
            cover.iter().map(|t| t.1).min().unwrap(),
            cover.iter().map(|t| t.1).max().unwrap(),
        );
        for x in x0.saturating_sub(3)..=(x1 + 3).min(max) {
            for y in y0.saturating_sub(3)..=(y1 + 3).min(max) {
                if let Some(bytes) = src.tile(z, x, y).unwrap() {
                    found += 1;
                    assert_eq!(
                        tiles.get(&hilbert_tile_id(z, x, y)).copied(),
                        Some(&bytes[..]),
                        "{z}/{x}/{y}"
                    );
                }
            }
        }
    }
    assert_eq!(found, addressed, "no tile beyond those the source yields");
    assert!(found >= 17, "at least one tile per zoom: {found}");
}

// ---------------------------------------------------------------- basemap

fn way(tags: &[(&str, &str)], pts: &[(f64, f64)]) -> BaseWay {
    BaseWay {
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        points: pts.iter().map(|&(lat, lon)| ll(lat, lon)).collect(),
    }
}

/// A primary road through the Helsinki tile, a footway, a closed building and a
/// pond, all inside z16 tile 37307/18969.
fn small_basemap() -> Basemap {
    let (lat, lon) = HELSINKI;
    Basemap::from_ways(&[
        way(
            &[("highway", "primary"), ("name", "Mannerheimintie")],
            &[(lat - 0.01, lon), (lat, lon + 0.0004), (lat + 0.01, lon)],
        ),
        way(
            &[("highway", "footway")],
            &[(lat, lon - 0.0010), (lat + 0.0003, lon - 0.0010)],
        ),
        way(
            &[("building", "yes")],
            &[
                (lat + 0.0002, lon - 0.0004),
                (lat + 0.0002, lon - 0.0001),
                (lat + 0.0004, lon - 0.0001),
                (lat + 0.0004, lon - 0.0004),
                (lat + 0.0002, lon - 0.0004),
            ],
        ),
        way(
            &[("natural", "water")],
            &[
                (lat - 0.0006, lon - 0.0006),
                (lat - 0.0006, lon - 0.0002),
                (lat - 0.0003, lon - 0.0004),
                (lat - 0.0006, lon - 0.0006),
            ],
        ),
        // Not drawn: a tag the basemap does not know.
        way(
            &[("power", "line")],
            &[(lat, lon), (lat + 0.001, lon + 0.001)],
        ),
    ])
}

#[test]
fn a_decoded_basemap_tile_matches_the_golden_snapshot() {
    let map = small_basemap();
    assert_eq!(
        map.counts(),
        BasemapCounts {
            roads: 2,
            water: 1,
            buildings: 1
        }
    );
    let ((x, y), _) = tile_and_pixel(HELSINKI.0, HELSINKI.1, 16);
    let tile = decode(&map.tile(16, x, y).unwrap().unwrap());
    assert_eq!(names(&tile), vec!["water", "roads", "buildings"]);
    insta::assert_snapshot!("basemap_helsinki_z16_37307_18969", render(&tile));
}

#[test]
fn basemap_layers_appear_at_their_zooms_and_roads_are_clipped_to_the_buffer() {
    let map = small_basemap();
    let at = |z: u8| {
        let ((x, y), _) = tile_and_pixel(HELSINKI.0, HELSINKI.1, z);
        decode(&map.tile(z, x, y).unwrap().unwrap())
    };
    // z7: nothing (primary roads start at 8, water areas at 8).
    let ((x7, y7), _) = tile_and_pixel(HELSINKI.0, HELSINKI.1, 7);
    assert!(map.tile(7, x7, y7).unwrap().is_none());
    // z12: the pond and the primary road; paths and buildings come at 14.
    let z12 = at(12);
    assert_eq!(names(&z12), vec!["water", "roads"]);
    let roads = layer(&z12, "roads").unwrap();
    assert_eq!(roads.len(), 1);
    assert_eq!(string(prop(&roads[0], "class")), "primary");
    assert_eq!(string(prop(&roads[0], "name")), "Mannerheimintie");
    // z16: the road runs 1.1 km each way, far beyond the tile: clipped to the buffer.
    let z16 = at(16);
    let roads = layer(&z16, "roads").unwrap();
    assert_eq!(roads.len(), 2);
    for f in roads {
        let lines: Vec<&LineString<i32>> = match &f.geometry {
            Geometry::LineString(l) => vec![l],
            Geometry::MultiLineString(m) => m.0.iter().collect(),
            other => panic!("not a line: {other:?}"),
        };
        for c in lines.iter().flat_map(|l| l.0.iter()) {
            assert!(
                (-64..=4160).contains(&c.x) && (-64..=4160).contains(&c.y),
                "{c:?}"
            );
        }
    }
    for f in layer(&z16, "buildings")
        .unwrap()
        .iter()
        .chain(layer(&z16, "water").unwrap())
    {
        for ring in exterior_rings(f) {
            assert!(ring_area2(&ring) > 0, "exterior ring wound as MVT 2.1 asks");
        }
    }
    // Nothing under a tile far away.
    assert!(map.tile(16, 0, 0).unwrap().is_none());
}

#[test]
fn the_bundled_helsinki_extract_gives_a_basemap_of_streets_and_buildings() {
    let pbf = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/osm/helsinki.osm.pbf"),
    )
    .unwrap();
    let map = Basemap::from_pbf(&pbf[..]).unwrap();
    let c = map.counts();
    assert!(c.roads > 500 && c.buildings > 100, "{c:?}");
    let [w, s, e, n] = map.bounds().unwrap();
    assert!(w < HELSINKI.1 && HELSINKI.1 < e && s < HELSINKI.0 && HELSINKI.0 < n);
    let ((x, y), _) = tile_and_pixel(HELSINKI.0, HELSINKI.1, 15);
    let tile = decode(&map.tile(15, x, y).unwrap().unwrap());
    let classes: std::collections::BTreeSet<&str> = layer(&tile, "roads")
        .unwrap()
        .iter()
        .map(|f| string(prop(f, "class")))
        .collect();
    assert!(classes.len() >= 3, "{classes:?}");
    assert!(layer(&tile, "buildings").is_some_and(|b| b.len() > 10));
    // Garbage is refused with a reason, not a panic.
    assert!(Basemap::from_pbf(&b"not a pbf"[..]).is_err());
}
