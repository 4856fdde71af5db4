"""Parallel branches and Map iterations run concurrently under `shoal serve`, as on AWS: a branch
that waits (for a callback, a timer) lets the others go on, MaxConcurrency bounds the iterations
in flight, a failed branch ends its fan-out at once, and replays after answers, restarts and
redrives reproduce every branch however the branches interleaved."""

import json
import os
import random
import threading
import time
import urllib.request

import pytest

from conftest import Server, history, machine, wait_done


def ask(path="/ask"):
    """A callback task: posts its token (and what the branch knows) and waits for the answer."""
    return {"Type": "Task", "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
            "Parameters": {"ApiEndpoint.$": f"States.Format('{{}}{path}', $.base)", "Method": "POST",
                           "RequestBody": {"token.$": "$$.Task.Token", "who.$": "$.who", "id.$": "$.id"}},
            "ResultPath": "$.answer", "End": True}


def branch(who):
    # the id is random: a replay that drew it differently would return another one
    return {"StartAt": "Id", "States": {
        "Id": {"Type": "Pass", "Parameters": {"base.$": "$.base", "who": who, "id.$": "States.UUID()"}, "Next": "Ask"},
        "Ask": ask()}}


def asks(http_target, n, timeout=10, path="/ask"):
    """Waits until `n` callback requests to `path` arrived; returns their bodies."""
    end = time.time() + timeout
    while True:
        with http_target.lock:
            got = [json.loads(b) for _, p, b in http_target.requests if p == path]
        if len(got) >= n or time.time() > end:
            assert len(got) >= n, f"{len(got)} of {n} callback requests arrived: {got}"
            return got
        time.sleep(0.02)


def test_parallel_branches_wait_for_their_callbacks_together(sfn, http_target):
    arn = machine(sfn, "par", {"StartAt": "All", "States": {"All": {
        "Type": "Parallel", "End": True, "Branches": [branch("a"), branch("b"), branch("c")]}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))["executionArn"]
    # one after another, only the first branch would have asked
    got = asks(http_target, 3)
    assert sorted(g["who"] for g in got) == ["a", "b", "c"]
    for g in reversed(got):
        sfn.send_task_success(taskToken=g["token"], output=json.dumps({"n": g["who"]}))
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    ids = {g["who"]: g["id"] for g in got}
    assert [(o["who"], o["answer"], o["id"]) for o in out] == [(w, {"n": w}, ids[w]) for w in "abc"]
    ev = history(sfn, e)
    assert [x["id"] for x in ev] == list(range(1, len(ev) + 1))
    types = [x["type"] for x in ev]
    # every branch asked before any answer came
    assert max(i for i, t in enumerate(types) if t == "TaskSubmitted") < types.index("TaskSucceeded")
    assert types.count("TaskSucceeded") == 3 and types.count("TaskStateExited") == 3
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]


def test_map_iterations_run_concurrently_up_to_max_concurrency(sfn, http_target):
    arn = machine(sfn, "each", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "End": True,
        "ItemSelector": {"base.$": "$.base", "who.$": "States.Format('{}', $$.Map.Item.Value)"},
        "ItemProcessor": {"StartAt": "Id", "States": {
            "Id": {"Type": "Pass", "Parameters": {"base.$": "$.base", "who.$": "$.who", "id.$": "States.UUID()"}, "Next": "Ask"},
            "Ask": ask()}}}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url, "items": [0, 1, 2, 3, 4]}))["executionArn"]
    got = asks(http_target, 2)
    time.sleep(0.5)
    # two in flight, the third waits for a free slot
    assert len(asks(http_target, 2)) == 2
    # answers in any order free slots; the results keep the items' order
    answered = set()
    end = time.time() + 20
    while len(answered) < 5:
        assert time.time() < end, f"answered {answered}"
        got = asks(http_target, len(answered) + 1)
        open_ = [g for g in got if g["who"] not in answered]
        assert len(open_) <= 2, open_
        g = open_[-1]
        sfn.send_task_success(taskToken=g["token"], output=json.dumps({"n": g["who"]}))
        answered.add(g["who"])
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    out = json.loads(d["output"])
    assert [(o["who"], o["answer"]) for o in out] == [(str(i), {"n": str(i)}) for i in range(5)]
    types = [x["type"] for x in history(sfn, e)]
    assert types.count("MapIterationStarted") == 5 and types.count("MapIterationSucceeded") == 5


