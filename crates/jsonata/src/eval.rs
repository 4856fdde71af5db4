//! The evaluator: paths over sequences, operators, bindings, lambdas and function calls.

use crate::parser::{Node, Step};
use crate::value::ObjMap;
use crate::value::{num_to_string, Closure, V};
use crate::{functions, Env, Error};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// A scope of variable bindings.
pub struct Frame<'a> {
    vars: RefCell<Vec<(String, V<'a>)>>,
    parent: Option<Rc<Frame<'a>>>,
}

impl<'a> Frame<'a> {
    pub fn root() -> Rc<Frame<'a>> {
        Rc::new(Frame {
            vars: RefCell::new(Vec::new()),
            parent: None,
        })
    }

    pub fn child(parent: &Rc<Frame<'a>>) -> Rc<Frame<'a>> {
        Rc::new(Frame {
            vars: RefCell::new(Vec::new()),
            parent: Some(parent.clone()),
        })
    }

    pub fn set(&self, k: &str, v: V<'a>) {
        let mut vars = self.vars.borrow_mut();
        match vars.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => vars.push((k.to_string(), v)),
        }
    }

    fn get(&self, k: &str) -> Option<V<'a>> {
        if let Some((_, v)) = self.vars.borrow().iter().find(|(n, _)| n == k) {
            return Some(v.clone());
        }
        self.parent.as_ref().and_then(|p| p.get(k))
    }
}

/// Evaluation state shared by one `evaluate` call.
pub struct Ctx<'e, 'a> {
    pub env: &'e Env<'a>,
    pub root: V<'a>,
    pub depth: usize,
    /// Object bindings, assembled once per evaluation.
    /// The object binding (`$states`): its members are read in place; the object value itself
    /// is only assembled when an expression uses it whole.
    object: Option<(&'a str, &'a [(&'a str, &'a Value)])>,
    object_value: Option<V<'a>>,
    /// Every frame a lambda was bound into. A lambda stored in a frame it closes over is a
    /// reference cycle; clearing those frames when the evaluation ends breaks every such cycle.
    frames: Vec<std::rc::Weak<Frame<'a>>>,
}

impl Drop for Ctx<'_, '_> {
    fn drop(&mut self) {
        for f in self.frames.drain(..) {
            if let Some(f) = f.upgrade() {
                f.vars.borrow_mut().clear();
            }
        }
    }
}

type R<'a> = Result<V<'a>, Error>;

impl<'e, 'a> Ctx<'e, 'a> {
    pub fn new(env: &'e Env<'a>, root: V<'a>) -> Self {
        let object = env.object_fields();
        Ctx {
            env,
            root,
            depth: 0,
            object,
            object_value: None,
            frames: Vec::new(),
        }
    }

    /// A new scope under `parent` (or a root scope).
    pub fn frame(&mut self, parent: Option<&Rc<Frame<'a>>>) -> Rc<Frame<'a>> {
        let f = match parent {
            Some(p) => Frame::child(p),
            None => Frame::root(),
        };
        f
    }

    /// A member of the object binding, read in place (`$states.input`).
    fn object_member(&self, var: &str, member: &str) -> Option<V<'a>> {
        let (n, fields) = self.object?;
        if n != var {
            return None;
        }
        Some(
            fields
                .iter()
                .find(|(k, _)| *k == member)
                .map(|(_, v)| V::Ref(v))
                .unwrap_or(V::Undef),
        )
    }

    fn lookup(&mut self, name: &str, frame: &Rc<Frame<'a>>) -> V<'a> {
        if let Some(v) = frame.get(name) {
            return v;
        }
        if let Some((n, fields)) = self.object {
            if n == name {
                let v = self.object_value.get_or_insert_with(|| {
                    V::Obj(Rc::new(
                        fields.iter().map(|(k, v)| (*k, V::Ref(v))).collect(),
                    ))
                });
                return v.clone();
            }
        }
        if let Some(v) = self.env.get(name) {
            return v;
        }
        if functions::is_builtin(name) || self.env.host_has(name) {
            return V::Builtin(Rc::from(name));
        }
        V::Undef
    }

    pub fn eval(&mut self, n: &Node, input: &V<'a>, frame: &Rc<Frame<'a>>) -> R<'a> {
        self.depth += 1;
        if self.depth > 500 {
            return Err(Error::new(
                "U1001",
                "Stack overflow error: check for non-terminating recursive function",
            ));
        }
        let r = self.eval_inner(n, input, frame);
        self.depth -= 1;
        // As in jsonata-js, a sequence is unwrapped after every evaluation: empty is
        // undefined and a single item stands for itself.
        match r {
            Ok(V::Seq(s)) if s.len() <= 1 => Ok(s.first().cloned().unwrap_or(V::Undef)),
            other => other,
        }
    }

