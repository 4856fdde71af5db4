//! Visual jobs: the `CodeGenConfigurationNodes` graph Glue Studio saves, run as DataFusion
//! plans. Each node is a source, a transform or a target; node types shoal does not implement
//! are refused by name when the job is created, never skipped.
//!
//! Semantics follow Glue's: `ApplyMapping` keeps only the fields it lists, cast to their new
//! types; `Filter`'s `REGEX` matches at the start of the value (Python's `re.match`); S3 targets
//! append new part files unless the target says `"Overwrite": true` (a shoal extension).

use super::{Glue, GlueError, Result};
use crate::lake::write::{write, Target};
use crate::sfn::arn::Scope;
use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::{col, lit, Expr};
use datafusion::prelude::{cast, regexp_like, DataFrame};
use serde_json::Value;
use std::collections::BTreeMap;

const SOURCES: &[&str] = &[
    "S3ParquetSource",
    "S3JsonSource",
    "S3CsvSource",
    "CatalogSource",
    "S3CatalogSource",
];
const TRANSFORMS: &[&str] = &[
    "Join",
    "ApplyMapping",
    "Filter",
    "SelectFields",
    "DropFields",
    "RenameField",
    "DropNullFields",
    "DropDuplicates",
    "Union",
    "SparkSQL",
];
const TARGETS: &[&str] = &["S3GlueParquetTarget", "S3DirectTarget", "S3CatalogTarget"];

/// One node: its id, type and members.
#[derive(Clone, Debug)]
struct Node {
    id: String,
    kind: String,
    spec: Value,
    inputs: Vec<String>,
}

/// A checked graph of nodes.
pub struct Plan {
    nodes: BTreeMap<String, Node>,
}

/// What a run wrote to its logs.
#[derive(Default)]
pub struct Log {
    pub lines: Vec<String>,
    pub errors: Vec<String>,
}

fn path_name(v: &Value) -> Option<String> {
    // Glue writes field paths as lists of segments (["a", "b"] is a.b)
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("."),
        ),
        _ => None,
    }
}

