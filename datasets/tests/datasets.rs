//! End-to-end tests of the data lake on a temporary local directory: round trips of
//! all six datasets, versioning and crash safety, SQL, GeoParquet output and
//! determinism.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, Float64Array, Int64Array, StringArray, UInt64Array,
};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::reader::{FileReader, SerializedFileReader};
use streetcomb_core::testing::FrameBuilder;
use streetcomb_core::{
    BBox, BlurRecord, Camera, CellId, ContributorId, CoverageCell, Detection, DriveId, Epoch,
    FeatureClass, FeatureId, FeatureStatus, Frame, FrameFlags, IngestDecision, IngestRecord,
    LatLon, LedgerEntry, MapFeature,
};
use streetcomb_datasets::{
    Dataset, Store, StoreError, batches_to_csv, batches_to_json, format_batches,
};
use tempfile::TempDir;

// ---- fixtures -----------------------------------------------------------------------

fn t(secs: i64, micros: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000 + secs, micros * 1000).unwrap()
}

fn pos(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).unwrap()
}

fn frame(drive: &str, n: u32, lat: f64, lon: f64) -> Frame {
    FrameBuilder::new()
        .drive(drive)
        .stem(format!("{n:06}"))
        .contributor(if drive == "d2" { "bob" } else { "alice" })
        .at(t(i64::from(n), n * 37))
        .pos(pos(lat, lon))
        .heading(87.25 + f64::from(n))
        .image_key(format!("images/{drive}/{n:06}.jpg"))
        .content_sha256(format!("{n:064x}"))
        .phash(n.is_multiple_of(2).then_some(u64::from(n) * 0x9e37_79b9))
        .camera(Camera {
            hfov_deg: 94.5,
            mount_yaw_deg: if n.is_multiple_of(2) { 0.0 } else { 90.0 },
            width: 1920,
            height: 1080,
        })
        .flags(FrameFlags {
            interpolated_far: n.is_multiple_of(3),
            impossible_speed: n.is_multiple_of(5),
            replay: n == 7,
            jump: n == 11,
            motion_mismatch: n == 13,
            duplicate_device: n == 17,
        })
        // Odd frames have been through vision, even ones not yet.
        .blur((n % 2 == 1).then(|| BlurRecord {
            models: "centerface@1.0,plate_detector@0.1,coco@1".to_owned(),
            face_threshold: 0.4,
            plate_threshold: 0.3,
            faces: n,
            plates: 2 * n,
            vehicle_bands: n % 3,
        }))
        .build()
}

fn frames() -> Vec<Frame> {
    vec![
        frame("d1", 1, 60.1699, 24.9384),
        frame("d1", 2, 60.1701, 24.9390),
        frame("d1", 3, 60.1705, 24.9402),
        frame("d2", 7, 60.1650, 24.9310),
    ]
}

fn detection(frame: &Frame, class: FeatureClass, x0: f32) -> Detection {
    Detection {
        frame_id: frame.id.clone(),
        class,
        score: 0.875,
        bbox: BBox {
            x0,
            y0: 100.5,
            x1: x0 + 40.0,
            y1: 160.25,
        },
        bearing_deg: 12.5,
        model: "yolo11n-coco@1".into(),
        text: (class == FeatureClass::StopSign).then(|| "STOP".to_owned()),
        value: None,
    }
}

fn detections() -> Vec<Detection> {
    let f = frames();
    vec![
        detection(&f[0], FeatureClass::StopSign, 10.0),
        detection(&f[0], FeatureClass::TrafficLight, 300.0),
        detection(&f[1], FeatureClass::StopSign, 12.0),
        detection(&f[3], FeatureClass::FireHydrant, 640.0),
    ]
}

fn features() -> Vec<MapFeature> {
    vec![
        MapFeature {
            id: FeatureId::new("f-stop-1").unwrap(),
            class: FeatureClass::StopSign,
            pos: pos(60.17, 24.94),
            uncertainty_m: 1.5,
            n_detections: 5,
            n_drives: 2,
            confidence: 0.9,
            first_seen: t(0, 1),
            last_seen: t(3600, 2),
            status: FeatureStatus::Confirmed,
            azimuth_deg: Some(181.5),
            single_view: false,
            value: None,
        },
        MapFeature {
            id: FeatureId::new("f-hydrant-1").unwrap(),
            class: FeatureClass::FireHydrant,
            pos: pos(60.1651, 24.9311),
            uncertainty_m: 4.0,
            n_detections: 1,
            n_drives: 1,
            confidence: 0.4,
            first_seen: t(10, 0),
            last_seen: t(10, 0),
            status: FeatureStatus::New,
            azimuth_deg: None,
            single_view: true,
            value: Some(50),
        },
    ]
}

fn coverage() -> Vec<CoverageCell> {
    frames()
        .iter()
        .map(|f| CoverageCell {
            cell: f.cell,
            contributor: f.contributor.clone(),
            day: NaiveDate::from_ymd_opt(2026, 11, 17).unwrap(),
            last_covered_at: f.captured_at,
            n_frames: 3,
            heading_deg: f.heading_deg,
        })
        .collect()
}

fn ingest_report() -> Vec<IngestRecord> {
    vec![
        IngestRecord {
            drive_id: DriveId::new("d1").unwrap(),
            contributor: ContributorId::new("alice").unwrap(),
            file: "000001.jpg".into(),
            captured_at: Some(t(1, 37)),
            decision: IngestDecision::Kept,
            flags: FrameFlags::default(),
        },
        IngestRecord {
            drive_id: DriveId::new("d1").unwrap(),
            contributor: ContributorId::new("alice").unwrap(),
            file: "000009.jpg".into(),
            captured_at: None,
            decision: IngestDecision::Dropped(streetcomb_core::DropReason::new(
                streetcomb_core::DropKind::GpsGap,
                "no fix within 5 s",
            )),
            flags: FrameFlags {
                interpolated_far: true,
                impossible_speed: false,
                replay: false,
                ..FrameFlags::default()
            },
        },
    ]
}

fn ledger() -> Vec<LedgerEntry> {
    frames()
        .iter()
        .map(|f| LedgerEntry {
            epoch: Epoch::new(2026, 47).unwrap(),
            contributor: f.contributor.clone(),
            cell: f.cell,
            amount: if f.flags.is_fraud() { 0 } else { 1_000_000 },
            reason: if f.flags.is_fraud() {
                "excluded: fraud".into()
            } else {
                "coverage".into()
            },
        })
        .collect()
}

async fn store() -> (TempDir, Store) {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path().join("lake").to_str().unwrap())
        .await
        .unwrap();
    (dir, store)
}

fn lake(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("lake")
}

/// Rows in a canonical order, so sets can be compared whatever the storage order.
fn canonical<T: std::fmt::Debug>(mut rows: Vec<T>) -> Vec<T> {
    rows.sort_by_key(|r| format!("{r:?}"));
    rows
}

/// Asserts that `got` holds the rows of `want`, in any order.
#[track_caller]
fn assert_same_rows<T: std::fmt::Debug + PartialEq>(got: Vec<T>, want: Vec<T>) {
    assert_eq!(canonical(got), canonical(want));
}

/// The data files of the current version of `ds`, as local paths.
async fn data_files(dir: &TempDir, store: &Store, ds: Dataset) -> Vec<std::path::PathBuf> {
    let m = store.manifest(ds).await.unwrap().unwrap();
    m.files.iter().map(|f| lake(dir).join(&f.path)).collect()
}

