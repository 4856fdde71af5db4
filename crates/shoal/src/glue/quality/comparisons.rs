//! Rules that compare: two columns (ColumnCorrelation), the dataset with a reference dataset
//! (SchemaMatch, DatasetMatch, AggregateMatch), and a string column with the types its values
//! could take (ColumnDataType).

use super::{quote, Evaluator, Outcome};
use crate::glue::types::glue_type;
use dqdl::{Condition, Expr, Op, Val};

/// `sum(col)` or `avg(alias.col)`: the function, the alias (if any) and the column.
fn aggregate(text: &str) -> Result<(String, Option<String>, String), String> {
    let bad = || format!("'{text}' is not an aggregation such as sum(column) or avg(alias.column)");
    let (func, rest) = text.trim().split_once('(').ok_or_else(bad)?;
    let inner = rest.trim_end().strip_suffix(')').ok_or_else(bad)?.trim();
    let func = func.trim().to_ascii_lowercase();
    if !matches!(func.as_str(), "sum" | "avg" | "count" | "min" | "max") || inner.is_empty() {
        return Err(bad());
    }
    Ok(match inner.rsplit_once('.') {
        Some((alias, col)) => (func, Some(alias.to_string()), col.to_string()),
        None => (func, None, inner.to_string()),
    })
}

/// `a->b,c->d` (or `a,c`: the same names) as pairs.
fn pairs(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once("->") {
            Some((a, b)) => (a.trim().to_string(), b.trim().to_string()),
            None => (s.to_string(), s.to_string()),
        })
        .collect()
}

/// The SQL type a ColumnDataType name stands for.
fn sql_type(name: &str) -> Result<&'static str, String> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "BOOLEAN" => "BOOLEAN",
        "DATE" => "DATE",
        "TIMESTAMP" => "TIMESTAMP",
        "INTEGER" | "INT" | "SHORT" | "BYTE" => "INT",
        "LONG" | "BIGINT" => "BIGINT",
        "DOUBLE" => "DOUBLE",
        "FLOAT" => "FLOAT",
        "DECIMAL" => "DECIMAL(38, 10)",
        "STRING" => "VARCHAR",
        other => return Err(format!("ColumnDataType does not know the type {other}")),
    })
}

