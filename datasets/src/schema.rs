//! The Arrow/Parquet schemas of the seven datasets (schema version 2).
//!
//! Columns are flat and use only types that DuckDB, Spark, pandas and GDAL read
//! without extensions. Common conventions:
//!
//! * Timestamps are `Timestamp(Microsecond, "UTC")`; sub-microsecond parts of a
//!   `DateTime<Utc>` are truncated on write (floor), so a round trip is exact for
//!   microsecond-precision times.
//! * Positions are `lon`, `lat` (`Float64`, WGS84 degrees) **and** `geometry`
//!   (`Binary`, a little-endian WKB Point `(lon, lat)`); files of these datasets carry
//!   GeoParquet 1.1 `geo` metadata (see [`crate::geoparquet`]), CRS OGC:CRS84, plus
//!   `bbox`, the GeoParquet 1.1 *covering* column (`Struct<xmin, ymin, xmax, ymax:
//!   Float64>`, declared under `covering` in the `geo` metadata), so readers can filter
//!   on plain columns with row-group statistics instead of decoding WKB.
//! * H3 cells are `h3` (`Utf8`), the 15-character lowercase hex index (DuckDB's
//!   `h3_string_to_h3`, Spark's `h3_stringtoh3` accept it).
//! * Ids are `Utf8` in the safe alphabet of `streetcomb_core::ids`.
//! * Columns are non-null unless marked *nullable*.
//!
//! Rows are sorted before writing (key below) so that nearby rows share row groups
//! and pages: range filters on `h3`, `lon`/`lat` or time skip most of a file. Read
//! order is the storage order: files in manifest order, rows in sort-key order within
//! a file. Row groups hold at most [`crate::store::ROW_GROUP_ROWS`] rows, with
//! column statistics and the page index written, so readers prune row groups and pages.
//!
//! ## Versions
//!
//! [`SCHEMA_VERSION`] is written into every manifest (`schema_version`) and every
//! Parquet footer (key `streetcomb:schema_version`, beside `streetcomb:dataset`).
//! Version 2 added the `bbox` covering column and the hive partition layout (see
//! [`crate::partition`]); version 1 stores must be rewritten.
//!
//! ## Partition columns
//!
//! Files live in hive-style folders (`frames/date=2026-11-16/h3_4=84089…/part-….parquet`,
//! see [`crate::partition`]). The partition columns are **not** stored inside the
//! files; DataFusion (`streetcomb query`) adds them to every table, and DuckDB or Spark
//! add them with `hive_partitioning`. Filtering on them skips whole files.
//!
//! | dataset | partition columns |
//! |---|---|
//! | `frames` | `date` (Date, UTC day of `captured_at`), `h3_4` (Utf8, resolution-4 parent of `h3`) |
//! | `features` | `date` (UTC day of `last_seen`), `h3_4` (parent of `h3`) |
//! | `coverage` | `date` (= `day`), `h3_4` (parent of `h3`) |
//! | `detections`, `ingest_report`, `rewards_ledger` | none (small, and keyed by drive or `epoch` already) |
//!
//! ## `frames` — kept, geotagged frames (`Frame`), sorted by `h3`, `captured_at`, `frame_id`
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `frame_id` | Utf8 | `{drive_id}/{file stem}` |
//! | `drive_id` | Utf8 | the drive |
//! | `contributor_id` | Utf8 | who drove |
//! | `captured_at` | Timestamp(µs, UTC) | capture time |
//! | `lon`, `lat` | Float64 | geotagged position, degrees |
//! | `geometry` | Binary | WKB Point of `lon`, `lat` |
//! | `bbox` | Struct | covering box of `geometry` (a point: `xmin` = `xmax` = `lon`, `ymin` = `ymax` = `lat`) |
//! | `heading` | Float64 | direction of travel, degrees clockwise from north |
//! | `h3` | Utf8 | cell holding the position (resolution chosen by ingest) |
//! | `image_key` | Utf8 | input file name, or the blob key of the blurred image |
//! | `content_sha256` | Utf8 | sha256 of the raw image bytes, hex |
//! | `phash` | UInt64, nullable | 64-bit DCT perceptual hash of the raw image |
//! | `camera_hfov` | Float64 | horizontal field of view, degrees |
//! | `camera_yaw` | Float64 | mount yaw relative to travel, degrees clockwise |
//! | `width`, `height` | UInt32 | image size, pixels |
//! | `flag_interpolated_far` | Boolean | time far from any real GPS fix |
//! | `flag_impossible_speed` | Boolean | implied speed impossible |
//! | `flag_replay` | Boolean | image seen before |
//! | `flag_jump` | Boolean | position teleported between fixes |
//! | `flag_motion_mismatch` | Boolean | GPS motion disagrees with the imagery's motion |
//! | `flag_duplicate_device` | Boolean | same drive uploaded from another device |
//! | `blur_models` | Utf8, nullable | `name@version` of every vision model that ran on the frame, comma-separated; null until vision ran |
//! | `blur_face_threshold`, `blur_plate_threshold` | Float32, nullable | the score thresholds vision used |
//! | `blurred_faces`, `blurred_plates`, `blurred_vehicle_bands` | UInt32, nullable | regions blurred, by kind |
//!
//! ## `detections` — detections in frames (`Detection`), sorted by `frame_id`, `class`, box
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `frame_id` | Utf8 | frame the detection is in (joins `frames.frame_id`) |
//! | `class` | Utf8 | `stop_sign`, `traffic_light`, `fire_hydrant`, `parking_meter`, `speed_limit`, `give_way`, `no_entry`, `no_left_turn`, `no_right_turn`, `no_u_turn`, `pedestrian_crossing` |
//! | `score` | Float32 | detector confidence 0..1 |
//! | `x0`, `y0`, `x1`, `y1` | Float32 | box in image pixels |
//! | `bearing` | Float64 | compass bearing camera → box centre, degrees |
//! | `model` | Utf8 | model name and version |
//! | `text` | Utf8, nullable | text read on the sign (its word or number), when its class is read |
//! | `value` | UInt32, nullable | the number a `speed_limit` sign shows (km/h), when read |
//!
//! ## `features` — positioned map features (`MapFeature`), sorted by `h3`, `feature_id`
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `feature_id` | Utf8 | stable feature id |
//! | `class` | Utf8 | as in `detections` |
//! | `lon`, `lat` | Float64 | estimated position, degrees |
//! | `geometry` | Binary | WKB Point of `lon`, `lat` |
//! | `bbox` | Struct | covering box of `geometry` (a point: `xmin` = `xmax` = `lon`, `ymin` = `ymax` = `lat`) |
//! | `h3` | Utf8 | resolution-11 cell of the position (derived; for joins with `coverage`) |
//! | `uncertainty_m` | Float64 | 1-sigma horizontal uncertainty, metres |
//! | `n_detections` | UInt32 | detections fused |
//! | `n_drives` | UInt32 | distinct drives that saw it |
//! | `confidence` | Float64 | 0..1 |
//! | `first_seen`, `last_seen` | Timestamp(µs, UTC) | first and last sighting |
//! | `status` | Utf8 | `new`, `confirmed`, `moved`, `removed` |
//! | `azimuth` | Float64, *nullable* | direction the feature faces, degrees |
//! | `single_view` | Boolean | position from one view and the box size |
//! | `value` | UInt32, nullable | the number the sign shows (a `speed_limit`'s km/h): the weighted vote of its detections |
//!
//! ## `coverage` — coverage per cell, contributor, day and direction of travel (`CoverageCell`), sorted by `h3`, `day`, `contributor_id`
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `h3` | Utf8 | the cell |
//! | `contributor_id` | Utf8 | who covered it |
//! | `day` | Date32 | UTC day |
//! | `last_covered_at` | Timestamp(µs, UTC) | latest frame in the cell that day, in this direction |
//! | `n_frames` | UInt32 | frames in the cell that day, in this direction |
//! | `heading` | Float64 | mean direction of travel, degrees (passes within 60° of each other are one direction) |
//! | `lon`, `lat` | Float64 | cell centre (derived from `h3`) |
//! | `geometry` | Binary | WKB Point of the cell centre |
//! | `bbox` | Struct | covering box of `geometry` |
//!
//! ## `ingest_report` — every input frame and the ingest decision (`IngestRecord`), sorted by `drive_id`, `file`
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `drive_id` | Utf8 | the drive |
//! | `contributor_id` | Utf8 | who uploaded it |
//! | `file` | Utf8 | input file name in the drive's `frames/` folder |
//! | `captured_at` | Timestamp(µs, UTC), *nullable* | capture time, when known |
//! | `decision` | Utf8 | `kept` or `dropped` |
//! | `reason` | Utf8, *nullable* | why it was dropped; null exactly when kept |
//! | `flag_*` (six) | Boolean | as in `frames` |
//!
//! ## `rewards_ledger` — rewards per epoch, contributor and cell (`LedgerEntry`), sorted by `epoch`, `contributor_id`, `h3`, `reason`
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `epoch` | Utf8 | ISO week, `2026-W47` |
//! | `contributor_id` | Utf8 | who is paid |
//! | `h3` | Utf8 | the rewarded cell |
//! | `amount` | UInt64 | integer base units |
//! | `reason` | Utf8 | `earned`, `fleet_share`, `bounty:ID`, `bounty_refund:ID`, `outside_regions`, `fraud:…`, `quality:…` |
//!
//! ## `rewards_summary` — per epoch and contributor (`RewardsSummaryRow`), sorted by `epoch`, `contributor_id`; the manifest metadata holds `merkle_root:{epoch}`
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `epoch` | Utf8 | ISO week, `2026-W47` |
//! | `contributor_id` | Utf8 | the contributor |
//! | `total` | UInt64 | sum of the contributor's ledger rows, base units |
//! | `merkle_leaf` | Utf8 | sha256 leaf hash of (epoch, contributor, total), hex |
//! | `reputation` | UInt32 | reputation after the epoch, per-mille |
//! | `status` | Utf8 | `paid`, or `held` (reputation below the rules' threshold) |

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::Dataset;