/// Column `name` of `batch` as an array of type `T`.
fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

/// The first column of the first batch, as an array of type `T`.
fn first_column<T: Clone + 'static>(batches: &[RecordBatch]) -> T {
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
        .clone()
}

/// The `count(*)` a query answered.
fn count(batches: &[RecordBatch]) -> i64 {
    first_column::<Int64Array>(batches).value(0)
}

/// The first column of what `sql` returns, as an array of type `T`.
async fn query_column<T: Clone + 'static>(store: &Store, sql: &str) -> T {
    first_column(&store.query(sql).await.unwrap())
}

/// The `count(*)` that `sql` returns.
async fn query_count(store: &Store, sql: &str) -> i64 {
    count(&store.query(sql).await.unwrap())
}

// ---- round trips ----------------------------------------------------------------------

/// A test that writes `$rows()` to a fresh store with `$write` and reads exactly them
/// back (in any order) with `$read`.
macro_rules! round_trip_test {
    ($name:ident, $rows:ident, $write:ident, $read:ident) => {
        #[tokio::test]
        async fn $name() {
            let (_dir, store) = store().await;
            store.$write(&$rows()).await.unwrap();
            assert_same_rows(store.$read().await.unwrap(), $rows());
        }
    };
}

round_trip_test!(
    frames_read_back_exactly_as_written,
    frames,
    write_frames,
    read_frames
);
round_trip_test!(
    detections_read_back_exactly_as_written,
    detections,
    write_detections,
    read_detections
);
round_trip_test!(
    coverage_reads_back_exactly_as_written,
    coverage,
    write_coverage,
    read_coverage
);
round_trip_test!(
    the_ingest_report_reads_back_exactly_as_written_with_kept_and_dropped_rows,
    ingest_report,
    write_ingest_report,
    read_ingest_report
);
round_trip_test!(
    the_rewards_ledger_reads_back_exactly_as_written,
    ledger,
    write_rewards_ledger,
    read_rewards_ledger
);

#[tokio::test]
async fn features_read_back_exactly_as_written_including_a_missing_azimuth() {
    let (_dir, store) = store().await;
    store.write_features(&features()).await.unwrap();
    let back = canonical(store.read_features().await.unwrap());
    assert_eq!(back, canonical(features()));
    assert!(back.iter().any(|f| f.azimuth_deg.is_none()));
}

#[tokio::test]
async fn a_dataset_never_written_reads_as_empty_and_is_not_listed() {
    let (_dir, store) = store().await;
    assert!(store.read_features().await.unwrap().is_empty());
    assert!(store.datasets().await.unwrap().is_empty());
}

// ---- versions -----------------------------------------------------------------------

#[tokio::test]
async fn appending_then_reading_gives_the_old_rows_and_the_new_rows() {
    let (_dir, store) = store().await;
    let all = frames();
    store.write_frames(&all[..2]).await.unwrap();
    store.append_frames(&all[2..]).await.unwrap();
    store.append_frames(&[]).await.unwrap(); // no-op: no new version
    assert_same_rows(store.read_frames().await.unwrap(), all);
    let info = store.datasets().await.unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(
        (
            info[0].name.as_str(),
            info[0].version,
            info[0].files,
            info[0].rows
        ),
        ("frames", 2, 2, 4)
    );
}

#[tokio::test]
async fn writing_replaces_the_previous_content() {
    let (_dir, store) = store().await;
    let all = frames();
    store.write_frames(&all).await.unwrap();
    store.write_frames(&all[..1]).await.unwrap();
    assert_eq!(store.read_frames().await.unwrap(), all[..1].to_vec());
    store.write_frames(&[]).await.unwrap();
    assert!(store.read_frames().await.unwrap().is_empty());
    let m = store.manifest(Dataset::Frames).await.unwrap().unwrap();
    assert_eq!((m.version, m.files.len()), (3, 0));
}

