#!/usr/bin/env bash
# Side-by-side Step Functions benchmark: shoal (release build), moto and, when installed, fakecloud,
# in one run, with the shared boto3 harness (../shared/bench/sfn_bench.py: chain, seed and map
# workflows; server CPU ms per execution, executions/s, latency percentiles, cold start, RSS).
#
#   bench/sfn-peers.sh [N] [PEER...]   # N executions per workflow (default 200);
#                                      # peers: shoal moto fakecloud (default: all available)
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
cleanup() {
  rm -rf "$data"
  (cd "$b" && for p in "custom 4610" "moto 5055" "custom 4620"; do ./peers.sh stop $p || true; done) >/dev/null 2>&1
}
trap cleanup EXIT
bench() { (cd "$b" && .venv/bin/python sfn_bench.py --endpoint "http://127.0.0.1:$1" --n "$n" --label "$2" --json "$out"); }
for p in "${peers[@]}"; do
  case $p in
    shoal)
      (cd "$b" && PEER_CMD="$root/target/release/shoal serve --wait-scale 0 --listen 127.0.0.1:{PORT} --data $data" ./peers.sh start custom 4610)
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
    *) echo "unknown peer $p (shoal, moto, fakecloud)" >&2; exit 2 ;;
  esac
done
(cd "$b" && .venv/bin/python summarize.py "$out")
