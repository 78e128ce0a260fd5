//! Perceptual hash (DCT pHash) of an image, for near-duplicate and replay detection.
//!
//! The image's luma is area-averaged down to 32×32, transformed with a 2-D DCT-II,
//! and the 8×8 lowest frequencies (without the DC term's brightness) are compared with
//! their median: one bit per coefficient. Re-encoding, resizing and small brightness
//! changes move few bits; a different scene moves about half of them. Compare two hashes
//! with [`hamming`].

use std::sync::OnceLock;

const N: usize = 32;
const K: usize = 8;

/// Number of differing bits between two hashes (0 = same picture, ~32 = unrelated).
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// The 64-bit pHash of an 8-bit luma image of `width` × `height` pixels, rows packed.
///
/// Returns `None` when the buffer does not hold `width * height` bytes or the image is
/// empty.
pub fn phash_luma(width: usize, height: usize, luma: &[u8]) -> Option<u64> {
    if width == 0 || height == 0 || luma.len() != width.checked_mul(height)? {
        return None;
    }
    let small = downsample(width, height, luma);
    let coeffs = dct_low(&small);
    // The DC term is the mean brightness: leave it out of the median and the bits so a
    // global exposure change does not flip them.
    let mut ac: Vec<f64> = coeffs[1..].to_vec();
    ac.sort_by(f64::total_cmp);
    let median = (ac[ac.len() / 2 - 1] + ac[ac.len() / 2]) / 2.0;
    let mut hash = 0u64;
    for (i, &c) in coeffs.iter().enumerate().skip(1) {
        if c > median {
            hash |= 1 << i;
        }
    }
    Some(hash)
}

/// Area-average `luma` into an N×N grid (each source pixel counted in the cell holding
/// its centre), so the hash does not depend on the input resolution.
fn downsample(width: usize, height: usize, luma: &[u8]) -> [f64; N * N] {
    // Column ranges of the N cells: pixel x lies in cell x·N / width. Summing each
    // range as integers (which vectorises) instead of pixel by pixel is what keeps the
    // hash cheap next to the JPEG decode; the sums are exact, so nothing changes.
    let mut bounds = [0; N + 1];
    for (c, b) in bounds.iter_mut().enumerate() {
        *b = (c * width).div_ceil(N);
    }
    let mut sum = [0u64; N * N];
    let mut count = [0u32; N * N];
    for (y, row) in luma.chunks_exact(width).take(height).enumerate() {
        let gy = y * N / height;
        for c in 0..N {
            let cells = &row[bounds[c]..bounds[c + 1]];
            sum[gy * N + c] += cells.iter().map(|&v| u64::from(v)).sum::<u64>();
            count[gy * N + c] += cells.len() as u32;
        }
    }
    let mut out = [0f64; N * N];
    for i in 0..N * N {
        // An image smaller than N in a dimension leaves empty cells: fill with mid-grey.
        out[i] = if count[i] == 0 {
            128.0
        } else {
            sum[i] as f64 / f64::from(count[i])
        };
    }
    out
}

/// cos((2x + 1) u π / 2N) for u < K, x < N.
fn cos_table() -> &'static [[f64; N]; K] {
    static TABLE: OnceLock<[[f64; N]; K]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [[0f64; N]; K];
        for (u, row) in t.iter_mut().enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                *v = (std::f64::consts::PI * (2 * x + 1) as f64 * u as f64 / (2 * N) as f64).cos();
            }
        }
        t
    })
}

/// The K×K lowest-frequency DCT-II coefficients of an N×N block (separable: rows, then
/// columns; scale factors omitted since only their order matters).
fn dct_low(block: &[f64; N * N]) -> [f64; K * K] {
    let cos = cos_table();
    let mut rows = [[0f64; K]; N];
    for (y, out) in rows.iter_mut().enumerate() {
        let line = &block[y * N..(y + 1) * N];
        for (u, o) in out.iter_mut().enumerate() {
            *o = line.iter().zip(&cos[u]).map(|(a, b)| a * b).sum();
        }
    }
    let mut coeffs = [0f64; K * K];
    for v in 0..K {
        for u in 0..K {
            coeffs[v * K + u] = (0..N).map(|y| rows[y][u] * cos[v][y]).sum();
        }
    }
    coeffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use streetcomb_core::rng::SplitMix64;

    /// A deterministic scene with broad structure, as street photos have: a 12×7 grid
    /// of random grey levels (seeded [`SplitMix64`]) over a vertical gradient.
    fn scene(width: usize, height: usize, seed: u64) -> Vec<u8> {
        let mut rng = SplitMix64::new(seed);
        let levels: Vec<f64> = (0..12 * 7).map(|_| rng.below(160) as f64).collect();
        let mut out = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let cell = (y * 7 / height) * 12 + x * 12 / width;
                let v = levels[cell] + 60.0 * y as f64 / height as f64;
                out.push(v.clamp(0.0, 235.0) as u8);
            }
        }
        out
    }

    #[test]
    fn the_same_picture_at_another_size_hashes_almost_the_same() {
        let a = phash_luma(640, 360, &scene(640, 360, 1)).unwrap();
        let b = phash_luma(320, 180, &scene(320, 180, 1)).unwrap();
        assert!(hamming(a, b) <= 4, "distance {}", hamming(a, b));
    }

    #[test]
    fn a_brightness_change_moves_few_bits() {
        let img = scene(320, 180, 2);
        let brighter: Vec<u8> = img.iter().map(|&v| v.saturating_add(20)).collect();
        let a = phash_luma(320, 180, &img).unwrap();
        let b = phash_luma(320, 180, &brighter).unwrap();
        assert!(hamming(a, b) <= 6, "distance {}", hamming(a, b));
    }

    #[test]
    fn different_scenes_are_far_apart() {
        let a = phash_luma(320, 180, &scene(320, 180, 1)).unwrap();
        let b = phash_luma(320, 180, &scene(320, 180, 5)).unwrap();
        assert!(hamming(a, b) >= 16, "distance {}", hamming(a, b));
    }

    #[test]
    fn cell_averages_match_a_pixel_by_pixel_reference_at_odd_sizes() {
        for (w, h) in [(1, 1), (7, 5), (31, 33), (33, 31), (100, 57), (1280, 720)] {
            let luma: Vec<u8> = (0..w * h).map(|i| ((i * 7919) % 251) as u8).collect();
            let mut sum = [0f64; N * N];
            let mut count = [0f64; N * N];
            for y in 0..h {
                for x in 0..w {
                    let g = (y * N / h) * N + x * N / w;
                    sum[g] += f64::from(luma[y * w + x]);
                    count[g] += 1.0;
                }
            }
            let got = downsample(w, h, &luma);
            for g in 0..N * N {
                let want = if count[g] == 0.0 {
                    128.0
                } else {
                    sum[g] / count[g]
                };
                assert!(
                    (got[g] - want).abs() < 1e-9,
                    "{w}x{h} cell {g}: {} vs {want}",
                    got[g]
                );
            }
        }
    }

    #[test]
    fn a_buffer_of_the_wrong_size_has_no_hash() {
        assert_eq!(phash_luma(10, 10, &[0; 99]), None);
        assert_eq!(phash_luma(0, 10, &[]), None);
    }
}
