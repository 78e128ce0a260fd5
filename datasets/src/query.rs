//! SQL over the lake with DataFusion: every dataset is a table named after it (with
//! its hive partition columns, see [`crate::partition`]), plus spatial helpers.
//!
//! Helpers: `h3_parent(h3, res)`, `h3_resolution(h3)`, and
//! `bbox_intersects(bbox, xmin, ymin, xmax, ymax)` (rewritten into plain comparisons
//! on the `bbox` covering struct). For the fastest area queries filter on the
//! partition columns first (`date`, `h3_4`: whole files are skipped), then on
//! `lon`/`lat` (row groups and pages are skipped by their statistics):
//!
//! ```sql
//! SELECT feature_id, class FROM features
//! WHERE date BETWEEN DATE '2026-11-16' AND DATE '2026-11-22'
//!   AND lon BETWEEN 24.90 AND 24.98 AND lat BETWEEN 60.15 AND 60.19
//! ```
//!
//! The store's object store is registered with the session under the URL
//! [`LAKE_URL`]; each dataset becomes a listing table over exactly the files of its
//! current manifest, so queries see committed versions only and never orphans. The
//! manifests are read once per session: a session is a consistent snapshot.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, StructArray,
};
use arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, project_schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::{expr_applicable_for_cols, filter_partitioned_file};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::TableProviderFilterPushDown;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TableType,
    Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};
use streetcomb_core::CellId;

use crate::manifest::Manifest;
use crate::{Dataset, Store, StoreError, partition, schema};

/// The URL the lake's object store is registered under in a DataFusion session; a
/// data file `frames/v1/part-x.parquet` is `streetcomb://lake/frames/v1/part-x.parquet`.
pub const LAKE_URL: &str = "streetcomb://lake/";

impl Store {
    /// A DataFusion session with every dataset registered as tables (datasets
    /// never written are empty tables with their schema) and the helper functions
    /// `h3_parent(h3, res)`, `h3_resolution(h3)` and `bbox_intersects(bbox, …)`.
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
        ctx.register_udf(ScalarUDF::from(BboxIntersects::new()));
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

/// What the scans of one query read (see [`Store::query_with_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Bytes fetched from the store by the Parquet scans.
    pub bytes_scanned: u64,
}

/// SQL options for untrusted callers: queries only. DDL (`CREATE`, `DROP`), DML
/// (`INSERT`, `COPY … TO`) and statements (`SET`, transactions) are refused at
/// planning, before anything runs.
pub fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

