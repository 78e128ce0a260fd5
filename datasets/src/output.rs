//! Rendering query results: a pretty table for terminals, CSV and JSON for tools.

use arrow::record_batch::RecordBatch;

use crate::StoreError;

/// The batches as an ASCII table (arrow's pretty printer).
pub fn format_batches(batches: &[RecordBatch]) -> Result<String, StoreError> {
    arrow::util::pretty::pretty_format_batches(batches)
        .map(|table| table.to_string())
        .map_err(|e| StoreError::arrow("formatting a table", e))
}

/// The batches as CSV with a header row (none when there are no batches). Binary
/// columns such as `geometry` come out as hex, timestamps as RFC 3339.
pub fn batches_to_csv(batches: &[RecordBatch]) -> Result<Vec<u8>, StoreError> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(Vec::new());
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| StoreError::arrow("writing CSV", e))?;
    }
    Ok(writer.into_inner())
}

/// The batches as one JSON array of row objects (`[]` for no rows); nulls are
/// omitted from the objects.
pub fn batches_to_json(batches: &[RecordBatch]) -> Result<Vec<u8>, StoreError> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(|e| StoreError::arrow("writing JSON", e))?;
    writer
        .finish()
        .map_err(|e| StoreError::arrow("writing JSON", e))?;
    let mut out = writer.into_inner();
    if out.is_empty() {
        // arrow writes nothing at all for zero rows; an empty array is still JSON.
        out.extend_from_slice(b"[]");
    }
    Ok(out)
}

/// A query result as a Parquet file (zstd); an empty result gives a file with the
/// result's columns when known, else no columns.
pub fn batches_to_parquet(batches: &[RecordBatch]) -> Result<Vec<u8>, StoreError> {
    let schema = batches
        .first()
        .map(RecordBatch::schema)
        .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty()));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(
            parquet::basic::ZstdLevel::default(),
        ))
        .build();
    let perr = |e| StoreError::parquet("(query result)", "(output)", e);
    let mut out = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(perr)?;
    for b in batches {
        writer.write(b).map_err(perr)?;
    }
    writer.close().map_err(perr)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "h3",
                Arc::new(StringArray::from(vec!["8b1f", "8b20"])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![3, 4])) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn a_pretty_table_shows_headers_and_values() {
        let s = format_batches(&[batch()]).unwrap();
        assert!(s.contains("| h3   | n |"), "{s}");
        assert!(s.contains("| 8b20 | 4 |"), "{s}");
    }

    #[test]
    fn csv_has_a_header_then_one_line_per_row() {
        let csv = String::from_utf8(batches_to_csv(&[batch()]).unwrap()).unwrap();
        assert_eq!(csv, "h3,n\n8b1f,3\n8b20,4\n");
    }

    #[test]
    fn json_is_an_array_of_row_objects_even_when_empty() {
        let json: serde_json::Value =
            serde_json::from_slice(&batches_to_json(&[batch()]).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"h3": "8b1f", "n": 3}, {"h3": "8b20", "n": 4}])
        );
        assert_eq!(batches_to_json(&[]).unwrap(), b"[]");
    }
}
