//! Drawing one frame: which features the dashcam sees (pinhole projection at their
//! physical size), the panned background plate with poles and sprites composited
//! far-to-near over it (tiny-skia), an exposure shift, and the JPEG (`image`'s
//! encoder).
//!
//! Sprites are drawn at sub-pixel positions and sizes, and the truth box is the
//! sprite's exact float rectangle: a detector's box centre gives the bearing that
//! mapping triangulates from, and rounding sprites to whole pixels would put up to
//! half a pixel (about 0.03°, some centimetres at 60 m) of error into the truth.

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use resvg::tiny_skia::{
    Color, FilterQuality, Paint, Pattern, Pixmap, PixmapPaint, Rect, SpreadMode, Transform,
};
use streetcomb_core::{BBox, Camera, FeatureClass};

use crate::SimError;
use crate::assets::{Assets, scaled_sprite};
use crate::geom::dist;
use crate::osm::RoadNetwork;

/// Height of the dashcam above the road, metres.
pub const CAMERA_HEIGHT_M: f64 = 1.4;
/// Features further away than this are not drawn, metres.
pub const MAX_RANGE_M: f64 = 60.0;
/// Features closer than this in front of the camera are not drawn (they would fill
/// the frame), metres.
const MIN_FORWARD_M: f64 = 1.0;
const POLE_WIDTH_M: f64 = 0.07;
/// Centre height of a sign face on its pole, metres.
const SIGN_CENTRE_M: f64 = 2.2;

/// The physical size of a feature's face and how high its centre is, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    pub(crate) width_m: f64,
    pub(crate) height_m: f64,
    pub(crate) centre_height_m: f64,
    /// Whether a pole holds it up (everything but hydrants, which stand on the ground).
    pub(crate) pole: bool,
}

/// Shapes of the classes the simulator renders (`None` for the others): the class's
/// typical size, at the height it is mounted.
pub(crate) fn shape(class: FeatureClass) -> Option<Shape> {
    let (centre_height_m, pole) = match class {
        // A signal head on a pole, centre 3 m up.
        FeatureClass::TrafficLight => (3.0, true),
        // A hydrant stands on the ground.
        FeatureClass::FireHydrant => (class.typical_height_m() / 2.0, false),
        // Crossing signs stand higher, clear of pedestrians' heads.
        FeatureClass::PedestrianCrossing => (2.5, true),
        FeatureClass::StopSign
        | FeatureClass::GiveWay
        | FeatureClass::SpeedLimit
        | FeatureClass::NoEntry
        | FeatureClass::NoLeftTurn
        | FeatureClass::NoRightTurn
        | FeatureClass::NoUTurn => (SIGN_CENTRE_M, true),
        FeatureClass::ParkingMeter => return None,
    };
    Some(Shape {
        width_m: class.typical_width_m(),
        height_m: class.typical_height_m(),
        centre_height_m,
        pole,
    })
}

/// Where a feature lands in an image: its face's exact rectangle, pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Projected {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) w: f64,
    pub(crate) h: f64,
    /// Horizontal distance from the camera, metres.
    pub(crate) distance_m: f64,
    /// Pole: centre x, width, top y, bottom y (pixels); `None` for hydrants.
    pub(crate) pole: Option<[f32; 4]>,
}

impl Projected {
    pub(crate) fn bbox(&self) -> BBox {
        BBox {
            x0: self.x as f32,
            y0: self.y as f32,
            x1: (self.x + self.w) as f32,
            y1: (self.y + self.h) as f32,
        }
    }
}

/// Where a feature lands in a frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placement {
    /// Index into [`RoadNetwork::features`].
    pub(crate) feature: usize,
    pub(crate) class: FeatureClass,
    /// A speed limit's figure.
    pub(crate) value: Option<u32>,
    pub(crate) at: Projected,
    pub(crate) distance_m: f64,
}

impl Placement {
    pub(crate) fn bbox(&self) -> BBox {
        self.at.bbox()
    }
}

