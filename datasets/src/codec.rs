//! Conversion between the core structs and Arrow record batches, one [`Record`] impl
//! per dataset: the sort order used before writing, the encoding into the columns of
//! [`crate::schema`], and the validating decoding back into core values.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BinaryArray, BooleanArray, Date32Array, Float32Array,
    Float64Array, PrimitiveArray, StringArray, StructArray, TimestampMicrosecondArray, UInt32Array,
    UInt64Array,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use streetcomb_core::cell::DEFAULT_RESOLUTION;
use streetcomb_core::{
    BBox, BlurRecord, Camera, CellId, ContributorId, CoreError, CoverageCell, Detection, DriveId,
    FeatureId, Frame, FrameFlags, FrameId, IngestDecision, IngestRecord, LatLon, LedgerEntry,
    MapFeature,
};

use crate::geoparquet::{parse_point_wkb, point_wkb};
use crate::partition::{cell_value, date_value, time_value};
use crate::{Dataset, StoreError, schema};

/// Days from 0001-01-01 (chrono's CE day 1) to 1970-01-01, the Date32 epoch.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Why one field of one stored row is invalid; the reader adds dataset and file.
#[derive(Debug)]
pub(crate) struct BadField {
    /// Row index within the batch.
    pub row: usize,
    pub column: &'static str,
    pub reason: String,
}

type Field<T> = Result<T, BadField>;

fn bad(row: usize, column: &'static str, reason: impl Into<String>) -> BadField {
    BadField {
        row,
        column,
        reason: reason.into(),
    }
}

/// One dataset's row type.
pub(crate) trait Record: Sized + Send + Sync + 'static {
    const DATASET: Dataset;

    /// Sorts rows into storage order (stable, so ties keep input order).
    fn sort(rows: &mut [&Self]);

    /// The point that goes into the GeoParquet bbox, for datasets with geometry.
    fn point(&self) -> Option<(f64, f64)> {
        None
    }

    /// The partition values of the row, in [`crate::partition::columns`] order.
    fn partition(&self) -> Result<Vec<String>, CoreError> {
        Ok(Vec::new())
    }

    /// Encodes rows (already sorted) into a batch of [`schema::of`]`(Self::DATASET)`.
    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError>;

    /// Decodes a batch whose schema has been checked against the dataset's.
    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()>;

    fn to_batch(rows: &[&Self]) -> Result<RecordBatch, StoreError> {
        let schema: SchemaRef = schema::of(Self::DATASET);
        RecordBatch::try_new(schema, Self::to_columns(rows)?)
            .map_err(|e| StoreError::arrow(format!("building a {} batch", Self::DATASET), e))
    }
}

/// Typed access to a batch's columns by name.
pub(crate) struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(batch: &'a RecordBatch) -> Self {
        Self { batch }
    }

    pub(crate) fn len(&self) -> usize {
        self.batch.num_rows()
    }

    fn get<A: Array + 'static>(&self, name: &'static str) -> Field<&'a A> {
        let col = self
            .batch
            .column_by_name(name)
            .ok_or_else(|| bad(0, name, "column missing"))?;
        col.as_any().downcast_ref::<A>().ok_or_else(|| {
            bad(
                0,
                name,
                format!("unexpected column type {}", col.data_type()),
            )
        })
    }

    fn utf8(&self, name: &'static str) -> Field<Col<'a, StringArray>> {
        Ok(Col {
            name,
            a: self.get(name)?,
        })
    }

    fn prim<T: ArrowPrimitiveType>(&self, name: &'static str) -> Field<Col<'a, PrimitiveArray<T>>> {
        Ok(Col {
            name,
            a: self.get(name)?,
        })
    }

    fn boolean(&self, name: &'static str) -> Field<Col<'a, BooleanArray>> {
        Ok(Col {
            name,
            a: self.get(name)?,
        })
    }

    fn binary(&self, name: &'static str) -> Field<Col<'a, BinaryArray>> {
        Ok(Col {
            name,
            a: self.get(name)?,
        })
    }
}

/// A typed column and its name, for error messages.
struct Col<'a, A> {
    name: &'static str,
    a: &'a A,
}

impl<A: Array> Col<'_, A> {
    fn non_null(&self, i: usize) -> Field<()> {
        if self.a.is_null(i) {
            Err(bad(i, self.name, "null in a non-null column"))
        } else {
            Ok(())
        }
    }

    fn err(&self, i: usize, reason: impl Into<String>) -> BadField {
        bad(i, self.name, reason)
    }
}

impl<'a> Col<'a, StringArray> {
    fn str(&self, i: usize) -> Field<&'a str> {
        self.non_null(i)?;
        Ok(self.a.value(i))
    }

    fn opt_str(&self, i: usize) -> Option<&'a str> {
        (!self.a.is_null(i)).then(|| self.a.value(i))
    }

    /// Parses a non-null string with a core `FromStr`/constructor.
    fn parse<T>(&self, i: usize, f: impl FnOnce(&'a str) -> Result<T, CoreError>) -> Field<T> {
        f(self.str(i)?).map_err(|e| self.err(i, e.to_string()))
    }
}

