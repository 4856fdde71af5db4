"""CloudWatch metrics and alarms through boto3 and the AWS CLI against the real `shoal serve`:
custom metrics, the metrics shoal's services emit, and the seed's alarm — a failing state
machine raises ExecutionsFailed, the alarm emails through its topic and goes back to OK —
on the virtual clock; CloudWatch Logs' acceptance window and retention."""

import json
import os
import re
import sqlite3
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from conftest import BIN, ROLE, aws_cli


def shoal(server, *args):
    env = dict(os.environ, SHOAL_ENDPOINT=server.url)
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=60)


def test_custom_metrics_and_statistics(make_server):
    s = make_server()
    cw = s.client(service="cloudwatch")
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    cw.put_metric_data(Namespace="Lakehouse", MetricData=[
        {"MetricName": "RowsLoaded", "Dimensions": [{"Name": "Table", "Value": "posts"}], "Timestamp": now, "Value": 10, "Unit": "Count"},
        {"MetricName": "RowsLoaded", "Dimensions": [{"Name": "Table", "Value": "posts"}], "Timestamp": now + timedelta(seconds=30), "Value": 30, "Unit": "Count"},
        {"MetricName": "RowsLoaded", "Dimensions": [{"Name": "Table", "Value": "posts"}], "Timestamp": now + timedelta(minutes=1), "Values": [1, 2], "Counts": [1, 3]},
        {"MetricName": "RowsLoaded", "Dimensions": [{"Name": "Table", "Value": "tags"}], "Timestamp": now, "StatisticValues": {"SampleCount": 2, "Sum": 5, "Minimum": 1, "Maximum": 4}},
    ])
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="AWS/States", MetricData=[{"MetricName": "x", "Value": 1}])
    r = cw.get_metric_statistics(Namespace="Lakehouse", MetricName="RowsLoaded", Dimensions=[{"Name": "Table", "Value": "posts"}],
                                 StartTime=now, EndTime=now + timedelta(minutes=5), Period=60,
                                 Statistics=["Sum", "SampleCount", "Average", "Minimum", "Maximum"])
    points = sorted(r["Datapoints"], key=lambda p: p["Timestamp"])
    assert [(p["Sum"], p["SampleCount"], p["Minimum"], p["Maximum"]) for p in points] == [(40, 2, 10, 30), (7, 4, 1, 2)]
    assert points[0]["Average"] == 20 and points[0]["Unit"] == "Count"
    wide = cw.get_metric_statistics(Namespace="Lakehouse", MetricName="RowsLoaded", Dimensions=[{"Name": "Table", "Value": "posts"}],
                                    StartTime=now, EndTime=now + timedelta(minutes=5), Period=300, Statistics=["Sum"])
    assert [p["Sum"] for p in wide["Datapoints"]] == [47]
    data = cw.get_metric_data(StartTime=now, EndTime=now + timedelta(minutes=5), MetricDataQueries=[
        {"Id": "tags", "MetricStat": {"Metric": {"Namespace": "Lakehouse", "MetricName": "RowsLoaded",
                                                 "Dimensions": [{"Name": "Table", "Value": "tags"}]}, "Period": 60, "Stat": "Maximum"}}])
    assert data["MetricDataResults"][0]["Values"] == [4]
    listed = cw.list_metrics(Namespace="Lakehouse")["Metrics"]
    assert sorted(m["Dimensions"][0]["Value"] for m in listed) == ["posts", "tags"]
    out = json.loads(aws_cli(s, "cloudwatch", "get-metric-statistics", "--namespace", "Lakehouse", "--metric-name", "RowsLoaded",
                             "--dimensions", "Name=Table,Value=tags", "--start-time", now.isoformat(),
                             "--end-time", (now + timedelta(minutes=5)).isoformat(), "--period", "60", "--statistics", "Sum").stdout)
    assert [p["Sum"] for p in out["Datapoints"]] == [5]
    aws_cli(s, "cloudwatch", "put-metric-data", "--namespace", "Cli", "--metric-name", "Hits", "--value", "3")
    assert json.loads(aws_cli(s, "cloudwatch", "list-metrics", "--namespace", "Cli").stdout)["Metrics"][0]["MetricName"] == "Hits"
    # stored: still there after a restart
    time.sleep(1.5)
    s.stop()
    s.start()
    cw = s.client(service="cloudwatch")
    again = cw.get_metric_statistics(Namespace="Lakehouse", MetricName="RowsLoaded", Dimensions=[{"Name": "Table", "Value": "posts"}],
                                     StartTime=now, EndTime=now + timedelta(minutes=5), Period=300, Statistics=["Sum"])
    assert [p["Sum"] for p in again["Datapoints"]] == [47]
    # percentiles: of single values and Values/Counts, within 1%; none over statistic sets
    later = now + timedelta(minutes=10)
    cw.put_metric_data(Namespace="Lakehouse", MetricData=[
        {"MetricName": "Latency", "Timestamp": later, "Values": [float(v) for v in range(1, 101)], "Counts": [1.0] * 99 + [901.0]},
        {"MetricName": "Latency", "Timestamp": later, "Value": 0},
    ])
    r = cw.get_metric_statistics(Namespace="Lakehouse", MetricName="Latency", StartTime=later, EndTime=later + timedelta(minutes=1),
                                 Period=60, ExtendedStatistics=["p50", "p5", "p99.9"])
    [p] = r["Datapoints"]
    ext = p["ExtendedStatistics"]
    assert abs(ext["p5"] - 50) <= 0.5 and ext["p50"] == 100 and ext["p99.9"] == 100, p
    data = cw.get_metric_data(StartTime=later, EndTime=later + timedelta(minutes=1), MetricDataQueries=[
        {"Id": "p", "MetricStat": {"Metric": {"Namespace": "Lakehouse", "MetricName": "Latency"}, "Period": 60, "Stat": "p0"}},
        {"Id": "tags", "MetricStat": {"Metric": {"Namespace": "Lakehouse", "MetricName": "RowsLoaded",
                                                 "Dimensions": [{"Name": "Table", "Value": "tags"}]}, "Period": 60, "Stat": "p50"}}],
        ScanBy="TimestampAscending")
    assert [d["Values"] for d in data["MetricDataResults"]] == [[0.0], []], data
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.get_metric_statistics(Namespace="Lakehouse", MetricName="Latency", StartTime=later, EndTime=later, Period=60,
                                 ExtendedStatistics=["p101"])
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException):
        cw.get_metric_statistics(Namespace="Lakehouse", MetricName="Latency", StartTime=later, EndTime=later, Period=60)
    cw.put_metric_alarm(AlarmName="slow", Namespace="Lakehouse", MetricName="Latency", ExtendedStatistic="p90", Period=60,
                        EvaluationPeriods=1, Threshold=500, ComparisonOperator="GreaterThanThreshold")
    a = cw.describe_alarms(AlarmNames=["slow"])["MetricAlarms"][0]
    assert a["ExtendedStatistic"] == "p90" and "Statistic" not in a, a