/// The schema version written into every manifest and Parquet footer.
pub const SCHEMA_VERSION: u32 = 2;

/// The timezone of every timestamp column.
pub const TIMEZONE: &str = "UTC";

/// `Timestamp(Microsecond, "UTC")`.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIMEZONE.into()))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

fn f64(name: &str) -> Field {
    Field::new(name, DataType::Float64, false)
}

fn f32(name: &str) -> Field {
    Field::new(name, DataType::Float32, false)
}

fn u32(name: &str) -> Field {
    Field::new(name, DataType::UInt32, false)
}

fn boolean(name: &str) -> Field {
    Field::new(name, DataType::Boolean, false)
}

fn ts(name: &str) -> Field {
    Field::new(name, timestamp_type(), false)
}

fn geometry() -> Field {
    Field::new("geometry", DataType::Binary, false)
}

/// The fields of the `bbox` covering struct, in GeoParquet order.
pub fn bbox_fields() -> Fields {
    Fields::from(vec![f64("xmin"), f64("ymin"), f64("xmax"), f64("ymax")])
}

fn bbox() -> Field {
    Field::new("bbox", DataType::Struct(bbox_fields()), false)
}

fn flags() -> [Field; 6] {
    [
        boolean("flag_interpolated_far"),
        boolean("flag_impossible_speed"),
        boolean("flag_replay"),
        boolean("flag_jump"),
        boolean("flag_motion_mismatch"),
        boolean("flag_duplicate_device"),
    ]
}

