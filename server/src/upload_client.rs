//! `streetcomb upload DRIVE --server URL`: sends a drive directory through the upload
//! API (see [`crate::upload_server`]) and resumes where the server left off.
//!
//! The upload id is kept in `DRIVE/.streetcomb-upload.json` with a fingerprint of the
//! declared files, so running the command again after an interruption (or a crash)
//! asks the server for its offsets and sends only the rest. Connection errors and
//! server errors (5xx) are retried with exponential backoff, re-reading the server's
//! offset before each retry; a chunk the server already has is acknowledged unchanged.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streetcomb_pipeline::{Context, PipelineError, Result, invalid};

use crate::upload_server::{CreateUpload, FileSpec, UPLOAD_OFFSET, UploadStatus};
use streetcomb_pipeline::drive_dir::{self, DriveMeta};

/// The state file inside the drive directory.
pub const STATE_FILE: &str = ".streetcomb-upload.json";

#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// The drive directory (frames/*.jpg or a video, a track, optional camera.json and
    /// drive.json).
    pub drive: PathBuf,
    /// The server's base URL, e.g. https://maps.example.org
    #[arg(long)]
    pub server: String,
    /// Your API key (from `streetcomb keys create`); prefer the environment variable,
    /// which other users of the machine cannot see.
    #[arg(long, env = "STREETCOMB_API_KEY", hide_env_values = true)]
    pub key: String,
    /// Bytes per chunk (the server's limit is 8 MiB unless configured otherwise).
    #[arg(long, default_value_t = 4 << 20)]
    pub chunk_bytes: u64,
    /// Retries after a connection or server error, with backoff, before giving up
    /// (run the command again to resume).
    #[arg(long, default_value_t = 8)]
    pub retries: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    server: String,
    upload_id: String,
    /// SHA-256 of the declaration: a changed drive starts a new upload.
    fingerprint: String,
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    retries: u32,
}

/// Why one request failed: worth retrying (connection, 5xx), or not (the server said no).
enum Failure {
    Retry(PipelineError),
    Fatal(PipelineError),
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Failure::Retry(PipelineError::other(e))
    }
}

/// The server's answer to a failed request, as one readable error.
async fn api_error(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            Some(format!(
                "{}: {}",
                e.get("code")?.as_str()?,
                e.get("message")?.as_str()?
            ))
        })
        .unwrap_or(text);
    let err = PipelineError::Invalid(format!("the server answered {status}: {detail}"));
    if status.is_server_error() {
        Failure::Retry(err)
    } else {
        Failure::Fatal(err)
    }
}

/// A successful answer's JSON body, or the server's error.
async fn json_or_error<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> std::result::Result<T, Failure> {
    if resp.status().is_success() {
        Ok(resp.json().await?)
    } else {
        Err(api_error(resp).await)
    }
}

