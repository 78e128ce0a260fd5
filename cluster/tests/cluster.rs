//! The cluster against a real nats-server (JetStream) on loopback, and moto's S3
//! server for the shared store: duplicate submissions, killed workers, poison jobs
//! and racing workers, each checked against what one process makes of the same drives.
//!
//! Needs `make setup` (nats-server, moto, ONNX Runtime and the models).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use streetcomb_cluster::job::vision_jobs;
use streetcomb_cluster::queue::JOBS_STREAM;
use streetcomb_cluster::testing::{NatsServer, cache_dir};
use streetcomb_cluster::{
    Job, Queue, QueueConfig, Runner, WorkerConfig, WorkerReport, run_local, run_worker, submit,
    summarize,
};
use streetcomb_datasets::Store;

fn nats() -> NatsServer {
    NatsServer::start().unwrap()
}

/// A server process killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's S3 server (`make setup`) with one bucket, and a store on it.
async fn s3_store(bucket: &str) -> (Server, Store) {
    let path = std::env::var_os("STREETCOMB_MOTO_SERVER")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venv-moto/bin/moto_server"));
    assert!(
        path.is_file(),
        "moto_server {} is missing: run `make setup`",
        path.display()
    );
    let port = free_port();
    let server = Server(
        Command::new(path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The bucket: one PUT on its URL.
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import urllib.request as u; u.urlopen(u.Request('{endpoint}/{bucket}', method='PUT'))"
        ))
        .status()
        .unwrap();
    assert!(status.success(), "creating bucket {bucket}");
    let store = Store::open_with(
        &format!("s3://{bucket}/lake"),
        [
            ("aws_endpoint", endpoint.as_str()),
            ("aws_allow_http", "true"),
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
            ("aws_region", "us-east-1"),
        ],
    )
    .await
    .unwrap();
    (server, store)
}

/// A worker's request for one job of `kind`, on a connection of its own: the client
/// (drop it to die holding the job) and the job, if one came within `wait`.
async fn take(
    url: &str,
    kind: &str,
    wait: Duration,
) -> (async_nats::Client, Option<jetstream::Message>) {
    let client = async_nats::connect(url).await.unwrap();
    let consumer: jetstream::consumer::PullConsumer = jetstream::new(client.clone())
        .get_stream(JOBS_STREAM)
        .await
        .unwrap()
        .get_consumer(kind)
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(wait)
        .messages()
        .await
        .unwrap();
    let msg = batch.next().await.map(Result::unwrap);
    (client, msg)
}

/// Two small simulated drives (320×180 frames).
fn drives(dir: &Path) -> Vec<PathBuf> {
    streetcomb_pipeline::simulate::simulate(
        None,
        &streetcomb_sim::SimConfig::quick(500.0, 2),
        dir,
        true,
    )
    .unwrap()
}

fn runner(store: &Store) -> Runner {
    let vision = streetcomb_pipeline::models::vision_config(None).unwrap();
    Runner::new(store.clone(), vision, 1, None)
}

fn quick_queue() -> QueueConfig {
    QueueConfig {
        ack_wait: Duration::from_secs(2),
        max_deliver: 3,
        ..QueueConfig::default()
    }
}

