//! The built-in function library.

use crate::eval::{to_text, Ctx};
use crate::value::ObjMap;
use crate::value::V;
use crate::Error;
use base64::Engine as _;
use std::rc::Rc;

const BUILTINS: &[&str] = &[
    "string",
    "length",
    "substring",
    "substringBefore",
    "substringAfter",
    "uppercase",
    "lowercase",
    "trim",
    "pad",
    "contains",
    "split",
    "join",
    "match",
    "replace",
    "number",
    "abs",
    "floor",
    "ceil",
    "round",
    "power",
    "sqrt",
    "random",
    "sum",
    "max",
    "min",
    "average",
    "count",
    "boolean",
    "not",
    "exists",
    "append",
    "reverse",
    "sort",
    "distinct",
    "shuffle",
    "zip",
    "keys",
    "lookup",
    "merge",
    "each",
    "spread",
    "map",
    "filter",
    "reduce",
    "single",
    "type",
    "now",
    "millis",
    "toMillis",
    "fromMillis",
    "base64encode",
    "base64decode",
    "encodeUrl",
    "encodeUrlComponent",
    "decodeUrl",
    "decodeUrlComponent",
    "formatNumber",
    "formatBase",
    "error",
    "assert",
    "sift",
    "eval",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

type R<'a> = Result<V<'a>, Error>;

fn arg<'a>(args: &[V<'a>], i: usize) -> V<'a> {
    args.get(i).cloned().unwrap_or(V::Undef)
}

fn want_str(f: &str, v: &V, i: usize) -> Result<Option<Rc<str>>, Error> {
    match v {
        V::Undef => Ok(None),
        V::Str(s) => Ok(Some(s.clone())),
        _ => Err(Error::new(
            "T0410",
            format!(
                "Argument {} of function \"{f}\" does not match function signature",
                i + 1
            ),
        )),
    }
}

fn want_num(f: &str, v: &V, i: usize) -> Result<Option<f64>, Error> {
    match v {
        V::Undef => Ok(None),
        V::Num(n) => Ok(Some(*n)),
        _ => Err(Error::new(
            "T0410",
            format!(
                "Argument {} of function \"{f}\" does not match function signature",
                i + 1
            ),
        )),
    }
}