/// Projects a feature at `feature_xy` for a camera at `cam_xy` (local metres) on a
/// vehicle heading `heading_deg`. `None` unless it is in front, within range, big
/// enough to see (2 px each way) and entirely inside the image.
pub(crate) fn place(
    camera: &Camera,
    cam_xy: [f64; 2],
    heading_deg: f64,
    feature_xy: [f64; 2],
    class: FeatureClass,
) -> Option<Projected> {
    let shape = shape(class)?;
    let distance = dist(cam_xy, feature_xy);
    if distance > MAX_RANGE_M {
        return None;
    }
    let (de, dn) = (feature_xy[0] - cam_xy[0], feature_xy[1] - cam_xy[1]);
    let yaw = (heading_deg + camera.mount_yaw_deg).to_radians();
    let forward = de * yaw.sin() + dn * yaw.cos();
    let right = de * yaw.cos() - dn * yaw.sin();
    if forward < MIN_FORWARD_M {
        return None;
    }
    let (cx, cy) = camera.project(forward, right, shape.centre_height_m - CAMERA_HEIGHT_M)?;
    let f = camera.focal_px();
    let (w, h) = (f * shape.width_m / forward, f * shape.height_m / forward);
    let (x0, y0) = (cx - w / 2.0, cy - h / 2.0);
    let inside = x0 >= 0.0
        && y0 >= 0.0
        && x0 + w <= f64::from(camera.width)
        && y0 + h <= f64::from(camera.height);
    if w < 2.0 || h < 2.0 || !inside {
        return None;
    }
    let pole = if shape.pole {
        let (_, ground_y) = camera.project(forward, right, -CAMERA_HEIGHT_M)?;
        let pole_w = (f * POLE_WIDTH_M / forward).max(1.0);
        Some([cx as f32, pole_w as f32, cy as f32, ground_y as f32])
    } else {
        None
    };
    Some(Projected {
        x: x0,
        y: y0,
        w,
        h,
        distance_m: distance,
        pole,
    })
}

/// Everything drawn in a frame, far to near (the drawing order).
pub(crate) fn visible(
    net: &RoadNetwork,
    camera: &Camera,
    cam_xy: [f64; 2],
    heading_deg: f64,
) -> Vec<Placement> {
    let features = net.features();
    let mut out: Vec<Placement> = net
        .feature_index
        .near(cam_xy, MAX_RANGE_M)
        .into_iter()
        .filter_map(|i| {
            let f = &features[i];
            let at = place(camera, cam_xy, heading_deg, net.feature_xy[i], f.class)?;
            Some(Placement {
                feature: i,
                class: f.class,
                value: f.value,
                distance_m: at.distance_m,
                at,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.distance_m
            .total_cmp(&a.distance_m)
            .then(a.feature.cmp(&b.feature))
    });
    out
}

/// How the background looks in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Look {
    /// Index of the background photo.
    pub(crate) background: usize,
    /// Top-left pixel of the frame inside the plate.
    pub(crate) pan: (u32, u32),
    /// Exposure change in 8-bit levels, added to every channel.
    pub(crate) brightness: f32,
}

/// Per-thread drawing state, reused from frame to frame.
#[derive(Debug)]
pub(crate) struct FrameRenderer<'a> {
    assets: &'a Assets,
    jpeg_quality: u8,
    /// The frame being drawn, opaque RGBA.
    canvas: Pixmap,
    /// The finished frame as the JPEG encoder takes it.
    rgb: RgbImage,
}

impl<'a> FrameRenderer<'a> {
    pub(crate) fn new(
        assets: &'a Assets,
        camera: &Camera,
        jpeg_quality: u8,
    ) -> Result<Self, SimError> {
        let canvas = Pixmap::new(camera.width, camera.height)
            .ok_or_else(|| SimError::Render("frame too large".into()))?;
        Ok(Self {
            assets,
            jpeg_quality,
            canvas,
            rgb: RgbImage::new(camera.width, camera.height),
        })
    }

