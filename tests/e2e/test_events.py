"""EventBridge through boto3 and the CLI against the real `shoal serve`: buses, rules, targets,
PutEvents, delivery to state machines, status-change events, scheduled rules."""

import datetime
import json
import os
import sqlite3
import shutil
import subprocess
import tempfile
import time

import boto3
import pytest
from zoneinfo import ZoneInfo

from conftest import BIN, Server, machine, next_0700_utc, virtual_now, wait_done

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def shoal(server, *args):
    env = dict(os.environ, SHOAL_ENDPOINT=server.url)
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=60)


def executions(sfn, arn, want, timeout=10):
    """Waits until the machine has `want` executions and returns their descriptions."""
    end = time.time() + timeout
    while True:
        # all pages: a day of five-minute schedules is more than one page of 100
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
        ex = [e for p in pages for e in p["executions"]]
        if len(ex) >= want or time.time() > end:
            return [wait_done(sfn, e["executionArn"]) for e in ex]
        time.sleep(0.02)


def test_buses_rules_and_targets(make_server):
    s = make_server()
    ev = s.client(service="events")
    sfn = s.client()
    target = machine(sfn, "t", PASS)
    # the default bus exists and stays
    assert [b["Name"] for b in ev.list_event_buses()["EventBuses"]] == ["default"]
    with pytest.raises(ev.exceptions.ResourceAlreadyExistsException):
        ev.create_event_bus(Name="default")
    arn = ev.create_event_bus(Name="orders", Description="shop")["EventBusArn"]
    assert arn == "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    assert ev.describe_event_bus(Name="orders")["Description"] == "shop"
    with pytest.raises(ev.exceptions.ResourceAlreadyExistsException):
        ev.create_event_bus(Name="orders")
    with pytest.raises(ev.exceptions.ResourceNotFoundException):
        ev.describe_event_bus(Name="nope")
    with pytest.raises(ev.exceptions.ClientError, match="Cannot delete event bus default"):
        ev.delete_event_bus(Name="default")
    # rules: validation as AWS does it
    with pytest.raises(ev.exceptions.InvalidEventPatternException):
        ev.put_rule(Name="bad", EventPattern='{"source": "not-a-list"}')
    with pytest.raises(ev.exceptions.ClientError, match="EventPattern or ScheduleExpression"):
        ev.put_rule(Name="empty")
    with pytest.raises(ev.exceptions.ClientError, match="only on the default event bus"):
        ev.put_rule(Name="s", EventBusName="orders", ScheduleExpression="rate(5 minutes)")
    with pytest.raises(ev.exceptions.ClientError, match="ScheduleExpression is not valid"):
        ev.put_rule(Name="s", ScheduleExpression="rate(5 minute)")
    with pytest.raises(ev.exceptions.ResourceNotFoundException):
        ev.put_rule(Name="r", EventBusName="nope", EventPattern='{"source": ["a"]}')
    rule_arn = ev.put_rule(Name="paid", EventBusName="orders", EventPattern='{"detail-type": ["paid"]}')["RuleArn"]
    assert rule_arn == "arn:aws:events:us-east-1:123456789012:rule/orders/paid"
    for n in ("a1", "a2", "a3"):
        ev.put_rule(Name=n, EventBusName="orders", EventPattern='{"source": ["a"]}', State="DISABLED")
    page = ev.list_rules(EventBusName="orders", NamePrefix="a", Limit=2)
    assert [r["Name"] for r in page["Rules"]] == ["a1", "a2"] and page["NextToken"]
    rest = ev.list_rules(EventBusName="orders", NamePrefix="a", Limit=2, NextToken=page["NextToken"])
    assert [r["Name"] for r in rest["Rules"]] == ["a3"] and "NextToken" not in rest
    with pytest.raises(ev.exceptions.ResourceNotFoundException, match="Rule nope does not exist on EventBus orders"):
        ev.describe_rule(Name="nope", EventBusName="orders")
    # targets
    with pytest.raises(ev.exceptions.ClientError, match="invalid placeholder"):
        ev.put_targets(Rule="paid", EventBusName="orders", Targets=[{"Id": "t", "Arn": target, "InputTransformer": {"InputPathsMap": {}, "InputTemplate": '{"x": <nope>}'}}])
    with pytest.raises(ev.exceptions.ClientError, match="Only one of Input, InputPath"):
        ev.put_targets(Rule="paid", EventBusName="orders", Targets=[{"Id": "t", "Arn": target, "Input": "{}", "InputPath": "$.detail"}])
    with pytest.raises(ev.exceptions.LimitExceededException):
        ev.put_targets(Rule="paid", EventBusName="orders", Targets=[{"Id": f"t{i}", "Arn": target} for i in range(6)])
    out = ev.put_targets(Rule="paid", EventBusName="orders", Targets=[{"Id": "t", "Arn": target, "InputPath": "$.detail"}])
    assert out["FailedEntryCount"] == 0
    assert ev.list_targets_by_rule(Rule="paid", EventBusName="orders")["Targets"] == [{"Id": "t", "Arn": target, "InputPath": "$.detail"}]
    assert ev.list_rule_names_by_target(TargetArn=target, EventBusName="orders")["RuleNames"] == ["paid"]
    with pytest.raises(ev.exceptions.ClientError, match="has targets"):
        ev.delete_rule(Name="paid", EventBusName="orders")
    out = ev.remove_targets(Rule="paid", EventBusName="orders", Ids=["t", "ghost"])
    assert out["FailedEntryCount"] == 1 and out["FailedEntries"][0]["TargetId"] == "ghost"
    ev.disable_rule(Name="paid", EventBusName="orders")
    assert ev.describe_rule(Name="paid", EventBusName="orders")["State"] == "DISABLED"
    ev.enable_rule(Name="paid", EventBusName="orders")
    ev.delete_rule(Name="paid", EventBusName="orders")
    assert [r["Name"] for r in ev.list_rules(EventBusName="orders")["Rules"]] == ["a1", "a2", "a3"]
    # TestEventPattern
    event = {"id": "1", "account": "1", "source": "a", "time": "2024-01-01T00:00:00Z", "region": "us-east-1", "detail-type": "x", "detail": {"n": 5}}
    assert ev.test_event_pattern(EventPattern='{"detail": {"n": [{"numeric": [">", 3]}]}}', Event=json.dumps(event))["Result"] is True
    with pytest.raises(ev.exceptions.ClientError, match="Event is not valid"):
        ev.test_event_pattern(EventPattern='{"source": ["a"]}', Event='{"source": "a"}')
    # tags on rules and buses (the default bus too)
    a1 = ev.describe_rule(Name="a1", EventBusName="orders")["Arn"]
    ev.tag_resource(ResourceARN=a1, Tags=[{"Key": "team", "Value": "data"}, {"Key": "x", "Value": "1"}])
    ev.untag_resource(ResourceARN=a1, TagKeys=["x"])
    assert ev.list_tags_for_resource(ResourceARN=a1)["Tags"] == [{"Key": "team", "Value": "data"}]
    default = ev.describe_event_bus()["Arn"]
    ev.tag_resource(ResourceARN=default, Tags=[{"Key": "env", "Value": "local"}])
    assert ev.list_tags_for_resource(ResourceARN=default)["Tags"] == [{"Key": "env", "Value": "local"}]
    with pytest.raises(ev.exceptions.ResourceNotFoundException):
        ev.list_tags_for_resource(ResourceARN=a1 + "-gone")
    ev.delete_event_bus(Name="orders")
    assert [b["Name"] for b in ev.list_event_buses()["EventBuses"]] == ["default"]


