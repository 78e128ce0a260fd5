//! `streetcomb serve`: vector tiles, TileJSON and blurred images over HTTP (read-only).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use streetcomb_datasets::Store;
use streetcomb_tiles::TileSource;

/// Built tiles by (z, x, y); `None` for an empty tile.
type TileCache = Mutex<HashMap<(u8, u32, u32), Option<Arc<Vec<u8>>>>>;

struct AppState {
    store: Store,
    tiles: TileSource,
    cache: TileCache,
}

/// Builds the tile source from the store's datasets.
pub async fn tile_source(store: &Store) -> Result<TileSource> {
    let frames = store.read_frames().await?;
    let published: Vec<_> = frames
        .into_iter()
        .filter(|f| f.image_key.starts_with(crate::pipeline::IMAGES))
        .collect();
    let sequences = streetcomb_tiles::sequences_from_frames(&published);
    let coverage = streetcomb_tiles::coverage_summary(&store.read_coverage().await?);
    let points = published
        .iter()
        .map(|f| streetcomb_tiles::FramePoint {
            frame_id: f.id.to_string(),
            pos: f.pos,
            heading_deg: f.heading_deg,
            captured_at: f.captured_at,
            image_url: format!("/{}", f.image_key),
        })
        .collect();
    let features = store.read_features().await?;
    Ok(TileSource::build(
        sequences,
        coverage,
        points,
        features,
        chrono::Utc::now(),
    ))
}

pub fn router(store: Store, tiles: TileSource) -> Router {
    let state = Arc::new(AppState {
        store,
        tiles,
        cache: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/", get(index))
        .route("/tiles.json", get(tilejson))
        .route("/tiles/{z}/{x}/{y}", get(tile))
        .route("/images/{*key}", get(image))
        .with_state(state)
}

pub async fn serve(store: Store, addr: &str) -> Result<()> {
    let tiles = tile_source(&store).await?;
    let app = router(store, tiles);
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

async fn tilejson(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let tj = s
        .tiles
        .tilejson(&format!("http://{host}/tiles/{{z}}/{{x}}/{{y}}.mvt"));
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], axum::Json(tj)).into_response()
}

async fn tile(
    State(s): State<Arc<AppState>>,
    Path((z, x, y)): Path<(u8, u32, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(y) = y.strip_suffix(".mvt").and_then(|y| y.parse::<u32>().ok()) else {
        return (StatusCode::NOT_FOUND, "tiles are /tiles/{z}/{x}/{y}.mvt").into_response();
    };
    let cached = s.cache.lock().ok().and_then(|c| c.get(&(z, x, y)).cloned());
    let body = match cached {
        Some(b) => b,
        None => match s.tiles.tile(z, x, y) {
            Ok(b) => {
                let b = b.map(Arc::new);
                if let Ok(mut c) = s.cache.lock() {
                    c.insert((z, x, y), b.clone());
                }
                b
            }
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
    };
    let cors = (
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    let Some(body) = body else {
        return (StatusCode::NO_CONTENT, [cors]).into_response();
    };
    let etag = format!("\"{:016x}\"", fxhash(&body));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [cors]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.mapbox-vector-tile"),
            ),
            (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            (
                header::ETAG,
                HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            ),
            cors,
        ],
        body.as_ref().clone(),
    )
        .into_response()
}

/// Serves published (blurred) images only: the key must be under images/.
async fn image(State(s): State<Arc<AppState>>, Path(key): Path<String>) -> Response {
    if key.contains("..") || !key.ends_with(".jpg") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match s
        .store
        .get_blob(&format!("{}/{key}", crate::pipeline::IMAGES))
        .await
    {
        Ok(Some(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A small, stable content hash for ETags (FNV-1a).
fn fxhash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100000001b3)
    })
}