fn nums(f: &str, v: &V) -> Result<Option<Vec<f64>>, Error> {
    if v.is_undef() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for x in v.items() {
        match x {
            V::Num(n) => out.push(n),
            _ => {
                return Err(Error::new(
                    "T0412",
                    format!("Argument 1 of function \"{f}\" must be an array of numbers"),
                ))
            }
        }
    }
    Ok(Some(out))
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// Rounds half to even, as JSONata's `$round` does.
fn round_half_even(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    let v = x * m;
    let r = v.round();
    let r = if (v - v.trunc()).abs() == 0.5 {
        2.0 * (v / 2.0).round()
    } else {
        r
    };
    r / m
}

pub fn call<'a>(cx: &mut Ctx<'_, 'a>, name: &str, args: Vec<V<'a>>, input: &V<'a>) -> R<'a> {
    let args: Vec<V<'a>> = args.iter().map(V::resolve).collect();
    let a0 = arg(&args, 0);
    // functions whose first argument defaults to the context
    let ctx_default = |v: V<'a>| -> V<'a> {
        if v.is_undef() && args.is_empty() {
            input.resolve()
        } else {
            v
        }
    };
    Ok(match name {
        "string" => {
            let v = ctx_default(a0);
            match v {
                V::Undef => V::Undef,
                V::Str(_) => v,
                other => V::str(&to_text(&other)?),
            }
        }
        "length" => match want_str(name, &ctx_default(a0), 0)? {
            Some(s) => V::Num(s.chars().count() as f64),
            None => V::Undef,
        },
        "substring" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let cs = chars(&s);
            let len = cs.len() as i64;
            let start = want_num(name, &arg(&args, 1), 1)?.unwrap_or(0.0) as i64;
            let start = if start < 0 {
                (len + start).max(0)
            } else {
                start.min(len)
            };
            let end = match want_num(name, &arg(&args, 2), 2)? {
                Some(l) => (start + (l as i64).max(0)).min(len),
                None => len,
            };
            V::str(
                &cs[start as usize..end.max(start) as usize]
                    .iter()
                    .collect::<String>(),
            )
        }
        "substringBefore" | "substringAfter" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let chars = want_str(name, &arg(&args, 1), 1)?.unwrap_or_else(|| Rc::from(""));
            match s.find(&*chars) {
                Some(i) if name == "substringBefore" => V::str(&s[..i]),
                Some(i) => V::str(&s[i + chars.len()..]),
                None => V::Str(s),
            }
        }
        "uppercase" => want_str(name, &ctx_default(a0), 0)?
            .map(|s| V::str(&s.to_uppercase()))
            .unwrap_or(V::Undef),
        "lowercase" => want_str(name, &ctx_default(a0), 0)?
            .map(|s| V::str(&s.to_lowercase()))
            .unwrap_or(V::Undef),
        "trim" => want_str(name, &ctx_default(a0), 0)?
            .map(|s| V::str(&s.split_whitespace().collect::<Vec<_>>().join(" ")))
            .unwrap_or(V::Undef),
        "pad" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let w = want_num(name, &arg(&args, 1), 1)?.unwrap_or(0.0) as i64;
            let c = want_str(name, &arg(&args, 2), 2)?.unwrap_or_else(|| Rc::from(" "));
            let n = s.chars().count() as i64;
            let need = (w.abs() - n).max(0) as usize;
            let fill: String = c.chars().cycle().take(need).collect();
            if w >= 0 {
                V::str(&format!("{s}{fill}"))
            } else {
                V::str(&format!("{fill}{s}"))
            }
        }
        "contains" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            match arg(&args, 1) {
                V::Str(p) => V::Bool(s.contains(&*p)),
                V::Regex(r) => V::Bool(r.is_match(&s)),
                _ => {
                    return Err(Error::new(
                        "T0410",
                        "Argument 2 of function \"contains\" does not match function signature",
                    ))
                }
            }
        }
        "split" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let limit = want_num(name, &arg(&args, 2), 2)?.map(|l| l as usize);
            let parts: Vec<V> = match arg(&args, 1) {
                V::Str(sep) if sep.is_empty() => {
                    s.chars().map(|c| V::str(&c.to_string())).collect()
                }
                V::Str(sep) => s.split(&*sep).map(V::str).collect(),
                V::Regex(r) => r.split(&s).map(V::str).collect(),
                _ => {
                    return Err(Error::new(
                        "T0410",
                        "Argument 2 of function \"split\" does not match function signature",
                    ))
                }
            };
            V::arr(match limit {
                Some(l) => parts.into_iter().take(l).collect(),
                None => parts,
            })
        }
        "join" => {
            if a0.is_undef() {
                return Ok(V::Undef);
            }
            let sep = want_str(name, &arg(&args, 1), 1)?.unwrap_or_else(|| Rc::from(""));
            let mut parts = Vec::new();
            for x in a0.items() {
                match x {
                    V::Str(s) => parts.push(s.to_string()),
                    _ => {
                        return Err(Error::new(
                            "T0412",
                            "Argument 1 of function \"join\" must be an array of strings",
                        ))
                    }
                }
            }
            V::str(&parts.join(&sep))
        }
        "match" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let V::Regex(r) = arg(&args, 1) else {
                return Err(Error::new(
                    "T0410",
                    "Argument 2 of function \"match\" does not match function signature",
                ));
            };
            let mut out = Vec::new();
            for c in r.captures_iter(&s) {
                let m = c.get(0).map(|m| (m.as_str(), m.start())).unwrap_or(("", 0));
                let groups: Vec<V> = (1..c.len())
                    .map(|i| V::str(c.get(i).map(|g| g.as_str()).unwrap_or("")))
                    .collect();
                let mut o = ObjMap::new();
                o.insert("match".to_string(), V::str(m.0));
                o.insert("index".to_string(), V::Num(s[..m.1].chars().count() as f64));
                o.insert("groups".to_string(), V::arr(groups));
                out.push(V::Obj(Rc::new(o)));
            }
            V::arr(out)
        }
        "replace" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let rep = arg(&args, 2);
            let limit = want_num(name, &arg(&args, 3), 3)?
                .map(|l| l as usize)
                .unwrap_or(usize::MAX);
            match (arg(&args, 1), rep) {
                (V::Str(p), V::Str(r)) => {
                    if p.is_empty() {
                        return Err(Error::new(
                            "D3010",
                            "Second argument of replace function cannot be an empty string",
                        ));
                    }
                    V::str(&s.replacen(&*p, &r, limit))
                }
                (V::Regex(re), V::Str(r)) => {
                    let r = r.replace("$0", "${0}");
                    V::str(&re.replacen(&s, limit, r.as_str()))
                }
                (V::Regex(re), f) if f.is_func() => {
                    let mut out = String::new();
                    let mut last = 0;
                    for (n, c) in re.captures_iter(&s).enumerate() {
                        if n >= limit {
                            break;
                        }
                        let Some(m) = c.get(0) else { continue };
                        out.push_str(&s[last..m.start()]);
                        let mut o = ObjMap::new();
                        o.insert("match".to_string(), V::str(m.as_str()));
                        o.insert("index".to_string(), V::Num(m.start() as f64));
                        o.insert(
                            "groups".to_string(),
                            V::arr(
                                (1..c.len())
                                    .map(|i| V::str(c.get(i).map(|g| g.as_str()).unwrap_or("")))
                                    .collect(),
                            ),
                        );
                        let r = cx.apply(&f, vec![V::Obj(Rc::new(o))], input)?;
                        out.push_str(&to_text(&r)?);
                        last = m.end();
                    }
                    out.push_str(&s[last..]);
                    V::str(&out)
                }
                _ => {
                    return Err(Error::new(
                        "T0410",
                        "Argument 3 of function \"replace\" does not match function signature",
                    ))
                }
            }
        }
        "number" => match ctx_default(a0) {
            V::Undef => V::Undef,
            V::Num(n) => V::Num(n),
            V::Bool(b) => V::Num(if b { 1.0 } else { 0.0 }),
            V::Str(s) => {
                let t = s.trim();
                let parsed = if let Some(h) = t.strip_prefix("0x") {
                    i64::from_str_radix(h, 16).ok().map(|x| x as f64)
                } else if let Some(b) = t.strip_prefix("0b") {
                    i64::from_str_radix(b, 2).ok().map(|x| x as f64)
                } else if let Some(o) = t.strip_prefix("0o") {
                    i64::from_str_radix(o, 8).ok().map(|x| x as f64)
                } else {
                    serde_json::from_str::<f64>(t).ok()
                };
                match parsed {
                    Some(n) => V::Num(n),
                    None => {
                        return Err(Error::new(
                            "D3030",
                            format!("Unable to cast value to a number: \"{s}\""),
                        ))
                    }
                }
            }
            other => {
                return Err(Error::new(
                    "D3030",
                    format!("Unable to cast value to a number: {:?}", other),
                ))
            }
        },
        "abs" => want_num(name, &ctx_default(a0), 0)?
            .map(|n| V::Num(n.abs()))
            .unwrap_or(V::Undef),
        "floor" => want_num(name, &ctx_default(a0), 0)?
            .map(|n| V::Num(n.floor()))
            .unwrap_or(V::Undef),
        "ceil" => want_num(name, &ctx_default(a0), 0)?
            .map(|n| V::Num(n.ceil()))
            .unwrap_or(V::Undef),
        "round" => {
            let Some(n) = want_num(name, &ctx_default(a0), 0)? else {
                return Ok(V::Undef);
            };
            let p = want_num(name, &arg(&args, 1), 1)?.unwrap_or(0.0) as i32;
            V::Num(round_half_even(n, p))
        }
        "power" => {
            let (Some(b), Some(e)) = (want_num(name, &a0, 0)?, want_num(name, &arg(&args, 1), 1)?)
            else {
                return Ok(V::Undef);
            };
            let r = b.powf(e);
            if !r.is_finite() {
                return Err(Error::new("D3061", "The power function has resulted in a value that cannot be represented as a JSON number"));
            }
            V::Num(r)
        }
        "sqrt" => {
            let Some(n) = want_num(name, &ctx_default(a0), 0)? else {
                return Ok(V::Undef);
            };
            if n < 0.0 {
                return Err(Error::new(
                    "D3060",
                    "The sqrt function cannot be applied to a negative number",
                ));
            }
            V::Num(n.sqrt())
        }
        "random" => V::Num(0.5),
        "sum" => nums(name, &a0)?
            .map(|v| V::Num(v.iter().sum()))
            .unwrap_or(V::Undef),
        "max" => nums(name, &a0)?
            .filter(|v| !v.is_empty())
            .map(|v| V::Num(v.iter().cloned().fold(f64::MIN, f64::max)))
            .unwrap_or(V::Undef),
        "min" => nums(name, &a0)?
            .filter(|v| !v.is_empty())
            .map(|v| V::Num(v.iter().cloned().fold(f64::MAX, f64::min)))
            .unwrap_or(V::Undef),
        "average" => nums(name, &a0)?
            .filter(|v| !v.is_empty())
            .map(|v| V::Num(v.iter().sum::<f64>() / v.len() as f64))
            .unwrap_or(V::Undef),
        "count" => V::Num(a0.items().len() as f64),
        "boolean" => match ctx_default(a0) {
            V::Undef => V::Undef,
            v => V::Bool(v.truthy()),
        },
        "not" => match ctx_default(a0) {
            V::Undef => V::Undef,
            v => V::Bool(!v.truthy()),
        },
        "exists" => V::Bool(!a0.is_undef()),
        "append" => {
            let b = arg(&args, 1);
            if a0.is_undef() {
                return Ok(b);
            }
            if b.is_undef() {
                return Ok(a0);
            }
            let mut v = a0.items();
            v.extend(b.items());
            V::arr(v)
        }
        "reverse" => {
            if a0.is_undef() {
                return Ok(V::Undef);
            }
            let mut v = a0.items();
            v.reverse();
            V::arr(v)
        }
        "sort" => {
            if a0.is_undef() {
                return Ok(V::Undef);
            }
            let mut v = a0.items();
            let f = arg(&args, 1);
            if f.is_func() {
                // insertion-stable merge sort driven by the comparator ($a > $b means swap)
                let mut out: Vec<V<'a>> = Vec::with_capacity(v.len());
                for x in v {
                    let mut pos = out.len();
                    while pos > 0 {
                        let swap = cx
                            .apply(&f, vec![out[pos - 1].clone(), x.clone()], input)?
                            .truthy();
                        if swap {
                            pos -= 1;
                        } else {
                            break;
                        }
                    }
                    out.insert(pos, x);
                }
                V::arr(out)
            } else {
                if v.iter().all(|x| matches!(x, V::Num(_))) {
                    v.sort_by(|a, b| match (a, b) {
                        (V::Num(x), V::Num(y)) => {
                            x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal)
                        }
                        _ => std::cmp::Ordering::Equal,
                    });
                } else if v.iter().all(|x| matches!(x, V::Str(_))) {
                    v.sort_by(|a, b| match (a, b) {
                        (V::Str(x), V::Str(y)) => x.cmp(y),
                        _ => std::cmp::Ordering::Equal,
                    });
                } else {
                    return Err(Error::new("D3070", "The single argument form of the sort function can only be applied to an array of strings or an array of numbers"));
                }
                V::arr(v)
            }
        }
        "distinct" => {
            if a0.is_undef() {
                return Ok(V::Undef);
            }
            let mut out: Vec<V<'a>> = Vec::new();
            for x in a0.items() {
                if !out.iter().any(|o| o.deep_eq(&x)) {
                    out.push(x);
                }
            }
            V::arr(out)
        }
        "shuffle" => a0,
        "zip" => {
            let lists: Vec<Vec<V<'a>>> = args.iter().map(V::items).collect();
            let n = lists.iter().map(Vec::len).min().unwrap_or(0);
            V::arr(
                (0..n)
                    .map(|i| V::arr(lists.iter().map(|l| l[i].clone()).collect()))
                    .collect(),
            )
        }
        "keys" => {
            let mut out: Vec<V<'a>> = Vec::new();
            for x in a0.items() {
                if let V::Obj(o) = x {
                    for k in o.keys() {
                        if !out.iter().any(|e| matches!(e, V::Str(s) if &**s == k)) {
                            out.push(V::str(k));
                        }
                    }
                }
            }
            match out.len() {
                0 => V::Undef,
                1 => out.remove(0),
                _ => V::arr(out),
            }
        }
        "lookup" => {
            let Some(k) = want_str(name, &arg(&args, 1), 1)? else {
                return Ok(V::Undef);
            };
            let mut out = Vec::new();
            for x in a0.items() {
                if let V::Obj(o) = x {
                    if let Some(v) = o.get(&k) {
                        out.extend(v.items());
                    }
                }
            }
            match out.len() {
                0 => V::Undef,
                1 => out.remove(0),
                _ => V::arr(out),
            }
        }
        "merge" => {
            if a0.is_undef() {
                return Ok(V::Undef);
            }
            let mut m = ObjMap::new();
            let members: Vec<V<'a>> = match &a0 {
                V::Arr(a) | V::Seq(a) => a.as_ref().clone(),
                other => vec![other.clone()],
            };
            for x in members {
                match x {
                    // borrowed objects are read in place, without resolving them first
                    V::Ref(serde_json::Value::Object(o)) => {
                        for (k, v) in o {
                            m.insert(k.as_str(), V::Ref(v));
                        }
                    }
                    V::Obj(o) => {
                        for (k, v) in o.iter() {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    _ => {
                        return Err(Error::new(
                            "T0412",
                            "Argument 1 of function \"merge\" must be an array of objects",
                        ))
                    }
                }
            }
            V::Obj(Rc::new(m))
        }
        "spread" => {
            let mut out = Vec::new();
            for x in a0.items() {
                if let V::Obj(o) = x {
                    for (k, v) in o.iter() {
                        let mut m = ObjMap::new();
                        m.insert(k.clone(), v.clone());
                        out.push(V::Obj(Rc::new(m)));
                    }
                } else {
                    out.push(x);
                }
            }
            V::arr(out)
        }
        "each" => {
            let f = arg(&args, 1);
            let mut out = Vec::new();
            if let V::Obj(o) = &a0 {
                for (k, v) in o.iter() {
                    let r = cx.apply(&f, vec![v.clone(), V::str(k), a0.clone()], input)?;
                    if !r.is_undef() {
                        out.push(r);
                    }
                }
            }
            V::arr(out)
        }
        "sift" => {
            let f = arg(&args, 1);
            let mut m = ObjMap::new();
            if let V::Obj(o) = &a0 {
                for (k, v) in o.iter() {
                    if cx
                        .apply(&f, vec![v.clone(), V::str(k), a0.clone()], input)?
                        .truthy()
                    {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            if m.is_empty() {
                V::Undef
            } else {
                V::Obj(Rc::new(m))
            }
        }
        "map" | "filter" => {
            if a0.is_undef() {
                return Ok(V::Undef);
            }
            let f = arg(&args, 1);
            let items = a0.items();
            let arr = V::arr(items.clone());
            let mut out = Vec::new();
            for (i, x) in items.into_iter().enumerate() {
                let r = cx.apply(&f, vec![x.clone(), V::Num(i as f64), arr.clone()], input)?;
                if name == "map" {
                    if !r.is_undef() {
                        out.push(r);
                    }
                } else if r.truthy() {
                    out.push(x);
                }
            }
            // jsonata-js returns a sequence here: a single result stands alone
            V::Seq(Rc::new(out))
        }
        "single" => {
            let f = arg(&args, 1);
            let mut found = None;
            for (i, x) in a0.items().into_iter().enumerate() {
                let ok = if f.is_func() {
                    cx.apply(&f, vec![x.clone(), V::Num(i as f64)], input)?
                        .truthy()
                } else {
                    true
                };
                if ok {
                    if found.is_some() {
                        return Err(Error::new("D3138", "The $single() function expected exactly 1 matching result.  Instead it matched more."));
                    }
                    found = Some(x);
                }
            }
            found.ok_or_else(|| Error::new("D3139", "The $single() function expected exactly 1 matching result.  Instead it matched 0."))?
        }
        "reduce" => {
            if a0.is_undef() {
                return Ok(V::Undef);
            }
            let f = arg(&args, 1);
            let mut items = a0.items().into_iter();
            let mut acc = match arg(&args, 2) {
                V::Undef => match items.next() {
                    Some(x) => x,
                    None => return Ok(V::Undef),
                },
                init => init,
            };
            for x in items {
                acc = cx.apply(&f, vec![acc, x], input)?;
            }
            acc
        }
        "type" => match a0 {
            V::Undef => V::Undef,
            v => V::str(v.type_name()),
        },
        "now" => V::str(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "millis" => V::Num(chrono::Utc::now().timestamp_millis() as f64),
        "toMillis" => {
            let Some(s) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            match chrono::DateTime::parse_from_rfc3339(&s) {
                Ok(t) => V::Num(t.timestamp_millis() as f64),
                Err(_) => {
                    return Err(Error::new(
                        "D3110",
                        format!("Failed to parse timestamp: {s}"),
                    ))
                }
            }
        }
        "fromMillis" => {
            let Some(n) = want_num(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            match chrono::DateTime::from_timestamp_millis(n as i64) {
                Some(t) => V::str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                None => V::Undef,
            }
        }
        "base64encode" => want_str(name, &a0, 0)?
            .map(|s| V::str(&base64::engine::general_purpose::STANDARD.encode(s.as_bytes())))
            .unwrap_or(V::Undef),
        "base64decode" => match want_str(name, &a0, 0)? {
            Some(s) => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map_err(|_| Error::new("D3137", "The input is not valid base64"))?;
                V::str(&String::from_utf8_lossy(&b))
            }
            None => V::Undef,
        },
        "encodeUrlComponent" | "encodeUrl" => match want_str(name, &a0, 0)? {
            Some(s) => {
                let keep: &str = if name == "encodeUrl" {
                    "-_.!~*'();/?:@&=+$,#"
                } else {
                    "-_.!~*'()"
                };
                let mut out = String::new();
                for b in s.bytes() {
                    if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) {
                        out.push(b as char);
                    } else {
                        out.push_str(&format!("%{b:02X}"));
                    }
                }
                V::str(&out)
            }
            None => V::Undef,
        },
        "decodeUrlComponent" | "decodeUrl" => match want_str(name, &a0, 0)? {
            Some(s) => {
                let b = s.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'%' && i + 2 < b.len() {
                        if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                            out.push(x);
                            i += 3;
                            continue;
                        }
                    }
                    out.push(b[i]);
                    i += 1;
                }
                V::str(&String::from_utf8_lossy(&out))
            }
            None => V::Undef,
        },
        "formatNumber" => {
            let Some(n) = want_num(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let pic = want_str(name, &arg(&args, 1), 1)?.unwrap_or_else(|| Rc::from("0"));
            let decimals = pic
                .split('.')
                .nth(1)
                .map(|d| d.chars().filter(|c| *c == '0' || *c == '#').count())
                .unwrap_or(0);
            let mut s = format!("{:.*}", decimals, n);
            if pic.contains(',') {
                let (int, frac) = s
                    .split_once('.')
                    .map(|(a, b)| (a.to_string(), Some(b.to_string())))
                    .unwrap_or((s.clone(), None));
                let neg = int.starts_with('-');
                let digits: Vec<char> = int.trim_start_matches('-').chars().collect();
                let mut grouped = String::new();
                for (i, c) in digits.iter().enumerate() {
                    if i > 0 && (digits.len() - i).is_multiple_of(3) {
                        grouped.push(',');
                    }
                    grouped.push(*c);
                }
                s = format!(
                    "{}{}{}",
                    if neg { "-" } else { "" },
                    grouped,
                    frac.map(|f| format!(".{f}")).unwrap_or_default()
                );
            }
            V::str(&s)
        }
        "formatBase" => {
            let Some(n) = want_num(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let radix = want_num(name, &arg(&args, 1), 1)?.unwrap_or(10.0) as u32;
            if !(2..=36).contains(&radix) {
                return Err(Error::new(
                    "D3100",
                    "The radix of the formatBase function must be between 2 and 36",
                ));
            }
            let mut x = n.round() as i64;
            let neg = x < 0;
            x = x.abs();
            let mut digits = Vec::new();
            loop {
                digits.push(std::char::from_digit((x % radix as i64) as u32, radix).unwrap_or('0'));
                x /= radix as i64;
                if x == 0 {
                    break;
                }
            }
            if neg {
                digits.push('-');
            }
            V::str(&digits.iter().rev().collect::<String>())
        }
        "error" => {
            let msg = want_str(name, &a0, 0)?
                .map(|s| s.to_string())
                .unwrap_or_else(|| "$error() function evaluated".into());
            return Err(Error::new("D3137", msg));
        }
        "assert" => {
            if !a0.truthy() {
                let msg = want_str(name, &arg(&args, 1), 1)?
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "$assert() statement failed".into());
                return Err(Error::new("D3141", msg));
            }
            V::Undef
        }
        "eval" => {
            let Some(src) = want_str(name, &a0, 0)? else {
                return Ok(V::Undef);
            };
            let e = crate::Expr::parse(&src)?;
            let ctx = match arg(&args, 1) {
                V::Undef => input.clone(),
                v => v,
            };
            let frame = cx.frame(None);
            cx.eval(e.root(), &ctx, &frame)?
        }
        _ => return Err(Error::new("T1006", "Attempted to invoke a non-function")),
    })
}
