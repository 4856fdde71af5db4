"""The Step Functions API through boto3 and the AWS CLI: machines, versions, aliases, tags,
executions, history, pagination, errors."""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import ROLE, history, machine, raw_post, wait_done

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "ResultPath": "$.r", "End": True}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}


def test_create_describe_update_delete(sfn):
    arn = machine(sfn, "m", PASS, tags=[{"key": "team", "value": "data"}])
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["name"] == "m" and d["type"] == "STANDARD" and json.loads(d["definition"]) == PASS
    # identical create is idempotent; a different one conflicts
    assert machine(sfn, "m", PASS) == arn
    with pytest.raises(sfn.exceptions.StateMachineAlreadyExists):
        machine(sfn, "m", WAIT)
    rev = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(WAIT))["revisionId"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["revisionId"] == rev
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "data"}]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "dev"}])
    sfn.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "dev"}]
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=arn)


def test_answers_carry_a_request_id(server):
    """boto3 reads x-amzn-RequestId into ResponseMetadata, answers and errors alike."""
    sfn, ev, ssm = (server.client(service=n) for n in ["stepfunctions", "events", "ssm"])
    answers = [sfn.list_state_machines(), ev.list_event_buses(), ssm.describe_parameters()]
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist) as err:
        sfn.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:nope")
    ids = [a["ResponseMetadata"]["RequestId"] for a in answers] + [err.value.response["ResponseMetadata"]["RequestId"]]
    assert all(len(i) == 36 for i in ids) and len(set(ids)) == len(ids), ids


def test_invalid_definitions_and_arns(sfn):
    with pytest.raises(sfn.exceptions.InvalidDefinition) as e:
        machine(sfn, "bad", {"StartAt": "Nope", "States": {"A": {"Type": "Pass", "End": True}}})
    assert "MISSING_TRANSITION_TARGET" in str(e.value)
    v = sfn.validate_state_machine_definition(definition='{"StartAt":"A","States":{}}')
    assert v["result"] == "FAIL" and v["diagnostics"][0]["location"]
    assert sfn.validate_state_machine_definition(definition=json.dumps(PASS))["result"] == "OK"
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_state_machine(stateMachineArn="not-an-arn")
    with pytest.raises(sfn.exceptions.InvalidName):
        machine(sfn, "bad name", PASS)


def test_list_state_machines_pages(sfn):
    for i in range(5):
        machine(sfn, f"m{i}", PASS)
    names, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = sfn.list_state_machines(maxResults=2, **kw)
        assert len(page["stateMachines"]) <= 2
        names += [m["name"] for m in page["stateMachines"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(names) == [f"m{i}" for i in range(5)]


def test_start_describe_history(sfn):
    arn = machine(sfn, "m", PASS)
    e = sfn.start_execution(stateMachineArn=arn, name="run1", input='{"a": 1}')
    d = wait_done(sfn, e["executionArn"])
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == {"a": 1, "r": {"ok": 1}}
    ev = history(sfn, e["executionArn"])
    assert [x["type"] for x in ev] == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert [x["id"] for x in ev] == [1, 2, 3, 4]
    rev = sfn.get_execution_history(executionArn=e["executionArn"], reverseOrder=True, maxResults=2)
    assert [x["id"] for x in rev["events"]] == [4, 3] and rev["nextToken"]
    lean = sfn.get_execution_history(executionArn=e["executionArn"], includeExecutionData=False)
    assert "input" not in lean["events"][0]["executionStartedEventDetails"]
    m = sfn.describe_state_machine_for_execution(executionArn=e["executionArn"])
    assert json.loads(m["definition"]) == PASS
    assert m["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert m["tracingConfiguration"] == {"enabled": False}
    assert m["revisionId"] == sfn.describe_state_machine(stateMachineArn=arn)["revisionId"]
    assert "mapRunArn" not in m and "label" not in m
    # after an update, the execution's machine is the definition it ran, without a revision
    changed = {**PASS, "Comment": "changed"}
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(changed))
    m = sfn.describe_state_machine_for_execution(executionArn=e["executionArn"])
    assert json.loads(m["definition"]) == PASS and "revisionId" not in m
    # a finished execution's name cannot be reused
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="run1", input='{"a": 1}')


def test_a_long_history_pages_forward_and_back(sfn):
    """A 400-item Map writes 1,600-odd events, stored in several chunks: pages of any size, in
    either order, put together give the whole history once."""
    d = {"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": None,
         "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "P",
                           "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}}}
    arn = machine(sfn, "long", d)
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": list(range(400))}))
    assert wait_done(sfn, e["executionArn"])["status"] == "SUCCEEDED"
    whole = [x["id"] for x in history(sfn, e["executionArn"])]
    assert whole == list(range(1, len(whole) + 1)) and len(whole) > 1600
    for size, reverse in [(97, False), (89, True), (1000, True)]:
        ids, token = [], None
        while True:
            kw = {"nextToken": token} if token else {}
            page = sfn.get_execution_history(executionArn=e["executionArn"], maxResults=size, reverseOrder=reverse, **kw)
            assert len(page["events"]) <= size
            ids += [x["id"] for x in page["events"]]
            token = page.get("nextToken")
            if not token:
                break
        assert ids == (whole[::-1] if reverse else whole), (size, reverse)


def test_start_is_idempotent_while_running(sfn):
    arn = machine(sfn, "w", WAIT)
    a = sfn.start_execution(stateMachineArn=arn, name="same", input="{}")
    b = sfn.start_execution(stateMachineArn=arn, name="same", input="{}")
    assert a["executionArn"] == b["executionArn"]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"other": 1}')
    stop = sfn.stop_execution(executionArn=a["executionArn"], error="E", cause="C")
    assert stop["stopDate"]
    d = sfn.describe_execution(executionArn=a["executionArn"])
    assert d["status"] == "ABORTED" and d["redriveStatus"] == "REDRIVABLE"
    assert (d["error"], d["cause"]) == ("E", "C")
    last = history(sfn, a["executionArn"])[-1]
    assert last["type"] == "ExecutionAborted"
    assert last["executionAbortedEventDetails"] == {"error": "E", "cause": "C"}


def test_names_stay_taken_across_a_kill(server):
    """The server keeps the stored execution names in memory, loaded at startup, so that a new
    name needs no database read: after a kill -9 and a restart, every name stored before is
    still taken (or the start idempotent), and new ones start."""
    sfn = server.client()
    ok, wait = machine(sfn, "ok", PASS), machine(sfn, "wait", WAIT)
    done = [sfn.start_execution(stateMachineArn=ok, name=f"done-{i}")["executionArn"] for i in range(20)]
    running = sfn.start_execution(stateMachineArn=wait, name="running", input='{"a": 1}')["executionArn"]
    for arn in done:
        assert wait_done(sfn, arn)["status"] == "SUCCEEDED"
    server.kill9()
    sfn = server.start().client()
    for i in range(20):
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(stateMachineArn=ok, name=f"done-{i}")
    assert sfn.start_execution(stateMachineArn=wait, name="running", input='{"a": 1}')["executionArn"] == running
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=wait, name="running", input='{"a": 2}')
    new = sfn.start_execution(stateMachineArn=ok, name="done-20")["executionArn"]
    assert wait_done(sfn, new)["status"] == "SUCCEEDED"
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=ok, name="done-20", input='{"other": 1}')