def test_a_branch_that_ends_while_another_waits_keeps_its_task_results(sfn, http_target):
    """One branch waits for a callback while the other calls an HTTP endpoint and ends in the
    same segment: what the second recorded after the first parked is stored too, so the
    callback's answer finds its call done (not interrupted), and it is not called again."""
    arn = machine(sfn, "mixed", {"StartAt": "All", "States": {"All": {
        "Type": "Parallel", "End": True, "Branches": [
            branch("waits"),
            {"StartAt": "Call", "States": {"Call": {
                "Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
                "Parameters": {"ApiEndpoint.$": "States.Format('{}/direct', $.base)", "Method": "POST", "RequestBody": {"b": 1}},
                "ResultSelector": {"s.$": "$.StatusCode"}}}}]}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))["executionArn"]
    waiting = asks(http_target, 1)[0]
    asks(http_target, 1, path="/direct")
    # the call's result is stored while the other branch still waits
    end = time.time() + 10
    while "TaskSucceeded" not in [x["type"] for x in history(sfn, e)]:
        assert time.time() < end, [x["type"] for x in history(sfn, e)]
        time.sleep(0.02)
    sfn.send_task_success(taskToken=waiting["token"], output='{"ok": true}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert json.loads(d["output"])[1] == {"s": 200}
    assert [p for _, p, _ in http_target.requests].count("/direct") == 1
    types = [x["type"] for x in history(sfn, e)]
    assert types.count("TaskSucceeded") == 2 and "TaskFailed" not in types, types


def test_a_failed_branch_ends_the_parallel_while_another_waits(sfn, http_target):
    arn = machine(sfn, "fail", {"StartAt": "All", "States": {
        "All": {"Type": "Parallel", "Next": "Unreached", "Branches": [
            branch("waits"),
            {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 1, "Next": "Boom"},
                                          "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "on purpose"}}}],
                "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "Hold"}]},
        "Unreached": {"Type": "Pass", "End": True},
        "Hold": {"Type": "Pass", "Parameters": {"base.$": "$.base", "who": "hold", "id": "h"}, "Next": "Ask"},
        "Ask": ask("/hold")}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))["executionArn"]
    waiting = asks(http_target, 1)[0]
    hold = asks(http_target, 1, path="/hold")[0]
    # the Hold task is submitted once its call has returned, just after the request arrived
    end = time.time() + 10
    while True:
        types = [x["type"] for x in history(sfn, e)]
        if types.count("TaskSubmitted") == 2 or time.time() > end:
            break
        time.sleep(0.02)
    assert "ParallelStateFailed" in types and types.count("TaskSubmitted") == 2, types
    # the waiting branch was left behind: its late answer changes nothing
    try:
        sfn.send_task_success(taskToken=waiting["token"], output='{"late": true}')
    except sfn.exceptions.TaskTimedOut:
        pass
    time.sleep(0.5)
    assert [x["type"] for x in history(sfn, e)] == types
    sfn.send_task_success(taskToken=hold["token"], output='{"held": true}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["answer"] == {"held": True}
    types = [x["type"] for x in history(sfn, e)]
    entered = [x["stateEnteredEventDetails"]["name"] for x in history(sfn, e) if "stateEnteredEventDetails" in x]
    assert types.count("TaskSucceeded") == 1 and "Unreached" not in entered and entered[-1] == "Ask"


def test_waiting_branches_survive_kill_9(tmp_path, http_target):
    server = Server(str(tmp_path)).start()
    try:
        sfn = server.client()
        arn = machine(sfn, "par", {"StartAt": "All", "States": {"All": {
            "Type": "Parallel", "End": True, "Branches": [
                branch("a"),
                {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 2, "Next": "Call"},
                                              "Call": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                                                       "Parameters": {"ApiEndpoint.$": "States.Format('{}/call', $.base)", "Method": "GET"},
                                                       "ResultSelector": {"s.$": "$.StatusCode"}, "End": True}}},
                branch("c")]}}})
        e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))["executionArn"]
        got = asks(http_target, 2)
        # killed after both submissions are stored (killed between a callback's post and its
        # TaskSubmitted, a task fails with Shoal.TaskInterrupted, as docs/server.md says)
        end = time.time() + 10
        while sum(x["type"] == "TaskSubmitted" for x in history(sfn, e)) < 2:
            assert time.time() < end, history(sfn, e)
            time.sleep(0.02)
        server.kill9()
        server.start()
        sfn = server.client()
        for g in got:
            sfn.send_task_success(taskToken=g["token"], output=json.dumps({"n": g["who"]}))
        d = wait_done(sfn, e)
        assert d["status"] == "SUCCEEDED", d
        out = json.loads(d["output"])
        ids = {g["who"]: g["id"] for g in got}
        assert out[0]["id"] == ids["a"] and out[2]["id"] == ids["c"]
        assert out[1] == {"s": 200}
        with http_target.lock:
            paths = [p for _, p, _ in http_target.requests]
        # nothing ran twice: each branch asked once, the timer branch called once
        assert sorted(paths) == ["/ask", "/ask", "/call"]
        ev = history(sfn, e)
        assert [x["id"] for x in ev] == list(range(1, len(ev) + 1))
    finally:
        server.stop()


