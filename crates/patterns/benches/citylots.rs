//! The CityLots benchmark of aws/event-ruler and quamina, on generated records.
//!
//!     cargo bench -p patterns --bench citylots            # 213,068 events (the data set's size)
//!     CITYLOTS_EVENTS=20000 cargo bench -p patterns --bench citylots
//!     CITYLOTS_ONLY=PREFIX cargo bench -p patterns --bench citylots     # one rule set
//!
//! The real data set cannot be obtained here (../shared/bench-data/citylots-benchmark.md), so a
//! deterministic generator writes records of the citylots2 layout: `properties` (MAPBLKLOT,
//! BLKLOT, BLOCK_NUM, LOT_NUM, FROM_ST, TO_ST, STREET, ST_TYPE, ODD_EVEN) and `geometry` (type,
//! an array of `{x, y, z}` coordinates, `firstCoordinates`). The patterns are the benchmark's
//! exact rule sets, read from ../shared/bench-data/citylots-benchmark.json. For every rule set
//! shoal's `RuleSet` and the `quamina` crate match the same events in the same process; their
//! match counts must agree rule by rule, and events/s are printed side by side. Then the cost
//! per event at 10 and at 10,000 rules.

// the allocator the shoal binary uses (quamina, in the same process, gets it too)
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use patterns::{Pattern, RuleSet};
use serde_json::Value;
use std::time::Instant;

const STREETS: &[&str] = &[
    "ACTON",
    "BEACH",
    "BLAKE",
    "BLUXOME",
    "DRUMM",
    "FULTON",
    "FOLSOM",
    "FOERSTER",
    "JEFFERSON",
    "KING",
    "MASON",
    "MISSION",
    "RHODE ISLAND",
    "17TH",
    "CRANLEIGH",
    "LAGUNA HONDA",
    "MINNA",
    "SHOTWELL",
    "SAN BRUNO",
    "GOLDEN GATE",
    "HARRISON",
    "JACKSON",
    "WASHINGTON",
    "MADISON",
    "BELMONT",
    "SANTIAGO",
    "CHICAGO",
    "LAKE",
    "BROOKE",
    "COMM",
    "PALM",
    "DEWING",
    "LYON",
];
const TYPES: &[&str] = &["ST", "AVE", "WAY", "BLVD", "TER", "PL", "DR", "CT"];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn record(r: &mut Rng) -> String {
    // a few lots the exact rules name, the rest spread over blocks and lots
    let lot = match r.below(1000) {
        0 => "2607117".to_string(),
        1..=3 => "3745012".to_string(),
        4 => "2607218".to_string(),
        _ => format!("{:04}{:03}", r.below(8000), r.below(300)),
    };
    let street = STREETS[r.below(STREETS.len() as u64) as usize];
    let kind = TYPES[r.below(TYPES.len() as u64) as usize];
    let from = r.below(3000);
    let n = 4 + r.below(12);
    // now and then the very coordinate the numeric rules name
    let x0 = if r.below(500) == 0 {
        -122.42916360922355
    } else {
        -122.5 + r.below(1_000_000) as f64 / 10_000_000.0
    };
    let y0 = 37.7 + r.below(1_000_000) as f64 / 10_000_000.0;
    let coords: Vec<String> = (0..n)
        .map(|i| {
            let x = x0 + i as f64 * 0.0000137;
            let y = y0 - i as f64 * 0.0000091;
            format!("{{\"x\":{x},\"y\":{y},\"z\":0}}")
        })
        .collect();
    let shape = if r.below(10) == 0 {
        "MultiPolygon"
    } else {
        "Polygon"
    };
    format!(
        "{{\"type\":\"Feature\",\"properties\":{{\"MAPBLKLOT\":\"{lot}\",\"BLKLOT\":\"{lot}\",\"BLOCK_NUM\":\"{}\",\"LOT_NUM\":\"{}\",\"FROM_ST\":\"{from}\",\"TO_ST\":\"{}\",\"STREET\":\"{street}\",\"ST_TYPE\":\"{kind}\",\"ODD_EVEN\":\"{}\"}},\"geometry\":{{\"type\":\"{shape}\",\"coordinates\":[{}],\"firstCoordinates\":{{\"x\":{x0},\"y\":{y0},\"z\":0}}}}}}",
        &lot[..4],
        &lot[4..],
        from + 50,
        if from.is_multiple_of(2) { "E" } else { "O" },
        coords.join(",")
    )
}

fn rule_sets() -> Vec<(String, Vec<String>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/bench-data/citylots-benchmark.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("cannot read {path} ({e}): check out ../shared beside the repository")
    });
    let v: Value = serde_json::from_str(&text).expect("citylots-benchmark.json is JSON");
    v["rule_sets"]
        .as_array()
        .expect("rule_sets")
        .iter()
        .map(|s| {
            let name = s["name"].as_str().unwrap_or("?").to_string();
            let pats = s["patterns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["pattern_text"].as_str().map(String::from))
                .collect();
            (name, pats)
        })
        .collect()
}

