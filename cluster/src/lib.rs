//! Scale-out: the pipeline's stages as jobs on a NATS JetStream work queue, run by
//! any number of stateless workers over one shared store (S3 in production).
//!
//! * [`job`]: the jobs (ingest a drive, vision on a drive, mapbuild of a region,
//!   rewards from an epoch) and their ids;
//! * [`queue`]: the streams, consumers, dead letters and worker states on NATS;
//! * [`worker`]: the worker loop (heartbeats, acks, retries, followers);
//! * [`run`]: what each job does to the store, and the same work in one process;
//! * [`submit`]: a drive's files into the store, its ingest job onto the queue;
//! * [`testing`]: a real nats-server on loopback, for tests.
//!
//! `docs/scaling.md` explains the design and the arithmetic for a city and a planet.

pub mod error;
pub mod job;
pub mod queue;
pub mod run;
pub mod submit;
pub mod testing;
pub mod worker;

pub use error::{ClusterError, Result};
pub use job::{Job, Kind};
pub use queue::{ClusterStatus, Queue, QueueConfig};
pub use run::{RunSummary, Runner, run_local, summarize};
pub use submit::{Submitted, enqueue, submit};
pub use worker::{WorkerConfig, WorkerReport, run_worker};
