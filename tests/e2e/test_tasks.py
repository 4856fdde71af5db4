"""Task integrations: callbacks, heartbeats, activities, nested executions, the HTTP task,
aws-sdk against a local AWS-compatible server (moto), redrive, the mock file."""

import json
import os
import subprocess
import sys
import threading
import time

import boto3
import pytest

from conftest import ROLE, free_port, history, machine, wait_done, wait_port

ACCT = "arn:aws:states:us-east-1:123456789012"


def callback_machine(extra=None):
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
        "Parameters": {"ApiEndpoint.$": "$.url", "Method": "POST", "RequestBody": {"token.$": "$$.Task.Token"}},
        "ResultPath": "$.answer",
        "End": True,
    }
    task.update(extra or {})
    return {"StartAt": "Ask", "States": {"Ask": task}}


def token_from(http_target, n=1, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        with http_target.lock:
            if len(http_target.requests) >= n:
                return json.loads(http_target.requests[n - 1][2])["token"]
        time.sleep(0.02)
    raise AssertionError("no callback request arrived")


def test_wait_for_task_token(sfn, http_target):
    arn = machine(sfn, "cb", callback_machine())
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"url": http_target.url + "/ask"}))["executionArn"]
    token = token_from(http_target)
    assert sfn.describe_execution(executionArn=e)["status"] == "RUNNING"
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"])["answer"] == {"approved": True}
    types = [x["type"] for x in history(sfn, e)]
    assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted",
                     "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    # the task is closed: a second answer is refused
    with pytest.raises(sfn.exceptions.TaskTimedOut):
        sfn.send_task_success(taskToken=token, output="{}")


def test_send_task_failure_is_caught(sfn, http_target):
    d = callback_machine({"Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.err", "Next": "Done"}]})
    d["States"]["Done"] = {"Type": "Succeed"}
    arn = machine(sfn, "cbf", d)
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"url": http_target.url}))["executionArn"]
    sfn.send_task_failure(taskToken=token_from(http_target), error="Rejected", cause="no")
    out = wait_done(sfn, e)
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"])["err"] == {"Error": "Rejected", "Cause": "no"}


def test_heartbeat_timeout(sfn, http_target):
    arn = machine(sfn, "hb", callback_machine({"HeartbeatSeconds": 1}))
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"url": http_target.url}))["executionArn"]
    d = wait_done(sfn, e, timeout=20)
    assert (d["status"], d["error"]) == ("FAILED", "States.HeartbeatTimeout")
    assert "TaskTimedOut" in [x["type"] for x in history(sfn, e)]


def test_activities(sfn):
    act = sfn.create_activity(name="worker")["activityArn"]
    assert act == f"{ACCT}:activity:worker"
    assert [a["name"] for a in sfn.list_activities()["activities"]] == ["worker"]
    arn = machine(sfn, "act", {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": act, "End": True}}})
    got = {}

    def worker():
        t = sfn.get_activity_task(activityArn=act, workerName="w1")
        got.update(t)
        sfn.send_task_success(taskToken=t["taskToken"], output=json.dumps({"done": json.loads(t["input"])["n"] + 1}))

    th = threading.Thread(target=worker)
    th.start()
    time.sleep(0.2)  # the worker is long-polling before the task exists
    e = sfn.start_execution(stateMachineArn=arn, input='{"n": 41}')["executionArn"]
    th.join(30)
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"done": 42}
    ev = history(sfn, e)
    assert [x["type"] for x in ev][2:5] == ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]
    assert ev[3]["activityStartedEventDetails"]["workerName"] == "w1"
    sfn.delete_activity(activityArn=act)
    with pytest.raises(sfn.exceptions.ActivityDoesNotExist):
        sfn.describe_activity(activityArn=act)