impl<T: ArrowPrimitiveType> Col<'_, PrimitiveArray<T>> {
    fn val(&self, i: usize) -> Field<T::Native> {
        self.non_null(i)?;
        Ok(self.a.value(i))
    }

    fn opt(&self, i: usize) -> Option<T::Native> {
        (!self.a.is_null(i)).then(|| self.a.value(i))
    }
}

impl Col<'_, TimestampMicrosecondArray> {
    fn time(&self, i: usize) -> Field<DateTime<Utc>> {
        let us = self.val(i)?;
        micros_to_time(us).ok_or_else(|| self.err(i, format!("timestamp {us} µs out of range")))
    }

    fn opt_time(&self, i: usize) -> Field<Option<DateTime<Utc>>> {
        match self.opt(i) {
            None => Ok(None),
            Some(us) => micros_to_time(us)
                .map(Some)
                .ok_or_else(|| self.err(i, format!("timestamp {us} µs out of range"))),
        }
    }
}

impl Col<'_, BooleanArray> {
    fn val(&self, i: usize) -> Field<bool> {
        self.non_null(i)?;
        Ok(self.a.value(i))
    }
}

fn micros_to_time(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

/// Microseconds since the Unix epoch, floored (sub-microsecond parts are dropped).
fn time_to_micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn date_to_days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

fn days_to_date(days: i32) -> Option<NaiveDate> {
    days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

fn timestamps(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values).with_timezone(schema::TIMEZONE))
}

fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn f64s(values: impl IntoIterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values))
}

fn f32s(values: impl IntoIterator<Item = f32>) -> ArrayRef {
    Arc::new(Float32Array::from_iter_values(values))
}

fn u32s(values: impl IntoIterator<Item = u32>) -> ArrayRef {
    Arc::new(UInt32Array::from_iter_values(values))
}

fn bools(values: impl IntoIterator<Item = bool>) -> ArrayRef {
    Arc::new(values.into_iter().map(Some).collect::<BooleanArray>())
}

fn points(values: impl IntoIterator<Item = (f64, f64)>) -> ArrayRef {
    Arc::new(BinaryArray::from_iter_values(
        values.into_iter().map(|(x, y)| point_wkb(x, y)),
    ))
}

/// The GeoParquet `bbox` covering column of points: each box is the point itself.
fn point_boxes(values: impl IntoIterator<Item = (f64, f64)> + Clone) -> ArrayRef {
    let xs = f64s(values.clone().into_iter().map(|(x, _)| x));
    let ys = f64s(values.into_iter().map(|(_, y)| y));
    Arc::new(StructArray::new(
        schema::bbox_fields(),
        vec![xs.clone(), ys.clone(), xs, ys],
        None,
    ))
}

