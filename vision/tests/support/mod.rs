//! Fixtures shared by the vision tests and the measuring examples
//! (`examples/face_scan.rs`, `examples/privacy_bench.rs` include this file by path):
//! the labelled faces, labelled faces shrunk into a 1080p frame, pixel variance.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use image::RgbImage;
use streetcomb_core::BBox;

pub fn testdata(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(p)
}

/// The boxes of the CSV file `path` under `testdata/` (after its header line), of
/// the rows `keep` accepts: the file named in the first field and the box whose x, y,
/// width and height are the four fields from field `x`.
pub fn csv_boxes(path: &str, x: usize, keep: impl Fn(&[&str]) -> bool) -> Vec<(String, BBox)> {
    let csv = std::fs::read_to_string(testdata(path)).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| keep(f))
        .map(|f| {
            let n = |i: usize| f[x + i].parse::<f32>().unwrap();
            let b = BBox {
                x0: n(0),
                y0: n(1),
                x1: n(0) + n(2),
                y1: n(1) + n(3),
            };
            (f[0].to_owned(), b)
        })
        .collect()
}

/// The labelled faces of `testdata/faces/boxes.csv` (file, box), without those
/// marked ignore.
pub fn labelled_boxes() -> Vec<(String, BBox)> {
    csv_boxes("faces/boxes.csv", 3, |f| f[7] != "1")
}

/// The labelled photos (at most `photos` of them) shrunk so their faces average
/// `size` px and pasted left to right into a grey 1920×1080 frame at height `y`,
/// `gap` px apart (photos that would not fit are left out); returns the frame and
/// the shrunk face boxes.
pub fn shrunk_faces_frame(size: f32, y: u32, gap: u32, photos: usize) -> (RgbImage, Vec<BBox>) {
    let mut frame = RgbImage::from_pixel(1920, 1080, image::Rgb([120, 124, 118]));
    let labels = labelled_boxes();
    let mut files: Vec<&String> = labels.iter().map(|(f, _)| f).collect();
    files.dedup();
    let mut truths = Vec::new();
    let mut x = 20u32;
    for file in files.into_iter().take(photos) {
        let img = image::open(testdata(&format!("faces/{file}")))
            .unwrap()
            .into_rgb8();
        let faces: Vec<&BBox> = labels
            .iter()
            .filter(|(f, _)| f == file)
            .map(|(_, b)| b)
            .collect();
        let mean_w = faces.iter().map(|b| b.width()).sum::<f32>() / faces.len() as f32;
        let k = size / mean_w;
        let (w, h) = (
            (img.width() as f32 * k) as u32,
            (img.height() as f32 * k) as u32,
        );
        if x + w > 1920 || y + h > 1080 {
            continue;
        }
        let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
        image::imageops::replace(&mut frame, &small, x as i64, y as i64);
        for b in faces {
            truths.push(BBox {
                x0: x as f32 + b.x0 * k,
                y0: y as f32 + b.y0 * k,
                x1: x as f32 + b.x1 * k,
                y1: y as f32 + b.y1 * k,
            });
        }
        x += w + gap;
    }
    (frame, truths)
}

/// Variance of the green channel inside `b`.
pub fn variance(img: &RgbImage, b: &BBox) -> f64 {
    let v: Vec<f64> = (b.y0 as u32..(b.y1 as u32).min(img.height()))
        .flat_map(|y| (b.x0 as u32..(b.x1 as u32).min(img.width())).map(move |x| (x, y)))
        .map(|(x, y)| f64::from(img.get_pixel(x, y).0[1]))
        .collect();
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
}

/// How many of `truths` a face of `got` covers most of, in a `w` × `h` frame: small
/// boxes make IoU jumpy, and the blur box, grown by 15 %, then hides the face.
pub fn faces_found(
    got: &[streetcomb_vision::face::Face],
    truths: &[BBox],
    w: u32,
    h: u32,
) -> usize {
    truths
        .iter()
        .filter(|t| got.iter().any(|f| f.bbox.expanded(0.15, w, h).iou(t) > 0.2))
        .count()
}

/// Fraction of `b`'s pixels whose centre lies inside the union of `regions`.
pub fn covered(b: &BBox, regions: &[BBox]) -> f64 {
    let (mut inside, mut n) = (0u32, 0u32);
    for y in (b.y0.max(0.0) as u32)..(b.y1.ceil() as u32) {
        for x in (b.x0.max(0.0) as u32)..(b.x1.ceil() as u32) {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            n += 1;
            inside += u32::from(
                regions
                    .iter()
                    .any(|r| r.x0 <= px && px <= r.x1 && r.y0 <= py && py <= r.y1),
            );
        }
    }
    f64::from(inside) / f64::from(n.max(1))
}