impl Evaluator<'_> {
    /// The columns of a registered table with their Glue type names.
    async fn typed(&self, table: &str) -> Result<Vec<(String, String)>, String> {
        let df = self.ctx.table(table).await.map_err(|e| e.to_string())?;
        Ok(df
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), glue_type(f.data_type())))
            .collect())
    }

    pub(super) async fn compare(
        &self,
        c: &dqdl::Check,
        cols: &[String],
        from: &str,
    ) -> Result<Outcome, String> {
        let p = |i: usize| {
            c.params
                .get(i)
                .cloned()
                .ok_or_else(|| format!("{} needs more parameters", c.kind))
        };
        match c.kind.as_str() {
            "ColumnCorrelation" => {
                let (a, b) = (p(0)?, p(1)?);
                let (x, y) = (self.column(cols, &a)?, self.column(cols, &b)?);
                // rows with a NULL in either column are left out, as Glue does
                let v = self.scalar(&format!("SELECT corr(CAST({x} AS DOUBLE), CAST({y} AS DOUBLE)) FROM (SELECT * FROM {from}) t WHERE {x} IS NOT NULL AND {y} IS NOT NULL")).await?;
                let Val::Num(v) = v else {
                    return Err(format!(
                        "the correlation of {a} and {b} is undefined (fewer than two rows, or a column that does not vary)"
                    ));
                };
                self.judge(c, v, format!("Multicolumn.{a},{b}.ColumnCorrelation"))
            }
            "SchemaMatch" => {
                let alias = p(0)?;
                let r = self.reference(&alias).await?;
                let (mine, theirs) = (self.typed("primary").await?, self.typed(&r).await?);
                let same = mine
                    .iter()
                    .filter(|(n, t)| {
                        theirs
                            .iter()
                            .any(|(m, u)| m.eq_ignore_ascii_case(n) && u == t)
                    })
                    .count();
                let of = mine.len().max(theirs.len());
                let v = if of == 0 {
                    1.0
                } else {
                    same as f64 / of as f64
                };
                self.judge(c, v, format!("Dataset.{alias}.SchemaMatch"))
            }
            "DatasetMatch" => {
                let alias = p(0)?;
                let r = self.reference(&alias).await?;
                let keys = pairs(&p(1)?);
                if keys.is_empty() {
                    return Err("DatasetMatch needs key columns (\"id\" or \"id->ref_id\")".into());
                }
                let theirs = self.typed(&r).await?;
                let compared = match c.params.get(2) {
                    Some(m) => pairs(m),
                    // every other column the reference has too
                    None => cols
                        .iter()
                        .filter(|n| !keys.iter().any(|(k, _)| k.eq_ignore_ascii_case(n)))
                        .filter_map(|n| {
                            let (t, _) = theirs.iter().find(|(t, _)| t.eq_ignore_ascii_case(n))?;
                            Some((n.clone(), t.clone()))
                        })
                        .collect(),
                };
                let mut on = vec![];
                for (a, b) in &keys {
                    on.push(format!("p.{} = r.{}", self.column(cols, a)?, quote(b)));
                }
                for (a, b) in &compared {
                    on.push(format!(
                        "p.{} IS NOT DISTINCT FROM r.{}",
                        self.column(cols, a)?,
                        quote(b)
                    ));
                }
                let v = self.share_found(from, &r, &on).await?;
                self.judge(c, v, format!("Dataset.{alias}.DatasetMatch"))
            }
            "AggregateMatch" => {
                let mut values = vec![];
                let mut names = vec![];
                for text in [p(0)?, p(1)?] {
                    let (func, alias, col) = aggregate(&text)?;
                    let (table, columns) = match alias.as_deref() {
                        None | Some("primary") => ("primary".to_string(), cols.to_vec()),
                        Some(a) => {
                            let r = self.reference(a).await?;
                            let cs = self.typed(&r).await?.into_iter().map(|(n, _)| n).collect();
                            (r, cs)
                        }
                    };
                    let column = self.column(&columns, &col)?;
                    values.push(
                        self.count(&format!(
                            "SELECT CAST({func}({column}) AS DOUBLE) FROM {table}"
                        ))
                        .await?,
                    );
                    names.push(col);
                }
                let (a, b) = (values[0], values[1]);
                let ratio = match (a == 0.0, b == 0.0) {
                    (true, true) => 1.0,
                    (false, true) => f64::INFINITY,
                    _ => a / b,
                };
                let label = if names[0] == names[1] {
                    names[0].clone()
                } else {
                    names.join(",")
                };
                self.judge(c, ratio, format!("Column.{label}.AggregateMatch"))
            }
            "ColumnDataType" => {
                let name = p(0)?;
                let col = self.column(cols, &name)?;
                let kinds: Vec<&Expr> = match c.condition.as_ref() {
                    Some(Condition::Compare(Op::Eq, e)) => vec![e],
                    Some(Condition::In {
                        items,
                        negated: false,
                    }) => items.iter().collect(),
                    _ => {
                        return Err(
                            "ColumnDataType takes = \"TYPE\" or in [\"TYPE\", ...]".to_string()
                        )
                    }
                };
                let mut fits = vec![];
                for k in kinds {
                    let Expr::Str(t) = k else {
                        return Err("ColumnDataType compares with type names".into());
                    };
                    fits.push(format!(
                        "TRY_CAST(CAST({col} AS VARCHAR) AS {}) IS NOT NULL",
                        sql_type(t)?
                    ));
                }
                // a NULL has every type
                let pred = format!("({col} IS NULL OR {})", fits.join(" OR "));
                self.rows_pass(
                    c,
                    from,
                    &pred,
                    &col,
                    &format!("Column.{name}.ColumnDataType"),
                )
                .await
            }
            other => Err(format!("Rule type {other} is not supported by shoal")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregations_and_column_pairs_parse() {
        assert_eq!(
            aggregate("sum(wordpress_api.silver-posts.count)").unwrap(),
            (
                "sum".into(),
                Some("wordpress_api.silver-posts".into()),
                "count".into()
            )
        );
        assert_eq!(
            aggregate(" AVG( amount ) ").unwrap(),
            ("avg".into(), None, "amount".into())
        );
        assert!(aggregate("median(x)").is_err());
        assert!(aggregate("sum x").is_err());
        assert_eq!(
            pairs("id->ref_id, name"),
            vec![
                ("id".to_string(), "ref_id".to_string()),
                ("name".to_string(), "name".to_string())
            ]
        );
        assert_eq!(sql_type("integer").unwrap(), "INT");
        assert!(sql_type("blob").is_err());
    }
}
