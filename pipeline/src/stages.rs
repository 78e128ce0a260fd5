//! The stage runners: each reads datasets from the store, calls one stage crate, and
//! writes datasets back. Shared by the subcommands and `demo`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Context, PipelineError, Result, invalid};
use streetcomb_core::{
    CellId, DropKind, DropReason, Epoch, Frame, FrameState, FraudReason, IngestDecision,
    IngestRecord,
};
use streetcomb_datasets::Store;
use streetcomb_vision::{FramePipeline, ProcessedFrame, VisionConfig, to_detections};

use crate::drive_dir::DriveInput;
use crate::models;
use crate::progress::bar;

/// Published (blurred) images.
pub use streetcomb_core::IMAGES_PREFIX as IMAGES;
/// Where raw uploads wait for vision. Never served; each is deleted once blurred.
pub use streetcomb_core::INCOMING_PREFIX as INCOMING;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct IngestSummary {
    pub drives: usize,
    pub frames_in: usize,
    pub kept: usize,
    pub dropped: Vec<(String, usize)>,
    /// Kept frames flagged as replays of another contributor's frames.
    pub replays: usize,
    /// Kept frames flagged by the fraud checks, by reason (they earn no rewards).
    pub flagged: Vec<(String, usize)>,
    /// What happened to each drive.
    pub per_drive: Vec<DriveIngestSummary>,
}

/// One drive's ingest: kept frames, drops by reason, GPS cleaning, clock, sequences.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriveIngestSummary {
    pub drive_id: String,
    pub contributor: String,
    pub frames_in: usize,
    pub kept: usize,
    pub dropped: Vec<(String, usize)>,
    pub replays: usize,
    /// Kept frames flagged by the fraud checks (jump, speed, motion, duplicate device).
    pub flagged: usize,
    pub sequences: usize,
    pub clock: streetcomb_ingest::ClockOffset,
    pub points: streetcomb_ingest::PointSummary,
}

