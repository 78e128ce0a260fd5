//! `streetcomb blur IN OUT`: the standalone anonymiser over a folder of JPEGs.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use streetcomb_vision::VisionConfig;

use crate::error::{Context, PipelineError, Result, invalid};
use crate::{drive_dir, progress};

/// `streetcomb blur IN OUT`: the standalone anonymiser. Every frame goes through the
/// full vision stage (faces, plates, vehicles, detection, encode), one pipeline per
/// core with frames in flight on each, and is written under its own name at its own
/// size. Frames that fail are reported and not written (fail-closed); the command
/// fails if any did.
pub fn blur_folder(input: &Path, output: &Path, config: &VisionConfig, quiet: bool) -> Result<()> {
    let files = drive_dir::list_jpegs(input)?;
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let workers = crate::available_cores();
    let mut pipes = crate::pipelines(workers, config)?;
    let pb = progress::bar(files.len() as u64, "blur", quiet);
    let failed = AtomicUsize::new(0);
    let altered = std::sync::Mutex::new(Vec::with_capacity(files.len()));
    crate::run_stream(
        &mut pipes,
        files.len(),
        |i| std::fs::read(&files[i]).ok(),
        |i, res| {
            let p = &files[i];
            let written = res.map_err(PipelineError::Invalid).and_then(|out| {
                let name = p.file_name().context("file name")?;
                altered
                    .lock()
                    .map_err(|_| PipelineError::Invalid("a blur worker panicked".into()))?
                    .push(out.altered);
                drive_dir::write_atomic(&output.join(name), &out.blurred_jpeg)
            });
            if let Err(e) = written {
                failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(file = %p.display(), error = %e, "not blurred, not written");
            }
            pb.inc(1);
        },
    );
    let failed = failed.into_inner();
    pb.finish_and_clear();
    if failed > 0 {
        invalid!(
            "{failed} of {} images could not be blurred and were not written",
            files.len()
        );
    }
    if !quiet {
        let altered = altered.into_inner().unwrap_or_default();
        eprintln!(
            "blurred {} images into {} (textured area altered: median {:.2} %)",
            files.len(),
            output.display(),
            100.0 * streetcomb_vision::audit::median(&altered)
        );
    }
    Ok(())
}
