//! `shoal`: one binary for the AWS serverless data stack, run locally.

mod api;
mod athena;
mod cli;
mod due;
mod events;
mod glue;
mod lake;
mod lambda;
mod logs;
mod metrics;
mod pipes;
mod s3;
mod scheduler;
mod sfn;
mod sns;
mod sqs;
mod ssm;
mod store;
mod tasks;
mod values;

/// mimalloc: the engine allocates many small short-lived values; glibc's allocator spent a
/// quarter of the time of a JSONata transition.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