#[tokio::test]
async fn the_manifest_is_written_in_the_documented_layout() {
    let (dir, store) = store().await;
    store.write_coverage(&coverage()).await.unwrap();
    let text = std::fs::read_to_string(lake(&dir).join("coverage/_manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["schema_version"], 2);
    assert!(
        v["written_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .is_ok()
    );
    let path = v["files"][0]["path"].as_str().unwrap();
    // Hive layout: coverage/date=YYYY-MM-DD/h3_4=<res-4 cell>/part-<uuid>.parquet.
    let segments: Vec<&str> = path.split('/').collect();
    assert_eq!(segments.len(), 4, "{path}");
    assert_eq!(segments[0], "coverage");
    assert!(
        segments[1].starts_with("date=2026-") && segments[2].starts_with("h3_4=8"),
        "{path}"
    );
    assert!(
        segments[3].starts_with("part-") && segments[3].ends_with(".parquet"),
        "{path}"
    );
    let rows: u64 = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(rows, 4);
    let on_disk = std::fs::metadata(lake(&dir).join(path)).unwrap().len();
    assert_eq!(v["files"][0]["bytes"], on_disk);
    assert!(lake(&dir).join("coverage/_manifests/v1.json").exists());
}

#[tokio::test]
async fn orphan_and_half_written_files_outside_the_manifest_are_ignored() {
    let (dir, store) = store().await;
    let all = frames();
    store.write_frames(&all[..2]).await.unwrap();
    // A crash after the data write of version 2 but before its manifest: a complete
    // orphan file and a truncated one, neither listed anywhere.
    let v1 = data_files(&dir, &store, Dataset::Frames).await.remove(0);
    let bytes = std::fs::read(&v1).unwrap();
    let v2 = lake(&dir).join("frames/v2");
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v2.join("part-orphan.parquet"), &bytes).unwrap();
    std::fs::write(v2.join("part-half.parquet"), &bytes[..bytes.len() / 2]).unwrap();

    assert_same_rows(store.read_frames().await.unwrap(), all[..2].to_vec());
    assert_eq!(query_count(&store, "SELECT count(*) FROM frames").await, 2);
    // The next write builds on version 1 and never picks the orphans up.
    store.append_frames(&all[2..]).await.unwrap();
    assert_eq!(store.read_frames().await.unwrap().len(), 4);
    assert_eq!(query_count(&store, "SELECT count(*) FROM frames").await, 4);
}

// ---- SQL --------------------------------------------------------------------------------

#[tokio::test]
async fn sql_counts_rows_and_groups_across_tables() {
    let (_dir, store) = store().await;
    store.write_frames(&frames()).await.unwrap();
    store.write_detections(&detections()).await.unwrap();
    assert_eq!(query_count(&store, "SELECT count(*) FROM frames").await, 4);

    let batches = store
        .query(
            "SELECT f.contributor_id, count(*) AS n FROM detections d \
             JOIN frames f ON d.frame_id = f.frame_id \
             GROUP BY f.contributor_id ORDER BY f.contributor_id",
        )
        .await
        .unwrap();
    let table = format_batches(&batches).unwrap();
    assert!(table.contains("| alice          | 3 |"), "{table}");
    assert!(table.contains("| bob            | 1 |"), "{table}");
}

#[tokio::test]
async fn each_frames_blur_record_is_queryable_and_null_before_vision() {
    let (_dir, store) = store().await;
    let all = frames();
    assert!(all.iter().any(|f| f.blur.is_some()) && all.iter().any(|f| f.blur.is_none()));
    store.write_frames(&all).await.unwrap();
    let batches = store
        .query(
            "SELECT frame_id, blur_models, blur_plate_threshold, blurred_faces, blurred_plates \
             FROM frames ORDER BY frame_id",
        )
        .await
        .unwrap();
    let table = format_batches(&batches).unwrap();
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("| d")).collect();
    assert_eq!(rows.len(), sorted.len(), "{table}");
    for (row, f) in rows.iter().zip(&sorted) {
        assert!(row.contains(f.id.as_str()), "{row}");
        match &f.blur {
            Some(b) => {
                assert!(row.contains(&b.models), "{row}");
                assert!(row.contains(&format!("| {} ", b.plates)), "{row}");
            }
            None => assert!(!row.contains("centerface"), "{row}"),
        }
    }
}

#[tokio::test]
async fn datasets_never_written_are_empty_sql_tables() {
    let (_dir, store) = store().await;
    assert_eq!(
        query_count(&store, "SELECT count(*) FROM rewards_ledger").await,
        0
    );
}

#[tokio::test]
async fn timestamps_and_h3_helpers_work_in_sql() {
    let (_dir, store) = store().await;
    store.write_rewards_ledger(&ledger()).await.unwrap();
    store.write_frames(&frames()).await.unwrap();
    let cell = frames()[0].cell;
    let batches = store
        .query(&format!(
            "SELECT h3_parent(h3, 7) AS p, h3_resolution(h3) AS r, h3_parent(h3, 12) AS finer \
             FROM rewards_ledger WHERE h3 = '{cell}'"
        ))
        .await
        .unwrap();
    let b = &batches[0];
    assert_eq!(b.num_rows(), 1);
    let parent = column::<StringArray>(b, "p");
    assert_eq!(parent.value(0), cell.parent(7).unwrap().to_string());
    assert_eq!(column::<Int64Array>(b, "r").value(0), 11);
    assert!(b.column(2).is_null(0));

    let literal: StringArray = query_column(
        &store,
        &format!("SELECT h3_parent('{cell}', 9) FROM rewards_ledger"),
    )
    .await;
    assert_eq!(literal.len(), 4);
    assert_eq!(literal.value(3), cell.parent(9).unwrap().to_string());

    let total: UInt64Array = query_column(&store, "SELECT sum(amount) FROM rewards_ledger").await;
    assert_eq!(total.value(0), 3_000_000);

    let late = "SELECT count(*) FROM frames WHERE captured_at >= TIMESTAMP '2026-11-18T11:06:43Z'";
    // Frame n is captured at 2026-11-18T11:06:40Z + n s (+ n·37 µs): n = 3 and 7 qualify.
    assert_eq!(query_count(&store, late).await, 2);
}

#[tokio::test]
async fn bad_sql_is_an_error_naming_the_statement() {
    let (_dir, store) = store().await;
    let err = store.query("SELECT nope FROM frames").await.unwrap_err();
    assert!(matches!(err, StoreError::Query { .. }));
    assert!(err.to_string().contains("SELECT nope FROM frames"), "{err}");
}

#[tokio::test]
async fn query_results_export_as_csv_and_json() {
    let (_dir, store) = store().await;
    store.write_ingest_report(&ingest_report()).await.unwrap();
    let batches = store
        .query("SELECT file, decision, reason FROM ingest_report ORDER BY file")
        .await
        .unwrap();
    let csv = String::from_utf8(batches_to_csv(&batches).unwrap()).unwrap();
    assert_eq!(
        csv,
        "file,decision,reason\n000001.jpg,kept,\n000009.jpg,dropped,gps_gap: no fix within 5 s\n"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&batches_to_json(&batches).unwrap()).unwrap();
    assert_eq!(json[1]["reason"], "gps_gap: no fix within 5 s");
    assert!(json[0].get("reason").is_none());
}

// ---- GeoParquet ---------------------------------------------------------------------

/// The key-value metadata in the footer of the first data file of `ds`.
async fn footer_metadata(dir: &TempDir, store: &Store, ds: Dataset) -> Vec<KeyValue> {
    let file = data_files(dir, store, ds).await.remove(0);
    let reader =
        SerializedFileReader::new(bytes::Bytes::from(std::fs::read(&file).unwrap())).unwrap();
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn parquet_footers_carry_valid_geoparquet_metadata_with_the_right_bbox() {
    let (dir, store) = store().await;
    store.write_frames(&frames()).await.unwrap();
    let kv = footer_metadata(&dir, &store, Dataset::Frames).await;
    let geo = kv.iter().find(|kv| kv.key == "geo").unwrap();
    let v: serde_json::Value = serde_json::from_str(geo.value.as_deref().unwrap()).unwrap();
    assert_eq!(v["version"], "1.1.0");
    assert_eq!(v["primary_column"], "geometry");
    let col = &v["columns"]["geometry"];
    assert_eq!(col["encoding"], "WKB");
    assert_eq!(col["geometry_types"], serde_json::json!(["Point"]));
    assert_eq!(
        col["bbox"],
        serde_json::json!([24.931, 60.165, 24.9402, 60.1705])
    );
    assert!(v.get("crs").is_none());
    assert!(
        kv.iter()
            .any(|kv| kv.key == "streetcomb:dataset" && kv.value.as_deref() == Some("frames"))
    );
}

#[tokio::test]
async fn datasets_without_positions_have_no_geo_metadata() {
    let (dir, store) = store().await;
    store.write_detections(&detections()).await.unwrap();
    let kv = footer_metadata(&dir, &store, Dataset::Detections).await;
    assert!(kv.iter().all(|kv| kv.key != "geo"));
}

/// Decodes a little-endian WKB point by hand, independently of the crate.
fn wkb_point(b: &[u8]) -> (f64, f64) {
    assert_eq!(b.len(), 21);
    assert_eq!(b[0], 1, "little endian");
    assert_eq!(u32::from_le_bytes(b[1..5].try_into().unwrap()), 1, "Point");
    (
        f64::from_le_bytes(b[5..13].try_into().unwrap()),
        f64::from_le_bytes(b[13..21].try_into().unwrap()),
    )
}

#[tokio::test]
async fn the_wkb_geometry_decodes_to_the_original_lon_lat() {
    let (dir, store) = store().await;
    store.write_features(&features()).await.unwrap();
    let file = data_files(&dir, &store, Dataset::Features).await.remove(0);
    let bytes = bytes::Bytes::from(std::fs::read(&file).unwrap());
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let b = &batches[0];
    let ids = column::<StringArray>(b, "feature_id");
    let geom = column::<BinaryArray>(b, "geometry");
    let lon = column::<Float64Array>(b, "lon");
    assert_eq!(b.num_rows(), 2);
    for i in 0..b.num_rows() {
        let f = features()
            .into_iter()
            .find(|f| f.id.as_str() == ids.value(i))
            .unwrap();
        assert_eq!(wkb_point(geom.value(i)), (f.pos.lon(), f.pos.lat()));
        assert_eq!(lon.value(i), f.pos.lon());
    }
}

// ---- determinism --------------------------------------------------------------------

#[tokio::test]
async fn writing_the_same_rows_twice_gives_byte_identical_parquet() {
    let (dir, store) = store().await;
    store.write_frames(&frames()).await.unwrap();
    let first_path = data_files(&dir, &store, Dataset::Frames).await.remove(0);
    let first = std::fs::read(&first_path).unwrap();
    // Same rows in another order: sorting makes the file identical anyway.
    let mut reversed = frames();
    reversed.reverse();
    store.write_frames(&reversed).await.unwrap();
    let second = data_files(&dir, &store, Dataset::Frames).await.remove(0);
    assert_ne!(second, first_path);
    assert_eq!(first, std::fs::read(second).unwrap());
    // The replaced version's files are deleted once the new version is committed.
    assert!(!first_path.exists());
}

#[tokio::test]
async fn rows_are_stored_sorted_by_cell_then_time() {
    let (_dir, store) = store().await;
    let mut input = frames();
    input.reverse();
    store.write_frames(&input).await.unwrap();
    let keys: Vec<(u64, DateTime<Utc>)> = store
        .read_frames()
        .await
        .unwrap()
        .iter()
        .map(|f| (f.cell.as_u64(), f.captured_at))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

// ---- errors -------------------------------------------------------------------------

#[tokio::test]
async fn a_garbage_manifest_gives_an_error_naming_its_key() {
    let (dir, store) = store().await;
    store.write_frames(&frames()).await.unwrap();
    std::fs::write(
        lake(&dir).join("frames/_manifest.json"),
        b"{\"version\": tru",
    )
    .unwrap();
    let err = store.read_frames().await.unwrap_err();
    assert!(matches!(err, StoreError::CorruptManifest { .. }), "{err:?}");
    assert!(err.to_string().contains("frames/_manifest.json"), "{err}");
    assert!(store.query("SELECT 1").await.is_err());
    assert!(store.datasets().await.is_err());
}

/// Rewrites the single frames file with column `name` replaced, and commits it.
async fn tamper_frames(dir: &TempDir, store: &Store, name: &str, column: ArrayRef) -> String {
    let file = data_files(dir, store, Dataset::Frames).await.remove(0);
    let bytes = bytes::Bytes::from(std::fs::read(&file).unwrap());
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let schema = builder.schema().clone();
    let batch = builder.build().unwrap().next().unwrap().unwrap();
    let idx = schema.index_of(name).unwrap();
    let mut cols = batch.columns().to_vec();
    cols[idx] = column;
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    // Beside the original, in the same partition folder.
    let rel = file
        .strip_prefix(lake(dir))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let key = format!("{}/part-tampered.parquet", rel.rsplit_once('/').unwrap().0);
    std::fs::write(lake(dir).join(&key), &buf).unwrap();
    let manifest = serde_json::json!({
        "version": 2,
        "files": [{"path": key, "rows": batch.num_rows(), "bytes": buf.len()}],
        "schema_version": 2,
        "written_at": "2026-11-18T09:00:00Z",
    });
    std::fs::write(
        lake(dir).join("frames/_manifest.json"),
        manifest.to_string(),
    )
    .unwrap();
    key
}

#[tokio::test]
async fn an_invalid_row_is_rejected_naming_dataset_file_row_and_column() {
    let (dir, store) = store().await;
    let mut rows = frames();
    rows.truncate(3); // all in distinct cells, stored in cell order
    store.write_frames(&rows).await.unwrap();
    let stored = store.read_frames().await.unwrap();
    let h3: Vec<String> = stored
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 1 {
                "not-a-cell".into()
            } else {
                f.cell.to_string()
            }
        })
        .collect();
    let key = tamper_frames(&dir, &store, "h3", Arc::new(StringArray::from(h3))).await;
    let err = store.read_frames().await.unwrap_err();
    match &err {
        StoreError::InvalidRow {
            dataset,
            file,
            row,
            column,
            ..
        } => assert_eq!(
            (dataset.as_str(), file.as_str(), *row, column.as_str()),
            ("frames", key.as_str(), 1, "h3")
        ),
        other => panic!("expected InvalidRow, got {other:?}"),
    }
    assert!(err.to_string().contains("row 1"), "{err}");
}

#[tokio::test]
async fn a_geometry_that_disagrees_with_lon_lat_is_rejected() {
    let (dir, store) = store().await;
    store.write_frames(&frames()[..1]).await.unwrap();
    let mut wkb = vec![1u8, 1, 0, 0, 0];
    wkb.extend(0.0f64.to_le_bytes());
    wkb.extend(0.0f64.to_le_bytes());
    let geometry: ArrayRef = Arc::new(BinaryArray::from_vec(vec![wkb.as_slice()]));
    tamper_frames(&dir, &store, "geometry", geometry).await;
    let err = store.read_frames().await.unwrap_err().to_string();
    assert!(err.contains("column geometry"), "{err}");
}

// ---- store and blobs ------------------------------------------------------------------

#[tokio::test]
async fn opening_creates_the_directory_and_accepts_file_urls_and_refuses_unknown_schemes() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("a/b/lake");
    let url = format!("file://{}", path.display());
    let store = Store::open(&url).await.unwrap();
    assert!(path.is_dir());
    assert_eq!(store.location(), url);
    store.write_frames(&frames()).await.unwrap();
    assert!(path.join("frames/_manifest.json").is_file());

    for bad in ["gs://bucket/lake", "ftp://host/lake", "s3:///lake"] {
        let err = Store::open(bad).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Unsupported { .. }),
            "{bad}: {err}"
        );
    }
}

