"""Requests fuzzing: every Step Functions operation (from botocore's own service model) gets
thousands of requests with members of the right and the wrong types, malformed bodies, wrong
headers and oversized payloads. Every answer must be an AWS-shaped error or a success, never a
5xx, and the server must neither die nor panic."""

import json
import os
import random
import string
import urllib.error
import urllib.parse
import urllib.request

import botocore.session

from conftest import ROLE

SEED = int(os.environ.get("FUZZ_SEED", "11"))
ROUNDS = int(os.environ.get("FUZZ_ROUNDS", "3000"))

VALID_DEF = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def post(url, target, body, ctype="application/x-amz-json-1.0"):
    req = urllib.request.Request(url, data=body, method="POST")
    if target is not None:
        req.add_header("X-Amz-Target", target)
    if ctype is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def value(rng, shape, arns, depth=0):
    """A value for `shape`: usually of its type (sometimes a plausible one), sometimes not."""
    if rng.random() < 0.08:
        return rng.choice([None, 0, -1, 2**63, 1.5, True, "", "x" * rng.randint(1, 300), [], {}, "\u0000\ud7ff",
                           "arn:aws:states:us-east-1:123456789012:stateMachine:", "arn:aws:states:::",
                           "{" * 50, "\u00e9\u4e2d\U0001f600"])
    t = shape.type_name
    if t == "structure":
        out = {}
        required = set(shape.required_members)
        for name, m in shape.members.items():
            if (name in required or rng.random() < 0.4) and depth < 4:
                out[name] = value(rng, m, arns, depth + 1)
        return out
    if t == "list":
        return [value(rng, shape.member, arns, depth + 1) for _ in range(rng.randint(0, 3))]
    if t == "map":
        return {rng.choice(string.ascii_letters): value(rng, shape.value, arns, depth + 1) for _ in range(rng.randint(0, 3))}
    if t in ("integer", "long"):
        return rng.choice([0, 1, 5, 100, 1000, 1001, -5, 10**12])
    if t in ("float", "double"):
        return rng.choice([0.0, 0.5, 99.9, -1.0, 1e300])
    if t == "boolean":
        return rng.choice([True, False])
    if t == "timestamp":
        return rng.choice([0, 1700000000, -1])
    if t == "blob":
        return "aGVsbG8="
    # strings: ARNs, definitions, JSON documents, names, enum members
    if shape.enum and rng.random() < 0.7:
        return rng.choice(shape.enum)
    name = shape.name.lower()
    if "arn" in name and arns and rng.random() < 0.6:
        return rng.choice(arns)
    if "definition" in name:
        return rng.choice([VALID_DEF, "{", '{"StartAt": 1}', json.dumps({"Type": "Pass", "End": True}), "[]"])
    if "data" in name or "input" in name or "output" in name:
        return rng.choice(["{}", '{"a": [1, 2]}', "[", "null", "\"s\"", json.dumps({"big": "y" * 300_000})])
    return rng.choice(["name1", "bad name", "a" * 81, "p/q", "token-" + str(rng.randint(0, 9))])


def test_requests_never_crash_the_server(server, sfn):
    rng = random.Random(SEED)
    m = sfn.create_state_machine(name="fz", definition=VALID_DEF, roleArn=ROLE)["stateMachineArn"]
    e = sfn.start_execution(stateMachineArn=m)["executionArn"]
    arns = [m, e, m + ":1", m + ":alias", e + "x", m.replace("stateMachine", "activity"),
            m.replace("stateMachine", "mapRun") + "/L:x"]
    model = botocore.session.get_session().get_service_model("stepfunctions")
    ops = list(model.operation_names) + ["NoSuchOperation"]
    statuses = {}
    for i in range(ROUNDS):
        op = rng.choice(ops)
        target = f"AWSStepFunctions.{op}"
        kind = rng.random()
        ctype = "application/x-amz-json-1.0"
        if op != "NoSuchOperation" and kind < 0.75:
            body = json.dumps(value(rng, model.operation_model(op).input_shape, arns)).encode()
        elif kind < 0.85:
            body = rng.choice([b"", b"{", b"[]", b"null", b"\xff\xfe\x00", b'{"a":' * 100, b"1e999999", b'"\\ud800"'])
        elif kind < 0.9:
            body, target = b"{}", rng.choice([None, "", "AWSStepFunctions", "Other.Action", "AWSStepFunctions." + "x" * 500])
        elif kind < 0.95:
            body, ctype = b"{}", rng.choice([None, "text/plain", "application/json"])
        else:
            body = json.dumps({"stateMachineArn": m, "input": "[" + "1," * 200_000 + "1]"}).encode()
        if op in ("GetActivityTask",):
            continue  # long polls for 60 s; covered by the API tests
        status, raw = post(server.url, target, body, ctype)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (i, op, body[:300], raw[:300])
        if status >= 400:
            err = json.loads(raw)
            assert err.get("__type") and isinstance(err.get("message"), str), (i, op, raw[:300])
        assert server.proc.poll() is None, f"the server died on request {i} ({op})"
    # whatever the fuzzing stored, the server starts again on it
    server.stop()
    server.start()
    log = server.output()
    assert "panicked" not in log
    print(statuses)
    # the fuzz reached both outcomes
    assert statuses.get(200, 0) > ROUNDS / 10 and sum(v for k, v in statuses.items() if k >= 400) > ROUNDS / 10, statuses


