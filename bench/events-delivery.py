#!/usr/bin/env python3
"""PutEvents -> execution started, the shared harness's delivery loop, interleaved between servers.

    python bench/events-delivery.py NAME=URL [NAME=URL ...] [--blocks 40] [--samples 50]

Run with the harness's venv (boto3); bench/events-delivery.sh starts shoal and fakecloud and
runs it. Each server gets the harness's bus: the rule under test plus its 100 other rules. A
block is the harness's delivery phase: a fresh state machine as the rule's target, then
`--samples` samples, each one PutEvents of a matching event followed by ListExecutions (and
DescribeExecution of each new execution) every 5 ms until the event's execution shows. The
servers take turns sample by sample, in an order drawn at random for each sample, so a burst of
host load falls on all of them alike.

events_bench.py reports one run's p99 of 50 samples, which is its slowest sample: one host
hiccup decides it. Here the samples of all blocks are pooled, so the p99 is the 1%-slowest of
blocks x samples, and each block's slowest sample is also compared server against server, as
the harness would have reported it.

The client is Python: its garbage collector stops it now and then, for 2 ms (a young
generation) up to 75 ms (all of boto3's objects), at points fixed by the client's own
allocations, so a run's slowest samples often measure the client. Each sample's time in
collections is counted; the last columns give the percentiles with that time taken out, how
many samples a collection of 1 ms or more fell in, and how many samples were late: their
execution was not yet listed at the first ListExecutions, which costs the sample a 5 ms poll.
"""

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
import uuid

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "target", "bench-harness"))
try:
    import events_bench as eb  # the shared harness's rules and events, copied by harness.sh
    from benchlib import ROLE_ARN, client, pct
except ImportError as e:
    sys.exit(f"{e}: run bench/events-delivery.sh, which copies ../shared/bench to target/bench-harness")


class GcTime:
    """Seconds the client has spent in garbage collections (gc.callbacks)."""

    def __init__(self):
        self.total = 0.0
        self.began = 0.0
        gc.callbacks.append(self.note)

    def note(self, phase, _info):
        if phase == "start":
            self.began = time.perf_counter()
        else:
            self.total += time.perf_counter() - self.began


gc_time = GcTime()


class Server:
    """One endpoint with the harness's bus and rules, and the block's target state machine."""

    def __init__(self, name, url):
        self.name = name
        self.ev = client("events", url)
        self.sfn = client("stepfunctions", url)
        tag = uuid.uuid4().hex[:8]
        self.bus = f"bench-bus-{tag}"
        self.rule = f"glue-create-session-{tag}"
        self.ev.create_event_bus(Name=self.bus)
        self.ev.put_rule(Name=self.rule, EventBusName=self.bus,
                         EventPattern=json.dumps(eb.GLUE_PATTERN), State="ENABLED")
        for k in range(100):
            self.ev.put_rule(Name=f"other-{k}-{tag}", EventBusName=self.bus,
                             EventPattern=json.dumps(eb.other_pattern(k)), State="ENABLED")
        # the harness's put phase runs before delivery: events have flowed on the bus
        self.ev.put_events(Entries=[eb.entry(self.bus, k % 2 == 0, k) for k in range(10)])
        self.samples = []
        self.block_max = []
        self.late = []  # samples whose execution the first ListExecutions did not show
        self.net = []  # samples less the client's collections during them
        self.collected = 0  # samples with 1 ms or more of collections

    def new_block(self):
        """A fresh target state machine, as the harness creates one per run."""
        self.machine = self.sfn.create_state_machine(
            name=f"bench-target-{uuid.uuid4().hex[:8]}",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]
        role = f"arn:aws:iam::{self.machine.split(':')[4]}:role/bench-role"
        r = self.ev.put_targets(Rule=self.rule, EventBusName=self.bus,
                                Targets=[{"Id": "sfn", "Arn": self.machine, "RoleArn": role}])
        if r.get("FailedEntryCount"):
            sys.exit(f"{self.name}: put_targets failed: {r['FailedEntries']}")
        self.seen = set()
        self.block = []
        self.block_tag = uuid.uuid4().hex[:8]

    def sample(self, s, timeout):
        """One harness sample: seconds from sending the event to seeing its execution."""
        gc0 = gc_time.total
        t0 = time.perf_counter()
        self.ev.put_events(Entries=[eb.entry(self.bus, True, s, self.block_tag)])
        polls = 0
        while time.perf_counter() - t0 < timeout:
            polls += 1
            for e in self.sfn.list_executions(stateMachineArn=self.machine).get("executions", []):
                if e["executionArn"] in self.seen:
                    continue
                self.seen.add(e["executionArn"])
                d = self.sfn.describe_execution(executionArn=e["executionArn"])
                try:
                    det = json.loads(d.get("input") or "{}").get("detail", {})
                except ValueError:
                    det = {}
                if det.get("benchTag") == self.block_tag and det.get("benchSeq") == s:
                    dt = time.perf_counter() - t0
                    self.block.append(dt)
                    self.samples.append(dt)
                    in_gc = gc_time.total - gc0
                    self.net.append(dt - in_gc)
                    self.collected += in_gc >= 0.001
                    if polls > 1:
                        self.late.append(dt)
                    return
            time.sleep(0.005)
        sys.exit(f"{self.name}: sample {s} not delivered within {timeout} s")

    def end_block(self):
        self.block_max.append(max(self.block))