/// shoal: match every event as the server does (the text a serializer wrote, read as far as
/// the rules look); the count per rule and the seconds taken.
fn run_shoal(set: &RuleSet<usize>, events: &[String], rules: usize) -> (Vec<u64>, f64) {
    let mut counts = vec![0u64; rules];
    let t = Instant::now();
    for e in events {
        for &i in set
            .matching_serialized(e)
            .expect("generated events are JSON")
        {
            counts[i] += 1;
        }
    }
    (counts, t.elapsed().as_secs_f64())
}

fn run_quamina(q: &quamina::Quamina<usize>, events: &[String], rules: usize) -> (Vec<u64>, f64) {
    let mut counts = vec![0u64; rules];
    let t = Instant::now();
    for e in events {
        for i in q.matches_for_event(e.as_bytes()).expect("quamina matches") {
            counts[i] += 1;
        }
    }
    (counts, t.elapsed().as_secs_f64())
}

/// shoal's rule set and, when quamina supports every pattern, quamina's.
fn build(patterns: &[String]) -> (RuleSet<usize>, Option<quamina::Quamina<usize>>) {
    let mut s = RuleSet::new();
    let mut q = Some(quamina::Quamina::new());
    for (i, p) in patterns.iter().enumerate() {
        s.add(i, Pattern::parse(p).expect("benchmark patterns are valid"));
        // quamina 0.7 lacks some operators (prefix/suffix with equals-ignore-case, ...): those
        // rule sets run on shoal alone
        if q.as_mut().is_some_and(|q| q.add_pattern(i, p).is_err()) {
            q = None;
        }
    }
    (s, q)
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: then only a quick check that the
    // two matchers agree, on a few events
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("CITYLOTS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 213_068 });
    let mut rng = Rng(0x5eed_c17e_1075);
    let events: Vec<String> = (0..n).map(|_| record(&mut rng)).collect();
    let bytes: usize = events.iter().map(String::len).sum();
    println!(
        "{n} generated citylots2-layout events, {} bytes on average\n",
        bytes / n.max(1)
    );
    println!(
        "{:<27} {:>12} {:>12} {:>7}  counts",
        "rule set (5 rules)", "shoal ev/s", "quamina ev/s", "ratio"
    );
    let mut disagreements = 0;
    let only = std::env::var("CITYLOTS_ONLY").ok();
    for (name, pats) in rule_sets() {
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        let (s, q) = build(&pats);
        let (cs, ts) = run_shoal(&s, &events, pats.len());
        let Some(q) = q else {
            println!(
                "{name:<27} {:>12.0} {:>12} {:>7}  {cs:?} (quamina 0.7 cannot express these patterns)",
                n as f64 / ts,
                "-",
                "-"
            );
            continue;
        };
        let (cq, tq) = run_quamina(&q, &events, pats.len());
        let agree = cs == cq;
        if !agree {
            disagreements += 1;
        }
        println!(
            "{name:<27} {:>12.0} {:>12.0} {:>6.2}x  {} {cs:?}",
            n as f64 / ts,
            n as f64 / tq,
            tq / ts,
            if agree { "agree" } else { "DIFFER" },
        );
        if !agree {
            println!("    quamina {cq:?}");
        }
    }
    // the cost per event as rules grow: exact rules on MAPBLKLOT (not when one set was asked for)
    if only.is_none() {
        println!("\nper-event cost as exact rules grow (MAPBLKLOT; best of 3 runs):");
    }
    let sample = &events[..events.len().min(50_000)];
    let mut base = 0.0;
    let sizes: &[usize] = if only.is_some() {
        &[]
    } else if quick {
        &[10, 100]
    } else {
        &[10, 100, 1_000, 10_000]
    };
    for &rules in sizes {
        let mut r = Rng(42);
        let pats: Vec<String> = (0..rules)
            .map(|i| {
                let v = if i < 3 {
                    ["2607117", "3745012", "2607218"][i].to_string()
                } else {
                    format!("{:04}{:03}", r.below(8000), r.below(300))
                };
                format!("{{\"properties\":{{\"MAPBLKLOT\":[\"{v}\"]}}}}")
            })
            .collect();
        let (s, q) = build(&pats);
        // the best of three runs: the host is shared, and the question is the matcher's cost
        let runs: Vec<(Vec<u64>, f64)> = (0..3).map(|_| run_shoal(&s, sample, rules)).collect();
        let cs = runs[0].0.clone();
        let ts = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        let ns = ts * 1e9 / sample.len() as f64;
        if rules == 10 {
            base = ns;
        }
        let peer = match q {
            None => "quamina refused a pattern at this size".to_string(),
            Some(q) => {
                let runs: Vec<(Vec<u64>, f64)> =
                    (0..3).map(|_| run_quamina(&q, sample, rules)).collect();
                let cq = runs[0].0.clone();
                let tq = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
                if cs != cq {
                    disagreements += 1;
                }
                format!(
                    "quamina {:>7.0} ns/event, counts {}",
                    tq * 1e9 / sample.len() as f64,
                    if cs == cq { "agree" } else { "DIFFER" }
                )
            }
        };
        println!(
            "  {rules:>6} rules: shoal {ns:>7.0} ns/event ({:.2}x the 10-rule cost), {peer}",
            ns / base
        );
    }
    if disagreements > 0 {
        eprintln!("\n{disagreements} rule set(s) where shoal and quamina disagree");
        std::process::exit(1);
    }
}
