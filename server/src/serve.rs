//! `streetcomb serve`: the web map, vector tiles, TileJSON, sequences' frames and
//! blurred images over HTTP (read-only).
//!
//! Tiles are cut once and then served from memory. The map data lives in a
//! [`Generation`]: the [`TileSource`] built from one set of dataset versions plus
//! the tiles cut from it so far (gzip bytes and a precomputed strong ETag each).
//! At most every [`CHECK_INTERVAL`] a request triggers a cheap check of the
//! `frames`, `coverage` and `features` manifest versions and of the basemap extract's
//! tag in the background; when one changed, a new generation is built off the request path and swapped in, and the
//! old one keeps answering until then. So a hit costs a read lock, an `Arc` clone and
//! a map lookup, and data written by `ingest`/`process`/`build` shows up without a
//! restart.
//!
//! The basemap (`/basemap.json`, `/basemap/{z}/{x}/{y}.mvt`) is cut from the OSM
//! extract kept in the store (`streetcomb basemap`, or the demo's) and cached the same
//! way. A new generation keeps the previous one's basemap and its cut tiles unless the
//! extract's tag changed, so new drives do not re-read the extract.
//!
//! For the viewer's panels, `/frames/{id}` gives a published frame with its
//! detections and its neighbours in the sequence, and `/features/{id}` a feature with
//! the frames that saw it ([`streetcomb_mapbuild::sightings`]) and the value read on
//! it.
//!
//! The viewer at `/` is MapLibre GL JS, served from the npm package that
//! `scripts/setup.sh` installs (directory in `STREETCOMB_VIEWER_ASSETS`, default
//! `$STREETCOMB_CACHE/viewer/node_modules/maplibre-gl/dist`): no CDN, no glyphs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dashmap::DashMap;
use headers::{ETag, HeaderMapExt, IfNoneMatch};
use streetcomb_core::{Detection, Frame, MapFeature};
use streetcomb_datasets::{Dataset, Store};
use streetcomb_pipeline::{Context, Result};
use streetcomb_tiles::{Basemap, TileError, TileSource};
use tower_http::cors::{Any, CorsLayer};

/// How often a request may trigger a check of the store's dataset versions.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

const MVT: HeaderValue = HeaderValue::from_static("application/vnd.mapbox-vector-tile");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// Clients may keep a tile but must revalidate it (a cheap 304) before reuse, since
/// the data behind it changes.
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
const VARY: HeaderValue = HeaderValue::from_static("accept-encoding");

/// The versions of the datasets the map is built from (`None`: never written), and
/// the tag of the basemap extract.
type Versions = ([Option<u64>; 3], Option<String>);
const INPUTS: [Dataset; 3] = [Dataset::Frames, Dataset::Coverage, Dataset::Features];

/// One cut tile, ready to send.
#[derive(Debug, Clone)]
enum Cached {
    Empty,
    Tile { gz: Bytes, etag: HeaderValue },
}

/// Which tile set a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tiles {
    Data,
    Basemap,
}

/// The map built from one set of dataset versions, and the tiles cut from it so far.
struct Generation {
    versions: Versions,
    tiles: TileSource,
    cache: DashMap<(u8, u32, u32), Cached>,
    /// The store's basemap and its tiles cut so far, shared with the previous
    /// generation while the extract is the same.
    basemap: Arc<BasemapTiles>,
    /// Per drive id, the JSON list of its published frames for the viewer's panel.
    sequences: HashMap<String, Bytes>,
    /// Per published frame id, the JSON the frame panel shows.
    frames: HashMap<String, Bytes>,
    /// Per feature id, the JSON the feature panel shows.
    features: HashMap<String, Bytes>,
}

/// The basemap read from one version of the store's extract (`None`: there is none),
/// and the tiles cut from it so far.
#[derive(Debug)]
struct BasemapTiles {
    map: Option<Basemap>,
    cache: DashMap<(u8, u32, u32), Cached>,
}