/// Ingests drives already read from disk: geotags, stores raw frames in the incoming
/// area, then appends the frames and the report (the datasets commit last, so a crash
/// leaves no frame row pointing at a missing image). Frames already in the store (and
/// those of the drives before, in this run) form the replay index and are what the
/// fraud checks (teleports, impossible speed, GPS/imagery motion mismatch, one drive
/// from two devices) compare each new drive with.
pub async fn ingest(
    store: &Store,
    drives: Vec<DriveInput>,
    params: &streetcomb_ingest::IngestParams,
    quiet: bool,
) -> Result<IngestSummary> {
    let mut summary = IngestSummary::default();
    let mut dropped: HashMap<String, usize> = HashMap::new();
    let existing = store.read_frames().await?;
    // Re-sending a drive must not duplicate its frames: refuse it before storing anything.
    let known: std::collections::HashSet<String> =
        existing.iter().map(|f| f.drive_id.to_string()).collect();
    if let Some(d) = drives.iter().find(|d| known.contains(d.drive_id.as_str())) {
        return Err(PipelineError::AlreadyIngested {
            drive: d.drive_id.clone(),
            store: store.location().to_owned(),
        });
    }
    let mut replay = streetcomb_ingest::ReplayIndex::new(params.replay_bits);
    let index = |replay: &mut streetcomb_ingest::ReplayIndex, f: &Frame| {
        if let Some(h) = f.phash {
            replay.insert(
                h,
                streetcomb_ingest::KnownFrame {
                    contributor: f.contributor.to_string(),
                    frame: f.id.to_string(),
                },
            );
        }
    };
    for f in &existing {
        index(&mut replay, f);
    }
    let mut seen = existing;
    let fraud = streetcomb_ingest::fraud::FraudParams::default();
    let mut flagged: HashMap<&'static str, usize> = HashMap::new();
    let total: usize = drives.iter().map(|d| d.frames.len()).sum();
    let pb = bar(total as u64, "ingest", quiet);
    for d in drives {
        let n_in = d.frames.len();
        let outcome = streetcomb_ingest::ingest_drive(&d, params, &replay)
            .with_context(|| format!("drive {}", d.drive_id))?;
        let bytes: HashMap<&str, &[u8]> = d
            .frames
            .iter()
            .map(|f| (f.file_name.as_str(), f.bytes.as_slice()))
            .collect();
        let mut frames = outcome.drive.frames.clone();
        for f in &mut frames {
            let key = format!("{INCOMING}/{}.jpg", f.id);
            let raw = bytes.get(f.image_key.as_str()).copied().unwrap_or_default();
            store.put_blob(&key, raw.to_vec()).await?;
            f.image_key = key;
        }
        let checks = streetcomb_ingest::fraud::check_frames(&mut frames, &seen, &fraud);
        let mut drive_flagged = 0;
        for f in &frames {
            if let Some(reason) = f.flags.fraud_reason().filter(|r| *r != FraudReason::Replay) {
                *flagged.entry(reason.as_str()).or_default() += 1;
                drive_flagged += 1;
            }
        }
        if checks != streetcomb_ingest::fraud::FraudReport::default() {
            tracing::warn!(drive = %d.drive_id, ?checks, "fraud checks flagged frames");
        }
        store.append_frames(&frames).await?;
        store.append_ingest_report(&outcome.report).await?;
        for f in &frames {
            index(&mut replay, f);
        }
        let drive_dropped = outcome.dropped_by_reason();
        for (reason, n) in &drive_dropped {
            *dropped.entry(reason.clone()).or_default() += n;
        }
        summary.drives += 1;
        summary.frames_in += n_in;
        summary.kept += frames.len();
        summary.replays += outcome.replays.len();
        summary.per_drive.push(DriveIngestSummary {
            drive_id: d.drive_id.to_string(),
            contributor: d.contributor.to_string(),
            frames_in: n_in,
            kept: frames.len(),
            dropped: drive_dropped,
            replays: outcome.replays.len(),
            flagged: drive_flagged,
            sequences: outcome.sequences.len(),
            clock: outcome.clock,
            points: outcome.points.clone(),
        });
        pb.inc(n_in as u64);
        tracing::info!(drive = %d.drive_id, kept = frames.len(), input = n_in, "ingested");
        seen.extend(frames);
    }
    pb.finish_and_clear();
    let mut dropped: Vec<(String, usize)> = dropped.into_iter().collect();
    dropped.sort();
    summary.dropped = dropped;
    let mut flagged: Vec<(String, usize)> = flagged
        .into_iter()
        .map(|(r, n)| (r.to_owned(), n))
        .collect();
    flagged.sort();
    summary.flagged = flagged;
    Ok(summary)
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ProcessSummary {
    pub frames: usize,
    pub published: usize,
    pub withheld: usize,
    pub faces_blurred: usize,
    pub plates_blurred: usize,
    /// Vehicle plate bands blurred because no plate was surely found on them.
    pub vehicle_bands: usize,
    pub detections: usize,
    /// Detections whose sign text was read.
    pub signs_read: usize,
    /// Detections whose number (a speed limit's km/h) was read.
    pub values_read: usize,
    /// Share of each published frame's textured 8×8 blocks the blur destroyed:
    /// median and mean over the frames.
    pub altered_median: f64,
    pub altered_mean: f64,
}

impl ProcessSummary {
    /// Plate boxes blurred per published frame.
    pub fn plates_per_frame(&self) -> f64 {
        self.plates_blurred as f64 / self.published.max(1) as f64
    }
}

/// One vision pipeline per worker, each with its own ONNX Runtime sessions sharing the
/// cores between them, as the vision configuration (`--vision-config`) says.
pub fn pipelines(workers: usize, config: &VisionConfig) -> Result<Vec<FramePipeline>> {
    pipelines_with_threads(workers, (available_cores() / workers.max(1)).max(1), config)
}

/// [`pipelines`] with `threads` ONNX Runtime threads each, for processes that share
/// the machine with others (several cluster workers on one host).
pub fn pipelines_with_threads(
    workers: usize,
    threads: usize,
    config: &VisionConfig,
) -> Result<Vec<FramePipeline>> {
    streetcomb_vision::init_runtime(&models::ort_library()?)?;
    let loaded = models::load_models(config)?;
    let threads = threads.max(1);
    (0..workers)
        .map(|_| Ok(config.build(&loaded, threads)?))
        .collect()
}

pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Runs vision on every frame still waiting in the incoming area. A frame whose blur
/// fails is withheld: it leaves the frames dataset and gets a report row saying why.
pub async fn process(
    store: &Store,
    workers: usize,
    config: &VisionConfig,
    quiet: bool,
) -> Result<ProcessSummary> {
    let waiting = store
        .read_frames()
        .await?
        .iter()
        .any(|f| f.state() == FrameState::Ingested);
    if !waiting {
        return Ok(ProcessSummary::default());
    }
    let mut pipes = pipelines(workers.clamp(1, 8), config)?;
    process_with(store, &mut pipes, &|_| true, quiet).await
}

/// [`process`] with pipelines already loaded (a worker keeps them across jobs), for
/// the waiting frames that `select` picks (all of them: `|_| true`).
///
/// Safe beside other writers of the same datasets, including another run on the same
/// frames: results are committed by read-modify-write that re-applies itself on newer
/// versions ([`Store::update_frames`]); only frames still waiting in the latest
/// version take this run's result, and a frame's detections are replaced, never
/// added twice. Detections commit first and frames last, since the frames dataset is
/// what marks work as done; raw images are deleted only after that.
pub async fn process_with(
    store: &Store,
    pipes: &mut [FramePipeline],
    select: &(dyn Fn(&Frame) -> bool + Sync),
    quiet: bool,
) -> Result<ProcessSummary> {
    let todo: Vec<Frame> = store
        .read_frames()
        .await?
        .into_iter()
        .filter(|f| f.state() == FrameState::Ingested && select(f))
        .collect();
    let mut summary = ProcessSummary {
        frames: todo.len(),
        ..Default::default()
    };
    if todo.is_empty() {
        return Ok(summary);
    }
    let model_labels = pipes[0].detector_labels();
    let pb = bar(todo.len() as u64, "vision", quiet);
    let mut detections = Vec::new();
    // Frame id → the processed frame, or `None` when withheld (with its report row).
    let mut outcome: HashMap<String, Option<Frame>> = HashMap::new();
    let mut report: HashMap<String, IngestRecord> = HashMap::new();
    let mut altered = Vec::new();
    for batch in todo.chunks(8 * pipes.len()) {
        let mut inputs = Vec::with_capacity(batch.len());
        for (i, f) in batch.iter().enumerate() {
            inputs.push((i, store.get_blob(&f.image_key).await?));
        }
        for (i, res) in run_batch(pipes, inputs) {
            let mut frame = batch[i].clone();
            match res {
                Ok(out) => {
                    let key = format!("{IMAGES}/{}.jpg", frame.id);
                    summary.faces_blurred += out.privacy.faces as usize;
                    summary.plates_blurred += out.privacy.plates as usize;
                    summary.vehicle_bands += out.privacy.vehicle_bands as usize;
                    altered.push(out.altered);
                    store.put_blob(&key, out.blurred_jpeg).await?;
                    frame.image_key = key;
                    frame.blur = Some(out.privacy);
                    let dets = to_detections(&frame, &out.detections, &model_labels);
                    summary.detections += dets.len();
                    summary.signs_read += dets.iter().filter(|d| d.text.is_some()).count();
                    summary.values_read += dets.iter().filter(|d| d.value.is_some()).count();
                    detections.extend(dets);
                    summary.published += 1;
                    outcome.insert(frame.id.to_string(), Some(frame));
                }
                Err(e) => {
                    tracing::warn!(frame = %frame.id, error = %e, "withheld: not published");
                    report.insert(
                        frame.id.to_string(),
                        IngestRecord {
                            drive_id: frame.drive_id.clone(),
                            contributor: frame.contributor.clone(),
                            file: frame.id.to_string(),
                            captured_at: Some(frame.captured_at),
                            decision: IngestDecision::Dropped(DropReason::new(
                                DropKind::WithheldByVision,
                                e.to_string(),
                            )),
                            flags: frame.flags,
                        },
                    );
                    summary.withheld += 1;
                    outcome.insert(frame.id.to_string(), None);
                }
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    summary.altered_median = streetcomb_vision::audit::median(&altered);
    summary.altered_mean = altered.iter().sum::<f64>() / altered.len().max(1) as f64;
    // Rows of the frames published here (from an earlier run that crashed before
    // committing its frames, or from a racing run) are replaced, never duplicated.
    let published: std::collections::HashSet<&str> = outcome
        .iter()
        .filter(|(_, f)| f.is_some())
        .map(|(id, _)| id.as_str())
        .collect();
    store
        .update_detections(|rows| {
            let mut rows: Vec<_> = rows
                .into_iter()
                .filter(|d| !published.contains(d.frame_id.as_str()))
                .collect();
            rows.extend(detections.iter().cloned());
            (rows, ())
        })
        .await?;
    // Only frames still waiting in the latest version take this run's outcome.
    let applied: Vec<String> = store
        .update_frames(|rows| {
            let mut applied = Vec::new();
            let rows = rows
                .into_iter()
                .filter_map(|f| match outcome.get(f.id.as_str()) {
                    Some(done) if f.state() == FrameState::Ingested => {
                        applied.push(f.id.to_string());
                        done.clone()
                    }
                    _ => Some(f),
                })
                .collect();
            (rows, applied)
        })
        .await?;
    let withheld: Vec<IngestRecord> = applied.iter().filter_map(|id| report.remove(id)).collect();
    if !withheld.is_empty() {
        store.append_ingest_report(&withheld).await?;
    }
    for f in todo.iter().filter(|f| published.contains(f.id.as_str())) {
        store.delete_blob(&f.image_key).await?;
    }
    Ok(summary)
}

pub type BatchResult = Vec<(usize, std::result::Result<ProcessedFrame, String>)>;

/// Processes a batch across the pipelines, one thread each; results in input order.
pub fn run_batch(
    pipes: &mut [FramePipeline],
    inputs: Vec<(usize, Option<Vec<u8>>)>,
) -> BatchResult {
    let ids: Vec<usize> = inputs.iter().map(|(i, _)| *i).collect();
    let slots: Vec<Mutex<Option<Vec<u8>>>> = inputs
        .into_iter()
        .map(|(_, bytes)| Mutex::new(bytes))
        .collect();
    let done = Mutex::new(Vec::with_capacity(ids.len()));
    tokio::task::block_in_place(|| {
        run_stream(
            pipes,
            slots.len(),
            |k| slots[k].lock().ok().and_then(|mut s| s.take()),
            |k, res| {
                if let Ok(mut d) = done.lock() {
                    d.push((ids[k], res));
                }
            },
        )
    });
    let mut out: BatchResult = done.into_inner().unwrap_or_else(|e| e.into_inner());
    out.sort_by_key(|(i, _)| *i);
    out
}

/// Runs items `0..n` through the pipelines, one thread each: every worker takes the
/// next item as soon as it is free, then loads it (`load`; `None` when unreadable),
/// processes it and hands the result to `finish`, all on its own thread. No worker
/// waits for another, so reading, decoding, inference and encoding of different
/// frames overlap on all cores.
pub fn run_stream(
    pipes: &mut [FramePipeline],
    n: usize,
    load: impl Fn(usize) -> Option<Vec<u8>> + Sync,
    finish: impl Fn(usize, std::result::Result<ProcessedFrame, String>) + Sync,
) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for pipe in pipes.iter_mut() {
            let (next, load, finish) = (&next, &load, &finish);
            s.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n {
                        return;
                    }
                    let res = match load(k) {
                        Some(b) => pipe.process(&b).map_err(|e| e.to_string()),
                        None => Err("the image could not be read".to_owned()),
                    };
                    finish(k, res);
                }
            });
        }
    });
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct BuildSummary {
    pub features: usize,
    pub multi_view: usize,
    pub coverage_rows: usize,
    pub cells: usize,
    /// Distinct road km per contributor and epoch.
    pub unique_km: Vec<streetcomb_mapbuild::UniqueKm>,
}

