//! End-to-end checks of the simulator on the Helsinki test extract.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use streetcomb_core::{FeatureClass, LatLon};
use streetcomb_sim::{
    Assets, DriveSettings, RENDERED_CLASSES, RoadNetwork, SimConfig, SimDrive,
    parse_frame_file_name, simulate, simulate_with,
};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{TESTDATA}/{path}")).unwrap()
}

fn helsinki() -> &'static RoadNetwork {
    static NET: OnceLock<RoadNetwork> = OnceLock::new();
    NET.get_or_init(|| RoadNetwork::from_bytes(&read("osm/helsinki.osm.pbf")).unwrap())
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        Assets::new(&[read("street/leuvenA.jpg"), read("street/leuvenB.jpg")]).unwrap()
    })
}

/// One 400 m drive at the default 1280x720, shared by the tests that look at pixels.
fn full_size_drive() -> (&'static SimConfig, &'static SimDrive) {
    static DRIVE: OnceLock<(SimConfig, SimDrive)> = OnceLock::new();
    let (cfg, drive) = DRIVE.get_or_init(|| {
        let cfg = SimConfig {
            contributors: 1,
            drive: DriveSettings {
                route_length_m: 400.0,
                ..DriveSettings::default()
            },
            ..SimConfig::default()
        };
        let drive = simulate(helsinki(), assets(), &cfg).unwrap().remove(0);
        (cfg, drive)
    });
    (cfg, drive)
}

/// A config whose frames are cheap to render (the tests here are about geometry).
fn small(route_length_m: f64, contributors: usize) -> SimConfig {
    SimConfig::quick(route_length_m, contributors)
}

