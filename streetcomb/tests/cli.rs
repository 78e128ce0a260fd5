//! The `streetcomb` binary end to end: simulate → ingest → process → build → rewards
//! → query, the server on loopback, and clear errors on bad input.
//!
//! Needs `make setup` (the Makefile exports ORT_DYLIB_PATH and STREETCOMB_MODELS).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn streetcomb(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_streetcomb"))
        .arg("--store")
        .arg(store)
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_simulated_drive_goes_through_every_stage_and_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("data");
    let drives = tmp.path().join("drives");
    let d = drives.to_str().unwrap();
    ok(streetcomb(
        &store,
        &[
            "simulate",
            "--out",
            d,
            "--contributors",
            "1",
            "--route-m",
            "250",
        ],
    ));
    let ingest = ok(streetcomb(&store, &["--json", "ingest", d]));
    let ingest: serde_json::Value = serde_json::from_str(&ingest).unwrap();
    assert!(ingest["kept"].as_u64().unwrap() >= 40, "{ingest}");

    // Sending the same drives again is refused and changes nothing.
    let again = streetcomb(&store, &["ingest", d]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("was already ingested"));

    let process: serde_json::Value =
        serde_json::from_str(&ok(streetcomb(&store, &["--json", "process"]))).unwrap();
    assert_eq!(process["published"], ingest["kept"], "{process}");
    assert_eq!(process["withheld"], 0);
    // Originals are gone from the store once published; only blurred images remain.
    assert!(
        !store.join("incoming").exists()
            || std::fs::read_dir(store.join("incoming")).unwrap().all(|e| {
                std::fs::read_dir(e.unwrap().path())
                    .unwrap()
                    .next()
                    .is_none()
            })
    );
    assert!(store.join("images").is_dir());

    // Features are recovered near the simulator's ground truth: at least 40 % of the
    // true features seen three times or more are matched within 10 m. One short drive
    // carries one GPS bias (sigma 3 m), and a class may have a single match, so the
    // per-class medians are pooled (weighted by matches); mapbuild's own tests measure
    // accuracy over many drives.
    let scored = || {
        let eval: serde_json::Value =
            serde_json::from_str(&ok(streetcomb(&store, &["--json", "eval", "--truth", d])))
                .unwrap();
        let with_truth: Vec<serde_json::Value> = eval["classes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["truth"].as_u64().unwrap() > 0)
            .cloned()
            .collect();
        assert!(!with_truth.is_empty(), "{eval}");
        let truth: u64 = with_truth
            .iter()
            .map(|c| c["truth"].as_u64().unwrap())
            .sum();
        let matched: u64 = with_truth
            .iter()
            .map(|c| c["matched"].as_u64().unwrap())
            .sum();
        assert!(
            matched * 100 >= truth * 40,
            "recovered {matched} of {truth}: {eval}"
        );
        let weighted: f64 = with_truth
            .iter()
            .filter(|c| c["matched"].as_u64().unwrap() > 0)
            .map(|c| c["median_error_m"].as_f64().unwrap() * c["matched"].as_f64().unwrap())
            .sum();
        (matched, weighted / matched as f64, eval)
    };
    // Without the extract in the store, features stand where the drive's GPS put them.
    ok(streetcomb(&store, &["build"]));
    let (_, raw_error, raw_eval) = scored();
    assert!(
        raw_error <= 9.0,
        "pooled median error {raw_error:.2} m: {raw_eval}"
    );
    // With it, build first aligns the drive to its roads. This drive of 250 m barely
    // turns, so only the bias across its road is measured (7.09 -> 5.94 m here); the
    // part along the road stays.
    ok(streetcomb(&store, &["basemap"]));
    ok(streetcomb(&store, &["build"]));
    let (matched, error, eval) = scored();
    assert!(
        error <= 7.0 && error < raw_error,
        "pooled median error {error:.2} m aligned, {raw_error:.2} m not: {eval}"
    );
    // The same features against the extract's mapped points (the simulator's truth
    // comes from them): every matched sign is `same`, and the CSV has a row each.
    let osm_csv = tmp.path().join("osm.csv");
    let osm: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        &store,
        &[
            "--json",
            "compare-osm",
            "--output",
            osm_csv.to_str().unwrap(),
        ],
    )))
    .unwrap();
    let rows = osm["rows"].as_array().unwrap();
    let same: Vec<&serde_json::Value> = rows.iter().filter(|r| r["outcome"] == "same").collect();
    assert!(same.len() as u64 >= matched, "{osm}");
    assert!(same.iter().all(|r| r["matched"].is_string()), "{osm}");
    let csv_text = std::fs::read_to_string(&osm_csv).unwrap();
    assert!(
        csv_text.starts_with("id,class,lat,lon,outcome,matched\n"),
        "{csv_text}"
    );
    assert_eq!(csv_text.lines().count(), rows.len() + 1);

    let rewards: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        &store,
        &["--json", "rewards", "run", "--emission", "1000"],
    )))
    .unwrap();
    let total: u64 = rewards
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1000, "{rewards}");

    let csv = ok(streetcomb(
        &store,
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM frames WHERE image_key LIKE 'images/%'",
        ],
    ));
    assert_eq!(
        csv.lines().nth(1).unwrap().trim(),
        ingest["kept"].to_string()
    );
    // Every published frame carries its blur record: the three models by name@version
    // and the thresholds they ran at.
    let stamped = ok(streetcomb(
        &store,
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(*) FROM frames WHERE blur_models LIKE 'centerface_int8@%' \
             AND blur_models LIKE '%plate%' AND blur_plate_threshold > 0 \
             AND blur_face_threshold > 0",
        ],
    ));
    assert_eq!(
        stamped.lines().nth(1).unwrap().trim(),
        ingest["kept"].to_string(),
        "{stamped}"
    );
    let cells = ok(streetcomb(
        &store,
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(DISTINCT h3) FROM coverage",
        ],
    ));
    assert!(
        cells.lines().nth(1).unwrap().trim().parse::<u32>().unwrap() >= 3,
        "{cells}"
    );

    serve_and_fetch(&store);
    export_pmtiles_and_read_it_back(&store, tmp.path());
}

