//! The data of the tile-building benchmark (`benches/scripts/tiles-build.sh`), and our
//! side of it: 200,000 points and 5,000 lines of 20 vertices, uniformly random in the
//! Helsinki bounding box (the peer figures' data set, see the README).
//!
//! * `tiles_build geojson FILE` writes them as GeoJSON (newline-delimited features),
//!   points as map features and lines as drives, with the properties our layers carry;
//! * `tiles_build pmtiles FILE` builds the tile source from the same data and writes
//!   every tile of zooms 0–16 to a PMTiles archive, then prints one JSON line of
//!   timings and counts.
#![allow(clippy::unwrap_used)]

use std::io::{BufWriter, Write};
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use streetcomb_core::rng::SplitMix64;
use streetcomb_core::{FeatureStatus, LatLon, MapFeature};
use streetcomb_tiles::{Sequence, TileSource};

const POINTS: usize = 200_000;
const LINES: usize = 5_000;
const VERTICES: usize = 20;
/// West, south, east, north.
const BBOX: [f64; 4] = [24.78, 60.13, 25.25, 60.30];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap()
}

fn data() -> (Vec<MapFeature>, Vec<Sequence>) {
    let mut rng = SplitMix64::new(2026);
    let [w, s, e, n] = BBOX;
    let statuses = [
        FeatureStatus::New,
        FeatureStatus::Confirmed,
        FeatureStatus::Moved,
        FeatureStatus::Removed,
    ];
    let features = (0..POINTS)
        .map(|i| streetcomb_benches::random_feature(i, &mut rng, BBOX, t0(), statuses[i % 4]))
        .collect();
    let sequences = (0..LINES)
        .map(|i| {
            // A random walk of 20 vertices ~100 m apart from a random start.
            let (mut lat, mut lon) = (s + rng.unit() * (n - s), w + rng.unit() * (e - w));
            let points = (0..VERTICES)
                .map(|_| {
                    lat = (lat + (rng.unit() - 0.5) * 0.0018).clamp(s, n);
                    lon = (lon + (rng.unit() - 0.5) * 0.0036).clamp(w, e);
                    LatLon::new(lat, lon).unwrap()
                })
                .collect();
            let start = t0() - Duration::minutes((rng.unit() * 40_000.0) as i64);
            Sequence {
                drive_id: format!("d{i:05}"),
                contributor: format!("c{:03}", i % 300),
                points,
                start,
                end: start + Duration::seconds(600),
            }
        })
        .collect();
    (features, sequences)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn write_geojson(path: &str) {
    let (features, sequences) = data();
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    for f in &features {
        writeln!(
            out,
            r#"{{"type":"Feature","properties":{{"id":"{}","class":"{}","confidence":{},"n_detections":{},"status":"{}","first_seen":"{}","last_seen":"{}","uncertainty_m":{}}},"geometry":{{"type":"Point","coordinates":[{:.7},{:.7}]}}}}"#,
            f.id,
            f.class.as_str(),
            f.confidence,
            f.n_detections,
            f.status.as_str(),
            rfc3339(f.first_seen),
            rfc3339(f.last_seen),
            f.uncertainty_m,
            f.pos.lon(),
            f.pos.lat()
        )
        .unwrap();
    }
    for s in &sequences {
        let coords: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("[{:.7},{:.7}]", p.lon(), p.lat()))
            .collect();
        writeln!(
            out,
            r#"{{"type":"Feature","properties":{{"drive_id":"{}","contributor":"{}","start":"{}","end":"{}"}},"geometry":{{"type":"LineString","coordinates":[{}]}}}}"#,
            s.drive_id,
            s.contributor,
            rfc3339(s.start),
            rfc3339(s.end),
            coords.join(",")
        )
        .unwrap();
    }
    out.flush().unwrap();
}

fn write_pmtiles(path: &str) {
    let (features, sequences) = data();
    let started = Instant::now();
    let source = TileSource::build(sequences, Vec::new(), Vec::new(), features, t0());
    let indexed = started.elapsed().as_secs_f64();
    let file = std::fs::File::create(path).unwrap();
    let stats = streetcomb_tiles::write_pmtiles(&source, 16, BufWriter::new(file)).unwrap();
    let total = started.elapsed().as_secs_f64();
    println!(
        r#"{{"seconds":{total:.3},"index_seconds":{indexed:.3},"tiles":{},"bytes":{}}}"#,
        stats.tiles, stats.bytes
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["geojson", path] => write_geojson(path),
        ["pmtiles", path] => write_pmtiles(path),
        _ => {
            eprintln!("usage: tiles_build geojson FILE | tiles_build pmtiles FILE");
            std::process::exit(2);
        }
    }
}
