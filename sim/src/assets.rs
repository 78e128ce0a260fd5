//! The pictures frames are made of: street photos as backgrounds, scaled once per
//! frame size to "plates" a little larger than the frame (the margin is what the
//! per-frame pan sways through), and the sign sprites, rasterised once from SVG.

use std::borrow::Cow;
use std::fmt;

use image::imageops::FilterType;
use image::{DynamicImage, RgbaImage};
use resvg::tiny_skia::{IntSize, Pixmap, Transform};
use resvg::usvg;
use streetcomb_core::Camera;

use crate::SimError;

/// Sprites are rasterised with this many pixels on their long side; frames scale them
/// down, which keeps edges clean at every distance.
const SPRITE_LONG_SIDE: u32 = 256;

/// Decoded backgrounds and rasterised sign sprites, prepared once and shared by every
/// simulated frame.
pub struct Assets {
    originals: Vec<DynamicImage>,
    /// Plates for the default 1280x720 camera, made once here.
    default_plates: Vec<Pixmap>,
    /// Premultiplied RGBA, cropped to the sign's outline.
    pub(crate) stop: DynamicImage,
    pub(crate) traffic_light: DynamicImage,
}

impl fmt::Debug for Assets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assets")
            .field("backgrounds", &self.originals.len())
            .field("stop", &(self.stop.width(), self.stop.height()))
            .field(
                "traffic_light",
                &(self.traffic_light.width(), self.traffic_light.height()),
            )
            .finish()
    }
}

