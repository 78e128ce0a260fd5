//! `streetcomb datasets …`: maintenance of the data lake (compaction of the small
//! files that many appends leave behind, and a listing of the current versions).

use anyhow::Result;
use clap::Subcommand;
use streetcomb_datasets::{Dataset, Store};

#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// Merge each partition's files into one file (all datasets, or the one named).
    Compact {
        /// frames, detections, features, coverage, ingest_report, rewards_ledger, …
        dataset: Option<String>,
    },
    /// The current version, files, rows and bytes of every dataset.
    List,
}

pub async fn datasets(location: &str, command: DatasetsCommand, json: bool) -> Result<()> {
    let store = Store::open(location).await?;
    match command {
        DatasetsCommand::Compact { dataset } => {
            let reports = match dataset {
                Some(name) => vec![store.compact(name.parse::<Dataset>()?).await?],
                None => store.compact_all().await?,
            };
            if json {
                println!("{}", serde_json::to_string(&reports)?);
            } else {
                for r in reports.iter().filter(|r| r.files_before > 0) {
                    println!(
                        "{}: {} files -> {} ({} partitions merged, {} orphans deleted)",
                        r.dataset,
                        r.files_before,
                        r.files_after,
                        r.partitions_merged,
                        r.orphans_deleted
                    );
                }
            }
        }
        DatasetsCommand::List => {
            let infos = store.datasets().await?;
            if json {
                let v: Vec<_> = infos
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "name": d.name, "version": d.version, "files": d.files,
                            "rows": d.rows, "bytes": d.bytes, "schema_version": d.schema_version,
                            "written_at": d.written_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string(&v)?);
            } else {
                for d in infos {
                    println!(
                        "{}: version {}, {} files, {} rows, {} bytes",
                        d.name, d.version, d.files, d.rows, d.bytes
                    );
                }
            }
        }
    }
    Ok(())
}
