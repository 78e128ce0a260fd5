//! Running one job against the store, and the same work in one process.
//!
//! Every job is idempotent: run twice (a redelivery after a killed worker, or two
//! workers racing), it leaves the store as run once, because each stage commits
//! through the store's manifests and checks what is already there:
//!
//! * ingest: a drive already in `frames` is not stored again;
//! * vision: only frames still waiting take a result, a frame's detections are
//!   replaced, never added ([`streetcomb_pipeline::process_with`]);
//! * mapbuild and rewards replace one region's or one epoch's rows.

use std::collections::BTreeSet;
use std::path::Path;

use streetcomb_core::{CellId, Epoch, Frame};
use streetcomb_datasets::{Dataset, Store};
use streetcomb_pipeline::{self as pipeline, PipelineError};
use streetcomb_vision::{FramePipeline, VisionConfig};

use crate::error::{ClusterError, Result};
use crate::job::{Job, part_of, vision_jobs};

/// Where `streetcomb submit` (and the upload server, with a cluster) puts a drive's
/// files for its ingest job.
pub const SUBMITTED: &str = "submitted";

/// The store key of one submitted drive file.
pub fn upload_key(drive: &str, file: &str) -> String {
    format!("{SUBMITTED}/{drive}/{file}")
}

/// A file name a job may carry: a relative path inside the drive directory
/// (`track.gpx`, `frames/0001.jpg`), `/`-separated, with no empty, `.` or `..` part.
pub(crate) fn check_file_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.contains('\\')
        || name
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(ClusterError::Invalid(format!(
            "{name:?} is not a relative path inside a drive directory"
        )));
    }
    Ok(())
}

/// Runs jobs against one store. Keeps the vision models loaded between jobs.
pub struct Runner {
    store: Store,
    vision: VisionConfig,
    /// Vision pipelines in this process.
    pipelines: usize,
    /// ONNX Runtime threads of each pipeline.
    threads: usize,
    pipes: Option<Vec<FramePipeline>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("store", &self.store.location())
            .field("pipelines", &self.pipelines)
            .field("threads", &self.threads)
            .field("models_loaded", &self.pipes.is_some())
            .finish()
    }
}

