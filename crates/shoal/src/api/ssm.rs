//! `AmazonSSM.*` (Parameter Store) on the AWS JSON 1.1 protocol.

use super::{epoch, missing, opt_bool, opt_str, page, paged, req_str, App, AwsError};
use crate::sfn::arn::Scope;
use crate::ssm::parameters::{PutSpec, Shown};
use crate::ssm::SsmError;
use serde_json::{json, Value};

type R = Result<Value, AwsError>;

impl From<SsmError> for AwsError {
    fn from(e: SsmError) -> AwsError {
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}

fn names(v: &Value) -> Result<Vec<String>, AwsError> {
    Ok(v.get("Names")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("names"))?
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect())
}

/// GetParameter's shape.
fn parameter(s: &Shown) -> Value {
    let mut v = json!({
        "Name": s.name,
        "Type": s.version.kind,
        "Value": s.value,
        "Version": s.version.version,
        "LastModifiedDate": epoch(&s.version.modified),
        "ARN": s.arn,
        "DataType": s.version.data_type,
    });
    if let Some(sel) = &s.selector {
        v["Selector"] = json!(sel);
    }
    v
}

/// DescribeParameters' and GetParameterHistory's shape (`value`: with the value).
fn metadata(s: &Shown, scope: &Scope, value: bool) -> Value {
    let v = &s.version;
    let mut out = json!({
        "Name": s.name,
        "Type": v.kind,
        "LastModifiedDate": epoch(&v.modified),
        "LastModifiedUser": format!("arn:aws:iam::{}:root", scope.account),
        "Version": v.version,
        "Tier": v.tier,
        "Policies": [],
        "DataType": v.data_type,
    });
    if value {
        out["Value"] = json!(s.value);
        out["Labels"] = json!(v.labels);
    } else {
        out["ARN"] = json!(s.arn);
    }
    for (k, x) in [
        ("KeyId", &v.key_id),
        ("Description", &v.description),
        ("AllowedPattern", &v.allowed_pattern),
    ] {
        if let Some(x) = x {
            out[k] = json!(x);
        }
    }
    out
}

