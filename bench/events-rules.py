#!/usr/bin/env python3
"""What a bus's rule count costs its changes and its events, with a raw HTTP client (stdlib).

    python3 bench/events-rules.py --endpoint http://127.0.0.1:4566 [--rules 3000] [--every 500]

Against any endpoint that speaks EventBridge (shoal, fakecloud, ...). It creates a bus, puts
one event on it (so its rules are in use), then creates `--rules` rules one after the other,
each with its own pattern. Every `--every` rules it prints the mean PutRule time of the last
band; then, after a pause that lets any compile under way end, it times a PutEvents sent right
after one more PutRule (the first event after a change: on a big bus it waits for the bus's
rules to be compiled again) and ten more PutEvents after it, back to back.
"""

import argparse
import importlib.util
import json
import os
import time
import uuid

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("server_latency", os.path.join(here, "server-latency.py"))
server_latency = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server_latency)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--rules", type=int, default=3000, help="rules to create on the bus")
    ap.add_argument("--every", type=int, default=500, help="rules per printed band")
    a = ap.parse_args()
    c = server_latency.Client(a.endpoint)
    bus = f"rules-{uuid.uuid4().hex[:8]}"
    c.events("CreateEventBus", {"Name": bus})

    def rule(k):
        c.events("PutRule", {"Name": f"r{k}", "EventBusName": bus, "EventPattern": json.dumps(
            {"source": [f"bench.{k}"], "detail": {"n": [{"numeric": [">", k]}]}})})

    def put():
        t = time.perf_counter()
        r = c.events("PutEvents", {"Entries": [{
            "Source": "bench.0", "DetailType": "tick", "EventBusName": bus, "Detail": '{"n": 1}'}]})
        if r.get("FailedEntryCount"):
            raise SystemExit(f"PutEvents failed: {r}")
        return (time.perf_counter() - t) * 1e3

    rule(0)
    put()
    print(f"{a.endpoint}: {a.rules} rules on one bus that events reach")
    made, band = 1, time.perf_counter()
    while made < a.rules:
        rule(made)
        made += 1
        if made % a.every == 0:
            mean = (time.perf_counter() - band) / a.every * 1e3
            time.sleep(0.5)
            rule(made)
            made += 1
            first = put()
            then = sorted(put() for _ in range(10))
            print(f"{made:6} rules  PutRule {mean:7.3f} ms  PutEvents after a change {first:7.3f} ms,"
                  f" then median {then[5]:.3f} ms")
            band = time.perf_counter()


if __name__ == "__main__":
    main()
