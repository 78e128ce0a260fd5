//! `streetcomb submit`: put a drive's files in the store and queue its ingest job.

use std::path::Path;

use serde::Serialize;
use streetcomb_datasets::Store;
use streetcomb_pipeline::{self as pipeline, PipelineError};

use crate::error::{ClusterError, Result};
use crate::job::Job;
use crate::queue::Queue;
use crate::run::{check_file_name, upload_key};

/// What `submit` did with one drive.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub drive: String,
    pub files: usize,
    pub bytes: u64,
    /// The same drive was submitted before (within the queue's duplicate window):
    /// no second job was queued.
    pub duplicate: bool,
}

/// Reads the drive directory `dir` here first, so that a bad drive is refused at
/// once with the file and the reason, then uploads its files and queues the job.
pub async fn submit(
    queue: &Queue,
    store: &Store,
    dir: &Path,
    contributor: Option<&str>,
) -> Result<Submitted> {
    let (drive, files) = {
        let dir = dir.to_owned();
        let contributor = contributor.map(str::to_owned);
        tokio::task::spawn_blocking(move || -> Result<_> {
            let input = pipeline::drive_dir::read_drive(&dir, contributor.as_deref())?;
            let mut files = Vec::new();
            walk(&dir, "", &mut files)?;
            files.sort();
            Ok((input.drive_id.to_string(), files))
        })
        .await
        .map_err(PipelineError::from)??
    };
    enqueue(queue, store, dir, &drive, &files, contributor).await
}

/// Uploads the files (paths relative to `dir`) of a drive already read and checked,
/// and queues its ingest job (the upload server, after its own checks).
pub async fn enqueue(
    queue: &Queue,
    store: &Store,
    dir: &Path,
    drive: &str,
    files: &[String],
    contributor: Option<&str>,
) -> Result<Submitted> {
    if files.is_empty() {
        return Err(ClusterError::Invalid(format!(
            "{}: no files to submit",
            dir.display()
        )));
    }
    let mut bytes = 0;
    for f in files {
        check_file_name(f)?;
        let data = tokio::fs::read(dir.join(f)).await?;
        bytes += data.len() as u64;
        store.put_blob(&upload_key(drive, f), data).await?;
    }
    let job = Job::Ingest {
        drive: drive.to_owned(),
        files: files.to_vec(),
        contributor: contributor.map(str::to_owned),
    };
    let published = queue.submit(&job).await?;
    Ok(Submitted {
        drive: drive.to_owned(),
        files: files.len(),
        bytes,
        duplicate: published.duplicate,
    })
}

/// The files under `dir`, as `/`-separated paths relative to the drive directory.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = e.file_type()?;
        if kind.is_dir() {
            walk(&e.path(), &rel, out)?;
        } else if kind.is_file() {
            check_file_name(&rel)?;
            out.push(rel);
        }
    }
    Ok(())
}
