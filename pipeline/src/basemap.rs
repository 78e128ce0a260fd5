//! `streetcomb basemap`: keeps the OSM extract a store is built over in the store, so
//! `serve` can draw its roads, water and buildings under the data with no tile CDN.
//!
//! The extract is stored as it came (`basemap/extract.osm.pbf`, one whole-object put,
//! so a reader sees the old extract or the new one, never half of one) and cut into
//! tiles by [`streetcomb_tiles::Basemap`] when the server builds its map.

use crate::error::{Context, Result};
use streetcomb_datasets::Store;
use streetcomb_tiles::{Basemap, BasemapCounts};

/// Where the extract lives in the store.
pub const EXTRACT_KEY: &str = "basemap/extract.osm.pbf";

/// Checks that `pbf` draws something, then stores it as the store's basemap. `name`
/// names the extract in messages.
pub async fn import(store: &Store, pbf: Vec<u8>, name: &str) -> Result<BasemapCounts> {
    let (pbf, counts) = tokio::task::spawn_blocking(move || {
        let counts = Basemap::from_pbf(&pbf[..]).map(|m| m.counts());
        (pbf, counts)
    })
    .await
    .context("reading the extract")?;
    let counts = counts.with_context(|| format!("{name}: not usable as a basemap"))?;
    store
        .put_blob(EXTRACT_KEY, pbf)
        .await
        .with_context(|| format!("storing {name} as the basemap"))?;
    tracing::info!(
        roads = counts.roads,
        water = counts.water,
        buildings = counts.buildings,
        "basemap from {name}"
    );
    Ok(counts)
}

/// The store's basemap, `None` when it has none.
pub async fn load(store: &Store) -> Result<Option<Basemap>> {
    let Some(pbf) = store.get_blob(EXTRACT_KEY).await? else {
        return Ok(None);
    };
    let map = tokio::task::spawn_blocking(move || Basemap::from_pbf(&pbf[..]))
        .await
        .context("reading the basemap")?
        .with_context(|| format!("{EXTRACT_KEY} in the store is not a usable OSM extract"))?;
    Ok(Some(map))
}
