"""Lambda through boto3 and the AWS CLI against the real `shoal serve`: Python (with boto3
reaching shoal), Node and provided runtimes, errors, timeouts, memory limits, logs with REPORT
lines, layers, async invocations with destinations, and the seed's raw stage driven by a
state machine whose Catch emails the failure."""

import base64
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
import http.server

import pytest
from conftest import BIN, aws_cli

ROLE = "arn:aws:iam::123456789012:role/lambda"


def zipped(files):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name == "bootstrap" else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return b.getvalue()


@pytest.fixture
def lserver(make_server):
    # the test venv's Python has boto3, as AWS's Python runtimes do
    return make_server("--lambda-python", sys.executable, "--wait-scale", "0.001")


def create(lam, name, runtime, handler, files, **kw):
    return lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                               Code={"ZipFile": zipped(files)}, **kw)


def report_lines(logs, name):
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="REPORT")["events"]
    return [e["message"] for e in events]


def test_runtimes_errors_and_logs(lserver):
    lam, logs = lserver.client(service="lambda"), lserver.client(service="logs")
    f = create(lam, "echo", "python3.12", "app.handler", {"app.py": (
        "import os\n"
        "def handler(event, context):\n"
        "    print('event', event)\n"
        "    if event.get('fail'):\n"
        "        raise KeyError('missing')\n"
        "    return {'got': event, 'stage': os.environ['STAGE'], 'fn': context.function_name,\n"
        "            'left': context.get_remaining_time_in_millis() > 0, 'pid': os.getpid()}\n")},
        Environment={"Variables": {"STAGE": "dev"}})
    assert f["FunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo" and f["State"] == "Active"
    with pytest.raises(lam.exceptions.ResourceConflictException):
        create(lam, "echo", "python3.12", "app.handler", {"app.py": ""})
    r = lam.invoke(FunctionName="echo", Payload=json.dumps({"n": 1}), LogType="Tail")
    out = json.loads(r["Payload"].read())
    assert (out["got"], out["stage"], out["fn"], out["left"]) == ({"n": 1}, "dev", "echo", True)
    tail = base64.b64decode(r["LogResult"]).decode()
    assert "START RequestId:" in tail and "event {'n': 1}" in tail and "REPORT RequestId:" in tail and "Init Duration" in tail
    # warm: the same worker answers
    again = json.loads(lam.invoke(FunctionName="echo", Payload=b"{}")["Payload"].read())
    assert again["pid"] == out["pid"]
    err = lam.invoke(FunctionName="echo", Payload=json.dumps({"fail": True}))
    assert err["FunctionError"] == "Unhandled"
    e = json.loads(err["Payload"].read())
    assert e["errorType"] == "KeyError" and "missing" in e["errorMessage"] and e["stackTrace"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope", Payload=b"{}")
    assert lam.invoke(FunctionName="echo:$LATEST", InvocationType="DryRun")["StatusCode"] == 204
    # Logs Insights finds the fields of the REPORT lines, as on AWS
    now = int(time.time())
    qid = logs.start_query(logGroupName="/aws/lambda/echo", startTime=now - 600, endTime=now + 60, queryString=(
        'filter @type = "REPORT" | stats count(*) as calls, count_distinct(@requestId) as ids, '
        "max(@memorySize) as mem, pct(@duration, 100) as slowest"))["queryId"]
    for _ in range(100):
        r = logs.get_query_results(queryId=qid)
        if r["status"] == "Complete":
            break
        time.sleep(0.05)
    row = {f["field"]: f["value"] for f in r["results"][0]}
    assert (row["calls"], row["ids"], row["mem"]) == ("3", "3", "128000000") and float(row["slowest"]) > 0, row

    create(lam, "node", "nodejs20.x", "index.handler", {"index.js": (
        "exports.handler = async (event, context) => {\n"
        "  console.log('doubling', event.n);\n"
        "  if (event.n < 0) throw new RangeError('negative');\n"
        "  return {n: event.n * 2, fn: context.functionName};\n"
        "};\n")})
    assert json.loads(lam.invoke(FunctionName="node", Payload=json.dumps({"n": 21}))["Payload"].read()) == {"n": 42, "fn": "node"}
    bad = lam.invoke(FunctionName="node", Payload=json.dumps({"n": -1}))
    assert json.loads(bad["Payload"].read())["errorType"] == "RangeError"

    # provided.al2023: the function's own bootstrap speaks the Runtime API
    bootstrap = (
        f"#!{sys.executable}\n"
        "import json, os, urllib.request\n"
        "api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'\n"
        "while True:\n"
        "    r = urllib.request.urlopen(api + 'next')\n"
        "    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n"
        "    event = json.loads(r.read())\n"
        "    body = json.dumps({'upper': event['text'].upper(), 'handler': os.environ['_HANDLER']}).encode()\n"
        "    urllib.request.urlopen(urllib.request.Request(api + rid + '/response', data=body, method='POST'))\n")
    create(lam, "custom", "provided.al2023", "my.handler", {"bootstrap": bootstrap})
    assert json.loads(lam.invoke(FunctionName="custom", Payload=json.dumps({"text": "shoal"}))["Payload"].read()) == {"upper": "SHOAL", "handler": "my.handler"}

    # updates take effect on the next invocation
    lam.update_function_configuration(FunctionName="echo", Environment={"Variables": {"STAGE": "prod"}})
    assert json.loads(lam.invoke(FunctionName="echo", Payload=b"{}")["Payload"].read())["stage"] == "prod"
    lam.update_function_code(FunctionName="echo", ZipFile=zipped({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    assert json.loads(lam.invoke(FunctionName="echo", Payload=b"{}")["Payload"].read()) == "v2"
    assert sorted(f["FunctionName"] for f in lam.list_functions()["Functions"]) == ["custom", "echo", "node"]

    reports = report_lines(logs, "echo")
    assert len(reports) == 5 and all(re.search(r"Duration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB", r) for r in reports)
    lam.delete_function(FunctionName="custom")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="custom")


def test_faults_replace_the_worker(lserver):
    lam, logs = lserver.client(service="lambda"), lserver.client(service="logs")
    create(lam, "faulty", "python3.12", "f.handler", {"f.py": (
        "import os, sys, time\n"
        "def handler(event, context):\n"
        "    if event == 'hang': time.sleep(30)\n"
        "    if event == 'crash': os._exit(3)\n"
        "    if event == 'hog': return len(bytearray(300 * 1024 * 1024))\n"
        "    return os.getpid()\n")}, Timeout=1, MemorySize=128)
    pid = json.loads(lam.invoke(FunctionName="faulty", Payload=b'"ok"')["Payload"].read())
    for kind, error in [("hang", "Sandbox.Timedout"), ("crash", "Runtime.ExitError"), ("hog", "Runtime.OutOfMemory")]:
        r = lam.invoke(FunctionName="faulty", Payload=json.dumps(kind))
        p = json.loads(r["Payload"].read())
        assert r["FunctionError"] == "Unhandled" and p["errorType"] == error, (kind, p)
        new = json.loads(lam.invoke(FunctionName="faulty", Payload=b'"ok"')["Payload"].read())
        assert new != pid, f"after {kind} a new worker runs"
        with pytest.raises(OSError):
            os.kill(pid, 0)
        pid = new
    assert any("Status: timeout" in r for r in report_lines(logs, "faulty"))
    # an import error is the runtime's, as on AWS
    create(lam, "broken", "python3.12", "missing.handler", {"other.py": ""})
    p = json.loads(lam.invoke(FunctionName="broken", Payload=b"{}")["Payload"].read())
    assert p["errorType"] == "Runtime.ImportModuleError" and "missing" in p["errorMessage"]


def test_layers_async_and_destinations(lserver):
    lam, sqs = lserver.client(service="lambda"), lserver.client(service="sqs")
    layer = lam.publish_layer_version(LayerName="helpers", Content={"ZipFile": zipped({"python/helpers.py": "def shout(s):\n    return s.upper() + '!'\n"})},
                                      CompatibleRuntimes=["python3.12"])
    assert layer["Version"] == 1 and layer["LayerVersionArn"].endswith(":layer:helpers:1")
    create(lam, "uses-layer", "python3.12", "app.handler", {"app.py": (
        "from helpers import shout\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise RuntimeError('async failure')\n"
        "    return shout(event['text'])\n")}, Layers=[layer["LayerVersionArn"]])
    assert json.loads(lam.invoke(FunctionName="uses-layer", Payload=json.dumps({"text": "hi"}))["Payload"].read()) == "HI!"
    ok_url = sqs.create_queue(QueueName="ok")["QueueUrl"]
    bad_url = sqs.create_queue(QueueName="bad")["QueueUrl"]
    lam.put_function_event_invoke_config(FunctionName="uses-layer", MaximumRetryAttempts=1, DestinationConfig={
        "OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:123456789012:ok"},
        "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:bad"}})
    assert lam.invoke(FunctionName="uses-layer", InvocationType="Event", Payload=json.dumps({"text": "async"}))["StatusCode"] == 202
    assert lam.invoke(FunctionName="uses-layer", InvocationType="Event", Payload=json.dumps({"fail": True}))["StatusCode"] == 202

    def one(url):
        deadline = time.time() + 20
        while time.time() < deadline:
            m = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
            if m:
                return json.loads(m[0]["Body"])
        raise AssertionError("no destination record")

    good = one(ok_url)
    assert good["requestContext"]["condition"] == "Success" and good["responsePayload"] == "ASYNC!"
    failed = one(bad_url)
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["requestContext"]["approximateInvokeCount"] == 2
    assert failed["responseContext"]["functionError"] == "Unhandled" and failed["requestPayload"] == {"fail": True}


def test_async_invocations_survive_kill9(make_server, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    s = make_server("--lambda-python", sys.executable)
    lam = s.client(service="lambda")
    create(lam, "slowmark", "python3.12", "m.handler", {"m.py": (
        "import time, pathlib\n"
        "def handler(event, context):\n"
        "    time.sleep(0.3)\n"
        f"    pathlib.Path({str(marks)!r}, str(event['i'])).write_text('done')\n")}, Timeout=5)
    for i in range(12):
        lam.invoke(FunctionName="slowmark", InvocationType="Event", Payload=json.dumps({"i": i}))
    time.sleep(0.5)
    s.kill9()
    s.start()
    deadline = time.time() + 30
    while len(os.listdir(marks)) < 12 and time.time() < deadline:
        time.sleep(0.1)
    assert sorted(int(n) for n in os.listdir(marks)) == list(range(12))


def test_aws_cli_lambda(lserver, tmp_path):
    z = tmp_path / "f.zip"
    z.write_bytes(zipped({"h.py": "def handler(e, c):\n    return {'sum': e['a'] + e['b']}\n"}))
    aws_cli(lserver, "lambda", "create-function", "--function-name", "adder", "--runtime", "python3.11",
            "--handler", "h.handler", "--role", ROLE, "--zip-file", f"fileb://{z}")
    out = tmp_path / "out.json"
    r = json.loads(aws_cli(lserver, "lambda", "invoke", "--function-name", "adder",
                           "--payload", '{"a": 2, "b": 3}', str(out)).stdout)
    assert r["StatusCode"] == 200 and json.loads(out.read_text()) == {"sum": 5}
    fns = json.loads(aws_cli(lserver, "lambda", "list-functions").stdout)["Functions"]
    assert [f["FunctionName"] for f in fns] == ["adder"]


class WordPress(http.server.BaseHTTPRequestHandler):
    """A WordPress REST API stand-in: posts and categories have data, tags returns []."""

    def do_GET(self):
        data = {"/wp-json/wp/v2/posts": [{"id": 1, "title": {"rendered": "Hello – world"}}, {"id": 2, "title": {"rendered": "Ünïcode"}}],
                "/wp-json/wp/v2/categories": [{"id": 7, "name": "AWS"}],
                "/wp-json/wp/v2/tags": []}
        body = json.dumps(data.get(self.path.split("?")[0], [])).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


RAW_STAGE = '''
import json
import logging
import urllib.request

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)
FUNCTION = "data_wordpress_api_raw"


def get_parameter(ssm, name):
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as e:
        logger.error("Cannot read %s: %s", name, e)
        return ""


def send_sns(sns, topic, subject, message):
    try:
        sns.publish(TopicArn=topic, Subject=subject, Message=message)
    except ClientError as e:
        logger.error("SNS failed: %s", e)


def lambda_handler(event, context):
    ssm, s3, sns = boto3.client("ssm"), boto3.client("s3"), boto3.client("sns")
    topic = get_parameter(ssm, "/sns/data/lakehouse/raw")
    if not topic:
        logger.error("No SNS topic returned.")
        raise ValueError("No SNS topic returned.")
    endpoints = get_parameter(ssm, "/wordpress/api/endpoints").split(",")
    bucket = get_parameter(ssm, "/s3/lakehouse/name/raw")
    ok = failed = 0
    for i, endpoint in enumerate(endpoints, 1):
        logger.info("Processing endpoint %s of %s", i, len(endpoints))
        name = endpoint.rstrip("/").split("/")[-1]
        with urllib.request.urlopen(endpoint, timeout=30) as r:
            if r.status != 200:
                raise ValueError("API response: %s" % r.status)
            data = json.loads(r.read())
        if not data:
            failed += 1
            continue
        s3.put_object(Bucket=bucket, Key="wordpress_api/%s/%s.json" % (name, name), Body=json.dumps(data))
        ok += 1
    logger.info("WordPress API Raw process complete: %s Successful | %s Failed.", ok, failed)
    if failed:
        send_sns(sns, topic, "%s: Ran With Failures" % FUNCTION, "%s ran with %s errors.  Please check logs." % (FUNCTION, failed))
'''


def test_seed_raw_stage_through_a_state_machine(make_server, smtp):
    port, inbox = smtp
    wp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WordPress)
    threading.Thread(target=wp.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{wp.server_address[1]}/wp-json/wp/v2"
    s = make_server("--lambda-python", sys.executable, "--smtp", f"smtp://127.0.0.1:{port}")
    ssm, s3, sns, lam, sfn, logs = (s.client(service=n) for n in ["ssm", "s3", "sns", "lambda", "stepfunctions", "logs"])
    topic = sns.create_topic(Name="lakehouse-raw")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="owner@example.com")
    urllib.request.urlopen(re.search(r"(http://\S+Action=ConfirmSubscription\S+)", inbox.wait(1)[0]["body"]).group(1)).read()
    s3.create_bucket(Bucket="lakehouse-raw")
    ssm.put_parameter(Name="/sns/data/lakehouse/raw", Value=topic, Type="String")
    ssm.put_parameter(Name="/wordpress/api/endpoints", Type="String",
                      Value=",".join(f"{base}/{n}" for n in ["posts", "categories", "tags"]))
    ssm.put_parameter(Name="/s3/lakehouse/name/raw", Value="lakehouse-raw", Type="String")
    create(lam, "data_wordpressapi_raw", "python3.12", "lambda_function.lambda_handler",
           {"lambda_function.py": RAW_STAGE}, Timeout=60, MemorySize=256)
    definition = {
        "StartAt": "data_wordpressapi_raw",
        "States": {
            "data_wordpressapi_raw": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 120,
                "Parameters": {"Payload.$": "$", "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:data_wordpressapi_raw:$LATEST"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "PublishFailure"}],
                "End": True},
            "PublishFailure": {
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message": "An error occurred in the state machine: { \"error\": \"$.Error\" }"},
                "End": True},
        },
    }
    arn = sfn.create_state_machine(name="WordPress_Raw", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]

    def run():
        e = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        deadline = time.time() + 60
        while (d := sfn.describe_execution(executionArn=e))["status"] == "RUNNING" and time.time() < deadline:
            time.sleep(0.1)
        return d

    d = run()
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["StatusCode"] == 200 and out["ExecutedVersion"] == "$LATEST" and out["Payload"] is None
    # the objects are byte-exact json.dumps of what the API returned
    for name, want in [("posts", WordPress.do_GET), ("categories", None)]:
        got = s3.get_object(Bucket="lakehouse-raw", Key=f"wordpress_api/{name}/{name}.json")["Body"].read()
        with urllib.request.urlopen(f"{base}/{name}") as r:
            assert got == json.dumps(json.loads(r.read())).encode()
    assert "Contents" not in s3.list_objects_v2(Bucket="lakehouse-raw", Prefix="wordpress_api/tags/")
    mail = inbox.wait(2)[1]
    assert mail["subject"] == "data_wordpress_api_raw: Ran With Failures"
    assert mail["body"].startswith("data_wordpress_api_raw ran with 1 errors.  Please check logs.")
    events = logs.filter_log_events(logGroupName="/aws/lambda/data_wordpressapi_raw")["events"]
    text = "\n".join(e["message"] for e in events)
    assert "Processing endpoint 3 of 3" in text and "2 Successful | 1 Failed." in text
    assert re.search(r"REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB", text)

    # an endpoint that cannot be reached fails the function; the Catch emails the failure
    ssm.put_parameter(Name="/wordpress/api/endpoints", Type="String", Overwrite=True, Value="http://127.0.0.1:9/wp-json/wp/v2/users")
    d = run()
    assert d["status"] == "SUCCEEDED"
    mail = inbox.wait(3)[2]
    assert mail["body"].startswith('An error occurred in the state machine: { "error": "$.Error" }')
    wp.shutdown()