/// The flag columns, in schema order.
fn flag_columns<'a>(flags: impl Iterator<Item = &'a FrameFlags> + Clone) -> [ArrayRef; 6] {
    [
        bools(flags.clone().map(|f| f.interpolated_far)),
        bools(flags.clone().map(|f| f.impossible_speed)),
        bools(flags.clone().map(|f| f.replay)),
        bools(flags.clone().map(|f| f.jump)),
        bools(flags.clone().map(|f| f.motion_mismatch)),
        bools(flags.map(|f| f.duplicate_device)),
    ]
}

fn decode_flags<'a>(c: &Columns<'a>) -> Field<impl Fn(usize) -> Field<FrameFlags> + 'a> {
    let far = c.boolean("flag_interpolated_far")?;
    let speed = c.boolean("flag_impossible_speed")?;
    let replay = c.boolean("flag_replay")?;
    let jump = c.boolean("flag_jump")?;
    let motion = c.boolean("flag_motion_mismatch")?;
    let device = c.boolean("flag_duplicate_device")?;
    Ok(move |i| {
        Ok(FrameFlags {
            interpolated_far: far.val(i)?,
            impossible_speed: speed.val(i)?,
            replay: replay.val(i)?,
            jump: jump.val(i)?,
            motion_mismatch: motion.val(i)?,
            duplicate_device: device.val(i)?,
        })
    })
}

/// The blur-record columns, in schema order; all null for a frame vision has not run on.
fn blur_columns<'a>(blur: impl Iterator<Item = Option<&'a BlurRecord>> + Clone) -> [ArrayRef; 6] {
    let b = || blur.clone();
    [
        Arc::new(
            b().map(|r| r.map(|r| r.models.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            b().map(|r| r.map(|r| r.face_threshold))
                .collect::<Float32Array>(),
        ),
        Arc::new(
            b().map(|r| r.map(|r| r.plate_threshold))
                .collect::<Float32Array>(),
        ),
        Arc::new(b().map(|r| r.map(|r| r.faces)).collect::<UInt32Array>()),
        Arc::new(b().map(|r| r.map(|r| r.plates)).collect::<UInt32Array>()),
        Arc::new(
            b().map(|r| r.map(|r| r.vehicle_bands))
                .collect::<UInt32Array>(),
        ),
    ]
}

/// A row has a blur record when `blur_models` is set; the other blur columns must
/// then be set too.
fn decode_blur<'a>(c: &Columns<'a>) -> Field<impl Fn(usize) -> Field<Option<BlurRecord>> + 'a> {
    let models = c.utf8("blur_models")?;
    let face = c.prim::<F32>("blur_face_threshold")?;
    let plate = c.prim::<F32>("blur_plate_threshold")?;
    let faces = c.prim::<U32>("blurred_faces")?;
    let plates = c.prim::<U32>("blurred_plates")?;
    let bands = c.prim::<U32>("blurred_vehicle_bands")?;
    Ok(move |i| {
        let Some(m) = models.opt_str(i) else {
            return Ok(None);
        };
        Ok(Some(BlurRecord {
            models: m.to_owned(),
            face_threshold: face.val(i)?,
            plate_threshold: plate.val(i)?,
            faces: faces.val(i)?,
            plates: plates.val(i)?,
            vehicle_bands: bands.val(i)?,
        }))
    })
}

/// Reads `lon`, `lat` and checks `geometry` holds the same point.
fn decode_position<'a>(c: &Columns<'a>) -> Field<impl Fn(usize) -> Field<LatLon> + 'a> {
    let lon = c.prim::<arrow::datatypes::Float64Type>("lon")?;
    let lat = c.prim::<arrow::datatypes::Float64Type>("lat")?;
    let geom = c.binary("geometry")?;
    Ok(move |i| {
        let (x, y) = (lon.val(i)?, lat.val(i)?);
        let pos = LatLon::new(y, x).map_err(|e| match e {
            CoreError::Latitude(_) => lat.err(i, e.to_string()),
            _ => lon.err(i, e.to_string()),
        })?;
        geom.non_null(i)?;
        let (gx, gy) = parse_point_wkb(geom.a.value(i)).map_err(|e| geom.err(i, e))?;
        if gx.to_bits() != x.to_bits() || gy.to_bits() != y.to_bits() {
            return Err(geom.err(
                i,
                format!("WKB point ({gx}, {gy}) differs from lon/lat ({x}, {y})"),
            ));
        }
        Ok(pos)
    })
}

