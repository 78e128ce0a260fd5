//! `streetcomb worker`: takes jobs off the queue one at a time and runs them.
//!
//! A job's followers are published before the job is acknowledged, under ids derived
//! from the job's own, so a worker killed between the two leaves a job that is
//! delivered again, run again (idempotent) and whose followers the queue drops as
//! duplicates. While a job runs, an in-progress heartbeat every third of `ack_wait`
//! keeps it from being redelivered to another worker.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use tokio::sync::Mutex;

use crate::error::{NatsContext, Result};
use crate::job::{Job, KINDS, Kind};
use crate::queue::{Queue, WorkerState};
use crate::run::Runner;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Its name in `cluster status`.
    pub name: String,
    /// Pause between polls of an empty queue.
    pub idle_poll: Duration,
    /// Stop once this worker found no job for this long and nothing is left in the
    /// queue (benchmarks, tests); `None` runs until stopped.
    pub exit_when_idle: Option<Duration>,
    /// Delay before a failed job is offered again.
    pub retry_delay: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            name: format!("worker-{}", std::process::id()),
            idle_poll: Duration::from_millis(200),
            exit_when_idle: None,
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WorkerReport {
    pub jobs_done: u64,
    pub jobs_failed: u64,
    /// Jobs it got that had been delivered before (to a worker that died or failed).
    pub redelivered: u64,
}

/// Runs jobs until `stop` resolves (checked between jobs) or, with
/// `exit_when_idle`, the queue stays empty.
pub async fn run_worker(
    queue: Queue,
    mut runner: Runner,
    config: WorkerConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<WorkerReport> {
    let mut consumers = Vec::new();
    for kind in KINDS {
        consumers.push((kind, queue.consumer(kind).await?));
    }
    let state = Arc::new(Mutex::new(WorkerState {
        worker: config.name.clone(),
        pid: std::process::id(),
        state: "idle".into(),
        job: None,
        kind: None,
        delivery: None,
        jobs_done: 0,
        jobs_failed: 0,
        redelivered: 0,
        updated_at: chrono::Utc::now(),
    }));
    let bucket = queue.workers_bucket().await?;
    let beat = {
        let (state, bucket, name) = (state.clone(), bucket.clone(), config.name.clone());
        tokio::spawn(async move {
            loop {
                let json = {
                    let mut s = state.lock().await;
                    s.updated_at = chrono::Utc::now();
                    serde_json::to_vec(&*s).unwrap_or_default()
                };
                if let Err(e) = bucket.put(&name, json.into()).await {
                    tracing::debug!("cannot refresh the worker state: {e}");
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        })
    };
    let dead = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.forward_dead_letters().await })
    };
    tokio::pin!(stop);
    let mut report = WorkerReport::default();
    let mut idle_since = tokio::time::Instant::now();
    let outcome = loop {
        if futures::poll!(&mut stop).is_ready() {
            break Ok(());
        }
        let mut got = None;
        for (kind, c) in &consumers {
            match next_message(c).await {
                Ok(Some(m)) => {
                    got = Some((*kind, m));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("polling {}: {e}", kind.as_str());
                }
            }
        }
        let Some((kind, msg)) = got else {
            // Idle means nothing left in the queue at all: a job in flight on a dead
            // worker comes back after its ack wait.
            if config
                .exit_when_idle
                .is_some_and(|d| idle_since.elapsed() >= d)
                && queue.status().await.is_ok_and(|s| s.queued == 0)
            {
                break Ok(());
            }
            tokio::time::sleep(config.idle_poll).await;
            continue;
        };
        if let Err(e) = handle(&queue, &mut runner, &config, &state, kind, msg, &mut report).await {
            tracing::warn!("{e}");
        }
        idle_since = tokio::time::Instant::now();
    };
    beat.abort();
    dead.abort();
    let _ = bucket.delete(&config.name).await;
    outcome.map(|()| report)
}

async fn next_message(c: &jetstream::consumer::PullConsumer) -> Result<Option<jetstream::Message>> {
    let mut batch = c
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .nats("fetching a job")?;
    match batch.next().await {
        Some(m) => m.map(Some).nats("fetching a job"),
        None => Ok(None),
    }
}

/// The job's stream sequence and which delivery this is.
fn delivery_of(msg: &jetstream::Message) -> (u64, i64) {
    msg.info()
        .map(|i| (i.stream_sequence, i.delivered))
        .unwrap_or((0, 1))
}

async fn handle(
    queue: &Queue,
    runner: &mut Runner,
    config: &WorkerConfig,
    state: &Mutex<WorkerState>,
    kind: Kind,
    msg: jetstream::Message,
    report: &mut WorkerReport,
) -> Result<()> {
    let (seq, delivery) = delivery_of(&msg);
    let id = msg
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_else(|| format!("seq:{seq}"));
    if delivery > 1 {
        report.redelivered += 1;
    }
    let job: Job = match serde_json::from_slice(&msg.payload) {
        Ok(j) => j,
        Err(e) => {
            // Not a job: no worker could ever run it.
            let reason = format!("not a job: {e}");
            queue.bury(seq, delivery, Some(&reason)).await?;
            msg.ack_with(AckKind::Term).await.nats("terminating")?;
            return Ok(());
        }
    };
    tracing::info!(job = %id, delivery, "running");
    {
        let mut s = state.lock().await;
        s.state = "busy".into();
        s.job = Some(id.clone());
        s.kind = Some(kind);
        s.delivery = Some(delivery);
        s.redelivered = report.redelivered;
    }
    // Heartbeats from their own task: vision blocks this one while it computes.
    let heartbeat = msg.reply.clone().map(|reply| {
        let client = queue.client().clone();
        let every = queue.config().ack_wait / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = client.publish(reply.clone(), "+WPI".into()).await;
            }
        })
    });
    let result = runner.run(&job).await;
    if let Some(h) = heartbeat {
        h.abort();
    }
    let outcome = settle(queue, config, &msg, &id, result, report).await;
    let mut s = state.lock().await;
    s.state = "idle".into();
    s.job = None;
    s.kind = None;
    s.delivery = None;
    s.jobs_done = report.jobs_done;
    s.jobs_failed = report.jobs_failed;
    outcome
}

/// Publishes a finished job's followers and acknowledges it, or hands a failed one
/// back (or to the dead letters on its last delivery).
async fn settle(
    queue: &Queue,
    config: &WorkerConfig,
    msg: &jetstream::Message,
    id: &str,
    result: Result<Vec<Job>>,
    report: &mut WorkerReport,
) -> Result<()> {
    let (seq, delivery) = delivery_of(msg);
    match result {
        Ok(next) => {
            for n in &next {
                queue.publish(n, &n.followup_id(id)).await?;
            }
            msg.double_ack().await.nats(format!("acknowledging {id}"))?;
            report.jobs_done += 1;
            tracing::info!(job = %id, followers = next.len(), "done");
            Ok(())
        }
        Err(e) => {
            report.jobs_failed += 1;
            let reason = e.to_string();
            tracing::warn!(job = %id, delivery, "failed: {reason}");
            if delivery >= queue.config().max_deliver {
                // Last delivery: bury it now, with the reason (the advisory carries none).
                queue.bury(seq, delivery, Some(&reason)).await?;
                msg.ack_with(AckKind::Term).await.nats("terminating")?;
            } else {
                msg.ack_with(AckKind::Nak(Some(config.retry_delay)))
                    .await
                    .nats("rejecting")?;
            }
            Ok(())
        }
    }
}
