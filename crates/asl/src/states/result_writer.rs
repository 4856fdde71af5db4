//! A distributed Map's `ResultWriter`: the shape of its results (`WriterConfig`) and, when it
//! exports them, the objects it writes to S3 — one file per child status and a
//! `manifest.json` naming them, under `<Prefix>/<map run id>/`. Writing is the executor's effect.

use crate::error::Failure;
use crate::json;
use crate::template::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformation {
    /// Each child's metadata with its input and output (the default of an export).
    None,
    /// Each child's output (the default without an export).
    Compact,
    /// Outputs, arrays among them spliced into the list.
    Flatten,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    Json,
    Jsonl,
}

pub const PUT_OBJECT: &str = "arn:aws:states:::s3:putObject";
pub const WRITER_FAILED: &str = "States.ResultWriterFailed";

#[derive(Debug, Clone)]
pub struct ResultWriter {
    /// `arn:aws:states:::s3:putObject` when the results are exported.
    pub resource: Option<String>,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata): `Bucket` and `Prefix`.
    pub parameters: Option<Template>,
    pub transformation: Option<Transformation>,
    pub output_type: OutputType,
}

impl Transformation {
    pub fn of(name: &str) -> Option<Transformation> {
        Some(match name {
            "NONE" => Transformation::None,
            "COMPACT" => Transformation::Compact,
            "FLATTEN" => Transformation::Flatten,
            _ => return None,
        })
    }
}

impl OutputType {
    pub fn of(name: &str) -> Option<OutputType> {
        Some(match name {
            "JSON" => OutputType::Json,
            "JSONL" => OutputType::Jsonl,
            _ => return None,
        })
    }
}

/// One child execution of the map run, as the results describe it.
#[derive(Debug, Clone)]
pub struct Child {
    pub execution_arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub input: Value,
    pub result: Result<Value, Failure>,
    pub start: DateTime<Utc>,
    pub stop: DateTime<Utc>,
}

impl ResultWriter {
    pub fn exports(&self) -> bool {
        self.resource.is_some()
    }

    fn transformation(&self) -> Transformation {
        self.transformation.unwrap_or(if self.exports() {
            Transformation::None
        } else {
            Transformation::Compact
        })
    }

    /// The results the Map state outputs when they are not exported.
    pub fn results(&self, children: &[Child]) -> Vec<Value> {
        shaped(self.transformation(), children.iter())
    }

    /// The objects an export writes (key and bytes, the manifest last) and the state's result.
    pub fn export(
        &self,
        map_run_arn: &str,
        parameters: &Value,
        children: &[Child],
    ) -> Result<Export, Failure> {
        let bad = |cause: String| Failure::plain(Some(WRITER_FAILED.into()), Some(cause));
        let bucket = match parameters.get("Bucket") {
            Some(Value::String(b)) if !b.is_empty() => b.clone(),
            other => {
                return Err(bad(format!(
                    "The ResultWriter needs a Bucket string in its Parameters, but it was {}",
                    other.map_or("missing".into(), json::compact)
                )))
            }
        };
        let mut prefix = match parameters.get("Prefix") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(p)) => p.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "The ResultWriter's Prefix must be a string, but it was {}",
                    json::compact(other)
                )))
            }
        };
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let run_id = map_run_arn.rsplit(':').next().unwrap_or(map_run_arn);
        let folder = format!("{prefix}{run_id}/");
        let ext = match self.output_type {
            OutputType::Json => "json",
            OutputType::Jsonl => "jsonl",
        };
        let mut objects = Vec::new();
        let mut files = serde_json::Map::new();
        for (status, succeeded) in [("FAILED", false), ("PENDING", false), ("SUCCEEDED", true)] {
            let mut listed = Vec::new();
            let these: Vec<&Child> = match status {
                "PENDING" => Vec::new(),
                _ => children
                    .iter()
                    .filter(|c| c.result.is_ok() == succeeded)
                    .collect(),
            };
            if !these.is_empty() {
                let values = shaped(self.transformation(), these.into_iter());
                let body = match self.output_type {
                    OutputType::Json => json::compact(&Value::Array(values)),
                    OutputType::Jsonl => values.iter().map(|v| json::compact(v) + "\n").collect(),
                };
                let key = format!("{folder}{status}_0.{ext}");
                listed.push(json!({"Key": key, "Size": body.len()}));
                objects.push((key, body.into_bytes()));
            }
            files.insert(status.into(), Value::Array(listed));
        }
        let manifest = json!({
            "DestinationBucket": bucket,
            "MapRunArn": map_run_arn,
            "ResultFiles": files,
        });
        let key = format!("{folder}manifest.json");
        objects.push((key.clone(), json::compact(&manifest).into_bytes()));
        Ok(Export {
            bucket: bucket.clone(),
            objects,
            output: json!({
                "MapRunArn": map_run_arn,
                "ResultWriterDetails": {"Bucket": bucket, "Key": key},
            }),
        })
    }
}