def test_redrive_reruns_only_the_failed_branch(sfn, http_target):
    def call(path):
        return {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint.$": f"States.Format('{{}}{path}', $.base)", "Method": "GET"},
                "ResultSelector": {"s.$": "$.StatusCode"}, "End": True}
    http_target.fail["/b"] = 500
    arn = machine(sfn, "rd", {"StartAt": "All", "States": {"All": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "A", "States": {"A": call("/a")}},
            {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 1, "Next": "B"}, "B": call("/b")}},
            branch("c")]}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))["executionArn"]
    d = wait_done(sfn, e)
    assert (d["status"], d["error"]) == ("FAILED", "States.Http.StatusCode.500")
    # the callback branch was left waiting when /b failed; a redrive runs it again, and /b
    del http_target.fail["/b"]
    sfn.redrive_execution(executionArn=e)
    got = asks(http_target, 2)
    assert got[0]["token"] != got[1]["token"]
    sfn.send_task_success(taskToken=got[1]["token"], output='{"n": "c"}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out[0] == {"s": 200} and out[1] == {"s": 200} and out[2]["answer"] == {"n": "c"}
    with http_target.lock:
        paths = [p for _, p, _ in http_target.requests]
    assert paths.count("/a") == 1 and paths.count("/b") == 2
    ev = history(sfn, e)
    assert [x["id"] for x in ev] == list(range(1, len(ev) + 1))


def test_activity_tasks_of_concurrent_branches_are_offered_together(sfn):
    act = sfn.create_activity(name="worker")["activityArn"]
    work = {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": act, "End": True}}}
    arn = machine(sfn, "acts", {"StartAt": "All", "States": {"All": {
        "Type": "Parallel", "End": True, "Branches": [work, work]}}})
    e = sfn.start_execution(stateMachineArn=arn, input='{"n": 1}')["executionArn"]
    first = sfn.get_activity_task(activityArn=act, workerName="w1")
    # one after another, the second task would exist only once the first is answered
    second = sfn.get_activity_task(activityArn=act, workerName="w2")
    assert first.get("taskToken") and second.get("taskToken") and first["taskToken"] != second["taskToken"]
    sfn.send_task_success(taskToken=second["taskToken"], output='{"by": "w2"}')
    sfn.send_task_success(taskToken=first["taskToken"], output='{"by": "w1"}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    assert sorted(o["by"] for o in json.loads(d["output"])) == ["w1", "w2"]
    types = [x["type"] for x in history(sfn, e)]
    assert types.count("ActivityStarted") == 2 and types.count("ActivitySucceeded") == 2


def test_a_distributed_map_in_a_branch_starts_each_child_once(sfn, http_target):
    child = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Now",
             "States": {"Now": {"Type": "Wait", "Seconds": 0, "Next": "Done"},
                        "Done": {"Type": "Pass", "Result": "ok", "End": True}}}
    arn = machine(sfn, "dist", {"StartAt": "All", "States": {"All": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": child,
                                                    "ItemSelector": {"i.$": "$$.Map.Item.Value"}, "End": True}}},
            branch("b")]}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url, "items": [1, 2]}))["executionArn"]
    g = asks(http_target, 1)[0]
    sfn.send_task_success(taskToken=g["token"], output='{"n": "b"}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])[0] == ["ok", "ok"]
    runs = sfn.list_map_runs(executionArn=e)["mapRuns"]
    assert len(runs) == 1
    children = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"])["executions"]
    assert len(children) == 2, children
    for c in children:
        types = [x["type"] for x in history(sfn, c["executionArn"])]
        assert types.count("ExecutionStarted") == 1 and types[-1] == "ExecutionSucceeded", types


def test_a_failure_in_a_branch_quotes_the_stored_event_id(sfn, http_target):
    bad = {"StartAt": "Bad", "States": {"Bad": {"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "End": True}}}
    arn = machine(sfn, "bad", {"StartAt": "All", "States": {"All": {
        "Type": "Parallel", "End": True, "Branches": [branch("a"), bad]}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url}))["executionArn"]
    d = wait_done(sfn, e)
    assert (d["status"], d["error"]) == ("FAILED", "States.Runtime"), d
    entered = [x["id"] for x in history(sfn, e)
               if x.get("stateEnteredEventDetails", {}).get("name") == "Bad"]
    assert f"(entered at the event id #{entered[0]})" in d["cause"], (entered, d["cause"])


def test_distributed_map_children_run_concurrently_up_to_max_concurrency(sfn, http_target):
    arn = machine(sfn, "kids", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "End": True,
        "ItemSelector": {"base.$": "$.base", "who.$": "States.Format('{}', $$.Map.Item.Value)"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Id", "States": {
                              "Id": {"Type": "Pass", "Parameters": {"base.$": "$.base", "who.$": "$.who", "id.$": "States.UUID()"}, "Next": "Ask"},
                              "Ask": ask()}}}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url, "items": [0, 1, 2]}))["executionArn"]
    got = asks(http_target, 2)
    time.sleep(0.5)
    assert len(asks(http_target, 2)) == 2
    run = sfn.list_map_runs(executionArn=e)["mapRuns"][0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=run)["maxConcurrency"] == 2
    sfn.send_task_success(taskToken=got[1]["token"], output='{"n": 1}')
    third = asks(http_target, 3)[2]
    assert third["who"] == "2"
    sfn.send_task_success(taskToken=third["token"], output='{"n": 2}')
    sfn.send_task_success(taskToken=got[0]["token"], output='{"n": 0}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    assert [o["answer"] for o in json.loads(d["output"])] == [{"n": 0}, {"n": 1}, {"n": 2}]
    children = sfn.list_executions(mapRunArn=run)["executions"]
    assert len(children) == 3 and all(c["status"] == "SUCCEEDED" for c in children)
    for c in children:
        ev = history(sfn, c["executionArn"])
        assert [x["id"] for x in ev] == list(range(1, len(ev) + 1))
        assert [x["type"] for x in ev].count("ExecutionStarted") == 1


def test_stopping_the_parent_aborts_its_waiting_children(sfn, http_target):
    arn = machine(sfn, "stop", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemSelector": {"base.$": "$.base", "who.$": "States.Format('{}', $$.Map.Item.Value)", "id": "x"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Ask", "States": {"Ask": ask()}}}}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url, "items": [0, 1, 2]}))["executionArn"]
    got = asks(http_target, 3)
    sfn.stop_execution(executionArn=e, error="Enough", cause="stopped by the test")
    assert wait_done(sfn, e)["status"] == "ABORTED"
    run = sfn.list_map_runs(executionArn=e)["mapRuns"][0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=run)["status"] == "ABORTED"
    children = sfn.list_executions(mapRunArn=run)["executions"]
    assert sorted(c["status"] for c in children) == ["ABORTED"] * 3
    for c in children:
        ev = history(sfn, c["executionArn"])
        assert ev[-1]["type"] == "ExecutionAborted" and [x["id"] for x in ev] == list(range(1, len(ev) + 1))
    try:
        sfn.send_task_success(taskToken=got[0]["token"], output="{}")
        raise AssertionError("an aborted child's task took an answer")
    except sfn.exceptions.TaskTimedOut:
        pass