fn serve_and_fetch(store: &Path) {
    let (_server, base) = start_server(store);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut tj = None;
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("{base}/tiles.json")).send().await {
                tj = Some(r.json::<serde_json::Value>().await.unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let tj = tj.expect("server did not come up");
        let b = tj["bounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect::<Vec<_>>();
        let (lon, lat) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
        assert!(
            (24.9..25.0).contains(&lon) && (60.1..60.2).contains(&lat),
            "{tj}"
        );
        // The z14 tile over the data's centre has frames and coverage.
        let n = 2f64.powi(14);
        let x = ((lon + 180.0) / 360.0 * n) as u32;
        let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n) as u32;
        let r = client
            .get(format!("{base}/tiles/14/{x}/{y}.mvt"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(r.headers()["content-encoding"], "gzip");
        let gz = r.bytes().await.unwrap();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
        let reader = mvt_reader::Reader::new(raw).unwrap();
        let layers: Vec<String> = reader
            .get_layer_metadata()
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert!(
            layers.contains(&"frames".to_owned()) && layers.contains(&"coverage".to_owned()),
            "{layers:?}"
        );
        let again = client
            .get(format!("{base}/tiles/14/{x}/{y}.mvt"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        // Raw uploads are never served; published images are.
        assert_eq!(
            client
                .get(format!("{base}/images/../incoming/x.jpg"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    });
}

/// One simulated drive of `route_m` metres under `out`; its directory.
fn simulate_one(store: &Path, out: &Path, route_m: u32) -> std::path::PathBuf {
    let listed = ok(streetcomb(
        store,
        &[
            "simulate",
            "--out",
            out.to_str().unwrap(),
            "--contributors",
            "1",
            "--route-m",
            &route_m.to_string(),
        ],
    ));
    std::path::PathBuf::from(listed.lines().next().unwrap().trim())
}

/// Stops the server even when an assertion fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn a_worker_killed_with_sigkill_mid_vision_loses_nothing_and_doubles_nothing() {
    let nats = streetcomb_cluster::testing::NatsServer::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let drives = tmp.path().join("drives");
    simulate_one(&tmp.path().join("sim"), &drives, 300);
    let store = tmp.path().join("cluster");
    let queue = ["--nats", nats.url(), "--ack-wait-s", "3"];
    let worker = |name: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_streetcomb"))
            .arg("--store")
            .arg(&store)
            .args(["--quiet", "worker", "--name", name])
            .args(queue)
            .args(["--pipelines", "1", "--threads", "1"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut doomed = KillOnDrop(worker("doomed", &[]));
    let mut args = vec!["submit"];
    args.extend(queue);
    args.push(drives.to_str().unwrap());
    ok(streetcomb(&store, &args));
    // SIGKILL once it is well into the vision job.
    let started = std::time::Instant::now();
    loop {
        let mut args = vec!["--json", "cluster", "status"];
        args.extend(queue);
        let s: serde_json::Value = serde_json::from_str(&ok(streetcomb(&store, &args))).unwrap();
        if s["workers"][0]["kind"] == "vision" {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "no vision job started: {s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    doomed.0.kill().unwrap(); // SIGKILL
    doomed.0.wait().unwrap();
    let out = worker("survivor", &["--exit-when-idle-s", "1"])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert!(report["redelivered"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["jobs_failed"], 0, "{report}");
    // Exactly what one process makes of the same drive.
    let cluster = ok(streetcomb(&store, &["cluster", "summary"]));
    let single = ok(streetcomb(
        &tmp.path().join("single"),
        &["cluster", "local", drives.to_str().unwrap()],
    ));
    assert_eq!(cluster.trim(), single.lines().last().unwrap().trim());
    let s: serde_json::Value = serde_json::from_str(cluster.trim()).unwrap();
    assert!(s["frames_published"].as_u64().unwrap() > 20, "{s}");
}

#[test]
fn eval_weeks_scores_every_week_of_a_simulated_scenario_and_catches_its_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("weeks.json");
    let printed: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        &tmp.path().join("store"),
        &[
            "--json",
            "eval",
            "--weeks",
            "3",
            "--output",
            out.to_str().unwrap(),
        ],
    )))
    .unwrap();
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(printed, written);
    let weeks = printed["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 3, "{printed}");
    for w in weeks {
        let classes = w["report"]["classes"].as_array().unwrap();
        assert!(
            classes.iter().any(|c| c["matched"].as_u64().unwrap() > 0),
            "{w}"
        );
    }
    // Weeks 2 and 3 each added, removed and moved two signs; most are reported
    // (mapbuild's accuracy test measures the rate over several scenarios).
    let c = &printed["changes"];
    for kind in ["added", "removed", "moved"] {
        assert_eq!(c[kind][1], 4, "{c}");
        assert!(c[kind][0].as_u64().unwrap() >= 3, "{kind}: {c}");
    }
    assert!(c["accuracy"].as_f64().unwrap() >= 0.9, "{c}");
}

#[test]
fn eval_weeks_on_an_osm_xml_extract_that_maps_no_signs_reports_every_class() {
    let tmp = tempfile::tempdir().unwrap();
    let osm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/osm/tiny.osm");
    let printed: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        &tmp.path().join("store"),
        &[
            "--json",
            "eval",
            "--weeks",
            "1",
            "--osm",
            osm.to_str().unwrap(),
        ],
    )))
    .unwrap();
    let classes = printed["weeks"][0]["report"]["classes"].as_array().unwrap();
    let built: Vec<&str> = classes
        .iter()
        .filter(|c| c["built"].as_u64().unwrap() > 0 && c["matched"].as_u64().unwrap() > 0)
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    for class in [
        "speed_limit",
        "stop_sign",
        "give_way",
        "no_entry",
        "no_left_turn",
        "no_right_turn",
        "no_u_turn",
        "pedestrian_crossing",
        "traffic_light",
        "fire_hydrant",
    ] {
        assert!(built.contains(&class), "{class} missing: {printed}");
    }
    // The speed limits carry their numbers through to the map.
    let limits = classes
        .iter()
        .find(|c| c["class"] == "speed_limit")
        .unwrap();
    assert!(limits["values"].as_u64().unwrap() > 0, "{limits}");
    assert_eq!(limits["values"], limits["values_correct"], "{limits}");
}

#[test]
fn the_demo_on_a_short_route_publishes_its_frames_and_keeps_its_extract_as_the_basemap() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("data");
    let out = ok(streetcomb(
        &store,
        &["--json", "demo", "--contributors", "1", "--route-m", "150"],
    ));
    let demo: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(demo["basemap"]["roads"].as_u64().unwrap() > 500, "{demo}");
    assert!(
        demo["basemap"]["buildings"].as_u64().unwrap() > 100,
        "{demo}"
    );
    assert!(demo["vision"]["published"].as_u64().unwrap() > 0, "{demo}");
    // The extract is in the store, whole, for `serve` to draw.
    let stored = std::fs::read(store.join("basemap/extract.osm.pbf")).unwrap();
    let bundled = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/osm/helsinki.osm.pbf"),
    )
    .unwrap();
    assert!(
        stored == bundled,
        "the stored basemap is not the bundled extract"
    );
}

#[test]
fn an_unreadable_gpx_is_refused_naming_the_file_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let drive = tmp.path().join("d1");
    std::fs::create_dir_all(drive.join("frames")).unwrap();
    std::fs::write(
        drive.join("frames/20261116T080000Z.jpg"),
        [0xFF, 0xD8, 0xFF, 0xD9],
    )
    .unwrap();
    std::fs::write(
        drive.join("track.gpx"),
        "<gpx><trk><trkseg><trkpt lat='nope'",
    )
    .unwrap();
    let store = tmp.path().join("data");
    let out = streetcomb(&store, &["ingest", drive.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("track.gpx: not a readable GPX track"), "{err}");
    assert!(!store.join("frames").exists(), "no partial output");
}

#[test]
fn a_truncated_jpeg_is_refused_naming_the_file_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let drive = tmp.path().join("d1");
    std::fs::create_dir_all(drive.join("frames")).unwrap();
    let gpx = r#"<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="60.17" lon="24.94"><time>2026-11-16T08:00:00Z</time></trkpt>
<trkpt lat="60.171" lon="24.94"><time>2026-11-16T08:00:10Z</time></trkpt></trkseg></trk></gpx>"#;
    std::fs::write(drive.join("track.gpx"), gpx).unwrap();
    std::fs::write(
        drive.join("frames/20261116T080001Z.jpg"),
        [0xFF, 0xD8, 0xFF, 0xE0, 0, 16],
    )
    .unwrap();
    let store = tmp.path().join("data");
    let out = streetcomb(&store, &["ingest", drive.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("20261116T080001Z.jpg: not a readable JPEG"),
        "{err}"
    );
    assert!(!store.join("frames").exists(), "no partial output");
}

#[test]
fn missing_models_say_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_streetcomb"))
        .args(["--quiet", "blur"])
        .arg(&input)
        .arg(tmp.path().join("out"))
        .env("ORT_DYLIB_PATH", tmp.path().join("nope.so"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("make setup"), "{err}");
}

#[test]
fn a_vision_config_with_a_misspelt_key_is_refused_naming_the_file_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let cfg = tmp.path().join("vision.toml");
    std::fs::write(&cfg, "[faces]\nthreshhold = 0.3\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_streetcomb"))
        .args(["--quiet", "--vision-config"])
        .arg(&cfg)
        .arg("blur")
        .arg(&input)
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vision.toml") && err.contains("threshhold"),
        "{err}"
    );
    assert!(!tmp.path().join("out").join("x.jpg").exists());
}

#[test]
fn blur_review_draws_a_grid_of_frames_with_red_outlines_around_the_labelled_faces() {
    let tmp = tempfile::tempdir().unwrap();
    let faces = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/faces");
    let png = tmp.path().join("sheet.png");
    // The first five frames by name, two to a row: three rows.
    let out = Command::new(env!("CARGO_BIN_EXE_streetcomb"))
        .args(["--quiet", "blur-review", "--max", "5", "--cols", "2"])
        .arg(&faces)
        .arg(&png)
        .output()
        .unwrap();
    ok(out);
    let sheet = image::open(&png).unwrap().into_rgb8();
    // Cells of 480x360 with 8 px gaps around them.
    assert_eq!(sheet.dimensions(), (2 * 488 + 8, 3 * 368 + 8));
    let review: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("sheet.json")).unwrap()).unwrap();
    let frames = review["frames"].as_array().unwrap();
    let names: Vec<&str> = frames.iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "2007_007763.jpg",
            "2008_001009.jpg",
            "2008_001322.jpg",
            "2008_002079.jpg",
            "2008_002470.jpg"
        ]
    );

    // Every labelled face of 2008_001009.jpg: its box in boxes.csv (x, y, w, h).
    let labels = std::fs::read_to_string(faces.join("boxes.csv")).unwrap();
    let labelled: Vec<[f64; 4]> = labels
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[0] == "2008_001009.jpg" && c[7] == "0")
        .map(|c| {
            let n = |i: usize| c[i].parse::<f64>().unwrap();
            [n(3), n(4), n(3) + n(5), n(4) + n(6)]
        })
        .collect();
    assert_eq!(labelled.len(), 2);
    let frame = &frames[1];
    let t = &frame["thumb"];
    let (tx, ty, scale) = (
        t["x"].as_f64().unwrap(),
        t["y"].as_f64().unwrap(),
        t["scale"].as_f64().unwrap(),
    );
    // The second frame sits in the first row, second column.
    assert!(
        (488.0 + 8.0..2.0 * 488.0).contains(&tx) && (8.0..368.0).contains(&ty),
        "{t}"
    );
    for [x0, y0, x1, y1] in labelled {
        // The JSON lists a detection overlapping the labelled face.
        let iou = frame["faces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let g = |k: &str| f[k].as_f64().unwrap();
                let iw = (x1.min(g("x1")) - x0.max(g("x0"))).max(0.0);
                let ih = (y1.min(g("y1")) - y0.max(g("y0"))).max(0.0);
                let inter = iw * ih;
                let union =
                    (x1 - x0) * (y1 - y0) + (g("x1") - g("x0")) * (g("y1") - g("y0")) - inter;
                inter / union
            })
            .fold(0.0, f64::max);
        assert!(iou > 0.3, "face {x0},{y0}: best IoU {iou}; {frame}");
        // The sheet has a red outline around it: pure red pixels in the labelled box
        // grown by half its size (the outline is the blurred region, margin included).
        let (gw, gh) = ((x1 - x0) / 2.0, (y1 - y0) / 2.0);
        let (sx0, sy0) = (tx + (x0 - gw) * scale, ty + (y0 - gh) * scale);
        let (sx1, sy1) = (tx + (x1 + gw) * scale, ty + (y1 + gh) * scale);
        let mut red = 0;
        for y in sy0.max(0.0) as u32..sy1 as u32 {
            for x in sx0.max(0.0) as u32..sx1 as u32 {
                if sheet.get_pixel(x, y).0 == [255, 0, 0] {
                    red += 1;
                }
            }
        }
        assert!(red >= 100, "only {red} red pixels around face {x0},{y0}");
    }
}

