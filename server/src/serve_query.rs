//! `GET /query?sql=…` and `POST /query`: read-only SQL over the datasets for the HTTP
//! server, with a row limit and a time limit.
//!
//! Only single queries run: DDL, DML (`INSERT`, `COPY … TO`) and statements (`SET`)
//! are refused at planning by DataFusion's `SQLOptions`, so the endpoint can never
//! write to the store or change the session. Each request plans against the current
//! dataset versions.
//!
//! Parameters (query string for GET, a JSON object for POST): `sql` (required),
//! `limit` (rows, default [`DEFAULT_ROWS`], at most [`MAX_ROWS`]) and `timeout_ms`
//! (default and maximum [`MAX_TIME`]). The answer is JSON:
//! `{"columns": [..], "rows": [{..}, ..], "row_count": n, "truncated": bool}`;
//! errors are `{"error": "…"}` with 400 (bad or refused SQL) or 408 (time limit).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use streetcomb_datasets::Store;

/// Rows returned when the request names no limit.
pub const DEFAULT_ROWS: usize = 1_000;
/// The most rows one request may return.
pub const MAX_ROWS: usize = 10_000;
/// The longest a query may run (and the default).
pub const MAX_TIME: Duration = Duration::from_secs(10);

/// One query request.
#[derive(Debug, Deserialize)]
pub struct QueryParams {
    sql: String,
    limit: Option<usize>,
    timeout_ms: Option<u64>,
}

/// The `/query` routes over `store`, ready to merge into the server's router.
pub fn routes(store: Store) -> Router {
    Router::new()
        .route("/query", get(query_get).post(query_post))
        .with_state(store)
}

async fn query_get(State(store): State<Store>, Query(p): Query<QueryParams>) -> Response {
    run(store, p).await
}

async fn query_post(State(store): State<Store>, Json(p): Json<QueryParams>) -> Response {
    run(store, p).await
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn run(store: Store, p: QueryParams) -> Response {
    let limit = p.limit.unwrap_or(DEFAULT_ROWS).min(MAX_ROWS);
    let timeout = p
        .timeout_ms
        .map_or(MAX_TIME, Duration::from_millis)
        .min(MAX_TIME);
    // Dropping the query future on timeout cancels DataFusion's work.
    let result = tokio::time::timeout(timeout, store.query_read_only(&p.sql, limit)).await;
    let (batches, truncated) = match result {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "query stopped after the time limit of {} ms",
                    timeout.as_millis()
                ),
            );
        }
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Ok(Ok(r)) => r,
    };
    let rows: Value = match streetcomb_datasets::batches_to_json(&batches)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let columns: Vec<String> = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    let row_count = rows.as_array().map_or(0, Vec::len);
    Json(json!({
        "columns": columns,
        "rows": rows,
        "row_count": row_count,
        "truncated": truncated,
    }))
    .into_response()
}
