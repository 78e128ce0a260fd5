//! Per-job overhead of the work queue: the same cheap job (rewards from an epoch on a
//! store with no published frames: one read of the frames manifest) run N times in
//! this process, then N times through a real nats-server and one worker (publish,
//! fetch, heartbeat, double ack, worker state). Prints one JSON line with the medians
//! of 5 rounds. Run by benches/scripts/cluster-bench.sh.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use streetcomb_cluster::testing::NatsServer;
use streetcomb_cluster::{Job, Queue, QueueConfig, Runner, WorkerConfig, run_worker};
use streetcomb_datasets::Store;

const JOBS: usize = 200;
const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    let vision = streetcomb_vision::VisionConfig::default();
    let job = |i: usize| Job::Rewards {
        epoch: format!("2026-W{:02}", 1 + i % 50).parse().unwrap(),
    };
    let mut local = Vec::new();
    let mut queued = Vec::new();
    let mut publish = Vec::new();
    for round in 0..ROUNDS {
        let mut runner = Runner::new(store.clone(), vision.clone(), 1, Some(1));
        let t = Instant::now();
        for i in 0..JOBS {
            runner.run(&job(i)).await.unwrap();
        }
        local.push(t.elapsed().as_secs_f64() / JOBS as f64);

        let queue = Queue::connect(nats.url(), QueueConfig::default())
            .await
            .unwrap();
        let t = Instant::now();
        for i in 0..JOBS {
            queue
                .publish(&job(i), &format!("bench:{round}:{i}"))
                .await
                .unwrap();
        }
        publish.push(t.elapsed().as_secs_f64() / JOBS as f64);
        let config = WorkerConfig {
            exit_when_idle: Some(Duration::from_millis(300)),
            idle_poll: Duration::from_millis(50),
            ..WorkerConfig::default()
        };
        let t = Instant::now();
        let report = run_worker(
            queue,
            Runner::new(store.clone(), vision.clone(), 1, Some(1)),
            config,
            std::future::pending(),
        )
        .await
        .unwrap();
        assert_eq!(report.jobs_done as usize, JOBS);
        // The worker waits 300 ms of idleness before it exits: not part of the jobs.
        queued.push((t.elapsed().as_secs_f64() - 0.3) / JOBS as f64);
    }
    let (l, q, p) = (median(local), median(queued), median(publish));
    println!(
        "{}",
        serde_json::json!({
            "jobs": JOBS, "rounds": ROUNDS,
            "in_process_ms_per_job": l * 1e3,
            "queued_ms_per_job": q * 1e3,
            "overhead_ms_per_job": (q - l) * 1e3,
            "publish_ms_per_job": p * 1e3,
        })
    );
}
