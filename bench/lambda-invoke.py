#!/usr/bin/env python3
"""Warm Lambda invoke latency and throughput of `shoal serve` (release build), and SNS publish →
SQS delivery rate, with a stdlib-only client.

    python3 bench/lambda-invoke.py [--invokes 2000] [--threads 4] [--messages 2000]

Creates a Python function that returns its event, warms it, then invokes it `--invokes` times
from `--threads` threads (each thread keeps its own warm worker) and prints p50/p99 latency and
invocations/s. Then publishes `--messages` SNS messages to a topic with one SQS subscription and
reports how fast they arrive in the queue.
"""

import argparse
import base64
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def auth(service):
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(c, method, path, body=None, service="lambda", headers=None):
    h = auth(service)
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]}")
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--invokes", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--messages", type=int, default=2000)
    a = ap.parse_args()
    binary = os.environ.get("SHOAL_BIN", os.path.join(ROOT, "target", "release", "shoal"))
    data = tempfile.mkdtemp(prefix="shoal-lambda-bench-")
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", data, "--lambda-python", sys.executable],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port)
                call(c, "GET", "/2015-03-31/functions/")
                break
            except OSError:
                time.sleep(0.01)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("app.py", "def handler(event, context):\n    return event\n")
        call(c, "POST", "/2015-03-31/functions", json.dumps({
            "FunctionName": "echo", "Runtime": "python3.12", "Handler": "app.handler", "Role": "r",
            "Code": {"ZipFile": base64.b64encode(buf.getvalue()).decode()}}))
        per = a.invokes // a.threads
        lat = []
        lock = threading.Lock()

        def invoker(n):
            c = http.client.HTTPConnection("127.0.0.1", port)
            call(c, "POST", "/2015-03-31/functions/echo/invocations", b'{"warm": true}')
            mine = []
            barrier.wait()
            for i in range(per):
                t = time.perf_counter()
                out = call(c, "POST", "/2015-03-31/functions/echo/invocations", json.dumps({"i": i}).encode())
                mine.append(time.perf_counter() - t)
                assert json.loads(out) == {"i": i}
            with lock:
                lat.extend(mine)

        barrier = threading.Barrier(a.threads + 1)
        threads = [threading.Thread(target=invoker, args=(n,)) for n in range(a.threads)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        print(f"warm invoke, {a.threads} threads: p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, {len(lat) / elapsed:.0f} invocations/s")

        # SNS publish -> SQS
        form = lambda d: urllib.parse.urlencode(d).encode()
        hdr = {"Content-Type": "application/x-www-form-urlencoded"}
        out = call(c, "POST", "/", form({"Action": "CreateTopic", "Name": "t"}), "sns", hdr).decode()
        topic = out.split("<TopicArn>")[1].split("</TopicArn>")[0]
        q = json.loads(call(c, "POST", "/", json.dumps({"QueueName": "q"}).encode(), "sqs",
                            {"X-Amz-Target": "AmazonSQS.CreateQueue", "Content-Type": "application/x-amz-json-1.0"}))["QueueUrl"]
        call(c, "POST", "/", form({"Action": "Subscribe", "TopicArn": topic, "Protocol": "sqs",
                                   "Endpoint": "arn:aws:sqs:us-east-1:123456789012:q"}), "sns", hdr)
        t0 = time.perf_counter()
        for i in range(a.messages):
            call(c, "POST", "/", form({"Action": "Publish", "TopicArn": topic, "Message": f"m{i}"}), "sns", hdr)
        published = time.perf_counter() - t0
        got = 0
        while got < a.messages and time.perf_counter() - t0 < 120:
            r = json.loads(call(c, "POST", "/", json.dumps({"QueueUrl": q, "MaxNumberOfMessages": 10}).encode(), "sqs",
                                {"X-Amz-Target": "AmazonSQS.ReceiveMessage", "Content-Type": "application/x-amz-json-1.0"}))
            msgs = r.get("Messages", [])
            got += len(msgs)
            if msgs:
                call(c, "POST", "/", json.dumps({"QueueUrl": q, "Entries": [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]}).encode(), "sqs",
                     {"X-Amz-Target": "AmazonSQS.DeleteMessageBatch", "Content-Type": "application/x-amz-json-1.0"})
        total = time.perf_counter() - t0
        print(f"SNS publish → SQS: {a.messages} published in {published:.2f} s ({a.messages / published:.0f}/s, one client), "
              f"all {got} received after {total:.2f} s ({got / total:.0f} messages/s end to end)")
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    sys.exit(main())