impl Assets {
    /// `backgrounds`: encoded street photos (JPEG; PNG works too). `stop_svg`,
    /// `traffic_light_svg`: SVG documents of a stop sign face and a signal housing.
    pub fn new(
        backgrounds: &[Vec<u8>],
        stop_svg: &[u8],
        traffic_light_svg: &[u8],
    ) -> Result<Assets, SimError> {
        if backgrounds.is_empty() {
            return Err(SimError::NoBackgrounds);
        }
        let originals = backgrounds
            .iter()
            .enumerate()
            .map(|(index, bytes)| {
                image::load_from_memory(bytes)
                    .map(|img| DynamicImage::ImageRgb8(img.to_rgb8()))
                    .map_err(|e| SimError::Background {
                        index,
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let geometry = PlateGeometry::for_camera(&crate::SimConfig::default().drive.camera);
        let default_plates = originals
            .iter()
            .map(|img| make_plate(img, &geometry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Assets {
            originals,
            default_plates,
            stop: rasterise(stop_svg, "stop sign")?,
            traffic_light: rasterise(traffic_light_svg, "traffic light")?,
        })
    }

    pub(crate) fn background_count(&self) -> usize {
        self.originals.len()
    }

    /// Background `index` as a plate for `geometry` (made now unless it is the
    /// default).
    pub(crate) fn plate(
        &self,
        index: usize,
        geometry: &PlateGeometry,
    ) -> Result<Cow<'_, Pixmap>, SimError> {
        match self.default_plates.get(index) {
            Some(p) if (p.width(), p.height()) == geometry.plate_px() => Ok(Cow::Borrowed(p)),
            _ => {
                let img = self
                    .originals
                    .get(index)
                    .ok_or_else(|| SimError::Render(format!("no background image #{index}")))?;
                make_plate(img, geometry).map(Cow::Owned)
            }
        }
    }
}

/// How a frame sits in its plate: the plate is the frame plus a margin on every side
/// that the per-frame pan moves through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlateGeometry {
    /// Frame size, pixels.
    pub(crate) frame: (u32, u32),
    /// Margin on each side, pixels.
    pub(crate) margin: (u32, u32),
}

impl PlateGeometry {
    pub(crate) fn for_camera(camera: &Camera) -> Self {
        let (w, h) = (camera.width, camera.height);
        // About 5 % of the frame each way: enough to see the view sway, little enough
        // to keep the scene.
        let margin_x = ((f64::from(w) * 0.05).round() as u32).max(1);
        let margin_y = ((f64::from(h) * 0.045).round() as u32).max(1);
        Self {
            frame: (w, h),
            margin: (margin_x, margin_y),
        }
    }

    pub(crate) fn plate_px(&self) -> (u32, u32) {
        (
            self.frame.0 + 2 * self.margin.0,
            self.frame.1 + 2 * self.margin.1,
        )
    }
}

/// A background photo scaled to cover a plate (cropped to its centre), as an opaque
/// pixmap.
fn make_plate(img: &DynamicImage, geometry: &PlateGeometry) -> Result<Pixmap, SimError> {
    let (pw, ph) = geometry.plate_px();
    // DynamicImage methods are not generic, so they run at image's own opt-level.
    let rgba = img
        .resize_to_fill(pw, ph, FilterType::Triangle)
        .into_rgba8();
    let size = IntSize::from_wh(pw, ph)
        .ok_or_else(|| SimError::Render(format!("bad plate size {pw}x{ph}")))?;
    Pixmap::from_vec(rgba.into_raw(), size)
        .ok_or_else(|| SimError::Render(format!("bad plate buffer {pw}x{ph}")))
}

/// Rasterises an SVG, cropped to its drawn content, with [`SPRITE_LONG_SIDE`] pixels
/// on the long side, as premultiplied RGBA (what tiny-skia composites).
fn rasterise(svg: &[u8], what: &'static str) -> Result<DynamicImage, SimError> {
    let err = |message: String| SimError::Svg { what, message };
    let tree =
        usvg::Tree::from_data(svg, &usvg::Options::default()).map_err(|e| err(e.to_string()))?;
    let bb = tree.root().abs_stroke_bounding_box();
    if !(bb.width() > 0.0 && bb.height() > 0.0) {
        return Err(err("it draws nothing".into()));
    }
    let scale = SPRITE_LONG_SIDE as f32 / bb.width().max(bb.height());
    let w = ((bb.width() * scale).round() as u32).max(1);
    let h = ((bb.height() * scale).round() as u32).max(1);
    let mut pixmap = Pixmap::new(w, h).ok_or_else(|| err("bad raster size".into()))?;
    let transform = Transform::from_row(scale, 0.0, 0.0, scale, -bb.x() * scale, -bb.y() * scale);
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    let img = RgbaImage::from_raw(w, h, pixmap.take())
        .ok_or_else(|| err("raster buffer has the wrong size".into()))?;
    Ok(DynamicImage::ImageRgba8(img))
}

/// A sprite scaled to `w` x `h` pixels as a tiny-skia pixmap.
pub(crate) fn scaled_sprite(sprite: &DynamicImage, w: u32, h: u32) -> Result<Pixmap, SimError> {
    // Triangle has no negative lobes, so premultiplied input stays premultiplied.
    let scaled = sprite.resize_exact(w, h, FilterType::Triangle).into_rgba8();
    let size = IntSize::from_wh(w, h)
        .ok_or_else(|| SimError::Render(format!("bad sprite size {w}x{h}")))?;
    Pixmap::from_vec(scaled.into_raw(), size)
        .ok_or_else(|| SimError::Render(format!("bad sprite buffer {w}x{h}")))
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::OnceLock;

    const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

    /// The repository's assets, loaded once per test binary.
    pub(crate) fn assets() -> &'static Assets {
        static ASSETS: OnceLock<Assets> = OnceLock::new();
        ASSETS.get_or_init(|| {
            let read = |p: &str| std::fs::read(format!("{TESTDATA}/{p}")).unwrap();
            Assets::new(
                &[read("street/leuvenA.jpg")],
                &read("signs/stop.svg"),
                &read("signs/traffic_signals.svg"),
            )
            .unwrap()
        })
    }

    #[test]
    fn sprites_are_cropped_to_the_sign_and_keep_its_shape() {
        let a = assets();
        // The stop sign is a square octagon; the signal housing is 6 x 16.
        assert_eq!((a.stop.width(), a.stop.height()), (256, 256));
        let (w, h) = (a.traffic_light.width(), a.traffic_light.height());
        assert_eq!(h, 256);
        assert!((90..=100).contains(&w), "{w}");
        // The stop sign's centre is red, its corners transparent.
        let rgba = a.stop.to_rgba8();
        let c = rgba.get_pixel(128, 40);
        assert!(c[0] > 150 && c[1] < 60 && c[3] == 255, "{c:?}");
        assert_eq!(rgba.get_pixel(2, 2)[3], 0);
    }

    #[test]
    fn bad_inputs_are_reported_with_their_index_or_name() {
        let a = Assets::new(&[b"not a jpeg".to_vec()], b"", b"");
        assert!(
            a.unwrap_err()
                .to_string()
                .starts_with("cannot decode background image #0:")
        );
        let jpeg = std::fs::read(format!("{TESTDATA}/street/leuvenA.jpg")).unwrap();
        let b = Assets::new(&[jpeg], b"<svg", b"");
        assert!(
            b.unwrap_err()
                .to_string()
                .starts_with("cannot parse SVG stop sign:")
        );
        assert!(matches!(
            Assets::new(&[], b"", b""),
            Err(SimError::NoBackgrounds)
        ));
    }

    #[test]
    fn plates_cover_the_frame_plus_a_margin() {
        let g = PlateGeometry::for_camera(&crate::SimConfig::default().drive.camera);
        assert_eq!(g.margin, (64, 32));
        assert_eq!(g.plate_px(), (1408, 784));
        let p = assets().plate(0, &g).unwrap();
        assert!(
            matches!(p, Cow::Borrowed(_)),
            "the default plate is made once"
        );
        assert_eq!((p.width(), p.height()), (1408, 784));
        assert!(p.pixels().iter().all(|c| c.alpha() == 255), "opaque");
        let small = PlateGeometry::for_camera(&Camera {
            width: 100,
            height: 50,
            ..Camera::default()
        });
        assert_eq!(small.margin, (5, 2));
        let p = assets().plate(0, &small).unwrap();
        assert_eq!((p.width(), p.height()), (110, 54));
    }
}