/// (time, lat, lon) of every GPX track point.
fn gpx_points(gpx: &str) -> Vec<(DateTime<Utc>, LatLon)> {
    gpx.split("<trkpt ")
        .skip(1)
        .map(|p| {
            let attr = |name: &str| -> f64 {
                let v = p.split(&format!("{name}=\"")).nth(1).unwrap();
                v.split('"').next().unwrap().parse().unwrap()
            };
            let time = p.split("<time>").nth(1).unwrap().split("</time>").next();
            let time = DateTime::parse_from_rfc3339(time.unwrap()).unwrap();
            (
                time.with_timezone(&Utc),
                LatLon::new(attr("lat"), attr("lon")).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_helsinki_extract_has_25_to_40_km_of_road_and_maps_every_rendered_class() {
    let net = helsinki();
    let km = net.road_length_m() / 1000.0;
    assert!((25.0..=40.0).contains(&km), "{km} km of road");
    let count = |c| net.features().iter().filter(|f| f.class == c).count();
    assert!(count(FeatureClass::TrafficLight) > 100, "{net:?}");
    // Give-way signs are their own class now (the extract maps 45 of them, and a
    // single stop sign).
    assert!(count(FeatureClass::GiveWay) > 20, "{net:?}");
    assert!(count(FeatureClass::NoEntry) > 30, "{net:?}");
    assert!(count(FeatureClass::PedestrianCrossing) > 100, "{net:?}");
    assert!(count(FeatureClass::SpeedLimit) > 20, "{net:?}");
    for class in RENDERED_CLASSES {
        assert!(count(class) >= 1, "no {class}");
    }
    // Central Helsinki maps every class, so nothing is synthetic.
    let ids: HashSet<&str> = net.features().iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids.len(), net.features().len(), "feature ids are unique");
    assert!(
        net.features()
            .iter()
            .all(|f| f.id.starts_with("osm-node-") || f.id.starts_with("osm-way-"))
    );
    // Speed limits, and only they, show a plausible figure.
    for f in net.features() {
        assert_eq!(
            f.value.is_some(),
            f.class == FeatureClass::SpeedLimit,
            "{f:?}"
        );
        assert!(f.value.is_none_or(|v| (5..=120).contains(&v)), "{f:?}");
    }
    // Inside the extract's bounding box (60.164-60.179 N, 24.935-24.953 E), give or take.
    assert!(net.features().iter().all(|f| {
        (60.16..60.185).contains(&f.pos.lat()) && (24.93..24.96).contains(&f.pos.lon())
    }));
}

#[test]
fn a_simulated_drive_is_identical_for_a_seed_and_different_for_another() {
    let cfg = small(60.0, 1);
    let a = simulate(helsinki(), assets(), &cfg).unwrap();
    let b = simulate(helsinki(), assets(), &cfg).unwrap();
    let (a, b) = (&a[0], &b[0]);
    assert_eq!(a.frames, b.frames);
    assert_eq!(a.gpx, b.gpx);
    assert_eq!(a.truth, b.truth);
    let other = simulate(helsinki(), assets(), &SimConfig { seed: 8, ..cfg }).unwrap();
    assert_ne!(other[0].truth.track, a.truth.track);
    // The background sways and changes exposure, so no two frames are the same.
    let distinct: HashSet<&[u8]> = a.frames.iter().map(|f| f.jpeg.as_slice()).collect();
    assert_eq!(distinct.len(), a.frames.len());
}

#[test]
fn frames_are_speed_times_interval_apart_and_face_the_direction_of_travel() {
    let cfg = small(300.0, 1);
    let d = &simulate(helsinki(), assets(), &cfg).unwrap()[0];
    let step = cfg.drive.speed_mps * cfg.drive.frame_interval_s;
    assert_eq!(d.frames.len(), (300.0 / step) as usize + 1);
    let gaps: Vec<f64> = d
        .frames
        .windows(2)
        .map(|w| w[0].true_pos.distance_m(w[1].true_pos))
        .collect();
    // Straight-line gaps equal the step except where a frame pair spans a corner, where
    // the car's path on its side of the road is longer or shorter than the line's.
    assert!(gaps.iter().all(|g| *g <= step * 1.5), "{gaps:?}");
    let exact = gaps.iter().filter(|g| (*g - step).abs() < 0.15).count();
    assert!(exact * 10 >= gaps.len() * 8, "{gaps:?}");
    // Heading is the direction of travel: the bearing to the next frame or from the
    // previous one (unless bends lie on both sides).
    let mut aligned = 0;
    for w in d.frames.windows(3) {
        let dt = w[1].captured_at - w[0].captured_at;
        assert_eq!(dt.num_milliseconds(), 500);
        let off = |a: LatLon, b: LatLon| {
            streetcomb_core::geodesy::angle_diff_deg(a.bearing_to(b), w[1].heading_deg).abs()
        };
        if off(w[0].true_pos, w[1].true_pos) < 0.5 || off(w[1].true_pos, w[2].true_pos) < 0.5 {
            aligned += 1;
        }
    }
    assert!(
        aligned * 10 >= (d.frames.len() - 2) * 8,
        "{aligned} of {}",
        d.frames.len()
    );
    let truth: Vec<_> = d
        .frames
        .iter()
        .map(|f| (f.captured_at, f.true_pos))
        .collect();
    assert_eq!(d.truth.track, truth);
}

#[test]
fn the_noisy_gpx_is_off_the_truth_by_about_sigma() {
    let cfg = small(600.0, 1);
    let d = &simulate(helsinki(), assets(), &cfg).unwrap()[0];
    let fixes = gpx_points(&d.gpx);
    // One fix a second from the first frame to the last.
    assert_eq!(fixes.len(), 76);
    assert_eq!(fixes[0].0, d.frames[0].captured_at);
    assert_eq!(
        fixes.last().unwrap().0,
        d.frames.last().unwrap().captured_at
    );
    let errors: Vec<f64> = fixes
        .iter()
        .map(|(t, p)| {
            let (_, truth) = d.truth.track.iter().find(|(tt, _)| tt == t).unwrap();
            p.distance_m(*truth)
        })
        .collect();
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let sigma = cfg.drive.gps_sigma_m;
    assert!(
        (0.3 * sigma..=3.0 * sigma).contains(&mean),
        "mean GPS error {mean} m"
    );
    assert!(d.gpx.contains("<hdop>"));
}

#[test]
fn frame_file_names_parse_back_to_their_capture_times() {
    let d = &simulate(helsinki(), assets(), &small(40.0, 1)).unwrap()[0];
    assert_eq!(d.frames[1].file_name, "20261116T080000.500Z.jpg");
    for f in &d.frames {
        assert_eq!(parse_frame_file_name(&f.file_name), Some(f.captured_at));
    }
}

#[test]
fn contributors_overlap_on_some_streets_but_drive_different_routes() {
    let mut progress = 0;
    let drives: Vec<SimDrive> =
        simulate_with(helsinki(), assets(), &small(1500.0, 3), &mut |done, _| {
            progress = done
        })
        .unwrap();
    assert_eq!(
        progress,
        drives.iter().map(|d| d.frames.len()).sum::<usize>()
    );
    let near = |a: &SimDrive, b: &SimDrive| {
        a.truth
            .track
            .iter()
            .filter(|(_, p)| b.truth.track.iter().any(|(_, q)| p.distance_m(*q) < 10.0))
            .count()
    };
    let mut pairs_sharing = 0;
    for i in 0..drives.len() {
        for j in i + 1..drives.len() {
            let shared = near(&drives[i], &drives[j]);
            assert!(
                shared < drives[i].frames.len(),
                "drives {i} and {j} are the same"
            );
            if shared >= 10 {
                pairs_sharing += 1;
            }
        }
    }
    assert!(
        pairs_sharing >= 2,
        "only {pairs_sharing} pairs share streets"
    );
}

#[test]
fn rendered_frames_are_1280x720_jpegs_with_the_signs_where_the_truth_says() {
    let (cfg, d) = full_size_drive();
    let seen: HashSet<&str> = d
        .frames
        .iter()
        .flat_map(|f| f.visible.iter().map(|v| v.feature_id.as_str()))
        .collect();
    let truth: HashSet<&str> = d.truth.features.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(seen, truth);
    // The nearest traffic light in the drive: a dark housing with bright lamps.
    let (frame, light) = d
        .frames
        .iter()
        .flat_map(|f| f.visible.iter().map(move |v| (f, v)))
        .filter(|(_, v)| v.class == FeatureClass::TrafficLight)
        .min_by(|a, b| a.1.distance_m.total_cmp(&b.1.distance_m))
        .expect("the drive passes a traffic light");
    assert!(light.distance_m <= 60.0);
    let img = image::load_from_memory(&frame.jpeg).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1280, 720));
    let b = light.bbox;
    let expected_w = 0.35 * cfg.drive.camera.focal_px() / light.distance_m;
    // Width over distance: at least as wide as straight ahead at that distance, and
    // at most as wide as at the edge of the view, where the depth along the optical
    // axis is distance x cos(hfov / 2).
    let edge = (cfg.drive.camera.hfov_deg / 2.0).to_radians().cos();
    let w = f64::from(b.width());
    assert!(w >= expected_w * 0.999 && w <= expected_w / edge, "{b:?}");
    let (mut dark, mut all) = (0, 0);
    for y in b.y0.ceil() as u32..b.y1.floor() as u32 {
        for x in b.x0.ceil() as u32..b.x1.floor() as u32 {
            let p = img.get_pixel(x, y).0;
            all += 1;
            if p.iter().all(|&c| c < 70) {
                dark += 1;
            }
        }
    }
    assert!(
        dark * 5 >= all,
        "{dark} of {all} pixels of the housing are dark"
    );
}

#[test]
fn red_signs_in_a_helsinki_drive_are_red_where_the_truth_puts_them() {
    let (_, d) = full_size_drive();
    // The nearest no-entry or stop sign: both are red discs or octagons.
    let (frame, sign) = d
        .frames
        .iter()
        .flat_map(|f| f.visible.iter().map(move |v| (f, v)))
        .filter(|(_, v)| matches!(v.class, FeatureClass::StopSign | FeatureClass::NoEntry))
        .min_by(|a, b| a.1.distance_m.total_cmp(&b.1.distance_m))
        .expect("the drive passes a no-entry or stop sign");
    let img = image::load_from_memory(&frame.jpeg).unwrap().to_rgb8();
    let b = sign.bbox;
    let (mut red, mut all) = (0, 0);
    for y in b.y0.ceil() as u32..b.y1.floor() as u32 {
        for x in b.x0.ceil() as u32..b.x1.floor() as u32 {
            let [r, g, bl] = img.get_pixel(x, y).0.map(i32::from);
            all += 1;
            if r > g + 60 && r > bl + 60 {
                red += 1;
            }
        }
    }
    assert!(red * 2 > all, "{red} of {all} pixels are red in {b:?}");
}

#[test]
fn visible_speed_limits_carry_the_value_of_their_truth_feature() {
    let (_, d) = full_size_drive();
    let net = helsinki();
    let mut seen = 0;
    for v in d.frames.iter().flat_map(|f| &f.visible) {
        let truth = net
            .features()
            .iter()
            .find(|f| f.id == v.feature_id)
            .unwrap();
        assert_eq!(v.value, truth.value, "{v:?}");
        assert_eq!(v.class, truth.class);
        if v.class == FeatureClass::SpeedLimit {
            seen += 1;
        }
    }
    assert!(seen > 0, "the drive passes a speed-limit sign");
}
