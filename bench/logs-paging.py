#!/usr/bin/env python3
"""What reading CloudWatch Logs costs the server as a log group grows, with a raw HTTP client
(stdlib only).

    python3 bench/logs-paging.py --endpoint http://127.0.0.1:4566 --pid PID [--events 200000]

Against any endpoint that speaks CloudWatch Logs. It creates a group with two streams and puts
`--events` events into each, 1,000 per PutLogEvents, then reports the server's CPU (Linux
/proc, hence `--pid`) for:

  forward    paging one stream from its head with GetLogEvents, 1,000 at a time;
  backward   paging it from its end with nextBackwardToken;
  filter     paging the whole group with FilterLogEvents, 1,000 at a time;
  tail       20 FilterLogEvents from a few events before the end (what `logs tail --follow`
             polls with);
  describe   20 DescribeLogStreams.

A read whose cost grows with what is stored rather than with its page shows here as a figure
that grows with the square of `--events`.
"""

import argparse
import http.client
import json
import time
import urllib.parse

AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=x"


class Client:
    def __init__(self, endpoint):
        u = urllib.parse.urlparse(endpoint)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80)

    def call(self, action, body):
        headers = {
            "X-Amz-Target": f"Logs_20140328.{action}",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": AUTH,
        }
        self.conn.request("POST", "/", json.dumps(body), headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{action}: HTTP {r.status}: {data[:300]!r}")
        return json.loads(data)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server's process id")
    ap.add_argument("--events", type=int, default=200_000, help="events per stream")
    a = ap.parse_args()
    c = Client(a.endpoint)
    group = f"/bench/paging-{int(time.time())}"
    c.call("CreateLogGroup", {"logGroupName": group})
    for s in ("a", "b"):
        c.call("CreateLogStream", {"logGroupName": group, "logStreamName": s})
    t0 = int(time.time() * 1000) - 3_600_000
    per = 1000
    cpu = cpu_s(a.pid)
    for k in range(a.events // per):
        for s in ("a", "b"):
            events = [{"timestamp": t0 + k * per + i, "message": f"{s} event {k * per + i} some text"} for i in range(per)]
            c.call("PutLogEvents", {"logGroupName": group, "logStreamName": s, "logEvents": events})
    print(f"put        {2 * a.events:>9,} events          {cpu_s(a.pid) - cpu:6.2f} s CPU")

    def pages(action, first, token_of):
        cpu, got, n, token = cpu_s(a.pid), 0, 0, None
        while True:
            body = dict(first, **({"nextToken": token} if token else {}))
            r = c.call(action, body)
            n += 1
            got += len(r["events"])
            token = token_of(r)
            if not token or not r["events"]:
                break
        return got, n, cpu_s(a.pid) - cpu

    stream = {"logGroupName": group, "logStreamName": "a", "limit": 1000}
    for name, first, key in [
        ("forward", dict(stream, startFromHead=True), "nextForwardToken"),
        ("backward", stream, "nextBackwardToken"),
        ("filter", {"logGroupName": group, "limit": 1000}, "nextToken"),
    ]:
        action = "FilterLogEvents" if name == "filter" else "GetLogEvents"
        got, n, used = pages(action, first, lambda r: r.get(key))
        print(f"{name:<10} {got:>9,} events, {n:>4} pages {used:6.2f} s CPU")
    cpu = cpu_s(a.pid)
    for _ in range(20):
        r = c.call("FilterLogEvents", {"logGroupName": group, "startTime": t0 + a.events - 5})
    print(f"tail       20 polls of {len(r['events'])} events    {cpu_s(a.pid) - cpu:6.2f} s CPU")
    cpu = cpu_s(a.pid)
    for _ in range(20):
        c.call("DescribeLogStreams", {"logGroupName": group})
    print(f"describe   20 calls                {cpu_s(a.pid) - cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
