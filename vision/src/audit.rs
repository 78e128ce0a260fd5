//! How much of a picture the privacy blur altered: the measure behind each processed
//! frame's `altered` share (reported by `process`, `blur` and the demo), `make
//! bench-privacy` and the tests.
//!
//! A frame is cut into 8×8 blocks of luma. A block is *textured* when its variance in
//! the original is at least [`TEXTURED_VARIANCE`] (flat sky and tarmac carry nothing a
//! viewer would miss); a textured block is *destroyed* when the blur left it under
//! [`DESTROYED_RATIO`] of its variance, the same criterion the tests use for "this
//! face or plate is hidden". The share destroyed is over the textured blocks, so a
//! frame of sky with one blurred wall does not look harmless.

use image::RgbImage;
use streetcomb_core::BBox;

/// Side of a block, pixels.
pub const BLOCK: u32 = 8;
/// Luma variance from which a block counts as textured (a standard deviation of 5
/// grey levels: above JPEG noise on flat areas).
pub const TEXTURED_VARIANCE: f64 = 25.0;
/// A textured block whose variance fell under this fraction of the original's is
/// destroyed.
pub const DESTROYED_RATIO: f64 = 0.25;

/// Per-block luma variance, row-major over `ceil(w/8) × ceil(h/8)` blocks (edge
/// blocks are partial).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockVariance {
    pub cols: u32,
    pub rows: u32,
    pub var: Vec<f64>,
}

impl BlockVariance {
    pub fn of(img: &RgbImage) -> Self {
        let (w, h) = img.dimensions();
        let (cols, rows) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
        let n = (cols * rows) as usize;
        if n == 0 {
            return Self {
                cols,
                rows,
                var: Vec::new(),
            };
        }
        let (mut sum, mut sq) = (vec![0.0f64; n], vec![0.0f64; n]);
        // Row by row, one block column at a time: no per-pixel index arithmetic.
        let stride = w as usize * 3;
        for (y, row) in img.as_raw().chunks_exact(stride).enumerate() {
            let base = (y / BLOCK as usize) * cols as usize;
            for (c, chunk) in row.chunks(BLOCK as usize * 3).enumerate() {
                let (mut s, mut q) = (0.0f64, 0.0f64);
                for p in chunk.chunks_exact(3) {
                    let l = luma([p[0], p[1], p[2]]);
                    s += l;
                    q += l * l;
                }
                sum[base + c] += s;
                sq[base + c] += q;
            }
        }
        let var = (0..n)
            .map(|i| {
                let (c, r) = (i as u32 % cols, i as u32 / cols);
                let bw = BLOCK.min(w - c * BLOCK);
                let bh = BLOCK.min(h - r * BLOCK);
                let k = f64::from(bw * bh);
                (sq[i] / k - (sum[i] / k) * (sum[i] / k)).max(0.0)
            })
            .collect();
        Self { cols, rows, var }
    }

    /// The pixel box of block `i`.
    fn bbox(&self, i: usize) -> BBox {
        let (c, r) = (i as u32 % self.cols, i as u32 / self.cols);
        BBox {
            x0: (c * BLOCK) as f32,
            y0: (r * BLOCK) as f32,
            x1: ((c + 1) * BLOCK) as f32,
            y1: ((r + 1) * BLOCK) as f32,
        }
    }
}

fn luma(p: [u8; 3]) -> f64 {
    0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
}

/// What the blur did to one picture.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Alteration {
    /// Textured blocks in the original.
    pub textured: usize,
    /// Textured blocks the blur destroyed.
    pub destroyed: usize,
    /// Of those, the ones with their centre outside every `keep` box (the true faces
    /// and plates of a labelled picture): collateral damage.
    pub destroyed_outside: usize,
    /// Textured blocks with their centre outside every `keep` box.
    pub textured_outside: usize,
}

impl Alteration {
    /// Share of the textured blocks destroyed (0 for a picture with none).
    pub fn destroyed_share(&self) -> f64 {
        ratio(self.destroyed, self.textured)
    }

