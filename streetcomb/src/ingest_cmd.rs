//! `streetcomb ingest`: read drive directories, apply the command-line overrides
//! (parameters file, clock offset, privacy zones), run ingest, and print the report
//! per drive.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use streetcomb_datasets::Store;
use streetcomb_ingest::{IngestParams, PrivacyZone};

use streetcomb_pipeline::drive_dir;
use streetcomb_pipeline::{self as pipeline, IngestSummary};

/// The `ingest` subcommand's options.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub drives: Vec<PathBuf>,
    pub contributor: Option<String>,
    pub skip_unreadable: bool,
    pub params: Option<PathBuf>,
    pub clock_offset_s: Option<f64>,
    pub privacy_zones: Vec<String>,
    pub privacy_trim_m: Option<f64>,
}

/// Reads `IngestParams` from a JSON file; missing fields keep their defaults.
pub fn load_params(path: &Path) -> Result<IngestParams> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: invalid ingest parameters", path.display()))
}

/// Parses `LAT,LON,RADIUS_M`.
pub fn parse_zone(s: &str) -> Result<PrivacyZone> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("privacy zone {s:?}: expected LAT,LON,RADIUS_M"))?;
    let [lat, lon, radius_m] = parts[..] else {
        bail!("privacy zone {s:?}: expected LAT,LON,RADIUS_M");
    };
    if streetcomb_core::LatLon::new(lat, lon).is_err() || !(radius_m.is_finite() && radius_m >= 0.0)
    {
        bail!("privacy zone {s:?}: not a valid position and radius");
    }
    Ok(PrivacyZone { lat, lon, radius_m })
}

pub async fn run(store: &str, opts: IngestOptions, quiet: bool, json: bool) -> Result<()> {
    let mut params = match &opts.params {
        Some(p) => load_params(p)?,
        None => IngestParams::default(),
    };
    if opts.skip_unreadable {
        params.strict_jpeg = false;
    }
    let zones: Vec<PrivacyZone> = opts
        .privacy_zones
        .iter()
        .map(|z| parse_zone(z))
        .collect::<Result<_>>()?;
    let store = Store::open(store).await?;
    let mut inputs = Vec::new();
    for d in &opts.drives {
        for dir in drive_dir::list_drives(d)? {
            let mut input = drive_dir::read_drive_with_clock(
                &dir,
                opts.contributor.as_deref(),
                opts.clock_offset_s,
            )?;
            if opts.clock_offset_s.is_some() {
                input.clock_offset_s = opts.clock_offset_s;
            }
            if opts.privacy_trim_m.is_some() {
                input.privacy_trim_m = opts.privacy_trim_m;
            }
            input.privacy_zones.extend(zones.iter().copied());
            inputs.push(input);
        }
    }
    if inputs.is_empty() {
        bail!(
            "no drive directory (a folder with a track file, frames/ or a video) found in the arguments"
        );
    }
    let s = pipeline::ingest(&store, inputs, &params, quiet).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_summary(&s);
    }
    Ok(())
}

/// The human report: totals, then a block per drive.
pub fn print_summary(s: &IngestSummary) {
    println!(
        "{} drives, {} frames in, {} kept, {} flagged as replays",
        s.drives, s.frames_in, s.kept, s.replays
    );
    for (reason, n) in &s.dropped {
        println!("  dropped {n:>5}  {reason}");
    }
    for (reason, n) in &s.flagged {
        println!("  flagged {n:>5}  {reason} (kept, earns no rewards)");
    }
    for d in &s.per_drive {
        println!();
        println!(
            "drive {} ({}): {} in, {} kept in {} sequences, {} replays, {} flagged",
            d.drive_id, d.contributor, d.frames_in, d.kept, d.sequences, d.replays, d.flagged
        );
        for (reason, n) in &d.dropped {
            println!("  dropped {n:>5}  {reason}");
        }
        println!(
            "  gps: {} points from {}, {} kept",
            d.points.input, d.points.source, d.points.kept
        );
        for (reason, n) in &d.points.dropped {
            println!("  gps dropped {n:>5}  {reason}");
        }
        let source = serde_json::to_value(d.clock.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!("  clock offset: {:+.3} s ({source})", d.clock.seconds);
    }
}
