//! Encoding prepared, already clipped features into gzip-compressed MVT bytes, and
//! thinning them until the tile fits its size budget.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use mvt::{GeomData, GeomEncoder, GeomType};

use crate::clip::TilePoint;
use crate::{EXTENT, TileError};

/// Geometry in tile units, already clipped, snapped and wound.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Geom {
    Point(TilePoint),
    Lines(Vec<Vec<TilePoint>>),
    Polygon(Vec<TilePoint>),
}

/// A property value, typed as it will appear in the tile.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Prop {
    Str(String),
    Double(f64),
    Uint(u64),
}

/// One feature ready for encoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TileFeature {
    /// Global rank of the item (position in the source's sorted data); decides which
    /// features survive thinning.
    pub rank: usize,
    pub geom: Geom,
    pub props: Vec<(&'static str, Prop)>,
}

/// How a layer sheds features when the tile is too big, for thinning factor `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Thinning {
    /// Keep items whose global rank is a multiple of `k`: an even sample that
    /// neighbouring tiles agree on.
    EveryKth,
    /// Keep the first `ceil(n / k)` features (the layer is sorted by priority).
    Top,
}

/// One layer of a tile being built; features are sorted by rank.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TileLayer {
    pub name: &'static str,
    pub thinning: Thinning,
    pub features: Vec<TileFeature>,
}

impl TileLayer {
    /// The features left at thinning factor `k`; `k == 0` drops the whole layer.
    fn kept(&self, k: usize) -> impl Iterator<Item = &TileFeature> {
        let top = if k == 0 {
            0
        } else {
            self.features.len().div_ceil(k)
        };
        self.features
            .iter()
            .enumerate()
            .filter(move |(i, f)| match self.thinning {
                Thinning::EveryKth => k != 0 && f.rank % k == 0,
                Thinning::Top => *i < top,
            })
            .map(|(_, f)| f)
    }
}

/// Encodes the layers, keeping what thinning factor `ks[i]` leaves of layer `i`.
/// Returns the compressed bytes and how many features went in.
pub(crate) fn encode(layers: &[TileLayer], ks: &[usize]) -> Result<(Vec<u8>, usize), TileError> {
    let mut tile = mvt::Tile::new(EXTENT);
    let mut total = 0;
    for (layer, &k) in layers.iter().zip(ks) {
        let mut out = tile.create_layer(layer.name);
        let mut n = 0;
        for f in layer.kept(k) {
            let geom = encode_geom(&f.geom)?;
            if geom.is_empty() {
                continue;
            }
            let mut feature = out.into_feature(geom);
            for (key, value) in &f.props {
                match value {
                    Prop::Str(s) => feature.add_tag_string(key, s),
                    Prop::Double(v) => feature.add_tag_double(key, *v),
                    Prop::Uint(v) => feature.add_tag_uint(key, *v),
                }
            }
            out = feature.into_layer();
            n += 1;
        }
        // Empty layers are left out: they cost bytes and say nothing.
        if n > 0 {
            tile.add_layer(out)?;
            total += n;
        }
    }
    Ok((gzip(&tile.to_bytes()?)?, total))
}

fn encode_geom(geom: &Geom) -> Result<GeomData, TileError> {
    // No transform or bounding box: the points are already final tile units, so the
    // encoder only writes commands and zig-zag deltas.
    Ok(match geom {
        Geom::Point(p) => GeomEncoder::new(GeomType::Point)
            .point(p[0], p[1])?
            .encode()?,
        Geom::Lines(lines) => {
            let mut enc = GeomEncoder::<i32>::new(GeomType::Linestring);
            for line in lines {
                for p in line {
                    enc.add_point(p[0], p[1])?;
                }
                enc.complete_geom()?;
            }
            enc.encode()?
        }
        Geom::Polygon(ring) => {
            let mut enc = GeomEncoder::<i32>::new(GeomType::Polygon);
            for p in ring {
                enc.add_point(p[0], p[1])?;
            }
            enc.encode()?
        }
    })
}

/// gzip with a zero timestamp, so equal tiles are equal bytes.
fn gzip(raw: &[u8]) -> Result<Vec<u8>, TileError> {
    let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 3), Compression::default());
    gz.write_all(raw)?;
    Ok(gz.finish()?)
}

/// Encodes the layers, thinning them in `thin_order` until the compressed tile is at
/// most `budget` bytes. `None` when no feature is left.
pub(crate) fn encode_within(
    layers: &[TileLayer],
    thin_order: &[usize],
    budget: usize,
) -> Result<Option<Vec<u8>>, TileError> {
    let mut ks = vec![1usize; layers.len()];
    loop {
        let (bytes, n) = encode(layers, &ks)?;
        if n == 0 {
            return Ok(None);
        }
        if bytes.len() <= budget {
            return Ok(Some(bytes));
        }
        // Grow k by about the overshoot (as a power of two, so kept sets nest), on the
        // least important layer that still has something to give.
        let over = bytes.len().div_ceil(budget.max(1));
        let step = over.next_power_of_two().max(2);
        let Some(&i) = thin_order.iter().find(|&&i| {
            layers
                .get(i)
                .is_some_and(|l| l.kept(ks[i]).next().is_some())
        }) else {
            return Ok(None);
        };
        let before = layers[i].kept(ks[i]).count();
        let next = ks[i].saturating_mul(step);
        // A factor that no longer removes anything (rank 0 is a multiple of every k)
        // means the layer has nothing more to give: drop it.
        ks[i] = if layers[i].kept(next).count() < before {
            next
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn points(n: usize) -> TileLayer {
        TileLayer {
            name: "pts",
            thinning: Thinning::EveryKth,
            features: (0..n)
                .map(|i| TileFeature {
                    rank: i,
                    geom: Geom::Point([(i * 37 % 4096) as i32, (i * 91 % 4096) as i32]),
                    props: vec![("name", Prop::Str(format!("point number {i}")))],
                })
                .collect(),
        }
    }

    #[test]
    fn thinning_keeps_every_kth_by_rank_or_the_top_of_the_list() {
        let mut l = points(10);
        assert_eq!(l.kept(1).count(), 10);
        let ranks: Vec<usize> = l.kept(4).map(|f| f.rank).collect();
        assert_eq!(ranks, vec![0, 4, 8]);
        l.thinning = Thinning::Top;
        let ranks: Vec<usize> = l.kept(4).map(|f| f.rank).collect();
        assert_eq!(ranks, vec![0, 1, 2]);
        assert_eq!(l.kept(0).count(), 0);
    }

    #[test]
    fn a_tile_over_budget_is_thinned_until_it_fits() {
        let layers = vec![points(5000)];
        let (full, n) = encode(&layers, &[1]).unwrap();
        assert_eq!(n, 5000);
        let budget = full.len() / 5;
        let fitted = encode_within(&layers, &[0], budget).unwrap().unwrap();
        assert!(fitted.len() <= budget, "{} > {budget}", fitted.len());
        assert!(fitted.len() > budget / 4, "thinned far more than needed");
    }

    #[test]
    fn a_tile_with_nothing_left_is_none() {
        assert!(encode_within(&[points(0)], &[0], 100).unwrap().is_none());
        // A budget nothing fits in: everything is shed rather than overshooting.
        assert!(encode_within(&[points(50)], &[0], 1).unwrap().is_none());
    }
}