#[tokio::test]
async fn blobs_round_trip_overwrite_and_delete_with_a_tag_that_changes_and_a_missing_blob_is_none()
{
    let (dir, store) = store().await;
    let key = "images/d1/000001.jpg";
    assert_eq!(store.get_blob(key).await.unwrap(), None);
    store
        .put_blob(key, vec![0xFF, 0xD8, 1, 2, 3])
        .await
        .unwrap();
    let first = store.blob_tag(key).await.unwrap().unwrap();
    store.put_blob(key, vec![0xFF, 0xD8, 9]).await.unwrap();
    assert_eq!(
        store.get_blob(key).await.unwrap(),
        Some(vec![0xFF, 0xD8, 9])
    );
    // The tag tells a reader the blob was replaced, without reading it.
    let second = store.blob_tag(key).await.unwrap().unwrap();
    assert_ne!(first, second);
    assert_eq!(store.blob_tag(key).await.unwrap(), Some(second));
    assert!(lake(&dir).join(key).is_file());
    store.delete_blob(key).await.unwrap();
    assert_eq!(store.blob_tag(key).await.unwrap(), None);
    store.delete_blob(key).await.unwrap(); // idempotent
    assert_eq!(store.get_blob(key).await.unwrap(), None);
    assert!(matches!(
        store.put_blob("../escape", vec![]).await,
        Err(StoreError::InvalidKey { .. })
    ));
}

