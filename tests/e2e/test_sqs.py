"""SQS through boto3 against the real `shoal serve`, and queues as EventBridge targets and
dead-letter queues."""

import json
import threading
import time

import pytest


def test_queues_and_messages(make_server):
    s = make_server()
    sqs = s.client(service="sqs")
    url = sqs.create_queue(QueueName="raw-files", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    assert url.endswith("/123456789012/raw-files")
    assert sqs.create_queue(QueueName="raw-files", Attributes={"VisibilityTimeout": "1"})["QueueUrl"] == url
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName="raw-files", Attributes={"VisibilityTimeout": "5"})
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="nope")
    assert sqs.get_queue_url(QueueName="raw-files")["QueueUrl"] == url
    assert sqs.list_queues(QueueNamePrefix="raw")["QueueUrls"] == [url]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:raw-files" and attrs["VisibilityTimeout"] == "1"
    # boto3 checks the MD5 of the body and of the attributes it sent
    r = sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "post"}, "n": {"DataType": "Number", "StringValue": "3"}})
    assert r["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["hello"] and got[0]["MessageAttributes"]["kind"]["StringValue"] == "post"
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    # invisible for its timeout, then back
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert again[0]["MessageId"] == got[0]["MessageId"] and again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"], VisibilityTimeout=30)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    with pytest.raises(sqs.exceptions.ClientError, match="isn't in flight|not a valid"):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"], VisibilityTimeout=5)
    # batches
    out = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
    assert len(out["Successful"]) == 5
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in msgs] == ["m0", "m1", "m2", "m3", "m4"]
    d = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": m["MessageId"][:8], "ReceiptHandle": m["ReceiptHandle"]} for m in msgs])
    assert len(d["Successful"]) == 5
    # long polling: a receive waits for a message sent while it waits
    later = threading.Timer(0.5, lambda: s.client(service="sqs").send_message(QueueUrl=url, MessageBody="late"))
    t0 = time.time()
    later.start()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert got[0]["Body"] == "late" and 0.4 < time.time() - t0 < 4
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    # delay, purge
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    sqs.purge_queue(QueueUrl=url)
    time.sleep(1.1)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    # messages survive kill -9
    sqs.send_message(QueueUrl=url, MessageBody="durable")
    s.kill9()
    s.start()
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["durable"]
    sqs.tag_queue(QueueUrl=url, Tags={"team": "data", "x": "1"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["x"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "data"}
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])


def test_redrive_and_fifo(make_server):
    s = make_server()
    sqs = s.client(service="sqs")
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    sqs.send_message(QueueUrl=q, MessageBody="poison")
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=q)["Messages"][0]["Body"] == "poison"
    # the third receive would exceed maxReceiveCount: the message moves to the dead-letter queue
    assert sqs.receive_message(QueueUrl=q).get("Messages", []) == []
    assert sqs.receive_message(QueueUrl=dlq)["Messages"][0]["Body"] == "poison"
    # FIFO: order within a group, a group waits while one of its messages is in flight, dedup
    f = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    with pytest.raises(sqs.exceptions.ClientError, match="MessageGroupId"):
        sqs.send_message(QueueUrl=f, MessageBody="x")
    for body, group in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("a1", "a")]:
        sqs.send_message(QueueUrl=f, MessageBody=body, MessageGroupId=group)
    first = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=1)["Messages"]
    assert [m["Body"] for m in first] == ["a1"]
    second = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in second] == ["b1"], "group a waits for a1; the repeated a1 was deduplicated"
    sqs.delete_message(QueueUrl=f, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10)["Messages"]] == ["a2"]