/// Fuses all detections into features and recomputes coverage.
pub async fn build(store: &Store) -> Result<BuildSummary> {
    let frames = store.read_frames().await?;
    let published: Vec<Frame> = frames.into_iter().filter(|f| f.is_published()).collect();
    let detections = store.read_detections().await?;
    let aligned = aligned(store, &published).await?;
    let detections = streetcomb_mapbuild::steer_detections(&detections, &published, &aligned);
    // Epoch by epoch, so that features keep their ids and carry new / confirmed /
    // moved / removed; the same input always gives the same result.
    let features = streetcomb_mapbuild::build_history(
        &aligned,
        &detections,
        &streetcomb_mapbuild::FuseParams::default(),
        &streetcomb_mapbuild::ChangeParams::default(),
    );
    let cov = streetcomb_mapbuild::coverage(&published, streetcomb_core::cell::DEFAULT_RESOLUTION);
    store.write_features(&features).await?;
    store.write_coverage(&cov).await?;
    let cells: std::collections::HashSet<CellId> = cov.iter().map(|c| c.cell).collect();
    Ok(BuildSummary {
        features: features.len(),
        multi_view: features.iter().filter(|f| !f.single_view).count(),
        coverage_rows: cov.len(),
        cells: cells.len(),
        unique_km: streetcomb_mapbuild::unique_km(
            &published,
            streetcomb_core::cell::DEFAULT_RESOLUTION,
        ),
    })
}

