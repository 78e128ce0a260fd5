//! The resumable upload API on `streetcomb serve` (protocol in the README, "Upload API").
//!
//! A contributor (authenticated by an API key, see [`crate::keys`]) declares a drive's
//! files with their sizes and SHA-256, sends each file in chunks at the server's
//! offset, and commits. Nothing reaches the datasets before the commit: chunks wait in
//! the store under `uploads/{id}/parts/`, one blob per chunk keyed by its offset
//! (object stores cannot append), and a file's offset is read back from that listing,
//! so an interrupted chunk leaves no trace and a server restart loses nothing.
//!
//! Chunk blobs are created with "create if absent": two racing requests for the same
//! offset cannot both land, and a re-sent chunk is compared with what is stored.

use std::collections::HashSet;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streetcomb_core::{ContributorId, DriveId};
use streetcomb_datasets::Store;
use streetcomb_pipeline::{Context, PipelineError, Result};

use crate::keys;

/// The header carrying a chunk's offset (request) and the server's offset (responses).
pub const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
/// The header carrying a file's declared size.
pub const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
/// Staging area root in the store.
const UPLOADS: &str = "uploads";

/// Limits on what one upload may hold. Each can be set with an environment variable
/// of the `streetcomb serve` process (named in [`Limits::from_env`]).
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub max_total_bytes: u64,
    pub max_chunk_bytes: u64,
    /// Uploads a contributor may have open (created, not yet committed) at once.
    pub max_open_uploads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 << 20,
            max_files: 20_000,
            max_total_bytes: 16 << 30,
            max_chunk_bytes: 8 << 20,
            max_open_uploads: 8,
        }
    }
}

impl Limits {
    /// Defaults, overridden by `STREETCOMB_UPLOAD_MAX_FILE_BYTES`, `..._MAX_FILES`,
    /// `..._MAX_TOTAL_BYTES`, `..._MAX_CHUNK_BYTES` and `..._MAX_OPEN_UPLOADS`.
    pub fn from_env() -> Result<Limits> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .ok()
                    .with_context(|| format!("{name}={v:?}: expected a positive whole number")),
                Err(_) => Ok(default),
            }
        }
        let d = Limits::default();
        Ok(Limits {
            max_file_bytes: var("STREETCOMB_UPLOAD_MAX_FILE_BYTES", d.max_file_bytes)?,
            max_files: var("STREETCOMB_UPLOAD_MAX_FILES", d.max_files)?,
            max_total_bytes: var("STREETCOMB_UPLOAD_MAX_TOTAL_BYTES", d.max_total_bytes)?,
            max_chunk_bytes: var("STREETCOMB_UPLOAD_MAX_CHUNK_BYTES", d.max_chunk_bytes)?,
            max_open_uploads: var("STREETCOMB_UPLOAD_MAX_OPEN_UPLOADS", d.max_open_uploads)?,
        })
    }
}

/// One declared file of an upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSpec {
    pub name: String,
    pub size: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
}

/// `POST /api/v1/uploads` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    pub drive: String,
    pub files: Vec<FileSpec>,
}

/// What the server keeps about an upload (`uploads/{id}/upload.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadRecord {
    id: String,
    contributor: String,
    drive: String,
    files: Vec<FileSpec>,
    created_at: DateTime<Utc>,
    /// The commit's answer, kept so that committing again returns the same result.
    committed: Option<serde_json::Value>,
}

/// Per-file progress in a status answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileStatus {
    pub name: String,
    pub size: u64,
    pub offset: u64,
}

/// `GET /api/v1/uploads/{id}` answer (also returned on creation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadStatus {
    pub id: String,
    pub drive: String,
    pub contributor: String,
    /// `open` or `committed`.
    pub state: String,
    pub files: Vec<FileStatus>,
    pub received_bytes: u64,
    pub total_bytes: u64,
    /// The commit's answer once committed.
    pub result: Option<serde_json::Value>,
}

