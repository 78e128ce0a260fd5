//! Rendering query results: a pretty table for terminals, CSV and JSON for tools.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StructArray};
use arrow::datatypes::{DataType, Field, Schema};
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
            .write(&flatten_structs(batch)?)
            .map_err(|e| StoreError::arrow("writing CSV", e))?;
    }
    Ok(writer.into_inner())
}

/// CSV has no nested values: each struct column (such as the `bbox` covering) becomes
/// one column per field, named `parent.field`, so `SELECT *` works as CSV too.
fn flatten_structs(batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    fn push(name: String, array: ArrayRef, fields: &mut Vec<Field>, columns: &mut Vec<ArrayRef>) {
        match array.as_any().downcast_ref::<StructArray>() {
            Some(st) => {
                for (f, child) in st.fields().iter().zip(st.columns()) {
                    push(
                        format!("{name}.{}", f.name()),
                        child.clone(),
                        fields,
                        columns,
                    );
                }
            }
            None => {
                fields.push(Field::new(name, array.data_type().clone(), true));
                columns.push(array);
            }
        }
    }
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Struct(_)))
    {
        return Ok(batch.clone());
    }
    let (mut fields, mut columns) = (Vec::new(), Vec::new());
    for (f, array) in batch.schema().fields().iter().zip(batch.columns()) {
        push(f.name().clone(), array.clone(), &mut fields, &mut columns);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| StoreError::arrow("flattening struct columns for CSV", e))
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
    use arrow::array::{Int64Array, StringArray};

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
    fn struct_columns_become_one_csv_column_per_field() {
        let bbox = StructArray::from(vec![
            (
                Arc::new(Field::new("xmin", DataType::Float64, false)),
                Arc::new(arrow::array::Float64Array::from(vec![24.5, 25.0])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("ymin", DataType::Float64, false)),
                Arc::new(arrow::array::Float64Array::from(vec![60.1, 60.2])) as ArrayRef,
            ),
        ]);
        let b = RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("bbox", Arc::new(bbox) as ArrayRef),
        ])
        .unwrap();
        let csv = String::from_utf8(batches_to_csv(&[b]).unwrap()).unwrap();
        assert_eq!(csv, "n,bbox.xmin,bbox.ymin\n1,24.5,60.1\n2,25.0,60.2\n");
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
