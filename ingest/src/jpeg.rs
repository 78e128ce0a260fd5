//! Cheap JPEG checks: header, size and completeness, without decoding pixels.

use std::io::Cursor;

use crate::IngestError;

/// What ingest needs to know about an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
}

/// Checks `bytes` is a complete JPEG and reads its size. A truncated upload (no
/// end-of-image marker) is refused: decoding it later would publish a grey half frame.
pub fn inspect_jpeg(bytes: &[u8], file: &str) -> Result<JpegInfo, IngestError> {
    let err = |reason: String| IngestError::Jpeg {
        file: file.to_owned(),
        reason,
    };
    if bytes.len() < 4 || bytes[..2] != [0xFF, 0xD8] {
        return Err(err(
            "does not start with a JPEG start-of-image marker".into()
        ));
    }
    // Some encoders pad after EOI; look in the last bytes.
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Err(err("truncated: no end-of-image marker".into()));
    }
    let reader = image::ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Jpeg);
    let (width, height) = reader.into_dimensions().map_err(|e| err(e.to_string()))?;
    Ok(JpegInfo { width, height })
}