impl Store {
    /// Runs one SQL statement like [`Store::query`] and also reports what the scans
    /// read: `bytes_scanned` summed over every Parquet scan of the plan (DataFusion's
    /// own metric: bytes fetched from the object store, footers and pages included).
    /// Shows partition and row-group pruning at work.
    pub async fn query_with_stats(
        &self,
        sql: &str,
    ) -> Result<(Vec<RecordBatch>, ScanStats), StoreError> {
        let ctx = self.session().await?;
        let qerr = |what: &str, e| StoreError::query(format!("{what} {sql:?}"), e);
        let df = ctx.sql(sql).await.map_err(|e| qerr("planning", e))?;
        let plan = df
            .create_physical_plan()
            .await
            .map_err(|e| qerr("planning", e))?;
        let batches = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx())
            .await
            .map_err(|e| qerr("running", e))?;
        let mut stats = ScanStats::default();
        let mut stack = vec![plan];
        while let Some(node) = stack.pop() {
            if let Some(v) = node.metrics().and_then(|m| m.sum_by_name("bytes_scanned")) {
                stats.bytes_scanned += v.as_usize() as u64;
            }
            stack.extend(node.children().into_iter().cloned());
        }
        Ok((batches, stats))
    }

    /// Runs one read-only SQL query (see [`read_only_options`]) and returns at most
    /// `max_rows` rows, plus whether more rows were cut off. For untrusted callers such
    /// as the HTTP server; the caller bounds the time (dropping the future cancels it).
    pub async fn query_read_only(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<(Vec<RecordBatch>, bool), StoreError> {
        let ctx = self.session().await?;
        let df = ctx
            .sql_with_options(sql, read_only_options())
            .await
            .map_err(|e| StoreError::query(format!("planning {sql:?}"), e))?;
        // One row more than allowed tells whether the result was cut.
        let df = df
            .limit(0, Some(max_rows.saturating_add(1)))
            .map_err(|e| StoreError::query(format!("planning {sql:?}"), e))?;
        let batches = df
            .collect()
            .await
            .map_err(|e| StoreError::query(format!("running {sql:?}"), e))?;
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if total <= max_rows {
            return Ok((batches, false));
        }
        let mut left = max_rows;
        let mut out = Vec::new();
        for b in batches {
            if left == 0 {
                break;
            }
            let take = left.min(b.num_rows());
            out.push(b.slice(0, take));
            left -= take;
        }
        Ok((out, true))
    }

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
/// crashed writes stay invisible), with the dataset's partition columns.
fn table_for(
    ds: Dataset,
    manifest: Option<&Manifest>,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let file_schema = schema::of(ds);
    let partition_fields: Vec<FieldRef> =
        partition::columns(ds).into_iter().map(Arc::new).collect();
    let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
    fields.extend(partition_fields.iter().cloned());
    let table_schema = Arc::new(Schema::new(fields));
    let files = manifest
        .map(|m| m.files.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let values = partition::values_of_key(ds, &f.path)
                .map_err(|e| DataFusionError::Plan(format!("{}: {e}", f.path)))?;
            Ok(PartitionedFile::new(f.path.clone(), f.bytes).with_partition_values(values))
        })
        .collect::<Result<Vec<_>, DataFusionError>>()?;
    Ok(Arc::new(ManifestTable {
        file_schema,
        table_schema,
        partition_fields,
        files,
    }))
}

/// One dataset version as a DataFusion table: the manifest's Parquet files, with the
/// hive partition values taken from their keys. Filters on partition columns skip
/// whole files before any byte is read; other filters are pushed into the Parquet
/// scan (row-group statistics and page index).
#[derive(Debug)]
struct ManifestTable {
    file_schema: SchemaRef,
    table_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    files: Vec<PartitionedFile>,
}

impl ManifestTable {
    /// The files whose partition values can satisfy `filters`.
    fn pruned_files(&self, filters: &[Expr]) -> Result<Vec<PartitionedFile>, DataFusionError> {
        let names: Vec<&str> = self
            .partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let applicable: Vec<Expr> = filters
            .iter()
            .filter(|f| !names.is_empty() && expr_applicable_for_cols(&names, f))
            .cloned()
            .collect();
        if applicable.is_empty() {
            return Ok(self.files.clone());
        }
        let partition_schema = DFSchema::try_from(Schema::new(self.partition_fields.clone()))?;
        let mut kept = Vec::new();
        for f in &self.files {
            if let Some(f) = filter_partitioned_file(f.clone(), &applicable, &partition_schema)? {
                kept.push(f);
            }
        }
        Ok(kept)
    }
}