#[tokio::test]
async fn a_store_handle_is_shared_across_tasks() {
    let (_dir, store) = store().await;
    let writer = store.clone();
    tokio::spawn(async move { writer.write_coverage(&coverage()).await })
        .await
        .unwrap()
        .unwrap();
    let reader = store.clone();
    let rows = tokio::spawn(async move { reader.read_coverage().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.len(), 4);
    let reader = store.clone();
    let batches = tokio::spawn(async move { reader.query("SELECT count(*) FROM coverage").await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count(&batches), 4);
}

#[test]
fn dataset_names_are_the_sql_table_names() {
    let names: Vec<&str> = Dataset::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(
        names,
        [
            "frames",
            "detections",
            "features",
            "coverage",
            "ingest_report",
            "rewards_ledger",
            "rewards_summary"
        ]
    );
    assert_eq!(
        "ingest_report".parse::<Dataset>().unwrap(),
        Dataset::IngestReport
    );
    assert!(matches!(
        "drives".parse::<Dataset>(),
        Err(StoreError::UnknownDataset(_))
    ));
}

#[tokio::test]
async fn a_data_file_deleted_behind_the_manifests_back_is_an_error_not_an_empty_result() {
    let (dir, store) = store().await;
    store.write_frames(&frames()).await.unwrap();
    let file = data_files(&dir, &store, Dataset::Frames).await.remove(0);
    std::fs::remove_file(&file).unwrap();
    for err in [
        store.read_frames().await.unwrap_err(),
        store
            .query("SELECT count(*) FROM frames")
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::CorruptFile { .. }), "{err:?}");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}

// ---- DuckDB reads the lake without streetcomb ---------------------------------------------
//
// These tests run DuckDB with its spatial extension from the venv that `make setup`
// (scripts/setup.sh) builds in $STREETCOMB_CACHE/venv-duckdb, or from the Python named
// by STREETCOMB_DUCKDB_PYTHON. Without it they fail, saying to run `make setup`.

/// Reads every dataset named on the command line through its `_manifest.json` with
/// DuckDB, and prints what DuckDB sees as JSON. Coordinates are printed with `repr`
/// and parsed by Rust's `str::parse`, which round-trips an f64 exactly.
const DUCKDB_SCRIPT: &str = r#"
import json, pathlib, sys
import duckdb, duckdb_extension_spatial

lake = pathlib.Path(sys.argv[1])
# duckdb-extension-spatial ships DuckDB's signed spatial extension as a file; load it by
# path so nothing is looked up in ~/.duckdb or downloaded.
ext = (pathlib.Path(duckdb_extension_spatial.__file__).parent / "extensions"
       / f"v{duckdb.__version__}" / "spatial.duckdb_extension")
con = duckdb.connect(config={"autoinstall_known_extensions": False,
                             "autoload_known_extensions": False})
con.load_extension(str(ext))
q = lambda sql, files: con.execute(sql, [files]).fetchall()
out = {"duckdb": duckdb.__version__, "datasets": {}}
for name in sys.argv[2:]:
    manifest = json.loads((lake / name / "_manifest.json").read_text())
    files = [str(lake / f["path"]) for f in manifest["files"]]
    columns = {c[0]: c[1] for c in q("DESCRIBE SELECT * FROM read_parquet(?)", files)}
    ds = {
        "rows": q("SELECT count(*) FROM read_parquet(?)", files)[0][0],
        "columns": columns,
        "files": [],
    }
    geometry = "geometry" in columns
    if geometry:
        ds["points"] = [[repr(v) for v in row] for row in q(
            "SELECT ST_X(geometry), ST_Y(geometry), lon, lat FROM read_parquet(?)", files)]
        ds["geometry_types"] = sorted(str(t) for (t,) in q(
            "SELECT DISTINCT ST_GeometryType(geometry) FROM read_parquet(?)", files))
    for path in files:
        geo = q("SELECT decode(value) FROM parquet_kv_metadata(?) WHERE decode(key) = 'geo'", [path])
        entry = {
            "rows": q("SELECT count(*) FROM read_parquet(?)", [path])[0][0],
            "geo": json.loads(geo[0][0]) if geo else None,
        }
        if geometry:
            entry["extent"] = [repr(v) for v in q(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent_Agg(geometry) AS e FROM read_parquet(?))", [path])[0]]
        ds["files"].append(entry)
    # The whole folder, as a buyer without streetcomb would read it: a glob with hive
    # partitioning (only current files are in the folder).
    glob = str(lake / name / "**" / "*.parquet")
    hive = f"read_parquet('{glob}', hive_partitioning = true)"
    ds["hive"] = {
        "rows": con.execute(f"SELECT count(*) FROM {hive}").fetchall()[0][0],
        "columns": {c[0]: c[1] for c in con.execute(f"DESCRIBE SELECT * FROM {hive}").fetchall()},
    }
    if geometry:
        ds["hive"]["points"] = con.execute(
            f"SELECT count(*) FROM {hive} WHERE ST_X(geometry) = lon AND ST_Y(geometry) = lat "
            "AND bbox.xmin = lon AND bbox.ymax = lat").fetchall()[0][0]
    if "date" in ds["hive"]["columns"]:
        ds["hive"]["partitions"] = con.execute(
            f"SELECT count(DISTINCT (date, h3_4)) FROM {hive}").fetchall()[0][0]
    out["datasets"][name] = ds
print(json.dumps(out))
"#;

/// The Python of the DuckDB venv: $STREETCOMB_DUCKDB_PYTHON, else the one set-up made in
/// the cache ($STREETCOMB_CACHE, else $XDG_CACHE_HOME/streetcomb, else ~/.cache/streetcomb).
fn duckdb_python() -> std::path::PathBuf {
    let path = match std::env::var_os("STREETCOMB_DUCKDB_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let cache = std::env::var_os("STREETCOMB_CACHE")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME")
                        .map(std::path::PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME")
                                .map(|h| std::path::PathBuf::from(h).join(".cache"))
                        })
                        .unwrap_or_else(|| ".cache".into())
                        .join("streetcomb")
                });
            cache.join("venv-duckdb/bin/python3")
        }
    };
    assert!(
        path.is_file(),
        "DuckDB's Python {} is missing: run `make setup` (scripts/setup.sh) once, \
         or point STREETCOMB_DUCKDB_PYTHON at a Python with duckdb and duckdb-extension-spatial",
        path.display()
    );
    path
}

/// Per dataset, the (lon, lat) of each row written (`None` for datasets without
/// positions), and of each row of each data file of the manifest, read back in Rust.
struct Written {
    ds: Dataset,
    rows: Vec<Option<(f64, f64)>>,
    files: Vec<Vec<Option<(f64, f64)>>>,
}

/// The (lon, lat) of each row of a data file (`None`s for datasets without positions).
fn file_points(path: &std::path::Path, geometry: bool) -> Vec<Option<(f64, f64)>> {
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap());
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        if !geometry {
            out.extend(std::iter::repeat_n(None, batch.num_rows()));
            continue;
        }
        let col = |n: &str| {
            batch
                .column_by_name(n)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap()
                .clone()
        };
        let (lon, lat) = (col("lon"), col("lat"));
        out.extend((0..batch.num_rows()).map(|i| Some((lon.value(i), lat.value(i)))));
    }
    out
}

