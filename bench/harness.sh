# Sourced by bench/sfn-peers.sh and bench/events-peers.sh: copies the shared boto3 harness to
# target/bench-harness (../shared stays read-only), builds its venv (boto3 + moto server) on the
# first run, finds fakecloud, and builds shoal. Sets: root, b (the harness copy), fakecloud,
# shoal (the binary: target/release/shoal, or $SHOAL to compare another build, which is then
# not rebuilt).
root=$PWD
src=../shared/bench
[ -f "$src/sfn_bench.py" ] || { echo "missing $src: check out ../shared beside the repository" >&2; exit 1; }
b=$root/target/bench-harness
mkdir -p "$b"
cp "$src"/*.py "$src"/*.sh "$src"/*.txt "$b"/
chmod u+w "$b"/*
[ -x "$b/.venv/bin/moto_server" ] || (cd "$b" && ./setup.sh moto)
fakecloud=${FAKECLOUD:-$(command -v fakecloud || true)}
[ -n "$fakecloud" ] || [ ! -x /tmp/fakecloud/bin/fakecloud ] || fakecloud=/tmp/fakecloud/bin/fakecloud
shoal=${SHOAL:-$root/target/release/shoal}
[ -n "${SHOAL:-}" ] || cargo build --release -p shoal
[ -x "$shoal" ] || { echo "no shoal binary at $shoal" >&2; exit 1; }
