//! H3 cells: the unit of coverage, freshness and rewards.

use std::fmt;

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

use crate::{CoreError, LatLon};

/// The default resolution of coverage and rewards cells: res 11 cells have ~29 m edges
/// (about one block face), fine enough to tell streets apart and coarse enough that one
/// pass down a street marks a contiguous run of cells (Hivemapper's ~50 hexes per
/// road-km suggests the same range).
pub const DEFAULT_RESOLUTION: u8 = 11;

/// A validated H3 cell index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CellId(CellIndex);

impl CellId {
    /// The cell holding `pos` at resolution `res` (0..=15).
    pub fn from_latlon(pos: LatLon, res: u8) -> Result<Self, CoreError> {
        let res = Resolution::try_from(res).map_err(|e| CoreError::Cell(e.to_string()))?;
        let ll = LatLng::new(pos.lat(), pos.lon()).map_err(|e| CoreError::Cell(e.to_string()))?;
        Ok(Self(ll.to_cell(res)))
    }

    /// Wraps a raw 64-bit index after validating it.
    pub fn from_u64(raw: u64) -> Result<Self, CoreError> {
        CellIndex::try_from(raw)
            .map(Self)
            .map_err(|e| CoreError::Cell(e.to_string()))
    }

    pub fn as_u64(self) -> u64 {
        u64::from(self.0)
    }

    pub fn index(self) -> CellIndex {
        self.0
    }

    pub fn resolution(self) -> u8 {
        u8::from(self.0.resolution())
    }

    /// The ancestor at a coarser resolution; `None` if `res` is finer than this cell.
    pub fn parent(self, res: u8) -> Option<Self> {
        let res = Resolution::try_from(res).ok()?;
        self.0.parent(res).map(Self)
    }

    /// The cells within `k` grid steps of this one (itself included).
    pub fn disk(self, k: u32) -> Vec<Self> {
        self.0
            .grid_disk::<Vec<_>>(k)
            .into_iter()
            .map(Self)
            .collect()
    }

    /// The cell centre.
    pub fn center(self) -> LatLon {
        let ll = LatLng::from(self.0);
        LatLon::new(ll.lat(), ll.lng()).expect("h3o returns valid coordinates")
    }

    /// The cell's boundary ring (not closed), counter-clockwise.
    pub fn boundary(self) -> Vec<LatLon> {
        self.0
            .boundary()
            .iter()
            .map(|ll| LatLon::new(ll.lat(), ll.lng()).expect("h3o returns valid coordinates"))
            .collect()
    }
}

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for CellId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        s.parse::<CellIndex>()
            .map(Self)
            .map_err(|e| CoreError::Cell(format!("{s:?}: {e}")))
    }
}

impl TryFrom<String> for CellId {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, CoreError> {
        s.parse()
    }
}

impl From<CellId> for String {
    fn from(c: CellId) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_lies_in_its_cell_and_its_parent_is_coarser() {
        let p = LatLon::new(60.1699, 24.9384).unwrap();
        let c = CellId::from_latlon(p, 11).unwrap();
        assert_eq!(c.resolution(), 11);
        assert!(c.center().distance_m(p) < 40.0);
        let parent = c.parent(7).unwrap();
        assert_eq!(parent.resolution(), 7);
        assert!(c.parent(12).is_none());
        assert_eq!(c.boundary().len(), 6);
    }

    #[test]
    fn a_disk_holds_the_cell_and_its_ring_of_neighbours() {
        let c = CellId::from_latlon(LatLon::new(60.17, 24.94).unwrap(), 9).unwrap();
        let disk = c.disk(1);
        assert_eq!(disk.len(), 7);
        assert!(disk.contains(&c));
        for n in disk.iter().filter(|n| **n != c) {
            // Neighbouring res-9 centres are ~350 m apart.
            let d = n.center().distance_m(c.center());
            assert!((250.0..450.0).contains(&d), "{d}");
        }
        assert_eq!(c.disk(0), vec![c]);
    }

    #[test]
    fn cells_round_trip_through_text_and_u64() {
        let c = CellId::from_latlon(LatLon::new(60.17, 24.94).unwrap(), 9).unwrap();
        assert_eq!(c.to_string().parse::<CellId>().unwrap(), c);
        assert_eq!(CellId::from_u64(c.as_u64()).unwrap(), c);
        assert!(CellId::from_u64(0).is_err());
        assert!("zzz".parse::<CellId>().is_err());
        assert!(CellId::from_latlon(LatLon::new(0.0, 0.0).unwrap(), 16).is_err());
    }
}