def test_functions_as_rule_targets_and_topic_subscribers(lserver, tmp_path):
    lam, ev, sns, sqs = (lserver.client(service=n) for n in ["lambda", "events", "sns", "sqs"])
    seen = tmp_path / "seen"
    seen.mkdir()
    f = create(lam, "recorder", "python3.12", "r.handler", {"r.py": (
        "import json, pathlib, uuid\n"
        "def handler(event, context):\n"
        f"    pathlib.Path({str(seen)!r}, str(uuid.uuid4())).write_text(json.dumps(event))\n")})["FunctionArn"]
    q = sqs.create_queue(QueueName="from-rule")["QueueUrl"]
    topic = sns.create_topic(Name="fanout")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=f)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:from-rule")
    ev.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"]}))
    ev.put_targets(Rule="orders", Targets=[
        {"Id": "fn", "Arn": f, "InputPath": "$.detail"},
        {"Id": "topic", "Arn": topic, "InputTransformer": {"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": 'order <id>'}}])
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": 42})}])
    deadline = time.time() + 20
    while len(os.listdir(seen)) < 2 and time.time() < deadline:
        time.sleep(0.1)
    got = [json.loads((seen / n).read_text()) for n in os.listdir(seen)]
    assert {"id": 42} in got, got
    record = next(g for g in got if "Records" in g)["Records"][0]
    assert record["EventSource"] == "aws:sns" and record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["Message"] == "order 42"
    m = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5)["Messages"][0]
    assert json.loads(m["Body"])["Message"] == "order 42"
    # AWS/Events counted the rule once for the event and once per target delivered
    cw = lserver.client(service="cloudwatch")
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)

    def total(metric):
        r = cw.get_metric_statistics(Namespace="AWS/Events", MetricName=metric, Dimensions=[{"Name": "RuleName", "Value": "orders"}],
                                     StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5), Period=600, Statistics=["Sum"])
        return sum(p["Sum"] for p in r["Datapoints"])

    assert (total("TriggeredRules"), total("MatchedEvents"), total("Invocations")) == (1, 1, 2)


