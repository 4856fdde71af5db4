//! Writing a DataFrame to a folder of shoal's S3: Parquet (snappy, zstd, gzip or none), JSON
//! Lines or CSV, optionally split into `key=value` partition folders, appending new part files
//! (Glue's sink default) or overwriting. An overwrite stores the new files before it removes the
//! old ones, so a failed write leaves the previous data in place.

use super::json::keys;
use super::{LakeError, Result};
use datafusion::config::{CsvOptions, TableParquetOptions};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::DataFrame;
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Target {
    /// `s3://bucket/prefix/`.
    pub location: String,
    /// `parquet` (also `glueparquet`), `json` or `csv`.
    pub format: String,
    /// `snappy` (default for Parquet), `zstd`, `gzip`, `lz4`, `uncompressed`/`none`.
    pub compression: Option<String>,
    pub partition_keys: Vec<String>,
    pub overwrite: bool,
}

pub struct Written {
    pub rows: u64,
    /// Keys of the objects written.
    pub keys: Vec<String>,
}

fn parquet_codec(c: Option<&str>) -> Result<String> {
    Ok(match c.unwrap_or("snappy").to_ascii_lowercase().as_str() {
        "snappy" => "snappy".into(),
        "zstd" => "zstd(3)".into(),
        "gzip" => "gzip(6)".into(),
        "lz4" => "lz4".into(),
        "brotli" => "brotli(1)".into(),
        "none" | "uncompressed" => "uncompressed".into(),
        other => {
            return Err(LakeError::Data(format!(
                "unsupported Parquet compression '{other}' (snappy, zstd, gzip, lz4, brotli, uncompressed)"
            )))
        }
    })
}

pub async fn write(s3: &Arc<crate::s3::S3>, df: DataFrame, target: &Target) -> Result<Written> {
    let folder = format!("{}/", target.location.trim_end_matches('/'));
    let (bucket, before) = keys(s3, &folder)?;
    let before: HashSet<String> = before.into_iter().map(|o| o.key).collect();
    let options = DataFrameWriteOptions::new().with_partition_by(target.partition_keys.clone());
    let result = match target.format.as_str() {
        "parquet" | "glueparquet" => {
            let mut o = TableParquetOptions::default();
            o.global.compression = Some(parquet_codec(target.compression.as_deref())?);
            df.write_parquet(&folder, options, Some(o)).await?
        }
        "json" => df.write_json(&folder, options, None).await?,
        "csv" => {
            let o = CsvOptions::default().with_has_header(true);
            df.write_csv(&folder, options, Some(o)).await?
        }
        other => {
            return Err(LakeError::Data(format!(
                "shoal writes parquet, json and csv; '{other}' is not supported"
            )))
        }
    };
    let rows = result
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::UInt64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0);
    let (_, after) = keys(s3, &folder)?;
    let written: Vec<String> = after
        .iter()
        .map(|o| o.key.clone())
        .filter(|k| !before.contains(k))
        .collect();
    if target.overwrite {
        for k in before.iter().filter(|k| !written.contains(k)) {
            s3.delete_object(&bucket, k)
                .await
                .map_err(|e| LakeError::Data(format!("cannot remove s3://{bucket}/{k}: {e}")))?;
        }
    }
    Ok(Written {
        rows,
        keys: written,
    })
}