def test_nested_sync_executions(sfn):
    child = machine(sfn, "child", {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}})
    bad = machine(sfn, "badchild", {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "ChildBroke", "Cause": "c"}}})
    parent = machine(sfn, "parent", {"StartAt": "V1", "States": {
        "V1": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync",
               "Parameters": {"StateMachineArn": child, "Input": {"n": 2}}, "ResultPath": "$.v1", "Next": "V2"},
        "V2": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
               "Parameters": {"StateMachineArn": child, "Input": {"n": 5}}, "ResultSelector": {"o.$": "$.Output"}, "ResultPath": "$.v2", "Next": "Bad"},
        "Bad": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": bad}, "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.bad", "Next": "Fire"}], "End": True},
        "Fire": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                 "Parameters": {"StateMachineArn": child, "Input": {"n": 1}}, "ResultPath": "$.fired", "End": True}}})
    e = sfn.start_execution(stateMachineArn=parent, input="{}")["executionArn"]
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert json.loads(out["v1"]["Output"]) == {"doubled": 4} and out["v1"]["Status"] == "SUCCEEDED"
    assert out["v2"] == {"o": {"doubled": 10}}
    assert json.loads(out["bad"]["Cause"])["Error"] == "ChildBroke"
    assert out["fired"]["ExecutionArn"].startswith(f"{ACCT}:execution:child:")
    assert len(sfn.list_executions(stateMachineArn=child)["executions"]) == 3


def test_http_task(sfn, http_target):
    http_target.fail["/missing"] = 404
    arn = machine(sfn, "http", {"StartAt": "Get", "States": {
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint.$": "States.Format('{}/posts', $.base)", "Method": "GET",
                               "QueryParameters": {"page": "2"}},
                "ResultSelector": {"status.$": "$.StatusCode", "body.$": "$.ResponseBody"}, "ResultPath": "$.got", "Next": "Missing"},
        "Missing": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                    "Parameters": {"ApiEndpoint.$": "States.Format('{}/missing', $.base)", "Method": "POST", "RequestBody": {"a": 1}},
                    "Catch": [{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.err", "Next": "Done"}], "End": True},
        "Done": {"Type": "Succeed"}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))["executionArn"]
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["got"] == {"status": 200, "body": {"path": "/posts?page=2", "method": "GET", "got": ""}}
    assert out["err"]["Error"] == "States.Http.StatusCode.404"
    assert http_target.requests[1] == ("POST", "/missing", '{"a":1}')


def test_start_answers_before_the_first_effect_which_runs_once(sfn, http_target):
    """A new execution's first segment runs on the thread of the StartExecution request until it
    would perform an effect; then it runs from the start on an executor thread. The call answers
    while the task's request is still held, and the task is called once."""
    release = threading.Event()
    http_target.hold["/slow"] = release
    arn = machine(sfn, "held", {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": 1, "ResultPath": "$.n", "Next": "Both"},
        "Both": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Quick", "States": {"Quick": {"Type": "Pass", "InputPath": "$.n", "End": True}}},
            {"StartAt": "Call", "States": {"Call": {
                "Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
                "Parameters": {"ApiEndpoint.$": "States.Format('{}/slow', $.base)", "Method": "GET"},
                "ResultSelector": {"status.$": "$.StatusCode"}}}}]}}})
    started = {}
    t = threading.Thread(target=lambda: started.update(
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))))
    t.start()
    try:
        t.join(10)
        assert "executionArn" in started, "StartExecution waited for the task's request"
        end = time.time() + 10
        while not http_target.requests and time.time() < end:
            time.sleep(0.02)
        assert sfn.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING"
    finally:
        release.set()
    d = wait_done(sfn, started["executionArn"])
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == [1, {"status": 200}]
    assert [r[1] for r in http_target.requests] == ["/slow"]
    events = history(sfn, started["executionArn"])
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["type"] for e in events]
    assert kinds.count("ExecutionStarted") == 1 and kinds.count("TaskStarted") == 1, kinds
    assert kinds.count("PassStateEntered") == 2 and kinds[-1] == "ExecutionSucceeded", kinds


def test_aws_sdk_glue_against_moto(make_server, moto):
    server = make_server("--wait-scale", "0", "--aws-endpoint", f"glue={moto}")
    sfn = server.client()
    glue = boto3.client("glue", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    glue.create_session(Id="s1", Role="arn:aws:iam::123456789012:role/g", Command={"Name": "glueetl"})
    # the seed's cost-control workflow: wait, stop the session, with a retry
    arn = machine(sfn, "cost", {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 30, "Next": "Stop"},
        "Stop": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:stopSession",
                 "Parameters": {"Id.$": "$.session_id"},
                 "Retry": [{"ErrorEquals": ["Glue.ThrottlingException"], "IntervalSeconds": 10, "MaxAttempts": 3}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}], "End": True},
        "Failed": {"Type": "Pass", "End": True}}})
    ok = sfn.start_execution(stateMachineArn=arn, input='{"session_id": "s1"}')["executionArn"]
    d = wait_done(sfn, ok)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"Id": "s1"}, d
    assert glue.get_session(Id="s1")["Session"]["Status"] in ("STOPPING", "STOPPED")
    missing = sfn.start_execution(stateMachineArn=arn, input='{"session_id": "nope"}')["executionArn"]
    out = json.loads(wait_done(sfn, missing)["output"])
    assert out["error"]["Error"] == "Glue.EntityNotFoundException", out


