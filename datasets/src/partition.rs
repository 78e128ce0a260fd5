//! Hive-style partitioning: which folder a row's data file goes in.
//!
//! Data files live under `{ds}/{col}={value}/…/part-{uuid}.parquet`, e.g.
//! `frames/date=2026-11-16/h3_4=84089b1ffffffff/part-….parquet`, so that a query over
//! a city and a week opens only the files of those days and cells (DataFusion,
//! DuckDB and Spark all read the `col=value` folders as columns).
//!
//! The coarse cell is the H3 parent at resolution [`H3_PARTITION_RESOLUTION`] = 4:
//! cells of about 1,770 km² (edge ≈ 22.6 km), so one city is one to a few cells and
//! a country a few hundred. A finer resolution (5: ≈ 253 km²) would multiply the
//! files of a dense day by ~7 and make them small (many GETs, poor compression); a
//! coarser one (3: ≈ 12,400 km²) would make a city query read its whole region. With
//! one file per day and cell per write, partitions of a busy city hold tens of
//! thousands of frames per day, the range where Parquet files are efficient, and
//! [`crate::Store::compact`] merges what many small appends leave behind.
//!
//! Partition values are written canonically (`YYYY-MM-DD`, 15-hex-digit H3), in the
//! URL-safe alphabet, so paths need no escaping.

use arrow::datatypes::{DataType, Field};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::scalar::ScalarValue;
use streetcomb_core::CellId;

use crate::Dataset;

/// Resolution of the coarse H3 cell that partitions located datasets.
pub const H3_PARTITION_RESOLUTION: u8 = 4;

/// Name of the coarse-cell partition column.
pub const H3_PARTITION_COLUMN: &str = "h3_4";

/// Name of the day partition column.
pub const DATE_PARTITION_COLUMN: &str = "date";

/// The partition columns of `ds`, in folder order (empty for unpartitioned datasets).
pub fn columns(ds: Dataset) -> Vec<Field> {
    match ds {
        Dataset::Frames | Dataset::Features | Dataset::Coverage => vec![
            Field::new(DATE_PARTITION_COLUMN, DataType::Date32, false),
            Field::new(H3_PARTITION_COLUMN, DataType::Utf8, false),
        ],
        // Small (one row per contributor, cell and reason per week) and already keyed
        // by its `epoch` column: partitioning would only add files.
        Dataset::Detections
        | Dataset::IngestReport
        | Dataset::RewardsLedger
        | Dataset::RewardsSummary => Vec::new(),
    }
}

/// The `date` value of a day.
pub(crate) fn date_value(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The `date` value of an instant (its UTC day).
pub(crate) fn time_value(t: &DateTime<Utc>) -> String {
    date_value(t.date_naive())
}

/// The `h3_4` value of a cell: its resolution-4 parent (the cell itself if coarser).
pub(crate) fn cell_value(cell: CellId) -> String {
    cell.parent(H3_PARTITION_RESOLUTION.min(cell.resolution()))
        .unwrap_or(cell)
        .to_string()
}

/// The folder of one partition below the dataset folder, e.g.
/// `date=2026-11-16/h3_4=84089b1ffffffff`; empty for unpartitioned datasets.
pub fn dir(ds: Dataset, values: &[String]) -> String {
    columns(ds)
        .iter()
        .zip(values)
        .map(|(f, v)| format!("{}={v}", f.name()))
        .collect::<Vec<_>>()
        .join("/")
}

/// The partition folder of a data-file key: everything between the dataset name and
/// the file name (`frames/date=…/h3_4=…/part-x.parquet` → `date=…/h3_4=…`).
pub fn dir_of_key(key: &str) -> &str {
    let inner = key.split_once('/').map_or("", |(_, rest)| rest);
    inner.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The typed partition values of a data-file key, checked against the dataset's
/// partition columns.
pub fn values_of_key(ds: Dataset, key: &str) -> Result<Vec<ScalarValue>, String> {
    let cols = columns(ds);
    let dir = dir_of_key(key);
    let segments: Vec<&str> = if dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    if segments.len() != cols.len() {
        let want: Vec<String> = cols.iter().map(|f| format!("{}=…", f.name())).collect();
        return Err(format!(
            "expected the partition folders {:?}, found {dir:?}",
            want.join("/")
        ));
    }
    cols.iter()
        .zip(segments)
        .map(|(f, seg)| {
            let value = seg
                .strip_prefix(f.name().as_str())
                .and_then(|s| s.strip_prefix('='))
                .ok_or_else(|| format!("folder {seg:?} is not {}=…", f.name()))?;
            parse_value(f, value).map_err(|e| format!("folder {seg:?}: {e}"))
        })
        .collect()
}

fn parse_value(field: &Field, value: &str) -> Result<ScalarValue, String> {
    match (field.name().as_str(), field.data_type()) {
        (_, DataType::Date32) => {
            let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_err(|e| format!("not a YYYY-MM-DD date: {e}"))?;
            let days = day.signed_duration_since(NaiveDate::default()).num_days();
            i32::try_from(days)
                .map(|d| ScalarValue::Date32(Some(d)))
                .map_err(|_| "date out of range".to_owned())
        }
        (H3_PARTITION_COLUMN, _) => value
            .parse::<CellId>()
            .map(|_| ScalarValue::Utf8(Some(value.to_owned())))
            .map_err(|e| e.to_string()),
        _ => Ok(ScalarValue::Utf8(Some(value.to_owned()))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use streetcomb_core::LatLon;

    #[test]
    fn a_key_parses_back_into_the_values_its_folder_was_built_from() {
        let cell = CellId::from_latlon(LatLon::new(60.17, 24.94).unwrap(), 11).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
        let values = vec![date_value(day), cell_value(cell)];
        let key = format!("frames/{}/part-x.parquet", dir(Dataset::Frames, &values));
        assert!(key.starts_with("frames/date=2026-11-16/h3_4=84"), "{key}");
        let parsed = values_of_key(Dataset::Frames, &key).unwrap();
        let days = i32::try_from(
            day.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                .num_days(),
        )
        .unwrap();
        assert_eq!(parsed[0], ScalarValue::Date32(Some(days)));
        assert_eq!(parsed[1], ScalarValue::Utf8(Some(values[1].clone())));
        assert_eq!(
            values[1].parse::<CellId>().unwrap().resolution(),
            H3_PARTITION_RESOLUTION
        );
    }

    #[test]
    fn keys_with_missing_or_malformed_partition_folders_are_rejected() {
        assert!(values_of_key(Dataset::Frames, "frames/part-x.parquet").is_err());
        assert!(
            values_of_key(
                Dataset::Frames,
                "frames/date=2026-13-01/h3_4=84089b1ffffffff/part-x.parquet"
            )
            .is_err()
        );
        assert!(
            values_of_key(
                Dataset::Frames,
                "frames/h3_4=84089b1ffffffff/date=2026-11-01/part-x.parquet"
            )
            .is_err()
        );
        assert_eq!(
            values_of_key(Dataset::Detections, "detections/part-x.parquet").unwrap(),
            vec![]
        );
        assert!(
            values_of_key(
                Dataset::RewardsLedger,
                "rewards_ledger/epoch=2026-W47/part-x.parquet"
            )
            .is_err()
        );
    }
}