def test_queues_as_event_targets_and_dead_letter_queues(make_server, http_target):
    s = make_server("--wait-scale", "0.01")
    sqs, ev = s.client(service="sqs"), s.client(service="events")
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dlq = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    conn = ev.create_connection(Name="c", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}})["ConnectionArn"]
    down = ev.create_api_destination(Name="down", ConnectionArn=conn, InvocationEndpoint=http_target.url + "/down",
                                     HttpMethod="POST")["ApiDestinationArn"]
    http_target.fail["/down"] = 500
    ev.put_rule(Name="orders", EventPattern='{"source": ["shop"]}')
    ev.put_targets(Rule="orders", Targets=[
        {"Id": "q", "Arn": inbox_arn, "InputPath": "$.detail"},
        {"Id": "api", "Arn": down, "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60},
         "DeadLetterConfig": {"Arn": dlq_arn}}])
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": 7})}])
    got = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=5)["Messages"]
    assert json.loads(got[0]["Body"]) == {"id": 7}
    dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=10, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead[0]["Body"])["detail"] == {"id": 7}
    attrs = {k: v["StringValue"] for k, v in dead[0]["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "RETRIES_EXHAUSTED" and attrs["TARGET_ARN"] == down, attrs
    assert attrs["RULE_ARN"].endswith(":rule/orders")
    assert [p for _, p, _ in http_target.requests].count("/down") == 2


def test_pipes(make_server):
    """EventBridge Pipes: an SQS source, a filter on the JSON body, an Express enrichment and a
    state machine target; filtered-out messages are deleted, the rest reach the target."""
    from conftest import machine, wait_done

    s = make_server()
    sqs, sfn, pipes = s.client(service="sqs"), s.client(), s.client(service="pipes")
    src = sqs.create_queue(QueueName="orders-in", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    enrich = machine(sfn, "enrich", {"StartAt": "E", "States": {"E": {
        "Type": "Pass", "Parameters": {"count.$": "States.ArrayLength($)", "ids.$": "$[*].messageId"}, "End": True}}},
        kind="EXPRESS")
    target = machine(sfn, "sink", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    with pytest.raises(pipes.exceptions.ValidationException):
        pipes.create_pipe(Name="bad", Source="arn:aws:kinesis:us-east-1:123456789012:stream/x", Target=target, RoleArn="arn:aws:iam::123456789012:role/p")
    arn = pipes.create_pipe(
        Name="orders", Source=src_arn, Target=target, Enrichment=enrich, RoleArn="arn:aws:iam::123456789012:role/p",
        SourceParameters={"SqsQueueParameters": {"BatchSize": 10},
                          "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"status": ["paid"]}})}]}},
        LogConfiguration={"Level": "INFO", "CloudwatchLogsLogDestination": {
            "LogGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/pipes/orders"}})["Arn"]
    assert arn == "arn:aws:pipes:us-east-1:123456789012:pipe/orders"
    with pytest.raises(pipes.exceptions.ConflictException):
        pipes.create_pipe(Name="orders", Source=src_arn, Target=target, RoleArn="arn:aws:iam::123456789012:role/p")
    d = pipes.describe_pipe(Name="orders")
    assert d["CurrentState"] == "RUNNING" and d["Enrichment"] == enrich
    sqs.send_message(QueueUrl=src, MessageBody=json.dumps({"status": "paid", "id": 1}))
    sqs.send_message(QueueUrl=src, MessageBody=json.dumps({"status": "draft", "id": 2}))
    end = time.time() + 15
    runs = []
    while time.time() < end and not runs:
        runs = sfn.list_executions(stateMachineArn=target)["executions"]
        time.sleep(0.1)
    assert runs, "the pipe started the target"
    out = json.loads(wait_done(sfn, runs[0]["executionArn"])["input"])
    assert out["count"] == 1 and len(out["ids"]) == 1, out
    # INFO records go to the pipe's log group; TRACE ones do not
    logs = s.client(service="logs")
    entries = [json.loads(e["message"]) for e in logs.filter_log_events(
        logGroupName="/aws/vendedlogs/pipes/orders", filterPattern='{ $.logLevel = "INFO" }')["events"]]
    assert entries and entries[0]["messageType"] == "ExecutionSucceeded" and entries[0]["resourceArn"] == arn, entries
    assert not logs.filter_log_events(logGroupName="/aws/vendedlogs/pipes/orders", filterPattern='{ $.logLevel = "TRACE" }')["events"]
    # both messages are gone: one delivered, one filtered out
    time.sleep(2.5)
    attrs = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0", attrs
    # stopped, a pipe leaves messages in the queue
    pipes.stop_pipe(Name="orders")
    sqs.send_message(QueueUrl=src, MessageBody=json.dumps({"status": "paid", "id": 3}))
    time.sleep(1)
    assert sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert [p["Name"] for p in pipes.list_pipes()["Pipes"]] == ["orders"]
    pipes.start_pipe(Name="orders")
    end = time.time() + 15
    while time.time() < end and len(sfn.list_executions(stateMachineArn=target)["executions"]) < 2:
        time.sleep(0.1)
    assert len(sfn.list_executions(stateMachineArn=target)["executions"]) == 2
    pipes.delete_pipe(Name="orders")
    with pytest.raises(pipes.exceptions.NotFoundException):
        pipes.describe_pipe(Name="orders")


def test_pipe_input_template(make_server):
    """A pipe's InputTemplate shapes each record (`<$.body.…>` into the JSON body,
    `<aws.pipes.pipe-name>`) before the target gets the batch."""
    s = make_server()
    sqs, pipes = s.client(service="sqs"), s.client(service="pipes")
    src = sqs.create_queue(QueueName="raw-in")["QueueUrl"]
    out = sqs.create_queue(QueueName="shaped-out")["QueueUrl"]
    arn = lambda u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = "arn:aws:iam::123456789012:role/p"
    with pytest.raises(pipes.exceptions.ValidationException):
        pipes.create_pipe(Name="bad", Source=arn(src), Target=arn(out), RoleArn=role,
                          TargetParameters={"InputTemplate": "<aws.pipes.nope>"})
    pipes.create_pipe(Name="shape", Source=arn(src), Target=arn(out), RoleArn=role,
                      TargetParameters={"InputTemplate": '{"post": <$.body.id>, "title": "<$.body.title> (<aws.pipes.pipe-name>)"}'})
    sqs.send_message(QueueUrl=src, MessageBody=json.dumps({"id": 7, "title": "Hello"}))
    end = time.time() + 15
    got = []
    while time.time() < end and not got:
        got = sqs.receive_message(QueueUrl=out, WaitTimeSeconds=1).get("Messages", [])
    assert got, "the pipe delivered to the queue"
    assert json.loads(got[0]["Body"]) == [{"post": 7, "title": "Hello (shape)"}]


def test_pipe_enrichments_function_and_api_destination(make_server, http_target):
    """A Lambda function enriches the whole batch (its answer is the new batch, and an empty
    answer filters the batch out); an API destination enriches one record at a time, shaped by
    EnrichmentParameters, and its response body is what the target gets."""
    import sys
    from test_lambda import create

    s = make_server("--lambda-python", sys.executable)
    sqs, pipes, lam, ev = (s.client(service=n) for n in ("sqs", "pipes", "lambda", "events"))
    role = "arn:aws:iam::123456789012:role/p"
    arn = lambda u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def received(url, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
            if got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
                return json.loads(got[0]["Body"])
        return None

    # the function keeps the records that are not drafts and adds what it knows
    code = """
import json
def handler(event, context):
    out = []
    for r in event:
        body = json.loads(r["body"])
        if body.get("status") != "draft":
            out.append({"id": body["id"], "batch": len(event), "from": r["eventSource"]})
    return out
"""
    fn = create(lam, "enrich", "python3.12", "app.handler", {"app.py": code})["FunctionArn"]
    src, out = sqs.create_queue(QueueName="fn-in")["QueueUrl"], sqs.create_queue(QueueName="fn-out")["QueueUrl"]
    pipes.create_pipe(Name="by-function", Source=arn(src), Target=arn(out), Enrichment=fn, RoleArn=role)
    sqs.send_message(QueueUrl=src, MessageBody=json.dumps({"id": 1, "status": "paid"}))
    assert received(out) == [{"id": 1, "batch": 1, "from": "aws:sqs"}]
    # a batch the function answers with [] goes nowhere, and its message is consumed
    sqs.send_message(QueueUrl=src, MessageBody=json.dumps({"id": 2, "status": "draft"}))
    end = time.time() + 15
    while time.time() < end:
        a = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
        if a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
        time.sleep(0.2)
    assert a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0", a
    assert received(out, timeout=2) is None

    # an API destination: one record per call, with the enrichment's own parameters
    conn = ev.create_connection(Name="c", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"}})["ConnectionArn"]
    dest = ev.create_api_destination(Name="lookup", ConnectionArn=conn, InvocationEndpoint=http_target.url + "/lookup/*",
                                     HttpMethod="POST")["ApiDestinationArn"]
    src2 = sqs.create_queue(QueueName="api-in", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    out2 = sqs.create_queue(QueueName="api-out")["QueueUrl"]
    with pytest.raises(pipes.exceptions.ValidationException):
        pipes.create_pipe(Name="batched", Source=arn(src2), Target=arn(out2), Enrichment=dest, RoleArn=role)
    pipes.create_pipe(
        Name="by-api", Source=arn(src2), Target=arn(out2), Enrichment=dest, RoleArn=role,
        SourceParameters={"SqsQueueParameters": {"BatchSize": 1}},
        EnrichmentParameters={"InputTemplate": '{"post": <$.body.id>}',
                              "HttpParameters": {"PathParameterValues": ["posts"], "QueryStringParameters": {"full": "yes"}}})
    sqs.send_message(QueueUrl=src2, MessageBody=json.dumps({"id": 7}))
    got = received(out2)
    # the answer goes to the target as it is
    assert got == {"path": "/lookup/posts?full=yes", "method": "POST", "got": '{"post":7}'}, got
    method, path, body = http_target.requests[-1]
    assert (method, path, json.loads(body)) == ("POST", "/lookup/posts?full=yes", {"post": 7})
    assert http_target.headers[-1]["x-api-key"] == "k"
    # a failing enrichment leaves the message in the queue for another try
    http_target.fail["/lookup/posts"] = 500
    sqs.send_message(QueueUrl=src2, MessageBody=json.dumps({"id": 8}))
    assert received(out2, timeout=3) is None
    http_target.fail.clear()
    got = received(out2)
    assert got and json.loads(got["got"]) == {"post": 8}, got
