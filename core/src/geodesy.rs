//! Geodesy on the WGS84 sphere approximation used throughout streetcomb.
//!
//! Distances and bearings use the spherical (haversine) model with the mean Earth
//! radius: over the tens of metres that matter for geotagging and triangulation its
//! error is far below GPS noise. [`LocalFrame`] maps positions to a local east/north
//! plane in metres, where ray intersection and clustering are plain 2-D geometry.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Mean Earth radius in metres (IUGG).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A validated WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

impl LatLon {
    /// Builds a position, rejecting NaN and out-of-range values.
    pub fn new(lat: f64, lon: f64) -> Result<Self, CoreError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoreError::Latitude(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(CoreError::Longitude(lon));
        }
        Ok(Self { lat, lon })
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    /// Great-circle distance in metres.
    pub fn distance_m(self, other: LatLon) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().atan2((1.0 - a).sqrt())
    }

    /// Initial bearing towards `other`, degrees clockwise from north in [0, 360).
    pub fn bearing_to(self, other: LatLon) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dl = (other.lon - self.lon).to_radians();
        let y = dl.sin() * p2.cos();
        let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
        normalize_deg(y.atan2(x).to_degrees())
    }

    /// The point `distance_m` metres away along initial bearing `bearing_deg`.
    pub fn destination(self, bearing_deg: f64, distance_m: f64) -> LatLon {
        let d = distance_m / EARTH_RADIUS_M;
        let b = bearing_deg.to_radians();
        let p1 = self.lat.to_radians();
        let l1 = self.lon.to_radians();
        let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * b.cos()).asin();
        let l2 = l1 + (b.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
        LatLon {
            lat: p2.to_degrees(),
            lon: wrap_lon(l2.to_degrees()),
        }
    }

    /// Linear interpolation in degrees, `t` in [0, 1]. Exact enough between GPS fixes
    /// a few metres apart (and what mapillary_tools does).
    pub fn lerp(self, other: LatLon, t: f64) -> LatLon {
        LatLon {
            lat: self.lat + (other.lat - self.lat) * t,
            lon: self.lon + (other.lon - self.lon) * t,
        }
    }
}

fn wrap_lon(lon: f64) -> f64 {
    let mut l = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if l == -180.0 && lon > 0.0 {
        l = 180.0;
    }
    l
}

/// Maps an angle in degrees into [0, 360).
pub fn normalize_deg(deg: f64) -> f64 {
    let d = deg.rem_euclid(360.0);
    if d >= 360.0 { 0.0 } else { d }
}

/// Signed smallest difference `a - b` in degrees, in (-180, 180].
pub fn angle_diff_deg(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

/// A local tangent plane (east, north in metres) around an origin.
///
/// Equirectangular around the origin's latitude: within a few kilometres of the
/// origin the distortion is millimetres, which is all the fusion step needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    origin: LatLon,
    m_per_deg_lat: f64,
    m_per_deg_lon: f64,
}

impl LocalFrame {
    pub fn new(origin: LatLon) -> Self {
        let m_per_deg_lat = EARTH_RADIUS_M.to_radians();
        Self {
            origin,
            m_per_deg_lat,
            m_per_deg_lon: m_per_deg_lat * origin.lat.to_radians().cos(),
        }
    }

    pub fn origin(&self) -> LatLon {
        self.origin
    }

    /// (east, north) metres of `p` from the origin.
    pub fn to_local(&self, p: LatLon) -> (f64, f64) {
        (
            (p.lon - self.origin.lon) * self.m_per_deg_lon,
            (p.lat - self.origin.lat) * self.m_per_deg_lat,
        )
    }

    /// The position at (east, north) metres from the origin.
    pub fn to_latlon(&self, east: f64, north: f64) -> LatLon {
        LatLon {
            lat: (self.origin.lat + north / self.m_per_deg_lat).clamp(-90.0, 90.0),
            lon: wrap_lon(self.origin.lon + east / self.m_per_deg_lon),
        }
    }
}

/// Unit vector (east, north) of a compass bearing in degrees.
pub fn bearing_unit(bearing_deg: f64) -> (f64, f64) {
    let b = bearing_deg.to_radians();
    (b.sin(), b.cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    #[test]
    fn out_of_range_coordinates_are_rejected() {
        assert!(LatLon::new(91.0, 0.0).is_err());
        assert!(LatLon::new(0.0, -180.5).is_err());
        assert!(LatLon::new(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let d = ll(60.0, 24.9).distance_m(ll(61.0, 24.9));
        assert!((d - 111_195.0).abs() < 5.0, "{d}");
    }

    #[test]
    fn bearings_point_the_right_way() {
        let o = ll(60.17, 24.94);
        assert!((o.bearing_to(ll(60.18, 24.94)) - 0.0).abs() < 1e-6);
        assert!((o.bearing_to(ll(60.17, 24.95)) - 90.0).abs() < 0.01);
        assert!((o.bearing_to(ll(60.16, 24.94)) - 180.0).abs() < 1e-6);
    }

    #[test]
    fn angle_difference_wraps_around_north() {
        assert_eq!(angle_diff_deg(10.0, 350.0), 20.0);
        assert_eq!(angle_diff_deg(350.0, 10.0), -20.0);
        assert_eq!(normalize_deg(-90.0), 270.0);
    }

    proptest! {
        #[test]
        fn destination_then_distance_and_bearing_round_trip(
            lat in -70.0f64..70.0, lon in -179.0f64..179.0,
            bearing in 0.0f64..360.0, dist in 1.0f64..5_000.0,
        ) {
            let a = ll(lat, lon);
            let b = a.destination(bearing, dist);
            prop_assert!((a.distance_m(b) - dist).abs() < 1e-6 * dist + 1e-6);
            prop_assert!(angle_diff_deg(a.bearing_to(b), bearing).abs() < 1e-6);
        }

        #[test]
        fn local_frame_round_trips_and_matches_great_circle_distance(
            lat in -70.0f64..70.0, lon in -170.0f64..170.0,
            de in -2_000.0f64..2_000.0, dn in -2_000.0f64..2_000.0,
        ) {
            let f = LocalFrame::new(ll(lat, lon));
            let p = f.to_latlon(de, dn);
            let (e, n) = f.to_local(p);
            prop_assert!((e - de).abs() < 1e-6 && (n - dn).abs() < 1e-6);
            let planar = (de * de + dn * dn).sqrt();
            let sphere = f.origin().distance_m(p);
            // Equirectangular error grows with distance and latitude; 0.5 % within 3 km.
            prop_assert!((planar - sphere).abs() <= 0.005 * planar + 0.01, "{planar} vs {sphere}");
        }
    }
}