fn cell_of(pos: LatLon) -> Result<CellId, CoreError> {
    CellId::from_latlon(pos, DEFAULT_RESOLUTION)
}

type F64 = arrow::datatypes::Float64Type;
type F32 = arrow::datatypes::Float32Type;
type U32 = arrow::datatypes::UInt32Type;
type U64 = arrow::datatypes::UInt64Type;
type Ts = arrow::datatypes::TimestampMicrosecondType;
type D32 = arrow::datatypes::Date32Type;

impl Record for Frame {
    const DATASET: Dataset = Dataset::Frames;

    fn sort(rows: &mut [&Self]) {
        rows.sort_by(|a, b| {
            (a.cell.as_u64(), a.captured_at, &a.id).cmp(&(b.cell.as_u64(), b.captured_at, &b.id))
        });
    }

    fn point(&self) -> Option<(f64, f64)> {
        Some((self.pos.lon(), self.pos.lat()))
    }

    fn partition(&self) -> Result<Vec<String>, CoreError> {
        Ok(vec![time_value(&self.captured_at), cell_value(self.cell)])
    }

    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError> {
        let r = || rows.iter().copied();
        let cells: Vec<String> = r().map(|f| f.cell.to_string()).collect();
        let mut cols = vec![
            strings(r().map(|f| f.id.as_str())),
            strings(r().map(|f| f.drive_id.as_str())),
            strings(r().map(|f| f.contributor.as_str())),
            timestamps(r().map(|f| time_to_micros(&f.captured_at))),
            f64s(r().map(|f| f.pos.lon())),
            f64s(r().map(|f| f.pos.lat())),
            points(r().map(|f| (f.pos.lon(), f.pos.lat()))),
            point_boxes(r().map(|f| (f.pos.lon(), f.pos.lat()))),
            f64s(r().map(|f| f.heading_deg)),
            strings(cells.iter().map(String::as_str)),
            strings(r().map(|f| f.image_key.as_str())),
            strings(r().map(|f| f.content_sha256.as_str())),
            Arc::new(r().map(|f| f.phash).collect::<UInt64Array>()),
            f64s(r().map(|f| f.camera.hfov_deg)),
            f64s(r().map(|f| f.camera.mount_yaw_deg)),
            u32s(r().map(|f| f.camera.width)),
            u32s(r().map(|f| f.camera.height)),
        ];
        cols.extend(flag_columns(r().map(|f| &f.flags)));
        cols.extend(blur_columns(r().map(|f| f.blur.as_ref())));
        Ok(cols)
    }

    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()> {
        let id = c.utf8("frame_id")?;
        let drive = c.utf8("drive_id")?;
        let contributor = c.utf8("contributor_id")?;
        let captured_at = c.prim::<Ts>("captured_at")?;
        let pos = decode_position(c)?;
        let heading = c.prim::<F64>("heading")?;
        let h3 = c.utf8("h3")?;
        let image_key = c.utf8("image_key")?;
        let sha = c.utf8("content_sha256")?;
        let phash = c.prim::<U64>("phash")?;
        let hfov = c.prim::<F64>("camera_hfov")?;
        let yaw = c.prim::<F64>("camera_yaw")?;
        let width = c.prim::<U32>("width")?;
        let height = c.prim::<U32>("height")?;
        let flags = decode_flags(c)?;
        let blur = decode_blur(c)?;
        for i in 0..c.len() {
            out.push(Frame {
                id: id.parse(i, FrameId::new)?,
                drive_id: drive.parse(i, DriveId::new)?,
                contributor: contributor.parse(i, ContributorId::new)?,
                captured_at: captured_at.time(i)?,
                pos: pos(i)?,
                heading_deg: heading.val(i)?,
                cell: h3.parse(i, str::parse)?,
                image_key: image_key.str(i)?.to_owned(),
                content_sha256: sha.str(i)?.to_owned(),
                phash: phash.opt(i),
                camera: Camera {
                    hfov_deg: hfov.val(i)?,
                    mount_yaw_deg: yaw.val(i)?,
                    width: width.val(i)?,
                    height: height.val(i)?,
                },
                flags: flags(i)?,
                blur: blur(i)?,
            });
        }
        Ok(())
    }
}

