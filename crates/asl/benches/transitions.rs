//! In-process state transitions per second: a 100-state Pass chain with Parameters/ResultPath
//! work, a Choice-heavy loop, a Map over 10,000 items, and Maps of 1,000 and 4,000 items that
//! read the context object (the same rate at both sizes: linear), each in JSONPath and JSONata
//! mode. Criterion prints the throughput as elements (state transitions) per second.

#[path = "support/workloads.rs"]
mod workloads;

// the allocator the shoal binary uses
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use workloads::{choice_loop, map_context, map_items, pass_chain, run};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("transitions");
    g.sample_size(20);
    for (mode, jsonata) in [("jsonpath", false), ("jsonata", true)] {
        let sm = pass_chain(jsonata);
        let input = json!({"name": "post", "step": 0});
        g.throughput(Throughput::Elements(100));
        g.bench_function(format!("pass_chain_100/{mode}"), |b| {
            b.iter(|| run(&sm, &input))
        });

        let n = 500u64;
        let sm = choice_loop(jsonata, n);
        let input = json!({"i": 0, "n": n, "kind": "loop"});
        g.throughput(Throughput::Elements(2 * n + 1));
        g.bench_function(format!("choice_loop_500/{mode}"), |b| {
            b.iter(|| run(&sm, &input))
        });

        let sm = map_items(jsonata);
        let items: Vec<Value> = (0..10_000).map(|i| json!({"v": i})).collect();
        let input = json!({"items": items});
        g.throughput(Throughput::Elements(10_001));
        g.bench_function(format!("map_10000/{mode}"), |b| b.iter(|| run(&sm, &input)));

        let sm = map_context(jsonata);
        for n in [1_000u64, 4_000] {
            let items: Vec<Value> = (0..n)
                .map(|i| json!({"v": i, "pad": "x".repeat(20)}))
                .collect();
            let input = json!({"items": items});
            g.throughput(Throughput::Elements(n + 1));
            g.bench_function(format!("map_context_{n}/{mode}"), |b| {
                b.iter(|| run(&sm, &input))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