#[test]
fn blur_review_refuses_an_undecodable_frame_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.jpg"), tiny_jpeg(1)).unwrap();
    std::fs::write(input.join("b.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).unwrap();
    let png = tmp.path().join("sheet.png");
    let out = Command::new(env!("CARGO_BIN_EXE_streetcomb"))
        .args(["--quiet", "blur-review"])
        .arg(&input)
        .arg(&png)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b.jpg: not a decodable JPEG"), "{err}");
    assert!(!png.exists(), "no sheet for a partial review");
}

/// `tiles export --pmtiles` on the store, read back by the reference Python reader.
fn export_pmtiles_and_read_it_back(store: &Path, dir: &Path) {
    let python = std::env::var_os("STREETCOMB_PMTILES_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("STREETCOMB_CACHE")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME").map(|d| Path::new(&d).join("streetcomb"))
                })
                .unwrap_or_else(|| {
                    Path::new(&std::env::var_os("HOME").unwrap()).join(".cache/streetcomb")
                });
            cache.join("venv-pmtiles/bin/python3")
        });
    assert!(
        python.is_file(),
        "{} not found: run `make setup` (scripts/setup.sh) to install the pinned PMTiles reader",
        python.display()
    );

    let archive = dir.join("out/map.pmtiles");
    let export: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        store,
        &[
            "--json",
            "tiles",
            "export",
            "--pmtiles",
            archive.to_str().unwrap(),
        ],
    )))
    .unwrap();
    assert_eq!(
        export["bytes"].as_u64().unwrap(),
        std::fs::metadata(&archive).unwrap().len(),
        "{export}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(archive.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    // The reference reader: header, metadata, every tile, and the z14 tile over the
    // middle of the data (gunzipped, as hex).
    let script = r#"
import gzip, json, math, sys
from pmtiles.reader import Reader, MmapSource, all_tiles
with open(sys.argv[1], "rb") as f:
    get = MmapSource(f)
    r = Reader(get)
    h = r.header()
    lon = (h["min_lon_e7"] + h["max_lon_e7"]) / 2e7
    lat = (h["min_lat_e7"] + h["max_lat_e7"]) / 2e7
    n = 2 ** 14
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    t = r.get(14, x, y)
    print(json.dumps({
        "tile_type": h["tile_type"].name,
        "tile_compression": h["tile_compression"].name,
        "min_zoom": h["min_zoom"],
        "max_zoom": h["max_zoom"],
        "addressed": h["addressed_tiles_count"],
        "traversed": sum(1 for _ in all_tiles(get)),
        "zooms": sorted({z for (z, _, _), _ in all_tiles(get)}),
        "layers": [l["id"] for l in r.metadata()["vector_layers"]],
        "z14": None if t is None else gzip.decompress(t).hex(),
    }))
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&archive)
        .output()
        .unwrap();
    let read: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    assert_eq!(read["tile_type"], "MVT", "{read}");
    assert_eq!(read["tile_compression"], "GZIP", "{read}");
    assert_eq!(
        (read["min_zoom"].as_u64(), read["max_zoom"].as_u64()),
        (Some(0), Some(16)),
        "{read}"
    );
    assert_eq!(read["addressed"], export["tiles"], "{read} {export}");
    assert_eq!(read["traversed"], export["tiles"], "{read} {export}");
    assert_eq!(
        read["zooms"],
        serde_json::json!((0..=16).collect::<Vec<u64>>()),
        "tiles at every zoom: {read}"
    );
    assert_eq!(
        read["layers"],
        serde_json::json!(["coverage", "sequences", "frames", "features"]),
        "{read}"
    );
    let hex = read["z14"]
        .as_str()
        .expect("the z14 tile over the data is in the archive");
    let raw: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert!(
        raw.windows(b"coverage".len()).any(|w| w == b"coverage"),
        "no coverage layer in the z14 tile"
    );
    let layers: Vec<String> = mvt_reader::Reader::new(raw)
        .unwrap()
        .get_layer_metadata()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert!(layers.contains(&"coverage".to_owned()), "{layers:?}");
}

// ---------------------------------------------------------------- server and viewer

/// Where `scripts/setup.sh` caches things: `$STREETCOMB_CACHE`, else the XDG cache.
fn cache_dir() -> std::path::PathBuf {
    std::env::var_os("STREETCOMB_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| Path::new(&d).join("streetcomb")))
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cache/streetcomb"))
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A small blurred-looking JPEG (a gradient) standing in for a published frame.
fn tiny_jpeg(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, seed.wrapping_mul(40)])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A store written through the datasets API, without the vision models: three
/// published drives along streets of central Helsinki (30 frames each, 10 m apart,
/// images under `images/`), their res-11 coverage (fresh, 3 and 10 days old) and
/// a few features beside them, each detected (bearing pointing at it) from the four
/// frames before it. `drives` limits how many of the three are written.
async fn synthetic_store(path: &Path, drives: usize) -> streetcomb_datasets::Store {
    use streetcomb_core::{
        BBox, CellId, ContributorId, CoverageCell, Detection, DriveId, FeatureClass, FeatureId,
        FeatureStatus, Frame, FrameId, LatLon, MapFeature,
    };
    let store = streetcomb_datasets::Store::open(path.to_str().unwrap())
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let m_lat = 1.0 / 111_320.0;
    let m_lon = m_lat / 60.17f64.to_radians().cos();
    let (mut frames, mut coverage, mut features) = (Vec::new(), Vec::new(), Vec::new());
    let mut detections: Vec<Detection> = Vec::new();
    for d in 0..drives {
        let drive = DriveId::new(format!("drive-{d}")).unwrap();
        let who = ContributorId::new(format!("contributor-{d}")).unwrap();
        let start = now - chrono::Duration::days([0, 3, 10][d]) - chrono::Duration::hours(1);
        for i in 0..30 {
            // Drive 0 runs east, drive 1 north, drive 2 north-east.
            let (de, dn) = [(10.0, 0.0), (0.0, 10.0), (7.0, 7.0)][d];
            let (e, n) = (i as f64 * de, i as f64 * dn - 60.0 * d as f64);
            let pos = LatLon::new(60.1690 + n * m_lat, 24.9380 + e * m_lon).unwrap();
            let id = FrameId::new(format!("{drive}-{i:03}")).unwrap();
            let key = format!("images/{id}.jpg");
            store.put_blob(&key, tiny_jpeg(i as u8)).await.unwrap();
            let captured_at = start + chrono::Duration::seconds(i as i64);
            frames.push(
                streetcomb_core::testing::FrameBuilder::new()
                    .id(&id)
                    .drive(&drive)
                    .contributor(&who)
                    .at(captured_at)
                    .pos(pos)
                    .heading([90.0, 0.0, 45.0][d])
                    .cell_resolution(12)
                    .image_key(key)
                    .content_sha256(format!("{:064x}", d * 100 + i))
                    .build(),
            );
            coverage.push(CoverageCell {
                cell: CellId::from_latlon(pos, 11).unwrap(),
                contributor: who.clone(),
                day: captured_at.date_naive(),
                last_covered_at: captured_at,
                n_frames: 1,
                heading_deg: 90.0,
            });
            if i % 12 == 6 {
                let class = FeatureClass::ALL[(d + i) % 4];
                let sign = LatLon::new(pos.lat() + 8.0 * m_lat, pos.lon() + 8.0 * m_lon).unwrap();
                let seen_from: &[Frame] = &frames[frames.len() - 4..];
                for (k, f) in seen_from.iter().enumerate() {
                    let x0 = 20.0 + 10.0 * k as f32;
                    detections.push(Detection {
                        frame_id: f.id.clone(),
                        class,
                        score: 0.8,
                        bbox: BBox {
                            x0,
                            y0: 10.0,
                            x1: x0 + 12.0,
                            y1: 22.0,
                        },
                        bearing_deg: f.pos.bearing_to(sign),
                        model: "synthetic".into(),
                        text: (class == FeatureClass::StopSign).then(|| "STOP".to_owned()),
                        value: None,
                    });
                }
                features.push(MapFeature {
                    id: FeatureId::new(format!("feature-{d}-{i}")).unwrap(),
                    class,
                    pos: sign,
                    uncertainty_m: 1.5,
                    n_detections: 5,
                    n_drives: 1,
                    confidence: 0.9,
                    first_seen: at("2026-11-01T08:00:00Z"),
                    last_seen: captured_at,
                    status: FeatureStatus::Confirmed,
                    azimuth_deg: None,
                    single_view: false,
                    value: None,
                });
            }
        }
    }
    store.write_frames(&frames).await.unwrap();
    store.write_coverage(&coverage).await.unwrap();
    store.write_features(&features).await.unwrap();
    store.write_detections(&detections).await.unwrap();
    store
}

/// `streetcomb serve` on a free loopback port; killed when dropped.
fn start_server(store: &Path) -> (KillOnDrop, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_streetcomb"))
            .arg("--store")
            .arg(store)
            .args(["--quiet", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .spawn()
            .unwrap(),
    );
    (server, format!("http://127.0.0.1:{port}"))
}

async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn wait_for_tilejson(client: &reqwest::Client, base: &str) -> serde_json::Value {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/tiles.json")).send().await {
            return r.json().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("server did not come up at {base}");
}

/// The z/x/y tile holding `(lat, lon)`.
fn tile_of(lat: f64, lon: f64, z: u8) -> (u8, u32, u32) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n) as u32;
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n) as u32;
    (z, x, y)
}

fn layer_names(gz: &[u8]) -> Vec<String> {
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut raw).unwrap();
    mvt_reader::Reader::new(raw)
        .unwrap()
        .get_layer_metadata()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect()
}