/// Writes all six datasets, `frames` as a write and an append, and returns what went
/// in and what each data file holds.
async fn write_the_whole_lake(dir: &TempDir, store: &Store) -> Vec<Written> {
    let all = frames();
    store.write_frames(&all[..2]).await.unwrap();
    store.append_frames(&all[2..]).await.unwrap();
    store.write_detections(&detections()).await.unwrap();
    store.write_features(&features()).await.unwrap();
    store.write_coverage(&coverage()).await.unwrap();
    store.write_ingest_report(&ingest_report()).await.unwrap();
    store.write_rewards_ledger(&ledger()).await.unwrap();

    let at = |p: LatLon| Some((p.lon(), p.lat()));
    let none = |n: usize| vec![None; n];
    let written = [
        (Dataset::Frames, all.iter().map(|f| at(f.pos)).collect()),
        (Dataset::Detections, none(detections().len())),
        (
            Dataset::Features,
            features().iter().map(|f| at(f.pos)).collect(),
        ),
        (
            Dataset::Coverage,
            coverage().iter().map(|c| at(c.cell.center())).collect(),
        ),
        (Dataset::IngestReport, none(ingest_report().len())),
        (Dataset::RewardsLedger, none(ledger().len())),
    ];
    let mut out = Vec::new();
    for (ds, rows) in written {
        let files = data_files(dir, store, ds)
            .await
            .iter()
            .map(|p| file_points(p, ds.has_geometry()))
            .collect();
        out.push(Written { ds, rows, files });
    }
    out
}

/// Writes the whole lake and returns what DuckDB reports about it, with what was written.
async fn duckdb_reads_the_lake() -> (Vec<Written>, serde_json::Value) {
    let python = duckdb_python();
    let (dir, store) = store().await;
    let written = write_the_whole_lake(&dir, &store).await;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(lake(&dir))
        .args(written.iter().map(|w| w.ds.name()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "DuckDB failed to read the lake ({}):\n{stderr}\n{stdout}",
        out.status
    );
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("DuckDB's report is not JSON ({e}):\n{stdout}\n{stderr}"));
    (written, report)
}

/// A coordinate printed by Python's `repr`, parsed exactly.
fn coord(v: &serde_json::Value) -> f64 {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a repr string, got {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v} is not a float: {e}"))
}

fn sorted_points(mut points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    points
}

#[tokio::test]
async fn duckdb_reads_every_dataset_through_its_manifest_with_the_row_counts_written() {
    let (written, report) = duckdb_reads_the_lake().await;
    assert_eq!(report["datasets"].as_object().unwrap().len(), 6, "{report}");
    for w in &written {
        let seen = &report["datasets"][w.ds.name()];
        let per_file: Vec<u64> = w.files.iter().map(|f| f.len() as u64).collect();
        let duckdb_per_file: Vec<u64> = seen["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rows"].as_u64().unwrap())
            .collect();
        assert_eq!(duckdb_per_file, per_file, "{}: {seen}", w.ds);
        assert_eq!(
            seen["rows"].as_u64(),
            Some(w.rows.len() as u64),
            "{}: {seen}",
            w.ds
        );
        // Every column of the schema plus the hive partition columns (DuckDB detects
        // the `name=value` folders), and no other.
        let mut columns: Vec<&String> = seen["columns"].as_object().unwrap().keys().collect();
        columns.sort_unstable();
        let schema = streetcomb_datasets::schema::of(w.ds);
        let partition = streetcomb_datasets::partition::columns(w.ds);
        let mut expected: Vec<&String> = schema
            .fields()
            .iter()
            .map(|f| f.name())
            .chain(partition.iter().map(|f| f.name()))
            .collect();
        expected.sort_unstable();
        assert_eq!(columns, expected, "{}", w.ds);
    }
}

#[tokio::test]
async fn duckdb_reads_each_dataset_folder_with_hive_partitioning_as_the_rows_written() {
    let (written, report) = duckdb_reads_the_lake().await;
    for w in &written {
        let hive = &report["datasets"][w.ds.name()]["hive"];
        assert_eq!(
            hive["rows"].as_u64(),
            Some(w.rows.len() as u64),
            "{}: {hive}",
            w.ds
        );
        let columns = hive["columns"].as_object().unwrap();
        for f in streetcomb_datasets::partition::columns(w.ds) {
            assert!(columns.contains_key(f.name()), "{}: {hive}", w.ds);
        }
        if w.ds.has_geometry() {
            // The partition columns come typed from the folder names.
            assert_eq!(hive["columns"]["date"], "DATE", "{}: {hive}", w.ds);
            assert_eq!(hive["columns"]["h3_4"], "VARCHAR", "{}: {hive}", w.ds);
            assert_eq!(
                hive["columns"]["geometry"], "GEOMETRY('OGC:CRS84')",
                "{}",
                w.ds
            );
            // Every row's geometry and covering bbox agree with its lon/lat.
            assert_eq!(
                hive["points"].as_u64(),
                Some(w.rows.len() as u64),
                "{}",
                w.ds
            );
            assert!(hive["partitions"].as_u64().unwrap() >= 1, "{}", w.ds);
        }
    }
}

#[tokio::test]
async fn duckdb_spatial_reads_the_geometry_columns_as_points_at_the_written_lon_lat() {
    let (written, report) = duckdb_reads_the_lake().await;
    for w in &written {
        let seen = &report["datasets"][w.ds.name()];
        let ty = &seen["columns"]["geometry"];
        if !w.ds.has_geometry() {
            assert!(ty.is_null(), "{}: {seen}", w.ds);
            assert!(seen.get("points").is_none(), "{}: {seen}", w.ds);
            continue;
        }
        // GeoParquet recognised: the WKB column arrives as GEOMETRY, not BLOB, and the
        // `geo` metadata without a `crs` is read as the GeoParquet default, lon/lat WGS84.
        assert_eq!(ty, "GEOMETRY('OGC:CRS84')", "{}: {seen}", w.ds);
        assert_eq!(
            seen["geometry_types"],
            serde_json::json!(["POINT"]),
            "{}",
            w.ds
        );
        let rows = seen["points"].as_array().unwrap();
        let mut from_geometry = Vec::new();
        for row in rows {
            let [x, y, lon, lat] = [0, 1, 2, 3].map(|i| coord(&row[i]));
            assert_eq!((x, y), (lon, lat), "{}: ST_X/ST_Y vs lon/lat", w.ds);
            from_geometry.push((x, y));
        }
        let expected: Vec<(f64, f64)> = w.rows.iter().map(|p| p.unwrap()).collect();
        assert_eq!(
            sorted_points(from_geometry),
            sorted_points(expected),
            "{}",
            w.ds
        );
    }
}

