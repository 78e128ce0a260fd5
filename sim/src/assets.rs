//! The pictures frames are made of: street photos as backgrounds, scaled once per
//! frame size to "plates" a little larger than the frame (the margin is what the
//! per-frame pan sways through), and one sprite per rendered class, rasterised once
//! from the sign art bundled from `testdata/signs/` (speed limits once per value, on
//! first use, with their figure set in the bundled Roadgeek font).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use image::imageops::FilterType;
use image::{DynamicImage, RgbaImage};
use resvg::tiny_skia::{IntSize, Pixmap, Transform};
use resvg::usvg;
use streetcomb_core::{Camera, FeatureClass};

use crate::SimError;

/// Sprites are rasterised with this many pixels on their long side; frames scale them
/// down, which keeps edges clean at every distance.
const SPRITE_LONG_SIDE: u32 = 256;

/// The classes the simulator draws into frames, each with its own sprite. Parking
/// meters are mapped in OSM but have no art.
pub const RENDERED_CLASSES: [FeatureClass; 10] = [
    FeatureClass::SpeedLimit,
    FeatureClass::StopSign,
    FeatureClass::GiveWay,
    FeatureClass::NoEntry,
    FeatureClass::NoLeftTurn,
    FeatureClass::NoRightTurn,
    FeatureClass::NoUTurn,
    FeatureClass::PedestrianCrossing,
    FeatureClass::TrafficLight,
    FeatureClass::FireHydrant,
];

/// The sign art, compiled in so that every caller draws the same pictures; provenance
/// and licences are in `testdata/SOURCES.md`.
mod art {
    pub(super) const STOP: &[u8] = include_bytes!("../../testdata/signs/stop.svg");
    pub(super) const GIVE_WAY: &[u8] = include_bytes!("../../testdata/signs/give_way.svg");
    pub(super) const TRAFFIC_LIGHT: &[u8] =
        include_bytes!("../../testdata/signs/traffic_signals.svg");
    pub(super) const NO_ENTRY: &[u8] = include_bytes!("../../testdata/signs/no_entry.svg");
    pub(super) const NO_LEFT_TURN: &[u8] = include_bytes!("../../testdata/signs/no_left_turn.svg");
    pub(super) const NO_RIGHT_TURN: &[u8] =
        include_bytes!("../../testdata/signs/no_right_turn.svg");
    pub(super) const NO_U_TURN: &[u8] = include_bytes!("../../testdata/signs/no_u_turn.svg");
    pub(super) const PEDESTRIAN_CROSSING: &[u8] =
        include_bytes!("../../testdata/signs/pedestrian_crossing.svg");
    pub(super) const FIRE_HYDRANT: &[u8] = include_bytes!("../../testdata/signs/fire_hydrant.svg");
    /// The speed-limit ring; its `<text>` element is replaced by the value drawn.
    pub(super) const SPEED_LIMIT: &str = include_str!("../../testdata/signs/speed_limit.svg");
    /// Roadgeek 2014 Series D, the figures of speed-limit signs.
    pub(super) const FONT: &[u8] = include_bytes!("../../testdata/signs/fonts/RG2014D.ttf");
    pub(super) const FONT_FAMILY: &str = "Roadgeek 2014 Series D";
}

/// The art of a class with one fixed picture (every rendered class but speed limits).
fn fixed_art(class: FeatureClass) -> Option<&'static [u8]> {
    Some(match class {
        FeatureClass::StopSign => art::STOP,
        FeatureClass::GiveWay => art::GIVE_WAY,
        FeatureClass::TrafficLight => art::TRAFFIC_LIGHT,
        FeatureClass::NoEntry => art::NO_ENTRY,
        FeatureClass::NoLeftTurn => art::NO_LEFT_TURN,
        FeatureClass::NoRightTurn => art::NO_RIGHT_TURN,
        FeatureClass::NoUTurn => art::NO_U_TURN,
        FeatureClass::PedestrianCrossing => art::PEDESTRIAN_CROSSING,
        FeatureClass::FireHydrant => art::FIRE_HYDRANT,
        FeatureClass::SpeedLimit | FeatureClass::ParkingMeter => return None,
    })
}

