"""SNS through boto3 and the AWS CLI against the real `shoal serve`: topics, subscriptions with
filter policies, delivery to queues, HTTP endpoints and real SMTP, the outbox, retries."""

import base64
import json
import os
import re
import subprocess
import time
import urllib.request

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from conftest import BIN, aws_cli

SIGNED = {"Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
          "SubscriptionConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]}


def verify_signature(msg):
    """Checks an SNS message's signature the way AWS's documentation tells subscribers to:
    the certificate from SigningCertURL, the signed fields as name/value lines, SHA1withRSA for
    SignatureVersion 1 and SHA256withRSA for 2. Raises InvalidSignature when it does not hold."""
    with urllib.request.urlopen(msg["SigningCertURL"]) as r:
        cert = x509.load_pem_x509_certificate(r.read())
    text = "".join(f"{k}\n{msg[k]}\n" for k in SIGNED[msg["Type"]] if k in msg)
    algorithm = hashes.SHA256() if msg["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(msg["Signature"]), text.encode(), padding.PKCS1v15(), algorithm)


def receive(sqs, url, n, timeout=10):
    got, deadline = [], time.time() + timeout
    while len(got) < n and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                     MessageAttributeNames=["All"]).get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_topics_subscriptions_and_queue_delivery(make_server):
    s = make_server()
    sns, sqs = s.client(service="sns"), s.client(service="sqs")
    arn = sns.create_topic(Name="pipeline-failures", Attributes={"DisplayName": "Pipeline"})["TopicArn"]
    assert arn == "arn:aws:sns:us-east-1:123456789012:pipeline-failures"
    assert sns.create_topic(Name="pipeline-failures", Attributes={"DisplayName": "Pipeline"})["TopicArn"] == arn
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.create_topic(Name="bad name")
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.publish(TopicArn=arn + "x", Message="m")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Pipeline" and attrs["Owner"] == "123456789012"

    all_url, all_arn = queue(sqs, "all")
    raw_url, raw_arn = queue(sqs, "raw-errors")
    sub_all = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=all_arn)["SubscriptionArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=raw_arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"stage": ["raw"], "count": [{"numeric": [">", 0]}]})})
    with pytest.raises(sns.exceptions.InvalidParameterException, match="FilterPolicy"):
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=all_arn + "2", Attributes={"FilterPolicy": "{not json"})
    with pytest.raises(sns.exceptions.InvalidParameterException, match="protocol"):
        sns.subscribe(TopicArn=arn, Protocol="carrier-pigeon", Endpoint="x")
    assert len(sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]) == 2

    sns.publish(TopicArn=arn, Subject="Ran With Failures", Message="posts returned nothing",
                MessageAttributes={"stage": {"DataType": "String", "StringValue": "raw"},
                                   "count": {"DataType": "Number", "StringValue": "2"}})
    sns.publish(TopicArn=arn, Message="bronze is late", MessageAttributes={"stage": {"DataType": "String", "StringValue": "bronze"}})
    everything = receive(sqs, all_url, 2)
    notes = sorted((json.loads(m["Body"]) for m in everything), key=lambda n: n["Message"])
    assert [n["Message"] for n in notes] == ["bronze is late", "posts returned nothing"]
    n = notes[1]
    assert (n["Type"], n["TopicArn"], n["Subject"]) == ("Notification", arn, "Ran With Failures")
    assert n["MessageAttributes"]["stage"] == {"Type": "String", "Value": "raw"}
    assert "Action=Unsubscribe" in n["UnsubscribeURL"]
    verify_signature(n)  # queue deliveries are signed too
    assert "Signature" not in n["MessageAttributes"]
    raw = receive(sqs, raw_url, 1)
    assert [m["Body"] for m in raw] == ["posts returned nothing"]
    assert raw[0]["MessageAttributes"]["stage"]["StringValue"] == "raw"
    assert receive(sqs, raw_url, 1, timeout=1.5) == []

    # per-protocol messages and batches
    sns.publish(TopicArn=arn, MessageStructure="json", Message=json.dumps({"default": "d", "sqs": "for queues"}))
    assert json.loads(receive(sqs, all_url, 1)[0]["Body"])["Message"] == "for queues"
    with pytest.raises(sns.exceptions.InvalidParameterException, match="default"):
        sns.publish(TopicArn=arn, MessageStructure="json", Message=json.dumps({"sqs": "x"}))
    r = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "one"}, {"Id": "b", "Message": "two"}, {"Id": "c", "Message": ""}])
    assert sorted(x["Id"] for x in r["Successful"]) == ["a", "b"] and r["Failed"][0]["Id"] == "c"
    assert sorted(json.loads(m["Body"])["Message"] for m in receive(sqs, all_url, 2)) == ["one", "two"]

    # the unsubscribe link in a notification works as on AWS
    with urllib.request.urlopen(n["UnsubscribeURL"]) as resp:
        assert resp.status == 200
    assert [x["Endpoint"] for x in sns.list_subscriptions()["Subscriptions"]] == [raw_arn]
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_subscription_attributes(SubscriptionArn=sub_all)
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "data"}])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    sns.delete_topic(TopicArn=arn)
    assert sns.list_topics()["Topics"] == []