/// DescribeParameters' `ParameterFilters` (and the older `Filters`).
fn keep(s: &Shown, filters: &[Value]) -> Result<bool, AwsError> {
    for f in filters {
        let key = f.get("Key").and_then(Value::as_str).unwrap_or("");
        let option = f.get("Option").and_then(Value::as_str).unwrap_or("Equals");
        let values: Vec<&str> = f
            .get("Values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let field = match key {
            "Name" => Some(s.name.as_str()),
            "Type" => Some(s.version.kind.as_str()),
            "KeyId" => s.version.key_id.as_deref(),
            "DataType" => Some(s.version.data_type.as_str()),
            "Tier" => Some(s.version.tier.as_str()),
            "Path" => None,
            other => {
                return Err(AwsError::new(
                    400,
                    "InvalidFilterKey",
                    format!("The filter key {other} is not supported here (Name, Path, Type, KeyId, DataType, Tier)"),
                ))
            }
        };
        let hit = match (key, option) {
            ("Path", "Recursive" | "OneLevel") | ("Path", _) => values.iter().any(|p| {
                let prefix = format!("{}/", p.trim_end_matches('/'));
                s.name
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| option == "Recursive" || !rest.contains('/'))
            }),
            (_, "BeginsWith") => values
                .iter()
                .any(|x| field.is_some_and(|f| f.starts_with(x))),
            (_, "Equals") => values.iter().any(|x| field == Some(*x)),
            (_, other) => {
                return Err(AwsError::new(
                    400,
                    "InvalidFilterOption",
                    format!("The filter option {other} is not valid for {key}"),
                ))
            }
        };
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

fn listed(v: &Value, rows: Vec<Value>, key: &str, default: usize, max: usize) -> R {
    let (offset, limit) = page(v, "NextToken", "MaxResults", default, max)?;
    let rows: Vec<Value> = rows.into_iter().skip(offset).take(limit + 1).collect();
    Ok(paged(rows, offset, limit, key, "NextToken", Value::clone))
}

pub async fn handle(app: &App, scope: &Scope, action: &str, v: &Value) -> R {
    let ssm = &app.ssm;
    let decrypt = opt_bool(v, "WithDecryption");
    Ok(match action {
        "PutParameter" => {
            let tags = super::key_values(v, "Tags");
            let spec = PutSpec {
                name: req_str(v, "Name")?,
                value: req_str(v, "Value")?,
                kind: opt_str(v, "Type")?,
                description: opt_str(v, "Description")?,
                key_id: opt_str(v, "KeyId")?,
                overwrite: opt_bool(v, "Overwrite"),
                allowed_pattern: opt_str(v, "AllowedPattern")?,
                data_type: opt_str(v, "DataType")?,
                tier: opt_str(v, "Tier")?,
                tags,
            };
            let (version, tier) = ssm.put_parameter(scope, spec).await?;
            json!({"Version": version, "Tier": tier})
        }
        "GetParameter" => {
            json!({"Parameter": parameter(&ssm.get_parameter(scope, &req_str(v, "Name")?, decrypt)?)})
        }
        "GetParameters" => {
            let (found, invalid) = ssm.get_parameters(scope, &names(v)?, decrypt)?;
            json!({"Parameters": found.iter().map(parameter).collect::<Vec<_>>(), "InvalidParameters": invalid})
        }
        "GetParametersByPath" => {
            let recursive = opt_bool(v, "Recursive");
            let found = ssm.by_path(scope, &req_str(v, "Path")?, recursive, decrypt)?;
            listed(
                v,
                found.iter().map(parameter).collect(),
                "Parameters",
                10,
                10,
            )?
        }
        "GetParameterHistory" => {
            let found = ssm.history(scope, &req_str(v, "Name")?, decrypt)?;
            let rows = found.iter().map(|s| metadata(s, scope, true)).collect();
            listed(v, rows, "Parameters", 50, 50)?
        }
        "DeleteParameter" => {
            ssm.delete_parameter(scope, &req_str(v, "Name")?).await?;
            json!({})
        }
        "DeleteParameters" => {
            let (deleted, invalid) = ssm.delete_parameters(scope, &names(v)?).await?;
            json!({"DeletedParameters": deleted, "InvalidParameters": invalid})
        }
        "DescribeParameters" => {
            let mut filters: Vec<Value> = v
                .get("ParameterFilters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            filters.extend(
                v.get("Filters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            let mut rows = Vec::new();
            for s in ssm.describe(scope)? {
                if keep(&s, &filters)? {
                    rows.push(metadata(&s, scope, false));
                }
            }
            listed(v, rows, "Parameters", 10, 50)?
        }
        "LabelParameterVersion" => {
            let labels = string_list(v, "Labels")?;
            let version = v.get("ParameterVersion").and_then(Value::as_u64);
            let (version, invalid) = ssm
                .label(scope, &req_str(v, "Name")?, version, &labels)
                .await?;
            json!({"InvalidLabels": invalid, "ParameterVersion": version})
        }
        "UnlabelParameterVersion" => {
            let labels = string_list(v, "Labels")?;
            let version = v
                .get("ParameterVersion")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("parameterVersion"))?;
            let (removed, invalid) = ssm
                .unlabel(scope, &req_str(v, "Name")?, version, &labels)
                .await?;
            json!({"RemovedLabels": removed, "InvalidLabels": invalid})
        }
        _ => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("Unknown operation AmazonSSM.{action}"),
            ))
        }
    })
}

fn string_list(v: &Value, k: &str) -> Result<Vec<String>, AwsError> {
    Ok(v.get(k)
        .and_then(Value::as_array)
        .ok_or_else(|| missing(&k.to_lowercase()))?
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect())
}
