//! The work queue on NATS JetStream.
//!
//! * Stream `STREETCOMB_JOBS` (work-queue retention, subjects `streetcomb.jobs.*`):
//!   a message is a [`Job`] in JSON, gone once a worker acknowledges it. Publishers
//!   set `Nats-Msg-Id`, so a job published twice within the duplicate window is
//!   stored once.
//! * One durable pull consumer per [`Kind`], explicit acks: a job not acknowledged
//!   within `ack_wait` (a killed worker; live workers send in-progress heartbeats) is
//!   delivered again, at most `max_deliver` times. The serial kinds allow one job in
//!   flight across the cluster ([`Kind::serial`]).
//! * Stream `STREETCOMB_DEAD` (subjects `streetcomb.dead.*`): jobs that used up
//!   their deliveries, copied there from the work queue when the server's
//!   max-deliveries advisory arrives (and removed from the work queue), with the
//!   last error when a worker saw it.
//! * Key-value bucket `streetcomb_workers`: each worker's state, refreshed every few
//!   seconds and expiring when a worker stops refreshing it.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, kv, stream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, NatsContext, Result};
use crate::job::{DEAD_SUBJECT, JOBS_SUBJECT, Job, KINDS, Kind};

pub const JOBS_STREAM: &str = "STREETCOMB_JOBS";
pub const DEAD_STREAM: &str = "STREETCOMB_DEAD";
pub const WORKERS_BUCKET: &str = "streetcomb_workers";
/// Header of a dead letter: deliveries made before it was given up.
pub const DELIVERIES_HEADER: &str = "Streetcomb-Deliveries";
/// Header of a dead letter: the last error a worker reported.
pub const ERROR_HEADER: &str = "Streetcomb-Error";

/// How the queue treats jobs. Fixed when the streams and consumers are first made.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    /// A job not acknowledged (nor reported in progress) for this long is delivered
    /// again.
    pub ack_wait: Duration,
    /// Deliveries of one job before it goes to the dead letters.
    pub max_deliver: i64,
    /// Publications of one job id within this window are stored once.
    pub duplicate_window: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            duplicate_window: Duration::from_secs(3600),
        }
    }
}

/// A connection to the work queue.
#[derive(Clone)]
pub struct Queue {
    client: async_nats::Client,
    js: jetstream::Context,
    config: QueueConfig,
}