/// What an export writes, and the Map state's result once it is written.
#[derive(Debug, Clone)]
pub struct Export {
    pub bucket: String,
    pub objects: Vec<(String, Vec<u8>)>,
    pub output: Value,
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A child's metadata (Transformation NONE, and every failed child whatever the setting).
fn metadata(c: &Child) -> Value {
    let mut o = json!({
        "ExecutionArn": c.execution_arn,
        "Input": json::compact(&c.input),
        "InputDetails": {"Included": true},
        "Name": c.name,
        "RedriveCount": 0,
        "StartDate": time(&c.start),
        "StateMachineArn": c.state_machine_arn,
        "StopDate": time(&c.stop),
    });
    match &c.result {
        Ok(v) => {
            o["Output"] = json!(json::compact(v));
            o["OutputDetails"] = json!({"Included": true});
            o["RedriveStatus"] = json!("NOT_REDRIVABLE");
            o["RedriveStatusReason"] = json!("Execution is SUCCEEDED and cannot be redriven");
            o["Status"] = json!("SUCCEEDED");
        }
        Err(f) => {
            o["Error"] = json!(f.error);
            o["Cause"] = json!(f.cause);
            o["RedriveStatus"] = json!("REDRIVABLE");
            o["Status"] = json!("FAILED");
        }
    }
    o
}

fn shaped<'a>(t: Transformation, children: impl Iterator<Item = &'a Child>) -> Vec<Value> {
    let mut out = Vec::new();
    for c in children {
        match (&c.result, t) {
            (Ok(_), Transformation::None) | (Err(_), _) => out.push(metadata(c)),
            (Ok(v), Transformation::Compact) => out.push(v.clone()),
            (Ok(Value::Array(a)), Transformation::Flatten) => out.extend(a.iter().cloned()),
            (Ok(v), Transformation::Flatten) => out.push(v.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(i: usize, result: Result<Value, Failure>) -> Child {
        let t = DateTime::parse_from_rfc3339("2026-11-22T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Child {
            execution_arn: format!(
                "arn:aws:states:us-east-1:123456789012:execution:m/Map:e-child-{i}"
            ),
            name: format!("e-child-{i}"),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m/Map".into(),
            input: json!({"i": i}),
            result,
            start: t,
            stop: t,
        }
    }

    fn writer(resource: bool, t: Option<Transformation>, o: OutputType) -> ResultWriter {
        ResultWriter {
            resource: resource.then(|| PUT_OBJECT.to_string()),
            parameters: None,
            transformation: t,
            output_type: o,
        }
    }

    #[test]
    fn writer_config_shapes_the_state_output() {
        let kids = [child(0, Ok(json!([1, 2]))), child(1, Ok(json!(3)))];
        let w = writer(false, None, OutputType::Json);
        assert_eq!(w.results(&kids), vec![json!([1, 2]), json!(3)]);
        let w = writer(false, Some(Transformation::Flatten), OutputType::Json);
        assert_eq!(w.results(&kids), vec![json!(1), json!(2), json!(3)]);
        let w = writer(false, Some(Transformation::None), OutputType::Json);
        let r = w.results(&kids);
        assert_eq!(r[1]["Output"], json!("3"));
        assert_eq!(r[1]["Input"], json!(r#"{"i":1}"#));
        assert_eq!(r[1]["Status"], json!("SUCCEEDED"));
        assert_eq!(r[1]["StartDate"], json!("2026-11-22T07:00:00.000Z"));
    }

    #[test]
    fn an_export_writes_a_file_per_status_and_a_manifest() {
        let fail = Failure::plain(Some("Boom".into()), Some("it broke".into()));
        let kids = [child(0, Ok(json!({"ok": 1}))), child(1, Err(fail))];
        let arn = "arn:aws:states:us-east-1:123456789012:mapRun:m/Map:run-1";
        let w = writer(true, None, OutputType::Jsonl);
        let e = w
            .export(arn, &json!({"Bucket": "out", "Prefix": "jobs"}), &kids)
            .unwrap();
        let keys: Vec<&str> = e.objects.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "jobs/run-1/FAILED_0.jsonl",
                "jobs/run-1/SUCCEEDED_0.jsonl",
                "jobs/run-1/manifest.json"
            ]
        );
        let failed: Value = serde_json::from_slice(&e.objects[0].1).unwrap();
        assert_eq!(failed["Error"], json!("Boom"));
        let manifest: Value = serde_json::from_slice(&e.objects[2].1).unwrap();
        assert_eq!(manifest["ResultFiles"]["PENDING"], json!([]));
        assert_eq!(
            manifest["ResultFiles"]["SUCCEEDED"][0]["Size"],
            json!(e.objects[1].1.len())
        );
        assert_eq!(
            e.output,
            json!({"MapRunArn": arn, "ResultWriterDetails": {"Bucket": "out", "Key": "jobs/run-1/manifest.json"}})
        );
        assert!(w.export(arn, &json!({"Prefix": "x"}), &kids).is_err());
    }
}