#[test]
fn the_server_sends_gzip_tiles_with_etags_cors_and_picks_up_new_data_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Only the first drive at first; the other two arrive while the server runs.
    rt.block_on(synthetic_store(&store_dir, 1));
    let (_server, base) = start_server(&store_dir);
    rt.block_on(async {
        let client = reqwest::Client::new();
        let tj = wait_for_tilejson(&client, &base).await;
        assert!(
            tj["tiles"][0]
                .as_str()
                .unwrap()
                .ends_with("/tiles/{z}/{x}/{y}.mvt"),
            "{tj}"
        );
        let (z, x, y) = tile_of(60.1690, 24.9390, 15);
        let url = format!("{base}/tiles/{z}/{x}/{y}.mvt");
        let r = client
            .get(&url)
            .header("accept-encoding", "gzip")
            .header("origin", "http://example.org")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(h["content-type"], "application/vnd.mapbox-vector-tile");
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(h["vary"], "accept-encoding");
        let etag = h["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
        let gz = r.bytes().await.unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b], "a gzip stream");
        let layers = layer_names(&gz);
        assert!(
            ["coverage", "sequences", "frames", "features"]
                .iter()
                .all(|l| layers.contains(&l.to_string())),
            "{layers:?}"
        );

        // The old path without `.mvt` answers the same bytes.
        let plain = client
            .get(format!("{base}/tiles/{z}/{x}/{y}"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(plain.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(plain.bytes().await.unwrap(), gz);

        // A client without gzip gets the plain MVT.
        let raw = client.get(&url).send().await.unwrap();
        assert!(raw.headers().get("content-encoding").is_none());
        let raw = raw.bytes().await.unwrap();
        assert!(mvt_reader::Reader::new(raw.to_vec()).is_ok());

        // Revalidation: a matching tag is a 304 without a body; another tag is a 200.
        let same = client
            .get(&url)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(same.status(), 304);
        assert_eq!(same.headers()["etag"].to_str().unwrap(), etag);
        assert!(same.bytes().await.unwrap().is_empty());
        let other = client
            .get(&url)
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200);

        // CORS preflight from a page on another origin.
        let pre = client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "http://example.org")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(pre.status().is_success(), "{}", pre.status());
        assert_eq!(pre.headers()["access-control-allow-origin"], "*");

        // Empty and impossible tiles.
        let empty = client
            .get(format!("{base}/tiles/15/0/0.mvt"))
            .send()
            .await
            .unwrap();
        assert_eq!(empty.status(), 204);
        let bad = client
            .get(format!("{base}/tiles/3/9/9.mvt"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);

        // A sequence's frames for the viewer, and their blurred images.
        let seq = get_json(&client, &format!("{base}/sequences/drive-0/frames")).await;
        let frames = seq["frames"].as_array().unwrap();
        assert_eq!(frames.len(), 30, "{seq}");
        let img = client
            .get(format!(
                "{base}{}",
                frames[0]["image_url"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(img.status(), 200);
        assert_eq!(img.headers()["content-type"], "image/jpeg");
        assert_eq!(
            client
                .get(format!("{base}/sequences/drive-1/frames"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );

        // New data in the store: the tile changes and the new drive is served, with
        // no restart. Drive 1 starts 60 m south of drive 0, in the same z15 tile.
        synthetic_store(&store_dir, 3).await;
        let mut changed = None;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let r = client
                .get(&url)
                .header("if-none-match", &etag)
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                changed = Some(r.headers()["etag"].to_str().unwrap().to_owned());
                break;
            }
        }
        let changed = changed.expect("the tile did not change after new data was written");
        assert_ne!(changed, etag);
        let seq = client
            .get(format!("{base}/sequences/drive-1/frames"))
            .send()
            .await
            .unwrap();
        assert_eq!(seq.status(), 200);

        // No basemap yet: a valid TileJSON over the whole world and empty tiles. A
        // basemap stored while the server runs is drawn without a restart.
        let basemap_bounds = || async {
            let tj = get_json(&client, &format!("{base}/basemap.json")).await;
            tj["bounds"][0].as_f64().unwrap()
        };
        assert_eq!(basemap_bounds().await, -180.0);
        let (z, x, y) = tile_of(60.1690, 24.9380, 15);
        let tile = format!("{base}/basemap/{z}/{x}/{y}.mvt");
        assert_eq!(client.get(&tile).send().await.unwrap().status(), 204);
        ok(streetcomb(&store_dir, &["basemap"]));
        let mut west = -180.0;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            west = basemap_bounds().await;
            if west > 24.0 {
                break;
            }
        }
        assert!(
            west > 24.0 && west < 24.95,
            "the basemap's west edge: {west}"
        );
        assert_eq!(client.get(&tile).send().await.unwrap().status(), 200);
    });
}

/// The `node_modules` that `scripts/setup.sh` installs the viewer packages into.
fn viewer_node_modules() -> std::path::PathBuf {
    let dir = cache_dir().join("viewer/node_modules");
    assert!(
        dir.join("playwright-core").is_dir() && dir.join("maplibre-gl/dist").is_dir(),
        "{} lacks playwright-core or maplibre-gl: run `make setup` (scripts/setup.sh)",
        dir.display()
    );
    dir
}

/// Debian's `chromium` on the PATH (or `STREETCOMB_CHROMIUM`).
fn chromium() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("STREETCOMB_CHROMIUM") {
        return p.into();
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .expect("chromium not found on the PATH: run `make setup` (scripts/setup.sh installs Debian's chromium)")
}

/// Pixels of a screenshot that differ from the map's background colour (#f4f3ef) by
/// more than anti-aliasing would: what has been drawn.
fn drawn_share(png: &Path) -> f64 {
    let img = image::open(png).unwrap().to_rgb8();
    let bg = [0xf4, 0xf3, 0xef];
    let drawn = img
        .pixels()
        .filter(|p| (0..3).any(|c| (i32::from(p.0[c]) - bg[c]).abs() > 24))
        .count();
    drawn as f64 / f64::from(img.width() * img.height())
}

#[test]
fn the_web_map_draws_streets_under_the_data_in_headless_chromium_and_opens_feature_frame_and_sequence_panels()
 {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(synthetic_store(&store_dir, 3));
    let node_modules = viewer_node_modules();
    let chromium = chromium();
    // The bundled Helsinki extract, where the synthetic drives run, as the basemap.
    let said = ok(streetcomb(&store_dir, &["basemap"]));
    assert!(
        said.contains("roads") && said.contains("buildings"),
        "{said}"
    );
    let (_server, base) = start_server(&store_dir);
    rt.block_on(async {
        let client = reqwest::Client::new();
        wait_for_tilejson(&client, &base).await;
        let page = client
            .get(&base)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("/assets/maplibre-gl.js"), "{page}");
        let js = client
            .get(format!("{base}/assets/maplibre-gl.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(js.status(), 200, "MapLibre is served locally");
        let get = |path: String| {
            let client = client.clone();
            async move { client.get(path).send().await.unwrap() }
        };
        let json = |path: String| {
            let client = client.clone();
            async move { get_json(&client, &path).await }
        };
        // The basemap: its TileJSON, and a street tile where the drives run.
        let tj = json(format!("{base}/basemap.json")).await;
        let layers: Vec<&str> = tj["vector_layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(layers, ["water", "roads", "buildings"], "{tj}");
        let (z, x, y) = tile_of(60.1690, 24.9380, 15);
        let t = client
            .get(format!("{base}/basemap/{z}/{x}/{y}.mvt"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(t.status(), 200);
        let gz = t.bytes().await.unwrap();
        assert!(layer_names(&gz).contains(&"roads".to_owned()));
        // A frame: its neighbours in the sequence and its detections.
        let f = json(format!("{base}/frames/drive-0-003")).await;
        assert_eq!(f["prev"], "drive-0-002", "{f}");
        assert_eq!(f["next"], "drive-0-004", "{f}");
        assert_eq!(
            (f["index"].as_u64(), f["count"].as_u64()),
            (Some(3), Some(30))
        );
        assert_eq!(f["detections"].as_array().unwrap().len(), 1, "{f}");
        let first = json(format!("{base}/frames/drive-0-000")).await;
        assert!(first["prev"].is_null() && first["detections"].as_array().unwrap().is_empty());
        assert_eq!(get(format!("{base}/frames/nope")).await.status(), 404);
        // A feature: the four frames whose detections point at it, in capture order.
        let feat = json(format!("{base}/features/feature-0-6")).await;
        let saw: Vec<&str> = feat["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["frame_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            saw,
            ["drive-0-003", "drive-0-004", "drive-0-005", "drive-0-006"],
            "{feat}"
        );
        let stop = json(format!("{base}/features/feature-2-6")).await;
        assert_eq!(stop["class"], "stop_sign", "{stop}");
        assert_eq!(stop["value"], "STOP", "{stop}");
    });
    // Kept under target/ so a person can look at them after the run.
    let shot_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("viewer.png");
    let shots = [
        "viewer.png",
        "viewer-basemap.png",
        "viewer-map.png",
        "viewer-frame.png",
    ]
    .map(|n| shot_dir.join(n));
    for s in &shots {
        std::fs::remove_file(s).ok();
    }
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../viewer/browser-test.cjs"))
        .arg(&node_modules)
        .arg(&chromium)
        .arg(format!("{base}/"))
        .arg(&shot)
        .output()
        .expect("node not found: install Node.js 20 or newer");
    let seen: serde_json::Value = serde_json::from_str(ok(out).trim()).unwrap();
    assert!(seen["tile_requests"].as_u64().unwrap() > 0, "{seen}");
    assert!(
        seen["tile_responses"]["200"].as_u64().unwrap() > 0,
        "{seen}"
    );
    assert_eq!(seen["external_requests"], serde_json::json!([]), "{seen}");
    for l in ["coverage", "sequences", "features", "roads", "buildings"] {
        assert!(seen["rendered"][l].as_u64().unwrap() > 0, "{l}: {seen}");
    }
    // The basemap alone draws streets and buildings over a good part of the map, and
    // the data adds to it.
    let basemap = drawn_share(&shots[1]);
    assert!(
        basemap > 0.05,
        "basemap drew {:.1} % of the map",
        100.0 * basemap
    );
    let with_data = drawn_share(&shots[2]);
    assert!(with_data > basemap + 0.01, "{with_data} vs {basemap}");
    // The feature panel: class, times and the frames that saw it, each with its box.
    let info = seen["feature_info"].as_str().unwrap();
    assert!(
        info.contains("first seen") && info.contains("last seen") && info.contains("status"),
        "{info}"
    );
    assert!(seen["feature_title"].as_str().unwrap().len() > 3, "{seen}");
    assert_eq!(seen["feature_frames"], 4, "{seen}");
    assert_eq!(seen["feature_boxes"], 4, "{seen}");
    // The frame panel: the clicked frame, its boxes, and a step each way.
    let title = seen["frame_title"].as_str().unwrap();
    assert_eq!(
        title,
        format!("Frame {}", seen["frame_clicked"].as_str().unwrap())
    );
    assert_eq!(seen["frame_boxes"], seen["frame_detections"], "{seen}");
    let index = |k: &str| -> u64 {
        seen[k]
            .as_str()
            .unwrap()
            .split(" / ")
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(index("next_index"), index("frame_index") + 1, "{seen}");
    assert_ne!(seen["next_title"], seen["frame_title"]);
    assert_eq!(seen["back_title"], seen["frame_title"]);
    assert!(seen["marker"].as_u64().unwrap() >= 1, "{seen}");
    assert!(
        seen["panel_title"]
            .as_str()
            .unwrap()
            .starts_with("Sequence drive-"),
        "{seen}"
    );
    assert_eq!(seen["thumbnails"], 30, "{seen}");
    assert_eq!(seen["thumbnail_width"], 96, "{seen}");
    for s in &shots {
        let img = image::open(s).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (1200, 800), "{}", s.display());
    }
    // The frame panel's picture (the 320 px on the right): the blurred image fills a
    // good part of it, with the detection boxes drawn in red.
    assert!(seen["shot_boxes"].as_u64().unwrap() >= 1, "{seen}");
    let frame = image::open(&shots[3]).unwrap().to_rgb8();
    let (mut picture, mut red) = (0u32, 0u32);
    for (x, _, p) in frame.enumerate_pixels() {
        let [r, g, b] = p.0;
        if x < 880 {
            continue;
        }
        picture += u32::from(r.min(g).min(b) < 200);
        red += u32::from(r > 200 && g < 90 && b < 90);
    }
    assert!(picture > 320 * 800 / 10, "{picture} pixels of picture");
    assert!(red > 100, "{red} red pixels");
}

/// The upload API of `streetcomb serve` and `streetcomb upload`, over loopback.
mod upload_api {
    use super::{KillOnDrop, ok, streetcomb};
    use sha2::Digest;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// One simulated drive, made once and copied by each test (uploads write a state
    /// file into the drive directory).
    fn sim_drive() -> &'static Path {
        static DRIVE: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> =
            std::sync::OnceLock::new();
        &DRIVE
            .get_or_init(|| {
                let tmp = tempfile::tempdir().unwrap();
                let out = tmp.path().join("drives");
                let dir = super::simulate_one(&tmp.path().join("data"), &out, 250);
                (tmp, dir)
            })
            .1
    }

    fn copy_drive(to: &Path) -> PathBuf {
        let src = sim_drive();
        let dst = to.join(src.file_name().unwrap());
        std::fs::create_dir_all(dst.join("frames")).unwrap();
        for name in ["track.gpx", "camera.json", "drive.json", "truth.json"] {
            std::fs::copy(src.join(name), dst.join(name)).unwrap();
        }
        for e in std::fs::read_dir(src.join("frames")).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, dst.join("frames").join(p.file_name().unwrap())).unwrap();
        }
        dst
    }

    /// The files `streetcomb upload` sends, as (name, bytes), sorted by name.
    fn drive_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = ["track.gpx", "camera.json", "drive.json"]
            .iter()
            .map(|n| (n.to_string(), std::fs::read(dir.join(n)).unwrap()))
            .collect();
        for e in std::fs::read_dir(dir.join("frames")).unwrap() {
            let p = e.unwrap().path();
            let name = format!("frames/{}", p.file_name().unwrap().to_str().unwrap());
            v.push((name, std::fs::read(&p).unwrap()));
        }
        v.sort();
        v
    }

    fn sha(b: &[u8]) -> String {
        hex::encode(sha2::Sha256::digest(b))
    }

    fn declaration(drive: &str, files: &[(String, Vec<u8>)]) -> serde_json::Value {
        serde_json::json!({
            "drive": drive,
            "files": files.iter().map(|(n, b)| serde_json::json!({
                "name": n, "size": b.len(), "sha256": sha(b)
            })).collect::<Vec<_>>(),
        })
    }

    fn create_key(store: &Path, contributor: &str) -> String {
        let out = ok(streetcomb(
            store,
            &["--json", "keys", "create", contributor],
        ));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["key"].as_str().unwrap().to_owned()
    }

    struct Server {
        _child: KillOnDrop,
        addr: std::net::SocketAddr,
        base: String,
    }

    fn start_server(store: &Path, env: &[(&str, &str)]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_streetcomb"))
            .arg("--store")
            .arg(store)
            .args(["--quiet", "serve", "--addr", &addr.to_string()])
            .envs(env.iter().copied())
            .spawn()
            .unwrap();
        let server = Server {
            _child: KillOnDrop(child),
            addr,
            base: format!("http://{addr}"),
        };
        for _ in 0..300 {
            if TcpStream::connect(addr).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the server did not come up on {addr}");
    }

    /// A loopback TCP proxy that cuts every connection once `cut_after` bytes have gone
    /// from the client to the server in total (mid-request), then forwards new
    /// connections (`refuse_after_cut` false) or closes them at once (true). Answers its
    /// port and the count of client bytes it forwarded.
    fn cutting_proxy(
        target: std::net::SocketAddr,
        cut_after: usize,
        refuse_after_cut: bool,
    ) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicUsize::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let counter = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                if cut.load(Ordering::SeqCst) && refuse_after_cut {
                    client.shutdown(Shutdown::Both).ok();
                    continue;
                }
                let Ok(mut upstream) = TcpStream::connect(target) else {
                    continue;
                };
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    std::io::copy(&mut u2, &mut c2).ok();
                    c2.shutdown(Shutdown::Both).ok();
                });
                let (sent, cut) = (counter.clone(), cut.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let before = sent.fetch_add(n, Ordering::SeqCst);
                        if !cut.load(Ordering::SeqCst) && before + n >= cut_after {
                            // Forward up to the cut point, then drop the connection both ways.
                            let keep = cut_after.saturating_sub(before);
                            upstream.write_all(&buf[..keep]).ok();
                            cut.store(true, Ordering::SeqCst);
                            break;
                        }
                        if upstream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    upstream.shutdown(Shutdown::Both).ok();
                    client.shutdown(Shutdown::Both).ok();
                });
            }
        });
        (port, sent)
    }

    /// Frame ids and content hashes of a store, sorted (duplicates kept).
    /// Files under `dir`, at any depth (0 when it does not exist).
    fn files_under(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |it| {
            it.map(|e| e.unwrap().path())
                .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
                .sum()
        })
    }

    fn frame_ids(store: &Path) -> Vec<String> {
        let csv = ok(streetcomb(
            store,
            &[
                "query",
                "--format",
                "csv",
                "SELECT frame_id, content_sha256 FROM frames ORDER BY frame_id",
            ],
        ));
        csv.lines().skip(1).map(str::to_owned).collect()
    }

    /// (key, sha256) of every raw frame waiting in a store's incoming area, sorted.
    fn incoming_images(store: &Path) -> Vec<(String, String)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let key = p.strip_prefix(root).unwrap().display().to_string();
                    out.push((key, sha(&std::fs::read(&p).unwrap())));
                }
            }
        }
        let mut out = Vec::new();
        walk(store, &store.join("incoming"), &mut out);
        out.sort();
        out
    }

    #[test]
    fn with_a_cluster_a_committed_upload_is_queued_and_a_worker_ingests_and_publishes_it() {
        let nats = streetcomb_cluster::testing::NatsServer::start().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("data");
        let drive = copy_drive(&tmp.path().join("upload"));
        let reference = tmp.path().join("reference");
        ok(streetcomb(
            &reference,
            &[
                "ingest",
                copy_drive(&tmp.path().join("direct")).to_str().unwrap(),
            ],
        ));
        let key = create_key(&store, "c01");
        let server = start_server(&store, &[("STREETCOMB_NATS", nats.url())]);
        let out = Command::new(env!("CARGO_BIN_EXE_streetcomb"))
            .args(["--json", "upload"])
            .arg(&drive)
            .args(["--server", &server.base])
            .env("STREETCOMB_API_KEY", &key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let name = drive.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            result["queued"]["job"],
            format!("ingest:{name}"),
            "{result}"
        );
        assert!(
            !store.join("frames").exists(),
            "the server ingested the drive itself"
        );
        // One worker drains the queue: ingest, vision, mapbuild, rewards.
        let worker = ok(streetcomb(
            &store,
            &["worker", "--nats", nats.url(), "--exit-when-idle-s", "1"],
        ));
        let report: serde_json::Value = serde_json::from_str(worker.trim()).unwrap();
        assert!(report["jobs_done"].as_u64().unwrap() >= 4, "{report}");
        assert_eq!(report["jobs_failed"], 0, "{report}");
        assert_eq!(frame_ids(&store), frame_ids(&reference));
        let status = ok(streetcomb(
            &store,
            &["--json", "cluster", "status", "--nats", nats.url()],
        ));
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(status["queued"], 0, "{status}");
        let summary: serde_json::Value =
            serde_json::from_str(ok(streetcomb(&store, &["cluster", "summary"])).trim()).unwrap();
        assert_eq!(
            summary["frames_published"].as_u64().unwrap() as usize,
            frame_ids(&reference).len()
        );
        assert!(summary["ledger_root"].is_string(), "{summary}");
        // The drive's submitted files are gone once it is ingested.
        assert_eq!(files_under(&store.join("submitted").join(name)), 0);
    }

    #[test]
    fn an_upload_cut_mid_transfer_resumes_from_the_servers_offset_with_no_frame_lost_or_duplicated()
    {
        let tmp = tempfile::tempdir().unwrap();
        let (reference, store) = (tmp.path().join("reference"), tmp.path().join("server"));
        let drive = copy_drive(&tmp.path().join("upload"));
        let total: usize = drive_files(&drive).iter().map(|(_, b)| b.len()).sum();
        // What a direct ingest of the same drive stores: the upload must end identical.
        ok(streetcomb(
            &reference,
            &[
                "ingest",
                copy_drive(&tmp.path().join("direct")).to_str().unwrap(),
            ],
        ));
        let key = create_key(&store, "c01");
        let server = start_server(&store, &[]);
        let upload = |port: u16, retries: &str| {
            Command::new(env!("CARGO_BIN_EXE_streetcomb"))
                .args(["--json", "upload"])
                .arg(&drive)
                .args(["--server", &format!("http://127.0.0.1:{port}")])
                .args(["--chunk-bytes", "65536", "--retries", retries])
                .env("STREETCOMB_API_KEY", &key)
                .env("STREETCOMB_LOG", "info")
                .output()
                .unwrap()
        };

        // 1. The connection drops 40 % of the way in and the proxy then refuses all
        //    connections: the client gives up, keeping its state file.
        let (port, _) = cutting_proxy(server.addr, total * 2 / 5, true);
        let first = upload(port, "0");
        let stderr = String::from_utf8_lossy(&first.stderr);
        assert!(!first.status.success(), "{stderr}");
        assert!(
            stderr.contains("run the same command again to resume"),
            "{stderr}"
        );
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(drive.join(".streetcomb-upload.json")).unwrap())
                .unwrap();
        let id = state["upload_id"].as_str().unwrap().to_owned();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let status: serde_json::Value = rt.block_on(async {
            reqwest::Client::new()
                .get(format!("{}/api/v1/uploads/{id}", server.base))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let received = status["received_bytes"].as_u64().unwrap() as usize;
        assert!(
            received > total / 4 && received < total * 2 / 5,
            "the server kept {received} of {total} bytes: {status}"
        );
        assert!(
            !store.join("frames").exists(),
            "nothing reaches the datasets before the commit"
        );

        // 2. Run again through a proxy that cuts once more and then forwards: the client
        //    resumes at the server's offset, retries through the cut, and commits.
        let (port, forwarded) = cutting_proxy(server.addr, total / 4, false);
        let second = upload(port, "8");
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(second.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("resuming: {received} of {total} bytes")),
            "{stderr}"
        );
        assert!(
            stderr.contains("retrying"),
            "the second cut was not hit: {stderr}"
        );
        // Only the rest was sent (plus the cut chunk and HTTP overhead), not the drive again.
        let forwarded = forwarded.load(Ordering::SeqCst);
        assert!(
            forwarded < total - received + total / 10,
            "sent {forwarded} bytes for the {} missing",
            total - received
        );
        let result: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
        assert_eq!(result["id"], id.as_str(), "{result}");
        assert!(!drive.join(".streetcomb-upload.json").exists());

        // Exactly the frames a direct ingest stores: none lost, none twice, same bytes.
        let ids = frame_ids(&store);
        assert!(ids.len() >= 10, "{ids:?}");
        assert_eq!(ids, frame_ids(&reference));
        assert_eq!(
            result["summary"]["kept"].as_u64().unwrap() as usize,
            ids.len()
        );
        assert_eq!(incoming_images(&store), incoming_images(&reference));
        // The staged chunks are deleted after the commit; the record stays.
        let staged = store.join("uploads").join(&id);
        assert!(staged.join("upload.json").is_file());
        assert_eq!(files_under(&staged.join("parts")), 0);

        // 3. Running the command again for the committed drive finds nothing to send
        //    and the store is unchanged.
        let third = upload(server.addr.port(), "0");
        assert!(
            !third.status.success(),
            "a second upload of the drive must be refused"
        );
        assert!(
            String::from_utf8_lossy(&third.stderr).contains("already_ingested"),
            "{}",
            String::from_utf8_lossy(&third.stderr)
        );
        assert_eq!(frame_ids(&store), frame_ids(&reference));
        assert_eq!(
            std::fs::read_dir(store.join("uploads")).unwrap().count(),
            1,
            "refused at creation, before any byte was sent"
        );
    }

    /// One request's status, `Upload-Offset` header and JSON body.
    struct Answer {
        status: u16,
        offset: Option<u64>,
        json: serde_json::Value,
    }

    impl Answer {
        fn code(&self) -> &str {
            self.json["error"]["code"].as_str().unwrap_or_default()
        }
    }

    async fn call(req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let offset = resp
            .headers()
            .get("upload-offset")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
        };
        Answer {
            status,
            offset,
            json,
        }
    }

    #[test]
    fn the_upload_api_checks_keys_offsets_and_limits_and_answers_every_bad_request_in_json() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("server");
        let drive = copy_drive(&tmp.path().join("upload"));
        let files = drive_files(&drive);
        let alice = create_key(&store, "alice");
        let bob = create_key(&store, "bob");
        let revoked = create_key(&store, "carol");
        let keys: serde_json::Value =
            serde_json::from_str(&ok(streetcomb(&store, &["--json", "keys", "list"]))).unwrap();
        let carol_id = keys.as_array().unwrap()[2]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ok(streetcomb(&store, &["keys", "revoke", &carol_id]));
        let stored = std::fs::read_to_string(store.join("auth/keys.json")).unwrap();
        assert!(!stored.contains(&alice[3..]), "keys are stored hashed");

        let server = start_server(
            &store,
            &[
                ("STREETCOMB_UPLOAD_MAX_FILE_BYTES", "1000000"),
                ("STREETCOMB_UPLOAD_MAX_FILES", "100"),
                ("STREETCOMB_UPLOAD_MAX_CHUNK_BYTES", "300000"),
            ],
        );
        let base = server.base.clone();
        let http = reqwest::Client::new();
        let url = |p: &str| format!("{base}/api/v1{p}");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let kept =
            rt.block_on(async {
                let decl = declaration("upload-test", &files);

                // Keys: missing, unknown and revoked keys are refused alike.
                let a = call(http.post(url("/uploads")).json(&decl)).await;
                assert_eq!((a.status, a.code()), (401, "unauthorized"), "{}", a.json);
                for bad in ["sc_0123", revoked.as_str()] {
                    let a = call(http.post(url("/uploads")).bearer_auth(bad).json(&decl)).await;
                    assert_eq!((a.status, a.code()), (401, "unauthorized"), "{}", a.json);
                }

                // Declarations that break a rule or a limit.
                let mut cases = Vec::new();
                let mut bad_name = decl.clone();
                bad_name["files"][0]["name"] = "../etc/passwd".into();
                cases.push((bad_name, 400, "bad_file_name"));
                let mut traversal = decl.clone();
                traversal["files"][0]["name"] = "frames/../../x.jpg".into();
                cases.push((traversal, 400, "bad_file_name"));
                let mut big = decl.clone();
                big["files"][0]["size"] = 1_000_001.into();
                cases.push((big, 413, "file_too_large"));
                let mut many = decl.clone();
                for i in 0..100 {
                    many["files"].as_array_mut().unwrap().push(serde_json::json!({
                    "name": format!("frames/extra{i}.jpg"), "size": 1, "sha256": "0".repeat(64)
                }));
                }
                cases.push((many, 413, "too_many_files"));
                let mut twice = decl.clone();
                let first = twice["files"][0].clone();
                twice["files"].as_array_mut().unwrap().push(first);
                cases.push((twice, 400, "duplicate_file"));
                let mut bad_sha = decl.clone();
                bad_sha["files"][0]["sha256"] = "xyz".into();
                cases.push((bad_sha, 400, "bad_sha256"));
                cases.push((
                    serde_json::json!({"drive": "a/b", "files": []}),
                    400,
                    "bad_drive_name",
                ));
                cases.push((serde_json::json!({"drive": "d"}), 400, "bad_json"));
                for (body, status, code) in cases {
                    let a = call(http.post(url("/uploads")).bearer_auth(&alice).json(&body)).await;
                    assert_eq!((a.status, a.code()), (status, code), "{}", a.json);
                    assert!(!a.json["error"]["message"].as_str().unwrap().is_empty());
                }
                let a = call(
                    http.post(url("/uploads"))
                        .bearer_auth(&alice)
                        .body("{not json"),
                )
                .await;
                assert_eq!((a.status, a.code()), (400, "bad_json"), "{}", a.json);
                let a = call(http.get(url("/nothing/here")).bearer_auth(&alice)).await;
                assert_eq!((a.status, a.code()), (404, "no_route"), "{}", a.json);
                let a = call(http.put(url("/uploads")).bearer_auth(&alice)).await;
                assert_eq!(
                    (a.status, a.code()),
                    (405, "method_not_allowed"),
                    "{}",
                    a.json
                );

                // A valid upload.
                let a = call(http.post(url("/uploads")).bearer_auth(&alice).json(&decl)).await;
                assert_eq!(a.status, 201, "{}", a.json);
                let id = a.json["id"].as_str().unwrap().to_owned();
                assert_eq!(a.json["received_bytes"], 0);
                let (name, bytes) = files
                    .iter()
                    .find(|(n, _)| n.starts_with("frames/"))
                    .unwrap();
                let file_url = url(&format!("/uploads/{id}/files/{name}"));
                let patch = |offset: u64, body: Vec<u8>| {
                    http.patch(&file_url)
                        .bearer_auth(&alice)
                        .header("upload-offset", offset)
                        .body(body)
                };

                // Someone else's upload does not exist for them.
                let a = call(http.get(url(&format!("/uploads/{id}"))).bearer_auth(&bob)).await;
                assert_eq!((a.status, a.code()), (404, "not_found"), "{}", a.json);
                let a = call(
                    http.patch(&file_url)
                        .bearer_auth(&bob)
                        .header("upload-offset", 0)
                        .body(bytes[..1000].to_vec()),
                )
                .await;
                assert_eq!(a.status, 404, "{}", a.json);

                // Offsets: a chunk ahead of the server is refused with the server's offset.
                let a = call(patch(1000, bytes[1000..2000].to_vec())).await;
                assert_eq!((a.status, a.code()), (409, "offset_mismatch"), "{}", a.json);
                assert_eq!(
                    (a.offset, a.json["error"]["offset"].as_u64()),
                    (Some(0), Some(0))
                );
                let a = call(patch(0, bytes[..1000].to_vec())).await;
                assert_eq!((a.status, a.offset), (200, Some(1000)), "{}", a.json);
                // The same chunk again changes nothing.
                let a = call(patch(0, bytes[..1000].to_vec())).await;
                assert_eq!((a.status, a.offset), (200, Some(1000)), "{}", a.json);
                assert_eq!(a.json["unchanged"], true);
                // Different bytes where some are stored are a conflict, not an overwrite.
                let a = call(patch(0, vec![0u8; 1000])).await;
                assert_eq!((a.status, a.code()), (409, "chunk_conflict"), "{}", a.json);
                // A chunk overlapping the server's offset must restart there.
                let a = call(patch(500, bytes[500..1500].to_vec())).await;
                assert_eq!((a.status, a.offset), (409, Some(1000)), "{}", a.json);
                let a = call(http.head(&file_url).bearer_auth(&alice)).await;
                assert_eq!((a.status, a.offset), (200, Some(1000)));
                let a = call(patch(1000, vec![0u8; 300_001])).await;
                assert_eq!((a.status, a.code()), (413, "too_large"), "{}", a.json);
                let a = call(patch(1000, bytes[1000..].to_vec())).await;
                assert_eq!(a.status, 200, "{}", a.json);
                let a = call(patch(bytes.len() as u64, vec![1])).await;
                assert_eq!((a.status, a.code()), (400, "past_end"), "{}", a.json);
                let a = call(http.patch(&file_url).bearer_auth(&alice).body(vec![1u8])).await;
                assert_eq!((a.status, a.code()), (400, "missing_offset"), "{}", a.json);
                let a = call(
                    http.patch(url(&format!("/uploads/{id}/files/frames/nope.jpg")))
                        .bearer_auth(&alice)
                        .header("upload-offset", 0)
                        .body(vec![1u8]),
                )
                .await;
                assert_eq!((a.status, a.code()), (404, "not_found"), "{}", a.json);

                // Committing before every byte is there is refused and stores nothing.
                let commit_url = url(&format!("/uploads/{id}/commit"));
                let a = call(http.post(&commit_url).bearer_auth(&alice)).await;
                assert_eq!((a.status, a.code()), (409, "incomplete"), "{}", a.json);

                // Send the rest in 200 kB chunks, then commit.
                for (name, bytes) in &files {
                    let furl = url(&format!("/uploads/{id}/files/{name}"));
                    let mut offset = call(http.head(&furl).bearer_auth(&alice))
                        .await
                        .offset
                        .unwrap();
                    while (offset as usize) < bytes.len() {
                        let end = (offset as usize + 200_000).min(bytes.len());
                        let a = call(
                            http.patch(&furl)
                                .bearer_auth(&alice)
                                .header("upload-offset", offset)
                                .body(bytes[offset as usize..end].to_vec()),
                        )
                        .await;
                        assert_eq!(a.status, 200, "{name}: {}", a.json);
                        offset = a.offset.unwrap();
                    }
                }
                let status =
                    call(http.get(url(&format!("/uploads/{id}"))).bearer_auth(&alice)).await;
                assert_eq!(status.json["received_bytes"], status.json["total_bytes"]);
                let a = call(http.post(&commit_url).bearer_auth(&alice)).await;
                assert_eq!(a.status, 200, "{}", a.json);
                let kept = a.json["summary"]["kept"].as_u64().unwrap();
                assert!(kept >= 10, "{}", a.json);
                assert_eq!(
                    a.json["contributor"], "alice",
                    "the key, not drive.json, names the contributor"
                );
                // Committing again answers the same result and stores nothing more.
                let again = call(http.post(&commit_url).bearer_auth(&alice)).await;
                assert_eq!((again.status, &again.json), (200, &a.json));
                let a = call(patch(0, bytes[..10].to_vec())).await;
                assert_eq!(
                    (a.status, a.code()),
                    (409, "already_committed"),
                    "{}",
                    a.json
                );

                // A file whose bytes do not match its declared hash is reset for resending.
                let mut wrong = declaration("other-drive", &files);
                wrong["files"][0]["sha256"] = "0".repeat(64).into();
                let a = call(http.post(url("/uploads")).bearer_auth(&alice).json(&wrong)).await;
                assert_eq!(a.status, 201, "{}", a.json);
                let other = a.json["id"].as_str().unwrap().to_owned();
                let (name0, bytes0) = &files[0];
                let a = call(
                    http.patch(url(&format!("/uploads/{other}/files/{name0}")))
                        .bearer_auth(&alice)
                        .header("upload-offset", 0)
                        .body(bytes0.clone()),
                )
                .await;
                assert_eq!(
                    (a.status, a.code(), a.offset),
                    (422, "checksum_mismatch", Some(0)),
                    "{}",
                    a.json
                );
                let a = call(
                    http.delete(url(&format!("/uploads/{other}")))
                        .bearer_auth(&alice),
                )
                .await;
                assert_eq!(a.status, 204);
                let a = call(
                    http.get(url(&format!("/uploads/{other}")))
                        .bearer_auth(&alice),
                )
                .await;
                assert_eq!(a.status, 404);
                // The store holds the committed drive's frames once, with alice as contributor.
                kept
            });
        let csv = ok(streetcomb(
            &store,
            &[
                "query",
                "--format",
                "csv",
                "SELECT count(*) AS n, count(DISTINCT frame_id) AS d, min(contributor_id) AS c, min(drive_id) AS dr FROM frames",
            ],
        ));
        let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(
            (row[0], row[1]),
            (kept.to_string().as_str(), row[0]),
            "{csv}"
        );
        assert_eq!(row[2], "alice", "{csv}");
        assert_eq!(
            row[3], "upload-test",
            "the declared drive name is the drive id: {csv}"
        );
    }
}