/// Every failure answers `{"error": {"code", "message"}}` (plus `offset` where the
/// client must resume from the server's offset).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    offset: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            offset: None,
        }
    }
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("upload API: {e:#}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
    fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    fn offset_mismatch(given: u64, offset: u64, name: &str) -> Self {
        Self {
            offset: Some(offset),
            ..Self::new(
                StatusCode::CONFLICT,
                "offset_mismatch",
                format!(
                    "{name}: chunk at offset {given}, but the server has {offset} bytes; resend from {offset}"
                ),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(o) = self.offset {
            body["offset"] = o.into();
        }
        let mut resp = (
            self.status,
            axum::Json(serde_json::json!({ "error": body })),
        )
            .into_response();
        if let Some(o) = self.offset {
            resp.headers_mut()
                .insert(UPLOAD_OFFSET, HeaderValue::from(o));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

struct UploadState {
    store: Store,
    objects: Arc<dyn ObjectStore>,
    limits: Limits,
    /// Uploads being committed by this process (a second commit waits its turn: 409).
    committing: Mutex<HashSet<String>>,
    /// With a cluster, a commit queues the drive's ingest job instead of ingesting.
    queue: Option<streetcomb_cluster::Queue>,
}

/// The upload routes, to merge into the server's router.
///
/// With `queue` (`serve --nats`), a commit checks the drive as usual, then puts its
/// files in the store and queues its ingest job for the cluster's workers; the answer
/// says `"queued"` instead of carrying an ingest summary.
pub fn routes(store: Store, limits: Limits, queue: Option<streetcomb_cluster::Queue>) -> Router {
    let state = Arc::new(UploadState {
        objects: store.object_store(),
        store,
        limits,
        committing: Mutex::new(HashSet::new()),
        queue,
    });
    Router::new()
        .route(
            "/api/v1/uploads",
            post(create_upload).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/uploads/{id}",
            get(upload_status)
                .delete(abort_upload)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/v1/uploads/{id}/commit",
            post(commit_upload).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/uploads/{id}/files/{*name}",
            get(file_status)
                .patch(put_chunk)
                .fallback(method_not_allowed),
        )
        .route("/api/v1", any(no_route))
        .route("/api/v1/{*rest}", any(no_route))
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this path (see the README, \"Upload API\")",
    )
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such API path (see the README, \"Upload API\")",
    )
}

// ---- helpers ------------------------------------------------------------------------

impl UploadState {
    /// The chunks are no longer needed once committed; a failure only leaves garbage.
    async fn drop_chunks(&self, id: &str, files: usize) {
        for idx in 0..files {
            if let Err(e) = self.delete_parts(id, idx).await {
                tracing::warn!(upload = %id, "could not delete chunks: {}", e.message);
            }
        }
    }

    async fn authenticate(&self, headers: &HeaderMap) -> ApiResult<ContributorId> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "missing the Authorization: Bearer <API key> header",
            ));
        };
        let Some(key) = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return Err(unauthorized(
                "the Authorization header must be: Bearer <API key>",
            ));
        };
        let file = keys::load(&self.store).await.map_err(ApiError::internal)?;
        keys::authenticate(&file, key).ok_or_else(|| unauthorized("unknown or revoked API key"))
    }

    /// The upload `id` if it exists and belongs to `who` (someone else's is "not found":
    /// ids are not secrets, but their existence is nobody else's business).
    async fn record(&self, id: &str, who: &ContributorId) -> ApiResult<UploadRecord> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::not_found(&format!("upload {id:?}")));
        }
        let bytes = self
            .store
            .get_blob(&record_key(id))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(&format!("upload {id}")))?;
        let rec: UploadRecord = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
        if rec.contributor != who.as_str() {
            return Err(ApiError::not_found(&format!("upload {id}")));
        }
        Ok(rec)
    }

    async fn save_record(&self, rec: &UploadRecord) -> ApiResult<()> {
        let json = serde_json::to_vec_pretty(rec).map_err(ApiError::internal)?;
        self.store
            .put_blob(&record_key(&rec.id), json)
            .await
            .map_err(ApiError::internal)
    }

    /// The stored chunks of file `idx`, as (offset, size), sorted by offset.
    async fn parts(&self, id: &str, idx: usize) -> ApiResult<Vec<(u64, u64)>> {
        let prefix = ObjPath::from(parts_prefix(id, idx).as_str());
        let metas: Vec<_> = self
            .objects
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(ApiError::internal)?;
        let mut parts: Vec<(u64, u64)> = metas
            .iter()
            .filter_map(|m| {
                let off = m.location.filename()?.parse::<u64>().ok()?;
                Some((off, m.size))
            })
            .collect();
        parts.sort_unstable();
        Ok(parts)
    }

    /// The file's offset: the end of the run of chunks that starts at 0.
    async fn offset(&self, id: &str, idx: usize) -> ApiResult<u64> {
        Ok(contiguous_end(&self.parts(id, idx).await?))
    }

    /// Bytes `[start, end)` of file `idx`, read from its chunks.
    async fn read_range(&self, id: &str, idx: usize, start: u64, end: u64) -> ApiResult<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        for (off, size) in self.parts(id, idx).await? {
            if off + size <= start || off >= end {
                continue;
            }
            let blob = self
                .store
                .get_blob(&part_key(id, idx, off))
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal(format!("chunk {off} vanished")))?;
            let from = usize::try_from(start.saturating_sub(off)).unwrap_or(0);
            let to = usize::try_from((end - off).min(size)).unwrap_or(0);
            out.extend_from_slice(&blob[from..to]);
        }
        Ok(out)
    }

    async fn delete_parts(&self, id: &str, idx: usize) -> ApiResult<()> {
        for (off, _) in self.parts(id, idx).await? {
            self.store
                .delete_blob(&part_key(id, idx, off))
                .await
                .map_err(ApiError::internal)?;
        }
        Ok(())
    }

    async fn status(&self, rec: &UploadRecord) -> ApiResult<UploadStatus> {
        let mut files = Vec::with_capacity(rec.files.len());
        for (idx, f) in rec.files.iter().enumerate() {
            let offset = if rec.committed.is_some() {
                f.size
            } else {
                self.offset(&rec.id, idx).await?
            };
            files.push(FileStatus {
                name: f.name.clone(),
                size: f.size,
                offset,
            });
        }
        Ok(UploadStatus {
            id: rec.id.clone(),
            drive: rec.drive.clone(),
            contributor: rec.contributor.clone(),
            state: if rec.committed.is_some() {
                "committed"
            } else {
                "open"
            }
            .into(),
            received_bytes: files.iter().map(|f| f.offset).sum(),
            total_bytes: files.iter().map(|f| f.size).sum(),
            files,
            result: rec.committed.clone(),
        })
    }

    /// Whether frames of this drive are in the store already (the commit checks again;
    /// this spares the contributor sending a whole drive only to have it refused).
    async fn already_ingested(&self, drive: &DriveId) -> ApiResult<bool> {
        // A DriveId holds only letters, digits, '-', '_' and '.': safe inside quotes.
        let sql = format!("SELECT count(*) AS n FROM frames WHERE drive_id = '{drive}'");
        let batches = self.store.query(&sql).await.map_err(ApiError::internal)?;
        let json = streetcomb_datasets::batches_to_json(&batches).map_err(ApiError::internal)?;
        let rows: serde_json::Value = serde_json::from_slice(&json).map_err(ApiError::internal)?;
        Ok(rows[0]["n"].as_u64().unwrap_or(0) > 0)
    }

    /// Open uploads of `who` (for the per-contributor limit).
    async fn open_uploads(&self, who: &ContributorId) -> ApiResult<usize> {
        let listing = self
            .objects
            .list_with_delimiter(Some(&ObjPath::from(UPLOADS)))
            .await
            .map_err(ApiError::internal)?;
        let mut n = 0;
        for dir in listing.common_prefixes {
            let Some(id) = dir.filename() else { continue };
            if let Ok(rec) = self.record(id, who).await
                && rec.committed.is_none()
            {
                n += 1;
            }
        }
        Ok(n)
    }
}

