"""Fixtures for the end-to-end suite: the real `shoal serve` binary on loopback, boto3 clients,
local HTTP servers. SHOAL_BIN names the binary (default: target/debug/shoal)."""

import datetime
import http.server
import json
import os
import sys
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SHOAL_BIN", os.path.join(ROOT, "target", "debug", "shoal"))
ROLE = "arn:aws:iam::123456789012:role/shoal-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


class Server:
    """One `shoal serve` process; restartable on the same data folder."""

    def __init__(self, data, extra=(), env=None):
        if not os.path.exists(BIN):
            raise RuntimeError(f"{BIN} is missing: build it with `cargo build -p shoal` first")
        self.data = data
        self.extra = list(extra)
        self.env = env
        self.port = free_port()
        self.proc = None
        self.log = open(os.path.join(data, "server.log"), "ab")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        cmd = [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data] + self.extra
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env)
        wait_port(self.port, self.proc)
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def output(self):
        """What the server has printed (stdout and stderr), over all its starts."""
        with open(os.path.join(self.data, "server.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self, region="us-east-1", service="stepfunctions"):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            # StartSyncExecution goes to host "sync-<endpoint>" unless this is off
            config=Config(inject_host_prefix=False, retries={"max_attempts": 1}, read_timeout=70),
        )


def aws_cli(server, *args, region="us-east-1", check=True, input=None):
    """Runs the AWS CLI (from the test venv) against `server`; returns the finished process."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_DEFAULT_REGION=region)
    aws = [os.path.join(os.path.dirname(sys.executable), "aws"), "--endpoint-url", server.url]
    out = subprocess.run(aws + list(args), env=env, capture_output=True, text=True, input=input)
    if check and out.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return out


@pytest.fixture
def make_server():
    made = []

    def make(*extra, env=None):
        d = tempfile.mkdtemp(prefix="shoal-e2e-")
        s = Server(d, extra, env).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
        shutil.rmtree(s.data, ignore_errors=True)


@pytest.fixture
def server(make_server):
    return make_server("--wait-scale", "0.01")


@pytest.fixture
def sfn(server):
    return server.client()


def machine(sfn, name, definition, kind="STANDARD", **kw):
    return sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE, type=kind, **kw
    )["stateMachineArn"]


def wait_done(sfn, arn, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.02)
    raise AssertionError(f"{arn} still running after {timeout}s")


def virtual_now(server):
    """The server's virtual schedule clock, from `shoal clock`, as an aware UTC datetime."""
    r = subprocess.run([BIN, "clock", "--endpoint", server.url], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "(virtual)" in r.stdout, r.stdout + r.stderr
    stamp = r.stdout.split(" ")[0].strip().replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(stamp).astimezone(datetime.timezone.utc)


def next_0700_utc(server):
    """The virtual clock's time and the next 07:00 UTC on it, in epoch seconds: the next day's
    when 07:00 is less than two minutes off, since the schedule tests stop a minute before it."""
    t = virtual_now(server).timestamp()
    next7 = (t // 86400) * 86400 + 7 * 3600
    if next7 - t < 120:
        next7 += 86400
    return t, next7


def history(sfn, arn):
    events, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **kw)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with JSON and remembers it; `fail` maps paths to statuses, `hold`
    paths to events their answers wait for; `broken` fails everything under /broken."""

    def _answer(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        if len(raw) < n:
            # the sender went away mid-request (a server killed with -9): no request arrived
            self.close_connection = True
            return
        body = raw.decode()
        srv = self.server
        with srv.lock:
            srv.requests.append((self.command, self.path, body))
            srv.times.append(time.time())
            srv.headers.append({k.lower(): v for k, v in self.headers.items()})
            status = srv.fail.get(self.path.split("?")[0], 200)
            # paths under /flaky fail the first time they are asked for: retries succeed
            if self.path.startswith("/flaky") and self.path not in srv.seen:
                status = 503
            # paths under /broken fail while the test says the target is broken
            if self.path.startswith("/broken") and srv.broken:
                status = 500
            srv.seen.add(self.path)
            held = srv.hold.get(self.path.split("?")[0])
        if held is not None:
            # paths in `hold` answer once the test sets their event
            held.wait(30)
        out = {"path": self.path, "method": self.command, "got": body}
        if self.path.startswith("/oauth"):
            # an OAuth token endpoint for client-credentials connections
            out = {"access_token": "token-for-" + self.headers.get("authorization", ""), "token_type": "Bearer", "expires_in": 3600}
        out = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *a):
        pass


class TargetServer(http.server.ThreadingHTTPServer):
    # the default backlog (5) resets connections when 200 executions call at once
    request_queue_size = 256
    daemon_threads = True


@pytest.fixture
def http_target():
    srv = TargetServer(("127.0.0.1", 0), Recorder)
    srv.lock = threading.Lock()
    srv.requests = []
    srv.times = []
    srv.headers = []
    srv.fail = {}
    srv.hold = {}
    srv.seen = set()
    srv.broken = False
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()


def raw_post(url, target, body, content_type="application/x-amz-json-1.0"):
    req = urllib.request.Request(url, data=body, method="POST")
    if target:
        req.add_header("X-Amz-Target", target)
    req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture
def moto():
    """moto's server (from PyPI) as the local AWS-compatible service `aws-sdk:*` tasks call."""
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    p = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p, timeout=60)
    yield f"http://127.0.0.1:{port}"
    p.terminate()
    p.wait(10)


class Inbox:
    """Mail an SMTP server received, by recipient."""

    def __init__(self):
        self.messages = []
        self.refuse = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 try again later"
        import email
        m = email.message_from_bytes(envelope.content)
        body = m.get_payload(decode=True).decode() if not m.is_multipart() else m.get_payload(0).get_payload(decode=True).decode()
        self.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos, "subject": m["Subject"], "body": body})
        return "250 OK"

    def wait(self, n, timeout=15):
        deadline = time.time() + timeout
        while len(self.messages) < n and time.time() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback; yields (port, inbox)."""
    from aiosmtpd.controller import Controller
    inbox = Inbox()
    port = free_port()
    c = Controller(inbox, hostname="127.0.0.1", port=port)
    c.start()
    yield port, inbox
    c.stop()