def ms(x):
    return f"{x * 1000:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("endpoints", nargs="+", metavar="NAME=URL")
    ap.add_argument("--blocks", type=int, default=40, help="harness runs to imitate")
    ap.add_argument("--samples", type=int, default=50, help="samples per block (the harness: 50)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for one delivery")
    a = ap.parse_args()
    servers = []
    for spec in a.endpoints:
        name, sep, url = spec.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            sys.exit(f"endpoint {spec!r}: expected NAME=URL, the URL starting with http:// or https://")
        servers.append(Server(name, url))
    for b in range(a.blocks):
        for srv in servers:
            srv.new_block()
        for s in range(a.samples):
            for srv in random.sample(servers, len(servers)):
                srv.sample(s, a.timeout)
        for srv in servers:
            srv.end_block()
        print(f"# block {b + 1}/{a.blocks}: slowest " +
              ", ".join(f"{srv.name} {ms(srv.block_max[-1])}" for srv in servers), flush=True)

    n = a.blocks * a.samples
    print(f"\n{n} samples per server ({a.blocks} blocks of {a.samples}), ms, client clock")
    print(f"{'server':<10} {'p50':>6} {'p90':>6} {'p99':>6} {'p99.9':>6} {'mean':>6}  "
          f"{'block max median':>16} {'lowest in':>10}  "
          f"{'without GC: p50':>15} {'p99':>6} {'p99.9':>6} {'GC hit':>6}  late")
    for srv in servers:
        wins = sum(
            1 for i, m in enumerate(srv.block_max)
            if all(m < o.block_max[i] for o in servers if o is not srv)
        )
        print(f"{srv.name:<10} {ms(pct(srv.samples, 50)):>6} {ms(pct(srv.samples, 90)):>6} "
              f"{ms(pct(srv.samples, 99)):>6} {ms(pct(srv.samples, 99.9)):>6} "
              f"{ms(statistics.mean(srv.samples)):>6}  {ms(statistics.median(srv.block_max)):>16} "
              f"{(f'{wins} of {a.blocks}' if len(servers) > 1 else '-'):>10}  {ms(pct(srv.net, 50)):>15} {ms(pct(srv.net, 99)):>6} "
              f"{ms(pct(srv.net, 99.9)):>6} {srv.collected:>6}  {len(srv.late)}")


if __name__ == "__main__":
    main()