#[tokio::test]
async fn duckdb_finds_geoparquet_metadata_whose_bbox_matches_each_files_points() {
    let (written, report) = duckdb_reads_the_lake().await;
    for w in &written {
        let files = report["datasets"][w.ds.name()]["files"].as_array().unwrap();
        assert_eq!(files.len(), w.files.len(), "{}", w.ds);
        for (file, rows) in files.iter().zip(&w.files) {
            let geo = &file["geo"];
            if !w.ds.has_geometry() {
                assert!(geo.is_null(), "{}: {file}", w.ds);
                continue;
            }
            assert_eq!(geo["version"], "1.1.0", "{}: {file}", w.ds);
            assert_eq!(geo["primary_column"], "geometry", "{}: {file}", w.ds);
            let col = &geo["columns"]["geometry"];
            assert_eq!(col["encoding"], "WKB", "{}: {file}", w.ds);
            assert_eq!(col["geometry_types"], serde_json::json!(["Point"]));
            let (lons, lats): (Vec<f64>, Vec<f64>) = rows.iter().map(|p| p.unwrap()).unzip();
            let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let expected = [min(&lons), min(&lats), max(&lons), max(&lats)];
            let bbox: Vec<f64> = col["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            // serde_json's default float parsing may be off by one ulp: compare closely.
            assert_eq!(bbox.len(), 4, "{}: {file}", w.ds);
            for (got, want) in bbox.iter().zip(expected) {
                assert!(
                    (got - want).abs() < 1e-9,
                    "{}: bbox {bbox:?} vs {expected:?}",
                    w.ds
                );
            }
            // DuckDB's own extent of the geometries is exactly the points written.
            let extent: Vec<f64> = file["extent"]
                .as_array()
                .unwrap()
                .iter()
                .map(coord)
                .collect();
            assert_eq!(extent, expected, "{}: DuckDB's extent", w.ds);
        }
    }
}

// ---- partitions, pruning and compaction ------------------------------------------------

/// Frames over three days in two far-apart cities (Helsinki and Tampere: different
/// resolution-4 cells), `per` frames per day and city.
fn spread_frames(per: u32) -> Vec<Frame> {
    let mut out = Vec::new();
    for day in 0..3u32 {
        for (drive, lat, lon) in [("hel", 60.1699, 24.9384), ("tre", 61.4978, 23.7610)] {
            for i in 0..per {
                let n = day * 1000 + i;
                let mut f = frame(
                    &format!("{drive}{day}"),
                    n,
                    lat + f64::from(i) * 1e-4,
                    lon + f64::from(i) * 1e-4,
                );
                f.captured_at = t(i64::from(day) * 86_400 + i64::from(i), 0);
                out.push(f);
            }
        }
    }
    out
}

/// The data files a query's physical plan opens.
async fn files_scanned(store: &Store, sql: &str) -> usize {
    let ctx = store.session().await.unwrap();
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let text = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    text.matches(".parquet").count()
}

/// Bytes the Parquet scans of `sql` read from the store.
async fn bytes_scanned(store: &Store, sql: &str) -> u64 {
    store.query_with_stats(sql).await.unwrap().1.bytes_scanned
}

#[tokio::test]
async fn rows_are_written_into_one_file_per_day_and_coarse_cell() {
    let (dir, store) = store().await;
    let rows = spread_frames(5);
    store.write_frames(&rows).await.unwrap();
    let m = store.manifest(Dataset::Frames).await.unwrap().unwrap();
    assert_eq!(m.files.len(), 6);
    for f in &m.files {
        let (day, cell) = {
            let s: Vec<&str> = f.path.split('/').collect();
            (s[1].to_owned(), s[2].to_owned())
        };
        assert!(day.starts_with("date=2026-11-"), "{}", f.path);
        assert!(cell.starts_with("h3_4="), "{}", f.path);
        assert_eq!(f.rows, 5, "{}", f.path);
        // Every row of the file belongs to the folder's day and cell.
        let path = lake(&dir).join(&f.path);
        let got = file_points(&path, true);
        assert_eq!(got.len(), 5);
    }
    assert_same_rows(store.read_frames().await.unwrap(), rows);
}

#[tokio::test]
async fn partition_columns_are_queryable_and_filters_on_them_skip_files() {
    let (_dir, store) = store().await;
    let rows = spread_frames(5);
    store.write_frames(&rows).await.unwrap();
    let hel = CellId::from_latlon(pos(60.1699, 24.9384), 11)
        .unwrap()
        .parent(4)
        .unwrap();
    let day = rows[0].captured_at.date_naive();

    assert_eq!(
        files_scanned(&store, "SELECT count(*) FROM frames").await,
        6
    );
    let one_day = format!("SELECT count(*) FROM frames WHERE date = DATE '{day}'");
    assert_eq!(files_scanned(&store, &one_day).await, 2);
    assert_eq!(query_count(&store, &one_day).await, 10);
    let day_and_city =
        format!("SELECT count(*) FROM frames WHERE date = DATE '{day}' AND h3_4 = '{hel}'");
    assert_eq!(files_scanned(&store, &day_and_city).await, 1);
    assert_eq!(query_count(&store, &day_and_city).await, 5);
    // Reading one of six files reads well under half the bytes of a full scan.
    let all_bytes = bytes_scanned(&store, "SELECT * FROM frames").await;
    let some_bytes = bytes_scanned(
        &store,
        &format!("SELECT * FROM frames WHERE date = DATE '{day}' AND h3_4 = '{hel}'"),
    )
    .await;
    assert!(all_bytes > 0 && some_bytes > 0, "{all_bytes} {some_bytes}");
    assert!(some_bytes * 3 < all_bytes, "{some_bytes} of {all_bytes}");
    // A filter that no partition satisfies reads nothing and still plans.
    let none = "SELECT count(*) FROM frames WHERE date < DATE '2000-01-01'";
    assert_eq!(files_scanned(&store, none).await, 0);
    assert_eq!(query_count(&store, none).await, 0);
}

#[tokio::test]
async fn bbox_intersects_matches_the_points_inside_the_box() {
    let (_dir, store) = store().await;
    let rows = spread_frames(5);
    store.write_frames(&rows).await.unwrap();
    let (x0, y0, x1, y1) = (24.9, 60.1, 25.0, 60.17015);
    let expected = rows
        .iter()
        .filter(|f| (x0..=x1).contains(&f.pos.lon()) && (y0..=y1).contains(&f.pos.lat()))
        .count();
    assert!(expected > 0 && expected < rows.len());
    let sql =
        format!("SELECT count(*) FROM frames WHERE bbox_intersects(bbox, {x0}, {y0}, {x1}, {y1})");
    assert_eq!(query_count(&store, &sql).await, expected as i64);
    // The same as plain predicates on the covering columns.
    let plain = format!(
        "SELECT count(*) FROM frames WHERE bbox.xmin <= {x1} AND bbox.xmax >= {x0} \
         AND bbox.ymin <= {y1} AND bbox.ymax >= {y0}"
    );
    assert_eq!(query_count(&store, &plain).await, expected as i64);
}

#[tokio::test]
async fn many_small_appends_compact_into_one_file_per_partition_with_identical_content() {
    let (dir, store) = store().await;
    let rows = spread_frames(4);
    for chunk in rows.chunks(3) {
        store.append_frames(chunk).await.unwrap();
    }
    let before = store.manifest(Dataset::Frames).await.unwrap().unwrap();
    assert!(before.files.len() > 6, "{}", before.files.len());
    let report = store.compact(Dataset::Frames).await.unwrap();
    assert_eq!(report.files_before, before.files.len());
    assert_eq!(report.files_after, 6);
    let after = store.manifest(Dataset::Frames).await.unwrap().unwrap();
    assert_eq!(after.files.len(), 6);
    assert_eq!(after.rows(), rows.len() as u64);
    assert_same_rows(store.read_frames().await.unwrap(), rows.clone());
    assert_eq!(
        query_count(&store, "SELECT count(*) FROM frames").await,
        rows.len() as i64
    );
    // Only the compacted files remain on disk.
    for f in &before.files {
        assert!(!lake(&dir).join(&f.path).exists(), "{}", f.path);
    }
}

#[tokio::test]
async fn read_only_queries_refuse_ddl_dml_and_statements_and_cut_rows_at_the_limit() {
    let (dir, store) = store().await;
    store.write_frames(&spread_frames(5)).await.unwrap();
    let (batches, truncated) = store
        .query_read_only("SELECT frame_id FROM frames ORDER BY frame_id", 7)
        .await
        .unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 7);
    assert!(truncated);
    let (batches, truncated) = store
        .query_read_only("SELECT count(*) FROM frames", 7)
        .await
        .unwrap();
    assert_eq!((count(&batches), truncated), (30, false));
    let out = dir.path().join("out.csv");
    for bad in [
        "CREATE TABLE x AS SELECT 1".to_owned(),
        "DROP TABLE frames".to_owned(),
        "INSERT INTO frames SELECT * FROM frames".to_owned(),
        format!("COPY (SELECT 1) TO '{}'", out.display()),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        format!(
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}'",
            out.display()
        ),
    ] {
        let err = store.query_read_only(&bad, 10).await.unwrap_err();
        assert!(matches!(err, StoreError::Query { .. }), "{bad}: {err}");
    }
    assert!(!out.exists());
    assert_eq!(store.read_frames().await.unwrap().len(), 30);
}

