//! TileJSON 3.0.0: the document a map client reads to find the tiles, their zooms,
//! where the data is and what each layer holds, built with the `tilejson` crate.

use std::collections::BTreeMap;

use tilejson::{Bounds, Center, TileJSON, VectorLayer, tilejson};

use crate::mercator::MAX_LAT;
use crate::{
    FEATURES_MIN_ZOOM, FRAMES_MIN_ZOOM, LAYER_COVERAGE, LAYER_FEATURES, LAYER_FRAMES,
    LAYER_SEQUENCES, TILEJSON_MAX_ZOOM, TileSource,
};

/// The bounds to advertise: the data's, else the whole Mercator world.
pub(crate) fn bounds_or_world(bounds: Option<[f64; 4]>) -> Bounds {
    let [w, s, e, n] = bounds.unwrap_or([-180.0, -MAX_LAT, 180.0, MAX_LAT]);
    Bounds::new(w, s, e, n)
}

/// One `vector_layers` entry; `fields` maps each property to its type or meaning.
pub(crate) fn layer(
    id: &str,
    description: &str,
    minzoom: u8,
    maxzoom: u8,
    fields: &[(&str, &str)],
) -> VectorLayer {
    let fields: BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut l = VectorLayer::new(id.to_owned(), fields);
    l.description = Some(description.to_owned());
    l.minzoom = Some(minzoom);
    l.maxzoom = Some(maxzoom);
    l
}

impl TileSource {
    /// The TileJSON document for tiles served at `tiles_url_template`
    /// (e.g. `https://host/tiles/{z}/{x}/{y}.mvt`). Without data, bounds are the
    /// whole Mercator world and the centre is `[0, 0, 0]`.
    pub fn tilejson(&self, tiles_url_template: &str) -> TileJSON {
        let [lon, lat, zoom] = self.center().unwrap_or([0.0, 0.0, 0.0]);
        let max = TILEJSON_MAX_ZOOM;
        let s = "String";
        let n = "Number";
        tilejson! {
            tiles: vec![tiles_url_template.to_owned()],
            name: "streetcomb".to_owned(),
            description: format!(
                "streetcomb street-level coverage, drives, frames and map features; \
                 freshness and ages are as of {}",
                self.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            scheme: "xyz".to_owned(),
            minzoom: 0,
            maxzoom: max,
            bounds: bounds_or_world(self.bounds()),
            center: Center::new(lon, lat, zoom as u8),
            vector_layers: vec![
                layer(
                    LAYER_COVERAGE,
                    "H3 cells with street-level imagery, coarser at low zoom",
                    0,
                    max,
                    &[("h3", s), ("last_covered_at", s), ("age_days", n), ("freshness", n),
                      ("n_contributors", n), ("n_frames", n)],
                ),
                layer(
                    LAYER_SEQUENCES,
                    "One line per drive",
                    0,
                    max,
                    &[("drive_id", s), ("contributor", s), ("start", s), ("end", s)],
                ),
                layer(
                    LAYER_FRAMES,
                    "Captured frames; thinned evenly in dense tiles",
                    FRAMES_MIN_ZOOM,
                    max,
                    &[("frame_id", s), ("heading", n), ("captured_at", s), ("image_url", s)],
                ),
                layer(
                    LAYER_FEATURES,
                    "Map features fused from detections",
                    FEATURES_MIN_ZOOM,
                    max,
                    &[("id", s), ("class", s), ("confidence", n), ("n_detections", n),
                      ("status", s), ("first_seen", s), ("last_seen", s), ("uncertainty_m", n),
                      ("value", n)],
                ),
            ],
        }
    }
}
