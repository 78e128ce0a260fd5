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

    ok(streetcomb(&store, &["build"]));
    // Features are recovered near the simulator's ground truth: at least 40 % of the
    // true features seen three times or more are matched within 10 m, at a median
    // error within 7 m per class (the simulated GPS error is sigma 3 m).
    let eval: serde_json::Value =
        serde_json::from_str(&ok(streetcomb(&store, &["--json", "eval", "--truth", d]))).unwrap();
    let classes = eval["classes"].as_array().unwrap();
    let with_truth: Vec<&serde_json::Value> = classes
        .iter()
        .filter(|c| c["truth"].as_u64().unwrap() > 0)
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
    for c in with_truth
        .iter()
        .filter(|c| c["matched"].as_u64().unwrap() > 0)
    {
        assert!(c["median_error_m"].as_f64().unwrap() <= 7.0, "{c}");
    }
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
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let _server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_streetcomb"))
            .arg("--store")
            .arg(store)
            .args(["--quiet", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
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

/// Stops the server even when an assertion fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
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
