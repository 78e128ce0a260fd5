//! The pixel work shared by the passes: SIMD resizing (`fast_image_resize`) and JPEG
//! encoding (`jpeg-encoder`, SIMD), each several times faster than `image`'s own on a
//! 1080p frame (resize ~10x, encode ~4x, measured with `examples/profile.rs`).

use std::borrow::Cow;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use streetcomb_core::BBox;

use crate::VisionError;

/// `img` scaled to `w` × `h` (bilinear, which is what the detectors were trained on).
pub fn resize_rgb(img: &RgbImage, w: u32, h: u32) -> Result<RgbImage, VisionError> {
    let fail = |e: &dyn std::fmt::Display| VisionError::Decode(format!("resize: {e}"));
    if img.dimensions() == (w, h) {
        return Ok(img.clone());
    }
    let src = ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8x3)
        .map_err(|e| fail(&e))?;
    let mut dst = Image::new(w.max(1), h.max(1), PixelType::U8x3);
    Resizer::new()
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|e| fail(&e))?;
    RgbImage::from_raw(w.max(1), h.max(1), dst.into_vec())
        .ok_or_else(|| VisionError::Decode("resize: buffer size".into()))
}

/// A sampling grid over a source picture: output pixel (ox, oy) reads the source at
/// `origin + (o + 0.5) * scale - 0.5` on each axis, coordinates clamped to the pixel
/// window `bounds` (x0, y0, x1, y1, ends exclusive), as OpenCV's `INTER_LINEAR` with
/// edge replication, which the crop classifiers were trained on.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub origin: (f32, f32),
    pub scale: (f32, f32),
    pub bounds: (usize, usize, usize, usize),
}

/// Writes `img` sampled bilinearly on `grid` as planar RGB 0-255 into `out`
/// (3 × `out_h` × `out_w`).
pub fn resample_planar(img: &RgbImage, grid: &Grid, out_w: usize, out_h: usize, out: &mut [f32]) {
    let (bx0, by0, bx1, by1) = grid.bounds;
    let raw = img.as_raw();
    let stride = img.width() as usize * 3;
    let plane = out_h * out_w;
    // The two taps and the weight of the second along one axis.
    let tap = |o: usize, origin: f32, scale: f32, lo: usize, hi: usize| {
        let p = (origin + (o as f32 + 0.5) * scale - 0.5).max(lo as f32);
        let i = (p.floor() as usize).min(hi - 1);
        let j = (i + 1).min(hi - 1);
        (i, j, p - p.floor())
    };
    for oy in 0..out_h {
        let (ya, yb, fy) = tap(oy, grid.origin.1, grid.scale.1, by0, by1);
        for ox in 0..out_w {
            let (xa, xb, fx) = tap(ox, grid.origin.0, grid.scale.0, bx0, bx1);
            for c in 0..3 {
                let px = |x: usize, y: usize| f32::from(raw[y * stride + x * 3 + c]);
                let top = px(xa, ya) * (1.0 - fx) + px(xb, ya) * fx;
                let bottom = px(xa, yb) * (1.0 - fx) + px(xb, yb) * fx;
                out[c * plane + oy * out_w + ox] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
}

/// The pixels `b` touches, clamped to a `w` × `h` image: (x0, y0, x1, y1), ends
/// exclusive; empty (x1 <= x0 or y1 <= y0) when `b` lies outside.
pub fn pixel_span(b: &BBox, w: u32, h: u32) -> (u32, u32, u32, u32) {
    (
        (b.x0.floor().max(0.0) as u32).min(w),
        (b.y0.floor().max(0.0) as u32).min(h),
        (b.x1.ceil().max(0.0) as u32).min(w),
        (b.y1.ceil().max(0.0) as u32).min(h),
    )
}

/// The region `(x, y, w, h)` of `img` scaled by `scale` (each side rounded, at least
/// 1 px): what a detector pass looks at. Borrowed when that is `img` itself.
pub fn scaled_region(
    img: &RgbImage,
    (x, y, w, h): (u32, u32, u32, u32),
    scale: f32,
) -> Result<Cow<'_, RgbImage>, VisionError> {
    let size = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    resized_region(img, (x, y, w, h), size)
}

/// The region (x, y, w, h) of `img` resized to exactly `(sw, sh)` (the aspect ratio
/// may change); borrowed when that is the whole image at its own size.
pub fn resized_region(
    img: &RgbImage,
    (x, y, w, h): (u32, u32, u32, u32),
    (sw, sh): (u32, u32),
) -> Result<Cow<'_, RgbImage>, VisionError> {
    let whole = (x, y, w, h) == (0, 0, img.width(), img.height());
    match (whole, (sw, sh) == (w, h)) {
        (true, true) => Ok(Cow::Borrowed(img)),
        (true, false) => Ok(Cow::Owned(resize_rgb(img, sw, sh)?)),
        (false, same) => {
            let crop = image::imageops::crop_imm(img, x, y, w, h).to_image();
            Ok(Cow::Owned(if same {
                crop
            } else {
                resize_rgb(&crop, sw, sh)?
            }))
        }
    }
}

/// Baseline JPEG of `img` at `quality` (1-100), without any metadata: no EXIF, no
/// GPS, nothing of the original file survives but the pixels.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, VisionError> {
    let (w, h) = img.dimensions();
    let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
        return Err(VisionError::Encode(format!(
            "{w}x{h} is too large for JPEG"
        )));
    };
    let mut out = Vec::with_capacity((w as usize * h as usize) / 4);
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(img.as_raw(), w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| VisionError::Encode(e.to_string()))?;
    Ok(out)
}