    fn eval_inner(&mut self, n: &Node, input: &V<'a>, frame: &Rc<Frame<'a>>) -> R<'a> {
        Ok(match n {
            Node::Num(x) => V::Num(*x),
            Node::Str(s) => V::str(s),
            Node::Bool(b) => V::Bool(*b),
            Node::Null => V::Null,
            Node::Regex(r) => V::Regex(r.clone()),
            Node::Context => input.clone(),
            Node::Var(v) if v == "$" => self.root.clone(),
            Node::Var(v) => self.lookup(v, frame),
            Node::Name(_) | Node::Wildcard | Node::Descendants => {
                let steps = [Step {
                    node: n.clone(),
                    predicates: vec![],
                    keep: false,
                }];
                self.path(&steps, false, input, frame)?
            }
            Node::Parent => {
                return Err(Error::new(
                    "S0217",
                    "The parent operator '%' is not supported here",
                ))
            }
            Node::Placeholder => {
                return Err(Error::new("S0211", "Partial application is not supported"))
            }
            Node::Path(steps, keep) => self.path(steps, *keep, input, frame)?,
            Node::Unary(e) => match self.eval(e, input, frame)?.resolve() {
                V::Undef => V::Undef,
                V::Num(x) => V::Num(-x),
                _ => return Err(Error::new("D1002", "Cannot negate a non-numeric value")),
            },
            Node::Binary(op, a, b) => {
                let l = self.eval(a, input, frame)?;
                let r = self.eval(b, input, frame)?;
                binary(op, l, r)?
            }
            Node::And(a, b) => {
                let l = self.eval(a, input, frame)?;
                if !l.truthy() {
                    V::Bool(false)
                } else {
                    V::Bool(self.eval(b, input, frame)?.truthy())
                }
            }
            Node::Or(a, b) => {
                let l = self.eval(a, input, frame)?;
                if l.truthy() {
                    V::Bool(true)
                } else {
                    V::Bool(self.eval(b, input, frame)?.truthy())
                }
            }
            Node::Coalesce(a, b) => match self.eval(a, input, frame)?.resolve() {
                V::Undef | V::Null => self.eval(b, input, frame)?,
                v => v,
            },
            Node::Default(a, b) => {
                let v = self.eval(a, input, frame)?;
                if v.truthy() {
                    v
                } else {
                    self.eval(b, input, frame)?
                }
            }
            Node::Array(items) => {
                let mut out = Vec::new();
                for it in items {
                    match it {
                        Node::Range(a, b) => {
                            let (l, r) = (
                                self.eval(a, input, frame)?.resolve(),
                                self.eval(b, input, frame)?.resolve(),
                            );
                            match (l, r) {
                                (V::Num(x), V::Num(y)) => {
                                    if x.fract() != 0.0 || y.fract() != 0.0 {
                                        return Err(Error::new("T2003", "The left side of the range operator (..) must evaluate to an integer"));
                                    }
                                    if y - x > 10_000_000.0 {
                                        return Err(Error::new("D2014", "The size of the sequence allocated by the range operator (..) must not exceed 1e7."));
                                    }
                                    let mut k = x;
                                    while k <= y {
                                        out.push(V::Num(k));
                                        k += 1.0;
                                    }
                                }
                                (V::Undef, _) | (_, V::Undef) => {}
                                _ => return Err(Error::new("T2003", "The left side of the range operator (..) must evaluate to an integer")),
                            }
                        }
                        other => match self.eval(other, input, frame)?.resolve() {
                            V::Undef => {}
                            V::Seq(s) => out.extend(s.iter().cloned()),
                            v @ V::Arr(_) if !matches!(other, Node::Array(_)) => {
                                out.extend(v.items())
                            }
                            v => out.push(v),
                        },
                    }
                }
                V::arr(out)
            }
            Node::Range(..) => {
                return Err(Error::new(
                    "S0201",
                    "The range operator is only valid inside [ ]",
                ))
            }
            Node::Object(pairs) => self.object(pairs, input, frame)?,
            Node::Group(src, pairs) => {
                let v = self.eval(src, input, frame)?;
                self.group(pairs, &v, frame)?
            }
            Node::Block(items) => {
                let f = self.frame(Some(frame));
                let mut last = V::Undef;
                for it in items {
                    last = self.eval(it, input, &f)?;
                }
                last
            }
            Node::Bind(name, e) => {
                let v = self.eval(e, input, frame)?;
                if matches!(v, V::Lambda(_)) {
                    // a closure stored in a frame it may capture: clear that frame at the end
                    self.frames.push(Rc::downgrade(frame));
                }
                frame.set(name, v.clone());
                v
            }
            Node::Cond(c, t, e) => {
                if self.eval(c, input, frame)?.truthy() {
                    self.eval(t, input, frame)?
                } else if let Some(e) = e {
                    self.eval(e, input, frame)?
                } else {
                    V::Undef
                }
            }
            Node::Lambda(def) => V::Lambda(Rc::new(Closure {
                params: def.0.clone(),
                body: def.clone(),
                env: frame.clone(),
                input: input.clone(),
            })),
            Node::Call(f, args) => {
                let func = self.eval(f, input, frame)?;
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a, input, frame)?);
                }
                if !func.is_func() {
                    return Err(Error::new("T1006", "Attempted to invoke a non-function"));
                }
                self.apply(&func, vals, input)?
            }
            Node::Chain(a, b) => {
                let l = self.eval(a, input, frame)?;
                match &**b {
                    Node::Call(f, args) => {
                        let func = self.eval(f, input, frame)?;
                        let mut vals = vec![l];
                        for a in args {
                            vals.push(self.eval(a, input, frame)?);
                        }
                        if !func.is_func() {
                            return Err(Error::new("T2006", "The right side of the function application operator ~> must be a function"));
                        }
                        self.apply(&func, vals, input)?
                    }
                    other => {
                        let func = self.eval(other, input, frame)?;
                        if !func.is_func() {
                            return Err(Error::new("T2006", "The right side of the function application operator ~> must be a function"));
                        }
                        self.apply(&func, vec![l], input)?
                    }
                }
            }
            Node::Filter(e, pred) => {
                let v = self.eval(e, input, frame)?;
                self.filter(v, pred, frame)?
            }
            Node::Sort(e, terms) => {
                let v = self.eval(e, input, frame)?;
                self.sort(v, terms, frame)?
            }
        })
    }

    /// Calls a function value.
    pub fn apply(&mut self, f: &V<'a>, args: Vec<V<'a>>, input: &V<'a>) -> R<'a> {
        match f {
            V::Lambda(c) => {
                let frame = self.frame(Some(&c.env));
                for (i, p) in c.params.iter().enumerate() {
                    frame.set(p, args.get(i).cloned().unwrap_or(V::Undef));
                }
                let body = c.body.clone();
                let ci = c.input.clone();
                self.eval(&body.1, &ci, &frame)
            }
            V::Builtin(name) => {
                let name = name.clone();
                if let Some(r) = self.host_call(&name, &args) {
                    return r;
                }
                functions::call(self, &name, args, input)
            }
            _ => Err(Error::new("T1006", "Attempted to invoke a non-function")),
        }
    }

    fn host_call(&self, name: &str, args: &[V<'a>]) -> Option<R<'a>> {
        if !self.env.host_has(name) {
            return None;
        }
        let json_args: Vec<Option<serde_json::Value>> = args.iter().map(V::to_json).collect();
        let r = self.env.host.call(name, &json_args)?;
        let seq = self.env.host.returns_sequence(name);
        Some(r.map(|o| match o.map(|v| V::from_json(&v)) {
            Some(V::Arr(a)) if seq => V::Seq(a),
            Some(v) => v,
            None => V::Undef,
        }))
    }

    /// `$x.a.b` or `a.b` over single objects: no sequences to build. `None` when the general
    /// path semantics are needed (arrays on the way, predicates, `[]`).
    fn simple_path(
        &mut self,
        steps: &[Step],
        input: &V<'a>,
        frame: &Rc<Frame<'a>>,
    ) -> Option<V<'a>> {
        if steps.iter().any(|s| !s.predicates.is_empty() || s.keep) {
            return None;
        }
        let (first, mut rest) = steps.split_first()?;
        let mut cur = match &first.node {
            Node::Var(v) if v == "$" => self.root.clone(),
            Node::Var(v) => {
                // `$states.input...`: read the member without assembling `$states`
                let member = match rest.first().map(|s| &s.node) {
                    Some(Node::Name(m)) if frame.get(v).is_none() => self.object_member(v, m),
                    _ => None,
                };
                match member {
                    Some(m) => {
                        rest = &rest[1..];
                        m
                    }
                    None => self.lookup(v, frame),
                }
            }
            Node::Name(n) if !input.is_array() => field(input, n),
            _ => return None,
        };
        for s in rest {
            let Node::Name(n) = &s.node else { return None };
            if cur.is_array() {
                return None;
            }
            if cur.is_undef() {
                return Some(V::Undef);
            }
            cur = field(&cur, n);
        }
        if matches!(cur, V::Seq(_)) {
            return None;
        }
        Some(cur)
    }

    fn path(&mut self, steps: &[Step], keep: bool, input: &V<'a>, frame: &Rc<Frame<'a>>) -> R<'a> {
        if !keep {
            if let Some(v) = self.simple_path(steps, input, frame) {
                return Ok(v);
            }
        }
        let first_is_var = matches!(steps.first().map(|s| &s.node), Some(Node::Var(_)));
        let mut seq: Vec<V<'a>> = match input {
            V::Ref(Value::Array(a)) if !first_is_var => a.iter().map(V::Ref).collect(),
            V::Arr(a) | V::Seq(a) if !first_is_var => a.as_ref().clone(),
            V::Undef => vec![],
            other => vec![other.clone()],
        };
        let last = steps.len().saturating_sub(1);
        for (si, step) in steps.iter().enumerate() {
            let mut out = Vec::new();
            let single = seq.len() == 1;
            // `a.b^(>x)`: the order-by sorts the whole sequence the step produces
            let (node, order) = match &step.node {
                Node::Sort(inner, terms) => (&**inner, Some(terms)),
                other => (other, None),
            };
            for item in &seq {
                let mut res = self.step(node, item, frame)?;
                for p in &step.predicates {
                    res = self.filter(res, p, frame)?;
                }
                if let V::Ref(Value::Array(_)) = res {
                    res = res.resolve();
                }
                match res {
                    V::Undef => {}
                    // the last step over a single item keeps its array intact
                    V::Arr(a) if si == last && single && !step.keep => out.push(V::Arr(a)),
                    V::Arr(a) if !step.keep => out.extend(a.iter().cloned()),
                    V::Seq(a) => out.extend(a.iter().cloned()),
                    v => out.push(v),
                }
            }
            if let Some(terms) = order {
                out = match self.sort(V::Seq(Rc::new(out)), terms, frame)? {
                    V::Seq(v) => v.as_ref().clone(),
                    V::Undef => Vec::new(),
                    other => vec![other],
                };
            }
            seq = out;
            if seq.is_empty() {
                break;
            }
        }
        Ok(match seq.len() {
            0 => V::Undef,
            // `[]` keeps a singleton as an array
            _ if keep => V::arr(seq),
            1 => seq.pop().unwrap_or(V::Undef),
            _ => V::Seq(Rc::new(seq)),
        })
    }

    fn step(&mut self, n: &Node, item: &V<'a>, frame: &Rc<Frame<'a>>) -> R<'a> {
        Ok(match n {
            Node::Name(name) => field(item, name),
            Node::Wildcard => match item.resolve() {
                V::Obj(o) => {
                    let mut out = Vec::new();
                    for v in o.values() {
                        match v {
                            V::Arr(a) => out.extend(a.iter().cloned()),
                            v => out.push(v.clone()),
                        }
                    }
                    V::Seq(Rc::new(out))
                }
                V::Arr(a) => V::Seq(a),
                _ => V::Undef,
            },
            Node::Descendants => {
                let mut out = Vec::new();
                descendants(item, &mut out);
                V::Seq(Rc::new(out))
            }
            other => self.eval(other, item, frame)?,
        })
    }

    fn filter(&mut self, v: V<'a>, pred: &Node, frame: &Rc<Frame<'a>>) -> R<'a> {
        let items = v.items();
        let n = items.len() as f64;
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let p = self.eval(pred, it, frame)?.resolve();
            let keep = match &p {
                V::Num(k) => {
                    let k = if *k < 0.0 { n + k.floor() } else { k.floor() };
                    k == i as f64
                }
                V::Arr(a) | V::Seq(a)
                    if !a.is_empty() && a.iter().all(|x| matches!(x, V::Num(_))) =>
                {
                    a.iter().any(|x| {
                        if let V::Num(k) = x {
                            let k = if *k < 0.0 { n + k.floor() } else { k.floor() };
                            k == i as f64
                        } else {
                            false
                        }
                    })
                }
                other => other.truthy(),
            };
            if keep {
                out.push(it.clone());
            }
        }
        Ok(match out.len() {
            0 => V::Undef,
            1 => out.pop().unwrap_or(V::Undef),
            _ => V::Seq(Rc::new(out)),
        })
    }

    fn sort(&mut self, v: V<'a>, terms: &[(Node, bool)], frame: &Rc<Frame<'a>>) -> R<'a> {
        let items = v.items();
        let mut keyed: Vec<(Vec<V<'a>>, V<'a>)> = Vec::with_capacity(items.len());
        for it in items {
            let mut keys = Vec::new();
            for (t, _) in terms {
                keys.push(self.eval(t, &it, frame)?);
            }
            keyed.push((keys, it));
        }
        let mut err = None;
        keyed.sort_by(|a, b| {
            for (i, (_, asc)) in terms.iter().enumerate() {
                let o = match (&a.0[i].resolve(), &b.0[i].resolve()) {
                    (V::Num(x), V::Num(y)) => x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal),
                    (V::Str(x), V::Str(y)) => x.cmp(y),
                    (V::Undef, V::Undef) => std::cmp::Ordering::Equal,
                    (V::Undef, _) => std::cmp::Ordering::Greater,
                    (_, V::Undef) => std::cmp::Ordering::Less,
                    _ => {
                        err = Some(Error::new("T2008", "The expressions within an order-by clause must evaluate to numeric or string values"));
                        std::cmp::Ordering::Equal
                    }
                };
                let o = if *asc { o } else { o.reverse() };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        if let Some(e) = err {
            return Err(e);
        }
        Ok(V::Seq(Rc::new(keyed.into_iter().map(|k| k.1).collect())))
    }

    fn object(&mut self, pairs: &[(Node, Node)], input: &V<'a>, frame: &Rc<Frame<'a>>) -> R<'a> {
        let mut m = ObjMap::new();
        for (k, v) in pairs {
            // a literal key (the usual case) needs no evaluation
            let key = match k {
                Node::Str(s) => s.clone(),
                _ => match self.eval(k, input, frame)?.resolve() {
                    V::Str(s) => s.to_string(),
                    V::Undef => continue,
                    other => return Err(key_error(&other)),
                },
            };
            let val = self.eval(v, input, frame)?;
            if !val.is_undef() {
                m.insert(key, val);
            }
        }
        Ok(V::Obj(Rc::new(m)))
    }

    fn group(&mut self, pairs: &[(Node, Node)], v: &V<'a>, frame: &Rc<Frame<'a>>) -> R<'a> {
        let items = v.items();
        let mut groups: indexmap::IndexMap<String, (usize, Vec<V<'a>>)> = indexmap::IndexMap::new();
        for it in &items {
            for (pi, (k, _)) in pairs.iter().enumerate() {
                match self.eval(k, it, frame)?.resolve() {
                    V::Str(s) => groups
                        .entry(s.to_string())
                        .or_insert((pi, vec![]))
                        .1
                        .push(it.clone()),
                    V::Undef => {}
                    other => return Err(key_error(&other)),
                }
            }
        }
        let mut m = ObjMap::new();
        for (key, (pi, members)) in groups {
            let ctx = if members.len() == 1 {
                members[0].clone()
            } else {
                V::Seq(Rc::new(members))
            };
            let val = self.eval(&pairs[pi].1, &ctx, frame)?;
            if !val.is_undef() {
                m.insert(key, val);
            }
        }
        Ok(V::Obj(Rc::new(m)))
    }
}