impl Client {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    /// Runs `op` until it succeeds, retrying retryable failures with backoff.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Failure>>,
    {
        let mut attempt = 0u32;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e).context(what.to_owned()),
                Err(Failure::Retry(e)) => {
                    if attempt >= self.retries {
                        return Err(e).context(format!(
                            "{what}: giving up after {} retries; run the same command again to resume",
                            self.retries
                        ));
                    }
                    let wait = Duration::from_millis(250u64 << attempt.min(6))
                        .min(Duration::from_secs(10));
                    tracing::warn!("{what}: {e}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn status(&self, id: &str) -> std::result::Result<Option<UploadStatus>, Failure> {
        let resp = self
            .request(Method::GET, &format!("/api/v1/uploads/{id}"))
            .send()
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(resp.json().await?)),
            _ => Err(api_error(resp).await),
        }
    }

    async fn create(&self, decl: &CreateUpload) -> std::result::Result<UploadStatus, Failure> {
        let resp = self
            .request(Method::POST, "/api/v1/uploads")
            .json(decl)
            .send()
            .await?;
        json_or_error(resp).await
    }

    /// The server's offset for one file.
    async fn file_offset(&self, id: &str, name: &str) -> std::result::Result<u64, Failure> {
        let resp = self
            .request(Method::HEAD, &format!("/api/v1/uploads/{id}/files/{name}"))
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(api_error(resp).await);
        }
        offset_header(&resp).ok_or_else(|| {
            Failure::Fatal(PipelineError::Invalid(
                "no Upload-Offset in the answer".into(),
            ))
        })
    }

    /// Sends one chunk; answers the server's new offset (also on 409 offset mismatch).
    async fn send_chunk(
        &self,
        id: &str,
        name: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> std::result::Result<u64, Failure> {
        let resp = self
            .request(Method::PATCH, &format!("/api/v1/uploads/{id}/files/{name}"))
            .header(UPLOAD_OFFSET.as_str(), offset)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/offset+octet-stream",
            )
            .body(bytes)
            .send()
            .await?;
        let status = resp.status();
        let server_offset = offset_header(&resp);
        if status.is_success() {
            return server_offset.ok_or_else(|| {
                Failure::Fatal(PipelineError::Invalid(
                    "no Upload-Offset in the answer".into(),
                ))
            });
        }
        if status == StatusCode::CONFLICT {
            // Only a wrong offset is ours to fix by moving; any other conflict (bytes
            // that differ from what the server stored) is reported.
            let body = resp.text().await?;
            let code = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
            if code.as_deref() == Some("offset_mismatch")
                && let Some(o) = server_offset
            {
                return Ok(o);
            }
            return Err(Failure::Fatal(PipelineError::Invalid(format!(
                "the server answered {status}: {body}"
            ))));
        }
        Err(api_error(resp).await)
    }

    async fn commit(&self, id: &str) -> std::result::Result<serde_json::Value, Failure> {
        let resp = self
            .request(Method::POST, &format!("/api/v1/uploads/{id}/commit"))
            .send()
            .await?;
        json_or_error(resp).await
    }
}

fn offset_header(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get(UPLOAD_OFFSET.as_str())?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The files of a drive directory to send, as declared to the server.
fn declare(dir: &Path) -> Result<CreateUpload> {
    let meta: DriveMeta = match std::fs::read(dir.join("drive.json")) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{}: invalid drive.json", dir.display()))?,
        Err(_) => DriveMeta::default(),
    };
    let drive = meta.drive_id.unwrap_or_else(|| {
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("drive")
            .to_owned()
    });
    // The files the server accepts besides frames (the simulator's truth.json and
    // views.json stay home). No track is fine: frames may carry EXIF GPS.
    let mut names: Vec<String> = crate::upload_server::top_level_files()
        .into_iter()
        .filter(|n| dir.join(n).is_file())
        .map(str::to_owned)
        .collect();
    // A video drive: its video instead of frames/ (the server samples it).
    if !dir.join("frames").is_dir()
        && let Some(v) = streetcomb_pipeline::video::find_video(dir)?
    {
        let n = v
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: the file name is not UTF-8", v.display()))?;
        names.push(n.to_owned());
        return declared(dir, drive, names);
    }
    let frames = drive_dir::list_jpegs(&dir.join("frames"))?;
    if frames.is_empty() {
        invalid!("{}: no .jpg frames", dir.join("frames").display());
    }
    for p in frames {
        let n = p
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: the file name is not UTF-8", p.display()))?;
        names.push(format!("frames/{n}"));
    }
    declared(dir, drive, names)
}