def test_redrive_after_the_failure_is_fixed(sfn, http_target):
    http_target.fail["/item/2"] = 500
    arn = machine(sfn, "rd", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint.$": "States.Format('{}/item/{}', $.base, $.i)", "Method": "GET"},
            "ResultSelector": {"s.$": "$.StatusCode"}, "End": True}}},
        "ItemSelector": {"base.$": "$.base", "i.$": "$$.Map.Item.Value"}}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url, "items": [0, 1, 2, 3]}))["executionArn"]
    d = wait_done(sfn, e)
    assert (d["status"], d["error"]) == ("FAILED", "States.Http.StatusCode.500")
    assert d["redriveStatus"] == "REDRIVABLE"
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        ok = machine(sfn, "fine", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        x = sfn.start_execution(stateMachineArn=ok)["executionArn"]
        wait_done(sfn, x)
        sfn.redrive_execution(executionArn=x)
    del http_target.fail["/item/2"]
    sfn.redrive_execution(executionArn=e)
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    assert d["redriveCount"] == 1
    assert json.loads(d["output"]) == [{"s": 200}] * 4
    paths = [p for _, p, _ in http_target.requests]
    # only the failed iteration ran again; the succeeded ones kept their results
    assert paths.count("/item/0") == 1 and paths.count("/item/1") == 1 and paths.count("/item/2") == 2
    types = [x["type"] for x in history(sfn, e)]
    assert types.count("ExecutionFailed") == 1 and "ExecutionRedriven" in types and types[-1] == "ExecutionSucceeded"
    ids = [x["id"] for x in history(sfn, e)]
    assert ids == list(range(1, len(ids) + 1))
    once = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url, "items": []}))["executionArn"]
    wait_done(sfn, once)
    redriven = sfn.list_executions(stateMachineArn=arn, redriveFilter="REDRIVEN")["executions"]
    assert [(x["executionArn"], x["redriveCount"]) for x in redriven] == [(e, 1)]
    assert [x["executionArn"] for x in sfn.list_executions(stateMachineArn=arn, redriveFilter="NOT_REDRIVEN")["executions"]] == [once]
    assert redriven[0]["redriveDate"] == sfn.describe_execution(executionArn=e)["redriveDate"]
    with pytest.raises(sfn.exceptions.ClientError, match="redriveFilter"):
        sfn.list_executions(stateMachineArn=arn, redriveFilter="SOMETIMES")
    # PENDING_REDRIVE is a status of a map run's children only
    with pytest.raises(sfn.exceptions.ValidationException, match="mapRunArn"):
        sfn.list_executions(stateMachineArn=arn, statusFilter="PENDING_REDRIVE")


def test_a_batched_distributed_map_lists_each_childs_items(sfn):
    arn = machine(sfn, "batches", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True, "ItemBatcher": {"MaxItemsPerBatch": 2},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Count", "States": {"Count": {
                              "Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)"}, "End": True}}}}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3, 4, 5]}))["executionArn"]
    out = wait_done(sfn, e)
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"]) == [{"n": 2}, {"n": 2}, {"n": 1}]
    run = sfn.list_map_runs(executionArn=e)["mapRuns"][0]["mapRunArn"]
    children = sfn.list_executions(mapRunArn=run)["executions"]
    by_input = {sfn.describe_execution(executionArn=c["executionArn"])["input"]: c["itemCount"] for c in children}
    assert sorted(by_input.values()) == [1, 2, 2], children
    assert by_input[json.dumps({"Items": [5]}, separators=(",", ":"))] == 1, by_input


