#!/usr/bin/env bash
# Side-by-side EventBridge benchmark: shoal (release build), moto and, when installed,
# fakecloud, in one run, with the shared harness ../shared/bench/events_bench.py
# (TestEventPattern calls/s, PutEvents events/s with 101 rules, PutEvents -> state machine
# delivery latency).
#
#   bench/events-peers.sh [PEER...]     # peers: shoal moto fakecloud (default: all available)
#
# shoal runs with --allow-aws-sources: the harness puts `aws.glue` events as a client, which
# AWS (and shoal by default) refuses.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=("$@")
. bench/harness.sh
if [ ${#peers[@]} -eq 0 ]; then
  peers=(shoal moto)
  [ -z "$fakecloud" ] || peers+=(fakecloud)
fi
data=$(mktemp -d)
out=$(mktemp --suffix=.jsonl)
cleanup() {
  rm -rf "$data" "$out"
  (cd "$b" && for p in "custom 4611" "moto 5056" "custom 4621"; do ./peers.sh stop $p || true; done) >/dev/null 2>&1
}
trap cleanup EXIT
args=(--n-tests 1000 --n-batches 200 --samples 50)
for p in "${peers[@]}"; do
  case $p in
    shoal)
      (cd "$b" && PEER_CMD="$shoal serve --allow-aws-sources --listen 127.0.0.1:{PORT} --data $data" ./peers.sh start custom 4611)
      (cd "$b" && .venv/bin/python events_bench.py --endpoint http://127.0.0.1:4611 "${args[@]}" --pid-file run/custom-4611.pid --label shoal --json "$out")
      (cd "$b" && ./peers.sh stop custom 4611) ;;
    moto)
      (cd "$b" && ./peers.sh start moto 5056)
      (cd "$b" && .venv/bin/python events_bench.py --endpoint http://127.0.0.1:5056 "${args[@]}" --pid-file run/moto-5056.pid --label moto --json "$out")
      (cd "$b" && ./peers.sh stop moto 5056) ;;
    fakecloud)
      [ -n "$fakecloud" ] || { echo "fakecloud not installed (cargo install fakecloud --root /tmp/fakecloud)" >&2; exit 1; }
      (cd "$b" && PEER_CMD="$fakecloud --addr 127.0.0.1:{PORT}" ./peers.sh start custom 4621)
      (cd "$b" && .venv/bin/python events_bench.py --endpoint http://127.0.0.1:4621 "${args[@]}" --pid-file run/custom-4621.pid --label fakecloud --json "$out")
      (cd "$b" && ./peers.sh stop custom 4621) ;;
    *) echo "unknown peer $p (shoal, moto, fakecloud)" >&2; exit 2 ;;
  esac
done
(cd "$b" && .venv/bin/python summarize.py "$out")