/// The largest speed limit a sign can show (three figures).
pub const MAX_SPEED_LIMIT: u32 = 999;

/// Decoded backgrounds and rasterised sprites, prepared once and shared by every
/// simulated frame.
pub struct Assets {
    originals: Vec<DynamicImage>,
    /// Plates for the default 1280x720 camera, made once here.
    default_plates: Vec<Pixmap>,
    /// Premultiplied RGBA, cropped to the sign's outline, per class with fixed art.
    sprites: HashMap<FeatureClass, Arc<DynamicImage>>,
    /// Speed-limit sprites by value, made on first use: values are few, but which ones
    /// depends on the extract.
    speed_limits: RwLock<HashMap<u32, Arc<DynamicImage>>>,
    /// The bundled font only: frames must not depend on the fonts of the machine.
    fontdb: Arc<usvg::fontdb::Database>,
}

impl fmt::Debug for Assets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sizes: Vec<_> = self
            .sprites
            .iter()
            .map(|(c, s)| (c.as_str(), (s.width(), s.height())))
            .collect();
        sizes.sort();
        f.debug_struct("Assets")
            .field("backgrounds", &self.originals.len())
            .field("sprites", &sizes)
            .finish_non_exhaustive()
    }
}

impl Assets {
    /// `backgrounds`: encoded street photos (JPEG; PNG works too). The sign art is
    /// bundled.
    pub fn new(backgrounds: &[Vec<u8>]) -> Result<Assets, SimError> {
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
        let mut fontdb = usvg::fontdb::Database::new();
        fontdb.load_font_data(art::FONT.to_vec());
        let fontdb = Arc::new(fontdb);
        let sprites = RENDERED_CLASSES
            .iter()
            .filter_map(|&c| fixed_art(c).map(|svg| (c, svg)))
            .map(|(c, svg)| Ok((c, Arc::new(rasterise(svg, c.as_str(), &fontdb)?))))
            .collect::<Result<HashMap<_, _>, SimError>>()?;
        Ok(Assets {
            originals,
            default_plates,
            sprites,
            speed_limits: RwLock::new(HashMap::new()),
            fontdb,
        })
    }

