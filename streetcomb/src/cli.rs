//! The command-line surface.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use streetcomb_core::{ContributorId, Epoch};
use streetcomb_datasets::Store;

use streetcomb_pipeline::{self as pipeline, drive_dir, eval};
use streetcomb_server::serve;

use crate::{demo, export, query};

#[derive(Debug, Parser)]
#[command(
    name = "streetcomb",
    version,
    about = "Crowdsourced street-level mapping: dashcam drives in, map features, tiles and rewards out"
)]
pub struct Cli {
    /// Where datasets live: a local folder, a file:// URL, or s3://bucket/prefix
    /// (credentials, region and endpoint from the AWS_* environment variables).
    #[arg(
        long,
        global = true,
        env = "STREETCOMB_STORE",
        default_value = "streetcomb-data"
    )]
    pub store: String,
    /// Only warnings and errors; no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Vision configuration (TOML: model files, detector class map, thresholds; see
    /// config/vision.toml); default: the built-in one, which that file spells out.
    #[arg(long, global = true, env = "STREETCOMB_VISION_CONFIG")]
    pub vision_config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline on simulated Helsinki drives and print a summary.
    Demo(DemoArgs),
    /// Simulate contributors driving an OSM extract; writes drive directories.
    Simulate(SimulateArgs),
    /// Geotag drive directories and add their frames to the store.
    Ingest {
        /// Drive directories, or folders holding drive directories.
        #[arg(required = true)]
        drives: Vec<PathBuf>,
        /// Contributor id (default: drive.json's, else "anonymous").
        #[arg(long)]
        contributor: Option<String>,
        /// Drop unreadable JPEGs (reported) instead of rejecting the drive.
        #[arg(long)]
        skip_unreadable: bool,
        /// Ingest parameters as JSON (fields of IngestParams; missing ones keep defaults).
        #[arg(long)]
        params: Option<PathBuf>,
        /// Seconds to add to the camera clock (overrides drive.json and the estimate).
        #[arg(long, allow_hyphen_values = true)]
        clock_offset: Option<f64>,
        /// A circle where nothing is kept: LAT,LON,RADIUS_M (repeatable).
        #[arg(long = "privacy-zone", allow_hyphen_values = true)]
        privacy_zones: Vec<String>,
        /// Metres trimmed at each end of every drive (default 500).
        #[arg(long)]
        privacy_trim: Option<f64>,
    },
    /// Vision: blur faces, detect map features, publish the blurred frames.
    Process {
        /// Parallel frame workers (each runs its own model sessions).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Blur every JPEG of a folder into another (same names and sizes).
    Blur { input: PathBuf, output: PathBuf },
    /// A contact sheet (PNG) of a folder's original frames with every region the blur
    /// would hide outlined in red, to check the blur by eye; OUT.json lists the boxes.
    BlurReview {
        input: PathBuf,
        /// The sheet to write (PNG); the box list goes beside it with a .json extension.
        output: PathBuf,
        /// At most this many frames, the first by file name.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..))]
        max: u32,
        /// Frames per row.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
        cols: u32,
    },
    /// Mapbuild: fuse detections into map features and compute coverage. With an
    /// OSM extract in the store (see `basemap`), each drive is first aligned to its
    /// roads (STREETCOMB_ROAD_ALIGN=off skips that).
    Build,
    /// Run jobs from the cluster's work queue (NATS JetStream) against --store
    /// (shared by all workers: s3://… when they run on several machines).
    Worker(crate::cluster_cmd::WorkerArgs),
    /// Put drive directories into --store and queue their ingest jobs for the workers.
    Submit {
        #[command(flatten)]
        queue: crate::cluster_cmd::QueueArgs,
        /// Drive directories, or folders holding drive directories.
        #[arg(required = true)]
        drives: Vec<PathBuf>,
        /// Contributor id (default: drive.json's, else "anonymous").
        #[arg(long)]
        contributor: Option<String>,
    },
    /// The work queue: status, wait, dead letters; the same work in one process.
    Cluster {
        #[command(subcommand)]
        command: crate::cluster_cmd::ClusterCommand,
    },
    /// Compare built features with the simulator's ground truth.
    Eval {
        /// Folder of simulated drives (with truth.json).
        #[arg(long, conflicts_with = "weeks")]
        truth: Option<PathBuf>,
        /// Instead of the store: simulate this many weeks of drives over an OSM extract
        /// (signs added, removed and moved between weeks; detections straight from the
        /// truth), build the map week by week and score each week.
        #[arg(long)]
        weeks: Option<usize>,
        /// With --weeks: the OSM extract (default: the bundled Helsinki extract).
        #[arg(long, requires = "weeks")]
        osm: Option<PathBuf>,
        /// With --weeks: scenario seed.
        #[arg(long, requires = "weeks", default_value_t = 11)]
        seed: u64,
        /// With --weeks: GPS error, metres (1 sigma per axis).
        #[arg(long, requires = "weeks", default_value_t = 3.0)]
        gps_sigma: f64,
        /// Count a true feature only if it was in view in at least this many frames.
        #[arg(long, default_value_t = 3)]
        min_views: usize,
        /// Also write the report as JSON here.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Compare the built features with an OSM extract's mapped signals and signs:
    /// same / new / missing_in_osm / missing_in_imagery per feature.
    CompareOsm {
        /// OSM extract (.osm.pbf or .osm XML); default: the bundled Helsinki extract.
        #[arg(long)]
        osm: Option<PathBuf>,
        /// A feature and a mapped point of its class match within this, metres.
        #[arg(long, default_value_t = 10.0)]
        radius: f64,
        /// Write every row here (.json or .csv).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Rewards for one weekly epoch.
    Rewards {
        #[command(subcommand)]
        command: RewardsCommand,
    },
    /// Run SQL over the datasets (frames, detections, features, coverage, ingest_report, rewards_ledger, rewards_summary).
    Query {
        sql: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the result to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Also print the bytes the scans read from the store (to standard error).
        #[arg(long)]
        stats: bool,
    },
    /// Dataset maintenance.
    Datasets {
        #[command(subcommand)]
        command: query::DatasetsCommand,
    },
    /// Keep an OSM extract (.osm.pbf) in the store as the basemap `serve` draws under
    /// the data (its roads, water and buildings) and `build` aligns drives to (its
    /// roads); the demo stores its own extract.
    Basemap {
        /// The OSM extract (.osm.pbf); default: the bundled Helsinki extract.
        osm: Option<PathBuf>,
    },
    /// Vector tiles offline.
    Tiles {
        #[command(subcommand)]
        command: TilesCommand,
    },
    /// Send a drive directory to a streetcomb server (resumable; see the README's "Upload API").
    Upload(streetcomb_server::upload_client::UploadArgs),
    /// Contributors' API keys for the upload API.
    Keys {
        #[command(subcommand)]
        command: streetcomb_server::keys::KeysCommand,
    },
    /// Serve the web map, vector tiles, TileJSON, blurred images, read-only SQL and the upload API over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// A cluster's NATS server: committed uploads are queued for its workers
        /// instead of being ingested by this process.
        #[arg(long, env = "STREETCOMB_NATS")]
        nats: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RewardsCommand {
    /// Score an epoch and write its ledger.
    Run {
        /// ISO week, e.g. 2026-W47 (default: the week of the latest frame).
        #[arg(long)]
        epoch: Option<Epoch>,
        /// Reward rules (TOML, see config/rewards.toml); default: the embedded rules.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Base units emitted per epoch (overrides the rules' `emission`).
        #[arg(long)]
        emission: Option<u64>,
    },
    /// Print a contributor's Merkle proof (JSON) against the epoch's published root.
    Proof {
        contributor: ContributorId,
        /// ISO week, e.g. 2026-W47 (default: the latest epoch in the ledger).
        #[arg(long)]
        epoch: Option<Epoch>,
    },
    /// Check a proof (JSON file) against a published root; exits non-zero if invalid.
    Verify {
        #[arg(long)]
        proof: PathBuf,
        /// The published root, in hex.
        #[arg(long)]
        root: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TilesCommand {
    /// Write every non-empty tile to one PMTiles v3 archive (for static hosting).
    Export {
        /// The archive to write (replaced atomically).
        #[arg(long)]
        pmtiles: PathBuf,
        /// Deepest zoom to include.
        #[arg(long, default_value_t = streetcomb_tiles::TILEJSON_MAX_ZOOM,
              value_parser = clap::value_parser!(u8).range(0..=i64::from(streetcomb_tiles::MAX_ZOOM)))]
        max_zoom: u8,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// A Parquet file (use with --output).
    Parquet,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// OSM extract (.osm.pbf or .osm XML); default: the bundled Helsinki extract.
    #[arg(long)]
    pub osm: Option<PathBuf>,
    /// Output folder for drive directories (default: STORE/drives).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    pub contributors: usize,
    /// Route length per contributor, metres.
    #[arg(long, default_value_t = 1200.0)]
    pub route_m: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// GPS error, metres (1 sigma).
    #[arg(long, default_value_t = 3.0)]
    pub gps_sigma: f64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub sim: SimulateArgs,
    /// Keep earlier data in the store instead of starting afresh.
    #[arg(long)]
    pub keep: bool,
}

pub async fn run(cli: Cli) -> Result<()> {
    let vision = || pipeline::models::vision_config(cli.vision_config.as_deref());
    match cli.command {
        Command::Demo(args) => demo::run(&cli.store, &args, &vision()?, cli.quiet, cli.json).await,
        Command::Simulate(args) => {
            let dirs = simulate(&cli.store, &args, cli.quiet)?;
            for d in dirs {
                println!("{}", d.display());
            }
            Ok(())
        }
        Command::Ingest {
            drives,
            contributor,
            skip_unreadable,
            params,
            clock_offset,
            privacy_zones,
            privacy_trim,
        } => {
            let opts = crate::ingest_cmd::IngestOptions {
                drives,
                contributor,
                skip_unreadable,
                params,
                clock_offset_s: clock_offset,
                privacy_zones,
                privacy_trim_m: privacy_trim,
            };
            crate::ingest_cmd::run(&cli.store, opts, cli.quiet, cli.json).await
        }
        Command::Process { workers } => {
            let store = Store::open(&cli.store).await?;
            let workers = workers.unwrap_or_else(pipeline::available_cores);
            let s = pipeline::process(&store, workers, &vision()?, cli.quiet).await?;
            report(cli.json, &s, || {
                println!(
                    "{} frames: {} published, {} withheld; blurred {} faces, {} plates ({:.2} a frame), {} vehicle bands, textured area altered median {:.2} %; {} detections, {} sign texts read",
                    s.frames,
                    s.published,
                    s.withheld,
                    s.faces_blurred,
                    s.plates_blurred,
                    s.plates_per_frame(),
                    s.vehicle_bands,
                    100.0 * s.altered_median,
                    s.detections,
                    s.signs_read
                )
            })
        }
        Command::Blur { input, output } => Ok(pipeline::blur_folder(
            &input,
            &output,
            &vision()?,
            cli.quiet,
        )?),
        Command::BlurReview {
            input,
            output,
            max,
            cols,
        } => {
            let r = pipeline::blur_review::run(
                &input,
                &output,
                max as usize,
                cols,
                &vision()?,
                cli.quiet,
            )?;
            report(cli.json, &r, || {
                let faces: usize = r.frames.iter().map(|f| f.faces.len()).sum();
                println!(
                    "{} frames, {} face regions outlined: {} (boxes in {})",
                    r.frames.len(),
                    faces,
                    output.display(),
                    pipeline::blur_review::json_path(&output).display()
                )
            })
        }
        Command::Basemap { osm } => {
            let store = Store::open(&cli.store).await?;
            let (bytes, name) = pipeline::simulate::read_extract(osm.as_deref())?;
            let c = pipeline::basemap::import(&store, bytes, &name).await?;
            report(cli.json, &c, || {
                println!(
                    "basemap from {name}: {} roads, {} water, {} buildings",
                    c.roads, c.water, c.buildings
                )
            })
        }
        Command::Worker(args) => crate::cluster_cmd::worker(&cli.store, &args, vision()?).await,
        Command::Submit {
            queue,
            drives,
            contributor,
        } => {
            crate::cluster_cmd::submit(
                &cli.store,
                &queue,
                &drives,
                contributor.as_deref(),
                cli.json,
            )
            .await
        }
        Command::Cluster { command } => {
            crate::cluster_cmd::cluster(&cli.store, command, vision, cli.quiet, cli.json).await
        }
        Command::Build => {
            let store = Store::open(&cli.store).await?;
            let s = pipeline::build(&store).await?;
            report(cli.json, &s, || {
                println!(
                    "{} features ({} multi-view), {} covered cells",
                    s.features, s.multi_view, s.cells
                )
            })
        }
        Command::Eval {
            weeks: Some(weeks),
            osm,
            seed,
            gps_sigma,
            min_views,
            output,
            ..
        } => {
            let net = pipeline::simulate::read_network(osm.as_deref())?;
            let cfg = streetcomb_sim::weeks::WeeksConfig {
                weeks,
                seed,
                drive: streetcomb_sim::DriveSettings {
                    gps_sigma_m: gps_sigma,
                    ..Default::default()
                },
                ..Default::default()
            };
            let r = eval::evaluate_weeks(&net, &cfg, min_views)?;
            if let Some(p) = output {
                drive_dir::write_atomic(&p, &serde_json::to_vec_pretty(&r)?)?;
            }
            report(cli.json, &r, || eval::print_weeks(&r))
        }
        Command::CompareOsm {
            osm,
            radius,
            output,
        } => {
            let store = Store::open(&cli.store).await?;
            let net = pipeline::simulate::read_network(osm.as_deref())?;
            let r = crate::compare_osm::run(&store, &net, radius).await?;
            if let Some(p) = output {
                crate::compare_osm::write(&p, &r.rows)?;
            }
            report(cli.json, &r, || crate::compare_osm::print(&r))
        }
        Command::Eval {
            truth,
            min_views,
            output,
            ..
        } => {
            let store = Store::open(&cli.store).await?;
            let dir = truth.unwrap_or_else(|| pipeline::default_drives_dir(&cli.store));
            let (t, views) = eval::read_truth(&dir)?;
            let changes = eval::read_changes(&dir)?;
            let r = eval::evaluate_with_changes(
                &store.read_features().await?,
                &t,
                &views,
                min_views,
                changes.as_deref(),
            );
            if let Some(p) = output {
                drive_dir::write_atomic(&p, &serde_json::to_vec_pretty(&r)?)?;
            }
            report(cli.json, &r, || eval::print_table(&r))
        }
        Command::Rewards {
            command:
                RewardsCommand::Run {
                    epoch,
                    config,
                    emission,
                },
        } => {
            let store = Store::open(&cli.store).await?;
            let mut rules = match &config {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("{}: cannot read the rules", p.display()))?;
                    streetcomb_rewards::Rules::from_toml(&text, &p.display().to_string())?
                }
                None => streetcomb_rewards::Rules::embedded_default(),
            };
            if let Some(e) = emission {
                rules.emission = e;
            }
            let r = pipeline::rewards(&store, epoch, &rules).await?;
            let totals: Vec<(String, u64)> =
                r.totals.iter().map(|(c, v)| (c.to_string(), *v)).collect();
            let root = r.root_hex();
            if cli.json {
                // Standard output stays the plain [contributor, total] array.
                eprintln!("epoch {} merkle root {root}", r.epoch);
            }
            report(cli.json, &totals, || {
                println!("epoch {}: {} ledger rows", r.epoch, r.ledger.len());
                for s in &r.summary {
                    println!(
                        "  {:<20} {:>14}  reputation {:>4}  {}",
                        s.contributor.as_str(),
                        s.total,
                        s.reputation,
                        s.status
                    );
                }
                println!("unallocated {} of {}", r.unallocated, r.emission);
                println!("merkle root {root}");
            })
        }
        Command::Rewards {
            command: RewardsCommand::Proof { contributor, epoch },
        } => {
            let store = Store::open(&cli.store).await?;
            let proof = pipeline::rewards_proof(&store, &contributor, epoch).await?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(())
        }
        Command::Rewards {
            command: RewardsCommand::Verify { proof, root },
        } => {
            let text = std::fs::read_to_string(&proof)
                .with_context(|| format!("{}: cannot read the proof", proof.display()))?;
            let proof: streetcomb_rewards::Proof = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a rewards proof", proof.display()))?;
            if !streetcomb_rewards::verify(&proof, &root) {
                bail!("invalid proof");
            }
            if cli.json {
                println!("{}", serde_json::json!({ "valid": true }));
            } else {
                println!("valid");
            }
            Ok(())
        }
        Command::Datasets { command } => query::datasets(&cli.store, command, cli.json).await,
        Command::Query {
            sql,
            format,
            output,
            stats,
        } => {
            let store = Store::open(&cli.store).await?;
            let batches = if stats {
                let (batches, s) = store.query_with_stats(&sql).await?;
                eprintln!("bytes_scanned={}", s.bytes_scanned);
                batches
            } else {
                store.query(&sql).await?
            };
            let bytes = match format {
                Format::Table => streetcomb_datasets::format_batches(&batches)?.into_bytes(),
                Format::Csv => streetcomb_datasets::batches_to_csv(&batches)?,
                Format::Json => streetcomb_datasets::batches_to_json(&batches)?,
                Format::Parquet => streetcomb_datasets::batches_to_parquet(&batches)?,
            };
            match output {
                Some(p) => Ok(drive_dir::write_atomic(&p, &bytes)?),
                None => {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes)?;
                    if !bytes.ends_with(b"\n") {
                        out.write_all(b"\n")?;
                    }
                    Ok(())
                }
            }
        }
        Command::Tiles {
            command: TilesCommand::Export { pmtiles, max_zoom },
        } => {
            let store = Store::open(&cli.store).await?;
            let s = export::pmtiles(&store, &pmtiles, max_zoom, cli.quiet).await?;
            report(cli.json, &s, || {
                println!(
                    "{} tiles ({} distinct) at zooms {}-{}, {} bytes: {}",
                    s.tiles,
                    s.contents,
                    s.min_zoom,
                    s.max_zoom,
                    s.bytes,
                    pmtiles.display()
                )
            })
        }
        Command::Upload(args) => {
            let r = streetcomb_server::upload_client::upload(&args, cli.quiet).await?;
            report(cli.json, &r, || {
                let s = &r["summary"];
                println!(
                    "uploaded {} (upload {}): {} frames in, {} kept",
                    r["drive"].as_str().unwrap_or_default(),
                    r["id"].as_str().unwrap_or_default(),
                    s["frames_in"],
                    s["kept"]
                );
                for d in s["dropped"].as_array().into_iter().flatten() {
                    println!(
                        "  dropped {:>5}  {}",
                        d[1],
                        d[0].as_str().unwrap_or_default()
                    );
                }
            })
        }
        Command::Keys { command } => {
            let store = Store::open(&cli.store).await?;
            Ok(streetcomb_server::keys::run(&store, command, cli.json).await?)
        }
        Command::Serve { addr, nats } => {
            let store = Store::open(&cli.store).await?;
            let queue = match nats {
                Some(url) => Some(
                    streetcomb_cluster::Queue::connect(&url, Default::default())
                        .await
                        .with_context(|| format!("is nats-server running at {url} with -js?"))?,
                ),
                None => None,
            };
            Ok(serve::serve(store, &addr, queue).await?)
        }
    }
}

/// Prints `value` as JSON with `--json`, else runs `human`.
pub(crate) fn report<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(),
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human();
    }
    Ok(())
}

/// Simulates drives as `args` say and writes them as drive directories.
pub fn simulate(store: &str, args: &SimulateArgs, quiet: bool) -> Result<Vec<PathBuf>> {
    let cfg = streetcomb_sim::SimConfig {
        seed: args.seed,
        contributors: args.contributors,
        drive: streetcomb_sim::DriveSettings {
            route_length_m: args.route_m,
            gps_sigma_m: args.gps_sigma,
            ..Default::default()
        },
        ..Default::default()
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| pipeline::default_drives_dir(store));
    Ok(pipeline::simulate::simulate(
        args.osm.as_deref(),
        &cfg,
        &out,
        quiet,
    )?)
}