/// Runs a worker until the queue has been empty for a while.
async fn drain(queue: &Queue, store: &Store, name: &str) -> WorkerReport {
    let config = WorkerConfig {
        name: name.into(),
        exit_when_idle: Some(Duration::from_millis(1500)),
        retry_delay: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    run_worker(queue.clone(), runner(store), config, std::future::pending())
        .await
        .unwrap()
}

/// What one process makes of the same drives.
async fn single(drives: &[PathBuf]) -> streetcomb_cluster::RunSummary {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    let vision = streetcomb_pipeline::models::vision_config(None).unwrap();
    run_local(&store, drives, &vision, true).await.unwrap();
    summarize(&store).await.unwrap()
}

/// No detection row twice, no frame twice.
async fn assert_no_duplicates(store: &Store) {
    let frames = store.read_frames().await.unwrap();
    let ids: std::collections::HashSet<&str> = frames.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids.len(), frames.len(), "a frame is stored twice");
    let dets = store.read_detections().await.unwrap();
    let keys: std::collections::HashSet<String> = dets
        .iter()
        .map(|d| format!("{}:{:?}", d.frame_id, d.bbox))
        .collect();
    assert_eq!(keys.len(), dets.len(), "a detection is stored twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_submitted_twice_is_queued_once_and_the_cluster_on_s3_matches_one_process() {
    let nats = nats();
    let tmp = tempfile::tempdir().unwrap();
    let drives = drives(&tmp.path().join("drives"));
    let (_s3, store) = s3_store("cluster").await;
    let queue = Queue::connect(nats.url(), quick_queue()).await.unwrap();
    let first = submit(&queue, &store, &drives[0], None).await.unwrap();
    let again = submit(&queue, &store, &drives[0], None).await.unwrap();
    let second = submit(&queue, &store, &drives[1], None).await.unwrap();
    assert!(!first.duplicate && !second.duplicate);
    assert!(again.duplicate, "the second submission was queued again");
    assert_eq!(queue.status().await.unwrap().queued, 2);

    let report = drain(&queue, &store, "w1").await;
    assert_eq!(report.jobs_failed, 0);
    let status = queue.status().await.unwrap();
    assert!(status.idle() && status.dead_letters == 0, "{status:?}");
    // Ingest 2, vision ≥ 2, then mapbuild and rewards after each vision part.
    assert!(report.jobs_done >= 8, "{report:?}");
    assert_no_duplicates(&store).await;
    // The uploads are gone once ingested.
    assert!(
        store
            .get_blob(&format!("submitted/{}/track.gpx", first.drive))
            .await
            .unwrap()
            .is_none()
    );
    let cluster = summarize(&store).await.unwrap();
    assert!(
        cluster.frames_published > 0 && cluster.detections > 0,
        "{cluster:?}"
    );
    assert_eq!(cluster, single(&drives).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_after_its_work_but_before_its_ack_is_run_again_and_adds_nothing_twice()
 {
    let nats = nats();
    let tmp = tempfile::tempdir().unwrap();
    let drives = drives(&tmp.path().join("drives"));
    let store = Store::open(tmp.path().join("lake").to_str().unwrap())
        .await
        .unwrap();
    let queue = Queue::connect(nats.url(), quick_queue()).await.unwrap();
    submit(&queue, &store, &drives[0], None).await.unwrap();

    // A worker takes the ingest job, does all of its work, and dies before it
    // acknowledges: its connection closes with the job unacknowledged.
    {
        let (client, msg) = take(nats.url(), "ingest", Duration::from_secs(5)).await;
        let msg = msg.unwrap();
        let job: Job = serde_json::from_slice(&msg.payload).unwrap();
        runner(&store).run(&job).await.unwrap();
        drop(msg);
        drop(client);
    }
    let stored = store.read_frames().await.unwrap().len();
    assert!(stored > 0);

    // After the ack wait the job comes back to a live worker, which finds the drive
    // stored and goes on with vision, mapbuild and rewards.
    let report = drain(&queue, &store, "survivor").await;
    assert!(report.redelivered >= 1, "{report:?}");
    assert_eq!(report.jobs_failed, 0, "{report:?}");
    assert_eq!(
        store.read_frames().await.unwrap().len(),
        stored,
        "frames were ingested twice"
    );
    assert_no_duplicates(&store).await;
    assert_eq!(summarize(&store).await.unwrap(), single(&drives[..1]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_reaches_the_dead_letters_with_its_error_after_its_deliveries() {
    let nats = nats();
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().to_str().unwrap()).await.unwrap();
    let queue = Queue::connect(nats.url(), quick_queue()).await.unwrap();
    // Its files were never uploaded: every delivery fails.
    let poison = Job::Ingest {
        drive: "ghost".into(),
        files: vec!["track.gpx".into()],
        contributor: None,
    };
    assert!(!queue.submit(&poison).await.unwrap().duplicate);

    let report = drain(&queue, &store, "w1").await;
    assert_eq!(report.jobs_failed, 3, "{report:?}");
    assert_eq!(report.jobs_done, 0);
    let dead = queue.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].job.as_ref(), Some(&poison));
    assert_eq!(dead[0].subject, "streetcomb.dead.ingest");
    assert_eq!(dead[0].deliveries, Some(3));
    let error = dead[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("submitted/ghost/track.gpx is missing"),
        "{error}"
    );
    let status = queue.status().await.unwrap();
    assert_eq!((status.queued, status.dead_letters), (0, 1), "{status:?}");
    assert!(store.read_frames().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_workers_all_die_is_buried_from_the_max_deliveries_advisory() {
    let nats = nats();
    let queue = Queue::connect(
        nats.url(),
        QueueConfig {
            ack_wait: Duration::from_secs(1),
            max_deliver: 2,
            ..QueueConfig::default()
        },
    )
    .await
    .unwrap();
    let listener = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.forward_dead_letters().await })
    };
    let job = Job::Rewards {
        epoch: "2026-W47".parse().unwrap(),
    };
    queue.submit(&job).await.unwrap();
    // Two workers take it in turn and die holding it.
    for delivery in 1..=2 {
        let (client, msg) = take(nats.url(), "rewards", Duration::from_secs(10)).await;
        let msg = msg.unwrap();
        assert_eq!(msg.info().unwrap().delivered, delivery);
        drop(msg);
        drop(client);
    }
    // No worker reports an error: the server's advisory is all there is. The server
    // sends it when it would deliver the job a third time, that is when a live worker
    // next asks for work.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_client, third) = take(nats.url(), "rewards", Duration::from_secs(2)).await;
    assert!(third.is_none(), "the job was delivered a third time");
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = queue.dead_letters().await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].job.as_ref(), Some(&job));
    assert_eq!(dead[0].deliveries, Some(2));
    assert_eq!(dead[0].error, None);
    assert_eq!(queue.status().await.unwrap().queued, 0);
    listener.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_on_one_vision_job_leave_one_result() {
    let tmp = tempfile::tempdir().unwrap();
    let drives = drives(&tmp.path().join("drives"));
    let store = Store::open(tmp.path().join("lake").to_str().unwrap())
        .await
        .unwrap();
    let input = streetcomb_pipeline::drive_dir::read_drive(&drives[0], None).unwrap();
    let drive = input.drive_id.to_string();
    streetcomb_pipeline::ingest(&store, vec![input], &Default::default(), true)
        .await
        .unwrap();
    let n = store.read_frames().await.unwrap().len();
    // One job for the whole drive, delivered to two workers at once (as after an ack
    // wait ran out under a slow worker).
    let job = Job::Vision {
        drive: drive.clone(),
        part: 0,
        parts: 1,
    };
    assert_eq!(vision_jobs(&drive, 50).len(), 1);
    let (mut a, mut b) = (runner(&store), runner(&store));
    let (ra, rb) = tokio::join!(a.run(&job), b.run(&job));
    let (na, nb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(na, nb, "both name the same followers");
    assert!(matches!(na.first(), Some(Job::Mapbuild { .. })), "{na:?}");
    let frames = store.read_frames().await.unwrap();
    assert_eq!(frames.len(), n);
    assert!(frames.iter().all(|f| f.is_published()));
    assert_no_duplicates(&store).await;
    // The raw images are gone, the published ones are there.
    for f in &frames {
        assert!(
            store
                .get_blob(&format!("incoming/{}.jpg", f.id))
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.get_blob(&f.image_key).await.unwrap().is_some());
    }
    // The same detections as one process makes.
    let other = tempfile::tempdir().unwrap();
    let solo = Store::open(other.path().to_str().unwrap()).await.unwrap();
    let input = streetcomb_pipeline::drive_dir::read_drive(&drives[0], None).unwrap();
    streetcomb_pipeline::ingest(&solo, vec![input], &Default::default(), true)
        .await
        .unwrap();
    let vision = streetcomb_pipeline::models::vision_config(None).unwrap();
    streetcomb_pipeline::process(&solo, 1, &vision, true)
        .await
        .unwrap();
    assert_eq!(
        store.read_detections().await.unwrap().len(),
        solo.read_detections().await.unwrap().len()
    );
}
