//! The lake: DataFusion over shoal's S3 and the Glue Data Catalog. Catalog databases are
//! schemas, their tables read the objects under each table's location in its format, with the
//! catalog's (lower-case) column names and types, as Athena reads them. Jobs, data-quality runs,
//! sessions, `shoal sql` and the Athena API all query through here.

pub mod answer;
pub mod json;
pub mod runs;
pub mod store;
pub mod write;

use crate::glue::catalog::Table;
use crate::glue::Glue;
use crate::sfn::arn::Scope;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::*;
use std::sync::Arc;

pub use answer::Answer;

/// The catalog name Athena gives the Glue Data Catalog.
pub const CATALOG: &str = "awsdatacatalog";

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{0}")]
    Query(#[from] DataFusionError),
    #[error("{0}")]
    Catalog(#[from] crate::glue::GlueError),
    #[error("{0}")]
    Data(String),
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

/// A handle on the lake for one caller.
#[derive(Clone)]
pub struct Lake {
    glue: Arc<Glue>,
}

/// A DataFusion session that reads `s3://` from shoal's object service.
pub fn base_context(s3: Arc<crate::s3::S3>) -> SessionContext {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(store::Registry::new(s3)))
        .build_arc();
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        .set_bool("datafusion.execution.parquet.binary_as_string", true);
    match runtime {
        Ok(r) => SessionContext::new_with_config_rt(config, r),
        // the builder only fails on a bad memory limit, which is not set here
        Err(_) => SessionContext::new_with_config(config),
    }
}

impl Lake {
    pub fn new(glue: Arc<Glue>) -> Lake {
        Lake { glue }
    }

    /// A session over the catalog of `scope`, with `database` as the default schema.
    pub fn context(&self, scope: &Scope, database: Option<&str>) -> SessionContext {
        let base = base_context(self.glue.s3.clone());
        let state = base.state();
        let config = state
            .config()
            .clone()
            .with_default_catalog_and_schema(CATALOG, database.unwrap_or("default"));
        // SQL may name S3 paths directly: SELECT * FROM 's3://bucket/prefix/'
        let ctx = SessionContext::new_with_config_rt(config, state.runtime_env().clone())
            .enable_url_table();
        self.with_catalog(ctx, scope)
    }

    /// `ctx` with the Glue Data Catalog of `scope` as `awsdatacatalog`.
    fn with_catalog(&self, ctx: SessionContext, scope: &Scope) -> SessionContext {
        ctx.register_catalog(
            CATALOG,
            Arc::new(GlueCatalog {
                glue: self.glue.clone(),
                scope: scope.clone(),
            }),
        );
        ctx
    }

    /// A session of plain tables (register your own) that also reaches the catalog by full
    /// name, `awsdatacatalog.database.table`.
    pub fn scratch(&self, scope: &Scope) -> SessionContext {
        self.with_catalog(base_context(self.glue.s3.clone()), scope)
    }

    /// Runs one SQL statement over the catalog.
    pub async fn query(&self, scope: &Scope, sql: &str) -> Result<Answer> {
        self.query_in(scope, None, sql).await
    }

    pub async fn query_in(
        &self,
        scope: &Scope,
        database: Option<&str>,
        sql: &str,
    ) -> Result<Answer> {
        let ctx = self.context(scope, database);
        let df = ctx.sql(sql).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok(Answer { schema, batches })
    }

    /// A catalog table as DataFusion reads it.
    pub async fn table(
        &self,
        scope: &Scope,
        database: &str,
        name: &str,
    ) -> Result<Arc<dyn TableProvider>> {
        let t = self.glue.table(scope, database, name)?;
        let parts = self.glue.partitions(scope, database, name, None)?;
        provider(&self.glue, &t, &parts).await
    }
}

/// The objects at `location` (`s3://bucket/prefix/`, every object below it, or one object) in
/// `format` (`parquet`, `json`, `csv`), as a DataFrame of `ctx`.
pub async fn read(
    ctx: &SessionContext,
    s3: &Arc<crate::s3::S3>,
    location: &str,
    format: &str,
) -> Result<DataFrame> {
    match format {
        "json" => {
            let batches = json::read_location(s3, location).await?;
            Ok(ctx.read_batches(batches)?)
        }
        "csv" => read_csv(ctx, location, b',', true).await,
        "parquet" | "glueparquet" => {
            listing(ctx, location, Arc::new(ParquetFormat::default())).await
        }
        other => Err(LakeError::Data(format!(
            "shoal reads parquet, json and csv data; '{other}' is not supported"
        ))),
    }
}

/// CSV objects with a given delimiter, with or without a header line.
pub async fn read_csv(
    ctx: &SessionContext,
    location: &str,
    delimiter: u8,
    header: bool,
) -> Result<DataFrame> {
    let fmt = CsvFormat::default()
        .with_has_header(header)
        .with_delimiter(delimiter);
    listing(ctx, location, Arc::new(fmt)).await
}

async fn listing(
    ctx: &SessionContext,
    location: &str,
    fmt: Arc<dyn FileFormat>,
) -> Result<DataFrame> {
    let url = ListingTableUrl::parse(location)?;
    let options = ListingOptions::new(fmt).with_file_extension("");
    let state = ctx.state();
    let schema = options.infer_schema(&state, &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config)?;
    Ok(ctx.read_table(Arc::new(table))?)
}

/// A catalog table as a view: the files' columns matched to the catalog's names without regard
/// to case (`ID` in a Parquet file is the catalog's `id`) and cast to the catalog's types;
/// partition columns from each partition's values.
async fn provider(
    glue: &Arc<Glue>,
    t: &Table,
    parts: &[crate::glue::catalog::Partition],
) -> Result<Arc<dyn TableProvider>> {
    let ctx = base_context(glue.s3.clone());
    let location = t
        .location()
        .ok_or_else(|| {
            LakeError::Data(format!(
                "table {} has no StorageDescriptor.Location",
                t.name
            ))
        })?
        .to_string();
    let format = t.classification();
    let keys = t.partition_keys();
    let data: Vec<(String, Vec<String>)> = if keys.is_empty() || parts.is_empty() {
        vec![(location.clone(), vec![])]
    } else {
        parts
            .iter()
            .map(|p| {
                let loc = p
                    .body
                    .pointer("/StorageDescriptor/Location")
                    .and_then(serde_json::Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| {
                        let mut l = location.trim_end_matches('/').to_string();
                        for ((k, _), v) in keys.iter().zip(&p.values) {
                            l.push_str(&format!("/{k}={v}"));
                        }
                        l + "/"
                    });
                (loc, p.values.clone())
            })
            .collect()
    };
    let columns = t.columns();
    let mut frames = vec![];
    // a CSV file without a header line names no columns: the catalog's go by position
    let mut positional = false;
    for (loc, values) in data {
        let read = match format.as_str() {
            // a crawled CSV table says its delimiter and whether a header line is there
            "csv" => {
                let p = |k: &str| {
                    t.body
                        .pointer(&format!("/Parameters/{}", k.replace('/', "~1")))
                        .or_else(|| {
                            t.body
                                .pointer(&format!("/StorageDescriptor/SerdeInfo/Parameters/{k}"))
                        })
                        .and_then(serde_json::Value::as_str)
                };
                let delimiter = p("field.delim")
                    .or_else(|| p("delimiter"))
                    .and_then(|d| d.bytes().next())
                    .unwrap_or(b',');
                let header = p("skip.header.line.count").is_some_and(|n| n != "0");
                positional = !header;
                read_csv(&ctx, &folder_of(&loc), delimiter, header).await
            }
            _ => read(&ctx, &glue.s3, &folder_of(&loc), &format).await,
        };
        let df = match read {
            Ok(df) => df,
            // an empty location is an empty table
            Err(e) if is_empty_location(&e) => continue,
            Err(e) => return Err(e),
        };
        let have: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut exprs = vec![];
        for (n, (name, glue_type)) in columns.iter().enumerate() {
            let ty = crate::glue::types::arrow_type(glue_type).unwrap_or(DataType::Utf8);
            let by_name = have.iter().find(|h| h.eq_ignore_ascii_case(name));
            let by_position = have.get(n).filter(|_| positional);
            let e = if let Some(i) = keys.iter().position(|(k, _)| k == name) {
                lit(values.get(i).cloned().unwrap_or_default())
            } else if let Some(h) = by_position.or(by_name) {
                col(format!("\"{}\"", h.replace('"', "\"\"")))
            } else {
                lit(datafusion::scalar::ScalarValue::Null)
            };
            exprs.push(cast(e, ty).alias(name));
        }
        frames.push(df.select(exprs)?);
    }
    let mut frames = frames.into_iter();
    let Some(first) = frames.next() else {
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(
            columns
                .iter()
                .map(|(n, ty)| {
                    datafusion::arrow::datatypes::Field::new(
                        n,
                        crate::glue::types::arrow_type(ty).unwrap_or(DataType::Utf8),
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        ));
        return Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?));
    };
    let mut all = first;
    for f in frames {
        all = all.union(f)?;
    }
    Ok(all.into_view())
}

/// A location read as a folder (`s3://b/p` → `s3://b/p/`) unless it names a file.
pub fn folder_of(loc: &str) -> String {
    let last = loc.rsplit('/').next().unwrap_or("");
    if loc.ends_with('/') || !last.contains('.') {
        format!("{}/", loc.trim_end_matches('/'))
    } else {
        loc.to_string()
    }
}

fn is_empty_location(e: &LakeError) -> bool {
    let text = e.to_string();
    text.contains("No files found")
        || text.contains("no objects")
        || text.contains("Found no files")
}

/// The Glue Data Catalog as DataFusion's catalog: one schema per database.
#[derive(Clone)]
struct GlueCatalog {
    glue: Arc<Glue>,
    scope: Scope,
}

impl std::fmt::Debug for GlueCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GlueCatalog({})", self.scope.region)
    }
}

impl CatalogProvider for GlueCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.glue
            .databases(&self.scope)
            .map(|d| d.into_iter().map(|d| d.name).collect())
            .unwrap_or_default()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        // Athena's default database may not exist yet; it is then an empty schema
        if name != "default" {
            self.glue.database(&self.scope, name).ok()?;
        }
        Some(Arc::new(GlueSchema {
            catalog: self.clone(),
            database: name.to_lowercase(),
        }))
    }
}

#[derive(Debug)]
struct GlueSchema {
    catalog: GlueCatalog,
    database: String,
}

#[async_trait::async_trait]
impl SchemaProvider for GlueSchema {
    fn table_names(&self) -> Vec<String> {
        self.catalog
            .glue
            .tables(&self.catalog.scope, &self.database)
            .map(|t| t.into_iter().map(|t| t.name).collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let glue = &self.catalog.glue;
        let scope = &self.catalog.scope;
        let Ok(t) = glue.table(scope, &self.database, name) else {
            return Ok(None);
        };
        let parts = glue
            .partitions(scope, &self.database, name, None)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        provider(glue, &t, &parts)
            .await
            .map(Some)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog
            .glue
            .table(&self.catalog.scope, &self.database, name)
            .is_ok()
    }
}