impl Record for Detection {
    const DATASET: Dataset = Dataset::Detections;

    fn sort(rows: &mut [&Self]) {
        rows.sort_by(|a, b| {
            a.frame_id
                .cmp(&b.frame_id)
                .then(a.class.cmp(&b.class))
                .then(a.bbox.x0.total_cmp(&b.bbox.x0))
                .then(a.bbox.y0.total_cmp(&b.bbox.y0))
                .then(a.bbox.x1.total_cmp(&b.bbox.x1))
                .then(a.bbox.y1.total_cmp(&b.bbox.y1))
                .then(b.score.total_cmp(&a.score))
                .then(a.model.cmp(&b.model))
        });
    }

    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError> {
        let r = || rows.iter().copied();
        Ok(vec![
            strings(r().map(|d| d.frame_id.as_str())),
            strings(r().map(|d| d.class.as_str())),
            f32s(r().map(|d| d.score)),
            f32s(r().map(|d| d.bbox.x0)),
            f32s(r().map(|d| d.bbox.y0)),
            f32s(r().map(|d| d.bbox.x1)),
            f32s(r().map(|d| d.bbox.y1)),
            f64s(r().map(|d| d.bearing_deg)),
            strings(r().map(|d| d.model.as_str())),
            Arc::new(r().map(|d| d.text.as_deref()).collect::<StringArray>()),
            Arc::new(r().map(|d| d.value).collect::<UInt32Array>()),
        ])
    }

    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()> {
        let frame_id = c.utf8("frame_id")?;
        let class = c.utf8("class")?;
        let score = c.prim::<F32>("score")?;
        let x0 = c.prim::<F32>("x0")?;
        let y0 = c.prim::<F32>("y0")?;
        let x1 = c.prim::<F32>("x1")?;
        let y1 = c.prim::<F32>("y1")?;
        let bearing = c.prim::<F64>("bearing")?;
        let model = c.utf8("model")?;
        let text = c.utf8("text")?;
        let value = c.prim::<U32>("value")?;
        for i in 0..c.len() {
            out.push(Detection {
                frame_id: frame_id.parse(i, FrameId::new)?,
                class: class.parse(i, str::parse)?,
                score: score.val(i)?,
                bbox: BBox {
                    x0: x0.val(i)?,
                    y0: y0.val(i)?,
                    x1: x1.val(i)?,
                    y1: y1.val(i)?,
                },
                bearing_deg: bearing.val(i)?,
                model: model.str(i)?.to_owned(),
                text: text.opt_str(i).map(str::to_owned),
                value: value.opt(i),
            });
        }
        Ok(())
    }
}

impl Record for MapFeature {
    const DATASET: Dataset = Dataset::Features;

    fn sort(rows: &mut [&Self]) {
        // Cached: the key needs an H3 lookup per row. Unlocatable rows sort first and
        // fail in `to_columns`.
        rows.sort_by_cached_key(|f| (cell_of(f.pos).map_or(0, CellId::as_u64), f.id.clone()));
    }

    fn point(&self) -> Option<(f64, f64)> {
        Some((self.pos.lon(), self.pos.lat()))
    }