/// `img` as the float tensor CenterFace and the plate model take: NCHW, RGB, 0-255,
/// copied into the top-left corner of a black canvas whose sides are rounded up to a
/// multiple of `multiple`. Returns the data and the padded width and height.
pub fn nchw_padded(img: &RgbImage, multiple: u32) -> (Vec<f32>, u32, u32) {
    let (w, h) = img.dimensions();
    let m = multiple.max(1);
    let (pw, ph) = (w.div_ceil(m) * m, h.div_ceil(m) * m);
    let plane = (pw * ph) as usize;
    let mut data = vec![0f32; 3 * plane];
    for (y, row) in img.as_raw().chunks_exact(w as usize * 3).enumerate() {
        let base = y * pw as usize;
        for (x, px) in row.chunks_exact(3).enumerate() {
            data[base + x] = px[0] as f32;
            data[plane + base + x] = px[1] as f32;
            data[2 * plane + base + x] = px[2] as f32;
        }
    }
    (data, pw, ph)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_a_flat_colour_and_encoding_gives_a_decodable_jpeg_of_the_same_size() {
        let img = RgbImage::from_pixel(64, 48, image::Rgb([200, 40, 90]));
        let small = resize_rgb(&img, 16, 12).unwrap();
        assert_eq!(small.dimensions(), (16, 12));
        assert!(small.pixels().all(|p| {
            p.0.iter()
                .zip([200u8, 40, 90])
                .all(|(a, b)| a.abs_diff(b) <= 1)
        }));
        let jpeg = encode_jpeg(&img, 85).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap().into_rgb8();
        assert_eq!(back.dimensions(), (64, 48));
        let p = back.get_pixel(30, 20).0;
        assert!(
            p.iter()
                .zip([200u8, 40, 90])
                .all(|(a, b)| a.abs_diff(b) <= 6),
            "{p:?}"
        );
    }

    #[test]
    fn a_scaled_region_is_the_crop_at_the_scale_and_the_whole_frame_is_borrowed() {
        let img = RgbImage::from_fn(40, 20, |x, _| {
            image::Rgb([if x < 20 { 10 } else { 250 }, 0, 0])
        });
        assert!(matches!(
            scaled_region(&img, (0, 0, 40, 20), 1.0).unwrap(),
            Cow::Borrowed(_)
        ));
        let right = scaled_region(&img, (20, 0, 20, 20), 0.5).unwrap();
        assert_eq!(right.dimensions(), (10, 10));
        assert!(right.pixels().all(|p| p.0[0] == 250));
        let whole_half = scaled_region(&img, (0, 0, 40, 20), 0.5).unwrap();
        assert_eq!(whole_half.dimensions(), (20, 10));
    }

    #[test]
    fn the_padded_tensor_holds_the_planes_top_left_and_black_elsewhere() {
        let img = RgbImage::from_fn(33, 2, |x, _| image::Rgb([x as u8, 100, 200]));
        let (data, pw, ph) = nchw_padded(&img, 32);
        assert_eq!((pw, ph), (64, 32));
        let plane = 64 * 32;
        assert_eq!(data[32], 32.0);
        assert_eq!(data[plane + 64 + 5], 100.0);
        assert_eq!(data[2 * plane + 1], 200.0);
        assert_eq!(data[33], 0.0);
        assert_eq!(data[2 * 64], 0.0);
    }
}
