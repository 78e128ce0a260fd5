//! The data of the tile-serving benchmark (`benches/scripts/tiles-serve.sh`): writes a
//! store holding 200,000 map features and 5,000 published drives of 20 frames
//! (uniformly random in the Helsinki bounding box, like the build benchmark), and a
//! list of the URL paths of every non-empty tile of zooms 0–16 over them.
//!
//! usage: tiles_serve_store STORE_DIR PATHS_FILE
#![allow(clippy::unwrap_used)]

use std::io::Write;

use chrono::{Duration, TimeZone, Utc};
use streetcomb_core::rng::SplitMix64;
use streetcomb_core::testing::FrameBuilder;
use streetcomb_core::{
    CellId, ContributorId, CoverageCell, DriveId, FeatureStatus, FrameId, LatLon, MapFeature,
};

const BBOX: [f64; 4] = [24.78, 60.13, 25.25, 60.30];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store_dir, paths_file] = &args[..] else {
        eprintln!("usage: tiles_serve_store STORE_DIR PATHS_FILE");
        std::process::exit(2);
    };
    let [w, s, e, n] = BBOX;
    let mut rng = SplitMix64::new(2026);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap();
    let features: Vec<MapFeature> = (0..200_000)
        .map(|i| {
            streetcomb_benches::random_feature(i, &mut rng, BBOX, t0, FeatureStatus::Confirmed)
        })
        .collect();
    let mut frames = Vec::new();
    let mut coverage = Vec::new();
    for d in 0..5_000 {
        let drive = DriveId::new(format!("d{d:05}")).unwrap();
        let who = ContributorId::new(format!("c{:03}", d % 300)).unwrap();
        let start = t0 - Duration::minutes((rng.unit() * 40_000.0) as i64);
        let (mut lat, mut lon) = (s + rng.unit() * (n - s), w + rng.unit() * (e - w));
        for i in 0..20 {
            lat = (lat + (rng.unit() - 0.5) * 0.0018).clamp(s, n);
            lon = (lon + (rng.unit() - 0.5) * 0.0036).clamp(w, e);
            let pos = LatLon::new(lat, lon).unwrap();
            let id = FrameId::new(format!("{drive}-{i:02}")).unwrap();
            let at = start + Duration::seconds(30 * i);
            coverage.push(CoverageCell {
                cell: CellId::from_latlon(pos, 11).unwrap(),
                contributor: who.clone(),
                day: at.date_naive(),
                last_covered_at: at,
                n_frames: 1,
                heading_deg: 0.0,
            });
            frames.push(
                FrameBuilder::new()
                    .id(&id)
                    .drive(&drive)
                    .contributor(&who)
                    .at(at)
                    .pos(pos)
                    .cell_resolution(12)
                    .image_key(format!("images/{id}.jpg"))
                    .content_sha256(format!("{:064x}", d * 20 + i as usize))
                    .build(),
            );
        }
    }
    let store = streetcomb_datasets::Store::open(store_dir).await.unwrap();
    store.write_frames(&frames).await.unwrap();
    store.write_coverage(&coverage).await.unwrap();
    store.write_features(&features).await.unwrap();

    // The same tile source the server builds, to list its non-empty tiles.
    let source = streetcomb_tiles::TileSource::build(
        streetcomb_tiles::sequences_from_frames(&frames),
        streetcomb_tiles::coverage_summary(&coverage),
        frames
            .iter()
            .map(|f| streetcomb_tiles::FramePoint::from_frame(f, format!("/{}", f.image_key)))
            .collect(),
        features,
        Utc::now(),
    );
    let mut out = std::io::BufWriter::new(std::fs::File::create(paths_file).unwrap());
    let (mut count, mut bytes) = (0u64, 0u64);
    for z in 0..=16u8 {
        for (x, y) in streetcomb_tiles::tiles_covering(BBOX, z) {
            if let Some(t) = source.tile(z, x, y).unwrap() {
                writeln!(out, "/tiles/{z}/{x}/{y}.mvt").unwrap();
                count += 1;
                bytes += t.len() as u64;
            }
        }
    }
    out.flush().unwrap();
    println!(
        r#"{{"tiles":{count},"mean_bytes":{}}}"#,
        bytes / count.max(1)
    );
}
