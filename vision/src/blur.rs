//! Irreversible anonymisation of image regions.
//!
//! Each region is replaced by a coarse mosaic: at most [`CELLS`] × [`CELLS`] flat
//! blocks, each the mean of its pixels. Averaging discards everything inside a block,
//! so no deblurring can bring a face back (unlike a reversible pixel shuffle or a light
//! Gaussian). The mosaic is then smoothed with a box as wide as a block, which also
//! flattens what the blocks kept of the face's layout (the pixel variance inside a
//! face box falls to a fraction: measured on the 43 labelled faces in the vision
//! tests).

use image::RgbImage;
use streetcomb_core::BBox;

use crate::image_ops::pixel_span;

/// Blocks across the longer side of a region.
pub const CELLS: u32 = 3;

/// Share of the smaller of two regions that must overlap the other for both to be
/// blurred as one.
pub const MERGE_SHARE: f32 = 0.25;

/// Joins regions that overlap by at least [`MERGE_SHARE`] of the smaller one into
/// their bounding box. Two mosaics laid over each other leave a seam of two flat
/// colours through whatever they share (a plate found twice, a plate in a face's
/// box): one mosaic over both hides it evenly. Regions that merely touch stay apart,
/// so the union never grows far beyond what was found.
pub fn merge_overlapping(mut regions: Vec<BBox>) -> Vec<BBox> {
    let mut i = 0;
    while i < regions.len() {
        let joined = (i + 1..regions.len())
            .find(|&j| regions[i].overlap_of_smaller(&regions[j]) >= MERGE_SHARE);
        match joined {
            Some(j) => {
                let b = regions.swap_remove(j);
                regions[i] = regions[i].union(&b);
                // The grown box may now reach regions already passed.
                i = 0;
            }
            None => i += 1,
        }
    }
    regions
}

/// Pixelates every box (already clamped to the image) in place.
pub fn pixelate_regions(img: &mut RgbImage, boxes: &[BBox]) {
    let (w, h) = img.dimensions();
    for b in boxes {
        let (x0, y0, x1, y1) = pixel_span(b, w, h);
        if x1 <= x0 || y1 <= y0 {
            continue;
        }
        let block = ((x1 - x0).max(y1 - y0)).div_ceil(CELLS).max(2);
        let mut by = y0;
        while by < y1 {
            let ey = (by + block).min(y1);
            let mut bx = x0;
            while bx < x1 {
                let ex = (bx + block).min(x1);
                fill_mean(img, bx, by, ex, ey);
                bx = ex;
            }
            by = ey;
        }
        smooth(img, x0, y0, x1, y1, block.max(1));
    }
}