def test_list_executions_filter_and_pages(sfn):
    ok = machine(sfn, "ok", PASS)
    for i in range(5):
        sfn.start_execution(stateMachineArn=ok, name=f"e{i}")
    for i in range(5):
        wait_done(sfn, f"arn:aws:states:us-east-1:123456789012:execution:ok:e{i}")
    # a second machine whose execution keeps waiting: neither filter nor machine may mix it in
    waits = machine(sfn, "waits", WAIT)
    w = sfn.start_execution(stateMachineArn=waits, name="e-run")
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = sfn.list_executions(stateMachineArn=ok, statusFilter="SUCCEEDED", maxResults=2, **kw)
        seen += [x["name"] for x in page["executions"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == [f"e{i}" for i in range(5)]
    assert sfn.list_executions(stateMachineArn=ok, statusFilter="RUNNING")["executions"] == []
    running = sfn.list_executions(stateMachineArn=waits, statusFilter="RUNNING")["executions"]
    assert [x["executionArn"] for x in running] == [w["executionArn"]]


def test_bad_input_gets_aws_errors(sfn, server):
    arn = machine(sfn, "m", PASS)
    with pytest.raises(sfn.exceptions.InvalidExecutionInput):
        sfn.start_execution(stateMachineArn=arn, input="{not json")
    with pytest.raises(sfn.exceptions.InvalidExecutionInput):
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"x": "y" * 270000}))
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:execution:m:nope")
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:stateMachine:m")
    with pytest.raises(sfn.exceptions.TaskDoesNotExist):
        sfn.send_task_success(taskToken="no-such-token", output="{}")
    status, body = raw_post(server.url, "AWSStepFunctions.NoSuchThing", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = raw_post(server.url, "AWSStepFunctions.ListStateMachines", b"{oops")
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = raw_post(server.url, "AWSStepFunctions.DescribeExecution", b"{}")
    assert status == 400 and body["__type"] == "ValidationException"
    status, body = raw_post(server.url, "AWSStepFunctions.DescribeExecution", b'{"executionArn": 5}')
    assert status == 400 and body["__type"] == "SerializationException"


def test_versions_and_aliases(sfn):
    arn = machine(sfn, "v", PASS, publish=True, versionDescription="first")
    v1 = f"{arn}:1"
    assert sfn.describe_state_machine(stateMachineArn=v1)["description"] == "first"
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 2, "End": True}}}))
    v2 = sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
    assert v2 == f"{arn}:2"
    # publishing an unchanged revision returns the same version
    assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == v2
    versions = [x["stateMachineVersionArn"] for x in sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]]
    assert versions == [v2, v1]
    alias = sfn.create_state_machine_alias(name="prod", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}])["stateMachineAliasArn"]
    assert alias == f"{arn}:prod"
    e = sfn.start_execution(stateMachineArn=alias, input="{}")
    d = wait_done(sfn, e["executionArn"])
    assert json.loads(d["output"]) == {"r": {"ok": 1}}
    assert d["stateMachineAliasArn"] == alias and d["stateMachineVersionArn"] == v1
    sfn.update_state_machine_alias(stateMachineAliasArn=alias, routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}])
    e = sfn.start_execution(stateMachineArn=alias, input="{}")
    assert json.loads(wait_done(sfn, e["executionArn"])["output"]) == 2
    assert [x["stateMachineAliasArn"] for x in sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"]] == [alias]
    assert len(sfn.list_executions(stateMachineArn=alias)["executions"]) == 2
    # a version lists the executions that ran it, however started, page by page
    direct = [sfn.start_execution(stateMachineArn=v1)["executionArn"] for _ in range(2)]
    sfn.start_execution(stateMachineArn=arn)
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=v1, PaginationConfig={"PageSize": 1})
    listed = [x for p in pages for x in p["executions"]]
    assert len(listed) == 3 and {x["stateMachineVersionArn"] for x in listed} == {v1}
    assert set(direct) < {x["executionArn"] for x in listed}
    with pytest.raises(sfn.exceptions.ConflictException):
        sfn.delete_state_machine_version(stateMachineVersionArn=v2)
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine_version(stateMachineVersionArn=v2)