/// `frames` with each drive's GPS bias measured against the store's roads taken out
/// and their headings steadied by the roads (`streetcomb_mapbuild::align`; their
/// detections follow through `steer_detections`): what features are triangulated
/// from. Coverage keeps the frames as recorded. Without roads in the store, `frames` as they are.
async fn aligned(store: &Store, frames: &[Frame]) -> Result<Vec<Frame>> {
    Ok(match crate::basemap::roads(store).await? {
        Some(roads) => streetcomb_mapbuild::align_to_roads(
            frames,
            &roads,
            &streetcomb_mapbuild::AlignParams::default(),
        ),
        None => frames.to_vec(),
    })
}

/// H3 resolution of the regions that [`build_region`] rebuilds one at a time
/// (~250 km² each: a city is a few dozen).
pub const REGION_RESOLUTION: u8 = 5;

/// The regions (H3 cells at [`REGION_RESOLUTION`]) that `frames` lie in.
pub fn regions_of<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> Vec<CellId> {
    let set: std::collections::BTreeSet<CellId> = frames
        .into_iter()
        .filter_map(|f| region_of(f.cell))
        .collect();
    set.into_iter().collect()
}

/// The region (H3 cell at [`REGION_RESOLUTION`]) a cell lies in; `None` for a cell
/// coarser than that.
pub fn region_of(cell: CellId) -> Option<CellId> {
    cell.parent(REGION_RESOLUTION)
}

