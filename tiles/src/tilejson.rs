//! TileJSON 3.0.0: the document a map client reads to find the tiles, their zooms,
//! where the data is and what each layer holds.

use serde_json::{Value, json};

use crate::mercator::MAX_LAT;
use crate::{
    FEATURES_MIN_ZOOM, FRAMES_MIN_ZOOM, LAYER_COVERAGE, LAYER_FEATURES, LAYER_FRAMES,
    LAYER_SEQUENCES, TILEJSON_MAX_ZOOM, TileSource,
};

impl TileSource {
    /// The TileJSON document for tiles served at `tiles_url_template`
    /// (e.g. `https://host/tiles/{z}/{x}/{y}.mvt`). Without data, bounds are the
    /// whole Mercator world and the centre is `[0, 0, 0]`.
    pub fn tilejson(&self, tiles_url_template: &str) -> Value {
        let bounds = self.bounds().unwrap_or([-180.0, -MAX_LAT, 180.0, MAX_LAT]);
        let center = self.center().unwrap_or([0.0, 0.0, 0.0]);
        let max = TILEJSON_MAX_ZOOM;
        json!({
            "tilejson": "3.0.0",
            "name": "streetcomb",
            "description": format!(
                "streetcomb street-level coverage, drives, frames and map features; \
                 freshness and ages are as of {}",
                self.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            "scheme": "xyz",
            "tiles": [tiles_url_template],
            "minzoom": 0,
            "maxzoom": max,
            "bounds": bounds,
            "center": center,
            "vector_layers": [
                {
                    "id": LAYER_COVERAGE,
                    "description": "H3 cells with street-level imagery, coarser at low zoom",
                    "minzoom": 0,
                    "maxzoom": max,
                    "fields": {
                        "h3": "String",
                        "last_covered_at": "String",
                        "age_days": "Number",
                        "freshness": "Number",
                        "n_contributors": "Number",
                        "n_frames": "Number",
                    },
                },
                {
                    "id": LAYER_SEQUENCES,
                    "description": "One line per drive",
                    "minzoom": 0,
                    "maxzoom": max,
                    "fields": {
                        "drive_id": "String",
                        "contributor": "String",
                        "start": "String",
                        "end": "String",
                    },
                },
                {
                    "id": LAYER_FRAMES,
                    "description": "Captured frames; thinned evenly in dense tiles",
                    "minzoom": FRAMES_MIN_ZOOM,
                    "maxzoom": max,
                    "fields": {
                        "frame_id": "String",
                        "heading": "Number",
                        "captured_at": "String",
                        "image_url": "String",
                    },
                },
                {
                    "id": LAYER_FEATURES,
                    "description": "Map features fused from detections",
                    "minzoom": FEATURES_MIN_ZOOM,
                    "maxzoom": max,
                    "fields": {
                        "id": "String",
                        "class": "String",
                        "confidence": "Number",
                        "n_detections": "Number",
                        "status": "String",
                        "first_seen": "String",
                        "last_seen": "String",
                        "uncertainty_m": "Number",
                    },
                },
            ],
        })
    }
}
