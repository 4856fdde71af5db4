//! `shoal sql "SELECT ..."`: SQL over the Glue Data Catalog of a running server (DataFusion's
//! dialect; databases are schemas, so `wordpress_api."silver-posts"` names a table).

use super::client::{read_arg, Client, ServerArgs};
use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The query, or `@FILE` to read it from a file.
    query: String,
    /// The database unqualified table names resolve in.
    #[arg(long, short)]
    database: Option<String>,
    /// How to print the result (`parquet` needs `--output`).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the result to this file instead of standard output.
    #[arg(long, short)]
    output: Option<std::path::PathBuf>,
}

pub fn run(a: SqlArgs) -> Result<ExitCode> {
    let sql = read_arg(&a.query)?;
    let format = match a.format {
        Format::Table => "table",
        Format::Csv => "csv",
        Format::Json => "json",
        Format::Parquet => "parquet",
    };
    if matches!(a.format, Format::Parquet) && a.output.is_none() {
        bail!("--format parquet writes binary data: give --output FILE");
    }
    let c = Client::new(a.server);
    let out = c.shoal(
        "/_shoal/sql",
        Some(json!({"sql": sql, "database": a.database, "format": format})),
    )?;
    let body = out["body"].as_str().unwrap_or_default();
    let bytes = if format == "parquet" {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .context("the server sent unreadable Parquet")?
    } else {
        body.as_bytes().to_vec()
    };
    match &a.output {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut so = std::io::stdout().lock();
            so.write_all(&bytes)?;
            if !bytes.ends_with(b"\n") {
                so.write_all(b"\n")?;
            }
        }
    }
    if format == "table" {
        eprintln!(
            "({} row{})",
            out["rows"],
            if out["rows"] == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