fn quoted(name: &str) -> Expr {
    col(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// A Glue (Spark) type name as an Arrow type: `long`, `int`, `string`, `timestamp`, ...
fn glue_arrow(t: &str) -> Result<datafusion::arrow::datatypes::DataType> {
    super::types::arrow_type(t)
}

impl Plan {
    pub fn parse(nodes: &Value) -> Result<Plan> {
        let map = nodes.as_object().ok_or_else(|| {
            GlueError::invalid("CodeGenConfigurationNodes must be an object of nodes")
        })?;
        let mut out = BTreeMap::new();
        for (id, n) in map {
            let (kind, spec) = n
                .as_object()
                .and_then(|m| m.iter().find(|(_, v)| !v.is_null()))
                .ok_or_else(|| GlueError::invalid(format!("node {id} has no node type")))?;
            if !SOURCES.contains(&kind.as_str())
                && !TRANSFORMS.contains(&kind.as_str())
                && !TARGETS.contains(&kind.as_str())
            {
                return Err(GlueError::invalid(format!(
                    "node {id}: the node type {kind} is not supported by shoal (sources: {}; transforms: {}; targets: {})",
                    SOURCES.join(", "),
                    TRANSFORMS.join(", "),
                    TARGETS.join(", ")
                )));
            }
            let inputs = crate::values::strings(spec, "Inputs");
            out.insert(
                id.clone(),
                Node {
                    id: id.clone(),
                    kind: kind.clone(),
                    spec: spec.clone(),
                    inputs,
                },
            );
        }
        for n in out.values() {
            for i in &n.inputs {
                if !out.contains_key(i) {
                    return Err(GlueError::invalid(format!(
                        "node {}: input {i} is not a node of the job",
                        n.id
                    )));
                }
            }
            let want = match n.kind.as_str() {
                k if SOURCES.contains(&k) => Some(0),
                "Join" => Some(2),
                "Union" => Some(2),
                "SparkSQL" => None,
                _ => Some(1),
            };
            if let Some(w) = want {
                if n.inputs.len() != w {
                    return Err(GlueError::invalid(format!(
                        "node {} ({}) needs {w} input(s), has {}",
                        n.id,
                        n.kind,
                        n.inputs.len()
                    )));
                }
            }
        }
        let plan = Plan { nodes: out };
        // reject cycles up front
        for id in plan.nodes.keys() {
            plan.depth(id, 0)?;
        }
        if !plan
            .nodes
            .values()
            .any(|n| TARGETS.contains(&n.kind.as_str()))
        {
            return Err(GlueError::invalid("the job has no target node"));
        }
        Ok(plan)
    }

    fn depth(&self, id: &str, d: usize) -> Result<()> {
        if d > self.nodes.len() {
            return Err(GlueError::invalid(format!(
                "the nodes form a cycle through {id}"
            )));
        }
        for i in &self.nodes[id].inputs {
            self.depth(i, d + 1)?;
        }
        Ok(())
    }

    /// Runs every target; the rows written, and the log.
    pub async fn run(
        &self,
        glue: &std::sync::Arc<Glue>,
        scope: &Scope,
    ) -> (Result<u64, String>, Log) {
        let mut log = Log::default();
        let lake = crate::lake::Lake::new(glue.clone());
        let ctx = lake.context(scope, None);
        let mut total = 0;
        for t in self
            .nodes
            .values()
            .filter(|n| TARGETS.contains(&n.kind.as_str()))
        {
            let r = async {
                let input = t.inputs.first().ok_or("a target needs an input")?;
                let df = self.frame(input, glue, scope, &ctx, &mut log).await?;
                self.target(t, df, glue, scope, &mut log).await
            }
            .await;
            match r {
                Ok(n) => total += n,
                Err(e) => {
                    log.errors.push(format!("node {} ({}): {e}", t.id, t.kind));
                    return (Err(e), log);
                }
            }
        }
        (Ok(total), log)
    }

    fn frame<'a>(
        &'a self,
        id: &'a str,
        glue: &'a std::sync::Arc<Glue>,
        scope: &'a Scope,
        ctx: &'a datafusion::prelude::SessionContext,
        log: &'a mut Log,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<DataFrame, String>> + Send + 'a>>
    {
        Box::pin(async move {
            let n = &self.nodes[id];
            let s = &n.spec;
            let err = |e: &dyn std::fmt::Display| format!("node {} ({}): {e}", n.id, n.kind);
            let mut inputs = vec![];
            for i in &n.inputs {
                inputs.push(self.frame(i, glue, scope, ctx, log).await?);
            }
            let str_of = |k: &str| s.get(k).and_then(Value::as_str).map(String::from);
            let df = match n.kind.as_str() {
                "S3ParquetSource" | "S3JsonSource" | "S3CsvSource" => {
                    let format = match n.kind.as_str() {
                        "S3ParquetSource" => "parquet",
                        "S3JsonSource" => "json",
                        _ => "csv",
                    };
                    let paths = crate::values::strings(s, "Paths");
                    if paths.is_empty() {
                        return Err(err(&"Paths is empty"));
                    }
                    let mut frames = vec![];
                    for p in &paths {
                        let t = std::time::Instant::now();
                        let at = crate::lake::folder_of(p);
                        let df = if format == "csv" {
                            // Glue Studio's separators and header switch
                            let sep = match str_of("Separator").as_deref() {
                                Some("tab") => b'\t',
                                Some("pipe") => b'|',
                                Some("semicolon") => b';',
                                Some("ctrla") => 1,
                                _ => b',',
                            };
                            let header =
                                s.get("WithHeader").and_then(Value::as_bool).unwrap_or(true);
                            crate::lake::read_csv(ctx, &at, sep, header).await
                        } else {
                            crate::lake::read(ctx, &glue.s3, &at, format).await
                        };
                        frames.push(df.map_err(|e| err(&e))?);
                        log.lines.push(format!(
                            "Opened {format} data at {p} in {:.2} s",
                            t.elapsed().as_secs_f64()
                        ));
                    }
                    let mut it = frames.into_iter();
                    let mut df = it.next().ok_or_else(|| err(&"no data"))?;
                    for f in it {
                        df = df.union(f).map_err(|e| err(&e))?;
                    }
                    df
                }
                "CatalogSource" | "S3CatalogSource" => {
                    let db = str_of("Database").ok_or_else(|| err(&"Database is required"))?;
                    let table = str_of("Table").ok_or_else(|| err(&"Table is required"))?;
                    log.lines.push(format!("Reading table {db}.{table}"));
                    let lake = crate::lake::Lake::new(glue.clone());
                    let provider = lake.table(scope, &db, &table).await.map_err(|e| err(&e))?;
                    ctx.read_table(provider).map_err(|e| err(&e))?
                }
                "Join" => {
                    let mut it = inputs.into_iter();
                    let (left, right) = (
                        it.next().ok_or_else(|| err(&"no left input"))?,
                        it.next().ok_or_else(|| err(&"no right input"))?,
                    );
                    let cols = s
                        .get("Columns")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let keys_of = |from: &str| -> Vec<String> {
                        cols.iter()
                            .find(|c| c.get("From").and_then(Value::as_str) == Some(from))
                            .and_then(|c| c.get("Keys"))
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(path_name)
                            .collect()
                    };
                    let (lk, rk) = (keys_of(&n.inputs[0]), keys_of(&n.inputs[1]));
                    if lk.is_empty() || lk.len() != rk.len() {
                        return Err(err(&"Columns must give as many keys for each input"));
                    }
                    let left_names: Vec<String> = left
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect();
                    if let Some(dup) = right
                        .schema()
                        .fields()
                        .iter()
                        .find(|f| left_names.contains(f.name()))
                    {
                        return Err(err(&format!(
                            "both inputs have a field named {}; rename one first (RenameField)",
                            dup.name()
                        )));
                    }
                    let kind = match str_of("JoinType").as_deref().unwrap_or("equijoin") {
                        "equijoin" | "inner" => JoinType::Inner,
                        "left" => JoinType::Left,
                        "right" => JoinType::Right,
                        "outer" | "full" => JoinType::Full,
                        "leftsemi" => JoinType::LeftSemi,
                        "leftanti" => JoinType::LeftAnti,
                        other => return Err(err(&format!("unknown JoinType {other}"))),
                    };
                    // keys name fields exactly (`ID` and `id` differ), so they are built as
                    // columns of each side rather than parsed
                    let left = left.alias("left_input").map_err(|e| err(&e))?;
                    let right = right.alias("right_input").map_err(|e| err(&e))?;
                    let on: Vec<Expr> = lk
                        .iter()
                        .zip(&rk)
                        .map(|(a, b)| {
                            Expr::Column(Column::new(Some("left_input"), a))
                                .eq(Expr::Column(Column::new(Some("right_input"), b)))
                        })
                        .collect();
                    left.join_on(right, kind, on).map_err(|e| err(&e))?
                }
                "ApplyMapping" => {
                    let df = inputs.remove(0);
                    let mut exprs = vec![];
                    for m in s
                        .get("Mapping")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if m.get("Dropped").and_then(Value::as_bool).unwrap_or(false) {
                            continue;
                        }
                        let from = m
                            .get("FromPath")
                            .and_then(path_name)
                            .ok_or_else(|| err(&"a mapping has no FromPath"))?;
                        let to = m
                            .get("ToKey")
                            .and_then(Value::as_str)
                            .unwrap_or(&from)
                            .to_string();
                        let e = quoted(&from);
                        let e = match m.get("ToType").and_then(Value::as_str) {
                            Some(t) => cast(e, glue_arrow(t).map_err(|e| err(&e))?),
                            None => e,
                        };
                        exprs.push(e.alias(to));
                    }
                    df.select(exprs).map_err(|e| err(&e))?
                }
                "Filter" => {
                    let df = inputs.remove(0);
                    let mut preds = vec![];
                    for f in s
                        .get("Filters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        preds.push(filter_expr(f).map_err(|e| err(&e))?);
                    }
                    let or =
                        str_of("LogicalOperator").is_some_and(|o| o.eq_ignore_ascii_case("OR"));
                    match preds
                        .into_iter()
                        .reduce(|a, b| if or { a.or(b) } else { a.and(b) })
                    {
                        Some(p) => df.filter(p).map_err(|e| err(&e))?,
                        None => df,
                    }
                }
                "SelectFields" => {
                    let df = inputs.remove(0);
                    let names: Vec<Expr> = s
                        .get("Paths")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(path_name)
                        .map(|p| quoted(&p))
                        .collect();
                    df.select(names).map_err(|e| err(&e))?
                }
                "DropFields" => {
                    let df = inputs.remove(0);
                    let drop: Vec<String> = s
                        .get("Paths")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(path_name)
                        .collect();
                    let keep: Vec<Expr> = df
                        .schema()
                        .fields()
                        .iter()
                        .filter(|f| !drop.contains(f.name()))
                        .map(|f| quoted(f.name()))
                        .collect();
                    df.select(keep).map_err(|e| err(&e))?
                }
                "RenameField" => {
                    let df = inputs.remove(0);
                    let from = s
                        .get("SourcePath")
                        .and_then(path_name)
                        .ok_or_else(|| err(&"SourcePath is required"))?;
                    let to = s
                        .get("TargetPath")
                        .and_then(path_name)
                        .ok_or_else(|| err(&"TargetPath is required"))?;
                    let exprs: Vec<Expr> = df
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| {
                            if *f.name() == from {
                                quoted(f.name()).alias(&to)
                            } else {
                                quoted(f.name())
                            }
                        })
                        .collect();
                    df.select(exprs).map_err(|e| err(&e))?
                }
                "DropNullFields" => {
                    // fields that hold no value in any record are dropped, as Glue does
                    let df = inputs.remove(0);
                    let names: Vec<String> = df
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect();
                    let counts = df
                        .clone()
                        .aggregate(
                            vec![],
                            names
                                .iter()
                                .map(|n| {
                                    datafusion::functions_aggregate::expr_fn::count(quoted(n))
                                        .alias(n)
                                })
                                .collect(),
                        )
                        .map_err(|e| err(&e))?
                        .collect()
                        .await
                        .map_err(|e| err(&e))?;
                    let mut keep = vec![];
                    if let Some(b) = counts.first() {
                        for (i, n) in names.iter().enumerate() {
                            let c = datafusion::arrow::compute::cast(
                                b.column(i),
                                &datafusion::arrow::datatypes::DataType::Int64,
                            )
                            .map_err(|e| err(&e))?;
                            let nonnull = c
                                .as_any()
                                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                                .map_or(1, |a| a.value(0));
                            if nonnull > 0 {
                                keep.push(quoted(n));
                            }
                        }
                    }
                    df.select(keep).map_err(|e| err(&e))?
                }
                "DropDuplicates" => {
                    let df = inputs.remove(0);
                    let cols: Vec<String> = s
                        .get("Columns")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(path_name)
                        .collect();
                    if cols.is_empty() {
                        df.distinct().map_err(|e| err(&e))?
                    } else {
                        let on: Vec<Expr> = cols.iter().map(|c| quoted(c)).collect();
                        let all: Vec<Expr> = df
                            .schema()
                            .fields()
                            .iter()
                            .map(|f| quoted(f.name()))
                            .collect();
                        df.distinct_on(on, all, None).map_err(|e| err(&e))?
                    }
                }
                "Union" => {
                    let mut it = inputs.into_iter();
                    let a = it.next().ok_or_else(|| err(&"no input"))?;
                    let b = it.next().ok_or_else(|| err(&"no second input"))?;
                    let u = a.union_by_name(b).map_err(|e| err(&e))?;
                    if str_of("UnionType").is_some_and(|t| t.eq_ignore_ascii_case("DISTINCT")) {
                        u.distinct().map_err(|e| err(&e))?
                    } else {
                        u
                    }
                }
                "SparkSQL" => {
                    let sql = str_of("SqlQuery").ok_or_else(|| err(&"SqlQuery is required"))?;
                    let aliases = s
                        .get("SqlAliases")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let local = crate::lake::base_context(glue.s3.clone());
                    for (i, a) in aliases.iter().enumerate() {
                        let from = a.get("From").and_then(Value::as_str).unwrap_or_default();
                        let alias = a
                            .get("Alias")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(&"an alias has no Alias"))?;
                        let pos = n.inputs.iter().position(|x| x == from).unwrap_or(i);
                        let input = inputs
                            .get(pos)
                            .cloned()
                            .ok_or_else(|| err(&format!("alias {alias} names no input")))?;
                        local
                            .register_table(alias, input.into_view())
                            .map_err(|e| err(&e))?;
                    }
                    let df = local.sql(&sql).await.map_err(|e| err(&e))?;
                    ctx.read_table(df.into_view()).map_err(|e| err(&e))?
                }
                other => return Err(err(&format!("{other} is not a source or a transform"))),
            };
            Ok(df)
        })
    }

    async fn target(
        &self,
        t: &Node,
        df: DataFrame,
        glue: &std::sync::Arc<Glue>,
        scope: &Scope,
        log: &mut Log,
    ) -> Result<u64, String> {
        let s = &t.spec;
        let path = s.get("Path").and_then(Value::as_str).map(String::from);
        let format = match t.kind.as_str() {
            "S3GlueParquetTarget" | "S3CatalogTarget" => "parquet".to_string(),
            _ => s
                .get("Format")
                .and_then(Value::as_str)
                .unwrap_or("parquet")
                .to_ascii_lowercase(),
        };
        let policy = s.get("SchemaChangePolicy");
        let catalog = |k: &str| {
            policy
                .and_then(|p| p.get(k))
                .or_else(|| s.get(k))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let location = match (&path, t.kind.as_str()) {
            (Some(p), _) => p.clone(),
            (None, "S3CatalogTarget") => {
                let (db, table) = (
                    catalog("Database").ok_or("Database is required")?,
                    catalog("Table").ok_or("Table is required")?,
                );
                glue.table(scope, &db, &table)
                    .map_err(|e| e.to_string())?
                    .location()
                    .map(String::from)
                    .ok_or("the catalog table has no location")?
            }
            _ => return Err("Path is required".into()),
        };
        let partition_keys: Vec<String> = s
            .get("PartitionKeys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(path_name)
            .collect();
        let target = Target {
            location: location.clone(),
            format: format.clone(),
            compression: s
                .get("Compression")
                .and_then(Value::as_str)
                .map(String::from),
            partition_keys: partition_keys.clone(),
            overwrite: s.get("Overwrite").and_then(Value::as_bool).unwrap_or(false),
        };
        let schema = df.schema().as_arrow().clone();
        let t0 = std::time::Instant::now();
        let w = write(&glue.s3, df, &target)
            .await
            .map_err(|e| e.to_string())?;
        log.lines.push(format!(
            "Wrote {} rows in {} file(s) to {location} in {:.2} s",
            w.rows,
            w.keys.len(),
            t0.elapsed().as_secs_f64()
        ));
        let update = policy
            .and_then(|p| p.get("EnableUpdateCatalog"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if update {
            let (db, table) = (
                catalog("Database")
                    .ok_or("SchemaChangePolicy.Database is required to update the catalog")?,
                catalog("Table")
                    .ok_or("SchemaChangePolicy.Table is required to update the catalog")?,
            );
            glue.catalog_output(
                scope,
                &db,
                &table,
                &location,
                &format,
                &schema,
                &partition_keys,
                &w.keys,
            )
            .await
            .map_err(|e| e.to_string())?;
            log.lines
                .push(format!("Updated the catalog table {db}.{table}"));
        }
        Ok(w.rows)
    }
}

/// One `Filter` expression: `Operation` over two `Values` (a column and a constant).
fn filter_expr(f: &Value) -> Result<Expr, String> {
    let op = f
        .get("Operation")
        .and_then(Value::as_str)
        .ok_or("a filter has no Operation")?;
    let negated = f.get("Negated").and_then(Value::as_bool).unwrap_or(false);
    let values = f
        .get("Values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let operand = |v: &Value| -> Option<Expr> {
        let text = v.get("Value").and_then(path_name)?;
        Some(match v.get("Type").and_then(Value::as_str) {
            Some("COLUMNEXTRACTED") => quoted(&text),
            _ => lit(text),
        })
    };
    let column = values
        .iter()
        .find(|v| v.get("Type").and_then(Value::as_str) == Some("COLUMNEXTRACTED"))
        .and_then(operand)
        .ok_or("a filter needs a COLUMNEXTRACTED value")?;
    let constant = values
        .iter()
        .find(|v| v.get("Type").and_then(Value::as_str) != Some("COLUMNEXTRACTED"));
    let constant_text = constant.and_then(|v| v.get("Value")).and_then(path_name);
    // comparisons cast the constant to the column's type, as Spark does
    let rhs = || {
        constant_text
            .clone()
            .map(lit)
            .ok_or("this operation needs a constant")
    };
    let e = match op {
        "EQ" => column.eq(rhs()?),
        "LT" => column.lt(rhs()?),
        "GT" => column.gt(rhs()?),
        "LTE" => column.lt_eq(rhs()?),
        "GTE" => column.gt_eq(rhs()?),
        "ISNULL" => column.is_null(),
        "ISNOTNULL" => column.is_not_null(),
        "REGEX" => {
            let p = constant_text.clone().ok_or("REGEX needs a pattern")?;
            regex::Regex::new(&p).map_err(|e| format!("invalid REGEX '{p}': {e}"))?;
            // Python's re.match: anchored at the start only
            datafusion::functions::expr_fn::coalesce(vec![
                regexp_like(
                    cast(column, datafusion::arrow::datatypes::DataType::Utf8),
                    lit(format!("^(?:{p})")),
                    None,
                ),
                lit(false),
            ])
        }
        other => return Err(format!("unknown filter Operation {other}")),
    };
    Ok(if negated { std::ops::Not::not(e) } else { e })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsupported_node_types_are_refused_by_name() {
        let e = Plan::parse(&json!({"n1": {"DynamoDBCatalogSource": {"Name": "x"}}}))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("DynamoDBCatalogSource is not supported"), "{e}");
        let e = Plan::parse(&json!({"n1": {"S3ParquetSource": {"Paths": ["s3://b/p/"]}}}))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no target"), "{e}");
        let e =
            Plan::parse(&json!({"t": {"S3DirectTarget": {"Inputs": ["nope"], "Path": "s3://b/"}}}))
                .err()
                .unwrap()
                .to_string();
        assert!(e.contains("input nope"), "{e}");
        let ok = Plan::parse(&json!({
            "s": {"S3ParquetSource": {"Name": "s", "Paths": ["s3://b/p/"]}},
            "f": {"Filter": {"Inputs": ["s"], "LogicalOperator": "AND", "Filters": []}},
            "t": {"S3DirectTarget": {"Inputs": ["f"], "Path": "s3://b/out/", "Format": "json"}}
        }));
        assert!(ok.is_ok());
    }
}
