#!/usr/bin/env python3
"""Server-side latency of starting executions, with a raw HTTP client (stdlib only) so that the
figures are the server's and not boto3's.

    python3 bench/server-latency.py --endpoint http://127.0.0.1:4566 [--n 1000] [--gap 0.003]
        [--pid PID] [--pad N] [--lists N]

Against any endpoint that speaks Step Functions and EventBridge (shoal started with
--allow-aws-sources, fakecloud, ...). It creates a Pass state machine, a bus and a rule whose
target is the machine, then times, one request at a time:

  start    StartExecution of the machine (a generated name);
  put      PutEvents of one matching event, which starts the machine;
  list     ListExecutions of a machine with 100 executions, each right after a StartExecution
           of another machine (the commit empties a reader's page cache, as the harness's
           PutEvents does before its listing); only the listing is timed;
  sample   the three calls of a delivery sample in ../shared/bench/events_bench.py: that
           PutEvents, a ListExecutions of the machine (which grows to 50 executions, as in
           the harness; a new machine every 50) and a DescribeExecution of the new one, each
           timed on its own, one after the other with no gap.

`--pad N` adds N bytes to each event's detail and execution's input (the harness's events carry
about 250 bytes of detail; a commit writes each execution's input several times over).
`--gap` sleeps between requests, as a client that polls in between does (an idle server's
threads sleep, and waking them is part of the latency); 0 sends them back to back. With
`--pid`, the server's CPU per request is printed too (Linux /proc).
"""

import argparse
import http.client
import json
import os
import time
import urllib.parse
import uuid

AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"


