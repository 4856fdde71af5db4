#!/usr/bin/env python3
"""S3 PUT/GET throughput of `shoal serve` (release build) against the disk's own `dd`.

    python3 bench/s3-throughput.py [--large-mib 64] [--large 4] [--small 2000] [--threads 4]
                                   [--moto PATH-TO-moto_server] [--fakecloud PATH-TO-fakecloud]

Starts a fresh server on a temporary data folder and, with plain HTTP keep-alive clients (no
SDK, so the client is not the bottleneck):
- PUTs and GETs `--large` objects of `--large-mib` MiB one at a time, and reports MiB/s beside
  `dd bs=1M conv=fsync` writing and reading the same amount in the same folder (PUT is durable
  before it answers, so the fair disk figure is a synced write);
- PUTs and GETs `--small` 4 KiB objects from `--threads` threads and reports objects/s.

With `--moto` (moto's server, in memory, not durable) and `--fakecloud` (fakecloud's server),
each peer runs the same requests afterwards, for side-by-side figures.
"""

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTH = ("AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=00")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(c, method, path, body=None):
    c.request(method, path, body=body, headers={"Authorization": AUTH})
    r = c.getresponse()
    n = 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status}")
    return n


def dd(folder, mib):
    path = os.path.join(folder, "dd.bin")
    t = time.perf_counter()
    subprocess.run(["dd", "if=/dev/urandom", f"of={path}.src", "bs=1M", f"count={mib}"], capture_output=True, check=True)
    t = time.perf_counter()
    subprocess.run(["dd", f"if={path}.src", f"of={path}", "bs=1M", "conv=fsync"], capture_output=True, check=True)
    write = mib / (time.perf_counter() - t)
    subprocess.run(["sync"])
    t = time.perf_counter()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=1M"], capture_output=True, check=True)
    read = mib / (time.perf_counter() - t)
    os.remove(path)
    os.remove(path + ".src")
    return write, read


def measure(port, a, label, dd_w=None, dd_r=None):
    """Runs the large and small object rounds against a server on `port`."""
    for _ in range(500):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port)
            request(c, "PUT", "/bench")
            break
        except (ConnectionRefusedError, OSError):
            time.sleep(0.02)
    body = os.urandom(a.large_mib << 20)
    put_t = get_t = 0.0
    for i in range(a.large):
        t = time.perf_counter()
        request(c, "PUT", f"/bench/large/{i}", body)
        put_t += time.perf_counter() - t
    for i in range(a.large):
        t = time.perf_counter()
        n = request(c, "GET", f"/bench/large/{i}")
        get_t += time.perf_counter() - t
        assert n == len(body)
    total = a.large * a.large_mib
    put_rate, get_rate = total / put_t, total / get_t
    small = os.urandom(4096)
    per = a.small // a.threads

    def run(fn):
        threads = [threading.Thread(target=fn, args=(n,)) for n in range(a.threads)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return per * a.threads / (time.perf_counter() - t)

    def putter(n):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(per):
            request(c, "PUT", f"/bench/small/{n}/{i}", small)

    def getter(n):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(per):
            request(c, "GET", f"/bench/small/{n}/{i}")

    small_put, small_get = run(putter), run(getter)
    vs = lambda x, d: f" ({x / d:.0%} of dd)" if d else ""
    print(f"{label}: {a.large_mib} MiB objects PUT {put_rate:.0f} MiB/s{vs(put_rate, dd_w)}, GET {get_rate:.0f} MiB/s{vs(get_rate, dd_r)}; "
          f"4 KiB objects ({a.threads} threads) PUT {small_put:.0f}/s, GET {small_get:.0f}/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large-mib", type=int, default=64)
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--moto", help="moto_server to compare with")
    ap.add_argument("--fakecloud", help="fakecloud to compare with")
    a = ap.parse_args()
    binary = os.environ.get("SHOAL_BIN", os.path.join(ROOT, "target", "release", "shoal"))
    data = tempfile.mkdtemp(prefix="shoal-s3-bench-", dir=os.environ.get("BENCH_DIR"))
    dd_w, dd_r = dd(data, a.large_mib)
    print(f"dd in the data folder: write (conv=fsync) {dd_w:.0f} MiB/s, read {dd_r:.0f} MiB/s")
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        measure(port, a, "shoal (durable)", dd_w, dd_r)
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run(["rm", "-rf", data])
    peers = []
    if a.moto:
        peers.append(("moto (in memory)", lambda port: [a.moto, "-p", str(port)]))
    if a.fakecloud:
        peers.append(("fakecloud", lambda port: [a.fakecloud, "--addr", f"127.0.0.1:{port}"]))
    for label, command in peers:
        port = free_port()
        proc = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            measure(port, a, label)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