/// The declaration of `names` (relative to `dir`), with their sizes and hashes.
fn declared(dir: &Path, drive: String, names: Vec<String>) -> Result<CreateUpload> {
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        let mut f = std::fs::File::open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut f, &mut hasher)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        files.push(FileSpec {
            name,
            size,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    Ok(CreateUpload { drive, files })
}

fn read_chunk(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(len)
        .read_to_end(&mut buf)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    if (buf.len() as u64) < len {
        invalid!("{}: the file shrank during the upload", path.display());
    }
    Ok(buf)
}

/// Uploads a drive and commits it; answers the server's commit result.
pub async fn upload(args: &UploadArgs, quiet: bool) -> Result<serde_json::Value> {
    if args.chunk_bytes == 0 {
        invalid!("--chunk-bytes must be at least 1");
    }
    let base = args.server.trim_end_matches('/').to_owned();
    let url = reqwest::Url::parse(&base)
        .map_err(PipelineError::other)
        .with_context(|| format!("--server {base:?}: not a URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() == "http" && !loopback {
        tracing::warn!("{base}: plain http sends your API key and frames unencrypted; use https");
    }
    let dir = args.drive.clone();
    let decl = tokio::task::spawn_blocking(move || declare(&dir))
        .await
        .context("hashing the drive's files")??;
    let fingerprint = hex::encode(Sha256::digest(serde_json::to_vec(&decl)?));
    let client = Client {
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(PipelineError::other)?,
        base: base.clone(),
        key: args.key.trim().to_owned(),
        retries: args.retries,
    };

    // Resume the upload named in the state file if it is for this server and these files.
    let state_path = args.drive.join(STATE_FILE);
    let previous: Option<State> = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        // The server URL may be spelled differently from last time: the id decides
        // (an unknown one gets a fresh upload).
        .filter(|s: &State| s.fingerprint == fingerprint);
    let mut status = None;
    if let Some(prev) = &previous {
        if prev.server != base {
            tracing::info!(upload = %prev.upload_id, "resuming an upload begun via {}", prev.server);
        }
        status = client
            .with_retries("reading the upload's status", || {
                client.status(&prev.upload_id)
            })
            .await?;
        if status.is_none() {
            tracing::warn!(upload = %prev.upload_id, "the server no longer knows this upload; starting afresh");
        }
    }
    let status = match status {
        Some(s) => {
            tracing::info!(
                upload = %s.id,
                "resuming: {} of {} bytes already on the server",
                s.received_bytes,
                s.total_bytes
            );
            s
        }
        None => {
            let s = client
                .with_retries("creating the upload", || client.create(&decl))
                .await?;
            let state = State {
                server: base.clone(),
                upload_id: s.id.clone(),
                fingerprint,
            };
            drive_dir::write_atomic(&state_path, &serde_json::to_vec_pretty(&state)?)?;
            tracing::info!(upload = %s.id, files = decl.files.len(), bytes = s.total_bytes, "upload created");
            s
        }
    };
    let id = status.id.clone();
    if let Some(result) = status.result {
        std::fs::remove_file(&state_path).ok();
        return Ok(result);
    }

    let pb = streetcomb_pipeline::progress::bar(status.total_bytes, "upload", quiet);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_position(status.received_bytes);
    for f in status.files.iter().filter(|f| f.offset < f.size) {
        let path = args.drive.join(&f.name);
        let mut offset = f.offset;
        while offset < f.size {
            let len = args.chunk_bytes.min(f.size - offset);
            let bytes = read_chunk(&path, offset, len)?;
            let what = format!("sending {} at {offset}", f.name);
            let mut resync = false;
            let new = client
                .with_retries(&what, || {
                    let bytes = bytes.clone();
                    let first = !std::mem::replace(&mut resync, true);
                    let client = &client;
                    let (id, name) = (&id, &f.name);
                    async move {
                        // After a failure, ask where the server is before sending again:
                        // the lost answer may hide a chunk that did arrive.
                        if !first {
                            let server = client.file_offset(id, name).await?;
                            if server != offset {
                                return Ok(server);
                            }
                        }
                        client.send_chunk(id, name, offset, bytes).await
                    }
                })
                .await?;
            if new > offset {
                pb.inc(new - offset);
            } else {
                pb.set_position(pb.position().saturating_sub(offset - new));
            }
            offset = new;
        }
    }
    pb.finish_and_clear();
    let result = client
        .with_retries("committing the upload", || client.commit(&id))
        .await?;
    std::fs::remove_file(&state_path).ok();
    Ok(result)
}
