//! Drawing one frame: which features the dashcam sees (pinhole projection at their
//! physical size), poles and sprites composited far-to-near over the panned
//! background plate, and the JPEG.

use std::borrow::Cow;

use resvg::tiny_skia::{Color, Paint, Pixmap, PixmapPaint, Rect, Transform};
use streetcomb_core::{BBox, Camera, FeatureClass};

use crate::SimError;
use crate::assets::{Assets, Plate, PlateGeometry, scaled_sprite};
use crate::grid::dist;
use crate::jpeg::{EncodedPlate, FrameSource, MCU, Rgba, Tables, encode_frame};
use crate::osm::RoadNetwork;

/// Height of the dashcam above the road, metres.
pub const CAMERA_HEIGHT_M: f64 = 1.4;
/// Features further away than this are not drawn, metres.
pub const MAX_RANGE_M: f64 = 60.0;
/// Features closer than this in front of the camera are not drawn (they would fill
/// the frame), metres.
const MIN_FORWARD_M: f64 = 1.0;
const POLE_WIDTH_M: f64 = 0.07;

/// The physical size of a feature's face and how high its centre is, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    pub(crate) width_m: f64,
    pub(crate) height_m: f64,
    pub(crate) centre_height_m: f64,
}

/// Shapes of the classes the simulator renders (`None` for the others).
pub(crate) fn shape(class: FeatureClass) -> Option<Shape> {
    match class {
        // A standard 750 mm octagon on a pole, centre 2.1 m up.
        FeatureClass::StopSign => Some(Shape {
            width_m: 0.75,
            height_m: 0.75,
            centre_height_m: 2.1,
        }),
        // A three-lamp signal head on a pole, centre 3 m up.
        FeatureClass::TrafficLight => Some(Shape {
            width_m: 0.35,
            height_m: 0.95,
            centre_height_m: 3.0,
        }),
        FeatureClass::FireHydrant | FeatureClass::ParkingMeter => None,
    }
}

/// Where a feature lands in a frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placement {
    /// Index into [`RoadNetwork::features`].
    pub(crate) feature: usize,
    pub(crate) class: FeatureClass,
    /// Sprite rectangle in whole pixels: left, top, width, height.
    pub(crate) rect: (i32, i32, u32, u32),
    pub(crate) distance_m: f64,
    /// Pole: centre x, width, top y, bottom y (pixels).
    pub(crate) pole: [f32; 4],
}

impl Placement {
    pub(crate) fn bbox(&self) -> BBox {
        let (x, y, w, h) = self.rect;
        BBox {
            x0: x as f32,
            y0: y as f32,
            x1: (x + w as i32) as f32,
            y1: (y + h as i32) as f32,
        }
    }
}

