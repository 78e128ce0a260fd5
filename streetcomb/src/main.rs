//! `streetcomb`: the command line and HTTP server over the streetcomb library crates.
//!
//! A thin layer: each subcommand reads datasets from the store, calls one stage crate,
//! and writes datasets back. All I/O of the pipeline (besides `datasets`) lives here.

mod basemap;
mod blur_review;
mod cli;
mod compare_osm;
mod demo;
mod drive_dir;
mod eval;
mod export;
mod ingest_cmd;
mod keys;
mod models;
mod pipeline;
mod progress;
mod query;
mod sample;
mod serve;
mod serve_query;
mod upload_client;
mod upload_server;
mod video;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = if cli.quiet { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STREETCOMB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