/// T1003: an object key that is not a string.
fn key_error(v: &V) -> Error {
    Error::new(
        "T1003",
        format!(
            "Key in object structure must evaluate to a string; got: {}",
            v.type_name()
        ),
    )
}

fn field<'a>(item: &V<'a>, name: &str) -> V<'a> {
    match item {
        // small objects: a scan beats hashing the key
        V::Ref(Value::Object(o)) if o.len() <= 8 => o
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| V::Ref(v))
            .unwrap_or(V::Undef),
        V::Ref(Value::Object(o)) => o.get(name).map(V::Ref).unwrap_or(V::Undef),
        V::Ref(Value::Array(a)) => {
            let mut out = Vec::new();
            for x in a.iter() {
                match field(&V::Ref(x), name) {
                    V::Undef => {}
                    V::Ref(Value::Array(inner)) => out.extend(inner.iter().map(V::Ref)),
                    v => out.push(v),
                }
            }
            if out.is_empty() {
                V::Undef
            } else {
                V::Seq(Rc::new(out))
            }
        }
        V::Obj(o) => o.get(name).cloned().unwrap_or(V::Undef),
        V::Arr(a) | V::Seq(a) => {
            let mut out = Vec::new();
            for x in a.iter() {
                match field(x, name) {
                    V::Undef => {}
                    V::Ref(Value::Array(inner)) => out.extend(inner.iter().map(V::Ref)),
                    V::Arr(inner) => out.extend(inner.iter().cloned()),
                    V::Seq(inner) => out.extend(inner.iter().cloned()),
                    v => out.push(v),
                }
            }
            if out.is_empty() {
                V::Undef
            } else {
                V::Seq(Rc::new(out))
            }
        }
        _ => V::Undef,
    }
}