    fn partition(&self) -> Result<Vec<String>, CoreError> {
        Ok(vec![
            time_value(&self.last_seen),
            cell_value(cell_of(self.pos)?),
        ])
    }

    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError> {
        let r = || rows.iter().copied();
        let cells = r()
            .enumerate()
            .map(|(row, f)| {
                cell_of(f.pos)
                    .map(|c| c.to_string())
                    .map_err(|e| StoreError::InvalidInput {
                        dataset: Self::DATASET.name().into(),
                        row,
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(vec![
            strings(r().map(|f| f.id.as_str())),
            strings(r().map(|f| f.class.as_str())),
            f64s(r().map(|f| f.pos.lon())),
            f64s(r().map(|f| f.pos.lat())),
            points(r().map(|f| (f.pos.lon(), f.pos.lat()))),
            point_boxes(r().map(|f| (f.pos.lon(), f.pos.lat()))),
            strings(cells.iter().map(String::as_str)),
            f64s(r().map(|f| f.uncertainty_m)),
            u32s(r().map(|f| f.n_detections)),
            u32s(r().map(|f| f.n_drives)),
            f64s(r().map(|f| f.confidence)),
            timestamps(r().map(|f| time_to_micros(&f.first_seen))),
            timestamps(r().map(|f| time_to_micros(&f.last_seen))),
            strings(r().map(|f| f.status.as_str())),
            Arc::new(r().map(|f| f.azimuth_deg).collect::<Float64Array>()),
            bools(r().map(|f| f.single_view)),
            Arc::new(r().map(|f| f.value).collect::<UInt32Array>()),
        ])
    }

    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()> {
        let id = c.utf8("feature_id")?;
        let class = c.utf8("class")?;
        let pos = decode_position(c)?;
        let uncertainty = c.prim::<F64>("uncertainty_m")?;
        let n_detections = c.prim::<U32>("n_detections")?;
        let n_drives = c.prim::<U32>("n_drives")?;
        let confidence = c.prim::<F64>("confidence")?;
        let first_seen = c.prim::<Ts>("first_seen")?;
        let last_seen = c.prim::<Ts>("last_seen")?;
        let status = c.utf8("status")?;
        let azimuth = c.prim::<F64>("azimuth")?;
        let single_view = c.boolean("single_view")?;
        let value = c.prim::<U32>("value")?;
        for i in 0..c.len() {
            out.push(MapFeature {
                id: id.parse(i, FeatureId::new)?,
                class: class.parse(i, str::parse)?,
                pos: pos(i)?,
                uncertainty_m: uncertainty.val(i)?,
                n_detections: n_detections.val(i)?,
                n_drives: n_drives.val(i)?,
                confidence: confidence.val(i)?,
                first_seen: first_seen.time(i)?,
                last_seen: last_seen.time(i)?,
                status: status.str(i)?.parse().map_err(|_| {
                    status.err(
                        i,
                        "expected one of new, confirmed, moved, removed".to_owned(),
                    )
                })?,
                azimuth_deg: azimuth.opt(i),
                single_view: single_view.val(i)?,
                value: value.opt(i),
            });
        }
        Ok(())
    }
}

impl Record for CoverageCell {
    const DATASET: Dataset = Dataset::Coverage;

    fn sort(rows: &mut [&Self]) {
        rows.sort_by(|a, b| {
            (a.cell.as_u64(), a.day, &a.contributor, a.last_covered_at).cmp(&(
                b.cell.as_u64(),
                b.day,
                &b.contributor,
                b.last_covered_at,
            ))
        });
    }

    fn point(&self) -> Option<(f64, f64)> {
        let c = self.cell.center();
        Some((c.lon(), c.lat()))
    }

    fn partition(&self) -> Result<Vec<String>, CoreError> {
        Ok(vec![date_value(self.day), cell_value(self.cell)])
    }

    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError> {
        let r = || rows.iter().copied();
        let cells: Vec<String> = r().map(|c| c.cell.to_string()).collect();
        let centres: Vec<LatLon> = r().map(|c| c.cell.center()).collect();
        Ok(vec![
            strings(cells.iter().map(String::as_str)),
            strings(r().map(|c| c.contributor.as_str())),
            Arc::new(Date32Array::from_iter_values(
                r().map(|c| date_to_days(c.day)),
            )),
            timestamps(r().map(|c| time_to_micros(&c.last_covered_at))),
            u32s(r().map(|c| c.n_frames)),
            f64s(r().map(|c| c.heading_deg)),
            f64s(centres.iter().map(|p| p.lon())),
            f64s(centres.iter().map(|p| p.lat())),
            points(centres.iter().map(|p| (p.lon(), p.lat()))),
            point_boxes(centres.iter().map(|p| (p.lon(), p.lat()))),
        ])
    }

    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()> {
        // lon/lat/geometry are derived from `h3` and not read back.
        let h3 = c.utf8("h3")?;
        let contributor = c.utf8("contributor_id")?;
        let day = c.prim::<D32>("day")?;
        let last = c.prim::<Ts>("last_covered_at")?;
        let n_frames = c.prim::<U32>("n_frames")?;
        let heading = c.prim::<F64>("heading")?;
        for i in 0..c.len() {
            let days = day.val(i)?;
            out.push(CoverageCell {
                cell: h3.parse(i, str::parse)?,
                contributor: contributor.parse(i, ContributorId::new)?,
                day: days_to_date(days)
                    .ok_or_else(|| day.err(i, format!("date {days} days out of range")))?,
                last_covered_at: last.time(i)?,
                n_frames: n_frames.val(i)?,
                heading_deg: heading.val(i)?,
            });
        }
        Ok(())
    }
}

impl Record for IngestRecord {
    const DATASET: Dataset = Dataset::IngestReport;

    fn sort(rows: &mut [&Self]) {
        rows.sort_by(|a, b| {
            (&a.drive_id, &a.file, &a.contributor, a.captured_at).cmp(&(
                &b.drive_id,
                &b.file,
                &b.contributor,
                b.captured_at,
            ))
        });
    }

    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError> {
        let r = || rows.iter().copied();
        let mut cols = vec![
            strings(r().map(|x| x.drive_id.as_str())),
            strings(r().map(|x| x.contributor.as_str())),
            strings(r().map(|x| x.file.as_str())),
            Arc::new(
                TimestampMicrosecondArray::from(
                    r().map(|x| x.captured_at.as_ref().map(time_to_micros))
                        .collect::<Vec<_>>(),
                )
                .with_timezone(schema::TIMEZONE),
            ),
            strings(r().map(|x| match x.decision {
                IngestDecision::Kept => "kept",
                IngestDecision::Dropped(_) => "dropped",
            })),
            Arc::new(
                r().map(|x| match &x.decision {
                    IngestDecision::Kept => None,
                    IngestDecision::Dropped(reason) => Some(reason.to_string()),
                })
                .collect::<StringArray>(),
            ),
        ];
        cols.extend(flag_columns(r().map(|x| &x.flags)));
        Ok(cols)
    }

    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()> {
        let drive = c.utf8("drive_id")?;
        let contributor = c.utf8("contributor_id")?;
        let file = c.utf8("file")?;
        let captured_at = c.prim::<Ts>("captured_at")?;
        let decision = c.utf8("decision")?;
        let reason = c.utf8("reason")?;
        let flags = decode_flags(c)?;
        for i in 0..c.len() {
            let decision = match (decision.str(i)?, reason.opt_str(i)) {
                ("kept", None) => IngestDecision::Kept,
                ("dropped", Some(r)) => {
                    IngestDecision::Dropped(r.parse().map_err(|e| reason.err(i, format!("{e}")))?)
                }
                ("kept", Some(_)) => return Err(reason.err(i, "must be null for a kept frame")),
                ("dropped", None) => {
                    return Err(reason.err(i, "a dropped frame needs a reason"));
                }
                (other, _) => {
                    return Err(decision.err(
                        i,
                        format!("expected \"kept\" or \"dropped\", got {other:?}"),
                    ));
                }
            };
            out.push(IngestRecord {
                drive_id: drive.parse(i, DriveId::new)?,
                contributor: contributor.parse(i, ContributorId::new)?,
                file: file.str(i)?.to_owned(),
                captured_at: captured_at.opt_time(i)?,
                decision,
                flags: flags(i)?,
            });
        }
        Ok(())
    }
}

impl Record for LedgerEntry {
    const DATASET: Dataset = Dataset::RewardsLedger;

    fn sort(rows: &mut [&Self]) {
        rows.sort_by(|a, b| {
            (
                a.epoch,
                &a.contributor,
                a.cell.as_u64(),
                &a.reason,
                a.amount,
            )
                .cmp(&(
                    b.epoch,
                    &b.contributor,
                    b.cell.as_u64(),
                    &b.reason,
                    b.amount,
                ))
        });
    }

    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError> {
        let r = || rows.iter().copied();
        let epochs: Vec<String> = r().map(|e| e.epoch.to_string()).collect();
        let cells: Vec<String> = r().map(|e| e.cell.to_string()).collect();
        Ok(vec![
            strings(epochs.iter().map(String::as_str)),
            strings(r().map(|e| e.contributor.as_str())),
            strings(cells.iter().map(String::as_str)),
            Arc::new(UInt64Array::from_iter_values(r().map(|e| e.amount))),
            strings(r().map(|e| e.reason.as_str())),
        ])
    }

    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()> {
        let epoch = c.utf8("epoch")?;
        let contributor = c.utf8("contributor_id")?;
        let h3 = c.utf8("h3")?;
        let amount = c.prim::<U64>("amount")?;
        let reason = c.utf8("reason")?;
        for i in 0..c.len() {
            out.push(LedgerEntry {
                epoch: epoch.parse(i, str::parse)?,
                contributor: contributor.parse(i, ContributorId::new)?,
                cell: h3.parse(i, str::parse)?,
                amount: amount.val(i)?,
                reason: reason.str(i)?.to_owned(),
            });
        }
        Ok(())
    }
}

impl Record for crate::RewardsSummaryRow {
    const DATASET: Dataset = Dataset::RewardsSummary;

    fn sort(rows: &mut [&Self]) {
        rows.sort_by(|a, b| (a.epoch, &a.contributor).cmp(&(b.epoch, &b.contributor)));
    }

    fn to_columns(rows: &[&Self]) -> Result<Vec<ArrayRef>, StoreError> {
        let r = || rows.iter().copied();
        let epochs: Vec<String> = r().map(|e| e.epoch.to_string()).collect();
        Ok(vec![
            strings(epochs.iter().map(String::as_str)),
            strings(r().map(|e| e.contributor.as_str())),
            Arc::new(UInt64Array::from_iter_values(r().map(|e| e.total))),
            strings(r().map(|e| e.leaf.as_str())),
            Arc::new(UInt32Array::from_iter_values(r().map(|e| e.reputation))),
            strings(r().map(|e| e.status.as_str())),
        ])
    }

    fn decode(c: &Columns<'_>, out: &mut Vec<Self>) -> Field<()> {
        let epoch = c.utf8("epoch")?;
        let contributor = c.utf8("contributor_id")?;
        let total = c.prim::<U64>("total")?;
        let leaf = c.utf8("merkle_leaf")?;
        let reputation = c.prim::<U32>("reputation")?;
        let status = c.utf8("status")?;
        for i in 0..c.len() {
            out.push(crate::RewardsSummaryRow {
                epoch: epoch.parse(i, str::parse)?,
                contributor: contributor.parse(i, ContributorId::new)?,
                total: total.val(i)?,
                leaf: leaf.str(i)?.to_owned(),
                reputation: reputation.val(i)?,
                status: status.str(i)?.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dates_map_to_days_since_the_unix_epoch_and_back() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(date_to_days(epoch), 0);
        let d = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        assert_eq!(days_to_date(date_to_days(d)), Some(d));
        assert_eq!(days_to_date(-1), NaiveDate::from_ymd_opt(1969, 12, 31));
        assert_eq!(days_to_date(i32::MAX), None);
    }

    #[test]
    fn timestamps_are_stored_as_floored_microseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(time_to_micros(&t), 1_700_000_000_123_456);
        let before = DateTime::from_timestamp(-1, 999_999_999).unwrap();
        assert_eq!(time_to_micros(&before), -1);
    }
}