impl Generation {
    fn cut(&self, which: Tiles, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, TileError> {
        match (which, &self.basemap.map) {
            (Tiles::Data, _) => self.tiles.tile(z, x, y),
            (Tiles::Basemap, Some(b)) => b.tile(z, x, y),
            (Tiles::Basemap, None) => Ok(None),
        }
    }

    fn cache(&self, which: Tiles) -> &DashMap<(u8, u32, u32), Cached> {
        match which {
            Tiles::Data => &self.cache,
            Tiles::Basemap => &self.basemap.cache,
        }
    }
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("versions", &self.versions)
            .field("tiles", &self.tiles)
            .field("cached", &self.cache.len())
            .field("basemap", &self.basemap.map)
            .finish()
    }
}

/// The viewer's MapLibre files, or why they are missing.
#[derive(Debug)]
enum Assets {
    Found { js: Bytes, css: Bytes },
    Missing(String),
}

#[derive(Debug)]
struct AppState {
    store: Store,
    current: RwLock<Arc<Generation>>,
    started: Instant,
    /// Milliseconds after `started` of the last version check.
    checked_ms: AtomicU64,
    refreshing: AtomicBool,
    assets: Assets,
}

impl AppState {
    fn generation(self: &Arc<Self>) -> Arc<Generation> {
        let g = match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        self.maybe_refresh(&g);
        g
    }

    /// Starts a background check of the dataset versions if the last one is older
    /// than [`CHECK_INTERVAL`] and none is running.
    fn maybe_refresh(self: &Arc<Self>, g: &Arc<Generation>) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.checked_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < CHECK_INTERVAL.as_millis() as u64
            || self
                .refreshing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let state = Arc::clone(self);
        let seen = Arc::clone(g);
        tokio::spawn(async move {
            if let Err(e) = state.refresh(&seen).await {
                tracing::warn!("cannot refresh the map from the store: {e:#}");
            }
            let done = state.started.elapsed().as_millis() as u64;
            state.checked_ms.store(done, Ordering::Relaxed);
            state.refreshing.store(false, Ordering::Release);
        });
    }

    async fn refresh(&self, seen: &Generation) -> Result<()> {
        if versions(&self.store).await? == seen.versions {
            return Ok(());
        }
        let next = Arc::new(build_generation(&self.store, Some(seen)).await?);
        tracing::info!("map data changed: now {:?}", next.versions);
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }
}

async fn versions(store: &Store) -> Result<Versions> {
    let mut v = [None; 3];
    for (slot, ds) in v.iter_mut().zip(INPUTS) {
        *slot = store.manifest(ds).await?.map(|m| m.version);
    }
    Ok((
        v,
        store
            .blob_tag(streetcomb_pipeline::basemap::EXTRACT_KEY)
            .await?,
    ))
}

/// Builds the tile source from the store's datasets.
pub async fn tile_source(store: &Store) -> Result<TileSource> {
    Ok(read_map(store).await?.tiles)
}

/// What one generation is built from.
struct MapData {
    tiles: TileSource,
    /// Published frames, by drive then capture time.
    frames: Vec<Frame>,
    features: Vec<MapFeature>,
}

/// The tile source and the published frames and features behind it.
async fn read_map(store: &Store) -> Result<MapData> {
    let frames = store.read_frames().await?;
    let mut published: Vec<_> = frames.into_iter().filter(|f| f.is_published()).collect();
    published.sort_by(|a, b| (&a.drive_id, a.captured_at).cmp(&(&b.drive_id, b.captured_at)));
    let coverage = store.read_coverage().await?;
    let features = store.read_features().await?;
    // The tile source keeps its own copy of the features; the frames come back.
    let feats = features.clone();
    let (tiles, frames) = tokio::task::spawn_blocking(move || {
        let sequences = streetcomb_tiles::sequences_from_frames(&published);
        let coverage = streetcomb_tiles::coverage_summary(&coverage);
        let points = published
            .iter()
            .map(|f| streetcomb_tiles::FramePoint::from_frame(f, image_url(f)))
            .collect();
        let tiles = TileSource::build(sequences, coverage, points, features, chrono::Utc::now());
        (tiles, published)
    })
    .await
    .context("building the tile source")?;
    Ok(MapData {
        tiles,
        frames,
        features: feats,
    })
}