def test_seed_alarm_on_failed_executions(make_server, smtp):
    port, inbox = smtp
    s = make_server("--virtual-clock", "--smtp", f"smtp://127.0.0.1:{port}")
    sfn, sns, cw, ev, sqs = (s.client(service=n) for n in ["stepfunctions", "sns", "cloudwatch", "events", "sqs"])
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    urllib.request.urlopen(re.search(r"(http://\S+Action=ConfirmSubscription\S+)", inbox.wait(1)[0]["body"]).group(1)).read()
    q = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
    ev.put_rule(Name="alarms", EventPattern=json.dumps({"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}))
    ev.put_targets(Rule="alarms", Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:alarm-events"}])
    machine = sfn.create_state_machine(name="WordPress_Raw_To_Bronze", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Raw.Failed", "Cause": "no posts"}}}))["stateMachineArn"]
    cw.put_metric_alarm(AlarmName="sfn-failures", Namespace="AWS/States", MetricName="ExecutionsFailed",
                        Dimensions=[{"Name": "StateMachineArn", "Value": machine}], Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[topic], OKActions=[topic])
    state = lambda: cw.describe_alarms(AlarmNames=["sfn-failures"])["MetricAlarms"][0]
    assert state()["StateValue"] in ("OK", "INSUFFICIENT_DATA")
    e = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.time() + 10
    while sfn.describe_execution(executionArn=e)["status"] == "RUNNING" and time.time() < deadline:
        time.sleep(0.05)
    done = sfn.describe_execution(executionArn=e)
    assert done["status"] == "FAILED"
    # into the minute after the failure's, so the last complete period is the failure's
    # (61s from a failure at hh:mm:59.5 would land two minutes on)
    assert shoal(s, "clock", "advance", f"{61 - done['stopDate'].second}s").returncode == 0
    deadline = time.time() + 10
    while state()["StateValue"] != "ALARM" and time.time() < deadline:
        time.sleep(0.05)
    a = state()
    assert a["StateValue"] == "ALARM" and a["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoint [1.0 ("), a["StateReason"]
    # the first evaluation moved it from INSUFFICIENT_DATA to OK (an OK email, as on AWS)
    deadline = time.time() + 10
    while not (mails := [m for m in inbox.messages if m["subject"].startswith("ALARM")]) and time.time() < deadline:
        time.sleep(0.05)
    assert mails and mails[0]["subject"] == 'ALARM: "sfn-failures" in US East (N. Virginia)'
    body = json.JSONDecoder().raw_decode(mails[0]["body"])[0]
    assert body["NewStateValue"] == "ALARM" and body["Trigger"]["MetricName"] == "ExecutionsFailed"
    # the next minute has no failures: back to OK, and an email says so
    assert shoal(s, "clock", "advance", "60s").returncode == 0
    deadline = time.time() + 10
    while state()["StateValue"] != "OK" and time.time() < deadline:
        time.sleep(0.05)
    assert state()["StateValue"] == "OK"
    deadline = time.time() + 10
    while sum(m["subject"].startswith("OK:") for m in inbox.messages) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert [m["subject"].split(":")[0] for m in inbox.messages[1:]] == ["OK", "ALARM", "OK"]
    events = []
    deadline = time.time() + 10
    while len(events) < 2 and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            events.append(json.loads(m["Body"]))
    transitions = [(x["detail"]["previousState"]["value"], x["detail"]["state"]["value"]) for x in events]
    assert transitions[-2:] == [(transitions[-2][0], "ALARM"), ("ALARM", "OK")]
    assert events[0]["source"] == "aws.cloudwatch" and events[0]["resources"] == [a["AlarmArn"]]
    # the service metrics are listed and scraped
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/States")["Metrics"]}
    assert {"ExecutionsStarted", "ExecutionsFailed", "ExecutionTime"} <= names
    with urllib.request.urlopen(s.url + "/metrics") as r:
        text = r.read().decode()
    assert "aws_states_executionsfailed_sum{" in text
    alarms = json.loads(aws_cli(s, "cloudwatch", "describe-alarms").stdout)["MetricAlarms"]
    assert [x["AlarmName"] for x in alarms] == ["sfn-failures"]
    aws_cli(s, "cloudwatch", "delete-alarms", "--alarm-names", "sfn-failures")
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_aws_sdk_tasks_reach_shoals_own_services(make_server):
    s = make_server()
    ssm, sfn = s.client(service="ssm"), s.client()
    ssm.put_parameter(Name="/wordpress/api/endpoints", Value="posts,tags", Type="String")
    machine = sfn.create_state_machine(name="reads", roleArn=ROLE, definition=json.dumps({
        "StartAt": "Get", "States": {"Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
                                             "Parameters": {"Name": "/wordpress/api/endpoints"},
                                             "ResultSelector": {"value.$": "$.Parameter.Value"}, "End": True}}}))["stateMachineArn"]
    e = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.time() + 10
    while (d := sfn.describe_execution(executionArn=e))["status"] == "RUNNING" and time.time() < deadline:
        time.sleep(0.05)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"value": "posts,tags"}


def test_state_machine_logging_configuration(make_server):
    s = make_server()
    sfn, logs = s.client(), s.client(service="logs")
    group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/raw-Logs:*"
    pass_chain = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"x": 1}, "Next": "B"}, "B": {"Type": "Pass", "End": True}}}
    std = sfn.create_state_machine(name="std", roleArn=ROLE, definition=json.dumps(pass_chain), loggingConfiguration={
        "level": "ALL", "includeExecutionData": True, "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group}}]})["stateMachineArn"]
    e = sfn.start_execution(stateMachineArn=std, name="run-1")["executionArn"]
    failing = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "F"}, "F": {"Type": "Fail", "Error": "Raw.Failed", "Cause": "no posts"}}}
    exp = sfn.create_state_machine(name="exp", type="EXPRESS", roleArn=ROLE, definition=json.dumps(failing), loggingConfiguration={
        "level": "ERROR", "includeExecutionData": False, "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group}}]})["stateMachineArn"]
    assert sfn.start_sync_execution(stateMachineArn=exp, name="x-1")["status"] == "FAILED"
    deadline = time.time() + 10
    entries = []
    while time.time() < deadline:
        try:
            entries = [json.loads(x["message"]) for x in logs.filter_log_events(logGroupName="/aws/vendedlogs/states/raw-Logs")["events"]]
        except logs.exceptions.ResourceNotFoundException:
            entries = []
        std_types = [x["type"] for x in entries if x["execution_arn"] == e]
        if std_types and std_types[-1] == "ExecutionSucceeded" and any(x["execution_arn"] != e for x in entries):
            break
        time.sleep(0.1)
    std_entries = [x for x in entries if x["execution_arn"] == e]
    assert [x["type"] for x in std_entries] == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "PassStateEntered",
                                                 "PassStateExited", "ExecutionSucceeded"]
    assert json.loads(std_entries[-1]["details"]["output"]) == {"x": 1}
    assert std_entries[0]["id"] == "1" and std_entries[1]["previous_event_id"] == "1"
    # JSON filter patterns select the entries by their fields
    got = logs.filter_log_events(logGroupName="/aws/vendedlogs/states/raw-Logs",
                                 filterPattern='{ $.type = "PassState*" && $.details.name = "B" }')["events"]
    assert [json.loads(x["message"])["type"] for x in got] == ["PassStateEntered", "PassStateExited"], got
    got = logs.filter_log_events(logGroupName="/aws/vendedlogs/states/raw-Logs",
                                 filterPattern='{ ($.type = ExecutionFailed || $.id > 5) && $.details.output NOT EXISTS }')["events"]
    assert [json.loads(x["message"])["type"] for x in got] == ["ExecutionFailed"], got
    with pytest.raises(logs.exceptions.InvalidParameterException, match="Invalid filter pattern"):
        logs.filter_log_events(logGroupName="/aws/vendedlogs/states/raw-Logs", filterPattern="{ $.id > x }")
    express = [x for x in entries if x["execution_arn"] != e]
    assert [x["type"] for x in express] == ["FailStateEntered", "ExecutionFailed"]
    assert "input" not in express[0]["details"] and express[1]["details"]["error"] == "Raw.Failed"
    streams = [x["logStreamName"] for x in logs.describe_log_streams(logGroupName="/aws/vendedlogs/states/raw-Logs")["logStreams"]]
    assert "states/std/run-1" in streams


def test_composite_alarms(make_server):
    """A composite alarm follows its AlarmRule over other alarms' states (nested composites
    too), notifies its topic and puts state-change events; DescribeAlarms lists it only when
    asked for CompositeAlarm; a bad rule is refused, saying where it went wrong."""
    s = make_server()
    cw, sns, sqs, ev = (s.client(service=n) for n in ["cloudwatch", "sns", "sqs", "events"])
    topic = sns.create_topic(Name="pager")["TopicArn"]
    inbox = sqs.create_queue(QueueName="pager-inbox")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:pager-inbox",
                  Attributes={"RawMessageDelivery": "true"})
    events = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
    ev.put_rule(Name="alarms", EventPattern=json.dumps({"source": ["aws.cloudwatch"]}))
    ev.put_targets(Rule="alarms", Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:alarm-events"}])
    for name in ["cpu", "disk"]:
        # no data ever comes: "ignore" keeps the states set below across evaluations
        cw.put_metric_alarm(AlarmName=name, Namespace="Host", MetricName=name, Statistic="Average", Period=60,
                            EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold",
                            TreatMissingData="ignore")
    with pytest.raises(cw.exceptions.ClientError) as bad:
        cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM("cpu") AN ALARM("disk")')
    assert "character 14" in str(bad.value), bad.value
    with pytest.raises(cw.exceptions.ClientError):
        cw.put_composite_alarm(AlarmName="cpu", AlarmRule='ALARM("disk")')
    cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM("cpu") AND ALARM("arn:aws:cloudwatch:us-east-1:123456789012:alarm:disk")',
                           AlarmActions=[topic], OKActions=[topic], AlarmDescription="cpu and disk")
    cw.put_composite_alarm(AlarmName="page", AlarmRule='ALARM(both) OR NOT OK("cpu")')

    def composite(name):
        got = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
        return got[0] if got else None

    def settle(name, want):
        end = time.time() + 10
        while composite(name)["StateValue"] != want and time.time() < end:
            time.sleep(0.05)
        return composite(name)

    # metric alarms start without data: neither rule holds
    assert settle("both", "OK")["StateValue"] == "OK"
    assert settle("page", "ALARM")["StateValue"] == "ALARM", "NOT OK(cpu) holds while cpu has no data"
    cw.set_alarm_state(AlarmName="cpu", StateValue="OK", StateReason="fine")
    assert settle("page", "OK")["StateValue"] == "OK"
    cw.set_alarm_state(AlarmName="cpu", StateValue="ALARM", StateReason="hot")
    assert settle("both", "OK")["StateValue"] == "OK"
    cw.set_alarm_state(AlarmName="disk", StateValue="ALARM", StateReason="full")
    both = settle("both", "ALARM")
    assert both["StateValue"] == "ALARM" and both["AlarmRule"].startswith('ALARM("cpu") AND')
    assert both["AlarmDescription"] == "cpu and disk" and both["AlarmArn"].endswith(":alarm:both")
    assert {a["arn"].rsplit(":", 1)[1] for a in json.loads(both["StateReasonData"])["triggeringAlarms"]} == {"cpu", "disk"}
    assert settle("page", "ALARM")["StateValue"] == "ALARM", "a composite that names a composite follows it"
    # putting an alarm again changes its settings and keeps its state
    cw.put_metric_alarm(AlarmName="disk", Namespace="Host", MetricName="disk", Statistic="Average", Period=60,
                        EvaluationPeriods=1, Threshold=95, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="ignore")
    disk = cw.describe_alarms(AlarmNames=["disk"])["MetricAlarms"][0]
    assert (disk["StateValue"], disk["StateReason"], disk["Threshold"]) == ("ALARM", "full", 95.0)
    # the topic got the ALARM message of "both"
    end, notes = time.time() + 10, []
    while time.time() < end and not any(n["NewStateValue"] == "ALARM" for n in notes):
        for m in sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            notes.append(json.loads(m["Body"]))
    alarm_note = [n for n in notes if n["NewStateValue"] == "ALARM"][0]
    assert alarm_note["AlarmName"] == "both" and alarm_note["AlarmRule"] == both["AlarmRule"], alarm_note
    # and the default bus got the state changes
    end, changes = time.time() + 10, []
    while time.time() < end and not any(c["detail"]["alarmName"] == "both" and c["detail"]["state"]["value"] == "ALARM" for c in changes):
        for m in sqs.receive_message(QueueUrl=events, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            changes.append(json.loads(m["Body"]))
    change = [c for c in changes if c["detail"]["alarmName"] == "both" and c["detail"]["state"]["value"] == "ALARM"][0]
    assert change["detail"]["configuration"]["alarmRule"] == both["AlarmRule"] and change["resources"] == [both["AlarmArn"]]
    # DescribeAlarms lists composites only when asked, by the AWS CLI too
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["cpu", "disk"]
    assert cw.describe_alarms()["CompositeAlarms"] == []
    listed = json.loads(aws_cli(s, "cloudwatch", "describe-alarms", "--alarm-types", "CompositeAlarm", "MetricAlarm").stdout)
    assert [a["AlarmName"] for a in listed["CompositeAlarms"]] == ["both", "page"]
    assert len(listed["MetricAlarms"]) == 2
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmTypes=["CompositeAlarm"], StateValue="ALARM")["CompositeAlarms"]] == ["both", "page"]
    # deleting a child: the rule sees it in no state
    cw.delete_alarms(AlarmNames=["disk"])
    assert settle("both", "OK")["StateValue"] == "OK"
    cw.delete_alarms(AlarmNames=["both", "page"])
    assert cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"] == []