/// What publishing a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Published {
    pub sequence: u64,
    /// The id was published before, within the window: nothing new was queued.
    pub duplicate: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Connects and makes the streams, consumers and bucket if missing.
    pub async fn connect(url: &str, config: QueueConfig) -> Result<Queue> {
        let client = async_nats::ConnectOptions::new()
            .name("streetcomb")
            .connect(url)
            .await
            .nats(format!("connecting to {url}"))?;
        let js = jetstream::new(client.clone());
        let q = Queue { client, js, config };
        q.ensure().await?;
        Ok(q)
    }

    pub fn config(&self) -> QueueConfig {
        self.config
    }

    pub(crate) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    async fn ensure(&self) -> Result<()> {
        let jobs = self
            .js
            .get_or_create_stream(stream::Config {
                name: JOBS_STREAM.into(),
                subjects: vec![format!("{JOBS_SUBJECT}.*")],
                retention: stream::RetentionPolicy::WorkQueue,
                duplicate_window: self.config.duplicate_window,
                ..Default::default()
            })
            .await
            .nats(format!("making stream {JOBS_STREAM}"))?;
        for kind in KINDS {
            jobs.get_or_create_consumer(kind.as_str(), self.consumer_config(kind))
                .await
                .nats(format!("making consumer {}", kind.as_str()))?;
        }
        self.js
            .get_or_create_stream(stream::Config {
                name: DEAD_STREAM.into(),
                subjects: vec![format!("{DEAD_SUBJECT}.*")],
                duplicate_window: self.config.duplicate_window,
                ..Default::default()
            })
            .await
            .nats(format!("making stream {DEAD_STREAM}"))?;
        if self.js.get_key_value(WORKERS_BUCKET).await.is_err() {
            self.js
                .create_key_value(kv::Config {
                    bucket: WORKERS_BUCKET.into(),
                    history: 1,
                    max_age: Duration::from_secs(30),
                    ..Default::default()
                })
                .await
                .nats(format!("making bucket {WORKERS_BUCKET}"))?;
        }
        Ok(())
    }

    fn consumer_config(&self, kind: Kind) -> consumer::pull::Config {
        consumer::pull::Config {
            durable_name: Some(kind.as_str().into()),
            filter_subject: kind.subject(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.config.ack_wait,
            max_deliver: self.config.max_deliver,
            max_ack_pending: if kind.serial() { 1 } else { 1000 },
            ..Default::default()
        }
    }

    /// A stream, with its state as of now (`cached_info`).
    async fn stream(&self, name: &str) -> Result<stream::Stream> {
        self.js
            .get_stream(name)
            .await
            .nats(format!("opening stream {name}"))
    }

    pub(crate) async fn consumer(&self, kind: Kind) -> Result<consumer::PullConsumer> {
        self.stream(JOBS_STREAM)
            .await?
            .get_consumer(kind.as_str())
            .await
            .nats(format!("opening consumer {}", kind.as_str()))
    }

    /// Queues `job` under `id` (its `Nats-Msg-Id`).
    pub async fn publish(&self, job: &Job, id: &str) -> Result<Published> {
        let ack = self
            .js
            .send_publish(
                job.kind().subject(),
                jetstream::message::PublishMessage::build()
                    .payload(job.to_json().into())
                    .message_id(id),
            )
            .await
            .nats(format!("publishing {id}"))?
            .await
            .nats(format!("publishing {id}"))?;
        Ok(Published {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Queues a job a user asked for, under [`Job::submitted_id`].
    pub async fn submit(&self, job: &Job) -> Result<Published> {
        self.publish(job, &job.submitted_id()).await
    }

    /// Copies work-queue message `seq` to the dead letters (once per `seq`) and
    /// removes it from the work queue.
    pub(crate) async fn bury(&self, seq: u64, deliveries: i64, error: Option<&str>) -> Result<()> {
        let jobs = self.stream(JOBS_STREAM).await?;
        let Ok(msg) = jobs.get_raw_message(seq).await else {
            // Already buried by another worker, or acknowledged after all.
            return Ok(());
        };
        let kind = msg
            .subject
            .rsplit('.')
            .next()
            .unwrap_or("unknown")
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("dead:{seq}").as_str());
        headers.insert(DELIVERIES_HEADER, deliveries.to_string().as_str());
        if let Some(e) = error {
            // Header values are one line.
            headers.insert(ERROR_HEADER, e.replace(['\r', '\n'], " ").as_str());
        }
        self.js
            .publish_with_headers(format!("{DEAD_SUBJECT}.{kind}"), headers, msg.payload)
            .await
            .nats("publishing a dead letter")?
            .await
            .nats("publishing a dead letter")?;
        let _ = jobs.delete_message(seq).await;
        tracing::warn!(seq, kind, deliveries, "job moved to the dead letters");
        Ok(())
    }

    /// Listens for the server's max-deliveries advisories and buries each job they
    /// name. Every worker runs one; burying is idempotent. Returns when the
    /// connection closes.
    pub async fn forward_dead_letters(&self) -> Result<()> {
        let subject = format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS_STREAM}.*");
        let mut sub = self
            .client
            .subscribe(subject.clone())
            .await
            .nats(format!("subscribing to {subject}"))?;
        #[derive(Deserialize)]
        struct Advisory {
            stream_seq: u64,
            deliveries: i64,
        }
        while let Some(msg) = sub.next().await {
            match serde_json::from_slice::<Advisory>(&msg.payload) {
                Ok(a) => {
                    if let Err(e) = self.bury(a.stream_seq, a.deliveries, None).await {
                        tracing::warn!("cannot bury job {}: {e}", a.stream_seq);
                    }
                }
                Err(e) => tracing::warn!("unreadable max-deliveries advisory: {e}"),
            }
        }
        Ok(())
    }

    /// The dead letters, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let dead = self.stream(DEAD_STREAM).await?;
        let state = &dead.cached_info().state;
        let (first, last) = (state.first_sequence, state.last_sequence);
        let mut out = Vec::new();
        for seq in first.max(1)..=last {
            let Ok(m) = dead.get_raw_message(seq).await else {
                continue;
            };
            let header = |k: &str| m.headers.get(k).map(|v| v.as_str().to_owned());
            out.push(DeadLetter {
                sequence: seq,
                subject: m.subject.to_string(),
                job: serde_json::from_slice(&m.payload).ok(),
                deliveries: header(DELIVERIES_HEADER).and_then(|d| d.parse().ok()),
                error: header(ERROR_HEADER),
            });
        }
        Ok(out)
    }

    pub(crate) async fn workers_bucket(&self) -> Result<kv::Store> {
        self.js
            .get_key_value(WORKERS_BUCKET)
            .await
            .nats(format!("opening bucket {WORKERS_BUCKET}"))
    }

    /// Queue depth, jobs in flight, redeliveries, dead letters and workers.
    pub async fn status(&self) -> Result<ClusterStatus> {
        let jobs = self.stream(JOBS_STREAM).await?;
        let queued = jobs.cached_info().state.messages;
        let mut kinds = Vec::new();
        for kind in KINDS {
            let mut c: consumer::PullConsumer = jobs
                .get_consumer(kind.as_str())
                .await
                .nats(format!("opening consumer {}", kind.as_str()))?;
            let info = c.info().await.nats("reading a consumer")?;
            kinds.push(KindStatus {
                kind,
                waiting: info.num_pending,
                in_flight: info.num_ack_pending as u64,
                redelivered: info.num_redelivered as u64,
            });
        }
        let dead_letters = self.stream(DEAD_STREAM).await?.cached_info().state.messages;
        let bucket = self.workers_bucket().await?;
        let mut workers = Vec::new();
        let mut keys = bucket.keys().await.nats("listing workers")?;
        while let Some(k) = keys.next().await {
            let Ok(k) = k else { continue };
            if let Ok(Some(v)) = bucket.get(&k).await
                && let Ok(w) = serde_json::from_slice::<WorkerState>(&v)
            {
                workers.push(w);
            }
        }
        workers.sort_by(|a, b| a.worker.cmp(&b.worker));
        Ok(ClusterStatus {
            queued,
            kinds,
            dead_letters,
            workers,
        })
    }

    /// Waits until no job is queued or in flight (seen twice in a row, since a
    /// finishing job publishes its followers just before it is acknowledged).
    pub async fn wait_idle(&self, timeout: Duration) -> Result<ClusterStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut quiet = 0;
        loop {
            let s = self.status().await?;
            quiet = if s.idle() { quiet + 1 } else { 0 };
            if quiet >= 2 {
                return Ok(s);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Invalid(format!(
                    "the queue was still busy after {} s: {} queued, {} in flight",
                    timeout.as_secs(),
                    s.queued,
                    s.kinds.iter().map(|k| k.in_flight).sum::<u64>()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A job given up after its deliveries.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub sequence: u64,
    pub subject: String,
    pub job: Option<Job>,
    pub deliveries: Option<i64>,
    pub error: Option<String>,
}

/// One kind of job on the queue.
#[derive(Debug, Clone, Serialize)]
pub struct KindStatus {
    pub kind: Kind,
    /// Queued, not yet delivered.
    pub waiting: u64,
    /// Delivered, not yet acknowledged.
    pub in_flight: u64,
    /// Delivered more than once and not yet acknowledged.
    pub redelivered: u64,
}

/// A worker's own account of itself, in the workers bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerState {
    pub worker: String,
    pub pid: u32,
    /// `idle` or `busy`.
    pub state: String,
    /// The job it runs (`Nats-Msg-Id`), when busy.
    pub job: Option<String>,
    pub kind: Option<Kind>,
    pub delivery: Option<i64>,
    pub jobs_done: u64,
    pub jobs_failed: u64,
    /// Jobs it got that had been delivered before.
    pub redelivered: u64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// `streetcomb cluster status`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// Jobs in the work queue (waiting, in flight, or out of deliveries).
    pub queued: u64,
    pub kinds: Vec<KindStatus>,
    pub dead_letters: u64,
    pub workers: Vec<WorkerState>,
}

impl ClusterStatus {
    pub fn idle(&self) -> bool {
        self.queued == 0
            && self
                .kinds
                .iter()
                .all(|k| k.in_flight == 0 && k.waiting == 0)
    }

    /// Redelivered jobs the live workers ran.
    pub fn redelivered(&self) -> u64 {
        self.workers.iter().map(|w| w.redelivered).sum()
    }
}