impl Runner {
    /// A runner with `pipelines` vision pipelines of `threads` ONNX Runtime threads
    /// each (`None`: the cores shared between the pipelines).
    pub fn new(
        store: Store,
        vision: VisionConfig,
        pipelines: usize,
        threads: Option<usize>,
    ) -> Runner {
        let pipelines = pipelines.clamp(1, 8);
        Runner {
            store,
            vision,
            pipelines,
            threads: threads.unwrap_or_else(|| (pipeline::available_cores() / pipelines).max(1)),
            pipes: None,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `job` and returns the jobs that follow from it.
    pub async fn run(&mut self, job: &Job) -> Result<Vec<Job>> {
        match job {
            Job::Ingest {
                drive,
                files,
                contributor,
            } => self.ingest(drive, files, contributor.as_deref()).await,
            Job::Vision { drive, part, parts } => self.vision(drive, *part, *parts).await,
            Job::Mapbuild { region } => self.mapbuild(*region).await,
            Job::Rewards { epoch } => {
                rewards_from(&self.store, *epoch).await?;
                Ok(Vec::new())
            }
        }
    }

    async fn ingest(
        &mut self,
        drive: &str,
        files: &[String],
        contributor: Option<&str>,
    ) -> Result<Vec<Job>> {
        let stored = frames_of(&self.store, drive).await?;
        if stored > 0 {
            tracing::info!(drive, "already ingested");
            self.drop_uploads(drive, files).await;
            return Ok(vision_jobs(drive, stored));
        }
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join(drive);
        std::fs::create_dir_all(&dir)?;
        for f in files {
            check_file_name(f)?;
            let key = upload_key(drive, f);
            let bytes = self.store.get_blob(&key).await?.ok_or_else(|| {
                ClusterError::Invalid(format!(
                    "drive {drive}: {key} is missing from the store ({})",
                    self.store.location()
                ))
            })?;
            let path = dir.join(f);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, bytes)?;
        }
        let contributor = contributor.map(str::to_owned);
        let input = tokio::task::spawn_blocking(move || {
            pipeline::drive_dir::read_drive(&dir, contributor.as_deref())
        })
        .await
        .map_err(PipelineError::from)??;
        let kept = match pipeline::ingest(&self.store, vec![input], &Default::default(), true).await
        {
            Ok(summary) => summary.kept,
            // Stored by a racing run of this job since the check above.
            Err(PipelineError::AlreadyIngested { .. }) => frames_of(&self.store, drive).await?,
            Err(e) => return Err(e.into()),
        };
        self.drop_uploads(drive, files).await;
        Ok(vision_jobs(drive, kept))
    }

    /// The submitted files are not needed once the drive is in `frames`.
    async fn drop_uploads(&self, drive: &str, files: &[String]) {
        for f in files {
            if let Err(e) = self.store.delete_blob(&upload_key(drive, f)).await {
                tracing::warn!(drive, file = %f, "cannot delete an upload: {e}");
            }
        }
    }

    async fn vision(&mut self, drive: &str, part: u32, parts: u32) -> Result<Vec<Job>> {
        let mine =
            |f: &Frame| f.drive_id.as_str() == drive && part_of(f.id.as_str(), parts) == part;
        let waiting = self
            .store
            .read_frames()
            .await?
            .iter()
            .any(|f| mine(f) && !f.is_published());
        if waiting && self.pipes.is_none() {
            self.pipes = Some(pipeline::pipelines_with_threads(
                self.pipelines,
                self.threads,
                &self.vision,
            )?);
        }
        if let Some(pipes) = self.pipes.as_mut().filter(|_| waiting) {
            let s = pipeline::process_with(&self.store, pipes, &mine, true).await?;
            tracing::info!(
                drive,
                part,
                parts,
                published = s.published,
                withheld = s.withheld,
                detections = s.detections,
                "vision done"
            );
        }
        let frames = self.store.read_frames().await?;
        let regions = pipeline::regions_of(frames.iter().filter(|f| mine(f) && f.is_published()));
        Ok(regions
            .into_iter()
            .map(|region| Job::Mapbuild { region })
            .collect())
    }

    async fn mapbuild(&mut self, region: CellId) -> Result<Vec<Job>> {
        let b = pipeline::build_region(&self.store, region).await?;
        tracing::info!(%region, features = b.features, cells = b.cells, "region built");
        let frames = self.store.read_frames().await?;
        let first = frames
            .iter()
            .filter(|f| f.is_published() && pipeline::region_of(f.cell) == Some(region))
            .map(|f| Epoch::of(f.captured_at))
            .min();
        Ok(first
            .map(|epoch| Job::Rewards { epoch })
            .into_iter()
            .collect())
    }
}

/// How many frames of `drive` the store holds.
async fn frames_of(store: &Store, drive: &str) -> Result<usize> {
    Ok(store
        .read_frames()
        .await?
        .iter()
        .filter(|f| f.drive_id.as_str() == drive)
        .count())
}

/// The epochs of published frames, in order.
fn published_epochs(frames: &[Frame]) -> BTreeSet<Epoch> {
    frames
        .iter()
        .filter(|f| f.is_published())
        .map(|f| Epoch::of(f.captured_at))
        .collect()
}

/// Scores `from` and every later epoch with published frames, in order.
pub async fn rewards_from(store: &Store, from: Epoch) -> Result<Vec<Epoch>> {
    let frames = store.read_frames().await?;
    let epochs: Vec<Epoch> = published_epochs(&frames)
        .into_iter()
        .filter(|e| *e >= from)
        .collect();
    for e in &epochs {
        pipeline::rewards(store, Some(*e), &Default::default()).await?;
    }
    Ok(epochs)
}

/// The same work as a cluster run over `drives`, in this process: ingest (in the
/// given order), vision, a whole-store mapbuild, and rewards for every epoch. What a
/// cluster run must reproduce.
pub async fn run_local(
    store: &Store,
    drives: &[impl AsRef<Path>],
    vision: &VisionConfig,
    quiet: bool,
) -> Result<()> {
    let inputs = drives
        .iter()
        .map(|d| pipeline::drive_dir::read_drive(d.as_ref(), None))
        .collect::<pipeline::Result<Vec<_>>>()?;
    pipeline::ingest(store, inputs, &Default::default(), quiet).await?;
    pipeline::process(store, pipeline::available_cores(), vision, quiet).await?;
    pipeline::build(store).await?;
    if let Some(first) = published_epochs(&store.read_frames().await?).first() {
        rewards_from(store, *first).await?;
    }
    Ok(())
}

/// What a run produced, to compare a cluster run with a single-process one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub frames_published: usize,
    pub detections: usize,
    pub features: usize,
    /// The published Merkle root of the latest epoch's ledger.
    pub ledger_root: Option<String>,
}

pub async fn summarize(store: &Store) -> Result<RunSummary> {
    let frames = store.read_frames().await?;
    let latest = published_epochs(&frames).last().copied();
    let ledger_root = match latest {
        Some(e) => store
            .manifest(Dataset::RewardsLedger)
            .await?
            .and_then(|m| m.metadata.get(&pipeline::merkle_root_key(e)).cloned()),
        None => None,
    };
    Ok(RunSummary {
        frames_published: frames.iter().filter(|f| f.is_published()).count(),
        detections: store.read_detections().await?.len(),
        features: store.read_features().await?.len(),
        ledger_root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_may_travel_in_a_job() {
        for ok in ["0001.jpg", "track.gpx", "drive.json", "frames/0001.jpg"] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a//b.jpg",
            "../x",
            "a/./b",
            "..\\x",
            "/etc/passwd",
            "x/",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad}");
        }
        assert_eq!(upload_key("d1", "a.jpg"), "submitted/d1/a.jpg");
    }
}
