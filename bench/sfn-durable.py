#!/usr/bin/env python3
"""Durable throughput and memory of `shoal serve` (release build), with a stdlib-only client.

    python3 bench/sfn-durable.py [--executions 10000] [--states 50] [--threads 4]

Starts a fresh server on a temporary data folder, creates a chain of `--states` Pass states,
starts `--executions` executions from `--threads` client threads (plain HTTP keep-alive, no
SDK, so the client is not the bottleneck), waits until every one has SUCCEEDED and prints:
durable state transitions per second (every transition is in the committed history), executions
per second, server CPU per execution, cold start (polled every 0.5 ms), idle RSS and RSS after
the run, and the size of the data on disk (database and write-ahead log) after it.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/states/aws4_request, "
    "SignedHeaders=host, Signature=00"
)


def call(conn, target, body):
    conn.request(
        "POST",
        "/",
        json.dumps(body),
        {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AWSStepFunctions." + target,
            "Authorization": AUTH,
        },
    )
    r = conn.getresponse()
    data = json.loads(r.read() or b"{}")
    if r.status != 200:
        raise RuntimeError(f"{target}: HTTP {r.status} {data}")
    return data


def proc(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        # RSS less the mapped files (the binary's code, which the kernel can drop and share)
        "anon_mb": int(fields.get("RssAnon", "0 kB").split()[0]) / 1024,
        "cpu_s": (int(stat[11]) + int(stat[12])) / tick,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=10000)
    ap.add_argument("--states", type=int, default=50)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--port", type=int, default=4650)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/shoal"))
    a = ap.parse_args()
    if not os.access(a.binary, os.X_OK):
        sys.exit(f"{a.binary} is missing: run `cargo build --release -p shoal` first")
    data = tempfile.mkdtemp(prefix="shoal-durable-")
    t_fork = time.perf_counter()
    server = subprocess.Popen(
        [a.binary, "serve", "--listen", f"127.0.0.1:{a.port}", "--data", data],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        conn = None
        deadline = time.perf_counter() + 10
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
                call(conn, "ListStateMachines", {})
                break
            except OSError:
                if time.perf_counter() > deadline:
                    sys.exit("the server did not answer within 10 s")
                time.sleep(0.0005)
        cold_ms = (time.perf_counter() - t_fork) * 1000
        idle = proc(server.pid)
        states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(a.states - 1)}
        states[f"S{a.states - 1}"] = {"Type": "Pass", "End": True}
        definition = {"StartAt": "S0", "States": states}
        arn = call(
            conn,
            "CreateStateMachine",
            {
                "name": "durable",
                "definition": json.dumps(definition),
                "roleArn": "arn:aws:iam::123456789012:role/bench",
            },
        )["stateMachineArn"]
        before = proc(server.pid)
        t0 = time.perf_counter()
        counter = iter(range(a.executions))
        lock = threading.Lock()

        def starter():
            c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                call(c, "StartExecution", {"stateMachineArn": arn, "name": f"e{i}", "input": "{}"})

        threads = [threading.Thread(target=starter) for _ in range(a.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # every execution has ended once none is RUNNING
        while call(conn, "ListExecutions", {"stateMachineArn": arn, "statusFilter": "RUNNING", "maxResults": 1})["executions"]:
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        after = proc(server.pid)
        done = 0
        token = None
        while True:
            body = {"stateMachineArn": arn, "statusFilter": "SUCCEEDED", "maxResults": 1000}
            if token:
                body["nextToken"] = token
            page = call(conn, "ListExecutions", body)
            done += len(page["executions"])
            token = page.get("nextToken")
            if not token:
                break
        if done != a.executions:
            sys.exit(f"only {done} of {a.executions} executions SUCCEEDED")
        transitions = a.executions * a.states
        cpu = after["cpu_s"] - before["cpu_s"]
        print(f"executions            {a.executions} x {a.states} Pass states, {a.threads} client threads")
        print(f"wall                  {wall:.2f} s")
        print(f"durable transitions/s {transitions / wall:,.0f}")
        print(f"executions/s          {a.executions / wall:,.0f}")
        print(f"server CPU/execution  {cpu * 1000 / a.executions:.3f} ms")
        print(f"cold start            {cold_ms:.1f} ms (fork to the first ListStateMachines answer)")
        print(f"RSS idle / after      {idle['rss_mb']:.1f} / {after['rss_mb']:.1f} MB")
        print(f"  of it anonymous     {idle['anon_mb']:.1f} / {after['anon_mb']:.1f} MB")
        size = lambda f: os.path.getsize(os.path.join(data, f)) / 1e6 if os.path.exists(os.path.join(data, f)) else 0.0
        print(f"data on disk after    {size('shoal.db'):.1f} MB database + {size('shoal.db-wal'):.1f} MB log")
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", data], check=False)


if __name__ == "__main__":
    main()
