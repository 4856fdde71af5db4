//! The benchmark workloads as a plain program, for counting instructions with callgrind
//! (`bench/asl-instructions.sh`): wall-clock figures on a shared machine are noisy, instruction
//! counts are not.
//!
//! `cargo run --release --example transitions -- pass_chain|choice_loop|map|map_context jsonpath|jsonata N`

#[path = "../benches/support/workloads.rs"]
mod workloads;

// the allocator the shoal binary uses
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde_json::{json, Value};
use workloads::{choice_loop, map_context, map_items, pass_chain, run};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workload = args.get(1).map(String::as_str).unwrap_or("pass_chain");
    let jsonata = args.get(2).map(String::as_str) == Some("jsonata");
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let (sm, input, transitions) = match workload {
        "pass_chain" => (pass_chain(jsonata), json!({"name": "post", "step": 0}), 100),
        "choice_loop" => (
            choice_loop(jsonata, 500),
            json!({"i": 0, "n": 500, "kind": "loop"}),
            1001,
        ),
        "map" => {
            let items: Vec<Value> = (0..10_000).map(|i| json!({"v": i})).collect();
            (map_items(jsonata), json!({"items": items}), 10_001)
        }
        "map_context" => {
            let items: Vec<Value> = (0..4_000).map(|i| json!({"v": i})).collect();
            (map_context(jsonata), json!({"items": items}), 4_001)
        }
        other => panic!("unknown workload {other}"),
    };
    for _ in 0..n {
        run(&sm, &input);
    }
    println!("{} transitions", n * transitions);
}
