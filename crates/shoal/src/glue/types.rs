//! Glue's (Hive's) type names and their Arrow counterparts, and the partition `Expression`
//! language of GetPartitions.

use super::{GlueError, Result};
use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value as SqlValue};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::cmp::Ordering;
use std::sync::Arc;

/// The Glue name of an Arrow type, as a crawler writes it into a table (`bigint`,
/// `array<struct<href:string>>`).
pub fn glue_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", glue_type(f.data_type()))
        }
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), glue_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                glue_type(kv[0].data_type()),
                glue_type(kv[1].data_type())
            ),
            _ => "map<string,string>".into(),
        },
        DataType::Dictionary(_, v) => glue_type(v),
        _ => "string".into(),
    }
}

/// The Arrow type a Glue type name reads as.
pub fn arrow_type(glue: &str) -> Result<DataType> {
    let mut p = TypeParser {
        s: glue.as_bytes(),
        at: 0,
        text: glue,
    };
    let t = p.parse()?;
    p.space();
    if p.at != p.s.len() {
        return Err(p.error("unexpected text after the type"));
    }
    Ok(t)
}

struct TypeParser<'a> {
    s: &'a [u8],
    at: usize,
    text: &'a str,
}

impl TypeParser<'_> {
    fn error(&self, what: &str) -> GlueError {
        GlueError::invalid(format!(
            "Invalid type '{}' at character {}: {what}",
            self.text,
            self.at + 1
        ))
    }

    fn space(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn word(&mut self) -> String {
        self.space();
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric()
                || matches!(self.s[self.at], b'_' | b'-' | b'$' | b'.'))
        {
            self.at += 1;
        }
        self.text[start..self.at].to_string()
    }

    fn eat(&mut self, c: u8) -> Result<()> {
        self.space();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.s.get(self.at).copied()
    }

    fn number(&mut self) -> Result<u32> {
        let w = self.word();
        w.parse().map_err(|_| self.error("expected a number"))
    }

    fn parse(&mut self) -> Result<DataType> {
        let name = self.word().to_ascii_lowercase();
        Ok(match name.as_str() {
            "boolean" => DataType::Boolean,
            "tinyint" | "byte" => DataType::Int8,
            "smallint" | "short" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" | "long" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => DataType::Float64,
            "string" => DataType::Utf8,
            "varchar" | "char" => {
                if self.peek() == Some(b'(') {
                    self.eat(b'(')?;
                    self.number()?;
                    self.eat(b')')?;
                }
                DataType::Utf8
            }
            "binary" => DataType::Binary,
            "date" => DataType::Date32,
            "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
            "decimal" => {
                let (mut p, mut s) = (10, 0);
                if self.peek() == Some(b'(') {
                    self.eat(b'(')?;
                    p = self.number()?;
                    if self.peek() == Some(b',') {
                        self.eat(b',')?;
                        s = self.number()?;
                    }
                    self.eat(b')')?;
                }
                if p == 0 || p > 38 || s > p {
                    return Err(self
                        .error("decimal precision must be 1–38 and scale at most the precision"));
                }
                DataType::Decimal128(p as u8, s as i8)
            }
            "array" => {
                self.eat(b'<')?;
                let item = self.parse()?;
                self.eat(b'>')?;
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            "map" => {
                self.eat(b'<')?;
                let k = self.parse()?;
                self.eat(b',')?;
                let v = self.parse()?;
                self.eat(b'>')?;
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", k, false),
                        Field::new("value", v, true),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            "struct" => {
                self.eat(b'<')?;
                let mut fields = vec![];
                if self.peek() != Some(b'>') {
                    loop {
                        let name = self.word();
                        if name.is_empty() {
                            return Err(self.error("expected a field name"));
                        }
                        self.eat(b':')?;
                        fields.push(Field::new(name, self.parse()?, true));
                        if self.peek() == Some(b',') {
                            self.eat(b',')?;
                            continue;
                        }
                        break;
                    }
                }
                self.eat(b'>')?;
                DataType::Struct(Fields::from(fields))
            }
            "" => return Err(self.error("expected a type name")),
            other => return Err(self.error(&format!("unknown type '{other}'"))),
        })
    }
}

/// GetPartitions' `Expression`: a SQL-like predicate over partition keys
/// (`year = '2024' AND month IN ('01', '02')`). Values compare as numbers when both sides are
/// numbers, else as text.
pub struct PartitionFilter(Expr);

impl PartitionFilter {
    pub fn parse(text: &str) -> Result<PartitionFilter> {
        let expr = Parser::new(&GenericDialect {})
            .try_with_sql(text)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| GlueError::invalid(format!("Unsupported expression '{text}': {e}")))?;
        Ok(PartitionFilter(expr))
    }

    pub fn matches(&self, keys: &[String], values: &[String]) -> bool {
        truth(&self.0, keys, values).unwrap_or(false)
    }
}