def test_put_events_routes_to_state_machines(make_server):
    s = make_server()
    ev, sfn = s.client(service="events"), s.client()
    target = machine(sfn, "orders", PASS)
    other = machine(sfn, "other", PASS)
    ev.create_event_bus(Name="shop")
    ev.put_rule(Name="big", EventBusName="shop", EventPattern=json.dumps({"source": ["shop"], "detail": {"total": [{"numeric": [">=", 100]}]}}))
    ev.put_targets(Rule="big", EventBusName="shop", Targets=[
        {"Id": "sm", "Arn": target, "InputTransformer": {
            "InputPathsMap": {"id": "$.detail.id", "total": "$.detail.total"},
            "InputTemplate": '{"order": <id>, "total": <total>, "rule": "<aws.events.rule-name>"}'}},
        {"Id": "whole", "Arn": other},
    ])
    out = ev.put_events(Entries=[
        {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": "o-1", "total": 150}), "EventBusName": "shop"},
        {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": "o-2", "total": 5}), "EventBusName": "shop"},
        {"Source": "aws.glue", "DetailType": "x", "Detail": "{}"},
        {"Source": "shop", "DetailType": "x", "Detail": "[1]"},
        {"DetailType": "x", "Detail": "{}"},
        {"Source": "shop", "DetailType": "x", "Detail": "{}", "EventBusName": "nope"},
    ])
    assert out["FailedEntryCount"] == 4
    codes = [e.get("ErrorCode") for e in out["Entries"]]
    assert codes == [None, None, "NotAuthorizedForSourceException", "MalformedDetail", "InvalidArgument", "ResourceNotFoundException"]
    assert "Source is a required argument" in out["Entries"][4]["ErrorMessage"]
    event_id = out["Entries"][0]["EventId"]
    # a state machine target has started by the time PutEvents answers
    assert len(sfn.list_executions(stateMachineArn=target)["executions"]) == 1
    assert len(sfn.list_executions(stateMachineArn=other)["executions"]) == 1
    [d] = executions(sfn, target, 1)
    assert json.loads(d["input"]) == {"order": "o-1", "total": 150, "rule": "big"}
    [whole] = executions(sfn, other, 1)
    event = json.loads(whole["input"])
    assert event["id"] == event_id and event["source"] == "shop" and event["detail-type"] == "order"
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]
    assert event["account"] == "123456789012" and event["region"] == "us-east-1"
    # AWS/Events counts the rule once for the event and each target the start delivered
    cw = s.client(service="cloudwatch")
    now = datetime.datetime.now(datetime.timezone.utc)

    def total(metric):
        r = cw.get_metric_statistics(Namespace="AWS/Events", MetricName=metric, Dimensions=[{"Name": "RuleName", "Value": "big"}],
                                     StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=5),
                                     Period=600, Statistics=["Sum"])
        return sum(p["Sum"] for p in r["Datapoints"])

    assert (total("TriggeredRules"), total("MatchedEvents"), total("Invocations")) == (1, 1, 2)
    time.sleep(0.3)
    assert len(sfn.list_executions(stateMachineArn=target)["executions"]) == 1, "the small order matched nothing"
    with pytest.raises(ev.exceptions.ClientError, match="between 1 and 10"):
        ev.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"}] * 11)
    with pytest.raises(ev.exceptions.ClientError, match="over the limit"):
        ev.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": json.dumps({"x": "y" * 270_000})}])
    # a target that does not exist is not retried; its delivery is kept as failed
    ev.put_rule(Name="lost", EventPattern='{"source": ["lost"]}')
    ev.put_targets(Rule="lost", Targets=[{"Id": "gone", "Arn": target.replace(":orders", ":gone")}])
    ev.put_events(Entries=[{"Source": "lost", "DetailType": "x", "Detail": "{}"}])
    for _ in range(100):
        r = shoal(s, "events", "failed")
        if "StateMachineDoesNotExist" in r.stdout:
            break
        time.sleep(0.05)
    assert r.returncode == 0 and "lost" in r.stdout and "StateMachineDoesNotExist" in r.stdout, r.stdout + r.stderr


