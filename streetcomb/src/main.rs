//! `streetcomb`: the command line over the streetcomb library crates.
//!
//! A thin layer: it parses the command line, calls `streetcomb-pipeline` (the stages
//! over the datasets) or `streetcomb-server` (HTTP), and prints what they report.

mod cli;
mod cluster_cmd;
mod compare_osm;
mod demo;
mod export;
mod ingest_cmd;
mod query;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // The NATS client reports every (re)connection at info: only its warnings show.
    let filter = if cli.quiet {
        "warn"
    } else {
        "info,async_nats=warn"
    };
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