def test_email_through_smtp_with_confirmation(make_server, smtp):
    port, inbox = smtp
    s = make_server("--smtp", f"smtp://127.0.0.1:{port}", "--smtp-from", "alerts@example.com", "--wait-scale", "0.001")
    sns = s.client(service="sns")
    arn = sns.create_topic(Name="failures", Attributes={"DisplayName": "WordPress pipeline"})["TopicArn"]
    assert sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="me@example.com")["SubscriptionArn"] == "pending confirmation"
    confirm = inbox.wait(1)[0]
    assert confirm["to"] == ["me@example.com"] and confirm["from"] == "alerts@example.com"
    assert "Subscription Confirmation" in confirm["subject"]
    # nothing goes to an unconfirmed address
    sns.publish(TopicArn=arn, Message="early")
    link = re.search(r"(http://\S+Action=ConfirmSubscription\S+)", confirm["body"]).group(1)
    with urllib.request.urlopen(link) as resp:
        assert b"ConfirmSubscriptionResult" in resp.read()
    sub = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"][0]
    assert sub["SubscriptionArn"].startswith(arn + ":")
    # the SMTP server refuses twice; the message still arrives (retried, not lost)
    inbox.refuse = 2
    sns.publish(TopicArn=arn, Subject="Ran With Failures", Message="posts endpoint returned nothing")
    mails = inbox.wait(2)
    assert len(mails) == 2
    m = mails[1]
    assert m["subject"] == "Ran With Failures" and m["body"].startswith("posts endpoint returned nothing")
    assert "Action=Unsubscribe" in m["body"]


