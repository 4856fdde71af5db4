#!/usr/bin/env bash
# Instructions per state transition for the ASL benchmark workloads, counted by callgrind:
# repeatable on a shared, noisy machine (wall-clock figures come from
# `cargo bench -p asl --bench transitions`). Needs valgrind (apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example transitions -p asl >/dev/null 2>&1
bin=target/release/examples/transitions
printf '%-12s %-9s %14s %10s\n' workload mode instructions per-transition
for w in pass_chain choice_loop map map_context; do
  case $w in pass_chain) n=200;; choice_loop) n=20;; map) n=2;; map_context) n=2;; esac
  for m in jsonpath jsonata; do
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$w" "$m" "$n" 2>&1)
    ins=$(echo "$out" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    tr=$(echo "$out" | sed -n 's/^\([0-9]*\) transitions$/\1/p')
    printf '%-12s %-9s %14s %10s\n' "$w" "$m" "$ins" "$((ins / tr))"
  done
done