#[async_trait]
impl TableProvider for ManifestTable {
    fn schema(&self) -> SchemaRef {
        self.table_schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        // Inexact: the filter stays in the plan above the scan, and the physical
        // optimiser pushes it into the Parquet source for row-group pruning.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let files = self.pruned_files(filters)?;
        if files.is_empty() {
            let projected = project_schema(&self.table_schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        // Spread files over the target partitions, biggest first, to balance bytes.
        let n = state.config().target_partitions().clamp(1, files.len());
        let mut sorted = files;
        sorted.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); n];
        for f in sorted {
            if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
                g.0 += f.object_meta.size;
                g.1.push(f);
            }
        }
        let groups: Vec<FileGroup> = groups
            .into_iter()
            .filter(|g| !g.1.is_empty())
            .map(|g| FileGroup::new(g.1))
            .collect();
        let format =
            ParquetFormat::default().with_options(state.default_table_options().parquet.clone());
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let source = format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(LAKE_URL)?, source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
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

/// `bbox_intersects(bbox, xmin, ymin, xmax, ymax) -> boolean`: whether a row's
/// GeoParquet `bbox` covering struct intersects the query box (lon/lat degrees, edges
/// included). The planner rewrites it into four comparisons on the struct's fields,
/// so it costs what the plain predicates cost.
#[derive(Debug, PartialEq, Eq, Hash)]
struct BboxIntersects {
    signature: Signature,
}

impl BboxIntersects {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The four comparisons `bbox_intersects` stands for.
fn bbox_predicate(bbox: Expr, xmin: Expr, ymin: Expr, xmax: Expr, ymax: Expr) -> Expr {
    let field = |name: &str| get_field(bbox.clone(), name.to_owned());
    field("xmin")
        .lt_eq(xmax)
        .and(field("xmax").gt_eq(xmin))
        .and(field("ymin").lt_eq(ymax))
        .and(field("ymax").gt_eq(ymin))
}

impl ScalarUDFImpl for BboxIntersects {
    fn name(&self) -> &str {
        "bbox_intersects"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>, DataFusionError> {
        let usage = "bbox_intersects takes (bbox struct, xmin, ymin, xmax, ymax)";
        match arg_types {
            [b @ DataType::Struct(_), _, _, _, _] => Ok(vec![
                b.clone(),
                DataType::Float64,
                DataType::Float64,
                DataType::Float64,
                DataType::Float64,
            ]),
            _ => Err(DataFusionError::Plan(usage.into())),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(DataType::Boolean)
    }

    fn simplify(
        &self,
        args: Vec<Expr>,
        _info: &SimplifyContext,
    ) -> Result<ExprSimplifyResult, DataFusionError> {
        let Ok([bbox, xmin, ymin, xmax, ymax]) = <[Expr; 5]>::try_from(args) else {
            return Err(DataFusionError::Plan(
                "bbox_intersects takes (bbox struct, xmin, ymin, xmax, ymax)".into(),
            ));
        };
        Ok(ExprSimplifyResult::Simplified(bbox_predicate(
            bbox, xmin, ymin, xmax, ymax,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        // Only reached when the simplifier did not run; same semantics, row by row.
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let internal = |what: &str| DataFusionError::Internal(format!("bbox_intersects: {what}"));
        let bbox = arrays
            .first()
            .and_then(|a| a.as_any().downcast_ref::<StructArray>())
            .ok_or_else(|| internal("expected a struct"))?;
        let member = |name: &str| -> Result<&Float64Array, DataFusionError> {
            bbox.column_by_name(name)
                .and_then(|a| a.as_any().downcast_ref::<Float64Array>())
                .ok_or_else(|| internal("the struct needs Float64 xmin, ymin, xmax, ymax"))
        };
        let (bx0, by0, bx1, by1) = (
            member("xmin")?,
            member("ymin")?,
            member("xmax")?,
            member("ymax")?,
        );
        let q = |i: usize| -> Result<&Float64Array, DataFusionError> {
            arrays
                .get(i)
                .and_then(|a| a.as_any().downcast_ref::<Float64Array>())
                .ok_or_else(|| internal("expected Float64 bounds"))
        };
        let (qx0, qy0, qx1, qy1) = (q(1)?, q(2)?, q(3)?, q(4)?);
        let out: BooleanArray = (0..bbox.len())
            .map(|i| {
                let any_null = bbox.is_null(i)
                    || [qx0, qy0, qx1, qy1].iter().any(|a| a.is_null(i))
                    || [bx0, by0, bx1, by1].iter().any(|a| a.is_null(i));
                (!any_null).then(|| {
                    bx0.value(i) <= qx1.value(i)
                        && bx1.value(i) >= qx0.value(i)
                        && by0.value(i) <= qy1.value(i)
                        && by1.value(i) >= qy0.value(i)
                })
            })
            .collect();
        like_inputs(&args.args, Arc::new(out))
    }
}
