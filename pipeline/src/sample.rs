//! The bundled sample data (see testdata/SOURCES.md for provenance and licences), so
//! `streetcomb demo` and `simulate` work from any folder with nothing downloaded. The
//! sign art is bundled by the simulator itself (`streetcomb_sim::Assets`).

pub const HELSINKI_OSM: &[u8] = include_bytes!("../../testdata/osm/helsinki.osm.pbf");

/// Real street photos used as frame backgrounds. Only the two Leuven views: the
/// other bundled photos hold real signs and tail lights, which would be detected as
/// features the ground truth does not know, and blur the accuracy figures.
pub fn backgrounds() -> Vec<Vec<u8>> {
    [
        &include_bytes!("../../testdata/street/leuvenA.jpg")[..],
        &include_bytes!("../../testdata/street/leuvenB.jpg")[..],
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect()
}