fn record_key(id: &str) -> String {
    format!("{UPLOADS}/{id}/upload.json")
}

fn parts_prefix(id: &str, idx: usize) -> String {
    format!("{UPLOADS}/{id}/parts/{idx:06}")
}

fn part_key(id: &str, idx: usize, offset: u64) -> String {
    format!("{}/{offset:016}", parts_prefix(id, idx))
}

fn contiguous_end(parts: &[(u64, u64)]) -> u64 {
    let mut end = 0;
    for &(off, size) in parts {
        if off == end {
            end += size;
        } else if off > end {
            break;
        }
    }
    end
}

/// Reads a request body up to `limit` bytes: 413 past it, 400 if the connection
/// broke mid-body (nothing is stored then).
async fn read_body(body: Body, limit: u64, what: &str) -> ApiResult<Bytes> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad(
                "body_read_failed",
                format!("reading the {what} failed: {e}"),
            )
        })?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the {what} is larger than the limit of {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
}

/// Top-level names an upload may hold besides `frames/*.jpg`: the track files the
/// drive reader knows, `camera.json` and `drive.json`.
pub fn top_level_files() -> Vec<&'static str> {
    let mut v = streetcomb_ingest::TRACK_FILE_NAMES.to_vec();
    v.extend(["camera.json", "drive.json"]);
    v
}