class Client:
    def __init__(self, endpoint):
        u = urllib.parse.urlparse(endpoint)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80)

    def call(self, target, body, version="1.0", service="states"):
        headers = {
            "X-Amz-Target": target,
            "Content-Type": f"application/x-amz-json-{version}",
            "Authorization": AUTH.format(service),
        }
        self.conn.request("POST", "/", body=json.dumps(body), headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{target}: HTTP {r.status}: {data[:300]!r}")
        return json.loads(data or b"{}")

    def sfn(self, action, body):
        return self.call(f"AWSStepFunctions.{action}", body)

    def events(self, action, body):
        return self.call(f"AWSEvents.{action}", body, "1.1", "events")


def cpu_ticks(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def timed(n, gap, pid, request):
    times = []
    before = cpu_ticks(pid)
    for i in range(n):
        t = time.perf_counter()
        request(i)
        times.append(time.perf_counter() - t)
        if gap:
            time.sleep(gap)
    after = cpu_ticks(pid)
    times.sort()
    pct = lambda q: times[min(n - 1, int(n * q / 100))] * 1e3  # noqa: E731
    line = f"p50 {pct(50):.3f} ms  p90 {pct(90):.3f}  p99 {pct(99):.3f}  max {times[-1] * 1e3:.2f}"
    # the tail a single slow commit makes (a checkpoint holding commits back, say)
    line += f"  over 2 ms {sum(t > 0.002 for t in times)}"
    if before is not None:
        ms_per_tick = 1000 / os.sysconf("SC_CLK_TCK")
        line += f"  server CPU {(after - before) * ms_per_tick / n:.3f} ms/request"
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--n", type=int, default=1000, help="requests of each kind")
    ap.add_argument("--gap", type=float, default=0.003, help="seconds between requests")
    ap.add_argument("--samples", type=int, default=500, help="delivery samples (see sample; 0 skips the phase)")
    ap.add_argument("--pid", type=int, help="the server's pid, for its CPU per request")
    ap.add_argument("--pad", type=int, default=0, help="bytes added to each event and input")
    ap.add_argument("--lists", type=int, default=300, help="listings of 100 (see list; 0 skips)")
    a = ap.parse_args()
    c = Client(a.endpoint)
    tag = uuid.uuid4().hex[:8]
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    machine = c.sfn("CreateStateMachine", {
        "name": f"latency-{tag}", "definition": json.dumps(definition),
        "roleArn": "arn:aws:iam::123456789012:role/bench"})["stateMachineArn"]
    bus = f"latency-{tag}"
    c.events("CreateEventBus", {"Name": bus})
    c.events("PutRule", {"Name": "r", "EventBusName": bus,
                         "EventPattern": json.dumps({"source": ["bench.latency"]})})
    account = machine.split(":")[4]
    c.events("PutTargets", {"Rule": "r", "EventBusName": bus, "Targets": [
        {"Id": "sfn", "Arn": machine, "RoleArn": f"arn:aws:iam::{account}:role/bench"}]})

    def body(i):
        return {"seq": i, "pad": "x" * a.pad} if a.pad else {"seq": i}

    def start(i):
        c.sfn("StartExecution", {"stateMachineArn": machine, "input": json.dumps(body(i))})

    def put(i):
        r = c.events("PutEvents", {"Entries": [{
            "Source": "bench.latency", "DetailType": "tick", "EventBusName": bus,
            "Detail": json.dumps(body(i))}]})
        if r.get("FailedEntryCount"):
            raise SystemExit(f"PutEvents failed: {r}")

    def listings(n):
        """Times `n` ListExecutions of 100 executions, each after another machine's commit."""
        listed = c.sfn("CreateStateMachine", {
            "name": f"listed-{tag}", "definition": json.dumps(definition),
            "roleArn": "arn:aws:iam::123456789012:role/bench"})["stateMachineArn"]
        for i in range(100):
            c.sfn("StartExecution", {"stateMachineArn": listed, "input": json.dumps(body(i))})
        times = []
        before = cpu_ticks(a.pid)
        for i in range(n):
            start(i)
            t = time.perf_counter()
            got = c.sfn("ListExecutions", {"stateMachineArn": listed})["executions"]
            times.append(time.perf_counter() - t)
            if len(got) != 100:
                raise SystemExit(f"ListExecutions listed {len(got)} executions, not 100")
            if a.gap:
                time.sleep(a.gap)
        after = cpu_ticks(a.pid)
        times.sort()
        line = f"p50 {times[n // 2] * 1e3:.3f} ms  p99 {times[min(n - 1, n * 99 // 100)] * 1e3:.3f}"
        if before is not None:
            line += f"  server CPU {(after - before) * 1000 / os.sysconf('SC_CLK_TCK') / n:.3f} ms/(start + list)"
        return line

    def sample_calls(n):
        """Times each call of `n` delivery samples; returns their times by call, in seconds."""
        calls = {"put": [], "list": [], "describe": [], "sample": []}
        target = None
        for i in range(n):
            if i % 50 == 0:
                target = c.sfn("CreateStateMachine", {
                    "name": f"sample-{tag}-{i}", "definition": json.dumps(definition),
                    "roleArn": "arn:aws:iam::123456789012:role/bench"})["stateMachineArn"]
                c.events("PutTargets", {"Rule": "r", "EventBusName": bus, "Targets": [
                    {"Id": "sfn", "Arn": target,
                     "RoleArn": f"arn:aws:iam::{account}:role/bench"}]})
            t0 = time.perf_counter()
            put(i)
            t1 = time.perf_counter()
            listed = c.sfn("ListExecutions", {"stateMachineArn": target})["executions"]
            t2 = time.perf_counter()
            newest = max(listed, key=lambda e: e["startDate"])
            c.sfn("DescribeExecution", {"executionArn": newest["executionArn"]})
            t3 = time.perf_counter()
            for k, v in (("put", t1 - t0), ("list", t2 - t1), ("describe", t3 - t2),
                         ("sample", t3 - t0)):
                calls[k].append(v)
            if a.gap:
                time.sleep(a.gap)
        return calls

    print(f"{a.endpoint}, {a.n} requests each, {a.gap * 1e3:g} ms apart")
    print(f"start  {timed(a.n, a.gap, a.pid, start)}")
    print(f"put    {timed(a.n, a.gap, a.pid, put)}")
    listed = c.sfn("ListExecutions", {"stateMachineArn": machine, "maxResults": 1000})
    print(f"executions of the machine listed: {len(listed.get('executions', []))}")
    if a.lists > 0:
        print(f"list   {listings(a.lists)}")
    if a.samples <= 0:
        return
    before = cpu_ticks(a.pid)
    calls = sample_calls(a.samples)
    after = cpu_ticks(a.pid)
    line = "  ".join(
        f"{k} p50 {sorted(v)[len(v) // 2] * 1e3:.3f} p99 {sorted(v)[min(len(v) - 1, len(v) * 99 // 100)] * 1e3:.3f}"
        for k, v in calls.items())
    if before is not None:
        line += f"  server CPU {(after - before) * 1000 / os.sysconf('SC_CLK_TCK') / a.samples:.3f} ms/sample"
    print(f"sample ({a.samples}, ms)  {line}")


if __name__ == "__main__":
    main()