def test_a_put_events_task_starts_the_machine_its_rule_targets(make_server):
    """An `events:putEvents` task (run from an executor thread) puts an event whose rule starts
    another machine: that start runs its first segment on the task's thread."""
    s = make_server()
    ev, sfn = s.client(service="events"), s.client()
    receiver = machine(sfn, "receiver", PASS)
    ev.put_rule(Name="orders", EventPattern=json.dumps({"source": ["app.orders"]}))
    ev.put_targets(Rule="orders", Targets=[{"Id": "sm", "Arn": receiver, "InputPath": "$.detail"}])
    emitter = machine(sfn, "emitter", {"StartAt": "Put", "States": {"Put": {
        "Type": "Task", "Resource": "arn:aws:states:::events:putEvents", "End": True,
        "Parameters": {"Entries": [{"Source": "app.orders", "DetailType": "placed",
                                    "Detail": {"id.$": "$.id"}}]}}}})
    for n in range(3):
        e = sfn.start_execution(stateMachineArn=emitter, input=json.dumps({"id": f"o-{n}"}))["executionArn"]
        d = wait_done(sfn, e)
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"])["FailedEntryCount"] == 0, d
    got = executions(sfn, receiver, 3)
    assert sorted(json.loads(d["output"])["id"] for d in got) == ["o-0", "o-1", "o-2"]
    assert all(d["status"] == "SUCCEEDED" for d in got)