def stored(server, kind):
    """How many records of `kind` the server's database holds (deleted ones are gone)."""
    with sqlite3.connect(os.path.join(server.data, "shoal.db")) as db:
        return db.execute("SELECT count(*) FROM records WHERE kind = ?", (kind,)).fetchone()[0]


def test_log_events_outside_the_window_are_refused_and_retention_deletes(make_server):
    s = make_server()
    logs = s.client(service="logs")
    logs.create_log_group(logGroupName="/app/etl")
    logs.create_log_stream(logGroupName="/app/etl", logStreamName="run")
    now, day = int(time.time() * 1000), 86_400_000
    put = lambda *ts: logs.put_log_events(logGroupName="/app/etl", logStreamName="run",
                                          logEvents=[{"timestamp": t, "message": f"at {t}"} for t in ts])
    r = put(now - 15 * day, now - 3 * day, now + 3 * 3_600_000)
    assert r["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2}, r
    assert "rejectedLogEventsInfo" not in put(now - 1000, now)
    with pytest.raises(logs.exceptions.InvalidParameterException, match="24 hours"):
        put(now - 2 * day, now)
    got = lambda: [e["timestamp"] for e in logs.get_log_events(logGroupName="/app/etl", logStreamName="run", startFromHead=True)["events"]]
    assert got() == [now - 3 * day, now - 1000, now]
    assert stored(s, "logs.events") == 2
    # a retention of one day: the 3-day-old event goes at once, from reads and from the disk
    logs.put_retention_policy(logGroupName="/app/etl", retentionInDays=1)
    assert got() == [now - 1000, now]
    assert stored(s, "logs.events") == 1
    r = put(now - 2 * day + 60_000, now)
    assert r["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}, r
    with pytest.raises(logs.exceptions.InvalidParameterException, match="retentionInDays"):
        logs.put_retention_policy(logGroupName="/app/etl", retentionInDays=2)


def test_log_events_page_in_time_order_forward_and_back(make_server):
    """Events put out of order across calls and streams come back in time order, page after
    page, forward and backward, by stream and across the group, with and without a filter; a
    forward token at the end stays put and then picks up what arrives later."""
    s = make_server()
    logs = s.client(service="logs")
    group = "/app/pages"
    logs.create_log_group(logGroupName=group)
    streams = ["s0", "s1", "s2"]
    for name in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    base = int(time.time() * 1000) - 3_600_000
    expected = {name: [] for name in streams}
    # five puts per stream, each 400 events 7 ms apart, later puts starting earlier
    for put in range(5):
        for k, name in enumerate(streams):
            first = base + (4 - put) * 3_000 + k
            events = [{"timestamp": first + 7 * i, "message": f"{name} {put} {i}"} for i in range(400)]
            logs.put_log_events(logGroupName=group, logStreamName=name, logEvents=events)
            expected[name] += [(e["timestamp"], e["message"]) for e in events]
    expected = {name: sorted(evs, key=lambda e: e[0]) for name, evs in expected.items()}
    pair = lambda e: (e["timestamp"], e["message"])

    for name in streams:
        forward, token = [], None
        while True:
            kw = {"nextToken": token} if token else {"startFromHead": True}
            r = logs.get_log_events(logGroupName=group, logStreamName=name, limit=137, **kw)
            forward += [pair(e) for e in r["events"]]
            if r["nextForwardToken"] == token:
                assert not r["events"]
                break
            token = r["nextForwardToken"]
        assert [e[0] for e in forward] == [e[0] for e in expected[name]]
        assert sorted(forward) == sorted(expected[name])
        backward, token = [], None
        while True:
            kw = {"nextToken": token} if token else {}
            r = logs.get_log_events(logGroupName=group, logStreamName=name, limit=251, **kw)
            backward = [pair(e) for e in r["events"]] + backward
            if not r["events"]:
                break
            token = r["nextBackwardToken"]
        assert backward == forward

    # the forward token at the end picks up events put later
    end = logs.get_log_events(logGroupName=group, logStreamName="s0", startFromHead=True, limit=10_000)
    assert len(end["events"]) == 2000
    late = base + 60_000
    logs.put_log_events(logGroupName=group, logStreamName="s0", logEvents=[{"timestamp": late, "message": "s0 late"}])
    r = logs.get_log_events(logGroupName=group, logStreamName="s0", nextToken=end["nextForwardToken"])
    assert [pair(e) for e in r["events"]] == [(late, "s0 late")]
    expected["s0"].append((late, "s0 late"))

    every = sorted((e for evs in expected.values() for e in evs), key=lambda e: e[0])
    for kw, want in [
        ({}, every),
        ({"filterPattern": '"s1 3"'}, [e for e in every if e[1].startswith("s1 3 ")]),
        ({"logStreamNames": ["s2", "s0"]}, [e for e in every if e[1].split()[0] in ("s2", "s0")]),
        ({"startTime": base + 2_000, "endTime": base + 4_000}, [e for e in every if base + 2_000 <= e[0] <= base + 4_000]),
    ]:
        got, token = [], None
        while True:
            r = logs.filter_log_events(logGroupName=group, limit=333, **kw, **({"nextToken": token} if token else {}))
            got += [pair(e) for e in r["events"]]
            token = r.get("nextToken")
            if not token:
                break
        assert [e[0] for e in got] == [e[0] for e in want], kw
        assert sorted(got) == sorted(want), kw

    with pytest.raises(logs.exceptions.InvalidParameterException, match="nextToken"):
        logs.get_log_events(logGroupName=group, logStreamName="s0", nextToken="f/nonsense")
    with pytest.raises(logs.exceptions.InvalidParameterException, match="nextToken"):
        logs.filter_log_events(logGroupName=group, nextToken="nonsense")

    # a deleted stream takes its events with it; the others keep theirs
    logs.delete_log_stream(logGroupName=group, logStreamName="s1")
    assert [x["logStreamName"] for x in logs.describe_log_streams(logGroupName=group)["logStreams"]] == ["s0", "s2"]
    assert not any(e["logStreamName"] == "s1" for e in logs.filter_log_events(logGroupName=group)["events"])
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=group, logStreamName="s1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_stream(logGroupName=group, logStreamName="s1")
    assert stored(s, "logs.events") == 2 * 5 + 1
    logs.delete_log_group(logGroupName=group)
    assert stored(s, "logs.events") == 0


def test_metric_filters_turn_matching_log_events_into_metrics(make_server):
    """A log group's metric filters record a value for each matching event put, at the event's
    time: a number or a field of the event (JSON or space-delimited), with dimensions from
    fields, and the default value for a put where nothing matched."""
    s = make_server()
    logs, cw = s.client(service="logs"), s.client(service="cloudwatch")
    group = "/aws/lambda/etl"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="w")
    t = lambda **kw: [{"metricNamespace": "Etl", **kw}]
    logs.put_metric_filter(logGroupName=group, filterName="slow", filterPattern='{ $.level = "ERROR" }',
                           metricTransformations=t(metricName="ErrorMs", metricValue="$.ms", dimensions={"Stage": "$.stage"}, unit="Milliseconds"))
    logs.put_metric_filter(logGroupName=group, filterName="errors", filterPattern="ERROR",
                           metricTransformations=t(metricName="Errors", metricValue="1", defaultValue=0))
    logs.put_metric_filter(logGroupName=group, filterName="bytes", filterPattern="[ip, user, ..., status = 5*, bytes]",
                           metricTransformations=t(metricName="Bytes5xx", metricValue="$bytes"))
    # a field the pattern does not name, two transformations, a bad pattern: refused
    for pattern, tr in [("ERROR", t(metricName="X", metricValue="$.ms")),
                        ("[a, b]", t(metricName="X", metricValue="$c")),
                        ("ERROR", t(metricName="X", metricValue="1") * 2),
                        ("{ $.a = ", t(metricName="X", metricValue="1"))]:
        with pytest.raises(logs.exceptions.InvalidParameterException):
            logs.put_metric_filter(logGroupName=group, filterName="bad", filterPattern=pattern, metricTransformations=tr)

    minute = (int(time.time()) // 60 - 2) * 60
    at = lambda sec: (minute + sec) * 1000
    put = lambda *events: logs.put_log_events(logGroupName=group, logStreamName="w",
                                              logEvents=[{"timestamp": at(sec), "message": m} for sec, m in events])
    put((1, json.dumps({"level": "ERROR", "ms": 120, "stage": "bronze"})),
        (2, json.dumps({"level": "ERROR", "ms": 30, "stage": "bronze"})),
        (3, json.dumps({"level": "ERROR", "ms": 7, "stage": "silver"})),
        (4, json.dumps({"level": "INFO", "ms": 99, "stage": "silver"})),
        (5, "10.0.0.1 bob GET /a 503 2048"),
        (6, "10.0.0.1 bob GET /b 200 4096"))
    put((70, "all quiet"))
    start, end = datetime.fromtimestamp(minute, timezone.utc), datetime.fromtimestamp(minute + 180, timezone.utc)

    def stats(name, dims=()):
        r = cw.get_metric_statistics(Namespace="Etl", MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dims],
                                     StartTime=start, EndTime=end, Period=60, Statistics=["Sum", "SampleCount"])
        return sorted((int(p["Timestamp"].timestamp()) - minute, p["Sum"], p["SampleCount"]) for p in r["Datapoints"])

    assert stats("ErrorMs", [("Stage", "bronze")]) == [(0, 150, 2)]
    assert stats("ErrorMs", [("Stage", "silver")]) == [(0, 7, 1)]
    # three ERROR lines in the first put; the second put matched nothing: its default value
    assert stats("Errors") == [(0, 3, 3), (60, 0, 1)]
    assert stats("Bytes5xx") == [(0, 2048, 1)]

    found = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [f["filterName"] for f in found] == ["bytes", "errors", "slow"]
    assert found[2]["metricTransformations"] == t(metricName="ErrorMs", metricValue="$.ms", dimensions={"Stage": "$.stage"}, unit="Milliseconds")
    by_metric = logs.describe_metric_filters(metricName="Errors", metricNamespace="Etl")["metricFilters"]
    assert [(f["filterName"], f["logGroupName"]) for f in by_metric] == [("errors", group)]
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["metricFilterCount"] == 3
    tested = logs.test_metric_filter(filterPattern="[ip, user, ..., status = 5*, bytes]",
                                     logEventMessages=["1.1.1.1 ann PUT /x 500 12", "1.1.1.1 ann PUT /x 200 12"])["matches"]
    assert tested == [{"eventNumber": 1, "eventMessage": "1.1.1.1 ann PUT /x 500 12",
                       "extractedValues": {"$ip": "1.1.1.1", "$user": "ann", "$status": "500", "$bytes": "12"}}]

    logs.delete_metric_filter(logGroupName=group, filterName="errors")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_metric_filter(logGroupName=group, filterName="errors")
    put((75, "ERROR again"))
    assert stats("Errors") == [(0, 3, 3), (60, 0, 1)]
    logs.delete_log_group(logGroupName=group)
    assert stored(s, "logs.metric-filter") == 0


def test_log_group_tags_by_arn_and_by_name(make_server):
    s = make_server()
    logs = s.client(service="logs")
    logs.create_log_group(logGroupName="/app/tagged", tags={"team": "data", "env": "dev"})
    arn = logs.describe_log_groups(logGroupNamePrefix="/app/tagged")["logGroups"][0]["arn"]
    assert arn.endswith(":log-group:/app/tagged:*")
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "data", "env": "dev"}
    logs.tag_resource(resourceArn=arn.removesuffix(":*"), tags={"env": "prod", "cost": "7"})
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert logs.list_tags_log_group(logGroupName="/app/tagged")["tags"] == {"env": "prod", "cost": "7"}
    logs.tag_log_group(logGroupName="/app/tagged", tags={"owner": "ann"})
    logs.untag_log_group(logGroupName="/app/tagged", tags=["cost"])
    out = json.loads(aws_cli(s, "logs", "list-tags-for-resource", "--resource-arn", arn).stdout)
    assert out["tags"] == {"env": "prod", "owner": "ann"}
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.list_tags_for_resource(resourceArn=arn.replace(":us-east-1:", ":eu-west-1:"))
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.tag_resource(resourceArn=arn.replace("/app/tagged", "/app/missing"), tags={"a": "b"})
    with pytest.raises(logs.exceptions.TooManyTagsException):
        logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(49)})
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.create_log_group(logGroupName="/app/reserved", tags={"aws:x": "y"})
    assert logs.list_tags_log_group(logGroupName="/app/tagged")["tags"] == {"env": "prod", "owner": "ann"}


