//! `streetcomb blur-review IN OUT.png`: a contact sheet for checking the privacy blur by eye.
//!
//! Each JPEG of a folder (sorted by name, at most `--max`) goes through the same
//! vision pipeline as `streetcomb blur` (faces, plates, vehicle plate bands). The sheet
//! shows the original, unblurred pixels scaled into a grid cell, with a red outline
//! around every region the blur hides (detections grown by their margin, and the
//! vehicle bands), so a reviewer sees at a glance what was hidden and what was missed. `OUT.json` beside the sheet lists, per file, the boxes
//! found in frame pixels and where the file's thumbnail sits on the sheet.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result, invalid};
use image::{Rgb, RgbImage};
use serde::Serialize;
use streetcomb_core::BBox;

use crate::{drive_dir, progress};

/// Size of one grid cell; a frame is scaled down (never up) to fit it.
pub const CELL_W: u32 = 480;
pub const CELL_H: u32 = 360;
/// Space between cells and around the sheet.
pub const GAP: u32 = 8;
/// Outline width on the sheet, in sheet pixels.
const LINE: u32 = 2;
const RED: Rgb<u8> = Rgb([255, 0, 0]);
const BACKGROUND: Rgb<u8> = Rgb([40, 40, 40]);

/// What `OUT.json` holds.
#[derive(Debug, Serialize)]
pub struct Review {
    /// The face model and its version (`centerface_int8@<sha256 prefix>`).
    pub model: String,
    pub threshold: f32,
    /// Fraction of a box's size added on every side before blurring.
    pub margin: f32,
    pub columns: u32,
    pub frames: Vec<ReviewedFrame>,
}