def test_outbox_without_smtp_and_http_endpoints(make_server, http_target):
    s = make_server("--wait-scale", "0.001")
    sns = s.client(service="sns")
    arn = sns.create_topic(Name="t")["TopicArn"]
    sub = sns.subscribe(TopicArn=arn, Protocol="email-json", Endpoint="ops@example.com", ReturnSubscriptionArn=True)["SubscriptionArn"]
    token = None
    deadline = time.time() + 10
    while token is None and time.time() < deadline:
        out = subprocess.run([BIN, "mail", "--endpoint", s.url, "--json"], capture_output=True, text=True, check=True)
        mail = json.loads(out.stdout)
        if mail:
            token = re.search(r"Token=([0-9a-f]+)", mail[0]["body"]).group(1)
        time.sleep(0.05)
    assert sns.confirm_subscription(TopicArn=arn, Token=token)["SubscriptionArn"] == sub
    sns.publish(TopicArn=arn, Message="hello")
    deadline = time.time() + 10
    while time.time() < deadline:
        text = subprocess.run([BIN, "mail", "--endpoint", s.url, "--to", "ops@example.com"], capture_output=True, text=True, check=True).stdout
        if '"Message" : "hello"' in text or '"Message": "hello"' in text:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(text)

    # HTTP: the confirmation request (refused once with a 503, then retried), then
    # notifications with SNS's headers
    srv = http_target
    endpoint = f"{srv.url}/flaky/sns"
    sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint,
                  Attributes={"DeliveryPolicy": json.dumps({"healthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 1, "maxDelayTarget": 1}})})

    def posts(kind):
        return [(json.loads(body), h) for (m, path, body), h in zip(list(srv.requests), list(srv.headers))
                if path == "/flaky/sns" and h.get("x-amz-sns-message-type") == kind]

    deadline = time.time() + 10
    while len(posts("SubscriptionConfirmation")) < 2 and time.time() < deadline:
        time.sleep(0.05)
    confirmations = posts("SubscriptionConfirmation")
    assert len(confirmations) == 2, "the first attempt got a 503 and was retried"
    with urllib.request.urlopen(confirmations[0][0]["SubscribeURL"]) as resp:
        assert resp.status == 200
    sns.publish(TopicArn=arn, Message="to http")
    deadline = time.time() + 10
    while not posts("Notification") and time.time() < deadline:
        time.sleep(0.05)
    note, headers = posts("Notification")[0]
    assert note["Message"] == "to http" and note["Type"] == "Notification"
    assert headers["x-amz-sns-topic-arn"] == arn and headers["x-amz-sns-subscription-arn"].startswith(arn + ":")
    assert headers["content-type"].startswith("text/plain")

    # every message is signed as AWS signs it: version 1 (SHA1) by default, 2 (SHA256) when the
    # topic asks; a changed field breaks the signature
    verify_signature(confirmations[0][0])
    assert note["SignatureVersion"] == "1" and note["SigningCertURL"].startswith(s.url + "/SimpleNotificationService-")
    verify_signature(note)
    tampered = dict(note, Message="to someone else")
    with pytest.raises(InvalidSignature):
        verify_signature(tampered)
    with pytest.raises(sns.exceptions.InvalidParameterException, match="SignatureVersion"):
        sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="3")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=arn, Message="signed twice over", Subject="v2")
    deadline = time.time() + 10
    while len(posts("Notification")) < 2 and time.time() < deadline:
        time.sleep(0.05)
    v2 = posts("Notification")[1][0]
    assert v2["SignatureVersion"] == "2" and v2["Subject"] == "v2"
    verify_signature(v2)
    with pytest.raises(InvalidSignature):
        verify_signature(dict(v2, SignatureVersion="1"))


def test_aws_cli_sns(make_server):
    s = make_server()
    arn = json.loads(aws_cli(s, "sns", "create-topic", "--name", "cli-topic").stdout)["TopicArn"]
    q = json.loads(aws_cli(s, "sqs", "create-queue", "--queue-name", "cli-q").stdout)["QueueUrl"]
    qarn = f"arn:aws:sqs:us-east-1:123456789012:cli-q"
    aws_cli(s, "sns", "subscribe", "--topic-arn", arn, "--protocol", "sqs", "--notification-endpoint", qarn)
    aws_cli(s, "sns", "publish", "--topic-arn", arn, "--message", "from the cli", "--subject", "hi")
    deadline = time.time() + 10
    while time.time() < deadline:
        out = aws_cli(s, "sqs", "receive-message", "--queue-url", q, "--wait-time-seconds", "1").stdout
        if out.strip():
            break
    assert json.loads(json.loads(out)["Messages"][0]["Body"])["Message"] == "from the cli"
    topics = json.loads(aws_cli(s, "sns", "list-topics").stdout)["Topics"]
    assert topics == [{"TopicArn": arn}]


def test_state_machine_publishes_with_catch(make_server, smtp):
    """The seed's shape: a failing task caught, then `sns:publish` emails the failure."""
    port, inbox = smtp
    s = make_server("--smtp", f"smtp://127.0.0.1:{port}")
    sns, sqs, sfn = s.client(service="sns"), s.client(service="sqs"), s.client()
    topic = sns.create_topic(Name="failures")["TopicArn"]
    url, qarn = queue(sqs, "audit")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="me@example.com")
    link = re.search(r"(http://\S+Action=ConfirmSubscription\S+)", inbox.wait(1)[0]["body"]).group(1)
    urllib.request.urlopen(link).read()
    definition = {
        "StartAt": "Raw",
        "States": {
            "Raw": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                    "Parameters": {"TopicArn": topic + "-missing", "Message": "never"},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify"}],
                    "End": True},
            "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                       "Parameters": {"TopicArn": topic, "Subject": "Ran With Failures",
                                      "Message.$": "$.error",
                                      "MessageAttributes": {"stage": {"DataType": "String", "StringValue": "raw"}}},
                       "ResultSelector": {"id.$": "$.MessageId"},
                       "Next": "Queue"},
            "Queue": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                      "Parameters": {"QueueUrl": url, "MessageBody": {"published.$": "$.id"}}, "End": True},
        },
    }
    arn = sfn.create_state_machine(name="raw", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
    e = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    deadline = time.time() + 20
    while (d := sfn.describe_execution(executionArn=e))["status"] == "RUNNING" and time.time() < deadline:
        time.sleep(0.05)
    assert d["status"] == "SUCCEEDED", d
    msgs = receive(sqs, url, 2)
    bodies = [json.loads(m["Body"]) for m in msgs]
    note = next(b for b in bodies if b.get("Type") == "Notification")
    caught = json.loads(note["Message"])
    assert caught["Error"] == "SNS.NotFoundException"
    assert note["Subject"] == "Ran With Failures" and note["MessageAttributes"]["stage"]["Value"] == "raw"
    assert {"published": note["MessageId"]} in bodies
    mail = inbox.wait(2)[1]
    assert mail["subject"] == "Ran With Failures" and "SNS.NotFoundException" in mail["body"]


def test_pending_deliveries_survive_kill9(make_server, http_target):
    """Messages acknowledged by Publish and not yet delivered (the endpoint answers 503) are
    delivered after a kill -9 and a restart."""
    s = make_server("--wait-scale", "0.002")
    sns = s.client(service="sns")
    topic = sns.create_topic(Name="durable")["TopicArn"]
    srv = http_target
    srv.fail["/hook"] = 503
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{srv.url}/hook", Attributes={
        "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 1, "maxDelayTarget": 1}})})
    deadline = time.time() + 10
    while not srv.requests and time.time() < deadline:
        time.sleep(0.05)
    confirm = json.loads(srv.requests[0][2])
    srv.fail.pop("/hook")
    urllib.request.urlopen(confirm["SubscribeURL"]).read()
    srv.fail["/hook"] = 503
    ids = [sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"] for i in range(10)]
    time.sleep(0.3)
    s.kill9()
    with srv.lock:
        before = len(srv.requests)
        srv.fail.pop("/hook")
    s.start()
    deadline = time.time() + 20
    got = set()
    while len(got) < 10 and time.time() < deadline:
        with srv.lock:
            # only what the restarted server delivered (the endpoint answers 200 from now on)
            # (a request the killed server had begun may arrive cut short, with no body)
            for (m, path, body), h in zip(srv.requests[before:], srv.headers[before:]):
                if h.get("x-amz-sns-message-type") == "Notification" and body:
                    got.add(json.loads(body)["MessageId"])
        time.sleep(0.1)
    assert got == set(ids)