def test_mock_config_test_cases(make_server, tmp_path):
    mock = {"StateMachines": {"mocked": {"TestCases": {"HappyPath": {"Charge": "ok"}, "Declined": {"Charge": "no"}}}},
            "MockedResponses": {"ok": {"0": {"Return": {"charged": True}}},
                                "no": {"0": {"Throw": {"Error": "Declined", "Cause": "card"}}}}}
    f = tmp_path / "mock.json"
    f.write_text(json.dumps(mock))
    server = make_server("--mock-config", str(f))
    sfn = server.client()
    arn = machine(sfn, "mocked", {"StartAt": "Charge", "States": {"Charge": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "charge"}, "End": True}}})
    ok = sfn.start_execution(stateMachineArn=arn + "#HappyPath")["executionArn"]
    assert json.loads(wait_done(sfn, ok)["output"]) == {"charged": True}
    no = sfn.start_execution(stateMachineArn=arn + "#Declined")["executionArn"]
    assert wait_done(sfn, no)["error"] == "Declined"


def test_test_state(sfn, http_target):
    """TestState: a real HTTP call with DEBUG inspection, a mocked failure that a retrier would
    retry, then the catcher once retries are spent, and definitions that cannot be tested."""
    task = {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "InputPath": "$.req",
            "Parameters": {"ApiEndpoint.$": "States.Format('{}/items', $.base)", "Method": "GET"},
            "ResultSelector": {"status.$": "$.StatusCode"}, "ResultPath": "$.got", "Next": "After",
            "Retry": [{"ErrorEquals": ["States.Http.StatusCode.503"], "IntervalSeconds": 2, "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handle"}]}
    inp = {"req": {"base": http_target.url}}
    r = sfn.test_state(definition=json.dumps(task), roleArn=ROLE, input=json.dumps(inp), inspectionLevel="DEBUG")
    assert r["status"] == "SUCCEEDED" and r["nextState"] == "After"
    assert json.loads(r["output"]) == {"req": {"base": http_target.url}, "got": {"status": 200}}
    i = r["inspectionData"]
    assert json.loads(i["afterInputPath"]) == {"base": http_target.url}
    assert json.loads(i["afterParameters"]) == {"ApiEndpoint": f"{http_target.url}/items", "Method": "GET"}
    assert json.loads(i["afterResultSelector"]) == {"status": 200}
    assert http_target.requests == [("GET", "/items", "")]

    mock = {"errorOutput": {"error": "States.Http.StatusCode.503", "cause": "busy"}}
    r = sfn.test_state(definition=json.dumps(task), input=json.dumps(inp), inspectionLevel="DEBUG", mock=mock)
    assert r["status"] == "RETRIABLE" and r["error"] == "States.Http.StatusCode.503"
    assert r["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 2}
    r = sfn.test_state(definition=json.dumps(task), input=json.dumps(inp), mock=mock,
                       stateConfiguration={"retrierRetryCount": 1})
    assert r["status"] == "CAUGHT_ERROR" and r["nextState"] == "Handle" and "inspectionData" not in r
    assert json.loads(r["output"])["err"] == {"Error": "States.Http.StatusCode.503", "Cause": "busy"}
    assert len(http_target.requests) == 1  # mocks call nothing

    # a state of a whole machine, JSONata with variables
    whole = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Output": "{% $states.input.n + $k %}", "Assign": {"k2": "{% $k * 2 %}"}, "End": True}}}
    r = sfn.test_state(definition=json.dumps(whole), stateName="B", input='{"n": 1}', variables='{"k": 10}',
                       inspectionLevel="DEBUG")
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == 11 and "nextState" not in r
    assert json.loads(r["inspectionData"]["variables"]) == {"k": 10, "k2": 20}

    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.test_state(definition='{"Type": "Pass", "Bogus": 1, "End": true}')
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.test_state(definition="{not json")
    with pytest.raises(sfn.exceptions.InvalidExecutionInput):
        sfn.test_state(definition='{"Type": "Pass", "End": true}', input="[1,")
    with pytest.raises(sfn.exceptions.ValidationException):
        sfn.test_state(definition=json.dumps({**task, "Resource": "arn:aws:states:::http:invoke.waitForTaskToken"}))


def test_distributed_map_runs(sfn):
    """A distributed Map's children are executions of their own: ListMapRuns, DescribeMapRun,
    ListExecutions by map run, each child's history; a tolerated failure; redrive re-runs only
    the failed child."""
    d = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "Label": "Items", "ItemsPath": "$.items", "ToleratedFailureCount": 0, "MaxConcurrency": 2,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Check", "States": {
                              "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "Boom"}], "Default": "Double"},
                              "Boom": {"Type": "Fail", "Error": "Item.Bad", "Cause": "three"},
                              "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, $)"}, "End": True}}},
        "End": True}}}
    arn = machine(sfn, "dist", d)
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3, 4]}))["executionArn"]
    out = wait_done(sfn, e)
    assert out["status"] == "FAILED" and out["error"] == "States.ExceedToleratedFailureThreshold", out
    runs = sfn.list_map_runs(executionArn=e)["mapRuns"]
    assert len(runs) == 1 and runs[0]["stateMachineArn"] == f"{arn}/Items"
    run = runs[0]["mapRunArn"]
    assert run.startswith("arn:aws:states:us-east-1:123456789012:mapRun:dist/Items:")
    r = sfn.describe_map_run(mapRunArn=run)
    assert r["status"] == "FAILED" and r["maxConcurrency"] == 2 and r["executionArn"] == e
    assert (r["itemCounts"]["total"], r["itemCounts"]["succeeded"], r["itemCounts"]["failed"]) == (4, 2, 1)
    children = sfn.list_executions(mapRunArn=run)["executions"]
    assert sorted(c["status"] for c in children) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    # a map run's listing shows each child's items and its run; no other listing does
    assert all((c["itemCount"], c["mapRunArn"]) == (1, run) for c in children), children
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [x["executionArn"] for x in listed] == [e]
    assert "itemCount" not in listed[0] and "mapRunArn" not in listed[0]
    failed = next(c for c in children if c["status"] == "FAILED")
    fd = sfn.describe_execution(executionArn=failed["executionArn"])
    assert fd["mapRunArn"] == run and fd["error"] == "Item.Bad" and fd["input"] == "3"
    fm = sfn.describe_state_machine_for_execution(executionArn=failed["executionArn"])
    assert (fm["stateMachineArn"], fm["mapRunArn"], fm["label"]) == (f"{arn}/Items", run, "Items")
    types = [ev["type"] for ev in history(sfn, failed["executionArn"])]
    assert types == ["ExecutionStarted", "ChoiceStateEntered", "ChoiceStateExited", "FailStateEntered", "ExecutionFailed"]
    # the parent's history has the run, not the children's states
    ptypes = [ev["type"] for ev in history(sfn, e)]
    assert "MapRunStarted" in ptypes and "PassStateEntered" not in ptypes
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.describe_map_run(mapRunArn=run + "x")
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_map_run(mapRunArn=e)

    # redrive re-runs the failed child only (which fails again: nothing was fixed); the
    # succeeded children are not run again
    sfn.redrive_execution(executionArn=e)
    out = wait_done(sfn, e)
    assert out["status"] == "FAILED" and out["redriveCount"] == 1
    children = sfn.list_executions(mapRunArn=run)["executions"]
    again = sfn.describe_execution(executionArn=failed["executionArn"])
    assert again["redriveCount"] == 1 and again["status"] == "FAILED"
    listed = next(c for c in children if c["executionArn"] == failed["executionArn"])
    assert listed["redriveCount"] == 1 and listed["redriveDate"] == again["redriveDate"]
    ok = [c for c in children if c["status"] == "SUCCEEDED"]
    assert all("redriveDate" not in c for c in ok)
    assert all(sfn.describe_execution(executionArn=c["executionArn"])["redriveCount"] == 0 for c in ok)
    assert sfn.describe_map_run(mapRunArn=run)["redriveCount"] == 1


