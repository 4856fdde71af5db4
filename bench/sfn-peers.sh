#!/usr/bin/env bash
# Side-by-side Step Functions benchmark: shoal (release build), moto and, when installed, fakecloud,
# in one run, with the shared boto3 harness (../shared/bench/sfn_bench.py: chain, seed and map
# workflows; server CPU ms per execution, executions/s, latency percentiles, cold start, RSS).
#
#   bench/sfn-peers.sh [N] [PEER...]   # N executions per workflow (default 200);
#                                      # peers: shoal moto fakecloud floor rawfloor
#                                      # (default: shoal, moto, fakecloud if installed)
#
# `floor` is bench/floor, an HTTP server on shoal's stack that answers the same calls and does
# nothing else: its server CPU per execution started is the cost of answering the harness's calls
# (a StartExecution and a DescribeExecution), below which no server of this kind goes. Its
# executions all count as wrong (nothing runs), so it is reported apart from the table.
# `rawfloor` is the same server with `--raw`: blocking threads and a bare HTTP/1.1 reader instead
# of tokio and hyper, about the least any server can spend on these calls.
#
# The harness is copied to target/bench-harness (../shared stays read-only) and its venv (boto3 +
# moto server) is built there on the first run. fakecloud is run when `fakecloud` is on PATH or
# FAKECLOUD points at its binary (`cargo install fakecloud --root /tmp/fakecloud`).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
shift || true
peers=("$@")
. bench/harness.sh
if [ ${#peers[@]} -eq 0 ]; then
  peers=(shoal moto)
  [ -z "$fakecloud" ] || peers+=(fakecloud)
fi
data=$(mktemp -d)
out=$(mktemp --suffix=.jsonl)
floor_out=$(mktemp --suffix=.jsonl)
cleanup() {
  rm -rf "$data" "$out" "$floor_out"
  (cd "$b" && for p in "custom 4610" "moto 5055" "custom 4620" "custom 4630"; do ./peers.sh stop $p || true; done) >/dev/null 2>&1
}
trap cleanup EXIT
bench() { (cd "$b" && .venv/bin/python sfn_bench.py --endpoint "http://127.0.0.1:$1" --n "$n" --label "$2" --json "${3:-$out}"); }
for p in "${peers[@]}"; do
  case $p in
    shoal)
      (cd "$b" && PEER_CMD="$shoal serve --wait-scale 0 --listen 127.0.0.1:{PORT} --data $data" ./peers.sh start custom 4610)
      bench 4610 shoal
      (cd "$b" && ./peers.sh stop custom 4610) ;;
    moto)
      (cd "$b" && ./peers.sh start moto 5055)
      bench 5055 moto
      (cd "$b" && ./peers.sh stop moto 5055) ;;
    fakecloud)
      [ -n "$fakecloud" ] || { echo "fakecloud not installed (cargo install fakecloud --root /tmp/fakecloud)" >&2; exit 1; }
      (cd "$b" && PEER_CMD="$fakecloud --addr 127.0.0.1:{PORT}" ./peers.sh start custom 4620)
      bench 4620 fakecloud
      (cd "$b" && ./peers.sh stop custom 4620) ;;
    floor)
      cargo build --release --manifest-path bench/floor/Cargo.toml --target-dir target/floor
      (cd "$b" && PEER_CMD="$root/target/floor/release/shoal-bench-floor 127.0.0.1:{PORT}" ./peers.sh start custom 4630)
      bench 4630 floor "$floor_out" > /dev/null
      (cd "$b" && ./peers.sh stop custom 4630) ;;
    rawfloor)
      cargo build --release --manifest-path bench/floor/Cargo.toml --target-dir target/floor
      (cd "$b" && PEER_CMD="$root/target/floor/release/shoal-bench-floor --raw 127.0.0.1:{PORT}" ./peers.sh start custom 4630)
      bench 4630 rawfloor "$floor_out" > /dev/null
      (cd "$b" && ./peers.sh stop custom 4630) ;;
    *) echo "unknown peer $p (shoal, moto, fakecloud, floor, rawfloor)" >&2; exit 2 ;;
  esac
done
[ ! -s "$out" ] || (cd "$b" && .venv/bin/python summarize.py "$out")
if [ -s "$floor_out" ]; then
  python3 - "$floor_out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    run = json.loads(line)
    for w in run["workflows"]:
        cpu, n = w.get("server_cpu_s"), w["n"]
        per = f"{cpu * 1000 / n:.3f}" if cpu is not None else "n/a"
        # /proc counts CPU time in 10 ms ticks
        print(f"{run.get('label', 'floor')} {w['workflow']:6} server CPU per execution started: {per} ms"
              f" ± {10 / n:.3f} (no work; {n} StartExecution + DescribeExecution pairs)")
PY
fi