fn image_url(f: &Frame) -> String {
    format!("/{}", f.image_key)
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

fn detection_json(d: &Detection) -> serde_json::Value {
    serde_json::json!({
        "class": d.class.as_str(),
        "score": round(f64::from(d.score), 1e3),
        "bbox": [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1],
        "text": d.text,
        "value": d.value,
    })
}

/// The panels' JSON: per drive its frames, per frame its detections and neighbours,
/// per feature the frames that saw it.
struct Panels {
    sequences: HashMap<String, Bytes>,
    frames: HashMap<String, Bytes>,
    features: HashMap<String, Bytes>,
}

/// `frames` are sorted by drive then capture time.
fn panels(frames: &[Frame], detections: &[Detection], features: &[MapFeature]) -> Panels {
    let mut by_frame: HashMap<&str, Vec<&Detection>> = HashMap::new();
    for d in detections {
        by_frame.entry(d.frame_id.as_str()).or_default().push(d);
    }
    let mut sequences = HashMap::new();
    let mut frame_json = HashMap::new();
    for run in frames.chunk_by(|a, b| a.drive_id == b.drive_id) {
        let mut list = Vec::with_capacity(run.len());
        for (i, f) in run.iter().enumerate() {
            let id = |j: Option<usize>| j.and_then(|j| run.get(j)).map(|f| f.id.to_string());
            let dets: Vec<serde_json::Value> = by_frame
                .get(f.id.as_str())
                .into_iter()
                .flatten()
                .map(|d| detection_json(d))
                .collect();
            // The sequence list's entry, then the panel's: the same fields and more.
            let mut entry = serde_json::json!({
                "frame_id": f.id.as_str(),
                "captured_at": time(f.captured_at),
                "lon": f.pos.lon(),
                "lat": f.pos.lat(),
                "heading": round(f.heading_deg, 10.0),
                "image_url": image_url(f),
                "detections": dets.len(),
            });
            list.push(entry.clone());
            entry["drive_id"] = f.drive_id.as_str().into();
            entry["contributor"] = f.contributor.as_str().into();
            entry["index"] = i.into();
            entry["count"] = run.len().into();
            entry["prev"] = id(i.checked_sub(1)).into();
            entry["next"] = id(Some(i + 1)).into();
            entry["blur"] = f
                .blur
                .as_ref()
                .map(|b| {
                    serde_json::json!({
                        "faces": b.faces, "plates": b.plates, "vehicle_bands": b.vehicle_bands,
                    })
                })
                .into();
            entry["detections"] = dets.into();
            frame_json.insert(f.id.to_string(), Bytes::from(entry.to_string()));
        }
        if let Some(first) = run.first() {
            let body = serde_json::json!({ "drive_id": first.drive_id.as_str(), "frames": list });
            sequences.insert(first.drive_id.to_string(), Bytes::from(body.to_string()));
        }
    }
    let max_range = streetcomb_mapbuild::FuseParams::default().max_range_m;
    let seen = streetcomb_mapbuild::sightings(features, frames, detections, max_range);
    let by_id: HashMap<&str, &Frame> = frames.iter().map(|f| (f.id.as_str(), f)).collect();
    let mut feature_json = HashMap::new();
    for (f, sightings) in features.iter().zip(seen) {
        let mut texts: HashMap<&str, usize> = HashMap::new();
        let mut list = Vec::with_capacity(sightings.len());
        for s in &sightings {
            let Some(d) = detections.get(s.detection) else {
                continue;
            };
            let Some(fr) = by_id.get(d.frame_id.as_str()) else {
                continue;
            };
            if let Some(t) = d.text.as_deref().filter(|t| !t.is_empty()) {
                *texts.entry(t).or_default() += 1;
            }
            list.push(serde_json::json!({
                "frame_id": fr.id.as_str(),
                "drive_id": fr.drive_id.as_str(),
                "captured_at": time(fr.captured_at),
                "image_url": image_url(fr),
                "range_m": round(s.range_m, 10.0),
                "detection": detection_json(d),
            }));
        }
        // The value is the feature's fused number (a speed limit), else what most of
        // its pictures read (ties: the alphabetically first).
        let value = f.value.map(|v| v.to_string()).or_else(|| {
            texts
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(t, _)| t.to_owned())
        });
        let body = serde_json::json!({
            "id": f.id.as_str(),
            "class": f.class.as_str(),
            "value": value,
            "status": f.status.as_str(),
            "confidence": round(f.confidence, 1e3),
            "first_seen": time(f.first_seen),
            "last_seen": time(f.last_seen),
            "n_detections": f.n_detections,
            "n_drives": f.n_drives,
            "uncertainty_m": round(f.uncertainty_m, 100.0),
            "lon": f.pos.lon(),
            "lat": f.pos.lat(),
            "frames": list,
        });
        feature_json.insert(f.id.to_string(), Bytes::from(body.to_string()));
    }
    Panels {
        sequences,
        frames: frame_json,
        features: feature_json,
    }
}