/// The `frames` schema.
pub fn frames() -> SchemaRef {
    let mut fields = vec![
        utf8("frame_id"),
        utf8("drive_id"),
        utf8("contributor_id"),
        ts("captured_at"),
        f64("lon"),
        f64("lat"),
        geometry(),
        bbox(),
        f64("heading"),
        utf8("h3"),
        utf8("image_key"),
        utf8("content_sha256"),
        Field::new("phash", DataType::UInt64, true),
        f64("camera_hfov"),
        f64("camera_yaw"),
        u32("width"),
        u32("height"),
    ];
    fields.extend(flags());
    fields.extend([
        Field::new("blur_models", DataType::Utf8, true),
        Field::new("blur_face_threshold", DataType::Float32, true),
        Field::new("blur_plate_threshold", DataType::Float32, true),
        Field::new("blurred_faces", DataType::UInt32, true),
        Field::new("blurred_plates", DataType::UInt32, true),
        Field::new("blurred_vehicle_bands", DataType::UInt32, true),
    ]);
    Arc::new(Schema::new(fields))
}

/// The `detections` schema.
pub fn detections() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("frame_id"),
        utf8("class"),
        f32("score"),
        f32("x0"),
        f32("y0"),
        f32("x1"),
        f32("y1"),
        f64("bearing"),
        utf8("model"),
        Field::new("text", DataType::Utf8, true),
        Field::new("value", DataType::UInt32, true),
    ]))
}

