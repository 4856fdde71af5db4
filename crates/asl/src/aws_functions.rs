//! The functions AWS adds to JSONata in Step Functions: `$partition`, `$range`, `$hash`,
//! `$random`, `$uuid` and `$parse`.

use crate::json::Scope;
use jsonata::{Error, Host};
use serde_json::Value;

pub struct AwsFunctions<'a, 'b> {
    pub scope: &'a Scope<'b>,
}

fn arg_err(f: &str, msg: &str) -> Error {
    Error::new("T0410", format!("Argument of function ${f} {msg}"))
}

impl Host for AwsFunctions<'_, '_> {
    /// AWS's `$range` behaves like JSONata's `$filter`: `$range(1, 9, 9)` is `1`, not `[1]`.
    fn returns_sequence(&self, name: &str) -> bool {
        name == "range"
    }

    fn has(&self, name: &str) -> bool {
        matches!(
            name,
            "partition" | "range" | "hash" | "random" | "uuid" | "parse"
        )
    }

    fn call(&self, name: &str, args: &[Option<Value>]) -> Option<Result<Option<Value>, Error>> {
        let a = |i: usize| args.get(i).cloned().flatten();
        let int = |i: usize, f: &str| -> Result<i64, Error> {
            match a(i) {
                Some(Value::Number(n)) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
                    .ok_or_else(|| arg_err(f, "must be an integer")),
                _ => Err(arg_err(f, "must be an integer")),
            }
        };
        let out = match name {
            "partition" => (|| {
                let arr = match a(0) {
                    Some(Value::Array(v)) => v,
                    Some(v) => vec![v],
                    None => return Ok(None),
                };
                let n = int(1, name)?;
                if n <= 0 {
                    return Err(arg_err(name, "size must be positive"));
                }
                Ok(Some(Value::Array(
                    arr.chunks(n as usize)
                        .map(|c| Value::Array(c.to_vec()))
                        .collect(),
                )))
            })(),
            "range" => (|| {
                let (s, e, st) = (int(0, name)?, int(1, name)?, int(2, name)?);
                crate::intrinsics::range(s, e, st)
                    .map(|v| Some(Value::Array(v)))
                    .map_err(|e| arg_err(name, &e))
            })(),
            "hash" => (|| {
                let data = a(0)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .ok_or_else(|| arg_err(name, "must be a string"))?;
                let alg = a(1)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "SHA-256".into());
                crate::intrinsics::hash(data.as_bytes(), &alg)
                    .map(|h| Some(Value::String(h)))
                    .ok_or_else(|| {
                        Error::new(
                            "D3137",
                            format!("unsupported algorithm '{alg}' (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)"),
                        )
                    })
            })(),
            "random" => (|| {
                let seed = match a(0) {
                    Some(_) => Some(int(0, name)?),
                    None => None,
                };
                let r = match seed {
                    Some(s) => Scope::new(self.scope.input, self.scope.context)
                        .with_seed(s as u64)
                        .next_u64(),
                    None => self.scope.next_u64(),
                };
                Ok(Some(Value::from((r >> 11) as f64 / (1u64 << 53) as f64)))
            })(),
            "uuid" => Ok(Some(Value::String(self.scope.uuid()))),
            "parse" => (|| {
                let s = a(0)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .ok_or_else(|| arg_err(name, "must be a string"))?;
                serde_json::from_str::<Value>(&s)
                    .map(Some)
                    .map_err(|e| Error::new("D3140", format!("Malformed JSON: {e}")))
            })(),
            _ => return None,
        };
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_and_range_share_the_intrinsics() {
        let v = json!(null);
        let scope = Scope::new(&v, &v);
        let f = AwsFunctions { scope: &scope };
        // the data is hashed as given: a backslash is not an intrinsic escape here
        let h = f
            .call("hash", &[Some(json!("a\\b")), Some(json!("MD5"))])
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Some(json!(crate::intrinsics::hash(b"a\\b", "MD5").unwrap()))
        );
        assert_ne!(
            h,
            Some(json!(crate::intrinsics::hash(b"ab", "MD5").unwrap()))
        );
        let r = f
            .call("range", &[Some(json!(0)), Some(json!(6)), Some(json!(3))])
            .unwrap()
            .unwrap();
        assert_eq!(r, Some(json!([0, 3, 6])));
        assert!(f
            .call("range", &[Some(json!(0)), Some(json!(6)), Some(json!(0))])
            .unwrap()
            .is_err());
    }
}
