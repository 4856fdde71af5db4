#!/usr/bin/env bash
# PutEvents -> state machine delivery latency, shoal and fakecloud side by side, sample by sample
# (bench/events-delivery.py: the shared harness's delivery loop, pooled over many runs).
#
#   bench/events-delivery.sh [BLOCKS] [SAMPLES]   # default 40 blocks of 50 samples
#
# Both servers run at once on loopback; without fakecloud (FAKECLOUD, PATH or
# /tmp/fakecloud/bin/fakecloud) shoal runs alone. $SHOAL compares another build.
set -euo pipefail
cd "$(dirname "$0")/.."
blocks=${1:-40}
samples=${2:-50}
. bench/harness.sh
data=$(mktemp -d)
cleanup() {
  rm -rf "$data"
  (cd "$b" && for p in 4612 4622; do ./peers.sh stop custom $p || true; done) >/dev/null 2>&1
}
trap cleanup EXIT
(cd "$b" && PEER_CMD="$shoal serve --allow-aws-sources --listen 127.0.0.1:{PORT} --data $data" ./peers.sh start custom 4612)
endpoints=(shoal=http://127.0.0.1:4612)
if [ -n "$fakecloud" ]; then
  (cd "$b" && PEER_CMD="$fakecloud --addr 127.0.0.1:{PORT}" ./peers.sh start custom 4622)
  endpoints+=(fakecloud=http://127.0.0.1:4622)
fi
"$b/.venv/bin/python" bench/events-delivery.py --blocks "$blocks" --samples "$samples" "${endpoints[@]}"
