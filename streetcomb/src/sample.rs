//! The bundled sample data (see testdata/SOURCES.md for provenance and licences), so
//! `streetcomb demo` and `simulate` work from any folder with nothing downloaded.

pub const HELSINKI_OSM: &[u8] = include_bytes!("../../testdata/osm/helsinki.osm.pbf");
pub const STOP_SVG: &[u8] = include_bytes!("../../testdata/signs/stop.svg");
pub const TRAFFIC_LIGHT_SVG: &[u8] = include_bytes!("../../testdata/signs/traffic_signals.svg");

/// Real street photos used as frame backgrounds.
pub fn backgrounds() -> Vec<Vec<u8>> {
    [
        &include_bytes!("../../testdata/street/leuvenA.jpg")[..],
        &include_bytes!("../../testdata/street/leuvenB.jpg")[..],
        &include_bytes!("../../testdata/street/opencv_scenetext01.jpg")[..],
        &include_bytes!("../../testdata/street/opencv_scenetext02.jpg")[..],
        &include_bytes!("../../testdata/street/opencv_scenetext05.jpg")[..],
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect()
}
