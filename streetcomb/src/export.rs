//! `streetcomb tiles export`: every tile of the map in one PMTiles archive.

use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use streetcomb_datasets::Store;
use streetcomb_tiles::PmtilesStats;

use streetcomb_pipeline::progress;

/// Writes the store's tiles of zooms `0..=max_zoom` to `path` as PMTiles v3: into a
/// temporary file next to it, renamed over `path` once complete.
pub async fn pmtiles(
    store: &Store,
    path: &Path,
    max_zoom: u8,
    quiet: bool,
) -> Result<PmtilesStats> {
    let source = streetcomb_server::serve::tile_source(store).await?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<PmtilesStats> {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = BufWriter::new(file);
        let pb = progress::bar(0, "tiles", quiet);
        let stats = streetcomb_tiles::write_pmtiles_with(
            &source,
            max_zoom,
            &mut out,
            &mut |done, total| {
                pb.set_length(total);
                pb.set_position(done);
            },
        )
        .with_context(|| format!("writing {}", tmp.display()))?;
        pb.finish_and_clear();
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(stats)
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}