// ---- the read-only query endpoint and S3 stores ----------------------------------------

/// A store holding `n` rewards-ledger rows (small, no models needed).
fn ledger_rows(n: u64) -> Vec<streetcomb_core::LedgerEntry> {
    let cell = streetcomb_core::CellId::from_latlon(
        streetcomb_core::LatLon::new(60.17, 24.94).unwrap(),
        11,
    )
    .unwrap();
    (0..n)
        .map(|i| streetcomb_core::LedgerEntry {
            epoch: streetcomb_core::Epoch::new(2026, 47).unwrap(),
            contributor: streetcomb_core::ContributorId::new(format!("c{i:03}")).unwrap(),
            cell,
            amount: 1000 + i,
            reason: "coverage".into(),
        })
        .collect()
}

#[test]
fn the_query_endpoint_answers_read_only_sql_within_row_and_time_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("lake");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = streetcomb_datasets::Store::open(store.to_str().unwrap())
            .await
            .unwrap();
        s.write_rewards_ledger(&ledger_rows(50)).await.unwrap();
    });
    let (_server, base) = start_server(&store);
    let url = format!("{base}/query");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let get = |sql: &str| client.get(&url).query(&[("sql", sql)]).send();
        let mut first = None;
        for _ in 0..100 {
            if let Ok(r) =
                get("SELECT count(*) AS n, sum(amount) AS total FROM rewards_ledger").await
            {
                first = Some(r);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let r = first.expect("server did not come up");
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["columns"], serde_json::json!(["n", "total"]), "{v}");
        assert_eq!(v["rows"][0]["n"], 50, "{v}");
        assert_eq!(v["rows"][0]["total"], 50 * 1000 + 49 * 50 / 2, "{v}");
        assert_eq!(v["truncated"], false);

        // POST with a row limit: cut, and says so.
        let r = client
            .post(&url)
            .json(&serde_json::json!({
                "sql": "SELECT contributor_id FROM rewards_ledger ORDER BY contributor_id",
                "limit": 7,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (v["row_count"].as_u64(), v["truncated"].as_bool()),
            (Some(7), Some(true))
        );
        assert_eq!(v["rows"][6]["contributor_id"], "c006", "{v}");

        // Anything but a query is refused before it runs, and nothing changes.
        for sql in [
            "DROP TABLE rewards_ledger",
            "CREATE TABLE x AS SELECT 1",
            "INSERT INTO rewards_ledger SELECT * FROM rewards_ledger",
            "COPY (SELECT 1) TO 'x.csv'",
            "SET datafusion.execution.batch_size = 1",
            "SELECT nope FROM rewards_ledger",
        ] {
            let r = get(sql).await.unwrap();
            assert_eq!(r.status(), 400, "{sql}");
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(
                v["error"].as_str().unwrap().contains("query error"),
                "{sql}: {v}"
            );
        }

        // A query over the time limit is stopped and answered 408.
        let started = std::time::Instant::now();
        let r = client
            .post(&url)
            .json(&serde_json::json!({
                "sql": "SELECT sum(value) FROM generate_series(1, 100000000000)",
                "timeout_ms": 300,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 408);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

        let r = get("SELECT count(*) AS n FROM rewards_ledger")
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["rows"][0]["n"], 50, "{v}");
    });
}

/// moto_server from the venv `make setup` builds ($STREETCOMB_MOTO_SERVER, else the
/// cache), started on a free loopback port with one bucket.
fn start_moto(bucket: &str) -> (KillOnDrop, u16) {
    let path = std::env::var_os("STREETCOMB_MOTO_SERVER")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("STREETCOMB_CACHE")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::path::PathBuf::from(std::env::var_os("HOME").unwrap())
                        .join(".cache/streetcomb")
                })
                .join("venv-moto/bin/moto_server")
        });
    assert!(
        path.is_file(),
        "moto_server {} is missing: run `make setup`",
        path.display()
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = KillOnDrop(
        Command::new(path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client
                .put(format!("http://127.0.0.1:{port}/{bucket}"))
                .send()
                .await
            {
                assert!(
                    r.status().is_success(),
                    "creating the bucket: {}",
                    r.status()
                );
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("moto_server did not come up");
    });
    (server, port)
}

#[test]
fn query_and_compaction_run_on_an_s3_store_named_by_url_with_environment_credentials() {
    let (_moto, port) = start_moto("buyers");
    let env = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ];
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_streetcomb"));
        c.args(["--store", "s3://buyers/lake", "--quiet"])
            .args(args);
        for (k, v) in &env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // Written by the library with explicit options, read by the binary from the env.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = streetcomb_datasets::Store::open_with(
            "s3://buyers/lake",
            env.iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        let rows = ledger_rows(20);
        s.write_rewards_ledger(&rows[..10]).await.unwrap();
        s.append_rewards_ledger(&rows[10..]).await.unwrap();
    });
    let out = ok(run(&[
        "query",
        "SELECT count(*) AS n FROM rewards_ledger",
        "--format",
        "csv",
    ]));
    assert_eq!(out, "n\n20\n");
    let out = ok(run(&["--json", "datasets", "compact", "rewards_ledger"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v[0]["files_before"].as_u64(), v[0]["files_after"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let out = ok(run(&[
        "query",
        "SELECT sum(amount) AS s FROM rewards_ledger",
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["s"], 20 * 1000 + 19 * 20 / 2, "{v}");
}

#[test]
fn rewards_reruns_write_byte_identical_parquet_and_a_proof_verifies_against_the_root() {
    use streetcomb_datasets::Dataset;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(synthetic_store(&dir, 3));
    // Drive 0 ends an hour ago: score its week.
    let epoch =
        streetcomb_core::Epoch::of(chrono::Utc::now() - chrono::Duration::hours(1)).to_string();
    let files = |ds: Dataset| -> Vec<Vec<u8>> {
        let m = rt.block_on(store.manifest(ds)).unwrap().unwrap();
        m.files
            .iter()
            .map(|f| std::fs::read(dir.join(&f.path)).unwrap())
            .collect()
    };
    let run = || {
        ok(streetcomb(
            &dir,
            &["--json", "rewards", "run", "--epoch", &epoch],
        ))
    };
    let first = run();
    let (ledger, summary) = (
        files(Dataset::RewardsLedger),
        files(Dataset::RewardsSummary),
    );
    assert!(!ledger.is_empty() && !summary.is_empty());
    assert_eq!(run(), first);
    assert_eq!(files(Dataset::RewardsLedger), ledger);
    assert_eq!(files(Dataset::RewardsSummary), summary);

    let root = rt
        .block_on(store.datasets())
        .unwrap()
        .into_iter()
        .find(|d| d.name == "rewards_summary")
        .unwrap()
        .metadata[&format!("merkle_root:{epoch}")]
        .clone();
    let proof = ok(streetcomb(
        &dir,
        &["rewards", "proof", "contributor-0", "--epoch", &epoch],
    ));
    let path = tmp.path().join("proof.json");
    std::fs::write(&path, &proof).unwrap();
    let p = path.to_str().unwrap();
    ok(streetcomb(
        &dir,
        &["rewards", "verify", "--proof", p, "--root", &root],
    ));
    // One base unit more and the proof fails.
    let mut v: serde_json::Value = serde_json::from_str(&proof).unwrap();
    v["total"] = (v["total"].as_u64().unwrap() + 1).into();
    std::fs::write(&path, v.to_string()).unwrap();
    let bad = streetcomb(&dir, &["rewards", "verify", "--proof", p, "--root", &root]);
    assert!(!bad.status.success());
    // A rules file with an error is refused, naming the file and the field.
    let rules = tmp.path().join("rules.toml");
    std::fs::write(&rules, "version = 1\nemission = 10\nrefill_days = 0\n").unwrap();
    let out = streetcomb(
        &dir,
        &["rewards", "run", "--config", rules.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("rules.toml") && err.contains("refill_days"),
        "{err}"
    );
}

/// The committed H.264 clip (12 s, 10 fps, B-frames, creation_time 08:00:00Z).
fn video_clip() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/street/video/vtest_clip.mp4")
}

/// A GPX track driving due east from Helsinki at 10 m/s, a fix a second for `secs`
/// seconds from 2026-11-16T08:00:00Z.
fn eastward_gpx(secs: i64) -> String {
    let start = streetcomb_core::LatLon::new(60.17, 24.94).unwrap();
    let mut gpx = String::from(
        "<?xml version=\"1.0\"?>\n<gpx version=\"1.1\" creator=\"test\" xmlns=\"http://www.topografix.com/GPX/1/1\"><trk><trkseg>\n",
    );
    for s in 0..=secs {
        let p = start.destination(90.0, 10.0 * s as f64);
        let t = at("2026-11-16T08:00:00Z") + chrono::Duration::seconds(s);
        gpx.push_str(&format!(
            "<trkpt lat=\"{:.8}\" lon=\"{:.8}\"><time>{}</time></trkpt>\n",
            p.lat(),
            p.lon(),
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    gpx.push_str("</trkseg></trk></gpx>\n");
    gpx
}

#[test]
fn a_video_drive_is_sampled_every_3_m_along_its_track_and_published_through_vision() {
    let tmp = tempfile::tempdir().unwrap();
    let drive = tmp.path().join("video-drive");
    std::fs::create_dir_all(&drive).unwrap();
    std::fs::copy(video_clip(), drive.join("DASHCAM.MP4")).unwrap();
    std::fs::write(drive.join("track.gpx"), eastward_gpx(12)).unwrap();
    // A 120 m drive: the default 500 m privacy trim would keep nothing of it.
    std::fs::write(
        drive.join("drive.json"),
        r#"{"contributor": "cam-1", "privacy_trim_m": 0}"#,
    )
    .unwrap();
    let store = tmp.path().join("data");
    let ingest: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        &store,
        &["--json", "ingest", drive.to_str().unwrap()],
    )))
    .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let read_frames = || {
        rt.block_on(async {
            let s = streetcomb_datasets::Store::open(store.to_str().unwrap())
                .await
                .unwrap();
            let mut f = s.read_frames().await.unwrap();
            f.sort_by_key(|f| f.captured_at);
            f
        })
    };
    let frames = read_frames();
    // The clip's 11.9 s at 10 m/s are 119 m: the first frame and one every 3 m.
    assert!(
        (38..=41).contains(&frames.len()),
        "{} frames; {ingest}",
        frames.len()
    );
    assert_eq!(ingest["kept"].as_u64().unwrap(), frames.len() as u64);
    assert_eq!(frames[0].captured_at, at("2026-11-16T08:00:00Z"));
    for w in frames.windows(2) {
        let d = w[0].pos.distance_m(w[1].pos);
        assert!((2.0..=4.0).contains(&d), "frames {} m apart", d);
        assert!(
            (w[0].heading_deg - 90.0).abs() < 1.0,
            "{}",
            w[0].heading_deg
        );
    }
    assert!(
        frames
            .iter()
            .all(|f| f.camera.width == 640 && f.camera.height == 480)
    );
    assert!(frames.iter().all(|f| !f.image_key.starts_with("images/")));

    let process: serde_json::Value =
        serde_json::from_str(&ok(streetcomb(&store, &["--json", "process"]))).unwrap();
    assert_eq!(
        process["published"].as_u64(),
        Some(frames.len() as u64),
        "{process}"
    );
    ok(streetcomb(&store, &["build"]));
    let published = read_frames();
    assert_eq!(published.len(), frames.len());
    for f in &published {
        assert!(f.image_key.starts_with("images/"), "{}", f.image_key);
        assert!(f.blur.is_some());
        assert!(store.join(&f.image_key).is_file(), "{}", f.image_key);
    }
}

#[test]
fn a_video_drive_without_a_creation_time_or_video_start_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let drive = tmp.path().join("d1");
    std::fs::create_dir_all(&drive).unwrap();
    // The clip with its container metadata (creation_time) stripped.
    let video = drive.join("video.mp4");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(video_clip())
        .args(["-map_metadata", "-1", "-c", "copy"])
        .arg(&video)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(drive.join("track.gpx"), eastward_gpx(12)).unwrap();
    let store = tmp.path().join("data");
    let out = streetcomb(&store, &["ingest", drive.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("video.mp4") && err.contains("creation_time") && err.contains("video_start"),
        "{err}"
    );
    assert!(!store.join("frames").exists(), "no partial output");

    // With video_start in drive.json the same drive goes in.
    std::fs::write(
        drive.join("drive.json"),
        r#"{"video_start": "2026-11-16T08:00:00Z", "privacy_trim_m": 0}"#,
    )
    .unwrap();
    let ingest: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        &store,
        &["--json", "ingest", drive.to_str().unwrap()],
    )))
    .unwrap();
    assert!(ingest["kept"].as_u64().unwrap() >= 38, "{ingest}");
}

#[test]
fn a_video_drive_uploads_over_http_and_is_sampled_by_the_server_at_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let drive = tmp.path().join("vid-up");
    std::fs::create_dir_all(&drive).unwrap();
    std::fs::copy(video_clip(), drive.join("video.mp4")).unwrap();
    std::fs::write(drive.join("track.gpx"), eastward_gpx(12)).unwrap();
    std::fs::write(drive.join("drive.json"), r#"{"privacy_trim_m": 0}"#).unwrap();
    let store = tmp.path().join("data");
    let key: serde_json::Value = serde_json::from_str(&ok(streetcomb(
        &store,
        &["--json", "keys", "create", "cam-7"],
    )))
    .unwrap();
    let (_server, base) = start_server(&store);
    let addr = base.trim_start_matches("http://").to_owned();
    for _ in 0..300 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_streetcomb"))
        .args(["--quiet", "--json", "upload"])
        .arg(&drive)
        .args(["--server", &base])
        .env("STREETCOMB_API_KEY", key["key"].as_str().unwrap())
        .output()
        .unwrap();
    let result: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    let kept = result["summary"]["kept"].as_u64().unwrap();
    assert!((38..=41).contains(&kept), "{result}");
    assert_eq!(result["contributor"], "cam-7");
}