def test_logs_and_parameters_with_the_aws_cli_and_shoal_logs_tail(lserver):
    lam = lserver.client(service="lambda")
    create(lam, "talker", "python3.12", "t.handler", {"t.py": "def handler(e, c):\n    print('hello from talker', e['n'])\n"})
    for n in range(3):
        lam.invoke(FunctionName="talker", Payload=json.dumps({"n": n}))
    groups = json.loads(aws_cli(lserver, "logs", "describe-log-groups").stdout)["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/aws/lambda/talker"]
    found = json.loads(aws_cli(lserver, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/talker",
                               "--filter-pattern", "hello").stdout)["events"]
    assert [e["message"] for e in found] == [f"hello from talker {n}" for n in range(3)]
    found = json.loads(aws_cli(lserver, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/talker",
                               "--filter-pattern", "[hello, word = from, ..., n >= 1]").stdout)["events"]
    assert [e["message"] for e in found] == [f"hello from talker {n}" for n in (1, 2)]
    aws_cli(lserver, "logs", "create-log-group", "--log-group-name", "/app/pipeline")
    aws_cli(lserver, "logs", "create-log-stream", "--log-group-name", "/app/pipeline", "--log-stream-name", "run-1")
    aws_cli(lserver, "logs", "put-log-events", "--log-group-name", "/app/pipeline", "--log-stream-name", "run-1",
            "--log-events", f"timestamp={int(time.time() * 1000)},message=bronze done")
    env = dict(os.environ, SHOAL_ENDPOINT=lserver.url)
    out = subprocess.run([BIN, "logs", "tail", "/aws/lambda/talker", "--filter", "REPORT"], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0 and out.stdout.count("REPORT RequestId:") == 3, out.stdout + out.stderr
    out = subprocess.run([BIN, "logs", "tail", "/app/pipeline"], capture_output=True, text=True, env=env, timeout=30)
    assert "run-1 bronze done" in out.stdout
    # follow: a new invocation's lines appear while it runs
    p = subprocess.Popen([BIN, "logs", "tail", "/aws/lambda/talker", "--follow", "--since", "1s"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.0)
        lam.invoke(FunctionName="talker", Payload=json.dumps({"n": 99}))
        deadline = time.time() + 10
        line = ""
        while "hello from talker 99" not in line and time.time() < deadline:
            line = p.stdout.readline()
        assert "hello from talker 99" in line
    finally:
        p.kill()
    aws_cli(lserver, "ssm", "put-parameter", "--name", "/s3/lakehouse/name/raw", "--value", "lakehouse-raw", "--type", "String")
    got = json.loads(aws_cli(lserver, "ssm", "get-parameter", "--name", "/s3/lakehouse/name/raw").stdout)
    assert got["Parameter"]["Value"] == "lakehouse-raw"
    missing = aws_cli(lserver, "ssm", "get-parameter", "--name", "/nope", check=False)
    assert missing.returncode != 0 and "ParameterNotFound" in missing.stderr


def test_rust_function_built_with_lambda_runtime(lserver):
    """examples/lambda-rust: a function on the lambda_runtime crate, unmodified, as provided.al2023."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    boot = os.path.join(root, "target", "debug", "bootstrap")
    assert os.path.exists(boot), f"{boot} is missing: build it with `cargo build -p shoal-lambda-example`"
    lam = lserver.client(service="lambda")
    with open(boot, "rb") as f:
        create(lam, "rusty", "provided.al2023", "bootstrap", {"bootstrap": f.read()}, MemorySize=128)
    r = lam.invoke(FunctionName="rusty", Payload=json.dumps({"name": "shoal"}))
    out = json.loads(r["Payload"].read())
    assert "FunctionError" not in r and out["greeting"] == "hello shoal" and out["function"] == "rusty"
    assert out["request"] == r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    bad = lam.invoke(FunctionName="rusty", Payload=json.dumps({}))
    err = json.loads(bad["Payload"].read())
    assert bad["FunctionError"] == "Unhandled" and err["errorMessage"] == "a name is required", err


def test_reserved_concurrency_throttles(lserver):
    import boto3
    from botocore.config import Config
    # no client retries, so each throttled call is one request
    lam = boto3.client("lambda", endpoint_url=lserver.url, region_name="us-east-1", aws_access_key_id="t",
                       aws_secret_access_key="t", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    cw = lserver.client(service="cloudwatch")
    create(lam, "limited", "python3.12", "s.handler", {"s.py": "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'done'\n"}, Timeout=10)
    lam.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=1)
    assert lam.get_function(FunctionName="limited")["Concurrency"]["ReservedConcurrentExecutions"] == 1
    results = {}

    def slow():
        results["slow"] = json.loads(lam.invoke(FunctionName="limited", Payload=json.dumps({"sleep": 2}))["Payload"].read())

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.8)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke(FunctionName="limited", Payload=b"{}")
    t.join()
    assert results["slow"] == "done"
    assert json.loads(lam.invoke(FunctionName="limited", Payload=b"{}")["Payload"].read()) == "done"
    lam.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke(FunctionName="limited", Payload=b"{}")
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)
    r = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Throttles", Dimensions=[{"Name": "FunctionName", "Value": "limited"}],
                                 StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5), Period=600, Statistics=["Sum"])
    assert sum(p["Sum"] for p in r["Datapoints"]) == 2