def test_cost_control_end_to_end(make_server, moto, tmp_path):
    """The seed's cost-control workflow: a CloudTrail CreateSession event for an interactive Glue
    session starts a state machine that waits, then stops the session through aws-sdk:glue."""
    s = make_server("--virtual-clock", "--aws-endpoint", f"glue={moto}")
    ev, sfn = s.client(service="events"), s.client()
    glue = boto3.client("glue", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    session = "glue-studio-datapreview-6d3f"
    glue.create_session(Id=session, Role="arn:aws:iam::123456789012:role/g", Command={"Name": "glueetl", "PythonVersion": "3"})
    cost = machine(sfn, "glue-cost-control", {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 30, "Next": "Stop"},
        "Stop": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:stopSession",
                 "Parameters": {"Id.$": "$.session_id"},
                 "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "MaxAttempts": 3}],
                 "ResultPath": None, "Next": "Done"},
        "Done": {"Type": "Pass", "Parameters": {"message.$": "States.Format('Hi! Session {} was stopped.', $.session_id)"}, "End": True}}})
    ev.put_rule(Name="glue-create-session", EventPattern=json.dumps({
        "source": ["aws.glue"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["glue.amazonaws.com"], "eventName": ["CreateSession"]}}))
    ev.put_targets(Rule="glue-create-session", Targets=[{"Id": "stop", "Arn": cost, "InputTransformer": {
        "InputPathsMap": {"id": "$.detail.requestParameters.id"},
        "InputTemplate": '{"session_id": "<id>"}'}}])
    # clients may not pretend to be AWS services
    refused = ev.put_events(Entries=[{"Source": "aws.glue", "DetailType": "AWS API Call via CloudTrail", "Detail": "{}"}])
    assert refused["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"
    record = {"eventVersion": "1.09", "eventTime": "2024-06-14T09:00:00Z", "eventSource": "glue.amazonaws.com",
              "eventName": "CreateSession", "awsRegion": "us-east-1", "readOnly": False, "eventType": "AwsApiCall",
              "requestParameters": {"id": session, "command": {"name": "glueetl", "pythonVersion": "3"}}}
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": [
        record,
        {**record, "eventName": "GetSession", "readOnly": True},
        {**record, "eventName": "StopSession"},
    ]}))
    r = shoal(s, "events", "import-cloudtrail", str(trail))
    assert r.returncode == 0 and "3 event(s) put" in r.stdout, r.stdout + r.stderr
    [d] = executions(sfn, cost, 1)
    assert json.loads(d["input"]) == {"session_id": session}
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"message": f"Hi! Session {session} was stopped."}
    assert glue.get_session(Id=session)["Session"]["Status"] in ("STOPPING", "STOPPED")
    # a read-only call reaches a rule only when it is enabled for all management events
    ev.put_rule(Name="reads", EventPattern='{"detail": {"eventName": ["GetSession"]}}',
                State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
    reads = machine(sfn, "reads", PASS)
    ev.put_targets(Rule="reads", Targets=[{"Id": "r", "Arn": reads}])
    r = shoal(s, "events", "put", "--as-service", "--source", "aws.glue", "--detail-type", "AWS API Call via CloudTrail",
              "--detail", json.dumps({**record, "eventName": "GetSession", "readOnly": True}))
    assert r.returncode == 0, r.stderr
    assert len(executions(sfn, reads, 1)) == 1
    assert len(sfn.list_executions(stateMachineArn=cost)["executions"]) == 1


def test_status_change_events_drive_automatic_redrive(http_target):
    """AWS's automatic-redrive pattern: a rule on `Step Functions Execution Status Change`
    with status FAILED starts a machine that redrives the failed execution."""
    data = tempfile.mkdtemp(prefix="shoal-e2e-")
    s = Server(data)
    s.extra = ["--aws-endpoint", f"sfn={s.url}"]
    s.start()
    try:
        ev, sfn = s.client(service="events"), s.client()
        flaky = machine(sfn, "flaky", {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint.$": "$.url", "Method": "GET"}, "End": True}}})
        redriver = machine(sfn, "redriver", {"StartAt": "Redrive", "States": {"Redrive": {
            "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:redriveExecution",
            "Parameters": {"ExecutionArn.$": "$.executionArn"}, "End": True}}})
        ev.put_rule(Name="redrive-failed", EventPattern=json.dumps({
            "source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ["FAILED"], "stateMachineArn": [flaky], "redriveCount": [0]}}))
        ev.put_targets(Rule="redrive-failed", Targets=[{"Id": "r", "Arn": redriver, "InputPath": "$.detail"}])
        e = sfn.start_execution(stateMachineArn=flaky, input=json.dumps({"url": f"{http_target.url}/flaky/1"}))["executionArn"]
        end = time.time() + 15
        while time.time() < end:
            d = sfn.describe_execution(executionArn=e)
            if d["status"] == "SUCCEEDED":
                break
            time.sleep(0.05)
        assert d["status"] == "SUCCEEDED" and d["redriveCount"] == 1, d
        [r] = executions(sfn, redriver, 1)
        detail = json.loads(r["input"])
        assert detail["executionArn"] == e and detail["status"] == "FAILED"
        assert detail["redriveStatus"] == "REDRIVABLE" and detail["redriveCount"] == 0
        assert r["status"] == "SUCCEEDED", r
    finally:
        s.stop()
        shutil.rmtree(data, ignore_errors=True)


def test_scheduled_rules_on_the_virtual_clock(make_server):
    s = make_server("--virtual-clock")
    ev, sfn = s.client(service="events"), s.client()
    daily = machine(sfn, "daily", PASS)
    often = machine(sfn, "often", PASS)
    ev.put_rule(Name="seven", ScheduleExpression="cron(0 7 * * ? *)")
    ev.put_targets(Rule="seven", Targets=[{"Id": "d", "Arn": daily, "InputTransformer": {
        "InputPathsMap": {"t": "$.time", "type": "$.detail-type", "rule": "$.resources[0]"},
        "InputTemplate": '{"at": <t>, "type": <type>, "rule": <rule>}'}}])
    ev.put_rule(Name="five", ScheduleExpression="rate(5 minutes)")
    ev.put_targets(Rule="five", Targets=[{"Id": "o", "Arn": often}])
    t, next7 = next_0700_utc(s)
    # up to a minute before 07:00 nothing fires; the real clock does not move the virtual one
    r = shoal(s, "clock", "advance", f"{int(next7 - t - 60)}s")
    assert r.returncode == 0, r.stderr
    time.sleep(0.3)
    assert sfn.list_executions(stateMachineArn=daily)["executions"] == []
    fives = int((next7 - t - 60) // 300)
    assert len(executions(sfn, often, fives)) == fives
    shoal(s, "clock", "advance", "2m")
    [d] = executions(sfn, daily, 1)
    got = json.loads(d["input"])
    assert got["at"] == time.strftime("%Y-%m-%dT07:00:00Z", time.gmtime(next7)), got
    assert got["type"] == "Scheduled Event" and got["rule"].endswith(":rule/seven")
    # a disabled rule stops firing
    ev.disable_rule(Name="five")
    before = len(sfn.list_executions(stateMachineArn=often)["executions"])
    shoal(s, "clock", "advance", "1h")
    time.sleep(0.3)
    assert len(sfn.list_executions(stateMachineArn=often)["executions"]) == before
    r = shoal(s, "events", "rules")
    assert r.returncode == 0 and "cron(0 7 * * ? *)" in r.stdout and "DISABLED" in r.stdout, r.stdout


def test_api_destination_rate_limit(server, http_target):
    """InvocationRateLimitPerSecond: deliveries over the rate wait for a free second; none is
    lost and none spends a retry on it."""
    ev = server.client(service="events")
    conn = ev.create_connection(Name="c", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"}})["ConnectionArn"]
    dest = ev.create_api_destination(Name="slow", ConnectionArn=conn, InvocationEndpoint=http_target.url + "/slow",
                                     HttpMethod="POST", InvocationRateLimitPerSecond=2)["ApiDestinationArn"]
    assert ev.describe_api_destination(Name="slow")["InvocationRateLimitPerSecond"] == 2
    ev.put_rule(Name="slow", EventPattern='{"source": ["rl"]}')
    ev.put_targets(Rule="slow", Targets=[{"Id": "d", "Arn": dest, "RetryPolicy": {"MaximumRetryAttempts": 0}}])
    ev.put_events(Entries=[{"Source": "rl", "DetailType": "t", "Detail": json.dumps({"n": n})} for n in range(6)])
    end = time.time() + 15
    while time.time() < end and len(http_target.times) < 6:
        time.sleep(0.05)
    assert sorted(json.loads(b)["detail"]["n"] for _, _, b in http_target.requests) == list(range(6))
    times = sorted(http_target.times)
    # never more than 2 in any second, so 6 calls span at least 2 seconds
    assert all(times[i + 2] - times[i] >= 0.95 for i in range(len(times) - 2)), times
    assert times[-1] - times[0] >= 1.9, times


def test_api_destinations_retries_and_restart(make_server, http_target):
    """HTTP targets with the connection's authorization; retried answers (5xx, 429) are tried
    again under the RetryPolicy; a delivery waiting for its next attempt survives kill -9."""
    s = make_server("--wait-scale", "0.2")
    ev = s.client(service="events")
    basic = ev.create_connection(Name="basic", AuthorizationType="BASIC", AuthParameters={
        "BasicAuthParameters": {"Username": "u", "Password": "p"},
        "InvocationHttpParameters": {"HeaderParameters": [{"Key": "x-team", "Value": "data"}]}})["ConnectionArn"]
    key = ev.create_connection(Name="key", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "secret"}})["ConnectionArn"]
    oauth = ev.create_connection(Name="oauth", AuthorizationType="OAUTH_CLIENT_CREDENTIALS", AuthParameters={
        "OAuthParameters": {"AuthorizationEndpoint": f"{http_target.url}/oauth/token", "HttpMethod": "POST",
                            "ClientParameters": {"ClientID": "id", "ClientSecret": "s3"}}})["ConnectionArn"]
    with pytest.raises(ev.exceptions.ClientError, match="need"):
        ev.create_connection(Name="bad", AuthorizationType="API_KEY", AuthParameters={"BasicAuthParameters": {"Username": "u", "Password": "p"}})
    described = ev.describe_connection(Name="basic")
    assert described["AuthParameters"]["BasicAuthParameters"] == {"Username": "u"}, "secrets are never returned"
    dests = {}
    for name, conn, path in [("hook", basic, "/hook/*"), ("keyed", key, "/keyed"), ("token", oauth, "/token"),
                             ("down", basic, "/down"), ("flaky", basic, "/flaky/once"), ("bad", basic, "/bad")]:
        dests[name] = ev.create_api_destination(Name=name, ConnectionArn=conn, InvocationEndpoint=http_target.url + path,
                                                HttpMethod="POST")["ApiDestinationArn"]
    assert {d["Name"] for d in ev.list_api_destinations()["ApiDestinations"]} == set(dests)
    http_target.fail["/down"] = 503
    http_target.fail["/bad"] = 400
    ev.put_rule(Name="all", EventPattern='{"source": ["shop"]}')
    ev.put_targets(Rule="all", Targets=[
        {"Id": "hook", "Arn": dests["hook"], "InputPath": "$.detail", "HttpParameters": {"PathParameterValues": ["o 1"], "QueryStringParameters": {"q": "1"}}},
        {"Id": "keyed", "Arn": dests["keyed"]},
        {"Id": "token", "Arn": dests["token"]},
        {"Id": "down", "Arn": dests["down"], "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
         "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}},
        {"Id": "flaky", "Arn": dests["flaky"]},
    ])
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": 1})}])
    paths = lambda: [p for _, p, _ in http_target.requests]
    end = time.time() + 20
    while time.time() < end and not (paths().count("/down") == 3 and paths().count("/flaky/once") == 2):
        time.sleep(0.05)
    assert paths().count("/down") == 3, paths()
    assert paths().count("/flaky/once") == 2, "a 503 is retried once and then delivered"
    hook = [i for i, p in enumerate(paths()) if p.startswith("/hook/")]
    assert paths()[hook[0]] == "/hook/o%201?q=1"
    h = http_target.headers[hook[0]]
    assert h["authorization"] == "Basic dTpw" and h["x-team"] == "data"
    assert json.loads(http_target.requests[hook[0]][2]) == {"id": 1}
    assert http_target.headers[paths().index("/keyed")]["x-api-key"] == "secret"
    token = http_target.headers[paths().index("/token")]["authorization"]
    assert token == "Bearer token-for-Basic aWQ6czM=", token
    r = None
    for _ in range(100):
        r = shoal(s, "events", "failed")
        if "/down" in r.stdout:
            break
        time.sleep(0.05)
    assert "retries exhausted after 3 attempt(s)" in r.stdout and "503" in r.stdout, r.stdout
    # a 400 is final: one attempt
    ev.remove_targets(Rule="all", Ids=["hook", "keyed", "token", "down", "flaky"])
    ev.put_targets(Rule="all", Targets=[{"Id": "bad", "Arn": dests["bad"]}])
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": "{}"}])
    time.sleep(1)
    assert paths().count("/bad") == 1
    # kill -9 while a delivery waits for its next attempt; after the restart it is delivered
    ev.remove_targets(Rule="all", Ids=["bad"])
    ev.put_targets(Rule="all", Targets=[{"Id": "down", "Arn": dests["down"]}])
    before = paths().count("/down")
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": "{}"}])
    while paths().count("/down") == before:
        time.sleep(0.01)
    s.kill9()
    http_target.fail.pop("/down")
    s.start()
    end = time.time() + 20
    while time.time() < end and http_target.fail.get("/down") is None and paths().count("/down") < before + 2:
        time.sleep(0.05)
    assert paths().count("/down") == before + 2, "the stored delivery was tried again after the restart"


def test_archive_and_replay(make_server):
    s = make_server()
    ev, sfn = s.client(service="events"), s.client()
    target = machine(sfn, "orders", PASS)
    audit = machine(sfn, "audit", PASS)
    bus = ev.create_event_bus(Name="shop")["EventBusArn"]
    ev.put_rule(Name="orders", EventBusName="shop", EventPattern='{"source": ["shop"]}')
    rule = ev.describe_rule(Name="orders", EventBusName="shop")["Arn"]
    ev.put_targets(Rule="orders", EventBusName="shop", Targets=[{"Id": "sm", "Arn": target}])
    ev.put_rule(Name="audit", EventBusName="shop", EventPattern='{"source": ["shop"]}')
    ev.put_targets(Rule="audit", EventBusName="shop", Targets=[{"Id": "sm", "Arn": audit}])
    arch = ev.create_archive(ArchiveName="paid", EventSourceArn=bus, EventPattern='{"detail-type": ["paid"]}', RetentionDays=7)["ArchiveArn"]
    with pytest.raises(ev.exceptions.ResourceAlreadyExistsException):
        ev.create_archive(ArchiveName="paid", EventSourceArn=bus)
    t0 = time.time()
    for i in range(3):
        ev.put_events(Entries=[
            {"Source": "shop", "DetailType": "paid", "Detail": json.dumps({"n": i}), "EventBusName": "shop"},
            {"Source": "shop", "DetailType": "viewed", "Detail": json.dumps({"n": i}), "EventBusName": "shop"}])
    assert len(executions(sfn, target, 6)) == 6
    a = ev.describe_archive(ArchiveName="paid")
    assert a["EventCount"] == 3 and a["RetentionDays"] == 7 and a["SizeBytes"] > 0, a
    assert [x["ArchiveName"] for x in ev.list_archives(EventSourceArn=bus)["Archives"]] == ["paid"]
    with pytest.raises(ev.exceptions.ClientError, match="EventStartTime must be before EventEndTime"):
        ev.start_replay(ReplayName="r0", EventSourceArn=arch, EventStartTime=t0 + 60, EventEndTime=t0 - 60,
                        Destination={"Arn": bus})
    # replay the archived (paid) events to the orders rule only
    ev.start_replay(ReplayName="again", EventSourceArn=arch, EventStartTime=t0 - 60, EventEndTime=t0 + 600,
                    Destination={"Arn": bus, "FilterArns": [rule]})
    end = time.time() + 10
    while ev.describe_replay(ReplayName="again")["State"] != "COMPLETED" and time.time() < end:
        time.sleep(0.05)
    r = ev.describe_replay(ReplayName="again")
    assert r["State"] == "COMPLETED" and r["Destination"]["FilterArns"] == [rule], r
    done = executions(sfn, target, 9)
    assert len(done) == 9
    replayed = [json.loads(d["input"]) for d in done if "replay-name" in json.loads(d["input"])]
    assert sorted(e["detail"]["n"] for e in replayed) == [0, 1, 2] and {e["replay-name"] for e in replayed} == {"again"}
    assert all(e["detail-type"] == "paid" for e in replayed)
    time.sleep(0.3)
    assert len(sfn.list_executions(stateMachineArn=audit)["executions"]) == 6, "rules outside FilterArns get nothing"
    assert ev.describe_archive(ArchiveName="paid")["EventCount"] == 3, "replayed events are not archived again"
    with pytest.raises(ev.exceptions.IllegalStatusException):
        ev.cancel_replay(ReplayName="again")
    assert [x["ReplayName"] for x in ev.list_replays(State="COMPLETED")["Replays"]] == ["again"]
    ev.delete_archive(ArchiveName="paid")
    with pytest.raises(ev.exceptions.ResourceNotFoundException):
        ev.describe_archive(ArchiveName="paid")


def test_scheduler_api_and_fires(make_server):
    """EventBridge Scheduler: groups, schedules in a time zone, at() with
    ActionAfterCompletion DELETE, templated StartExecution and PutEvents targets."""
    s = make_server("--virtual-clock")
    sch, ev, sfn = s.client(service="scheduler"), s.client(service="events"), s.client()
    role = "arn:aws:iam::123456789012:role/scheduler"
    daily = machine(sfn, "daily", PASS)
    once = machine(sfn, "once", PASS)
    sink = machine(sfn, "sink", PASS)
    ev.put_rule(Name="from-scheduler", EventPattern='{"source": ["my.scheduler"]}')
    ev.put_targets(Rule="from-scheduler", Targets=[{"Id": "s", "Arn": sink}])
    assert [g["Name"] for g in sch.list_schedule_groups()["ScheduleGroups"]] == ["default"]
    sch.create_schedule_group(Name="pipeline")
    with pytest.raises(sch.exceptions.ConflictException):
        sch.create_schedule_group(Name="pipeline")
    with pytest.raises(sch.exceptions.ValidationException, match="Invalid Schedule Expression"):
        sch.create_schedule(Name="bad", ScheduleExpression="cron(0 7 * * *)", FlexibleTimeWindow={"Mode": "OFF"},
                            Target={"Arn": daily, "RoleArn": role})
    with pytest.raises(sch.exceptions.ValidationException, match="Timezone"):
        sch.create_schedule(Name="bad", ScheduleExpression="rate(1 hour)", ScheduleExpressionTimezone="Mars/Base",
                            FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": daily, "RoleArn": role})
    with pytest.raises(sch.exceptions.ResourceNotFoundException):
        sch.create_schedule(Name="x", GroupName="nope", ScheduleExpression="rate(1 hour)",
                            FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": daily, "RoleArn": role})
    # 07:00 in London, every day. The virtual clock starts at the real time: move it to the next
    # 06:55 in London first, so that the same 07:00s fall in the test's advances whenever it runs
    london = ZoneInfo("Europe/London")
    start = virtual_now(s).astimezone(london)
    at_0655 = datetime.datetime.combine(start.date(), datetime.time(6, 55), london)
    if at_0655 <= start:
        at_0655 = datetime.datetime.combine(start.date() + datetime.timedelta(days=1), datetime.time(6, 55), london)
    r = shoal(s, "clock", "advance", f"{int((at_0655 - start).total_seconds()) + 1}s")
    assert r.returncode == 0, r.stderr
    arn = sch.create_schedule(Name="wordpress", GroupName="pipeline", ScheduleExpression="cron(0 7 * * ? *)",
                              ScheduleExpressionTimezone="Europe/London", FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": daily, "RoleArn": role,
                                      "Input": '{"at": "<aws.scheduler.scheduled-time>", "by": "<aws.scheduler.schedule-arn>"}'})["ScheduleArn"]
    assert arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/pipeline/wordpress"
    with pytest.raises(sch.exceptions.ConflictException):
        sch.create_schedule(Name="wordpress", GroupName="pipeline", ScheduleExpression="rate(1 hour)",
                            FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": daily, "RoleArn": role})
    got = sch.get_schedule(Name="wordpress", GroupName="pipeline")
    assert got["ScheduleExpressionTimezone"] == "Europe/London" and got["State"] == "ENABLED"
    t = virtual_now(s).timestamp()
    # a one-time schedule ten minutes from now that deletes itself, putting an event on the bus
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + 600))
    sch.create_schedule(Name="once", ScheduleExpression=f"at({at})", FlexibleTimeWindow={"Mode": "OFF"},
                        ActionAfterCompletion="DELETE",
                        Target={"Arn": "arn:aws:events:us-east-1:123456789012:event-bus/default", "RoleArn": role,
                                "Input": '{"job": "once"}',
                                "EventBridgeParameters": {"DetailType": "Run", "Source": "my.scheduler"}})
    sch.create_schedule(Name="later", ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
                        Target={"Arn": once, "RoleArn": role}, State="DISABLED")
    names = [x["Name"] for x in sch.list_schedules()["Schedules"]]
    assert names == ["later", "once", "wordpress"], names
    r = shoal(s, "schedule", "list")
    assert r.returncode == 0, r.stderr
    row = [l for l in r.stdout.splitlines() if "pipeline/wordpress" in l]
    assert row and "Europe/London" in row[0] and "cron(0 7 * * ? *)" in row[0] and "ENABLED" in row[0], r.stdout
    assert "(virtual)" in r.stdout
    assert [x["Name"] for x in sch.list_schedules(GroupName="pipeline")["Schedules"]] == ["wordpress"]
    shoal(s, "clock", "advance", "11m")
    [e] = executions(sfn, sink, 1)
    event = json.loads(e["input"])
    assert event["source"] == "my.scheduler" and event["detail-type"] == "Run" and event["detail"] == {"job": "once"}
    assert event["time"] == at + "Z" and event["resources"][0].endswith(":schedule/default/once")
    for _ in range(50):
        if [x["Name"] for x in sch.list_schedules()["Schedules"]] == ["later", "wordpress"]:
            break
        time.sleep(0.05)
    with pytest.raises(sch.exceptions.ResourceNotFoundException):
        sch.get_schedule(Name="once")
    # two days later (and two hours, for a change of summer time on the way) the London schedule
    # has fired at 07:00 local time three times: within the eleven minutes above, and on each day
    shoal(s, "clock", "advance", "50h")
    runs = executions(sfn, daily, 3)
    assert len(runs) == 3, runs
    for r in runs:
        inp = json.loads(r["input"])
        local = datetime.datetime.fromisoformat(inp["at"].replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/London"))
        assert inp["by"] == arn
        assert (local.hour, local.minute) == (7, 0), inp
    assert sfn.list_executions(stateMachineArn=once)["executions"] == [], "a disabled schedule does not fire"
    sch.update_schedule(Name="later", ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
                        Target={"Arn": once, "RoleArn": role}, State="ENABLED")
    shoal(s, "clock", "advance", "25h")
    assert len(executions(sfn, once, 1)) == 1
    sch.delete_schedule_group(Name="pipeline")
    assert [x["Name"] for x in sch.list_schedules()["Schedules"]] == ["later"]


def test_rule_changes_route_the_next_event(server):
    """A bus with events flowing has its rules compiled again by each change: the very next
    PutEvents routes by the changed rule, its targets and its state."""
    ev = server.client(service="events")
    sqs = server.client(service="sqs")
    urls = {q: sqs.create_queue(QueueName=q)["QueueUrl"] for q in ["a", "b"]}
    arn = {q: f"arn:aws:sqs:us-east-1:123456789012:{q}" for q in urls}

    def put(source):
        assert ev.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])["FailedEntryCount"] == 0

    def got(q):
        msgs = sqs.receive_message(QueueUrl=urls[q], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            sqs.delete_message(QueueUrl=urls[q], ReceiptHandle=m["ReceiptHandle"])
        return sorted(json.loads(m["Body"])["source"] for m in msgs)

    ev.put_rule(Name="r", EventPattern=json.dumps({"source": ["one"]}))
    ev.put_targets(Rule="r", Targets=[{"Id": "a", "Arn": arn["a"]}])
    put("one")
    assert got("a") == ["one"]
    ev.put_rule(Name="r", EventPattern=json.dumps({"source": ["two"]}))
    put("one")
    put("two")
    assert got("a") == ["two"]
    ev.put_targets(Rule="r", Targets=[{"Id": "b", "Arn": arn["b"]}])
    ev.remove_targets(Rule="r", Ids=["a"])
    put("two")
    assert got("b") == ["two"] and got("a") == []
    ev.disable_rule(Name="r")
    put("two")
    assert got("b") == []
    ev.enable_rule(Name="r")
    put("two")
    assert got("b") == ["two"]


def test_archived_events_past_the_retention_are_deleted(server):
    ev = server.client(service="events")
    bus = ev.create_event_bus(Name="kept")["EventBusArn"]
    ev.create_archive(ArchiveName="all", EventSourceArn=bus)
    now = datetime.datetime.now(datetime.timezone.utc)
    ev.put_events(Entries=[{"Source": "app", "DetailType": "old", "Detail": "{}", "EventBusName": "kept", "Time": now - datetime.timedelta(days=3)},
                           {"Source": "app", "DetailType": "new", "Detail": "{}", "EventBusName": "kept", "Time": now}])
    end = time.time() + 10
    while ev.describe_archive(ArchiveName="all")["EventCount"] < 2 and time.time() < end:
        time.sleep(0.05)
    assert ev.describe_archive(ArchiveName="all")["EventCount"] == 2
    ev.update_archive(ArchiveName="all", RetentionDays=1)
    assert ev.describe_archive(ArchiveName="all")["EventCount"] == 1
    with sqlite3.connect(os.path.join(server.data, "shoal.db")) as db:
        assert db.execute("SELECT count(*) FROM records WHERE kind = 'events.archived'").fetchone()[0] == 1