def test_event_parameter_and_queue_requests_never_crash_the_server(server):
    """The same fuzzing over every operation of EventBridge, Parameter Store, SQS, CloudWatch
    Logs and CloudWatch; the server must start again on what they stored."""
    rng = random.Random(SEED + 1)
    ev = server.client(service="events")
    sqs = server.client(service="sqs")
    ssm = server.client(service="ssm")
    ev.create_event_bus(Name="fz")
    ev.put_rule(Name="fz", EventPattern='{"source": ["a"]}')
    q = sqs.create_queue(QueueName="fz")["QueueUrl"]
    ssm.put_parameter(Name="/fz", Value="v", Type="String")
    arns = ["arn:aws:events:us-east-1:123456789012:event-bus/fz", "arn:aws:events:us-east-1:123456789012:rule/fz",
            "arn:aws:sqs:us-east-1:123456789012:fz", "arn:aws:states:us-east-1:123456789012:stateMachine:x", q, "/fz"]
    services = [("events", "AWSEvents", "application/x-amz-json-1.1"),
                ("ssm", "AmazonSSM", "application/x-amz-json-1.1"),
                ("sqs", "AmazonSQS", "application/x-amz-json-1.0"),
                ("logs", "Logs_20140328", "application/x-amz-json-1.1"),
                ("cloudwatch", "GraniteServiceVersion20100801", "application/x-amz-json-1.0")]
    statuses = {}
    for name, prefix, ctype in services:
        model = botocore.session.get_session().get_service_model(name)
        ops = list(model.operation_names) + ["NoSuchOperation"]
        for i in range(ROUNDS // len(services)):
            op = rng.choice(ops)
            if op != "NoSuchOperation" and rng.random() < 0.85:
                body = value(rng, model.operation_model(op).input_shape, arns)
                if isinstance(body, dict):
                    # queue URLs where the model wants them; no long polls
                    if "QueueUrl" in body and rng.random() < 0.7:
                        body["QueueUrl"] = q
                    body.pop("WaitTimeSeconds", None)
                    body = json.dumps(body).encode()
                else:
                    body = json.dumps(body).encode()
            else:
                body = rng.choice([b"", b"{", b"[]", b"null", b"\xff\xfe\x00", b'{"a":' * 100, b"1e999999"])
            status, raw = post(server.url, f"{prefix}.{op}", body, ctype)
            statuses[status] = statuses.get(status, 0) + 1
            assert status < 500, (name, i, op, body[:300], raw[:300])
            if status >= 400:
                err = json.loads(raw)
                assert err.get("__type") and isinstance(err.get("message"), str), (name, i, op, raw[:300])
            assert server.proc.poll() is None, f"the server died on request {i} ({name} {op})"
    # whatever the fuzzing stored, the server starts again on it
    server.stop()
    server.start()
    log = server.output()
    assert "panicked" not in log
    print(statuses)
    # the fuzz reached both outcomes (CloudWatch's statistic checks refuse a few more random
    # requests since percentiles came, hence 1 in 25 rather than 1 in 20)
    assert statuses.get(200, 0) > ROUNDS / 25 and sum(v for k, v in statuses.items() if k >= 400) > ROUNDS / 10, statuses


def raw(url, method, path, body=b"", headers=None):
    req = urllib.request.Request(url + path, data=body if method not in ("GET", "HEAD") else None, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_object_topic_and_function_requests_never_crash_the_server(server):
    """Random S3 (REST-XML), SNS (query) and Lambda (REST-JSON) requests: wrong methods, odd
    keys, bad ranges, copy sources, digests and aws-chunked bodies, malformed XML and forms.
    Every answer is an AWS-shaped error or a success (S3's 501 NotImplemented included), never
    a 500, and the server neither dies nor panics."""
    rng = random.Random(SEED + 2)
    s3 = server.client(service="s3")
    s3.create_bucket(Bucket="fz-bucket")
    s3.put_object(Bucket="fz-bucket", Key="a/b.json", Body=b"{}")
    sign = lambda svc: {"Authorization": f"AWS4-HMAC-SHA256 Credential=t/20250101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=0"}
    keys = ["a/b.json", "x", "a%20b", "%E2%9C%93", "..%2F..%2Fetc", "k" * 1100, "", "a/"]
    subs = ["", "?uploads", "?uploadId=nope", "?uploadId=nope&partNumber=1", "?partNumber=0&uploadId=x", "?delete",
            "?notification", "?tagging", "?location", "?versioning", "?list-type=2&max-keys=-1", "?list-type=2&continuation-token=%%%",
            "?list-type=2&delimiter=/&prefix=a", "?marker=z&max-keys=1", "?acl", "?website", "?response-content-type=x"]
    bodies = [b"", b"<", b"<Delete><Object><Key>a/b.json</Key></Object></Delete>", b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
              b"<NotificationConfiguration><QueueConfiguration/></NotificationConfiguration>", b"\xff\xfe", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", os.urandom(300)]
    header_sets = [{}, {"Range": "bytes=5-1"}, {"Range": "bytes=-0"}, {"Range": "bytes=999999-"}, {"x-amz-copy-source": "/fz-bucket/a/b.json"},
                   {"x-amz-copy-source": "nope"}, {"Content-MD5": "!!"}, {"x-amz-checksum-crc32": "AAAA"},
                   {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "5"}, {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
                   {"If-Match": '"x"'}, {"If-Modified-Since": "not a date"}, {"x-amz-copy-source-range": "bytes=0-0"}]
    statuses = {}
    for i in range(ROUNDS // 6):
        method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
        bucket = rng.choice(["fz-bucket", "nope-bucket", "Bad_Bucket", ""])
        path = "/" + bucket + ("/" + rng.choice(keys) if bucket and rng.random() < 0.7 else "") + rng.choice(subs)
        h = dict(rng.choice(header_sets))
        h.update(sign("s3"))
        status, body = raw(server.url, method, path, rng.choice(bodies), h)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500 or status == 501, (i, method, path, h, body[:300])
        if status >= 400 and method != "HEAD":
            assert b"<Code>" in body, (i, method, path, body[:300])
    actions = ["CreateTopic", "Publish", "PublishBatch", "Subscribe", "ConfirmSubscription", "Unsubscribe", "ListTopics",
               "GetTopicAttributes", "SetSubscriptionAttributes", "TagResource", "Nope", ""]
    topic = "arn:aws:sns:us-east-1:123456789012:fz"
    raw(server.url, "POST", "/", b"Action=CreateTopic&Name=fz", {"Content-Type": "application/x-www-form-urlencoded", **sign("sns")})
    for i in range(ROUNDS // 6):
        params = {"Action": rng.choice(actions)}
        for k in ["Name", "TopicArn", "Message", "Subject", "Protocol", "Endpoint", "Token", "SubscriptionArn", "MessageStructure",
                  "AttributeName", "AttributeValue", "Attributes.entry.1.key", "Attributes.entry.1.value", "MessageAttributes.entry.1.Name",
                  "MessageAttributes.entry.1.Value.DataType", "PublishBatchRequestEntries.member.1.Id", "PublishBatchRequestEntries.member.1.Message"]:
            if rng.random() < 0.35:
                params[k] = rng.choice([topic, "", "x" * 300, "json", "sqs", "email", "http", "nope", "FilterPolicy", "{bad", "Number", "a@b.c",
                                        "arn:aws:sqs:us-east-1:123456789012:q", "\u00e9"])
        form = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in params.items()).encode()
        status, body = raw(server.url, "POST", "/", form, {"Content-Type": "application/x-www-form-urlencoded", **sign("sns")})
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (i, params, body[:300])
        if status >= 400:
            assert b"<Code>" in body, (i, params, body[:300])
    paths = ["/2015-03-31/functions", "/2015-03-31/functions/", "/2015-03-31/functions/nope", "/2015-03-31/functions/bad%20name/invocations",
             "/2015-03-31/functions/f/configuration", "/2015-03-31/functions/f/code", "/2019-09-25/functions/f/event-invoke-config",
             "/2017-10-31/functions/f/concurrency", "/2018-10-31/layers/l/versions", "/2018-10-31/layers/l/versions/x", "/2015-03-31/nothing"]
    for i in range(ROUNDS // 6):
        method = rng.choice(["GET", "PUT", "POST", "DELETE"])
        body = json.dumps(rng.choice([{}, {"FunctionName": "f", "Runtime": "python3.12", "Handler": "a.b", "Role": ROLE, "Code": {"ZipFile": "bm90IGEgemlw"}},
                                      {"Code": {"ImageUri": "file:///nope"}}, {"MemorySize": -1}, {"Timeout": "x"}, {"ReservedConcurrentExecutions": "x"},
                                      {"Content": {"ZipFile": "!!"}}, [], None])).encode()
        if rng.random() < 0.1:
            body = b"{"
        status, raw_body = raw(server.url, method, rng.choice(paths), body, {"Content-Type": "application/json", **sign("lambda")})
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (i, method, raw_body[:300])
    assert server.proc.poll() is None
    log = server.output()
    assert "panicked" not in log
    print(statuses)
    # the requests reached the handlers: a fair share succeeded
    assert statuses.get(200, 0) > ROUNDS / 50, statuses