fn fill_mean(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) {
    let stride = img.width() as usize * 3;
    let (xs, xe) = (x0 as usize * 3, x1 as usize * 3);
    let raw: &mut [u8] = img;
    let mut sum = [0u64; 3];
    for y in y0 as usize..y1 as usize {
        for p in raw[y * stride + xs..y * stride + xe].chunks_exact(3) {
            for c in 0..3 {
                sum[c] += p[c] as u64;
            }
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as u64;
    let mean = [(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8];
    for y in y0 as usize..y1 as usize {
        for p in raw[y * stride + xs..y * stride + xe].chunks_exact_mut(3) {
            p.copy_from_slice(&mean);
        }
    }
}

/// Box-filters the region (horizontal then vertical) using only pixels inside it, so
/// nothing outside the region changes. Running sums make it linear in the region's
/// size whatever the radius (vehicle plate bands are large).
fn smooth(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, r: u32) {
    let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let stride = img.width() as usize * 3;
    let mut buf: Vec<[f32; 3]> = Vec::with_capacity(w * h);
    {
        let raw = img.as_raw();
        for y in y0 as usize..y1 as usize {
            let row = &raw[y * stride + x0 as usize * 3..y * stride + x1 as usize * 3];
            buf.extend(
                row.chunks_exact(3)
                    .map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]),
            );
        }
    }
    let r = r as usize;
    // One box-filter line: `len` samples `step` apart from `start`, window clipped to
    // the line (the mean over the samples actually inside).
    let line = |src: &[[f32; 3]], dst: &mut [[f32; 3]], start: usize, step: usize, len: usize| {
        let mut acc = [0.0f32; 3];
        let add = |acc: &mut [f32; 3], p: [f32; 3], sign: f32| {
            for c in 0..3 {
                acc[c] += sign * p[c];
            }
        };
        for i in 0..len.min(r + 1) {
            add(&mut acc, src[start + i * step], 1.0);
        }
        for i in 0..len {
            let lo = i.saturating_sub(r);
            let hi = (i + r).min(len - 1);
            let n = (hi - lo + 1) as f32;
            dst[start + i * step] = [acc[0] / n, acc[1] / n, acc[2] / n];
            if i + r + 1 < len {
                add(&mut acc, src[start + (i + r + 1) * step], 1.0);
            }
            if i >= r {
                add(&mut acc, src[start + (i - r) * step], -1.0);
            }
        }
    };
    let mut once = vec![[0.0f32; 3]; w * h];
    for y in 0..h {
        line(&buf, &mut once, y * w, 1, w);
    }
    for x in 0..w {
        line(&once, &mut buf, x, w, h);
    }
    let raw: &mut [u8] = img;
    for (i, p) in buf.iter().enumerate() {
        let (x, y) = (x0 as usize + i % w, y0 as usize + i / w);
        let o = y * stride + x * 3;
        raw[o..o + 3].copy_from_slice(&[
            p[0].round() as u8,
            p[1].round() as u8,
            p[2].round() as u8,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 37 + y * 91) % 251) as u8;
            image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(90)])
        })
    }

    #[test]
    fn pixelation_destroys_detail_inside_the_box_and_touches_nothing_outside() {
        let orig = noisy(200, 100);
        let mut img = orig.clone();
        let b = BBox {
            x0: 50.0,
            y0: 20.0,
            x1: 110.0,
            y1: 80.0,
        };
        pixelate_regions(&mut img, &[b]);
        let mut changed = 0;
        for y in 0..100 {
            for x in 0..200 {
                let inside = (50..110).contains(&x) && (20..80).contains(&y);
                if !inside {
                    assert_eq!(img.get_pixel(x, y), orig.get_pixel(x, y), "({x},{y})");
                } else if img.get_pixel(x, y) != orig.get_pixel(x, y) {
                    changed += 1;
                }
            }
        }
        assert!(changed > 60 * 60 * 9 / 10, "only {changed} pixels changed");
        // Detail is gone: neighbouring pixels inside differ by little.
        let mut max_step = 0i32;
        for y in 21..79 {
            for x in 51..109 {
                let a = img.get_pixel(x, y).0[0] as i32;
                let b = img.get_pixel(x + 1, y).0[0] as i32;
                max_step = max_step.max((a - b).abs());
            }
        }
        assert!(max_step < 40, "max horizontal step {max_step}");
    }

    #[test]
    fn overlapping_regions_become_one_and_touching_ones_stay_apart() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 5.0, 15.0, 15.0); // a quarter of b lies in a
        let far = BBox::new(40.0, 0.0, 50.0, 10.0);
        let touching = BBox::new(14.0, 0.0, 24.0, 10.0); // 1 px wide in the merged box
        let merged = merge_overlapping(vec![a, far, b, touching]);
        assert_eq!(merged.len(), 3, "{merged:?}");
        assert!(merged.contains(&BBox::new(0.0, 0.0, 15.0, 15.0)));
        assert!(merged.contains(&far) && merged.contains(&touching));
        // A chain: once a and b are one, the grown box also takes c.
        let c = BBox::new(12.0, 0.0, 20.0, 8.0); // 9 of its 64 px in b, 24 in a + b
        let chained = merge_overlapping(vec![c, a, b]);
        assert_eq!(chained, vec![BBox::new(0.0, 0.0, 20.0, 15.0)]);
    }

    #[test]
    fn one_mosaic_over_two_overlapping_finds_leaves_no_seam() {
        // A bright plate found twice, by two boxes that overlap by half of it.
        let mut plate = RgbImage::from_pixel(80, 40, image::Rgb([30, 30, 30]));
        for y in 10..30 {
            for x in 10..70 {
                let v = if (x / 3 + y / 5) % 2 == 0 { 250 } else { 120 };
                plate.put_pixel(x, y, image::Rgb([v, v, v]));
            }
        }
        let truth = BBox::new(10.0, 10.0, 70.0, 30.0);
        let finds = [
            BBox::new(4.0, 4.0, 76.0, 26.0),
            BBox::new(4.0, 14.0, 76.0, 36.0),
        ];
        let variance = |img: &RgbImage| {
            let px: Vec<f64> = (10..30)
                .flat_map(|y| (10..70).map(move |x| (x, y)))
                .map(|(x, y)| img.get_pixel(x, y).0[0] as f64)
                .collect();
            let m = px.iter().sum::<f64>() / px.len() as f64;
            px.iter().map(|v| (v - m).powi(2)).sum::<f64>() / px.len() as f64
        };
        let before = variance(&plate);
        let mut separate = plate.clone();
        pixelate_regions(&mut separate, &finds);
        let mut merged = plate.clone();
        pixelate_regions(&mut merged, &merge_overlapping(finds.to_vec()));
        let (s, m) = (variance(&separate) / before, variance(&merged) / before);
        assert!(m < s, "merged {m:.3} separate {s:.3}");
        assert!(
            m < 0.25,
            "merged leaves {m:.3} of the variance in {truth:?}"
        );
    }

    #[test]
    fn degenerate_and_out_of_image_boxes_are_ignored() {
        let orig = noisy(20, 20);
        let mut img = orig.clone();
        pixelate_regions(
            &mut img,
            &[
                BBox {
                    x0: 30.0,
                    y0: 30.0,
                    x1: 40.0,
                    y1: 40.0,
                },
                BBox {
                    x0: 5.0,
                    y0: 5.0,
                    x1: 5.0,
                    y1: 9.0,
                },
            ],
        );
        assert_eq!(img, orig);
    }
}