    /// The sprite of a `class` feature (premultiplied RGBA, cropped to the sign,
    /// 256 px on its long side): `None` for classes the simulator does not draw. A
    /// speed limit needs its `value` in km/h (1..=999).
    pub(crate) fn sprite(
        &self,
        class: FeatureClass,
        value: Option<u32>,
    ) -> Result<Option<Arc<DynamicImage>>, SimError> {
        if class != FeatureClass::SpeedLimit {
            return Ok(self.sprites.get(&class).cloned());
        }
        let value = value.ok_or(SimError::SpeedLimitValue(None))?;
        if let Some(s) = self
            .speed_limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&value)
        {
            return Ok(Some(Arc::clone(s)));
        }
        let svg = speed_limit_svg(value).ok_or(SimError::SpeedLimitValue(Some(value)))?;
        let sprite = Arc::new(rasterise(svg.as_bytes(), "speed limit", &self.fontdb)?);
        // Two threads may both draw a new value; either picture is the same.
        let mut cache = self
            .speed_limits
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(Some(Arc::clone(cache.entry(value).or_insert(sprite))))
    }

    /// A class's sprite as plain (not premultiplied) RGBA, e.g. to save as PNG: the
    /// picture frames are drawn with, cropped to the sign, 256 px on its long side.
    /// `None` for classes the simulator does not draw ([`RENDERED_CLASSES`]); a
    /// speed limit needs its `value` in km/h (1..=999).
    pub fn sprite_rgba(
        &self,
        class: FeatureClass,
        value: Option<u32>,
    ) -> Result<Option<RgbaImage>, SimError> {
        let Some(sprite) = self.sprite(class, value)? else {
            return Ok(None);
        };
        let mut rgba = sprite.to_rgba8();
        for p in rgba.pixels_mut() {
            let a = u32::from(p[3]);
            if a > 0 && a < 255 {
                for c in &mut p.0[..3] {
                    *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
                }
            }
        }
        Ok(Some(rgba))
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

/// The speed-limit sign showing `value` km/h as SVG: the bundled ring with the
/// figure set in the bundled font. Three figures are narrowed to stay inside the ring.
/// `None` outside 1..=[`MAX_SPEED_LIMIT`].
fn speed_limit_svg(value: u32) -> Option<String> {
    if !(1..=MAX_SPEED_LIMIT).contains(&value) {
        return None;
    }
    let template = art::SPEED_LIMIT;
    // The first text element after the root's start tag (not in a comment before it).
    let start = template.find("<svg")?;
    let start = template[start..].find("<text")? + start;
    let end = template[start..].find("</text>")? + start + "</text>".len();
    // Font size and baseline put the figures' cap height about 0.34 of the disc,
    // centred; 3 figures are squeezed horizontally about the centre line.
    let squeeze = if value >= 100 {
        r#" transform="matrix(0.8 0 0 1 10 0)""#
    } else {
        ""
    };
    let text = format!(
        r##"<text x="50" y="{TEXT_BASELINE}" font-family="'{family}'" font-size="{TEXT_SIZE}" text-anchor="middle" fill="#000000"{squeeze}>{value}</text>"##,
        family = art::FONT_FAMILY,
    );
    Some(format!("{}{text}{}", &template[..start], &template[end..]))
}

/// Font size and baseline of speed-limit figures, in the 100-unit sign's coordinates.
const TEXT_SIZE: f32 = 58.0;
const TEXT_BASELINE: f32 = 66.5;

/// Rasterises an SVG, cropped to its drawn content, with [`SPRITE_LONG_SIDE`] pixels
/// on the long side, as premultiplied RGBA (what tiny-skia composites). Text is set
/// in the fonts of `fontdb` only.
fn rasterise(
    svg: &[u8],
    what: &'static str,
    fontdb: &Arc<usvg::fontdb::Database>,
) -> Result<DynamicImage, SimError> {
    let err = |message: String| SimError::Svg { what, message };
    let options = usvg::Options {
        font_family: art::FONT_FAMILY.to_owned(),
        fontdb: Arc::clone(fontdb),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_data(svg, &options).map_err(|e| err(e.to_string()))?;
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
            Assets::new(&[read("street/leuvenA.jpg")]).unwrap()
        })
    }

    fn sprite(class: FeatureClass, value: Option<u32>) -> RgbaImage {
        assets().sprite_rgba(class, value).unwrap().unwrap()
    }

    /// Counts of (red, white, black, blue, transparent) pixels; the rest are edges.
    fn colours(img: &RgbaImage) -> [usize; 5] {
        let mut n = [0; 5];
        for p in img.pixels() {
            let [r, g, b, a] = p.0.map(i32::from);
            if a < 10 {
                n[4] += 1;
            } else if a < 250 {
            } else if r > 150 && g < 80 && b < 80 {
                n[0] += 1;
            } else if r > 220 && g > 220 && b > 220 {
                n[1] += 1;
            } else if r < 40 && g < 40 && b < 40 {
                n[2] += 1;
            } else if b > 140 && r < 80 && b > g + 40 {
                n[3] += 1;
            }
        }
        n
    }

    /// Left, top, right, bottom of the pixels `keep` selects.
    fn extent(img: &RgbaImage, keep: impl Fn(&image::Rgba<u8>) -> bool) -> [u32; 4] {
        let mut e = [u32::MAX, u32::MAX, 0, 0];
        for (x, y, p) in img.enumerate_pixels() {
            if keep(p) {
                e = [e[0].min(x), e[1].min(y), e[2].max(x), e[3].max(y)];
            }
        }
        e
    }

    fn is_black(p: &image::Rgba<u8>) -> bool {
        p[3] > 250 && p[0] < 60 && p[1] < 60 && p[2] < 60
    }

    #[test]
    fn every_rendered_class_has_a_sprite_cropped_to_the_sign() {
        for class in RENDERED_CLASSES {
            let img = sprite(class, Some(50));
            let (w, h) = img.dimensions();
            assert_eq!(w.max(h), 256, "{class}: {w}x{h}");
            // Something opaque touches every side: the crop is the sign's outline.
            let solid = extent(&img, |p| p[3] > 128);
            assert!(solid[0] <= 1 && solid[1] <= 1, "{class}: {solid:?}");
            assert!(solid[2] + 2 >= w && solid[3] + 2 >= h, "{class}: {solid:?}");
        }
        assert!(
            assets()
                .sprite(FeatureClass::ParkingMeter, None)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn sprites_keep_the_shape_of_their_sign() {
        let dims = |c| sprite(c, Some(30)).dimensions();
        for c in [
            FeatureClass::StopSign,
            FeatureClass::SpeedLimit,
            FeatureClass::NoEntry,
            FeatureClass::NoLeftTurn,
            FeatureClass::NoRightTurn,
            FeatureClass::NoUTurn,
            FeatureClass::PedestrianCrossing,
        ] {
            let (w, h) = dims(c);
            assert!(w.abs_diff(h) <= 2, "{c} is square: {w}x{h}");
        }
        // The give-way triangle is wider than tall; the signal housing is 6 x 16 and
        // the hydrant 1 x 2.
        let (w, h) = dims(FeatureClass::GiveWay);
        assert!(w == 256 && (200..250).contains(&h), "{w}x{h}");
        let (w, h) = dims(FeatureClass::TrafficLight);
        assert!(h == 256 && (90..=100).contains(&w), "{w}x{h}");
        assert_eq!(dims(FeatureClass::FireHydrant), (128, 256));
    }

    #[test]
    fn disc_signs_are_transparent_outside_the_disc() {
        for c in [
            FeatureClass::SpeedLimit,
            FeatureClass::NoEntry,
            FeatureClass::NoLeftTurn,
            FeatureClass::NoRightTurn,
            FeatureClass::NoUTurn,
        ] {
            let img = sprite(c, Some(80));
            for (x, y) in [(2, 2), (253, 2), (2, 253), (253, 253)] {
                assert_eq!(img.get_pixel(x, y)[3], 0, "{c} at {x},{y}");
            }
        }
        let stop = sprite(FeatureClass::StopSign, None);
        assert_eq!(stop.get_pixel(2, 2)[3], 0);
    }

    #[test]
    fn sprites_have_their_signs_colours() {
        let share = |c, v| {
            let img = sprite(c, v);
            let n = colours(&img);
            let all = (img.width() * img.height()) as f64;
            n.map(|k| k as f64 / all)
        };
        // [red, white, black, blue, transparent]
        let stop = share(FeatureClass::StopSign, None);
        assert!(stop[0] > 0.45, "stop is red: {stop:?}");
        let no_entry = share(FeatureClass::NoEntry, None);
        assert!(no_entry[0] > 0.45 && no_entry[1] > 0.1, "{no_entry:?}");
        let speed = share(FeatureClass::SpeedLimit, Some(50));
        assert!(
            speed[0] > 0.25 && speed[1] > 0.25 && speed[2] > 0.03,
            "{speed:?}"
        );
        let crossing = share(FeatureClass::PedestrianCrossing, None);
        assert!(
            crossing[3] > 0.3 && crossing[1] > 0.2 && crossing[2] > 0.03,
            "{crossing:?}"
        );
        let hydrant = share(FeatureClass::FireHydrant, None);
        assert!(hydrant[0] > 0.4 && hydrant[3] == 0.0, "{hydrant:?}");
        for c in [
            FeatureClass::NoLeftTurn,
            FeatureClass::NoRightTurn,
            FeatureClass::NoUTurn,
        ] {
            let turn = share(c, None);
            assert!(
                turn[0] > 0.2 && turn[1] > 0.2 && turn[2] > 0.02,
                "{c}: {turn:?}"
            );
        }
        // The give-way triangle points down: red at the top edge's middle, nothing
        // at the bottom corners.
        let give_way = sprite(FeatureClass::GiveWay, None);
        let (w, h) = give_way.dimensions();
        assert!(give_way.get_pixel(w / 2, 3)[0] > 150);
        assert_eq!(give_way.get_pixel(3, h - 3)[3], 0);
    }

    #[test]
    fn no_left_and_no_right_turn_are_mirror_images() {
        let left = sprite(FeatureClass::NoLeftTurn, None);
        let right = sprite(FeatureClass::NoRightTurn, None);
        // Black arrow pixels left of centre vs right of centre.
        let sides = |img: &RgbaImage| {
            let (mut l, mut r) = (0, 0);
            for (x, _, p) in img.enumerate_pixels() {
                if is_black(p) {
                    if x < img.width() / 2 { l += 1 } else { r += 1 }
                }
            }
            (l, r)
        };
        let (ll, lr) = sides(&left);
        let (rl, rr) = sides(&right);
        assert!(ll > lr && rr > rl, "left {ll}/{lr}, right {rl}/{rr}");
    }

    #[test]
    fn speed_limit_figures_are_centred_inside_the_ring_for_two_and_three_digits() {
        for v in [5, 30, 50, 80, 100, 120, 130] {
            let img = sprite(FeatureClass::SpeedLimit, Some(v));
            let [x0, y0, x1, y1] = extent(&img, is_black);
            assert!(x0 < x1 && y0 < y1, "{v}: no figures");
            // Centred within 3 % of the sign.
            let (cx, cy) = (f64::from(x0 + x1) / 2.0, f64::from(y0 + y1) / 2.0);
            eprintln!("{v}: {x0},{y0} {x1},{y1}");
            assert!(
                (cx - 128.0).abs() < 8.0 && (cy - 128.0).abs() < 8.0,
                "{v}: {cx},{cy}"
            );
            // Figures about a third of the sign tall.
            assert!(y1 - y0 > 80, "{v}: {} px tall", y1 - y0);
            // Every figure pixel lies inside the ring's white hole (radius 36 of 50).
            for (x, y, p) in img.enumerate_pixels() {
                if is_black(p) {
                    let r = (f64::from(x) - 127.5).hypot(f64::from(y) - 127.5);
                    assert!(r < 36.0 / 50.0 * 128.0, "{v}: figure pixel {x},{y} at {r}");
                }
            }
        }
    }

    #[test]
    fn different_speed_limits_are_different_pictures_and_are_cached() {
        let a = assets();
        let s30 = a
            .sprite(FeatureClass::SpeedLimit, Some(30))
            .unwrap()
            .unwrap();
        let s80 = a
            .sprite(FeatureClass::SpeedLimit, Some(80))
            .unwrap()
            .unwrap();
        assert_ne!(s30.as_bytes(), s80.as_bytes());
        let again = a
            .sprite(FeatureClass::SpeedLimit, Some(30))
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&s30, &again), "made once per value");
    }

    #[test]
    fn a_speed_limit_without_a_drawable_value_is_an_error() {
        let a = assets();
        for v in [None, Some(0), Some(1000)] {
            let e = a.sprite(FeatureClass::SpeedLimit, v).unwrap_err();
            assert!(matches!(e, SimError::SpeedLimitValue(_)), "{e}");
        }
        assert_eq!(
            a.sprite(FeatureClass::SpeedLimit, None)
                .unwrap_err()
                .to_string(),
            "cannot draw a speed-limit sign without a value"
        );
    }

    #[test]
    fn bad_backgrounds_are_reported_with_their_index() {
        let a = Assets::new(&[b"not a jpeg".to_vec()]);
        assert!(
            a.unwrap_err()
                .to_string()
                .starts_with("cannot decode background image #0:")
        );
        assert!(matches!(Assets::new(&[]), Err(SimError::NoBackgrounds)));
        let fontdb = Arc::new(usvg::fontdb::Database::new());
        let e = rasterise(b"<svg", "stop sign", &fontdb).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot parse SVG stop sign:"),
            "{e}"
        );
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
