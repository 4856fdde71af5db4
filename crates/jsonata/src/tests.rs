use crate::{Env, Expr, NoHost, Output};
use serde_json::{json, Value};

fn ev(src: &str, input: Value) -> Output {
    Expr::parse(src)
        .unwrap()
        .evaluate(&input, &Env::new(&NoHost))
        .unwrap()
}

/// Parses and evaluates, with any error as its text.
fn eval_text(src: &str, data: &Value) -> Result<Output, String> {
    let e = Expr::parse(src).map_err(|e| e.to_string())?;
    e.evaluate(data, &Env::new(&NoHost))
        .map_err(|e| e.to_string())
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

/// The built-in library against the results the JSONata documentation gives.
#[test]
fn function_library() {
    let data = json!({
        "Account": {"Order": [
            {"OrderID": "order103", "Product": [{"Name": "Bowler Hat", "Price": 34.45, "Quantity": 2}, {"Name": "Trilby hat", "Price": 21.67, "Quantity": 1}]},
            {"OrderID": "order104", "Product": [{"Name": "Bowler Hat", "Price": 34.45, "Quantity": 4}, {"Name": "Cloak", "Price": 107.99, "Quantity": 1}]}
        ]},
        "s": "Hello World", "n": [3, 1, 2], "o": {"a": 1, "b": 2}
    });
    let table: &[(&str, Value)] = &[
        ("$substring('Hello World', 3)", json!("lo World")),
        ("$substring('Hello World', 3, 5)", json!("lo Wo")),
        ("$substring('Hello World', -4)", json!("orld")),
        ("$substringBefore('Hello World', ' ')", json!("Hello")),
        ("$substringAfter('Hello World', ' ')", json!("World")),
        ("$uppercase(s)", json!("HELLO WORLD")),
        ("$lowercase(s)", json!("hello world")),
        ("$length(s)", json!(11)),
        ("$trim('   Hello    World   ')", json!("Hello World")),
        ("$pad('foo', 5)", json!("foo  ")),
        ("$pad('foo', -5, '#')", json!("##foo")),
        ("$contains(s, 'World')", json!(true)),
        (
            "$split('so many words', ' ')",
            json!(["so", "many", "words"]),
        ),
        ("$split('so many words', ' ', 2)", json!(["so", "many"])),
        ("$join(['a','b','c'], '-')", json!("a-b-c")),
        (
            "$replace('John Smith and John Jones', 'John', 'Mr')",
            json!("Mr Smith and Mr Jones"),
        ),
        ("$replace('abracadabra', /bra/, '*')", json!("a*cada*")),
        (
            "$match('ababbabbcc', /a(b+)/).match",
            json!(["ab", "abb", "abb"]),
        ),
        ("$string(5)", json!("5")),
        ("$string([1, 2])", json!("[1,2]")),
        ("$number('0x12')", json!(18)),
        ("$abs(-5)", json!(5)),
        ("$floor(5.3)", json!(5)),
        ("$ceil(5.3)", json!(6)),
        ("$round(123.456, 2)", json!(123.46)),
        ("$round(11.5)", json!(12)),
        ("$round(12.5)", json!(12)),
        ("$power(2, 8)", json!(256)),
        ("$sqrt(4)", json!(2)),
        ("$sum(Account.Order.Product.Price)", json!(198.56)),
        ("$max(n)", json!(3)),
        ("$min(n)", json!(1)),
        ("$average(n)", json!(2)),
        ("$count(Account.Order.Product)", json!(4)),
        ("$boolean('')", json!(false)),
        ("$not(true)", json!(false)),
        ("$exists(s)", json!(true)),
        ("$append([1,2], [3,4])", json!([1, 2, 3, 4])),
        ("$reverse(n)", json!([2, 1, 3])),
        ("$sort(n)", json!([1, 2, 3])),
        ("$sort(n, function($a, $b){ $a < $b })", json!([3, 2, 1])),
        ("$distinct([1, 2, 2, 3, 1])", json!([1, 2, 3])),
        ("$keys(o)", json!(["a", "b"])),
        ("$lookup(o, 'b')", json!(2)),
        ("$spread(o)", json!([{"a": 1}, {"b": 2}])),
        (
            "$each(o, function($v, $k){ $k & '=' & $v })",
            json!(["a=1", "b=2"]),
        ),
        ("$filter(n, function($v){ $v > 1 })", json!([3, 2])),
        ("$zip([1,2,3], [4,5,6])", json!([[1, 4], [2, 5], [3, 6]])),
        ("$type(o)", json!("object")),
        (
            "$base64encode('myuser:mypass')",
            json!("bXl1c2VyOm15cGFzcw=="),
        ),
        (
            "$base64decode('bXl1c2VyOm15cGFzcw==')",
            json!("myuser:mypass"),
        ),
        ("$encodeUrlComponent('?x=test')", json!("%3Fx%3Dtest")),
        ("$formatBase(100, 2)", json!("1100100")),
        ("$formatNumber(12345.6, '#,###.00')", json!("12,345.60")),
        (
            "$fromMillis(1510067557121)",
            json!("2017-11-07T15:12:37.121Z"),
        ),
        (
            "$toMillis('2017-11-07T15:07:54.972Z')",
            json!(1510067274972i64),
        ),
        ("Account.Order[0].OrderID", json!("order103")),
        ("Account.Order.Product[Price > 100].Name", json!("Cloak")),
        (
            "Account.Order.Product^(>Price).Name",
            json!(["Cloak", "Bowler Hat", "Bowler Hat", "Trilby hat"]),
        ),
        (
            "Account.Order.Product{Name: $sum(Quantity)}",
            json!({"Bowler Hat": 6, "Trilby hat": 1, "Cloak": 1}),
        ),
        (
            "$sum(Account.Order.Product.(Price * Quantity))",
            json!(336.36),
        ),
        ("'Hello' & ' ' & 'World'", json!("Hello World")),
        ("5 in n", json!(false)),
        (
            "[1..3] ~> $map(function($v){ $v * 10 })",
            json!([10, 20, 30]),
        ),
        ("($x := 5; $y := $x * 2)", json!(10)),
    ];
    let mut failures = Vec::new();
    for (src, want) in table {
        let got = eval_text(src, &data);
        let ok = match (&got, want) {
            (Ok(Output::Value(v)), w) => match (v.as_f64(), w.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => v == w,
            },
            _ => false,
        };
        if !ok {
            failures.push(format!("{src}: got {got:?}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sequence and type corners that Step Functions users meet.
#[test]
fn semantics_corners() {
    let data = json!({"items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": ["c"]}], "one": [{"id": 9}], "empty": [], "nul": null, "t": true});
    let table: &[(&str, Option<Value>)] = &[
        ("items.id", Some(json!([1, 2]))),
        ("items.tags", Some(json!(["a", "b", "c"]))),
        ("items[0].tags", Some(json!(["a", "b"]))),
        ("one.id", Some(json!(9))),
        ("one", Some(json!([{"id": 9}]))),
        ("empty", Some(json!([]))),
        ("empty[0]", None),
        ("nul", Some(json!(null))),
        ("missing", None),
        ("missing.deeper", None),
        ("$count(missing)", Some(json!(0))),
        ("$exists(missing)", Some(json!(false))),
        ("$string(1.5)", Some(json!("1.5"))),
        ("$string(100)", Some(json!("100"))),
        ("$string(true)", Some(json!("true"))),
        ("$string(nul)", Some(json!("null"))),
        ("t ? 'yes' : 'no'", Some(json!("yes"))),
        ("missing ? 'yes' : 'no'", Some(json!("no"))),
        ("items[id = 2].tags[0]", Some(json!("c"))),
        ("[items.id]", Some(json!([1, 2]))),
        ("{'ids': items.id}", Some(json!({"ids": [1, 2]}))),
        ("{'x': missing}", Some(json!({}))),
        ("items.{'i': id}", Some(json!([{"i": 1}, {"i": 2}]))),
        (
            "$map(items, function($v){ $v.id * 2 })",
            Some(json!([2, 4])),
        ),
        (
            "$reduce([1,2,3,4], function($a, $b){ $a + $b }, 10)",
            Some(json!(20)),
        ),
        (
            "$single(items, function($v){ $v.id = 2 }).id",
            Some(json!(2)),
        ),
        (
            "$sift({'a': 1, 'b': 2}, function($v){ $v > 1 })",
            Some(json!({"b": 2})),
        ),
        ("$boolean([])", Some(json!(false))),
        ("$boolean([0, 1])", Some(json!(true))),
        ("1 = 1.0", Some(json!(true))),
        ("'a' < 'b'", Some(json!(true))),
        ("$append(1, [2])", Some(json!([1, 2]))),
        ("$lookup(items, 'id')", Some(json!([1, 2]))),
        (
            "$merge([{'a': 1}, {'a': 2, 'b': 3}])",
            Some(json!({"a": 2, "b": 3})),
        ),
        ("-(5)", Some(json!(-5))),
        ("10 / 4", Some(json!(2.5))),
        ("7 % 3", Some(json!(1))),
        ("items[-1].id", Some(json!(2))),
        ("$uppercase('straße')", Some(json!("STRASSE"))),
        ("$length('héllo')", Some(json!(5))),
        ("$substring('héllo', 1, 2)", Some(json!("él"))),
    ];
    let mut failures = Vec::new();
    for (src, want) in table {
        let got = eval_text(src, &data);
        let ok = match (&got, want) {
            (Ok(Output::Value(v)), Some(w)) => {
                v == w || (v.as_f64().is_some() && v.as_f64() == w.as_f64())
            }
            (Ok(Output::Undefined), None) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!("{src}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // type errors carry JSONata's codes
    for (src, code) in [
        ("'a' + 1", "T2001"),
        ("1 + 'a'", "T2002"),
        ("1 < 'a'", "T2009"),
        ("$nope()", "T1006"),
        ("$number('x')", "D3030"),
    ] {
        let err = Expr::parse(src)
            .unwrap()
            .evaluate(&data, &Env::new(&NoHost))
            .unwrap_err();
        assert_eq!(err.code, code, "{src}");
    }
}