/// A declared file name: `frames/NAME.jpg` (or `.jpeg`), a video `NAME.mp4` (`.mov`,
/// `.avi`, `.mkv`) at the top, or one of [`top_level_files`]. NAME is ASCII letters,
/// digits, `-`, `_`, `.`, not starting with `.` and without `..`, so no name can leave
/// the drive directory.
fn check_file_name(name: &str) -> std::result::Result<(), String> {
    let top = top_level_files();
    if top.contains(&name) {
        return Ok(());
    }
    let allowed = || {
        format!(
            "{name:?}: file names must be frames/NAME.jpg, a video NAME.mp4 (.mov, .avi, .mkv; NAME of ASCII letters, digits, '-', '_', '.') or one of {}",
            top.join(", ")
        )
    };
    let safe = |base: &str| {
        !base.is_empty()
            && base.len() <= 128
            && !base.starts_with('.')
            && !base.contains("..")
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if streetcomb_pipeline::video::is_video_name(name) && safe(name) {
        return Ok(());
    }
    let Some(base) = name.strip_prefix("frames/") else {
        return Err(allowed());
    };
    let lower = base.to_ascii_lowercase();
    let ok = safe(base) && (lower.ends_with(".jpg") || lower.ends_with(".jpeg"));
    if ok { Ok(()) } else { Err(allowed()) }
}

fn check_create(req: &CreateUpload, limits: &Limits) -> ApiResult<DriveId> {
    let drive = DriveId::new(req.drive.clone())
        .map_err(|e| ApiError::bad("bad_drive_name", format!("drive: {e}")))?;
    if req.files.is_empty() {
        return Err(ApiError::bad("no_files", "the upload declares no files"));
    }
    let too_large = |code, m: String| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, m);
    if req.files.len() > limits.max_files {
        return Err(too_large(
            "too_many_files",
            format!(
                "{} files declared; the limit is {} per upload",
                req.files.len(),
                limits.max_files
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for f in &req.files {
        check_file_name(&f.name).map_err(|m| ApiError::bad("bad_file_name", m))?;
        if !seen.insert(f.name.as_str()) {
            return Err(ApiError::bad(
                "duplicate_file",
                format!("{:?} is declared twice", f.name),
            ));
        }
        if f.size > limits.max_file_bytes {
            return Err(too_large(
                "file_too_large",
                format!(
                    "{}: {} bytes; the limit is {} bytes per file",
                    f.name, f.size, limits.max_file_bytes
                ),
            ));
        }
        if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad(
                "bad_sha256",
                format!("{}: sha256 must be 64 hex digits", f.name),
            ));
        }
        total = total.saturating_add(f.size);
    }
    if total > limits.max_total_bytes {
        return Err(too_large(
            "upload_too_large",
            format!(
                "{total} bytes declared; the limit is {} bytes per upload",
                limits.max_total_bytes
            ),
        ));
    }
    let videos = req
        .files
        .iter()
        .filter(|f| streetcomb_pipeline::video::is_video_name(&f.name))
        .count();
    if videos > 1 {
        return Err(ApiError::bad(
            "bad_file_name",
            format!("{videos} videos declared; a drive has one"),
        ));
    }
    if videos == 0 && !req.files.iter().any(|f| f.name.starts_with("frames/")) {
        return Err(ApiError::bad(
            "no_frames",
            "the upload declares no frames/*.jpg and no video",
        ));
    }
    Ok(drive)
}

fn file_index(rec: &UploadRecord, name: &str) -> ApiResult<usize> {
    rec.files
        .iter()
        .position(|f| f.name == name)
        .ok_or_else(|| ApiError::not_found(&format!("file {name:?} in upload {}", rec.id)))
}

fn offset_headers(offset: u64, size: u64) -> [(HeaderName, HeaderValue); 3] {
    [
        (UPLOAD_OFFSET, HeaderValue::from(offset)),
        (UPLOAD_LENGTH, HeaderValue::from(size)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

// ---- handlers -----------------------------------------------------------------------

/// `POST /api/v1/uploads`: declares a drive's files; answers 201 with the status.
async fn create_upload(
    State(s): State<Arc<UploadState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = s.authenticate(&headers).await?;
    let body = read_body(body, 16 << 20, "upload declaration").await?;
    let req: CreateUpload = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad("bad_json", format!("upload declaration: {e}")))?;
    let drive = check_create(&req, &s.limits)?;
    if s.already_ingested(&drive).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_ingested",
            format!("drive {drive} is already in the store; nothing to upload"),
        ));
    }
    let open = s.open_uploads(&who).await?;
    if open >= s.limits.max_open_uploads {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_uploads",
            format!(
                "{who} has {open} open uploads; the limit is {} (commit or delete one)",
                s.limits.max_open_uploads
            ),
        ));
    }
    let rec = UploadRecord {
        id: uuid::Uuid::new_v4().to_string(),
        contributor: who.to_string(),
        drive: drive.to_string(),
        files: req
            .files
            .into_iter()
            .map(|f| FileSpec {
                sha256: f.sha256.to_ascii_lowercase(),
                ..f
            })
            .collect(),
        created_at: Utc::now(),
        committed: None,
    };
    s.save_record(&rec).await?;
    tracing::info!(upload = %rec.id, contributor = %who, drive = %rec.drive, files = rec.files.len(), "upload created");
    let status = s.status(&rec).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/uploads/{}", rec.id))],
        axum::Json(status),
    )
        .into_response())
}