    /// Draws `placements` (far to near) over `plate` panned by `look` and returns the
    /// JPEG.
    pub(crate) fn render(
        &mut self,
        plate: &Pixmap,
        look: &Look,
        placements: &[Placement],
    ) -> Result<Vec<u8>, SimError> {
        let (w, h) = (self.canvas.width(), self.canvas.height());
        let (pan_x, pan_y) = look.pan;
        if pan_x + w > plate.width() || pan_y + h > plate.height() {
            return Err(SimError::Render(format!(
                "a {w}x{h} frame at {:?} does not fit in a {}x{} plate",
                look.pan,
                plate.width(),
                plate.height()
            )));
        }
        // The panned crop of the plate, row by row: tiny-skia has no plain blit, and
        // drawing the plate as a pattern (`draw_pixmap`) took ~10 ms per 1280x720 frame.
        let (plate_row, frame_row) = (plate.width() as usize * 4, w as usize * 4);
        let first = pan_y as usize * plate_row + pan_x as usize * 4;
        for (y, dst) in self
            .canvas
            .data_mut()
            .chunks_exact_mut(frame_row)
            .enumerate()
        {
            let src = first + y * plate_row;
            dst.copy_from_slice(&plate.data()[src..src + frame_row]);
        }

        let mut pole_paint = Paint::default();
        pole_paint.set_color(Color::from_rgba8(126, 128, 131, 255));
        // Whole-pixel poles without anti-aliasing: tiny-skia's anti-aliased rectangle
        // filler trips a debug assertion on some sub-pixel widths.
        pole_paint.anti_alias = false;
        for p in placements {
            if let Some([px, pw, top, bottom]) = p.at.pole {
                let (left, width) = ((px - pw / 2.0).round(), pw.round().max(1.0));
                if let Some(r) = Rect::from_xywh(left, top.round(), width, (bottom - top).round()) {
                    self.canvas
                        .fill_rect(r, &pole_paint, Transform::identity(), None);
                }
            }
            let Some(sprite) = self.assets.sprite(p.class, p.value)? else {
                continue;
            };
            draw_sprite(&mut self.canvas, &sprite, &p.at)?;
        }

        // Every canvas pixel is opaque, so premultiplied RGBA is plain RGBA: drop alpha
        // and shift the exposure on the way to RGB.
        let shifted: [u8; 256] =
            std::array::from_fn(|c| (c as f32 + look.brightness).round().clamp(0.0, 255.0) as u8);
        for (rgb, rgba) in self
            .rgb
            .chunks_exact_mut(3)
            .zip(self.canvas.data().chunks_exact(4))
        {
            for (out, &c) in rgb.iter_mut().zip(rgba) {
                *out = shifted[usize::from(c)];
            }
        }

        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, self.jpeg_quality)
            .encode_image(&self.rgb)
            .map_err(|e| SimError::Render(format!("cannot encode JPEG: {e}")))?;
        Ok(jpeg)
    }
}