/// Projects a feature at `feature_xy` for a camera at `cam_xy` (local metres) on a
/// vehicle heading `heading_deg`. `None` unless it is in front, within range, big
/// enough to see and entirely inside the image.
pub(crate) fn place(
    camera: &Camera,
    cam_xy: [f64; 2],
    heading_deg: f64,
    feature_xy: [f64; 2],
    class: FeatureClass,
) -> Option<(i32, i32, u32, u32, f64, [f32; 4])> {
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
    let (_, ground_y) = camera.project(forward, right, -CAMERA_HEIGHT_M)?;
    let f = camera.focal_px();
    let (w, h) = (f * shape.width_m / forward, f * shape.height_m / forward);
    let (x0, y0) = ((cx - w / 2.0).round(), (cy - h / 2.0).round());
    let (wi, hi) = (w.round(), h.round());
    let inside = x0 >= 0.0
        && y0 >= 0.0
        && x0 + wi <= f64::from(camera.width)
        && y0 + hi <= f64::from(camera.height);
    if wi < 2.0 || hi < 2.0 || !inside {
        return None;
    }
    let pole_w = (f * POLE_WIDTH_M / forward).max(1.0);
    let pole = [cx as f32, pole_w as f32, cy as f32, ground_y as f32];
    Some((x0 as i32, y0 as i32, wi as u32, hi as u32, distance, pole))
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
        .feature_grid
        .near(cam_xy, MAX_RANGE_M)
        .into_iter()
        .filter_map(|i| {
            let i = i as usize;
            let class = features[i].class;
            let (x, y, w, h, distance_m, pole) =
                place(camera, cam_xy, heading_deg, net.feature_xy[i], class)?;
            Some(Placement {
                feature: i,
                class,
                rect: (x, y, w, h),
                distance_m,
                pole,
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

/// A background plate with its pre-encoded JPEG blocks.
#[derive(Debug)]
pub(crate) struct PreparedPlate<'a> {
    pub(crate) plate: Cow<'a, Plate>,
    pub(crate) encoded: EncodedPlate,
}

impl<'a> PreparedPlate<'a> {
    pub(crate) fn new(
        assets: &'a Assets,
        index: usize,
        geometry: &PlateGeometry,
        tables: &Tables,
    ) -> Result<Self, SimError> {
        let plate = assets.plate(index, geometry)?;
        let encoded = EncodedPlate::new(
            Rgba {
                data: &plate.rgba,
                width: plate.width as usize,
            },
            plate.height as usize,
            tables,
        );
        Ok(Self { plate, encoded })
    }
}

/// How the background looks in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Look {
    /// Index of the background photo.
    pub(crate) background: usize,
    /// Top-left MCU of the frame inside the plate.
    pub(crate) pan: (usize, usize),
    /// Exposure change in 8-bit levels.
    pub(crate) luma_shift: f32,
}

/// Per-thread drawing state, reused from frame to frame.
#[derive(Debug)]
pub(crate) struct FrameRenderer<'a> {
    assets: &'a Assets,
    tables: &'a Tables,
    camera: Camera,
    geometry: PlateGeometry,
    canvas: Pixmap,
    dirty: Vec<bool>,
}

impl<'a> FrameRenderer<'a> {
    pub(crate) fn new(
        assets: &'a Assets,
        tables: &'a Tables,
        camera: Camera,
        geometry: PlateGeometry,
    ) -> Result<Self, SimError> {
        let (mx, my) = geometry.frame_mcus;
        let canvas = Pixmap::new((mx * MCU) as u32, (my * MCU) as u32)
            .ok_or_else(|| SimError::Render("frame too large".into()))?;
        Ok(Self {
            assets,
            tables,
            camera,
            geometry,
            canvas,
            dirty: vec![false; mx * my],
        })
    }

    /// Draws `placements` (far to near) over `plate` and returns the JPEG. Only the
    /// MCUs that something is drawn on are composed and re-encoded.
    pub(crate) fn render(
        &mut self,
        plate: &PreparedPlate<'_>,
        look: &Look,
        placements: &[Placement],
    ) -> Result<Vec<u8>, SimError> {
        let (mcus_x, mcus_y) = self.geometry.frame_mcus;
        let (canvas_w, canvas_h) = ((mcus_x * MCU) as f32, (mcus_y * MCU) as f32);
        self.dirty.fill(false);
        let mut mark = |x0: f32, y0: f32, x1: f32, y1: f32| {
            // One pixel of slack for anti-aliased edges.
            let (x0, y0) = ((x0 - 1.0).max(0.0), (y0 - 1.0).max(0.0));
            let (x1, y1) = (
                (x1 + 1.0).min(canvas_w - 1.0),
                (y1 + 1.0).min(canvas_h - 1.0),
            );
            if x0 > x1 || y0 > y1 {
                return;
            }
            for my in (y0 as usize / MCU)..=(y1 as usize / MCU) {
                for mx in (x0 as usize / MCU)..=(x1 as usize / MCU) {
                    self.dirty[my * mcus_x + mx] = true;
                }
            }
        };
        for p in placements {
            let b = p.bbox();
            mark(b.x0, b.y0, b.x1, b.y1);
            let [px, pw, top, bottom] = p.pole;
            mark(px - pw / 2.0, top, px + pw / 2.0, bottom);
        }

        // Background pixels of the dirty MCUs only: the rest comes from the cache.
        let (pan_x, pan_y) = (look.pan.0 * MCU, look.pan.1 * MCU);
        let plate_w = plate.plate.width as usize;
        let row_bytes = MCU * 4;
        let canvas_px = mcus_x * MCU;
        let data = self.canvas.data_mut();
        for my in 0..mcus_y {
            for mx in 0..mcus_x {
                if !self.dirty[my * mcus_x + mx] {
                    continue;
                }
                for y in my * MCU..(my + 1) * MCU {
                    let src = ((pan_y + y) * plate_w + pan_x + mx * MCU) * 4;
                    let dst = (y * canvas_px + mx * MCU) * 4;
                    data[dst..dst + row_bytes]
                        .copy_from_slice(&plate.plate.rgba[src..src + row_bytes]);
                }
            }
        }

        let mut pole_paint = Paint::default();
        pole_paint.set_color(Color::from_rgba8(126, 128, 131, 255));
        // Whole-pixel poles without anti-aliasing: tiny-skia's anti-aliased rectangle
        // filler trips a debug assertion on some sub-pixel widths.
        pole_paint.anti_alias = false;
        for p in placements {
            let [px, pw, top, bottom] = p.pole;
            let (left, width) = ((px - pw / 2.0).round(), pw.round().max(1.0));
            if let Some(r) = Rect::from_xywh(left, top.round(), width, (bottom - top).round()) {
                self.canvas
                    .fill_rect(r, &pole_paint, Transform::identity(), None);
            }
            let sprite = match p.class {
                FeatureClass::StopSign => &self.assets.stop,
                FeatureClass::TrafficLight => &self.assets.traffic_light,
                FeatureClass::FireHydrant | FeatureClass::ParkingMeter => continue,
            };
            let (x, y, w, h) = p.rect;
            let scaled = scaled_sprite(sprite, w, h)?;
            self.canvas.draw_pixmap(
                x,
                y,
                scaled.as_ref(),
                &PixmapPaint::default(),
                Transform::identity(),
                None,
            );
        }

        encode_frame(
            self.tables,
            &FrameSource {
                width: self.camera.width,
                height: self.camera.height,
                plate: &plate.encoded,
                plate_mcu: look.pan,
                luma_shift: look.luma_shift,
                canvas: Rgba {
                    data: self.canvas.data(),
                    width: canvas_px,
                },
                dirty: &self.dirty,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn camera() -> Camera {
        crate::SimConfig::default().camera
    }

    #[test]
    fn a_stop_sign_straight_ahead_at_15_m_is_as_wide_as_the_pinhole_model_says() {
        let cam = camera();
        // Heading east; the sign 15 m ahead on the optical axis.
        let (x, y, w, h, d, _) =
            place(&cam, [0.0, 0.0], 90.0, [15.0, 0.0], FeatureClass::StopSign).unwrap();
        let expected = 0.75 * cam.focal_px() / 15.0;
        assert!(
            (f64::from(w) - expected).abs() <= 0.1 * expected,
            "{w} vs {expected}"
        );
        assert_eq!(w, h);
        assert!((d - 15.0).abs() < 1e-9);
        // Centred horizontally, and above the horizon by (2.1 - 1.4) m.
        let cx = x as f64 + f64::from(w) / 2.0;
        assert!((cx - 640.0).abs() <= 1.0, "{cx}");
        let cy = y as f64 + f64::from(h) / 2.0;
        let expected_cy = 360.0 - cam.focal_px() * 0.7 / 15.0;
        assert!((cy - expected_cy).abs() <= 1.0, "{cy} vs {expected_cy}");
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
        assert!(tl.3 > 2 * tl.2, "{tl:?}");
        assert!(tl.1 + tl.3 as i32 / 2 < stop.1 + stop.3 as i32 / 2);
        // Right of the road means right of the image centre.
        assert!(tl.0 > 640);
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
        let tables = Tables::new(88);
        let geometry = PlateGeometry::for_camera(&cam);
        let plate = PreparedPlate::new(assets(), 0, &geometry, &tables).unwrap();
        let mut r = FrameRenderer::new(assets(), &tables, cam, geometry).unwrap();
        let look = Look {
            background: 0,
            pan: (3, 1),
            luma_shift: 5.0,
        };
        let jpeg = r.render(&plate, &look, &placements).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        if let Ok(path) = std::env::var("SIM_SAVE_FRAME") {
            img.save(path).unwrap();
        }
        assert_eq!(img.dimensions(), (1280, 720));
        let b = placements[0].bbox();
        assert!((b.width() - (0.75 * cam.focal_px() / 15.0) as f32).abs() < 3.0);
        // Red-dominant pixels; the rest are the white letters and border and the
        // corners outside the octagon.
        let (mut red, mut all) = (0, 0);
        for y in b.y0 as u32..b.y1 as u32 {
            for x in b.x0 as u32..b.x1 as u32 {
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
        let tables = Tables::new(88);
        let geometry = PlateGeometry::for_camera(&cam);
        let plate = PreparedPlate::new(assets(), 0, &geometry, &tables).unwrap();
        let mut r = FrameRenderer::new(assets(), &tables, cam, geometry).unwrap();
        let n = 40;
        let t = Instant::now();
        let mut bytes = 0;
        for k in 0..n {
            let cam_xy = [start.0 + 60.0 + k as f64, start.1];
            let placements = visible(&net, &cam, cam_xy, 90.0);
            assert!(!placements.is_empty());
            let look = Look {
                background: 0,
                pan: (k % 8, k / 8 % 4),
                luma_shift: (k as f32).sin() * 8.0,
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