/// `GET /api/v1/uploads/{id}`: every file's offset.
async fn upload_status(
    State(s): State<Arc<UploadState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<UploadStatus>> {
    let who = s.authenticate(&headers).await?;
    let rec = s.record(&id, &who).await?;
    Ok(axum::Json(s.status(&rec).await?))
}

/// 409 for a change to an upload that is already committed.
fn already_committed(id: &str, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_committed",
        format!("upload {id} is committed; {why}"),
    )
}

/// `DELETE /api/v1/uploads/{id}`: drops an open upload and its chunks.
async fn abort_upload(
    State(s): State<Arc<UploadState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let who = s.authenticate(&headers).await?;
    let rec = s.record(&id, &who).await?;
    if rec.committed.is_some() {
        return Err(already_committed(&id, "its frames are in the datasets"));
    }
    for idx in 0..rec.files.len() {
        s.delete_parts(&id, idx).await?;
    }
    s.store
        .delete_blob(&record_key(&id))
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`/`HEAD /api/v1/uploads/{id}/files/{name}`: the server's offset for one file.
async fn file_status(
    State(s): State<Arc<UploadState>>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = s.authenticate(&headers).await?;
    let rec = s.record(&id, &who).await?;
    let idx = file_index(&rec, &name)?;
    let size = rec.files[idx].size;
    let offset = if rec.committed.is_some() {
        size
    } else {
        s.offset(&id, idx).await?
    };
    Ok((
        offset_headers(offset, size),
        axum::Json(FileStatus { name, size, offset }),
    )
        .into_response())
}

/// `PATCH /api/v1/uploads/{id}/files/{name}` with `Upload-Offset: N`: stores the body
/// as the bytes at `[N, N + len)`. N must be the server's offset; a chunk that is
/// already stored byte for byte is acknowledged without change.
async fn put_chunk(
    State(s): State<Arc<UploadState>>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let who = s.authenticate(&headers).await?;
    let rec = s.record(&id, &who).await?;
    if rec.committed.is_some() {
        return Err(already_committed(&id, "it takes no more data"));
    }
    let idx = file_index(&rec, &name)?;
    let size = rec.files[idx].size;
    let given: u64 = headers
        .get(&UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad(
                "missing_offset",
                "a chunk needs an Upload-Offset header: the byte offset of its first byte",
            )
        })?;
    let chunk = read_body(body, s.limits.max_chunk_bytes, "chunk").await?;
    let len = chunk.len() as u64;
    if len == 0 {
        return Err(ApiError::bad("empty_chunk", "the chunk has no bytes"));
    }
    if given.saturating_add(len) > size {
        return Err(ApiError::bad(
            "past_end",
            format!(
                "{name}: bytes {given}..{} go past its declared size {size}",
                given + len
            ),
        ));
    }
    let offset = s.offset(&id, idx).await?;
    if given > offset || (given < offset && given + len > offset) {
        return Err(ApiError::offset_mismatch(given, offset, &name));
    }
    if given < offset {
        return resent_chunk(&s, &rec, idx, given, &chunk, offset).await;
    }
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let key = part_key(&id, idx, given);
    match s
        .objects
        .put_opts(
            &ObjPath::from(key.as_str()),
            PutPayload::from(chunk.clone()),
            create,
        )
        .await
    {
        Ok(_) => {}
        // A concurrent request stored this offset first: judge ours against it.
        Err(object_store::Error::AlreadyExists { .. }) => {
            let offset = s.offset(&id, idx).await?;
            if given + len > offset {
                return Err(ApiError::offset_mismatch(given, offset, &name));
            }
            return resent_chunk(&s, &rec, idx, given, &chunk, offset).await;
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    let new_offset = given + len;
    if new_offset == size {
        // The last byte arrived: check the whole file now, so the client learns of a
        // corrupt file while it can still resend it.
        let data = s.read_range(&id, idx, 0, size).await?;
        let sha = hex::encode(Sha256::digest(&data));
        if sha != rec.files[idx].sha256 {
            s.delete_parts(&id, idx).await?;
            return Err(ApiError {
                offset: Some(0),
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "checksum_mismatch",
                    format!(
                        "{name}: the received bytes hash to {sha}, not the declared {}; the file was reset, resend it from 0",
                        rec.files[idx].sha256
                    ),
                )
            });
        }
    }
    Ok((
        offset_headers(new_offset, size),
        axum::Json(serde_json::json!({
            "offset": new_offset,
            "size": size,
            "complete": new_offset == size,
        })),
    )
        .into_response())
}

async fn resent_chunk(
    s: &UploadState,
    rec: &UploadRecord,
    idx: usize,
    given: u64,
    chunk: &[u8],
    offset: u64,
) -> ApiResult<Response> {
    let size = rec.files[idx].size;
    let stored = s
        .read_range(&rec.id, idx, given, given + chunk.len() as u64)
        .await?;
    if stored != chunk {
        return Err(ApiError {
            offset: Some(offset),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "chunk_conflict",
                format!(
                    "{}: bytes {given}..{} are already stored and differ from this chunk",
                    rec.files[idx].name,
                    given + chunk.len() as u64
                ),
            )
        });
    }
    Ok((
        offset_headers(offset, size),
        axum::Json(serde_json::json!({
            "offset": offset,
            "size": size,
            "complete": offset == size,
            "unchanged": true,
        })),
    )
        .into_response())
}

/// Removes an id from the committing set when the commit ends, however it ends.
struct CommitGuard<'a>(&'a Mutex<HashSet<String>>, String);

impl Drop for CommitGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.0.lock() {
            set.remove(&self.1);
        }
    }
}

/// `POST /api/v1/uploads/{id}/commit`: checks every file, assembles the drive and
/// ingests it. Committing a committed upload answers the first commit's result.
async fn commit_upload(
    State(s): State<Arc<UploadState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = s.authenticate(&headers).await?;
    let mut rec = s.record(&id, &who).await?;
    if let Some(result) = &rec.committed {
        return Ok(axum::Json(result.clone()).into_response());
    }
    let inserted = s
        .committing
        .lock()
        .map(|mut set| set.insert(id.clone()))
        .unwrap_or(false);
    if !inserted {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "commit_in_progress",
            format!("upload {id} is being committed; ask its status in a moment"),
        ));
    }
    let _guard = CommitGuard(&s.committing, id.clone());
    // Re-read under the guard: a commit that just finished has stored its result.
    rec = s.record(&id, &who).await?;
    if let Some(result) = &rec.committed {
        return Ok(axum::Json(result.clone()).into_response());
    }
    let status = s.status(&rec).await?;
    let missing: Vec<String> = status
        .files
        .iter()
        .filter(|f| f.offset < f.size)
        .map(|f| format!("{} ({}/{} bytes)", f.name, f.offset, f.size))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "incomplete",
            format!(
                "{} of {} files are incomplete: {}{}",
                missing.len(),
                rec.files.len(),
                missing
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() > 5 { ", ..." } else { "" }
            ),
        ));
    }

    // Assemble the drive directory in a private temporary folder and read it with the
    // same reader as `streetcomb ingest`, so uploads accept exactly the same drives.
    let tmp = tempfile::tempdir().map_err(ApiError::internal)?;
    let dir = tmp.path().join(&rec.drive);
    // frames/ only when frames were sent: without it the reader looks for a video.
    let sub = if rec.files.iter().any(|f| f.name.starts_with("frames/")) {
        dir.join("frames")
    } else {
        dir.clone()
    };
    std::fs::create_dir_all(sub).map_err(ApiError::internal)?;
    for (idx, f) in rec.files.iter().enumerate() {
        let data = s.read_range(&id, idx, 0, f.size).await?;
        let sha = hex::encode(Sha256::digest(&data));
        if sha != f.sha256 {
            s.delete_parts(&id, idx).await?;
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "checksum_mismatch",
                format!(
                    "{}: the stored bytes hash to {sha}, not the declared {}; the file was reset, resend it",
                    f.name, f.sha256
                ),
            ));
        }
        tokio::fs::write(dir.join(&f.name), &data)
            .await
            .map_err(ApiError::internal)?;
    }
    // The declared drive name is the drive's id (it is what creation checked against
    // the store), whatever drive.json says.
    let meta_path = dir.join("drive.json");
    if let Ok(bytes) = tokio::fs::read(&meta_path).await {
        let mut meta: streetcomb_pipeline::drive_dir::DriveMeta = serde_json::from_slice(&bytes)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_drive",
                    format!("drive.json: {e}"),
                )
            })?;
        meta.drive_id = Some(rec.drive.clone());
        let json = serde_json::to_vec(&meta).map_err(ApiError::internal)?;
        tokio::fs::write(&meta_path, json)
            .await
            .map_err(ApiError::internal)?;
    }
    let contributor = who.to_string();
    let read_dir = dir.clone();
    let input = tokio::task::spawn_blocking(move || {
        streetcomb_pipeline::drive_dir::read_drive(&read_dir, Some(&contributor))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_drive",
            strip_tmp(&format!("{e:#}"), tmp.path()),
        )
    })?;
    if let Some(queue) = &s.queue {
        let result = queue_drive(&s, queue, &rec, &dir, input.drive_id.as_str(), &who).await?;
        rec.committed = Some(result.clone());
        s.save_record(&rec).await?;
        s.drop_chunks(&id, rec.files.len()).await;
        tracing::info!(upload = %id, drive = %rec.drive, "upload committed: ingest job queued");
        return Ok(axum::Json(result).into_response());
    }
    let params = streetcomb_ingest::IngestParams::default();
    let summary = streetcomb_pipeline::ingest(&s.store, vec![input], &params, true)
        .await
        .map_err(|e| {
            let msg = strip_tmp(&e.to_string(), tmp.path());
            match e.root() {
                PipelineError::AlreadyIngested { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "already_ingested", msg)
                }
                _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "ingest_failed", msg),
            }
        })?;
    let summary_json = serde_json::to_string(&summary).map_err(ApiError::internal)?;
    let summary: serde_json::Value =
        serde_json::from_str(&strip_tmp(&summary_json, tmp.path())).map_err(ApiError::internal)?;
    let result = serde_json::json!({
        "id": id,
        "drive": rec.drive,
        "contributor": rec.contributor,
        "committed_at": Utc::now(),
        "summary": summary,
    });
    rec.committed = Some(result.clone());
    s.save_record(&rec).await?;
    s.drop_chunks(&id, rec.files.len()).await;
    tracing::info!(upload = %id, drive = %rec.drive, kept = %summary["kept"], "upload committed");
    Ok(axum::Json(result).into_response())
}

/// The cluster's commit: the checked drive's files into the store, its ingest job
/// onto the queue (once: the job id is the drive's).
async fn queue_drive(
    s: &UploadState,
    queue: &streetcomb_cluster::Queue,
    rec: &UploadRecord,
    dir: &FsPath,
    drive: &str,
    who: &ContributorId,
) -> ApiResult<serde_json::Value> {
    let known = s
        .store
        .read_frames()
        .await
        .map_err(ApiError::internal)?
        .iter()
        .any(|f| f.drive_id.as_str() == drive);
    if known {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_ingested",
            format!("drive {drive} was already ingested; nothing was stored"),
        ));
    }
    let files: Vec<String> = rec.files.iter().map(|f| f.name.clone()).collect();
    let queued =
        streetcomb_cluster::enqueue(queue, &s.store, dir, drive, &files, Some(who.as_str()))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "queue_unavailable",
                    e.to_string(),
                )
            })?;
    Ok(serde_json::json!({
        "id": rec.id,
        "drive": rec.drive,
        "contributor": rec.contributor,
        "committed_at": Utc::now(),
        "queued": {"job": format!("ingest:{drive}"), "duplicate": queued.duplicate},
    }))
}

/// Error messages name files as the contributor knows them, not the server's temp path.
fn strip_tmp(msg: &str, tmp: &FsPath) -> String {
    msg.replace(&format!("{}/", tmp.display()), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_drive_directory() {
        for ok in [
            "frames/20261116T080000.000Z.jpg",
            "frames/a.JPEG",
            "track.gpx",
            "camera.json",
            "GX010042.MP4",
            "video.mkv",
        ] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../x.jpg",
            "frames/../x.jpg",
            "frames/.hidden.jpg",
            "frames/a/b.jpg",
            "/etc/passwd",
            "frames/x.png",
            "frames/",
            "truth.json",
            "frames/x y.jpg",
            "../v.mp4",
            "cam/v.mp4",
            ".v.mp4",
            "my drive.mp4",
            "frames/v.mp4",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_offset_is_the_end_of_the_chunks_contiguous_from_zero() {
        assert_eq!(contiguous_end(&[]), 0);
        assert_eq!(contiguous_end(&[(0, 10), (10, 5)]), 15);
        assert_eq!(contiguous_end(&[(0, 10), (20, 5)]), 10);
        assert_eq!(contiguous_end(&[(5, 10)]), 0);
    }
}
