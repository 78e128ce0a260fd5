//! Writes the sprite of every class the simulator draws as an RGBA PNG, cropped to
//! the sign, 256 px on the long side: `{class}.png`, and `speed_limit_{v}.png` for the
//! common speed limits. The pictures a sign classifier can be trained on are exactly
//! the ones the simulated frames show. An empty `DONE` file is written last, so that
//! a process waiting for the folder knows it is complete.
//!
//! `cargo run -p streetcomb-sim --example sign_sprites -- OUT_DIR`

use std::error::Error;
use std::path::PathBuf;

use streetcomb_core::FeatureClass;
use streetcomb_sim::{Assets, RENDERED_CLASSES};

/// The speed limits posted on European and North American roads.
const SPEED_LIMITS: [u32; 21] = [
    5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 90, 100, 110, 120, 130,
];

fn main() -> Result<(), Box<dyn Error>> {
    let Some(out) = std::env::args().nth(1).map(PathBuf::from) else {
        return Err("usage: sign_sprites OUT_DIR".into());
    };
    std::fs::create_dir_all(&out)?;
    // Assets want a background; the bundled art does not depend on it.
    let background = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/street/leuvenA.jpg"),
    )?;
    let assets = Assets::new(&[background])?;
    let mut written = 0;
    for class in RENDERED_CLASSES {
        let values: Vec<Option<u32>> = if class == FeatureClass::SpeedLimit {
            SPEED_LIMITS.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        for value in values {
            let Some(img) = assets.sprite_rgba(class, value)? else {
                return Err(format!("no sprite for {class}").into());
            };
            let name = match value {
                Some(v) => format!("{class}_{v}.png"),
                None => format!("{class}.png"),
            };
            img.save(out.join(&name))?;
            written += 1;
        }
    }
    std::fs::write(out.join("DONE"), b"")?;
    println!("{written} sprites in {}", out.display());
    Ok(())
}