fn operand(e: &Expr, keys: &[String], values: &[String]) -> Option<String> {
    match e {
        Expr::Identifier(id) => {
            let i = keys
                .iter()
                .position(|k| k.eq_ignore_ascii_case(&id.value))?;
            values.get(i).cloned()
        }
        Expr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => Some(s.clone()),
            SqlValue::Number(n, _) => Some(n.to_string()),
            SqlValue::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::Nested(e) => operand(e, keys, values),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => operand(expr, keys, values).map(|s| format!("-{s}")),
        _ => None,
    }
}

fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn truth(e: &Expr, keys: &[String], values: &[String]) -> Option<bool> {
    let v = |e: &Expr| operand(e, keys, values);
    Some(match e {
        Expr::Nested(e) => truth(e, keys, values)?,
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => !truth(expr, keys, values)?,
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And => truth(left, keys, values)? && truth(right, keys, values)?,
            BinaryOperator::Or => truth(left, keys, values)? || truth(right, keys, values)?,
            _ => {
                let o = compare(&v(left)?, &v(right)?);
                match op {
                    BinaryOperator::Eq => o == Ordering::Equal,
                    BinaryOperator::NotEq => o != Ordering::Equal,
                    BinaryOperator::Lt => o == Ordering::Less,
                    BinaryOperator::LtEq => o != Ordering::Greater,
                    BinaryOperator::Gt => o == Ordering::Greater,
                    BinaryOperator::GtEq => o != Ordering::Less,
                    _ => return None,
                }
            }
        },
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let x = v(expr)?;
            let found = list
                .iter()
                .any(|i| v(i).is_some_and(|y| compare(&x, &y) == Ordering::Equal));
            found != *negated
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let x = v(expr)?;
            let inside = compare(&x, &v(low)?) != Ordering::Less
                && compare(&x, &v(high)?) != Ordering::Greater;
            inside != *negated
        }
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        } => {
            let x = v(expr)?;
            let p = v(pattern)?;
            let re = regex::Regex::new(&format!(
                "^{}$",
                regex::escape(&p).replace('%', ".*").replace('_', ".")
            ))
            .ok()?;
            re.is_match(&x) != *negated
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_types_round_trip_through_arrow() {
        for t in [
            "bigint",
            "string",
            "timestamp",
            "decimal(10,2)",
            "array<struct<href:string>>",
            "struct<rendered:string,protected:boolean>",
            "map<string,bigint>",
        ] {
            assert_eq!(glue_type(&arrow_type(t).unwrap()), t);
        }
        assert_eq!(glue_type(&arrow_type("INTEGER").unwrap()), "int");
        assert_eq!(glue_type(&arrow_type("varchar(20)").unwrap()), "string");
        let e = arrow_type("array<strin>").unwrap_err().to_string();
        assert!(e.contains("unknown type 'strin'"), "{e}");
        assert!(arrow_type("struct<a:int").is_err());
    }

    #[test]
    fn partition_expressions_compare_numbers_as_numbers() {
        let keys = vec!["year".to_string(), "month".to_string()];
        let f = PartitionFilter::parse("year = '2024' AND month IN ('1', '2')").unwrap();
        assert!(f.matches(&keys, &["2024".into(), "2".into()]));
        assert!(!f.matches(&keys, &["2024".into(), "3".into()]));
        let f = PartitionFilter::parse("month > 9").unwrap();
        assert!(f.matches(&keys, &["2024".into(), "10".into()]));
        let f = PartitionFilter::parse("year BETWEEN 2020 AND 2022 OR month LIKE '1%'").unwrap();
        assert!(f.matches(&keys, &["2021".into(), "5".into()]));
        assert!(f.matches(&keys, &["2024".into(), "11".into()]));
        assert!(!f.matches(&keys, &["2024".into(), "5".into()]));
        assert!(PartitionFilter::parse("year = ").is_err());
    }
}