def test_a_failed_map_run_aborts_its_waiting_children(sfn, http_target):
    """A Map Run that fails past its tolerated failures aborts the children still running, as
    AWS does, also when a Catch lets the execution go on: they run nothing more, and their
    tasks answer TaskTimedOut."""
    child = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Which", "States": {
        "Which": {"Type": "Choice", "Choices": [{"Variable": "$.who", "StringEquals": "2", "Next": "Boom"}], "Default": "Ask"},
        "Boom": {"Type": "Fail", "Error": "Boom"},
        "Ask": {**ask(), "End": False, "Next": "After"},
        "After": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
                  "Parameters": {"ApiEndpoint.$": "States.Format('{}/after', $.base)", "Method": "GET"}}}}
    arn = machine(sfn, "maprunfail", {"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": child, "Next": "Hold",
                 "ItemSelector": {"base.$": "$.base", "who.$": "States.Format('{}', $$.Map.Item.Value)", "id": "x"},
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Hold"}]},
        "Hold": ask("/hold")}})
    e = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"base": http_target.url, "items": [0, 1, 2], "who": "p", "id": "p"}))["executionArn"]
    got = asks(http_target, 2)
    hold = asks(http_target, 1, path="/hold")[0]
    run = sfn.list_map_runs(executionArn=e)["mapRuns"][0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=run)["status"] == "FAILED"
    children = {c["name"][-1]: c["executionArn"] for c in sfn.list_executions(mapRunArn=run)["executions"]}
    assert {k: sfn.describe_execution(executionArn=a)["status"] for k, a in children.items()} == {"0": "ABORTED", "1": "ABORTED", "2": "FAILED"}
    counts = sfn.describe_map_run(mapRunArn=run)["itemCounts"]
    assert (counts["aborted"], counts["failed"], counts["running"]) == (2, 1, 0), counts
    before = history(sfn, children["0"])
    assert before[-1]["type"] == "ExecutionAborted"
    # the execution still waits on Hold: a late answer to an aborted child's task is refused
    # as AWS refuses it, and changes nothing
    try:
        sfn.send_task_success(taskToken=got[0]["token"], output='{"late": true}')
        raise AssertionError("an aborted child's task took an answer")
    except sfn.exceptions.TaskTimedOut:
        pass
    time.sleep(0.3)
    assert history(sfn, children["0"]) == before
    assert sfn.describe_execution(executionArn=children["0"])["status"] == "ABORTED"
    sfn.send_task_success(taskToken=hold["token"], output='{"held": true}')
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])["caught"]["Error"] == "States.ExceedToleratedFailureThreshold"
    with http_target.lock:
        assert not [p for _, p, _ in http_target.requests if p == "/after"]