/// The `features` schema.
pub fn features() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("feature_id"),
        utf8("class"),
        f64("lon"),
        f64("lat"),
        geometry(),
        bbox(),
        utf8("h3"),
        f64("uncertainty_m"),
        u32("n_detections"),
        u32("n_drives"),
        f64("confidence"),
        ts("first_seen"),
        ts("last_seen"),
        utf8("status"),
        Field::new("azimuth", DataType::Float64, true),
        boolean("single_view"),
        Field::new("value", DataType::UInt32, true),
    ]))
}

/// The `coverage` schema.
pub fn coverage() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("h3"),
        utf8("contributor_id"),
        Field::new("day", DataType::Date32, false),
        ts("last_covered_at"),
        u32("n_frames"),
        f64("heading"),
        f64("lon"),
        f64("lat"),
        geometry(),
        bbox(),
    ]))
}

/// The `ingest_report` schema.
pub fn ingest_report() -> SchemaRef {
    let mut fields = vec![
        utf8("drive_id"),
        utf8("contributor_id"),
        utf8("file"),
        Field::new("captured_at", timestamp_type(), true),
        utf8("decision"),
        Field::new("reason", DataType::Utf8, true),
    ];
    fields.extend(flags());
    Arc::new(Schema::new(fields))
}

/// The `rewards_ledger` schema.
pub fn rewards_ledger() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("epoch"),
        utf8("contributor_id"),
        utf8("h3"),
        Field::new("amount", DataType::UInt64, false),
        utf8("reason"),
    ]))
}

/// The `rewards_summary` schema.
pub fn rewards_summary() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("epoch"),
        utf8("contributor_id"),
        Field::new("total", DataType::UInt64, false),
        utf8("merkle_leaf"),
        Field::new("reputation", DataType::UInt32, false),
        utf8("status"),
    ]))
}

/// The schema of `dataset`.
pub fn of(dataset: Dataset) -> SchemaRef {
    match dataset {
        Dataset::Frames => frames(),
        Dataset::Detections => detections(),
        Dataset::Features => features(),
        Dataset::Coverage => coverage(),
        Dataset::IngestReport => ingest_report(),
        Dataset::RewardsLedger => rewards_ledger(),
        Dataset::RewardsSummary => rewards_summary(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_with_geometry_have_lon_lat_and_a_binary_geometry_column() {
        for d in Dataset::ALL {
            let s = of(d);
            let has = |n: &str| s.field_with_name(n).is_ok();
            assert_eq!(has("geometry"), d.has_geometry(), "{d}");
            assert_eq!(has("bbox"), d.has_geometry(), "{d}");
            assert_eq!(has("lon") && has("lat"), d.has_geometry(), "{d}");
        }
    }

    #[test]
    fn column_names_are_unique_lowercase_identifiers() {
        for d in Dataset::ALL {
            let s = of(d);
            let mut names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
            assert!(names.iter().all(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            }));
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "{d}");
        }
    }
}
