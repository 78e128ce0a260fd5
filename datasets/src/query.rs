//! SQL over the lake with DataFusion: every dataset is a table named after it, plus a
//! few H3 helper functions.
//!
//! The store's object store is registered with the session under the URL
//! [`LAKE_URL`]; each dataset becomes a listing table over exactly the files of its
//! current manifest, so queries see committed versions only and never orphans. The
//! manifests are read once per session: a session is a consistent snapshot.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};
use streetcomb_core::CellId;

use crate::manifest::Manifest;
use crate::{Dataset, Store, StoreError, schema};

/// The URL the lake's object store is registered under in a DataFusion session; a
/// data file `frames/v1/part-x.parquet` is `streetcomb://lake/frames/v1/part-x.parquet`.
pub const LAKE_URL: &str = "streetcomb://lake/";

impl Store {
    /// A DataFusion session with all six datasets registered as tables (datasets
    /// never written are empty tables with their schema) and the H3 helper functions
    /// `h3_parent(h3, res)` and `h3_resolution(h3)`.
    pub async fn session(&self) -> Result<SessionContext, StoreError> {
        let ctx = SessionContext::new();
        let url = url::Url::parse(LAKE_URL).map_err(|e| StoreError::Query {
            context: format!("parsing {LAKE_URL}"),
            source: Box::new(DataFusionError::External(Box::new(e))),
        })?;
        ctx.register_object_store(&url, self.object_store());
        for ds in Dataset::ALL {
            let manifest = self.manifest(ds).await?;
            if let Some(m) = &manifest {
                self.check_files_exist(ds, m).await?;
            }
            let table = table_for(ds, manifest.as_ref())
                .map_err(|e| StoreError::query(format!("registering table {ds}"), e))?;
            ctx.register_table(ds.name(), table)
                .map_err(|e| StoreError::query(format!("registering table {ds}"), e))?;
        }
        ctx.register_udf(ScalarUDF::from(H3Parent::new()));
        ctx.register_udf(ScalarUDF::from(H3Resolution::new()));
        Ok(ctx)
    }

    /// Runs one SQL statement over the current versions of all datasets and collects
    /// the result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, StoreError> {
        let ctx = self.session().await?;
        let df = ctx
            .sql(sql)
            .await
            .map_err(|e| StoreError::query(format!("planning {sql:?}"), e))?;
        df.collect()
            .await
            .map_err(|e| StoreError::query(format!("running {sql:?}"), e))
    }
}

impl Store {
    /// DataFusion reads a missing file URL as an empty prefix, which would turn a
    /// damaged dataset into silently missing rows: check every listed file first
    /// (one HEAD each, concurrently).
    async fn check_files_exist(&self, ds: Dataset, m: &Manifest) -> Result<(), StoreError> {
        // Owned futures in a Vec: a stream of borrowing closures would make the
        // `query` future not `Send` (higher-ranked lifetime limits).
        let checks: Vec<_> = m
            .files
            .iter()
            .map(|f| check_file(self.object_store(), ds, f.path.clone(), f.bytes))
            .collect();
        futures::stream::iter(checks)
            .buffer_unordered(16)
            .try_collect::<()>()
            .await
    }
}

async fn check_file(
    objects: Arc<dyn ObjectStore>,
    ds: Dataset,
    path: String,
    bytes: u64,
) -> Result<(), StoreError> {
    let corrupt = |reason: String| StoreError::CorruptFile {
        dataset: ds.name().to_owned(),
        file: path.clone(),
        reason,
    };
    match objects
        .head(&object_store::path::Path::from(path.as_str()))
        .await
    {
        Ok(meta) if meta.size == bytes => Ok(()),
        Ok(meta) => Err(corrupt(format!(
            "file has {} bytes, the manifest says {bytes}",
            meta.size
        ))),
        Err(object_store::Error::NotFound { .. }) => {
            Err(corrupt("listed in the manifest but missing".into()))
        }
        Err(e) => Err(StoreError::object_store(&path, e)),
    }
}

/// A table over exactly the manifest's files (no directory listing, so orphans from
/// crashed writes stay invisible).
fn table_for(
    ds: Dataset,
    manifest: Option<&Manifest>,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let schema = schema::of(ds);
    let files = manifest.map(|m| m.files.as_slice()).unwrap_or_default();
    if files.is_empty() {
        // A listing table needs at least one path; an empty table keeps the schema.
        return Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?));
    }
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(format!("{LAKE_URL}{}", f.path)))
        .collect::<Result<Vec<_>, _>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// Evaluates a string function row by row; nulls and invalid cells give null.
fn map_cells(
    args: &[ColumnarValue],
    f: impl Fn(CellId, Option<i64>) -> Option<String>,
) -> Result<ColumnarValue, DataFusionError> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let cells = string_arg(&arrays, 0)?;
    let res = arrays
        .get(1)
        .map(|a| {
            a.as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Internal("expected an Int64 argument".into()))
        })
        .transpose()?;
    let out: StringArray = (0..cells.len())
        .map(|i| {
            if cells.is_null(i) || res.is_some_and(|r| r.is_null(i)) {
                return None;
            }
            let cell = cells.value(i).parse::<CellId>().ok()?;
            f(cell, res.map(|r| r.value(i)))
        })
        .collect();
    like_inputs(args, Arc::new(out))
}

/// A scalar result for all-scalar arguments (their arrays have one row, not one per
/// input row), an array otherwise.
fn like_inputs(args: &[ColumnarValue], out: ArrayRef) -> Result<ColumnarValue, DataFusionError> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

fn string_arg(arrays: &[ArrayRef], i: usize) -> Result<&StringArray, DataFusionError> {
    arrays
        .get(i)
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| DataFusionError::Internal(format!("expected a Utf8 argument {i}")))
}

/// `h3_parent(h3 text, res int) -> text`: the ancestor cell at resolution `res`;
/// null when `h3` is null or not a cell, or `res` is finer than the cell.
#[derive(Debug, PartialEq, Eq, Hash)]
struct H3Parent {
    signature: Signature,
}

impl H3Parent {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for H3Parent {
    fn name(&self) -> &str {
        "h3_parent"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>, DataFusionError> {
        if arg_types.len() != 2 {
            return Err(DataFusionError::Plan(
                "h3_parent takes (h3 text, res int)".into(),
            ));
        }
        Ok(vec![DataType::Utf8, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        map_cells(&args.args, |cell, res| {
            let res = u8::try_from(res?).ok()?;
            cell.parent(res).map(|p| p.to_string())
        })
    }
}

/// `h3_resolution(h3 text) -> bigint`: the cell's resolution; null when not a cell.
#[derive(Debug, PartialEq, Eq, Hash)]
struct H3Resolution {
    signature: Signature,
}

impl H3Resolution {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for H3Resolution {
    fn name(&self) -> &str {
        "h3_resolution"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>, DataFusionError> {
        if arg_types.len() != 1 {
            return Err(DataFusionError::Plan(
                "h3_resolution takes (h3 text)".into(),
            ));
        }
        Ok(vec![DataType::Utf8])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let cells = string_arg(&arrays, 0)?;
        let out: Int64Array = (0..cells.len())
            .map(|i| {
                (!cells.is_null(i))
                    .then(|| cells.value(i).parse::<CellId>().ok())
                    .flatten()
                    .map(|c| i64::from(c.resolution()))
            })
            .collect();
        like_inputs(&args.args, Arc::new(out))
    }
}