def test_a_log_groups_stored_bytes_follow_its_events(make_server):
    """DescribeLogGroups counts a group's stored events (their stored text), per group; a log
    stream's storedBytes stays 0, as AWS has reported it since 2019."""
    s = make_server()
    logs = s.client(service="logs")
    for g in ("/app/big", "/app/small"):
        logs.create_log_group(logGroupName=g)
        logs.create_log_stream(logGroupName=g, logStreamName="s")

    def stored():
        return {g["logGroupName"]: g["storedBytes"] for g in logs.describe_log_groups()["logGroups"]}

    assert stored() == {"/app/big": 0, "/app/small": 0}
    now = int(time.time() * 1000)
    message = "é" * 5000  # 10,000 bytes: batches spill onto overflow pages
    logs.put_log_events(logGroupName="/app/big", logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": message} for i in range(40)])
    logs.put_log_events(logGroupName="/app/small", logStreamName="s",
                        logEvents=[{"timestamp": now, "message": "x" * 10}])
    first = stored()
    assert 400_000 <= first["/app/big"] < 420_000, first
    assert 10 <= first["/app/small"] < 1_000, first
    logs.put_log_events(logGroupName="/app/big", logStreamName="s",
                        logEvents=[{"timestamp": now + 100, "message": message}])
    assert 10_000 <= stored()["/app/big"] - first["/app/big"] < 11_000
    streams = logs.describe_log_streams(logGroupName="/app/big")["logStreams"]
    assert [x["storedBytes"] for x in streams] == [0]
    logs.delete_log_stream(logGroupName="/app/big", logStreamName="s")
    assert stored() == {"/app/big": 0, "/app/small": first["/app/small"]}


def test_logs_insights_queries(make_server):
    """StartQuery runs a Logs Insights query over groups' events in a time range; the client polls
    GetQueryResults until it is Complete, as against AWS."""
    s = make_server()
    logs = s.client(service="logs")
    for group in ("/aws/lambda/bronze", "/aws/lambda/silver"):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="w")
    minute = (int(time.time()) // 60 - 5) * 60
    put = lambda group, *events: logs.put_log_events(logGroupName=group, logStreamName="w", logEvents=[
        {"timestamp": (minute + sec) * 1000, "message": m if isinstance(m, str) else json.dumps(m)} for sec, m in events])
    put("/aws/lambda/bronze", (1, {"level": "ERROR", "ms": 120, "table": "posts"}), (2, {"level": "INFO", "ms": 30, "table": "posts"}),
        (70, {"level": "ERROR", "ms": 80, "table": "tags"}), (71, "START RequestId: 1 Version: $LATEST"))
    put("/aws/lambda/silver", (5, {"level": "ERROR", "ms": 9, "table": "posts"}))

    def query(q, groups=("/aws/lambda/bronze", "/aws/lambda/silver"), start=minute, end=minute + 240, **kw):
        qid = logs.start_query(logGroupNames=list(groups), startTime=start, endTime=end, queryString=q, **kw)["queryId"]
        for _ in range(200):
            r = logs.get_query_results(queryId=qid)
            if r["status"] not in ("Scheduled", "Running"):
                break
            time.sleep(0.02)
        assert r["status"] == "Complete", r
        return qid, r, [{f["field"]: f["value"] for f in row if f["field"] != "@ptr"} for row in r["results"]]

    _, r, rows = query('fields @timestamp, level, ms, @log | filter level = "ERROR" | sort ms desc | limit 2')
    assert rows == [
        {"@timestamp": time.strftime("%Y-%m-%d %H:%M:%S.000", time.gmtime(minute + 1)), "level": "ERROR", "ms": "120", "@log": "123456789012:/aws/lambda/bronze"},
        {"@timestamp": time.strftime("%Y-%m-%d %H:%M:%S.000", time.gmtime(minute + 70)), "level": "ERROR", "ms": "80", "@log": "123456789012:/aws/lambda/bronze"},
    ]
    assert r["statistics"]["recordsMatched"] == 3 and r["statistics"]["recordsScanned"] == 5
    # every event's row points at the whole record
    ptr = next(f["value"] for f in r["results"][0] if f["field"] == "@ptr")
    record = logs.get_log_record(logRecordPointer=ptr)["logRecord"]
    assert (record["level"], record["ms"], record["table"], record["@logStream"]) == ("ERROR", "120", "posts", "w")
    assert json.loads(record["@message"]) == {"level": "ERROR", "ms": 120, "table": "posts"}
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.get_log_record(logRecordPointer="nonsense")
    qid, r, rows = query("filter ispresent(ms) | stats count(*) as n, sum(ms) as total by table")
    assert not any(f["field"] == "@ptr" for row in r["results"] for f in row)
    assert sorted(rows, key=lambda x: x["table"]) == [{"table": "posts", "n": "3", "total": "159"}, {"table": "tags", "n": "1", "total": "80"}]
    _, _, rows = query("stats count() by bin(1m)", groups=["/aws/lambda/bronze"])
    assert [x["count()"] for x in rows] == ["2", "2"]
    # the time range bounds the events (both ends included)
    _, _, rows = query("fields @message | filter @message like /START/", start=minute + 71, end=minute + 71)
    assert rows == [{"@message": "START RequestId: 1 Version: $LATEST"}]
    _, _, rows = query('parse "START RequestId: * Version: *" as rid, version | filter ispresent(rid) | display rid, version')
    assert rows == [{"rid": "1", "version": "$LATEST"}]
    _, _, rows = query("parse @message /\"table\": \"(?<t>\\w+)\"/ | filter ispresent(t) | dedup t | sort t | display t")
    assert rows == [{"t": "posts"}, {"t": "tags"}]
    # the command line prints a query's rows as a table
    out = shoal(s, "logs", "query", "/aws/lambda/bronze", "/aws/lambda/silver", "--since", "1h",
                "-q", "filter ispresent(ms) | stats count(*) as n, max(ms) as top by table | sort n desc")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["table  n  top", "posts  3  120", "tags   1  80"], out.stdout
    assert "2 row(s); 4 of 5 event(s) matched" in out.stderr
    bad = shoal(s, "logs", "query", "/aws/lambda/bronze", "-q", "fields a | unmask @message")
    assert bad.returncode != 0 and "unmask" in bad.stderr
    qid, _, _ = query("fields @message | limit 1", groups=["/aws/lambda/silver"])
    assert logs.stop_query(queryId=qid)["success"] is False
    assert any(q["queryId"] == qid and q["status"] == "Complete" for q in logs.describe_queries()["queries"])

    with pytest.raises(logs.exceptions.MalformedQueryException, match="unmask"):
        logs.start_query(logGroupName="/aws/lambda/bronze", startTime=minute, endTime=minute + 60, queryString="fields a | unmask @message")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.start_query(logGroupName="/nope", startTime=minute, endTime=minute + 60, queryString="fields @message")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_query_results(queryId="not-a-query")
