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

/// Where an OSM XML extract lives, which the tiler cannot draw but whose roads still
/// serve road alignment.
pub const XML_EXTRACT_KEY: &str = "basemap/extract.osm";

/// Stores an OSM XML extract for its roads only (see [`roads`]).
pub async fn import_xml_roads(store: &Store, xml: Vec<u8>) -> Result<()> {
    store
        .put_blob(XML_EXTRACT_KEY, xml)
        .await
        .context("storing the extract's roads")
}

/// The drivable roads of the store's extract (PBF basemap, else an XML extract),
/// indexed for road alignment (`streetcomb_mapbuild::align`); `None` when the store
/// has none. An extract whose roads cannot be read is a warning: the map is then
/// built without alignment, as with no extract.
///
/// `STREETCOMB_ROAD_ALIGN=off` in the environment turns alignment off (to compare, or
/// where the extract's roads are known to be wrong).
pub async fn roads(store: &Store) -> Result<Option<streetcomb_mapbuild::Roads>> {
    if std::env::var("STREETCOMB_ROAD_ALIGN").is_ok_and(|v| v == "off") {
        return Ok(None);
    }
    let mut bytes = None;
    for key in [EXTRACT_KEY, XML_EXTRACT_KEY] {
        if let Some(b) = store.get_blob(key).await? {
            bytes = Some((key, b));
            break;
        }
    }
    let Some((key, bytes)) = bytes else {
        return Ok(None);
    };
    let net = tokio::task::spawn_blocking(move || streetcomb_sim::RoadNetwork::from_bytes(&bytes))
        .await
        .context("reading the extract's roads")?;
    match net {
        Ok(net) => Ok(streetcomb_mapbuild::Roads::new(&net.road_segments())),
        Err(e) => {
            tracing::warn!("{key}: no roads to align drives with ({e}); building without");
            Ok(None)
        }
    }
}

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