/// The map as the store holds it now; the basemap is taken over from `previous`
/// when its extract has not changed.
async fn build_generation(store: &Store, previous: Option<&Generation>) -> Result<Generation> {
    // Versions first: if a write lands in between, the next check sees a newer
    // version and rebuilds, so nothing is missed.
    let versions = versions(store).await?;
    let map = read_map(store).await?;
    let detections = store.read_detections().await?;
    let basemap = match previous {
        Some(p) if p.versions.1 == versions.1 => Arc::clone(&p.basemap),
        _ => Arc::new(BasemapTiles {
            map: streetcomb_pipeline::basemap::load(store)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!("no basemap: {e:#}");
                    None
                }),
            cache: DashMap::new(),
        }),
    };
    let MapData {
        tiles,
        frames,
        features,
    } = map;
    let p = tokio::task::spawn_blocking(move || panels(&frames, &detections, &features))
        .await
        .context("building the viewer's panels")?;
    Ok(Generation {
        versions,
        tiles,
        cache: DashMap::new(),
        basemap,
        sequences: p.sequences,
        frames: p.frames,
        features: p.features,
    })
}

/// Where the viewer's MapLibre files are: `STREETCOMB_VIEWER_ASSETS`, else the
/// directory `scripts/setup.sh` installs them to.
fn assets_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STREETCOMB_VIEWER_ASSETS") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("STREETCOMB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("streetcomb")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/streetcomb")))
        .unwrap_or_else(|| PathBuf::from(".cache/streetcomb"));
    cache.join("viewer/node_modules/maplibre-gl/dist")
}

fn load_assets() -> Assets {
    let dir = assets_dir();
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map(Bytes::from)
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))
    };
    match (read("maplibre-gl.js"), read("maplibre-gl.css")) {
        (Ok(js), Ok(css)) => Assets::Found { js, css },
        (Err(e), _) | (_, Err(e)) => Assets::Missing(format!(
            "the web viewer's MapLibre GL JS files are missing ({e}): run `make setup` \
             (scripts/setup.sh), or set STREETCOMB_VIEWER_ASSETS to the maplibre-gl \
             package's dist directory"
        )),
    }
}

/// The server over `store`, its map built from the store's current datasets.
pub async fn app(store: Store) -> Result<Router> {
    let first = build_generation(&store, None).await?;
    let assets = load_assets();
    if let Assets::Missing(why) = &assets {
        tracing::warn!("{why}");
    }
    let state = Arc::new(AppState {
        store,
        current: RwLock::new(Arc::new(first)),
        started: Instant::now(),
        checked_ms: AtomicU64::new(0),
        refreshing: AtomicBool::new(false),
        assets,
    });
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers(Any)
        .expose_headers([header::ETAG]);
    Ok(Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        .route("/tiles.json", get(tilejson))
        .route("/tiles/{z}/{x}/{y}", get(tile))
        .route("/basemap.json", get(basemap_tilejson))
        .route("/basemap/{z}/{x}/{y}", get(basemap_tile))
        .route("/sequences/{drive}/frames", get(sequence_frames))
        .route("/frames/{id}", get(frame_panel))
        .route("/features/{id}", get(feature_panel))
        .route("/images/{*key}", get(image))
        .layer(cors)
        .with_state(state))
}

