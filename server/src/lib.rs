//! The streetcomb HTTP server and the upload client.
//!
//! [`serve`] builds the axum router: vector tiles and TileJSON, the basemap, the web
//! viewer and its panels, blurred images ([`serve::app`]), read-only SQL
//! ([`serve_query`]) and the resumable upload API ([`upload_server`]), whose API
//! keys live in [`keys`]. [`upload_client`] is the other side of the upload API.
//! Everything below the routes is `streetcomb-pipeline`.

pub mod keys;
pub mod serve;
pub mod serve_query;
pub mod upload_client;
pub mod upload_server;

pub use serve::serve;
