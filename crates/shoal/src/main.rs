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
mod prefetch;
mod s3;
mod scheduler;
mod sfn;
mod sns;
mod sqs;
mod ssm;
mod stopping;
mod store;
mod sweeper;
mod tasks;
mod values;

/// mimalloc: the engine allocates many small short-lived values; glibc's allocator spent a
/// quarter of the time of a JSONata transition.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc asks for transparent huge pages, so each first touch of a 2 MiB region zeroes all
/// of it at once: a new thread's or arena's first use cost milliseconds inside a request (the
/// first execution a server starts took 5.6 ms), and resident memory grew in 2 MiB steps. The
/// server's allocations are small: 4 KiB pages serve it better.
fn small_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_THP_DISABLE) takes integer arguments only and changes no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    small_pages();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