fn descendants<'a>(v: &V<'a>, out: &mut Vec<V<'a>>) {
    match v {
        V::Ref(_) => descendants(&v.resolve(), out),
        V::Obj(o) => {
            for x in o.values() {
                if !x.is_array() {
                    out.push(x.clone());
                }
                descendants(x, out);
            }
        }
        V::Arr(a) | V::Seq(a) => {
            for x in a.iter() {
                if !x.is_array() {
                    out.push(x.clone());
                }
                descendants(x, out);
            }
        }
        _ => {}
    }
}

/// `$string`-style text for `&`.
pub fn to_text(v: &V) -> Result<String, Error> {
    Ok(match v {
        V::Ref(_) => return to_text(&v.resolve()),
        V::Undef => String::new(),
        V::Str(s) => s.to_string(),
        V::Num(n) => {
            if !n.is_finite() {
                return Err(Error::new(
                    "D3001",
                    "Attempting to invoke string function on Infinity or NaN",
                ));
            }
            num_to_string(*n)
        }
        V::Lambda(_) | V::Builtin(_) | V::Regex(_) => String::new(),
        other => serde_json::to_string(&other.to_json().unwrap_or(serde_json::Value::Null))
            .unwrap_or_default(),
    })
}

fn binary<'a>(op: &str, l: V<'a>, r: V<'a>) -> R<'a> {
    let (l, r) = (l.resolve(), r.resolve());
    match op {
        "+" | "-" | "*" | "/" | "%" => {
            if l.is_undef() || r.is_undef() {
                return Ok(V::Undef);
            }
            let (V::Num(a), V::Num(b)) = (&l, &r) else {
                let side = if matches!(l, V::Num(_)) {
                    "right"
                } else {
                    "left"
                };
                let code = if side == "left" { "T2001" } else { "T2002" };
                return Err(Error::new(
                    code,
                    format!("The {side} side of the \"{op}\" operator must evaluate to a number"),
                ));
            };
            let v = match op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "/" => a / b,
                _ => a % b,
            };
            if !v.is_finite() {
                return Err(Error::new("D1001", "Number out of range"));
            }
            Ok(V::Num(v))
        }
        "&" => Ok(V::str(&(to_text(&l)? + &to_text(&r)?))),
        "=" | "!=" => {
            if l.is_undef() || r.is_undef() {
                return Ok(V::Bool(false));
            }
            let eq = l.deep_eq(&r);
            Ok(V::Bool(if op == "=" { eq } else { !eq }))
        }
        "<" | "<=" | ">" | ">=" => {
            if l.is_undef() || r.is_undef() {
                return Ok(V::Bool(false));
            }
            let ord = match (&l, &r) {
                (V::Num(a), V::Num(b)) => a.partial_cmp(b),
                (V::Str(a), V::Str(b)) => Some(a.cmp(b)),
                (V::Num(_) | V::Str(_), V::Num(_) | V::Str(_)) => {
                    return Err(Error::new("T2009", format!("The values {:?} and {:?} either side of operator \"{op}\" must be of the same data type", l, r)))
                }
                _ => return Err(Error::new("T2010", format!("The expressions either side of operator \"{op}\" must evaluate to numeric or string values"))),
            };
            use std::cmp::Ordering::*;
            Ok(V::Bool(matches!(
                (op, ord),
                ("<", Some(Less))
                    | ("<=", Some(Less | Equal))
                    | (">", Some(Greater))
                    | (">=", Some(Greater | Equal))
            )))
        }
        "in" => {
            if l.is_undef() || r.is_undef() {
                return Ok(V::Bool(false));
            }
            Ok(V::Bool(r.items().iter().any(|x| x.deep_eq(&l))))
        }
        _ => Err(Error::new("S0201", format!("Unknown operator {op}"))),
    }
}