// ---- S3 ---------------------------------------------------------------------------------
//
// Against moto's S3-compatible server, started on a free loopback port by each test from
// the venv that `make setup` builds ($STREETCOMB_MOTO_SERVER, else
// $STREETCOMB_CACHE/venv-moto/bin/moto_server).

const BUCKET: &str = "streetcomb-test";

/// A running moto_server, killed on drop.
struct Moto {
    child: std::process::Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> std::path::PathBuf {
    let path = match std::env::var_os("STREETCOMB_MOTO_SERVER").filter(|p| !p.is_empty()) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::var_os("STREETCOMB_CACHE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(std::path::PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
                    })
                    .unwrap_or_else(|| ".cache".into())
                    .join("streetcomb")
            })
            .join("venv-moto/bin/moto_server"),
    };
    assert!(
        path.is_file(),
        "moto_server {} is missing: run `make setup` (scripts/setup.sh) once, \
         or point STREETCOMB_MOTO_SERVER at a moto_server executable",
        path.display()
    );
    path
}

/// One plain HTTP/1.1 request; the status code, or `None` if the server is not up.
fn http_status(port: u16, method: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

/// Starts moto_server on a free port and creates [`BUCKET`].
fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto { child, port };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match http_status(port, "PUT", &format!("/{BUCKET}")) {
            Some(200) => return moto,
            Some(code) => panic!("moto_server answered {code} to creating the bucket"),
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            None => panic!("moto_server did not come up on port {port}"),
        }
    }
}

async fn s3_store(moto: &Moto, prefix: &str) -> Store {
    Store::open_with(
        &format!("s3://{BUCKET}/{prefix}"),
        [
            ("aws_endpoint", format!("http://127.0.0.1:{}", moto.port)),
            ("aws_allow_http", "true".to_owned()),
            ("aws_access_key_id", "test".to_owned()),
            ("aws_secret_access_key", "test".to_owned()),
            ("aws_region", "us-east-1".to_owned()),
        ],
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dataset_round_trips_through_a_real_s3_server_and_sql_prunes_there_too() {
    let moto = start_moto();
    let store = s3_store(&moto, "lake/one").await;
    let rows = spread_frames(5);
    store.write_frames(&rows).await.unwrap();
    store.write_detections(&detections()).await.unwrap();
    store.write_features(&features()).await.unwrap();
    store.write_coverage(&coverage()).await.unwrap();
    store.write_ingest_report(&ingest_report()).await.unwrap();
    store.write_rewards_ledger(&ledger()).await.unwrap();

    assert_same_rows(store.read_frames().await.unwrap(), rows.clone());
    assert_eq!(
        store.read_detections().await.unwrap(),
        canonical(detections())
    );
    assert_same_rows(store.read_features().await.unwrap(), features());
    assert_same_rows(store.read_coverage().await.unwrap(), coverage());
    assert_same_rows(store.read_ingest_report().await.unwrap(), ingest_report());
    assert_same_rows(store.read_rewards_ledger().await.unwrap(), ledger());
    assert_eq!(store.datasets().await.unwrap().len(), 6);

    // The manifests and hive folders are real objects under the prefix, as a client
    // of the whole bucket sees them.
    let bucket = s3_store(&moto, "").await.object_store();
    let head = |key: String| {
        let bucket = bucket.clone();
        async move {
            use object_store::ObjectStoreExt;
            bucket
                .head(&object_store::path::Path::from(key.as_str()))
                .await
        }
    };
    assert!(head("lake/one/frames/_manifest.json".into()).await.is_ok());
    assert!(
        head("lake/one/frames/_manifests/v1.json".into())
            .await
            .is_ok()
    );
    let m = store.manifest(Dataset::Frames).await.unwrap().unwrap();
    assert_eq!(m.files.len(), 6);
    for f in &m.files {
        assert!(f.path.starts_with("frames/date="), "{}", f.path);
        let meta = head(format!("lake/one/{}", f.path)).await.unwrap();
        assert_eq!(meta.size, f.bytes);
    }

    // DataFusion reads through the same S3 client, with partition pruning.
    assert_eq!(query_count(&store, "SELECT count(*) FROM frames").await, 30);
    let day = rows[0].captured_at.date_naive();
    let one_day = format!("SELECT count(*) FROM frames WHERE date = DATE '{day}'");
    assert_eq!(query_count(&store, &one_day).await, 10);
    assert_eq!(files_scanned(&store, &one_day).await, 2);
    let joined = "SELECT count(*) FROM detections d JOIN frames f ON d.frame_id = f.frame_id";
    assert_eq!(query_count(&store, joined).await, 0);

    // Appends, compaction and replacement work there as well.
    store.append_frames(&rows[..3]).await.unwrap();
    let r = store.compact(Dataset::Frames).await.unwrap();
    assert_eq!((r.files_before, r.files_after), (7, 6));
    assert_eq!(store.read_frames().await.unwrap().len(), 33);
    store.write_frames(&rows[..1]).await.unwrap();
    assert_eq!(query_count(&store, "SELECT count(*) FROM frames").await, 1);
    // Another prefix in the same bucket is another, empty lake.
    let other = s3_store(&moto, "lake/two").await;
    assert!(other.datasets().await.unwrap().is_empty());
    assert!(other.read_frames().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_a_crashed_write_leaves_the_previous_version_and_blobs_round_trip() {
    let moto = start_moto();
    let store = s3_store(&moto, "crash").await;
    store.write_frames(&frames()).await.unwrap();
    // A writer that dies after its data files but before the manifest: simulated by
    // putting a data file where the next version would, and never committing.
    use object_store::ObjectStoreExt;
    let objects = store.object_store();
    let m = store.manifest(Dataset::Frames).await.unwrap().unwrap();
    let first = object_store::path::Path::from(m.files[0].path.as_str());
    let bytes = objects.get(&first).await.unwrap().bytes().await.unwrap();
    let orphan = format!(
        "{}/part-orphan.parquet",
        m.files[0].path.rsplit_once('/').unwrap().0
    );
    objects
        .put(
            &object_store::path::Path::from(orphan.as_str()),
            bytes.into(),
        )
        .await
        .unwrap();
    assert_same_rows(store.read_frames().await.unwrap(), frames());
    assert_eq!(query_count(&store, "SELECT count(*) FROM frames").await, 4);
    store
        .put_blob("images/d1/000001.jpg", b"jpeg".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store.get_blob("images/d1/000001.jpg").await.unwrap(),
        Some(b"jpeg".to_vec())
    );
    store.delete_blob("images/d1/000001.jpg").await.unwrap();
    assert_eq!(store.get_blob("images/d1/000001.jpg").await.unwrap(), None);
}
