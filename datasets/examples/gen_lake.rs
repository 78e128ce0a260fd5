//! Generates a realistic-size lake for the datasets benchmark
//! (`benches/scripts/datasets-bench.sh`): frames of many drives over two weeks in three
//! Finnish cities, features, per-day coverage and a rewards ledger, written through
//! the normal [`Store`] API (so the layout is exactly what the pipeline writes).
//!
//! `cargo run --release -p streetcomb-datasets --example gen_lake -- DIR [FRAMES] [FEATURES]`
//! (defaults: 1,000,000 frames, 100,000 features). Deterministic: a fixed-seed
//! generator ([`SplitMix64`]), no wall clock.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use streetcomb_core::rng::SplitMix64;
use streetcomb_core::testing::FrameBuilder;
use streetcomb_core::{
    Camera, CellId, ContributorId, CoverageCell, DriveId, Epoch, FeatureClass, FeatureId,
    FeatureStatus, Frame, LatLon, LedgerEntry, MapFeature,
};
use streetcomb_datasets::Store;

/// Helsinki, Tampere, Turku: centres (lat, lon).
const CITIES: [(f64, f64); 3] = [(60.1699, 24.9384), (61.4978, 23.7610), (60.4518, 22.2666)];
const DAYS: i64 = 14;
const FRAMES_PER_DRIVE: u32 = 500;
const CONTRIBUTORS: u64 = 300;

fn start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, 2)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

fn frames(n: u64, rng: &mut SplitMix64) -> Result<Vec<Frame>, Box<dyn std::error::Error>> {
    let camera = Camera {
        hfov_deg: 94.5,
        mount_yaw_deg: 0.0,
        width: 1920,
        height: 1080,
    };
    let mut out = Vec::with_capacity(usize::try_from(n)?);
    let mut drive = 0u64;
    while (out.len() as u64) < n {
        let contributor = ContributorId::new(format!("c{:04}", rng.below(CONTRIBUTORS)))?;
        let drive_id = DriveId::new(format!("d{drive:06}"))?;
        let (clat, clon) = CITIES[usize::try_from(rng.below(3))?];
        let (mut lat, mut lon) = (
            clat + (rng.unit() - 0.5) * 0.2,
            clon + (rng.unit() - 0.5) * 0.4,
        );
        let mut heading: f64 = rng.unit() * 360.0;
        let t0 = start() + Duration::seconds(i64::try_from(rng.below(86_400 * DAYS as u64))?);
        for i in 0..FRAMES_PER_DRIVE {
            if out.len() as u64 >= n {
                break;
            }
            heading = (heading + (rng.unit() - 0.5) * 20.0).rem_euclid(360.0);
            // ~10 m per frame.
            lat += heading.to_radians().cos() * 9e-5;
            lon += heading.to_radians().sin() * 1.8e-4;
            let sha = format!(
                "{:016x}{:016x}{:016x}{:016x}",
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64()
            );
            out.push(
                FrameBuilder::new()
                    .drive(&drive_id)
                    .stem(format!("{i:06}"))
                    .contributor(&contributor)
                    .at(t0 + Duration::seconds(i64::from(i)))
                    .pos(LatLon::new(lat, lon)?)
                    .heading(heading)
                    .image_key(format!("images/d{drive:06}/{i:06}.jpg"))
                    .content_sha256(sha)
                    .phash(Some(rng.next_u64()))
                    .camera(camera)
                    .build(),
            );
        }
        drive += 1;
    }
    Ok(out)
}

fn features(n: u64, rng: &mut SplitMix64) -> Result<Vec<MapFeature>, Box<dyn std::error::Error>> {
    let mut out = Vec::with_capacity(usize::try_from(n)?);
    for i in 0..n {
        let (clat, clon) = CITIES[usize::try_from(rng.below(3))?];
        let pos = LatLon::new(
            clat + (rng.unit() - 0.5) * 0.2,
            clon + (rng.unit() - 0.5) * 0.4,
        )?;
        let first = start() + Duration::seconds(i64::try_from(rng.below(86_400 * DAYS as u64))?);
        let last = (first + Duration::seconds(i64::try_from(rng.below(86_400 * 7))?))
            .min(start() + Duration::days(DAYS) - Duration::seconds(1));
        out.push(MapFeature {
            id: FeatureId::new(format!("f{i:08}"))?,
            class: FeatureClass::ALL[usize::try_from(rng.below(4))?],
            pos,
            uncertainty_m: 0.5 + rng.unit() * 3.0,
            n_detections: 1 + u32::try_from(rng.below(20))?,
            n_drives: 1 + u32::try_from(rng.below(5))?,
            confidence: rng.unit(),
            first_seen: first,
            last_seen: last,
            status: FeatureStatus::Confirmed,
            azimuth_deg: Some(rng.unit() * 360.0),
            single_view: false,
            value: None,
        });
    }
    Ok(out)
}

/// Coverage per resolution-11 cell, contributor and day, aggregated from the frames.
fn coverage(frames: &[Frame]) -> Vec<CoverageCell> {
    let mut by: HashMap<(CellId, &ContributorId, NaiveDate), CoverageCell> = HashMap::new();
    for f in frames {
        let day = f.captured_at.date_naive();
        by.entry((f.cell, &f.contributor, day))
            .and_modify(|c| {
                c.n_frames += 1;
                c.last_covered_at = c.last_covered_at.max(f.captured_at);
            })
            .or_insert_with(|| CoverageCell {
                cell: f.cell,
                contributor: f.contributor.clone(),
                day,
                last_covered_at: f.captured_at,
                n_frames: 1,
                heading_deg: f.heading_deg,
            });
    }
    by.into_values().collect()
}

/// One ledger row per contributor, resolution-7 cell and epoch they covered.
fn ledger(cov: &[CoverageCell]) -> Vec<LedgerEntry> {
    let mut by: HashMap<(Epoch, &ContributorId, CellId), u64> = HashMap::new();
    for c in cov {
        let epoch = Epoch::of(c.last_covered_at);
        let cell = c.cell.parent(7).unwrap_or(c.cell);
        *by.entry((epoch, &c.contributor, cell)).or_default() += u64::from(c.n_frames) * 1000;
    }
    by.into_iter()
        .map(|((epoch, contributor, cell), amount)| LedgerEntry {
            epoch,
            contributor: contributor.clone(),
            cell,
            amount,
            reason: "coverage".into(),
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: gen_lake DIR [FRAMES] [FEATURES]")?;
    let n_frames: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let n_features: u64 = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let store = Store::open(&dir).await?;
    let mut rng = SplitMix64::new(0x5eed_cafe_f00d_beef);
    let frames = frames(n_frames, &mut rng)?;
    let cov = coverage(&frames);
    let led = ledger(&cov);
    // Frames arrive as daily uploads: one append per day, as ingest would.
    for day in 0..DAYS {
        let d = (start() + Duration::days(day)).date_naive();
        let batch: Vec<Frame> = frames
            .iter()
            .filter(|f| f.captured_at.date_naive() == d)
            .cloned()
            .collect();
        store.append_frames(&batch).await?;
    }
    store
        .write_features(&features(n_features, &mut rng)?)
        .await?;
    store.write_coverage(&cov).await?;
    store.write_rewards_ledger(&led).await?;
    for d in store.datasets().await? {
        println!(
            "{}: {} rows in {} files, {} bytes",
            d.name, d.rows, d.files, d.bytes
        );
    }
    Ok(())
}