def test_express_sync_execution(sfn):
    arn = machine(sfn, "x", PASS, kind="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=arn, input='{"q": true}')
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"q": True, "r": {"ok": 1}}
    assert ":express:x:" in r["executionArn"]
    fail = machine(sfn, "xf", {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "why"}}}, kind="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=fail)
    assert (r["status"], r["error"], r["cause"]) == ("FAILED", "Boom", "why")
    std = machine(sfn, "std", PASS)
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=std)


def test_aws_cli(server):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_DEFAULT_REGION="eu-west-1")
    aws = [os.path.join(os.path.dirname(sys.executable), "aws"), "--endpoint-url", server.url, "stepfunctions"]

    def run(*args):
        out = subprocess.run(aws + list(args), env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout) if out.stdout.strip() else {}

    arn = run("create-state-machine", "--name", "cli", "--definition", json.dumps(PASS), "--role-arn", ROLE)["stateMachineArn"]
    assert arn.startswith("arn:aws:states:eu-west-1:")
    e = run("start-execution", "--state-machine-arn", arn, "--input", '{"from":"cli"}')["executionArn"]
    import time
    for _ in range(200):
        d = run("describe-execution", "--execution-arn", e)
        if d["status"] != "RUNNING":
            break
        time.sleep(0.02)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"])["from"] == "cli"
    assert [m["name"] for m in run("list-state-machines")["stateMachines"]] == ["cli"]


def test_closed_executions_are_deleted_after_their_retention(make_server):
    # AWS keeps a closed execution 90 days; here two seconds
    s = make_server("--execution-retention", "2s")
    sfn = s.client()
    done = machine(sfn, "done", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    slow = machine(sfn, "slow", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}})
    ended = sfn.start_execution(stateMachineArn=done, name="ended")["executionArn"]
    running = sfn.start_execution(stateMachineArn=slow, name="running")["executionArn"]
    assert wait_done(sfn, ended)["status"] == "SUCCEEDED"
    first = sfn.get_execution_history(executionArn=ended)["events"]
    end = time.time() + 10
    while sfn.list_executions(stateMachineArn=done)["executions"] and time.time() < end:
        time.sleep(0.2)
    assert sfn.list_executions(stateMachineArn=done)["executions"] == []
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn=ended)
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.get_execution_history(executionArn=ended)
    # a running execution stays, whole, however long it runs
    assert sfn.describe_execution(executionArn=running)["status"] == "RUNNING"
    assert [e["type"] for e in sfn.get_execution_history(executionArn=running)["events"]][:2] == [
        "ExecutionStarted",
        "WaitStateEntered",
    ]
    # the name is free again, for an execution with a history of its own
    again = sfn.start_execution(stateMachineArn=done, name="ended")
    assert again["executionArn"] == ended
    assert wait_done(sfn, ended)["status"] == "SUCCEEDED"
    events = sfn.get_execution_history(executionArn=ended)["events"]
    assert [e["type"] for e in events] == [e["type"] for e in first]
    assert events[0]["timestamp"] > first[-1]["timestamp"]