    /// Share of the textured blocks outside the true boxes destroyed.
    pub fn destroyed_outside_share(&self) -> f64 {
        ratio(self.destroyed_outside, self.textured_outside)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Compares `blurred` with `original` (same size) block by block; blocks whose centre
/// lies in a `keep` box are counted apart (see [`Alteration`]).
pub fn alteration(original: &BlockVariance, blurred: &RgbImage, keep: &[BBox]) -> Alteration {
    let after = BlockVariance::of(blurred);
    let mut a = Alteration::default();
    for (i, (&before, &now)) in original.var.iter().zip(&after.var).enumerate() {
        if before < TEXTURED_VARIANCE {
            continue;
        }
        let b = original.bbox(i);
        let (cx, cy) = (b.center_x(), b.center_y());
        let outside = !keep
            .iter()
            .any(|k| k.x0 <= cx && cx < k.x1 && k.y0 <= cy && cy < k.y1);
        let destroyed = now < before * DESTROYED_RATIO;
        a.textured += 1;
        a.destroyed += usize::from(destroyed);
        a.textured_outside += usize::from(outside);
        a.destroyed_outside += usize::from(destroyed && outside);
    }
    a
}

/// Median of `values` (0 for none); sorts a copy.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixelate_regions;

    fn checker(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = if (x / 2 + y / 3) % 2 == 0 { 40 } else { 200 };
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn an_untouched_picture_has_nothing_destroyed() {
        let img = checker(64, 48);
        let a = alteration(&BlockVariance::of(&img), &img, &[]);
        assert_eq!(a.textured, 8 * 6);
        assert_eq!(a.destroyed, 0);
        assert_eq!(a.destroyed_share(), 0.0);
    }

    #[test]
    fn a_pixelated_quarter_destroys_about_a_quarter_of_the_textured_blocks() {
        let img = checker(64, 64);
        let mut out = img.clone();
        let quarter = BBox {
            x0: 0.0,
            y0: 0.0,
            x1: 32.0,
            y1: 32.0,
        };
        pixelate_regions(&mut out, &[quarter]);
        let a = alteration(&BlockVariance::of(&img), &out, &[]);
        assert_eq!(a.textured, 64);
        assert_eq!(a.destroyed, 16, "{a:?}");
        assert!((a.destroyed_share() - 0.25).abs() < 1e-9);
        // Counted as the true box, the same blur is no collateral damage.
        let a = alteration(&BlockVariance::of(&img), &out, &[quarter]);
        assert_eq!(a.destroyed_outside, 0);
        assert_eq!(a.textured_outside, 48);
    }

    #[test]
    fn flat_blocks_are_not_textured_and_partial_edge_blocks_count() {
        let img = RgbImage::from_pixel(20, 9, image::Rgb([90, 90, 90]));
        let v = BlockVariance::of(&img);
        assert_eq!((v.cols, v.rows), (3, 2));
        assert!(v.var.iter().all(|&x| x == 0.0));
        assert_eq!(alteration(&v, &img, &[]).textured, 0);
    }

    #[test]
    fn block_variance_is_the_variance_of_each_blocks_luma() {
        // A 10x9 picture: blocks of 8x8, 2x8, 8x1 and 2x1 pixels.
        let img = RgbImage::from_fn(10, 9, |x, y| {
            let v = ((x * 29 + y * 53) % 97) as u8;
            image::Rgb([v, v, v])
        });
        let got = BlockVariance::of(&img);
        assert_eq!((got.cols, got.rows), (2, 2));
        for (i, &var) in got.var.iter().enumerate() {
            let (c, r) = (i as u32 % 2, i as u32 / 2);
            let px: Vec<f64> = (r * 8..(r * 8 + 8).min(9))
                .flat_map(|y| (c * 8..(c * 8 + 8).min(10)).map(move |x| (x, y)))
                .map(|(x, y)| luma(img.get_pixel(x, y).0))
                .collect();
            let mean = px.iter().sum::<f64>() / px.len() as f64;
            let want = px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64;
            assert!((var - want).abs() < 1e-6, "block {i}: {var} vs {want}");
        }
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