#[derive(Debug, Serialize)]
pub struct ReviewedFrame {
    pub file: String,
    pub width: u32,
    pub height: u32,
    /// Where the thumbnail sits on the sheet, and its scale from frame pixels.
    pub thumb: Thumb,
    /// Face detections in frame pixels (without the blur margin).
    pub faces: Vec<FaceBox>,
    /// Every region the blur hides (faces and plates with margin, vehicle bands).
    pub regions: Vec<BBox>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thumb {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub scale: f32,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct FaceBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    pub score: f32,
}

/// Writes the sheet to `output` and the box list to `output` with a `.json` extension.
pub fn run(
    input: &Path,
    output: &Path,
    max: usize,
    cols: u32,
    config: &streetcomb_vision::VisionConfig,
    quiet: bool,
) -> Result<Review> {
    if cols == 0 || max == 0 {
        invalid!("--max and --cols must be at least 1");
    }
    let mut files = drive_dir::list_jpegs(input)?;
    if files.is_empty() {
        invalid!("{}: no .jpg or .jpeg files to review", input.display());
    }
    files.truncate(max);
    let mut pipe = crate::pipelines(1, config)?
        .pop()
        .context("no vision pipeline")?;
    let margin = pipe.faces.params.margin;
    let cols = cols.min(files.len() as u32);
    let rows = (files.len() as u32).div_ceil(cols);
    let (sheet_w, sheet_h) = sheet_size(cols, rows);
    let mut sheet = RgbImage::from_pixel(sheet_w, sheet_h, BACKGROUND);
    let mut frames = Vec::with_capacity(files.len());
    let pb = progress::bar(files.len() as u64, "review", quiet);
    for (i, path) in files.iter().enumerate() {
        let img = read_rgb(path)?;
        let out = pipe
            .process_image(img.clone())
            .with_context(|| format!("{}: the vision pipeline failed", path.display()))?;
        let (w, h) = img.dimensions();
        let thumb = place(i as u32, cols, w, h);
        let small = image::imageops::thumbnail(&img, thumb.w, thumb.h);
        image::imageops::replace(&mut sheet, &small, i64::from(thumb.x), i64::from(thumb.y));
        for hidden in &out.blurred {
            outline(&mut sheet, &thumb, hidden);
        }
        let faces = out.faces;
        frames.push(ReviewedFrame {
            file: file_name(path),
            width: w,
            height: h,
            thumb,
            faces: faces
                .iter()
                .map(|f| FaceBox {
                    x0: f.bbox.x0,
                    y0: f.bbox.y0,
                    x1: f.bbox.x1,
                    y1: f.bbox.y1,
                    score: f.score,
                })
                .collect(),
            regions: out.blurred,
        });
        pb.inc(1);
    }
    pb.finish_and_clear();

    let review = Review {
        model: pipe.faces.info.label(),
        threshold: pipe.faces.params.threshold,
        margin,
        columns: cols,
        frames,
    };
    let mut png = Vec::new();
    sheet
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .context("encoding the contact sheet as PNG")?;
    drive_dir::write_atomic(&json_path(output), &serde_json::to_vec_pretty(&review)?)?;
    drive_dir::write_atomic(output, &png)?;
    Ok(review)
}

/// `OUT.json` beside `OUT.png`.
pub fn json_path(output: &Path) -> PathBuf {
    output.with_extension("json")
}

fn read_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let img = image::load_from_memory(&bytes)
        .with_context(|| format!("{}: not a decodable JPEG", path.display()))?;
    Ok(img.into_rgb8())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Sheet size for a grid of `cols` × `rows` cells.
pub fn sheet_size(cols: u32, rows: u32) -> (u32, u32) {
    (cols * (CELL_W + GAP) + GAP, rows * (CELL_H + GAP) + GAP)
}

/// Where frame `i` (of size `w` × `h`) goes: its cell, scaled to fit and centred.
fn place(i: u32, cols: u32, w: u32, h: u32) -> Thumb {
    let scale = (CELL_W as f32 / w as f32)
        .min(CELL_H as f32 / h as f32)
        .min(1.0);
    let tw = ((w as f32 * scale).round() as u32).clamp(1, CELL_W);
    let th = ((h as f32 * scale).round() as u32).clamp(1, CELL_H);
    let (col, row) = (i % cols, i / cols);
    Thumb {
        x: GAP + col * (CELL_W + GAP) + (CELL_W - tw) / 2,
        y: GAP + row * (CELL_H + GAP) + (CELL_H - th) / 2,
        w: tw,
        h: th,
        scale,
    }
}

/// Draws `b` (frame pixels) as a red outline on `thumb`'s area of the sheet, clipped to
/// that area so it never spills onto a neighbouring frame.
fn outline(sheet: &mut RgbImage, thumb: &Thumb, b: &BBox) {
    if thumb.w < 1 || thumb.h < 1 {
        return;
    }
    let to = |v: f32, max: u32| ((v * thumb.scale).round().max(0.0) as u32).min(max - 1);
    let (x0, x1) = (to(b.x0, thumb.w), to(b.x1, thumb.w));
    let (y0, y1) = (to(b.y0, thumb.h), to(b.y1, thumb.h));
    for y in y0..=y1 {
        for x in x0..=x1 {
            let edge = x < x0 + LINE || x + LINE > x1 || y < y0 + LINE || y + LINE > y1;
            if edge {
                sheet.put_pixel(thumb.x + x, thumb.y + y, RED);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_fit_their_cell_keep_their_aspect_and_are_never_enlarged() {
        let t = place(5, 4, 1920, 1080);
        assert_eq!((t.w, t.h), (480, 270));
        // Sixth frame of four columns: second row, second column, centred vertically.
        assert_eq!(t.x, GAP + (CELL_W + GAP));
        assert_eq!(t.y, GAP + (CELL_H + GAP) + (CELL_H - 270) / 2);
        let small = place(0, 4, 200, 100);
        assert_eq!((small.w, small.h, small.scale), (200, 100, 1.0));
        assert_eq!(small.x, GAP + (CELL_W - 200) / 2);
    }

    #[test]
    fn an_outline_is_red_on_its_edges_untouched_inside_and_clipped_to_its_thumbnail() {
        let (w, h) = sheet_size(2, 1);
        let mut sheet = RgbImage::from_pixel(w, h, BACKGROUND);
        let t = place(0, 2, 480, 360);
        let b = BBox::new(100.0, 50.0, 200.0, 150.0);
        outline(&mut sheet, &t, &b);
        assert_eq!(*sheet.get_pixel(t.x + 100, t.y + 100), RED);
        assert_eq!(*sheet.get_pixel(t.x + 101, t.y + 100), RED);
        assert_eq!(*sheet.get_pixel(t.x + 150, t.y + 150), RED);
        assert_eq!(*sheet.get_pixel(t.x + 150, t.y + 100), BACKGROUND);
        assert_eq!(*sheet.get_pixel(t.x + 99, t.y + 100), BACKGROUND);

        // A box running past the frame stops at the thumbnail's edge.
        let wide = BBox::new(400.0, 0.0, 5000.0, 10.0);
        outline(&mut sheet, &t, &wide);
        assert_eq!(*sheet.get_pixel(t.x + t.w - 1, t.y + 5), RED);
        let next = place(1, 2, 480, 360);
        for x in t.x + t.w..next.x + 10 {
            assert_eq!(*sheet.get_pixel(x, t.y + 5), BACKGROUND, "x {x}");
        }
    }
}