def test_virtual_clock(make_server):
    """--virtual-clock: Waits end at once and the execution's clock jumps to their end."""
    s = make_server("--virtual-clock")
    sfn = s.client()
    definition = {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime"}, "ResultPath": "$.before", "Next": "Day"},
            "Day": {"Type": "Wait", "Seconds": 86400, "Next": "Until"},
            "Until": {"Type": "Wait", "TimestampPath": "$.until", "Next": "After"},
            "After": {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime"}, "ResultPath": "$.after", "End": True},
        },
    }
    until = time.strftime("%Y-%m-%dT07:00:00Z", time.gmtime(time.time() + 30 * 86400))
    inp = json.dumps({"until": until})
    t0 = time.time()
    arn = machine(sfn, "virtual", definition)
    e = sfn.start_execution(stateMachineArn=arn, input=inp)["executionArn"]
    d = wait_done(sfn, e, timeout=10)
    assert d["status"] == "SUCCEEDED", d
    assert time.time() - t0 < 10
    out = json.loads(d["output"])
    assert out["after"]["t"].startswith(until[:-1]), out
    assert d["stopDate"].strftime("%Y-%m-%dT%H") == until[:13], "the stop date is the execution's time"
    events = history(sfn, e)
    day = [ev for ev in events if ev["type"] == "WaitStateExited"]
    assert day and (day[0]["timestamp"] - events[0]["timestamp"]).total_seconds() >= 86400
    # the execution's timeout still counts virtual time
    timed = machine(sfn, "virtual-timeout", {"TimeoutSeconds": 3600, **definition})
    e = sfn.start_execution(stateMachineArn=timed, input=inp)["executionArn"]
    d = wait_done(sfn, e, timeout=10)
    assert d["status"] == "TIMED_OUT", d
    # Express executions run on it too
    express = machine(sfn, "virtual-express", definition, kind="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=express, input=inp)
    assert r["status"] == "SUCCEEDED", r
    assert json.loads(r["output"])["after"]["t"].startswith(until[:-1])
    # the flag cannot be combined with a wait scale
    p = subprocess.run([os.environ["SHOAL_BIN"], "serve", "--virtual-clock", "--wait-scale", "0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "--wait-scale" in p.stderr


def dist_map(reader=None, writer=None, processor=None, **extra):
    m = {"Type": "Map", "Label": "Rows", "End": True,
         "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                           **(processor or {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})},
         **extra}
    if reader:
        m["ItemReader"] = reader
    if writer:
        m["ResultWriter"] = writer
    return {"StartAt": "Each", "States": {"Each": m}}


def test_item_reader_and_result_writer(server):
    """A distributed Map reads its items from S3 (CSV, JSON Lines with MaxItems from the input,
    a listing) and exports its children's results to S3: a file per status and a manifest."""
    sfn = server.client()
    s3 = server.client(service="s3")
    s3.create_bucket(Bucket="inbox")
    s3.put_object(Bucket="inbox", Key="posts.csv", Body=b"id,title\n1,hello\n2,bad\n3,\"a, b\"\n")
    s3.put_object(Bucket="inbox", Key="posts.jsonl", Body=b'{"n": 1}\n{"n": 2}\n{"n": 3}\n')
    for k in ("pages/a.json", "pages/b.json", "other/c.json"):
        s3.put_object(Bucket="inbox", Key=k, Body=b"{}")

    # CSV → children (one fails, tolerated) → export
    check = {"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.title", "StringEquals": "bad", "Next": "Boom"}],
                  "Default": "Ok"},
        "Boom": {"Type": "Fail", "Error": "Row.Bad", "Cause": "a bad row"},
        "Ok": {"Type": "Pass", "Parameters": {"post.$": "$.id"}, "End": True}}}
    d = dist_map(
        reader={"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "CSV"},
                "Parameters": {"Bucket": "inbox", "Key": "posts.csv"}},
        writer={"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "inbox", "Prefix.$": "$.prefix"}},
        processor=check, ToleratedFailureCount=1)
    e = sfn.start_execution(stateMachineArn=machine(sfn, "csv", d), input='{"prefix": "results"}')["executionArn"]
    out = wait_done(sfn, e)
    assert out["status"] == "SUCCEEDED", out
    result = json.loads(out["output"])
    run = result["MapRunArn"]
    run_id = run.rsplit(":", 1)[1]
    assert result["ResultWriterDetails"] == {"Bucket": "inbox", "Key": f"results/{run_id}/manifest.json"}
    manifest = json.loads(s3.get_object(Bucket="inbox", Key=f"results/{run_id}/manifest.json")["Body"].read())
    assert manifest["DestinationBucket"] == "inbox" and manifest["MapRunArn"] == run
    assert manifest["ResultFiles"]["PENDING"] == []
    [ok_file] = manifest["ResultFiles"]["SUCCEEDED"]
    ok_body = s3.get_object(Bucket="inbox", Key=ok_file["Key"])["Body"].read()
    assert ok_file["Key"] == f"results/{run_id}/SUCCEEDED_0.json" and ok_file["Size"] == len(ok_body)
    ok = json.loads(ok_body)
    assert sorted(json.loads(r["Output"])["post"] for r in ok) == ["1", "3"]
    assert {json.loads(r["Input"])["title"] for r in ok} == {"hello", "a, b"}
    assert all(r["Status"] == "SUCCEEDED" and r["StateMachineArn"] == f"{ACCT}:stateMachine:csv/Rows" for r in ok)
    child = sfn.describe_execution(executionArn=ok[0]["ExecutionArn"])
    assert child["mapRunArn"] == run and child["status"] == "SUCCEEDED"
    [bad] = json.loads(s3.get_object(Bucket="inbox", Key=manifest["ResultFiles"]["FAILED"][0]["Key"])["Body"].read())
    assert (bad["Status"], bad["Error"], bad["Cause"]) == ("FAILED", "Row.Bad", "a bad row")
    assert sfn.describe_map_run(mapRunArn=run)["itemCounts"]["total"] == 3

    # JSON Lines, MaxItemsPath, Bucket from the input; the results shaped by WriterConfig only
    d = dist_map(
        reader={"Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSONL", "MaxItemsPath": "$.max"},
                "Parameters": {"Bucket.$": "$.bucket", "Key": "posts.jsonl"}},
        writer={"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}},
        processor={"StartAt": "Two", "States": {"Two": {"Type": "Pass", "Parameters": {"a.$": "States.Array($.n, $.n)"},
                                                         "OutputPath": "$.a", "End": True}}})
    e = sfn.start_execution(stateMachineArn=machine(sfn, "jsonl", d), input='{"bucket": "inbox", "max": 2}')["executionArn"]
    out = wait_done(sfn, e)
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == [1, 1, 2, 2], out

    # a listing: each object under the prefix is an item
    d = dist_map(reader={"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "inbox", "Prefix": "pages/"}},
                 ItemSelector={"key.$": "$$.Map.Item.Value.Key", "size.$": "$$.Map.Item.Value.Size"})
    e = sfn.start_execution(stateMachineArn=machine(sfn, "listing", d))["executionArn"]
    out = wait_done(sfn, e)
    assert json.loads(out["output"]) == [{"key": "pages/a.json", "size": 2}, {"key": "pages/b.json", "size": 2}], out

    # a missing object fails the Map with States.ItemReaderFailed, which Catch handles
    d = dist_map(reader={"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                         "Parameters": {"Bucket": "inbox", "Key": "nope.json"}},
                 Catch=[{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Caught", "ResultPath": "$.error"}])
    d["States"]["Each"].pop("End")
    d["States"]["Each"]["Next"] = "Caught"
    d["States"]["Caught"] = {"Type": "Pass", "End": True}
    e = sfn.start_execution(stateMachineArn=machine(sfn, "missing", d))["executionArn"]
    out = wait_done(sfn, e)
    err = json.loads(out["output"])["error"]
    assert err["Error"] == "States.ItemReaderFailed" and "NoSuchKey" in err["Cause"], out

    # only a distributed Map reads items; a reader needs a known resource
    inline = dist_map(reader={"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                              "Parameters": {"Bucket": "inbox", "Key": "k"}})
    inline["States"]["Each"]["ItemProcessor"]["ProcessorConfig"]["Mode"] = "INLINE"
    with pytest.raises(sfn.exceptions.InvalidDefinition, match="DISTRIBUTED"):
        machine(sfn, "inline", inline)
    with pytest.raises(sfn.exceptions.InvalidDefinition, match="ItemReader's Resource"):
        machine(sfn, "bad", dist_map(reader={"Resource": "arn:aws:states:::s3:getObjects"}))


def test_item_reader_items_survive_a_changed_object(server):
    """The items read are stored with the history: the execution resumes after each child's
    Wait by replaying, and still maps over the items it first read although the object
    changed meanwhile."""
    sfn = server.client()
    s3 = server.client(service="s3")
    s3.create_bucket(Bucket="inbox")
    s3.put_object(Bucket="inbox", Key="items.json", Body=b"[1, 2, 3]")
    d = dist_map(reader={"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                         "Parameters": {"Bucket": "inbox", "Key": "items.json"}},
                 processor={"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 40, "End": True}}})
    e = sfn.start_execution(stateMachineArn=machine(sfn, "nap", d))["executionArn"]
    deadline = time.time() + 10
    while not sfn.list_map_runs(executionArn=e)["mapRuns"]:
        assert time.time() < deadline, "the map run never started"
        time.sleep(0.05)
    s3.put_object(Bucket="inbox", Key="items.json", Body=b"[7]")
    out = wait_done(sfn, e)
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == [1, 2, 3], out