/// Whether a frame lies in `region` or within its halo: the frame's H3 res-9 cell
/// or one of its neighbours (~350 m) is in the region. Detections seen from farther
/// than that cannot make a feature inside the region.
fn near_region(frame: &Frame, region: CellId) -> bool {
    let Some(c9) = frame.cell.parent(9) else {
        return false;
    };
    c9.disk(1).into_iter().any(|c| region_of(c) == Some(region))
}

/// [`build`] for one region (an H3 cell at [`REGION_RESOLUTION`]): fuses the
/// detections of the frames in it and in its halo, and replaces the features whose
/// position lies in the region and the coverage rows of its cells. Regions are
/// independent, so regions can be rebuilt by different workers; the same inputs give
/// the same rows as a whole-store [`build`].
pub async fn build_region(store: &Store, region: CellId) -> Result<BuildSummary> {
    if region.resolution() != REGION_RESOLUTION {
        invalid!(
            "region {region} has resolution {}, expected {REGION_RESOLUTION}",
            region.resolution()
        );
    }
    let frames = store.read_frames().await?;
    let published: Vec<Frame> = frames.into_iter().filter(Frame::is_published).collect();
    // Whole drives are aligned, as by `build`, before the region's are picked: a
    // drive's bias is measured along all of it.
    let drives: std::collections::HashSet<&str> = published
        .iter()
        .filter(|f| near_region(f, region))
        .map(|f| f.drive_id.as_str())
        .collect();
    let theirs: Vec<Frame> = published
        .iter()
        .filter(|f| drives.contains(f.drive_id.as_str()))
        .cloned()
        .collect();
    let aligned = aligned(store, &theirs).await?;
    let near: Vec<Frame> = theirs
        .into_iter()
        .filter(|f| near_region(f, region))
        .collect();
    let near_aligned: Vec<Frame> = aligned
        .into_iter()
        .filter(|f| near_region(f, region))
        .collect();
    let ids: std::collections::HashSet<&str> = near.iter().map(|f| f.id.as_str()).collect();
    let detections: Vec<_> = store
        .read_detections()
        .await?
        .into_iter()
        .filter(|d| ids.contains(d.frame_id.as_str()))
        .collect();
    let detections = streetcomb_mapbuild::steer_detections(&detections, &near, &near_aligned);
    let inside = |pos: streetcomb_core::LatLon| {
        CellId::from_latlon(pos, REGION_RESOLUTION).is_ok_and(|c| c == region)
    };
    let features: Vec<_> = streetcomb_mapbuild::build_history(
        &near_aligned,
        &detections,
        &streetcomb_mapbuild::FuseParams::default(),
        &streetcomb_mapbuild::ChangeParams::default(),
    )
    .into_iter()
    .filter(|f| inside(f.pos))
    .collect();
    let own: Vec<Frame> = near
        .into_iter()
        .filter(|f| region_of(f.cell) == Some(region))
        .collect();
    let cov = streetcomb_mapbuild::coverage(&own, streetcomb_core::cell::DEFAULT_RESOLUTION);
    store
        .update_features(|rows| {
            let mut rows: Vec<_> = rows.into_iter().filter(|f| !inside(f.pos)).collect();
            rows.extend(features.iter().cloned());
            (rows, ())
        })
        .await?;
    store
        .update_coverage(|rows| {
            let mut rows: Vec<_> = rows
                .into_iter()
                .filter(|c| region_of(c.cell) != Some(region))
                .collect();
            rows.extend(cov.iter().cloned());
            (rows, ())
        })
        .await?;
    let cells: std::collections::HashSet<CellId> = cov.iter().map(|c| c.cell).collect();
    Ok(BuildSummary {
        features: features.len(),
        multi_view: features.iter().filter(|f| !f.single_view).count(),
        coverage_rows: cov.len(),
        cells: cells.len(),
        unique_km: streetcomb_mapbuild::unique_km(&own, streetcomb_core::cell::DEFAULT_RESOLUTION),
    })
}