FUZZ_CHILD = "arn:aws:states:us-east-1:123456789012:stateMachine:fuzz-child"


def fuzz_seed():
    """A fuzz test's seed (`SHOAL_FUZZ_SEED` replays one) and its random generator."""
    seed = int(os.environ.get("SHOAL_FUZZ_SEED", time.time_ns() % 2**32))
    return seed, random.Random(seed)


def fuzz_services(server, worker):
    """What the random steps call on `server`: the nested machine and the activity's worker."""
    fuzz_child_machine(server.client())
    worker(server)


def fuzz_child_machine(sfn):
    """The machine the "child" steps start: one call, to /child/<tag>/<step>."""
    arn = machine(sfn, "fuzz-child", {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
        "Parameters": {"ApiEndpoint.$": "States.Format('{}/child/{}/{}', $.base, $.tag, $.i)", "Method": "POST", "RequestBody": {"b": 1}},
        "ResultSelector": {"s.$": "$.StatusCode"}}}})
    assert arn == FUZZ_CHILD, arn


FUZZ_ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:fuzz-worker"


@pytest.fixture
def fuzz_worker(http_target):
    """Starts a worker for the activity of the "activity" steps, which it creates, on a server:
    the worker reports each task to /activity/<tag>/<step>, so the calls are counted like the
    others, then answers it. It rides out server restarts, and stops with the test."""
    stop = threading.Event()

    def start(server):
        assert server.client().create_activity(name="fuzz-worker")["activityArn"] == FUZZ_ACTIVITY

        def work():
            sfn = server.client()
            while not stop.is_set():
                try:
                    t = sfn.get_activity_task(activityArn=FUZZ_ACTIVITY, workerName="fuzz")
                    if not t.get("taskToken"):
                        continue
                    task = json.loads(t["input"])
                    req = urllib.request.Request(f"{http_target.url}/activity/{task['tag']}/{task['i']}", data=b"{}", method="POST")
                    urllib.request.urlopen(req, timeout=10).read()
                    sfn = answer(sfn, t["taskToken"])
                except Exception:  # noqa: BLE001 - the server restarts under the crash test
                    time.sleep(0.05)
                    sfn = server.client()

        def answer(sfn, token):
            # as a real worker does: an answer the server did not take (it was down) is sent
            # again until it is taken or refused, else its task would wait for ever
            while not stop.is_set():
                try:
                    sfn.send_task_success(taskToken=token, output='{"done": true}')
                    return sfn
                except (sfn.exceptions.TaskTimedOut, sfn.exceptions.TaskDoesNotExist):
                    return sfn
                except Exception:  # noqa: BLE001 - the server restarts under the crash test
                    time.sleep(0.05)
                    sfn = server.client()
            return sfn

        threading.Thread(target=work, daemon=True).start()

    yield start
    stop.set()


