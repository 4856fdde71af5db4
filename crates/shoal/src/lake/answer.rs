//! A query's result and the ways users see it: a readable table, CSV, JSON rows or Parquet.

use super::{LakeError, Result};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value;

pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Answer {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// A boxed table, as `shoal sql` and session statements show it.
    pub fn text(&self) -> String {
        if self.batches.is_empty() {
            let names: Vec<&str> = self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return format!("(no rows; columns: {})", names.join(", "));
        }
        match datafusion::arrow::util::pretty::pretty_format_batches(&self.batches) {
            Ok(t) => t.to_string(),
            Err(e) => format!("(cannot format the result: {e})"),
        }
    }

    pub fn csv(&self) -> Result<Vec<u8>> {
        let mut out = vec![];
        {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in &self.batches {
                w.write(b).map_err(|e| LakeError::Data(e.to_string()))?;
            }
        }
        Ok(out)
    }

    /// The rows as JSON objects (nulls left out, as Athena's JSON and arrow's writer do).
    pub fn json_rows(&self) -> Result<Vec<Value>> {
        let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        w.write_batches(&refs)
            .map_err(|e| LakeError::Data(e.to_string()))?;
        w.finish().map_err(|e| LakeError::Data(e.to_string()))?;
        let bytes = w.into_inner();
        if bytes.is_empty() {
            return Ok(vec![]);
        }
        serde_json::from_slice(&bytes).map_err(|e| LakeError::Data(e.to_string()))
    }

    /// The rows as one snappy-compressed Parquet file.
    pub fn parquet(&self) -> Result<Vec<u8>> {
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::basic::Compression;
        use datafusion::parquet::file::properties::WriterProperties;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut out = vec![];
        let mut w = ArrowWriter::try_new(&mut out, self.schema.clone(), Some(props))
            .map_err(|e| LakeError::Data(e.to_string()))?;
        for b in &self.batches {
            w.write(b).map_err(|e| LakeError::Data(e.to_string()))?;
        }
        w.close().map_err(|e| LakeError::Data(e.to_string()))?;
        Ok(out)
    }

    /// Every value as text, row by row (Athena's GetQueryResults shape); NULL is `None`.
    pub fn strings(&self) -> Vec<Vec<Option<String>>> {
        use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
        let opts = FormatOptions::default();
        let mut out = vec![];
        for b in &self.batches {
            let fmts: Vec<_> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).ok())
                .collect();
            for row in 0..b.num_rows() {
                out.push(
                    b.columns()
                        .iter()
                        .zip(&fmts)
                        .map(|(c, f)| {
                            if c.is_null(row) {
                                None
                            } else {
                                f.as_ref().map(|f| f.value(row).to_string())
                            }
                        })
                        .collect(),
                );
            }
        }
        out
    }
}