/// Scores an epoch (default: the week of the latest published frame) under `rules`
/// and writes its `rewards_ledger` rows and `rewards_summary` rows, replacing earlier
/// rows of that epoch; the Merkle root goes into both datasets' metadata as
/// `merkle_root:{epoch}` (and the unpaid remainder as `unallocated:{epoch}`).
/// Freshness carries over from earlier valid frames; reputation from each
/// contributor's latest earlier summary row. Frames count as published once vision
/// moved their image under `images/`.
pub async fn rewards(
    store: &Store,
    epoch: Option<Epoch>,
    rules: &streetcomb_rewards::Rules,
) -> Result<streetcomb_rewards::EpochRewards> {
    use streetcomb_rewards::Gate;
    let frames = store.read_frames().await?;
    let epoch = match epoch {
        Some(e) => e,
        None => frames
            .iter()
            .filter(|f| f.is_published())
            .map(|f| f.captured_at)
            .max()
            .map(Epoch::of)
            .context("no published frames: run ingest and process first")?,
    };
    // Freshness carries over: when each cell was last validly captured before.
    let mut last: HashMap<CellId, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for f in frames.iter().filter(|f| {
        f.captured_at < epoch.start() && Gate::of_frame(f, f.is_published()) == Gate::Ok
    }) {
        let e = last.entry(f.cell).or_insert(f.captured_at);
        *e = (*e).max(f.captured_at);
    }
    let old_summary = store.read_rewards_summary().await?;
    let mut latest: std::collections::BTreeMap<streetcomb_core::ContributorId, (Epoch, u32)> =
        std::collections::BTreeMap::new();
    for s in old_summary.iter().filter(|s| s.epoch < epoch) {
        let e = latest
            .entry(s.contributor.clone())
            .or_insert((s.epoch, s.reputation));
        if s.epoch >= e.0 {
            *e = (s.epoch, s.reputation);
        }
    }
    let reputation = latest.into_iter().map(|(c, (_, r))| (c, r)).collect();
    let result = streetcomb_rewards::score_frames(
        epoch,
        frames.iter().map(|f| (f, f.is_published())),
        &last,
        &reputation,
        rules,
    )?;
    let mut ledger: Vec<_> = store
        .read_rewards_ledger()
        .await?
        .into_iter()
        .filter(|e| e.epoch != epoch)
        .collect();
    ledger.extend(result.ledger.iter().cloned());
    store.write_rewards_ledger(&ledger).await?;
    let mut summary: Vec<_> = old_summary
        .into_iter()
        .filter(|s| s.epoch != epoch)
        .collect();
    summary.extend(
        result
            .summary
            .iter()
            .map(|s| streetcomb_datasets::RewardsSummaryRow {
                epoch,
                contributor: s.contributor.clone(),
                total: s.total,
                leaf: s.leaf.clone(),
                reputation: s.reputation,
                status: s.status.to_owned(),
            }),
    );
    store.write_rewards_summary(&summary).await?;
    // Publish the epoch's Merkle root over its per-contributor totals.
    let root = result.root_hex();
    for ds in [REWARDS_LEDGER, REWARDS_SUMMARY] {
        store
            .set_metadata(ds, &merkle_root_key(epoch), &root)
            .await?;
    }
    store
        .set_metadata(
            REWARDS_SUMMARY,
            &format!("unallocated:{epoch}"),
            &result.unallocated.to_string(),
        )
        .await?;
    Ok(result)
}

