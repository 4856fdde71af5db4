use crate::{Env, Expr, NoHost, Output};
use serde_json::{json, Value};

fn ev(src: &str, input: Value) -> Output {
    Expr::parse(src)
        .unwrap()
        .evaluate(&input, &Env::new(&NoHost))
        .unwrap()
}

fn val(src: &str, input: Value) -> Value {
    match ev(src, input) {
        Output::Value(v) => v,
        other => panic!("{src}: {other:?}"),
    }
}

#[test]
fn literals_and_arithmetic() {
    assert_eq!(val("1 + 2 * 3", json!(null)), json!(7));
    assert_eq!(val("'a' & 1 & true", json!(null)), json!("a1true"));
    assert_eq!(val("[1, 'two', 3]", json!(null)), json!([1, "two", 3]));
    assert_eq!(val("{'foo': 'bar'}", json!(null)), json!({"foo": "bar"}));
    assert_eq!(val("[1..4]", json!(null)), json!([1, 2, 3, 4]));
    assert_eq!(val("10 % 4 = 2 and 'b' > 'a'", json!(null)), json!(true));
}

#[test]
fn paths_and_sequences() {
    let data = json!({"a": {"b": [{"c": 1}, {"c": 2}]}, "one": [5], "xs": [1, 2, 3]});
    assert_eq!(val("a.b.c", data.clone()), json!([1, 2]));
    assert_eq!(val("a.b[0].c", data.clone()), json!(1));
    assert_eq!(val("a.b[c > 1].c", data.clone()), json!(2));
    assert_eq!(val("one", data.clone()), json!([5]));
    assert_eq!(val("xs[-1]", data.clone()), json!(3));
    assert_eq!(ev("nope", data.clone()), Output::Undefined);
    assert_eq!(val("$sum(xs) + $count(xs)", data.clone()), json!(9));
    assert_eq!(val("a.b.c[]", json!({"a": {"b": [{"c": 1}]}})), json!([1]));
}

#[test]
fn functions_and_lambdas() {
    assert_eq!(
        val("$map([1,2,3], function($v){ $v * 2 })", json!(null)),
        json!([2, 4, 6])
    );
    assert_eq!(
        val("$reduce([1,2,3], function($a, $b){ $a + $b })", json!(null)),
        json!(6)
    );
    assert_eq!(
        val("($f := function($x){ $x + 1 }; $f(41))", json!(null)),
        json!(42)
    );
    assert_eq!(
        val("$merge([{'a':1},{'b':2}])", json!(null)),
        json!({"a": 1, "b": 2})
    );
    assert_eq!(
        val("$contains('hello$world', /^hello\\$/)", json!(null)),
        json!(true)
    );
    assert_eq!(val("$number('2')", json!(null)), json!(2));
    assert_eq!(
        val("$string({'a': [1]})", json!(null)),
        json!("{\"a\":[1]}")
    );
    assert_eq!(val("[3,1,2]^($)", json!(null)), json!([1, 2, 3]));
    assert_eq!(
        val("$uppercase('x') ~> $lowercase()", json!(null)),
        json!("x")
    );
    assert_eq!(val("true ? 'y' : 'n'", json!(null)), json!("y"));
}

#[test]
fn errors_carry_codes() {
    let e = Expr::parse("$nope()")
        .unwrap()
        .evaluate(&json!(null), &Env::new(&NoHost))
        .unwrap_err();
    assert_eq!(e.to_string(), "T1006: Attempted to invoke a non-function");
    assert!(Expr::parse("'unterminated").is_err());
    assert!(Expr::parse("1 +").is_err());
    assert!(Expr::parse("(((").is_err());
    let e = Expr::parse("'a' + 1")
        .unwrap()
        .evaluate(&json!(null), &Env::new(&NoHost))
        .unwrap_err();
    assert_eq!(e.code, "T2001");
}

#[test]
fn bound_variables_are_read_lazily() {
    let states = json!({"input": {"v": 21}});
    let mut env = Env::new(&NoHost);
    env.bind("states", &states);
    let out = Expr::parse("$states.input.v * 2")
        .unwrap()
        .evaluate(&json!(null), &env)
        .unwrap();
    assert_eq!(out, Output::Value(json!(42)));
}

#[test]
fn functions_are_reported() {
    assert_eq!(ev("$fn := function($x){$x}", json!(null)), Output::Function);
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(s in ".{0,40}") {
        if let Ok(e) = Expr::parse(&s) {
            let _ = e.evaluate(&json!({"a": [1, {"b": "c"}]}), &Env::new(&NoHost));
        }
    }

    #[test]
    fn integer_addition_matches(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
        proptest::prop_assert_eq!(val(&format!("{a} + {b}"), json!(null)), json!(a + b));
    }
}

#[test]
fn unicode_names_and_whitespace() {
    assert_eq!(ev("\u{a6518}", json!({})), Output::Undefined);
    // U+0085 is whitespace: it must be skipped, not loop forever
    assert!(Expr::parse("]2\u{85}x").is_err());
    assert_eq!(val("\u{85}1\u{a0}+\u{2003}1", json!(null)), json!(2));
}

/// A lambda stored in the scope it closes over is a reference cycle; the evaluation must free it
/// (found by the `expressions` fuzz target with LeakSanitizer).
#[test]
fn closures_stored_in_their_own_scope_are_freed() {
    use std::rc::Rc;
    let e = Expr::parse("($fn := function($x){ $x + $y }; $y := 1; $fn(1))").unwrap();
    assert_eq!(
        e.evaluate(&json!(null), &Env::new(&NoHost)).unwrap(),
        Output::Value(json!(2))
    );
    // binding a lambda registers its frame, which is emptied at the end: nothing stays alive
    let root = crate::eval::Frame::root();
    let weak = Rc::downgrade(&root);
    {
        let env = Env::new(&NoHost);
        let mut cx = crate::eval::Ctx::new(&env, crate::value::V::Null);
        let f = cx.frame(None);
        let bind = Expr::parse("$fn := function($x){$x}").unwrap();
        cx.eval(bind.root(), &crate::value::V::Null, &f).unwrap();
        drop(root);
        let w = Rc::downgrade(&f);
        drop(f);
        drop(cx);
        assert!(w.upgrade().is_none(), "the frame leaked");
    }
    assert!(weak.upgrade().is_none());
}