/// Composites `sprite` onto `canvas` covering exactly the float rectangle of `at`.
///
/// The sprite is first scaled (area-averaged, so without aliasing) to the whole
/// pixels just covering the rectangle and framed by one transparent pixel; a bilinear
/// pattern then maps that onto the rectangle with a float transform. The frame makes
/// the sign's edges fade over the last partial pixel instead of being cut at whole
/// pixels.
fn draw_sprite(
    canvas: &mut Pixmap,
    sprite: &image::DynamicImage,
    at: &Projected,
) -> Result<(), SimError> {
    let (sw, sh) = (at.w.ceil().max(1.0) as u32, at.h.ceil().max(1.0) as u32);
    let scaled = scaled_sprite(sprite, sw, sh)?;
    let mut framed = Pixmap::new(sw + 2, sh + 2)
        .ok_or_else(|| SimError::Render(format!("bad sprite size {sw}x{sh}")))?;
    framed.draw_pixmap(
        1,
        1,
        scaled.as_ref(),
        &PixmapPaint::default(),
        Transform::identity(),
        None,
    );
    let (sx, sy) = (at.w / f64::from(sw), at.h / f64::from(sh));
    // Framed pixel (1, 1) lands on the rectangle's top-left corner.
    let transform = Transform::from_row(
        sx as f32,
        0.0,
        0.0,
        sy as f32,
        (at.x - sx) as f32,
        (at.y - sy) as f32,
    );
    let mut paint = Paint {
        shader: Pattern::new(
            framed.as_ref(),
            SpreadMode::Pad,
            FilterQuality::Bilinear,
            1.0,
            Transform::identity(),
        ),
        ..Paint::default()
    };
    // The outermost pixels are transparent, so hard rectangle edges show nothing.
    paint.anti_alias = false;
    let rect = Rect::from_xywh(0.0, 0.0, (sw + 2) as f32, (sh + 2) as f32)
        .ok_or_else(|| SimError::Render(format!("bad sprite size {sw}x{sh}")))?;
    canvas.fill_rect(rect, &paint, transform, None);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::assets::PlateGeometry;

    fn camera() -> Camera {
        crate::SimConfig::default().drive.camera
    }

    #[test]
    fn a_stop_sign_straight_ahead_at_15_m_is_as_wide_as_the_pinhole_model_says() {
        let cam = camera();
        // Heading east; the sign 15 m ahead on the optical axis.
        let at = place(&cam, [0.0, 0.0], 90.0, [15.0, 0.0], FeatureClass::StopSign).unwrap();
        let expected = 0.75 * cam.focal_px() / 15.0;
        assert!((at.w - expected).abs() < 1e-9, "{} vs {expected}", at.w);
        assert_eq!(at.w, at.h);
        assert!((at.distance_m - 15.0).abs() < 1e-9);
        // Centred horizontally, and above the horizon by (2.2 - 1.4) m, to the
        // sub-pixel.
        let cx = at.x + at.w / 2.0;
        assert!((cx - 640.0).abs() < 1e-6, "{cx}");
        let cy = at.y + at.h / 2.0;
        let expected_cy = 360.0 - cam.focal_px() * 0.8 / 15.0;
        assert!((cy - expected_cy).abs() < 1e-6, "{cy} vs {expected_cy}");
    }

    #[test]
    fn every_rendered_class_has_its_typical_size_and_only_hydrants_lack_a_pole() {
        let cam = camera();
        for class in crate::RENDERED_CLASSES {
            let at = place(&cam, [0.0, 0.0], 0.0, [3.0, 20.0], class).unwrap();
            let f = cam.focal_px() / 20.0;
            assert!((at.w - class.typical_width_m() * f).abs() < 1e-9, "{class}");
            assert!(
                (at.h - class.typical_height_m() * f).abs() < 1e-9,
                "{class}"
            );
            assert_eq!(
                at.pole.is_some(),
                class != FeatureClass::FireHydrant,
                "{class}"
            );
        }
        assert!(shape(FeatureClass::ParkingMeter).is_none());
        // A hydrant stands on the ground: its box ends where the road surface is.
        let hydrant = place(
            &cam,
            [0.0, 0.0],
            0.0,
            [3.0, 20.0],
            FeatureClass::FireHydrant,
        );
        let (_, ground) = cam.project(20.0, 3.0, -CAMERA_HEIGHT_M).unwrap();
        let h = hydrant.unwrap();
        assert!((h.y + h.h - ground).abs() < 1e-6);
    }

    #[test]
    fn a_traffic_light_is_taller_than_wide_and_higher_than_a_stop_sign() {
        let cam = camera();
        let tl = place(
            &cam,
            [0.0, 0.0],
            0.0,
            [2.0, 20.0],
            FeatureClass::TrafficLight,
        )
        .unwrap();
        let stop = place(&cam, [0.0, 0.0], 0.0, [2.0, 20.0], FeatureClass::StopSign).unwrap();
        assert!(tl.h > 2.0 * tl.w, "{tl:?}");
        assert!(tl.y + tl.h / 2.0 < stop.y + stop.h / 2.0);
        // Right of the road means right of the image centre.
        assert!(tl.x > 640.0);
    }

    #[test]
    fn features_behind_too_far_or_outside_the_image_are_not_drawn() {
        let cam = camera();
        let at = |p: [f64; 2]| place(&cam, [0.0, 0.0], 0.0, p, FeatureClass::StopSign);
        assert!(at([0.0, -10.0]).is_none(), "behind");
        assert!(at([0.0, 61.0]).is_none(), "beyond 60 m");
        assert!(at([30.0, 10.0]).is_none(), "outside the field of view");
        assert!(at([0.0, 1.5]).is_none(), "too close to fit");
        assert!(at([4.0, 59.0]).is_some());
        // A camera looking right sees what is right of the car.
        let side = Camera {
            mount_yaw_deg: 90.0,
            ..cam
        };
        assert!(place(&side, [0.0, 0.0], 0.0, [15.0, 0.0], FeatureClass::StopSign).is_some());
    }

    /// A street running east with one `class` feature 100 m in, seen from `back` m
    /// before it: the frame and the feature's placement.
    fn one_feature_frame(class: FeatureClass, back: f64) -> (image::RgbImage, Placement) {
        use crate::assets::tests::assets;
        use crate::osm::tests::straight_street;

        let net = RoadNetwork::build(straight_street(200.0, &[(class, 100.0, 0.0)])).unwrap();
        let start = net
            .frame
            .to_local(streetcomb_core::LatLon::new(60.17, 24.94).unwrap());
        let cam = camera();
        let placements = visible(&net, &cam, [start.0 + 100.0 - back, start.1], 90.0);
        assert_eq!(placements.len(), 1);
        let plate = assets().plate(0, &PlateGeometry::for_camera(&cam)).unwrap();
        let mut r = FrameRenderer::new(assets(), &cam, 95).unwrap();
        let look = Look {
            background: 0,
            pan: (48, 16),
            brightness: 0.0,
        };
        let jpeg = r.render(&plate, &look, &placements).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        (img, placements.into_iter().next().unwrap())
    }

    #[test]
    fn every_class_is_drawn_with_its_own_sprite_inside_its_box() {
        // (class, the colour that must dominate its box): red signs, the blue crossing
        // sign, the dark signal housing.
        type Colour = fn([i32; 3]) -> bool;
        let red: Colour = |p| p[0] > p[1] + 60 && p[0] > p[2] + 60;
        let blue: Colour = |p| p[2] > p[0] + 50 && p[2] > p[1] + 20;
        let dark: Colour = |p| p.iter().all(|&c| c < 70);
        let cases = [
            (FeatureClass::StopSign, red, 0.5),
            (FeatureClass::NoEntry, red, 0.45),
            (FeatureClass::SpeedLimit, red, 0.25),
            (FeatureClass::GiveWay, red, 0.25),
            (FeatureClass::NoLeftTurn, red, 0.25),
            (FeatureClass::NoRightTurn, red, 0.25),
            (FeatureClass::NoUTurn, red, 0.25),
            (FeatureClass::FireHydrant, red, 0.4),
            (FeatureClass::PedestrianCrossing, blue, 0.3),
            (FeatureClass::TrafficLight, dark, 0.3),
        ];
        for (class, colour, share) in cases {
            let (img, p) = one_feature_frame(class, 12.0);
            let b = p.bbox();
            let (mut hit, mut all) = (0, 0);
            for y in b.y0.ceil() as u32..b.y1.floor() as u32 {
                for x in b.x0.ceil() as u32..b.x1.floor() as u32 {
                    all += 1;
                    if colour(img.get_pixel(x, y).0.map(i32::from)) {
                        hit += 1;
                    }
                }
            }
            assert!(
                f64::from(hit) > share * f64::from(all),
                "{class}: {hit} of {all} pixels in {b:?}"
            );
        }
    }

    #[test]
    fn sprites_cover_their_float_box_to_a_fraction_of_a_pixel() {
        use crate::assets::tests::assets;

        // A no-entry disc (opaque everywhere inside its circle) drawn onto a
        // transparent canvas: its alpha is its coverage.
        let disc = assets()
            .sprite(FeatureClass::NoEntry, None)
            .unwrap()
            .unwrap();
        let coverage = |x: f64, y: f64, d: f64| {
            let mut canvas = Pixmap::new(48, 48).unwrap();
            let at = Projected {
                x,
                y,
                w: d,
                h: d,
                distance_m: 30.0,
                pole: None,
            };
            draw_sprite(&mut canvas, &disc, &at).unwrap();
            let mut area = 0.0;
            let (mut mx, mut my) = (0.0, 0.0);
            for (i, p) in canvas.pixels().iter().enumerate() {
                let a = f64::from(p.alpha()) / 255.0;
                let (px, py) = ((i % 48) as f64 + 0.5, (i / 48) as f64 + 0.5);
                area += a;
                mx += a * px;
                my += a * py;
            }
            (area, mx / area, my / area)
        };
        for (x, y, d) in [(10.3, 12.6, 19.45), (10.8, 12.6, 19.45), (7.0, 5.25, 30.2)] {
            let (area, cx, cy) = coverage(x, y, d);
            let r = d / 2.0;
            let disc_area = std::f64::consts::PI * r * r;
            assert!(
                (area - disc_area).abs() < 0.03 * disc_area,
                "{d} px disc covers {area} px, not {disc_area}"
            );
            assert!((cx - (x + r)).abs() < 0.1, "centre x {cx} vs {}", x + r);
            assert!((cy - (y + r)).abs() < 0.1, "centre y {cy} vs {}", y + r);
        }
    }

    #[test]
    fn speed_limit_signs_are_drawn_with_their_own_figure() {
        let (img, p) = one_feature_frame(FeatureClass::SpeedLimit, 8.0);
        assert_eq!(p.value, Some(50));
        // Black figure pixels in the middle of the sign.
        let b = p.bbox();
        let (cx, cy) = (b.center_x() as u32, ((b.y0 + b.y1) / 2.0) as u32);
        let r = (b.width() / 5.0) as u32;
        let dark = (cx - r..cx + r)
            .flat_map(|x| (cy - r..cy + r).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 90))
            .count();
        assert!(dark > (r * r) as usize / 2, "{dark} dark pixels");
    }

    #[test]
    fn a_rendered_stop_sign_is_mostly_red_inside_its_box() {
        use crate::assets::tests::assets;
        use crate::osm::tests::straight_street;

        // A street running east with a stop sign 100 m in; the camera 15 m before it.
        let net = RoadNetwork::build(straight_street(
            200.0,
            &[(FeatureClass::StopSign, 100.0, 0.0)],
        ))
        .unwrap();
        let start = net
            .frame
            .to_local(streetcomb_core::LatLon::new(60.17, 24.94).unwrap());
        let cam_xy = [start.0 + 85.0, start.1];
        let cam = camera();
        let placements = visible(&net, &cam, cam_xy, 90.0);
        assert_eq!(placements.len(), 1);
        let plate = assets().plate(0, &PlateGeometry::for_camera(&cam)).unwrap();
        let mut r = FrameRenderer::new(assets(), &cam, 88).unwrap();
        let look = Look {
            background: 0,
            pan: (48, 16),
            brightness: 5.0,
        };
        let jpeg = r.render(&plate, &look, &placements).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        if let Ok(path) = std::env::var("SIM_SAVE_FRAME") {
            img.save(path).unwrap();
        }
        assert_eq!(img.dimensions(), (1280, 720));
        let b = placements[0].bbox();
        assert!((b.width() - (0.75 * cam.focal_px() / 15.0) as f32).abs() < 1e-3);
        // Red-dominant pixels; the rest are the white letters and border and the
        // corners outside the octagon.
        let (mut red, mut all) = (0, 0);
        for y in b.y0.ceil() as u32..b.y1.floor() as u32 {
            for x in b.x0.ceil() as u32..b.x1.floor() as u32 {
                let p = img.get_pixel(x, y);
                all += 1;
                let [r, g, bl] = p.0.map(i32::from);
                if r > g + 60 && r > bl + 60 {
                    red += 1;
                }
            }
        }
        assert!(red * 2 > all, "{red} of {all} pixels are red in {b:?}");
        // The pole below the sign is grey.
        let pole = img.get_pixel(b.center_x() as u32, b.y1 as u32 + 20);
        assert!(
            pole.0.iter().all(|&c| (90..170).contains(&c)),
            "pole pixel {pole:?}"
        );
    }

    #[test]
    fn a_frame_without_features_is_the_panned_plate_with_its_exposure_shifted() {
        use crate::assets::tests::assets;

        // Not a multiple of the 8- or 16-pixel JPEG blocks either way.
        let cam = Camera {
            width: 100,
            height: 50,
            ..camera()
        };
        let plate = assets().plate(0, &PlateGeometry::for_camera(&cam)).unwrap();
        let mut r = FrameRenderer::new(assets(), &cam, 90).unwrap();
        let mut frame = |pan, brightness| {
            let look = Look {
                background: 0,
                pan,
                brightness,
            };
            let jpeg = r.render(&plate, &look, &[]).unwrap();
            image::load_from_memory(&jpeg).unwrap().to_rgb8()
        };
        let plain = frame((7, 3), 0.0);
        let bright = frame((7, 3), 12.0);
        assert_eq!(plain.dimensions(), (100, 50));
        // Mean absolute error against the plate's pixels at `pan` + (dx, dy).
        let error = |img: &RgbImage, dx: u32, dy: u32| {
            let mut sum = 0.0;
            for (x, y, p) in img.enumerate_pixels() {
                let q = plate.pixel(x + dx, y + dy).unwrap();
                for (a, b) in p.0.iter().zip([q.red(), q.green(), q.blue()]) {
                    sum += (f64::from(*a) - f64::from(b)).abs();
                }
            }
            sum / f64::from(img.width() * img.height() * 3)
        };
        let right = error(&plain, 7, 3);
        assert!(right < 6.0, "{right}");
        assert!(error(&plain, 0, 0) > 2.0 * right, "the pan moves the view");
        // Every channel brightens by the shift (away from clipped whites).
        let (mut diff, mut n) = (0.0, 0);
        for (p, q) in plain.pixels().zip(bright.pixels()) {
            for (a, b) in p.0.iter().zip(q.0) {
                if *a < 230 {
                    diff += f64::from(b) - f64::from(*a);
                    n += 1;
                }
            }
        }
        let mean = diff / f64::from(n);
        assert!((10.0..=14.0).contains(&mean), "{mean}");
        // A pan beyond the margin is an error, not a panic.
        let look = Look {
            background: 0,
            pan: (11, 0),
            brightness: 0.0,
        };
        assert!(r.render(&plate, &look, &[]).is_err());
    }

    #[test]
    #[ignore = "a timing measurement: cargo test -p streetcomb-sim -- --ignored --nocapture"]
    fn rendering_and_encoding_a_frame_takes_well_under_100_ms() {
        use crate::assets::tests::assets;
        use crate::osm::tests::straight_street;
        use std::time::Instant;

        // A near stop sign (a large sprite) and two traffic lights.
        let net = RoadNetwork::build(straight_street(
            200.0,
            &[
                (FeatureClass::StopSign, 100.0, 0.0),
                (FeatureClass::TrafficLight, 120.0, 0.0),
                (FeatureClass::TrafficLight, 130.0, 8.0),
            ],
        ))
        .unwrap();
        let start = net
            .frame
            .to_local(streetcomb_core::LatLon::new(60.17, 24.94).unwrap());
        let cam = camera();
        let plate = assets().plate(0, &PlateGeometry::for_camera(&cam)).unwrap();
        let mut r = FrameRenderer::new(assets(), &cam, 88).unwrap();
        let n = 40;
        let t = Instant::now();
        let mut bytes = 0;
        for k in 0..n {
            let cam_xy = [start.0 + 60.0 + k as f64, start.1];
            let placements = visible(&net, &cam, cam_xy, 90.0);
            assert!(!placements.is_empty());
            let look = Look {
                background: 0,
                pan: (k as u32 * 3 % 128, k as u32 % 64),
                brightness: (k as f32).sin() * 8.0,
            };
            bytes += r.render(&plate, &look, &placements).unwrap().len();
        }
        let per_frame = t.elapsed() / n as u32;
        eprintln!(
            "{per_frame:?} per 1280x720 frame, {} KiB average",
            bytes / n / 1024
        );
        assert!(per_frame.as_millis() < 100, "{per_frame:?}");
    }
}