pub async fn serve(
    store: Store,
    addr: &str,
    queue: Option<streetcomb_cluster::Queue>,
) -> Result<()> {
    let uploads = crate::upload_server::Limits::from_env()?;
    let app = app(store.clone())
        .await?
        .merge(crate::serve_query::routes(store.clone()))
        .merge(crate::upload_server::routes(store, uploads, queue));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("serving on http://{}/", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

async fn asset(State(s): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    let (js, css) = match &s.assets {
        Assets::Found { js, css } => (js, css),
        Assets::Missing(why) => {
            return (StatusCode::SERVICE_UNAVAILABLE, why.clone()).into_response();
        }
    };
    let (body, kind) = match file.as_str() {
        "maplibre-gl.js" => (js, "text/javascript; charset=utf-8"),
        "maplibre-gl.css" => (css, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body.clone(),
    )
        .into_response()
}

/// The `Host` the client asked, for the absolute tile URLs TileJSON needs.
fn host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080")
}

async fn tilejson(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let host = host(&headers);
    let g = s.generation();
    let tj = g
        .tiles
        .tilejson(&format!("http://{host}/tiles/{{z}}/{{x}}/{{y}}.mvt"));
    ([(header::CACHE_CONTROL, REVALIDATE)], axum::Json(tj)).into_response()
}

/// `/tiles/{z}/{x}/{y}.mvt` (also without the extension).
async fn tile(
    State(s): State<Arc<AppState>>,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    send_tile(&s, Tiles::Data, (z, x, y), &headers).await
}

/// `/basemap/{z}/{x}/{y}.mvt`: roads, water and buildings (204 everywhere when the
/// store has no basemap).
async fn basemap_tile(
    State(s): State<Arc<AppState>>,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    send_tile(&s, Tiles::Basemap, (z, x, y), &headers).await
}

/// TileJSON of the basemap; a valid document with no bounds when there is none, so
/// the viewer's style loads either way.
async fn basemap_tilejson(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let url = format!("http://{}/basemap/{{z}}/{{x}}/{{y}}.mvt", host(&headers));
    let g = s.generation();
    let tj = match &g.basemap.map {
        Some(b) => b.tilejson(&url),
        None => Basemap::from_ways(&[]).tilejson(&url),
    };
    ([(header::CACHE_CONTROL, REVALIDATE)], axum::Json(tj)).into_response()
}

/// Cuts (once) and sends one tile, with its ETag, gzip when accepted.
async fn send_tile(
    s: &Arc<AppState>,
    which: Tiles,
    (z, x, y): (String, String, String),
    headers: &HeaderMap,
) -> Response {
    let y = y.strip_suffix(".mvt").unwrap_or(&y);
    let (Ok(z), Ok(x), Ok(y)) = (z.parse::<u8>(), x.parse::<u32>(), y.parse::<u32>()) else {
        return (StatusCode::NOT_FOUND, "tiles are {z}/{x}/{y}.mvt").into_response();
    };
    let g = s.generation();
    let cached = match g.cache(which).get(&(z, x, y)) {
        Some(c) => c.clone(),
        None => {
            let cut = Arc::clone(&g);
            let made = tokio::task::spawn_blocking(move || cut.cut(which, z, x, y)).await;
            let c = match made {
                Ok(Ok(None)) => Cached::Empty,
                Ok(Ok(Some(gz))) => Cached::Tile {
                    etag: etag(&gz),
                    gz: Bytes::from(gz),
                },
                Ok(Err(e)) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
                Err(e) => {
                    return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
                }
            };
            g.cache(which).insert((z, x, y), c.clone());
            c
        }
    };
    let Cached::Tile { gz, etag } = cached else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let mut h = HeaderMap::with_capacity(6);
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, REVALIDATE);
    h.insert(header::VARY, VARY);
    if matches_etag(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(header::CONTENT_TYPE, MVT);
    if accepts_gzip(headers) {
        h.insert(header::CONTENT_ENCODING, GZIP);
        return (h, gz).into_response();
    }
    // Rare (browsers and tile clients all send gzip): unpack for this client only. The
    // unpacked bytes are another representation, so their validator is the weak form.
    if let Ok(weak) = HeaderValue::from_str(&format!("W/{}", etag.to_str().unwrap_or("\"0\""))) {
        h.insert(header::ETAG, weak);
    }
    let mut raw = Vec::with_capacity(gz.len() * 4);
    match std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw) {
        Ok(_) => (h, raw).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A strong ETag over the tile's bytes (FNV-1a 64 and the length).
fn etag(b: &[u8]) -> HeaderValue {
    let h = b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    });
    HeaderValue::from_str(&format!("\"{h:016x}-{:x}\"", b.len()))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Whether `If-None-Match` lists `etag` (or is `*`), by the weak comparison RFC 9110
/// asks for this header (the `headers` crate's).
fn matches_etag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let (Some(inm), Some(tag)) = (
        headers.typed_get::<IfNoneMatch>(),
        etag.to_str().ok().and_then(|t| t.parse::<ETag>().ok()),
    ) else {
        return false;
    };
    !inm.precondition_passes(&tag)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// A prepared JSON body from one of the generation's panel maps, or 404 naming `what`.
fn panel(body: Option<&Bytes>, what: &str) -> Response {
    match body {
        Some(body) => ([(header::CONTENT_TYPE, JSON)], body.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no {what}")).into_response(),
    }
}

/// The published frames of one drive, in capture order, for the viewer's panel.
async fn sequence_frames(State(s): State<Arc<AppState>>, Path(drive): Path<String>) -> Response {
    let g = s.generation();
    panel(
        g.sequences.get(&drive),
        &format!("published drive {drive:?}"),
    )
}

/// One published frame: its image, detections, and neighbours in its sequence.
async fn frame_panel(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let g = s.generation();
    panel(g.frames.get(&id), &format!("published frame {id:?}"))
}

/// One map feature: its attributes and the frames that saw it.
async fn feature_panel(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let g = s.generation();
    panel(g.features.get(&id), &format!("feature {id:?}"))
}

/// Serves published (blurred) images only: the key must be under images/.
async fn image(State(s): State<Arc<AppState>>, Path(key): Path<String>) -> Response {
    if key.contains("..") || !key.ends_with(".jpg") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match s
        .store
        .get_blob(&format!("{}/{key}", streetcomb_pipeline::IMAGES))
        .await
    {
        Ok(Some(bytes)) => ([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn if_none_match_matches_listed_weak_and_star_tags_only() {
        let tag = etag(b"tile");
        let listed = format!("\"x\", W/{}", tag.to_str().unwrap_or_default());
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&listed).unwrap_or(VARY),
        );
        assert!(matches_etag(&h, &tag));
        assert!(matches_etag(&headers(header::IF_NONE_MATCH, "*"), &tag));
        assert!(!matches_etag(
            &headers(header::IF_NONE_MATCH, "\"other\""),
            &tag
        ));
        assert!(!matches_etag(&HeaderMap::new(), &tag));
    }

    #[test]
    fn gzip_is_accepted_unless_absent_or_refused_with_q_zero() {
        assert!(accepts_gzip(&headers(
            header::ACCEPT_ENCODING,
            "br, gzip;q=0.8"
        )));
        assert!(accepts_gzip(&headers(header::ACCEPT_ENCODING, "*")));
        assert!(!accepts_gzip(&headers(header::ACCEPT_ENCODING, "gzip;q=0")));
        assert!(!accepts_gzip(&headers(header::ACCEPT_ENCODING, "br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etags_differ_for_different_bytes_and_are_quoted() {
        let a = etag(b"a");
        assert_ne!(a, etag(b"b"));
        let s = a.to_str().unwrap_or_default();
        assert!(s.starts_with('"') && s.ends_with('"'), "{s}");
    }
}