const REWARDS_LEDGER: &str = "rewards_ledger";
const REWARDS_SUMMARY: &str = "rewards_summary";

/// The metadata key (of `rewards_ledger` and `rewards_summary`) holding `epoch`'s
/// published Merkle root.
pub fn merkle_root_key(epoch: Epoch) -> String {
    format!("merkle_root:{epoch}")
}

/// Builds `contributor`'s Merkle proof for `epoch` (default: the latest epoch in the
/// ledger) from the stored ledger rows, after checking that they still hash to the
/// root published by [`rewards`] and agree with the stored summary.
pub async fn rewards_proof(
    store: &Store,
    contributor: &streetcomb_core::ContributorId,
    epoch: Option<Epoch>,
) -> Result<streetcomb_rewards::Proof> {
    let ledger = store.read_rewards_ledger().await?;
    let epoch = match epoch {
        Some(e) => e,
        None => ledger
            .iter()
            .map(|e| e.epoch)
            .max()
            .context("the rewards ledger is empty: run `rewards run` first")?,
    };
    // Totals per contributor, 0-amount rows included, in contributor order.
    let mut totals: std::collections::BTreeMap<streetcomb_core::ContributorId, u64> =
        std::collections::BTreeMap::new();
    for e in ledger.iter().filter(|e| e.epoch == epoch) {
        let t = totals.entry(e.contributor.clone()).or_default();
        *t = t
            .checked_add(e.amount)
            .context("a contributor's total overflows u64")?;
    }
    let totals: Vec<_> = totals.into_iter().collect();
    let key = merkle_root_key(epoch);
    let published = store
        .datasets()
        .await?
        .into_iter()
        .find(|d| d.name == REWARDS_LEDGER)
        .and_then(|d| d.metadata.get(&key).cloned())
        .with_context(|| format!("no published root for epoch {epoch}: run `rewards run`"))?;
    let root = streetcomb_rewards::merkle_root_hex(epoch, &totals);
    if !root.eq_ignore_ascii_case(published.trim()) {
        invalid!("the ledger does not match its published root");
    }
    let proof = streetcomb_rewards::prove(epoch, &totals, contributor)
        .with_context(|| format!("{contributor} has no ledger rows in epoch {epoch}"))?;
    let summary = store.read_rewards_summary().await?;
    if let Some(s) = summary
        .iter()
        .find(|s| s.epoch == epoch && &s.contributor == contributor)
        && (s.total != proof.total
            || s.leaf != streetcomb_rewards::leaf_hash_hex(epoch, contributor, proof.total))
    {
        invalid!("the rewards summary disagrees with the ledger for {contributor}");
    }
    Ok(proof)
}

/// Where simulated drives go when the store is a local folder.
pub fn default_drives_dir(store: &str) -> PathBuf {
    let base = store.strip_prefix("file://").unwrap_or(store);
    PathBuf::from(base).join("drives")
}