def fuzz_step(kind, i):
    """One state of a random branch; every path names the execution (`tag`) and the step."""
    where = f"States.Format('{{}}/{kind}/{{}}/{i}', $.base, $.tag)"
    if kind == "pass":
        return {"Type": "Pass", "ResultPath": f"$.p{i}", "Result": i}
    if kind == "wait":
        return {"Type": "Wait", "Seconds": 1}
    if kind == "ask":
        return {"Type": "Task", "Resource": "arn:aws:states:::http:invoke.waitForTaskToken", "ResultPath": f"$.a{i}",
                "Parameters": {"ApiEndpoint.$": where, "Method": "POST", "RequestBody": {"token.$": "$$.Task.Token"}}}
    if kind == "activity":
        # GetActivityTask hands a task out once, as on AWS: one whose answer a kill cut off
        # never reaches the worker, and only the timeout AWS recommends ends its wait
        return {"Type": "Task", "Resource": FUZZ_ACTIVITY, "ResultPath": f"$.w{i}",
                "Parameters": {"tag.$": "$.tag", "i": i}, "TimeoutSeconds": 10,
                "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 2}]}
    if kind == "child":
        # a nested execution (.sync:2) that makes one call of its own
        return {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "ResultPath": f"$.c{i}",
                "Parameters": {"StateMachineArn": FUZZ_CHILD, "Input": {"base.$": "$.base", "tag.$": "$.tag", "i": i}},
                "ResultSelector": {"o.$": "$.Output"}}
    call = {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "ResultPath": f"$.h{i}",
            "Parameters": {"ApiEndpoint.$": where, "Method": "POST", "RequestBody": {"b": 1}},
            "ResultSelector": {"s.$": "$.StatusCode"}}
    if kind == "flaky":
        # fails the first time (the target answers 503), then succeeds on its retry
        call["Retry"] = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    # "broken": fails the execution while the target is broken (no Retry, no Catch)
    return call


def fuzz_branch(rng, b, depth=0, extra=()):
    """A random branch of 1-3 steps; `extra` adds kinds of step to draw from."""
    kinds = ["pass", "wait", "direct", "flaky", "ask", *extra] + (["nested"] if depth == 0 else [])
    kinds = [rng.choice(kinds) for _ in range(rng.randint(1, 3))]
    names = [f"S{b}_{j}" for j in range(len(kinds))]
    states = {}
    for j, k in enumerate(kinds):
        if k == "nested":
            # a Parallel inside the branch, whose branches are numbered apart from all others
            inner = [fuzz_branch(rng, 100 * (b + 1) + 10 * j + n, depth + 1, extra) for n in range(2)]
            s = {"Type": "Parallel", "Branches": inner, "ResultPath": f"$.n{b * 10 + j}"}
        else:
            s = fuzz_step(k, b * 10 + j)
        s.update({"Next": names[j + 1]} if j + 1 < len(kinds) else {"End": True})
        states[names[j]] = s
    return {"StartAt": names[0], "States": states}


def fuzz_machine(rng, extra=()):
    """A random Parallel of 2-4 random branches, or a Map (inline or distributed) of one."""
    branches = [fuzz_branch(rng, b, extra=extra) for b in range(rng.randint(2, 4))]
    if rng.random() < 0.5:
        return {"StartAt": "All", "States": {"All": {"Type": "Parallel", "End": True, "Branches": branches}}}
    d = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": rng.choice([0, 1, 2]), "End": True,
        "ItemSelector": {"base.$": "$.base", "tag.$": "States.Format('{}-{}', $.tag, $$.Map.Item.Index)"},
        "ItemProcessor": branches[0]}}}
    if rng.random() < 0.5:
        # a distributed Map: each item a child execution of its own
        branches[0]["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    return d


def fuzz_start(sfn, arn, http_target, round_, run="r"):
    """Four executions of a random machine, each tagged by run, round and number."""
    return [sfn.start_execution(stateMachineArn=arn, input=json.dumps(
        {"base": http_target.url, "tag": f"{run}{round_}e{k}", "items": [0, 1, 2]}))["executionArn"] for k in range(4)]


def fuzz_answer(sfn, http_target, answered, rng):
    """Answers up to two callbacks not yet answered, picked at random, then waits a random
    moment."""
    with http_target.lock:
        asked = [json.loads(b)["token"] for _, p, b in http_target.requests if p.startswith("/ask/")]
    todo = [t for t in asked if t not in answered]
    rng.shuffle(todo)
    for t in todo[:2]:
        try:
            sfn.send_task_success(taskToken=t, output='{"ok": true}')
        except sfn.exceptions.TaskTimedOut:
            pass  # its execution ended: the caller's checks say how
        answered.add(t)
    time.sleep(rng.choice([0, 0.01, 0.05]))


def fuzz_settle(sfn, execs, http_target, answered, rng, why, timeout=60):
    """Answers callbacks until none of `execs` is running."""
    end = time.time() + timeout
    while any(sfn.describe_execution(executionArn=e)["status"] == "RUNNING" for e in execs):
        assert time.time() < end, why
        fuzz_answer(sfn, http_target, answered, rng)


def fuzz_calls(http_target):
    """The calls made so far, as (kind, tag, step) from their paths."""
    with http_target.lock:
        paths = [p for _, p, _ in http_target.requests]
    return [tuple(p.strip("/").split("/")) for p in paths if p.count("/") == 3]


def map_children(sfn, e):
    """The child executions of `e`'s map runs."""
    runs = [r["mapRunArn"] for r in sfn.list_map_runs(executionArn=e)["mapRuns"]]
    return [c for r in runs for c in sfn.list_executions(mapRunArn=r)["executions"]]


def exited_steps(sfn, e):
    """The (tag, step) of each task state of `e` (and of its map runs' children) that exited."""
    done = set()
    for x in [e, *(c["executionArn"] for c in map_children(sfn, e))]:
        for ev in history(sfn, x):
            if ev["type"] == "TaskStateExited":
                b, j = ev["stateExitedEventDetails"]["name"][1:].split("_")
                tag = json.loads(ev["stateExitedEventDetails"]["output"])["tag"]
                done.add((tag, str(int(b) * 10 + int(j))))
    return done


def children_errors(sfn, e):
    """What each child of `e`'s map runs came to, with its history's types (for messages)."""
    out = []
    for c in map_children(sfn, e):
        d = sfn.describe_execution(executionArn=c["executionArn"])
        out.append((c["name"], d["status"], d.get("error"), [x["type"] for x in history(sfn, c["executionArn"])]))
    return out


def fuzz_redrive(sfn, arn, execs, failed, http_target, answered, rng, round_, why):
    """Redrives `failed` (some of `execs`, a round of `fuzz_start`) beside a clean run of the
    same machine and inputs: each of `execs` ends as its clean run does, and no task whose state
    had exited before the redrive runs again."""
    done = set().union(*(exited_steps(sfn, e) for e in failed))
    before = len(fuzz_calls(http_target))
    for e in failed:
        sfn.redrive_execution(executionArn=e)
    clean = fuzz_start(sfn, arn, http_target, round_, run="c")
    fuzz_settle(sfn, failed + clean, http_target, answered, rng, why)
    for k, e in enumerate(execs):
        out = sfn.describe_execution(executionArn=e)
        assert out["status"] == "SUCCEEDED", (why, k, out.get("error"), out.get("cause"), children_errors(sfn, e))
        want = sfn.describe_execution(executionArn=clean[k])
        assert want["status"] == "SUCCEEDED", (why, k, want.get("error"), want.get("cause"))
        # the clean run's tags are c<round>e<k>, the redriven's r<round>e<k>
        assert json.loads(out["output"]) == json.loads(want["output"].replace(f'"c{round_}e{k}', f'"r{round_}e{k}')), why
        ev = history(sfn, e)
        assert [x["id"] for x in ev] == list(range(1, len(ev) + 1)), why
        redriven = e in failed
        assert sum(x["type"] == "ExecutionRedriven" for x in ev) == redriven, why
        assert out.get("redriveCount", 0) == redriven, why
    again = [c for c in fuzz_calls(http_target)[before:] if (c[1], c[2]) in done]
    assert not again, (why, "tasks that had exited ran again", again)


def test_random_fan_outs_of_mixed_tasks_all_succeed(server, sfn, http_target, fuzz_worker):
    """Random Parallels and Maps (inline or distributed) whose branches mix Pass, Wait, HTTP
    calls (one fails once and is retried), callbacks, activities, nested executions and
    Parallels of their own, four executions at a time, callbacks answered in random order and
    at random moments: each succeeds, each call is made once (the retried one twice)."""
    seed, rng = fuzz_seed()
    answered = set()
    fuzz_services(server, fuzz_worker)
    for round_ in range(6):
        d = fuzz_machine(rng, extra=("child", "activity"))
        why = f"seed {seed} (SHOAL_FUZZ_SEED), round {round_}: {json.dumps(d)}"
        execs = fuzz_start(sfn, machine(sfn, f"fuzz{round_}", d), http_target, round_)
        fuzz_settle(sfn, execs, http_target, answered, rng, why)
        for e in execs:
            out = sfn.describe_execution(executionArn=e)
            assert out["status"] == "SUCCEEDED", (why, out.get("error"), out.get("cause"))
        with http_target.lock:
            calls = [p for _, p, _ in http_target.requests if p.startswith(("/direct/", "/flaky/", "/child/", "/activity/"))]
        twice = {p for p in calls if p.startswith("/flaky/")}
        assert all(calls.count(p) == (2 if p in twice else 1) for p in calls), (why, sorted(calls))


def test_random_redrives_finish_what_failed_and_repeat_nothing(server, sfn, http_target, fuzz_worker):
    """The random fan-outs with steps whose target is broken, one execution of each round
    stopped at a random moment: an execution that calls a broken step fails; once the target is
    mended, a redrive of each failed or aborted one succeeds with the output a clean run of the
    same input gives, and no task whose state exited before runs again. An execution that
    succeeded cannot be redriven."""
    seed, rng = fuzz_seed()
    answered = set()
    fuzz_services(server, fuzz_worker)
    for round_ in range(8):
        d = fuzz_machine(rng, extra=("broken", "broken", "child", "activity"))
        why = f"seed {seed} (SHOAL_FUZZ_SEED), round {round_}: {json.dumps(d)}"
        arn = machine(sfn, f"redrive{round_}", d)
        http_target.broken = True
        execs = fuzz_start(sfn, arn, http_target, round_)
        # the last one is stopped at a random moment (it may have ended by then)
        time.sleep(rng.choice([0, 0.01, 0.05]))
        try:
            sfn.stop_execution(executionArn=execs[-1], error="Test", cause="stopped at random")
        except sfn.exceptions.ClientError:
            pass
        fuzz_settle(sfn, execs, http_target, answered, rng, why)
        http_target.broken = False
        first = fuzz_calls(http_target)
        failed = []
        for k, e in enumerate(execs):
            out = sfn.describe_execution(executionArn=e)
            tag = f"r{round_}e{k}"
            broke = any(kind == "broken" and t.split("-")[0] == tag for kind, t, _ in first)
            if out["status"] == "ABORTED":
                assert e == execs[-1], (why, tag)
                failed.append(e)
                continue
            assert out["status"] == ("FAILED" if broke else "SUCCEEDED"), (why, tag, out.get("error"), out.get("cause"))
            if broke:
                failed.append(e)
            else:
                try:
                    sfn.redrive_execution(executionArn=e)
                    raise AssertionError(f"a succeeded execution was redriven: {why}")
                except sfn.exceptions.ExecutionNotRedrivable:
                    pass
        fuzz_redrive(sfn, arn, execs, failed, http_target, answered, rng, round_, why)
