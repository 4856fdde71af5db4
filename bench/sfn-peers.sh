#!/usr/bin/env bash
# Side-by-side Step Functions benchmark: shoal (release build) and moto, in one run, with the
# shared boto3 harness in ../shared/bench (sfn_bench.py: chain, seed and map workflows; server
# CPU ms per execution, executions/s, latency percentiles, cold start, RSS).
#
#   bench/sfn-peers.sh [N]        # N executions per workflow (default 200)
#
# Needs ../shared/bench/setup.sh to have built ../shared/bench/.venv (boto3 + moto server).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
root=$PWD
b=../shared/bench
[ -x "$b/.venv/bin/python" ] || { echo "run $b/setup.sh first (it builds $b/.venv)" >&2; exit 1; }
cargo build --release -p shoal
data=$(mktemp -d)
out=$(mktemp --suffix=.jsonl)
trap 'rm -rf "$data"; (cd "$b" && ./peers.sh stop custom 4610 || true; ./peers.sh stop moto 5055 || true) >/dev/null 2>&1' EXIT
(cd "$b" && PEER_CMD="$root/target/release/shoal serve --wait-scale 0 --listen 127.0.0.1:{PORT} --data $data" ./peers.sh start custom 4610)
(cd "$b" && .venv/bin/python sfn_bench.py --endpoint http://127.0.0.1:4610 --n "$n" --label shoal --json "$out")
(cd "$b" && ./peers.sh start moto 5055)
(cd "$b" && .venv/bin/python sfn_bench.py --endpoint http://127.0.0.1:5055 --n "$n" --label moto --json "$out")
(cd "$b" && .venv/bin/python summarize.py "$out")
