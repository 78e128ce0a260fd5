//! `streetcomb worker`, `submit` and `cluster …`: the pipeline on a NATS JetStream
//! work queue (see the `streetcomb-cluster` crate and docs/scaling.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use streetcomb_cluster::{self as cluster, Queue, QueueConfig};
use streetcomb_datasets::Store;
use streetcomb_pipeline::drive_dir;
use streetcomb_vision::VisionConfig;

use crate::cli::report;

/// Where the queue is and how it treats jobs.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// The NATS server (JetStream enabled), e.g. nats://127.0.0.1:4222.
    #[arg(long, env = "STREETCOMB_NATS", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// Seconds a delivered job may go without an acknowledgement or a heartbeat
    /// before it is delivered again (used when the queue is first made).
    #[arg(long, default_value_t = 30)]
    pub ack_wait_s: u64,
    /// Deliveries of a failing job before it goes to the dead letters (used when the
    /// queue is first made).
    #[arg(long, default_value_t = 5)]
    pub max_deliver: i64,
}

impl QueueArgs {
    pub async fn connect(&self) -> Result<Queue> {
        let config = QueueConfig {
            ack_wait: Duration::from_secs(self.ack_wait_s.max(1)),
            max_deliver: self.max_deliver.max(1),
            ..QueueConfig::default()
        };
        Queue::connect(&self.nats, config)
            .await
            .with_context(|| format!("is nats-server running at {} with -js?", self.nats))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub queue: QueueArgs,
    /// The worker's name in `cluster status` (default: worker-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// Vision pipelines in this worker, each on its own frames (default: one per
    /// core, as `process` runs; lower it when several workers share a machine).
    #[arg(long)]
    pub pipelines: Option<usize>,
    /// ONNX Runtime threads per pipeline (default: the cores shared between the
    /// pipelines).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Exit once the queue has been empty this many seconds (default: run until
    /// stopped with Ctrl-C or SIGTERM).
    #[arg(long)]
    pub exit_when_idle_s: Option<f64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Queue depth, jobs in flight, redeliveries, dead letters, and what each worker does.
    Status {
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// Wait until no job is queued or in flight.
    Wait {
        #[command(flatten)]
        queue: QueueArgs,
        /// Give up (exit non-zero) after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout_s: u64,
    },
    /// The jobs that used up their deliveries, with the last error.
    DeadLetters {
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// The same work as the cluster does, in this process, into --store: what a
    /// cluster run must reproduce.
    Local {
        #[arg(required = true)]
        drives: Vec<PathBuf>,
    },
    /// Frames published, detections, features and the latest ledger root of --store,
    /// as JSON.
    Summary,
}

pub async fn worker(store_url: &str, args: &WorkerArgs, vision: VisionConfig) -> Result<()> {
    let queue = args.queue.connect().await?;
    let store = Store::open(store_url).await?;
    let runner = cluster::Runner::new(
        store,
        vision,
        args.pipelines
            .unwrap_or_else(streetcomb_pipeline::available_cores),
        args.threads,
    );
    let mut config = cluster::WorkerConfig {
        exit_when_idle: args.exit_when_idle_s.map(Duration::from_secs_f64),
        ..Default::default()
    };
    if let Some(n) = &args.name {
        config.name.clone_from(n);
    }
    tracing::info!(worker = %config.name, store = store_url, nats = %args.queue.nats, "worker started");
    let report = cluster::run_worker(queue, runner, config, shutdown()).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Drive directories named on the command line, with folders of drives expanded.
fn drive_dirs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(drive_dir::list_drives(p)?);
    }
    Ok(out)
}

pub async fn submit(
    store_url: &str,
    queue: &QueueArgs,
    drives: &[PathBuf],
    contributor: Option<&str>,
    json: bool,
) -> Result<()> {
    let queue = queue.connect().await?;
    let store = Store::open(store_url).await?;
    let mut all = Vec::new();
    for dir in drive_dirs(drives)? {
        let s = cluster::submit(&queue, &store, &dir, contributor)
            .await
            .with_context(|| format!("submitting {}", dir.display()))?;
        all.push((dir, s));
    }
    let submitted: Vec<&cluster::Submitted> = all.iter().map(|(_, s)| s).collect();
    report(json, &submitted, || {
        for (dir, s) in &all {
            println!(
                "{}: drive {}, {} files, {} bytes{}",
                dir.display(),
                s.drive,
                s.files,
                s.bytes,
                if s.duplicate {
                    " (already submitted: no new job)"
                } else {
                    ""
                }
            );
        }
    })
}

pub async fn cluster(
    store_url: &str,
    command: ClusterCommand,
    vision: impl FnOnce() -> streetcomb_pipeline::Result<VisionConfig>,
    quiet: bool,
    json: bool,
) -> Result<()> {
    match command {
        ClusterCommand::Status { queue } => {
            let s = queue.connect().await?.status().await?;
            report(json, &s, || print_status(&s))
        }
        ClusterCommand::Wait { queue, timeout_s } => {
            let s = queue
                .connect()
                .await?
                .wait_idle(Duration::from_secs(timeout_s))
                .await?;
            report(json, &s, || {})
        }
        ClusterCommand::DeadLetters { queue } => {
            let dead = queue.connect().await?.dead_letters().await?;
            report(json, &dead, || {
                for d in &dead {
                    println!(
                        "{} {} after {} deliveries: {}",
                        d.sequence,
                        d.job
                            .as_ref()
                            .map_or_else(|| d.subject.clone(), |j| j.submitted_id()),
                        d.deliveries.unwrap_or(0),
                        d.error.as_deref().unwrap_or("(no error recorded)")
                    );
                }
            })
        }
        ClusterCommand::Local { drives } => {
            let store = Store::open(store_url).await?;
            let dirs = drive_dirs(&drives)?;
            cluster::run_local(&store, &dirs, &vision()?, quiet).await?;
            println!(
                "{}",
                serde_json::to_string(&cluster::summarize(&store).await?)?
            );
            Ok(())
        }
        ClusterCommand::Summary => {
            let store = Store::open(store_url).await?;
            println!(
                "{}",
                serde_json::to_string(&cluster::summarize(&store).await?)?
            );
            Ok(())
        }
    }
}

fn print_status(s: &cluster::ClusterStatus) {
    println!("queued {}, dead letters {}", s.queued, s.dead_letters);
    for k in &s.kinds {
        println!(
            "  {:<9} waiting {:>5}  in flight {:>3}  redelivered {:>3}",
            k.kind.as_str(),
            k.waiting,
            k.in_flight,
            k.redelivered
        );
    }
    println!("workers {}", s.workers.len());
    for w in &s.workers {
        println!(
            "  {:<16} pid {:<7} {:<4} {:<40} done {:>4}  failed {:>3}  redelivered {:>3}",
            w.worker,
            w.pid,
            w.state,
            w.job.as_deref().unwrap_or("-"),
            w.jobs_done,
            w.jobs_failed,
            w.redelivered
        );
    }
}
