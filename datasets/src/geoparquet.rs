//! GeoParquet 1.1 support, written by hand: WKB points and the `geo` footer metadata.
//!
//! Only points are ever written, and a WKB point is 21 fixed bytes, so a geometry
//! library would add weight without adding anything.

use serde_json::json;

/// The Parquet footer key GeoParquet readers look for.
pub const GEO_METADATA_KEY: &str = "geo";

/// Length of a 2-D WKB point.
pub const WKB_POINT_LEN: usize = 21;

/// A little-endian WKB Point: byte order 1, geometry type 1 (u32 LE), x then y (f64 LE).
pub fn point_wkb(lon: f64, lat: f64) -> [u8; WKB_POINT_LEN] {
    let mut out = [0u8; WKB_POINT_LEN];
    out[0] = 1;
    out[1..5].copy_from_slice(&1u32.to_le_bytes());
    out[5..13].copy_from_slice(&lon.to_le_bytes());
    out[13..21].copy_from_slice(&lat.to_le_bytes());
    out
}

/// Decodes a 2-D WKB Point (either byte order) into `(x, y)` = `(lon, lat)`.
pub fn parse_point_wkb(wkb: &[u8]) -> Result<(f64, f64), String> {
    if wkb.len() != WKB_POINT_LEN {
        return Err(format!(
            "WKB point must be {WKB_POINT_LEN} bytes, got {}",
            wkb.len()
        ));
    }
    let little = match wkb[0] {
        1 => true,
        0 => false,
        b => return Err(format!("WKB byte order must be 0 or 1, got {b}")),
    };
    let word = |i: usize| -> [u8; 8] {
        let mut b = [0u8; 8];
        b.copy_from_slice(&wkb[i..i + 8]);
        b
    };
    let mut ty = [0u8; 4];
    ty.copy_from_slice(&wkb[1..5]);
    let (ty, x, y) = if little {
        (
            u32::from_le_bytes(ty),
            f64::from_le_bytes(word(5)),
            f64::from_le_bytes(word(13)),
        )
    } else {
        (
            u32::from_be_bytes(ty),
            f64::from_be_bytes(word(5)),
            f64::from_be_bytes(word(13)),
        )
    };
    if ty != 1 {
        return Err(format!("WKB geometry type must be 1 (Point), got {ty}"));
    }
    Ok((x, y))
}

/// The `[minx, miny, maxx, maxy]` of some points; `None` when there are none.
pub fn bbox(points: impl IntoIterator<Item = (f64, f64)>) -> Option<[f64; 4]> {
    points.into_iter().fold(None, |acc, (x, y)| {
        Some(match acc {
            None => [x, y, x, y],
            Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x), y1.max(y)],
        })
    })
}

/// The GeoParquet 1.1 `geo` metadata for a file whose `geometry` column holds WKB
/// points within `bbox`, with the `bbox` struct column declared as its covering
/// (readers filter on `bbox.xmin` … without decoding WKB). No `crs`: readers default
/// to OGC:CRS84 (lon/lat WGS84).
pub fn geo_metadata(bbox: [f64; 4]) -> String {
    json!({
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Point"],
                "bbox": bbox,
                "covering": {
                    "bbox": {
                        "xmin": ["bbox", "xmin"],
                        "ymin": ["bbox", "ymin"],
                        "xmax": ["bbox", "xmax"],
                        "ymax": ["bbox", "ymax"],
                    }
                },
            }
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_wkb_point_has_the_standard_little_endian_layout_and_decodes_back() {
        let wkb = point_wkb(24.9384, 60.1699);
        assert_eq!(wkb[0], 1);
        assert_eq!(&wkb[1..5], &[1, 0, 0, 0]);
        assert_eq!(parse_point_wkb(&wkb).unwrap(), (24.9384, 60.1699));
    }

    #[test]
    fn big_endian_points_decode_and_other_geometries_are_rejected() {
        let mut be = vec![0u8];
        be.extend(1u32.to_be_bytes());
        be.extend(2.5f64.to_be_bytes());
        be.extend((-3.0f64).to_be_bytes());
        assert_eq!(parse_point_wkb(&be).unwrap(), (2.5, -3.0));

        let mut line = point_wkb(1.0, 2.0);
        line[1] = 2;
        assert!(parse_point_wkb(&line).is_err());
        assert!(parse_point_wkb(&[1, 1, 0]).is_err());
    }

    #[test]
    fn the_bbox_spans_all_points_and_is_none_for_no_points() {
        assert_eq!(
            bbox([(1.0, 5.0), (-2.0, 7.0), (3.0, 6.0)]),
            Some([-2.0, 5.0, 3.0, 7.0])
        );
        assert_eq!(bbox([]), None);
    }

    #[test]
    fn geo_metadata_is_geoparquet_1_1_json() {
        let v: serde_json::Value =
            serde_json::from_str(&geo_metadata([0.0, 1.0, 2.0, 3.0])).unwrap();
        assert_eq!(v["version"], "1.1.0");
        assert_eq!(v["primary_column"], "geometry");
        assert_eq!(v["columns"]["geometry"]["encoding"], "WKB");
        assert_eq!(
            v["columns"]["geometry"]["bbox"],
            json!([0.0, 1.0, 2.0, 3.0])
        );
        assert!(v.get("crs").is_none());
        assert_eq!(
            v["columns"]["geometry"]["covering"]["bbox"]["xmin"],
            json!(["bbox", "xmin"])
        );
        assert_eq!(
            v["columns"]["geometry"]["covering"]["bbox"]["ymax"],
            json!(["bbox", "ymax"])
        );
    }
}
