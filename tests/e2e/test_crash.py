"""Crash test: 200 executions mixing Waits, Maps (inline and distributed), Parallels, callbacks
(some waiting beside other concurrent branches) and retries; the server is killed with SIGKILL three times at random points and restarted on the
same data. Every execution (and every child of a distributed Map) must finish with the output it
has without crashes, histories must be well formed, and no task may have run more often than its
history says it was started."""

import collections
import json
import random
import re
import threading
import time
import urllib.parse

from conftest import Server, history, machine
from test_branches import fuzz_answer, fuzz_calls, fuzz_machine, fuzz_redrive, fuzz_seed, fuzz_services, fuzz_start, fuzz_worker  # noqa: F401 (a fixture)

RETRY = [{"ErrorEquals": ["Shoal.TaskInterrupted", "States.Http.StatusCode.503"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 1}]


def call(next_=None, path="/ok"):
    s = {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
         "Parameters": {"ApiEndpoint.$": f"States.Format('{{}}{path}', $.base)", "Method": "GET",
                        "QueryParameters": {"exec.$": "$$.Execution.Name", "state.$": "$$.State.Name",
                                            "at.$": "States.Format('{}', $$.State.EnteredTime)"}},
         "ResultSelector": {"s.$": "$.StatusCode"}, "Retry": RETRY}
    s.update({"Next": next_} if next_ else {"End": True})
    return s


MACHINES = {
    "waits": {"StartAt": "W1", "States": {
        "W1": {"Type": "Wait", "Seconds": 20, "Next": "Call"},
        "Call": call("W2"),
        "W2": {"Type": "Wait", "Seconds": 10, "Next": "Done"},
        "Done": {"Type": "Pass", "Result": "waited", "End": True}}},
    "map": {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"base.$": "$.base", "i.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "Call", "States": {"Call": call("Pause"),
                                                         "Pause": {"Type": "Wait", "Seconds": 5, "End": True}}},
        "End": True}}},
    "distributed": {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"base.$": "$.base", "i.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Call", "States": {"Call": call("Pause"),
                                                        "Pause": {"Type": "Wait", "Seconds": 5, "End": True}}},
        "End": True}}},
    "parallel": {"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "A", "States": {"A": call(path="/flaky/a")}},
            {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 15, "Next": "B2"}, "B2": call(path="/flaky/b")}}]}}},
    # a callback waits in one branch while the other's Map runs two iterations at a time
    "fanout": {"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Ask", "States": {"Ask": {
                "Type": "Task", "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
                "Parameters": {"ApiEndpoint.$": "States.Format('{}/ask', $.base)", "Method": "POST",
                               "RequestBody": {"token.$": "$$.Task.Token", "exec.$": "$$.Execution.Name"}},
                "Retry": RETRY, "End": True}}},
            {"StartAt": "Each", "States": {"Each": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "End": True,
                "ItemSelector": {"base.$": "$.base", "i.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"StartAt": "Call", "States": {"Call": call("Pause"),
                                                                 "Pause": {"Type": "Wait", "Seconds": 5, "End": True}}}}}}]}}},
    "callback": {"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
                "Parameters": {"ApiEndpoint.$": "States.Format('{}/ask', $.base)", "Method": "POST",
                               "RequestBody": {"token.$": "$$.Task.Token", "exec.$": "$$.Execution.Name"}},
                "Retry": RETRY, "Next": "After"},
        "After": {"Type": "Wait", "Seconds": 5, "End": True}}},
}

EXPECTED = {
    "waits": "waited",
    # each iteration ends in a Wait that passes on the call's selected result
    "map": [{"s": 200}] * 3,
    "distributed": [{"s": 200}] * 3,
    "parallel": [{"s": 200}, {"s": 200}],
    "callback": {"answered": True},
    "fanout": [{"answered": True}, [{"s": 200}] * 3],
}


def test_executions_survive_kill_9(tmp_path, http_target):
    rng = random.Random(7)
    server = Server(str(tmp_path), ["--wait-scale", "0.05"]).start()
    sfn = server.client()
    arns = {k: machine(sfn, k, d) for k, d in MACHINES.items()}
    base = http_target.url
    started = {}
    lock = threading.Lock()

    def starter(names):
        c = server.client()
        for kind, n in names:
            inp = {"base": base, "items": list(range(3))} if kind in ("map", "distributed", "fanout") else {"base": base}
            e = c.start_execution(stateMachineArn=arns[kind], name=n, input=json.dumps(inp))["executionArn"]
            with lock:
                started[e] = kind

    kinds = list(MACHINES)
    names = [(kinds[i % len(kinds)], f"x{i:03d}") for i in range(200)]
    threads = [threading.Thread(target=starter, args=(names[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 200

    answered = set()

    def answer_callbacks(c):
        with http_target.lock:
            asks = [json.loads(b) for _, p, b in http_target.requests if p.startswith("/ask")]
        for a in asks:
            if a["token"] in answered:
                continue
            try:
                c.send_task_success(taskToken=a["token"], output='{"answered": true}')
            except (c.exceptions.TaskTimedOut, c.exceptions.TaskDoesNotExist):
                pass
            answered.add(a["token"])

    for crash in range(3):
        time.sleep(rng.uniform(0.3, 1.5))
        answer_callbacks(sfn)
        server.kill9()
        server.start()
        sfn = server.client()

    end = time.time() + 120
    while True:
        answer_callbacks(sfn)
        running = sum(len(sfn.list_executions(stateMachineArn=a, statusFilter="RUNNING", maxResults=1000)["executions"]) for a in arns.values())
        if running == 0:
            break
        assert time.time() < end, f"{running} executions still running"
        time.sleep(0.2)

    calls = collections.Counter()
    with http_target.lock:
        for _, path, body in http_target.requests:
            q = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
            who = q.get("exec", [None])[0] or json.loads(body or "{}").get("exec")
            calls[who] += 1
    for arn, kind in started.items():
        d = sfn.describe_execution(executionArn=arn)
        assert d["status"] == "SUCCEEDED", (arn, d.get("error"), d.get("cause"))
        out = json.loads(d["output"])
        assert out == EXPECTED[kind], (arn, out)
        ev = history(sfn, arn)
        assert [e["id"] for e in ev] == list(range(1, len(ev) + 1)), arn
        assert ev[0]["type"] == "ExecutionStarted" and ev[-1]["type"] == "ExecutionSucceeded", arn
        assert sum(e["type"] == "ExecutionStarted" for e in ev) == 1
        started_tasks = sum(e["type"] == "TaskStarted" for e in ev)
        name = arn.rsplit(":", 1)[1]
        # a task runs at most once per TaskStarted: only a Retry runs it again
        assert calls[name] <= started_tasks, (arn, calls[name], started_tasks)
        for run in sfn.list_map_runs(executionArn=arn)["mapRuns"]:
            assert sfn.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]["succeeded"] == 3
            children = sfn.list_executions(mapRunArn=run["mapRunArn"])["executions"]
            assert len(children) == 3, children
            for c in children:
                cev = history(sfn, c["executionArn"])
                assert [e["id"] for e in cev] == list(range(1, len(cev) + 1)), c
                assert cev[0]["type"] == "ExecutionStarted" and cev[-1]["type"] == "ExecutionSucceeded", cev
                tasks = sum(e["type"] == "TaskStarted" for e in cev)
                assert 1 <= calls[c["name"]] <= tasks, (c, calls[c["name"]], tasks)
    server.stop()
    # the kills hit executions in flight (otherwise this test proves nothing)
    log = server.output()
    resumed = [int(n) for n in re.findall(r"(\d+) running execution\(s\) resumed", log)]
    assert len(resumed) == 4 and sum(resumed[1:]) > 0, resumed


def stuck(sfn, execs):
    """What the executions still running last did, for a failure's message: the last events of
    their histories, with the details of a task submitted or scheduled."""
    out = {}
    for e in execs:
        if sfn.describe_execution(executionArn=e)["status"] != "RUNNING":
            continue
        events = history(sfn, e)
        out[e.rsplit(":", 1)[-1]] = [
            (ev["id"], ev["type"], json.dumps(ev.get("taskSubmittedEventDetails", ev.get("taskScheduledEventDetails", {})))[:300])
            for ev in events[-12:]]
    return out


def test_random_fan_outs_survive_a_kill(make_server, http_target, fuzz_worker):
    """The random fan-outs of test_branches, some calling a broken target, starting nested
    executions or waiting for an activity worker, with the server killed (-9) and restarted at a
    random moment of each round: every execution ends, succeeded, or failed by the broken target
    or by a call the kill cut short (`Shoal.TaskInterrupted`), directly, in a nested execution
    or as a distributed Map child; no call made once is made again. Once the target is mended,
    a redrive of each failed one ends as a clean run does."""
    seed, rng = fuzz_seed()
    srv = make_server("--wait-scale", "0.01")
    sfn = srv.client()
    answered = set()
    causes = {"Shoal.TaskInterrupted", "States.Http.StatusCode.500"}

    def expected(out):
        # a nested execution that failed so fails its parent's task with States.TaskFailed
        nested = out.get("error") == "States.TaskFailed" and any(c in out.get("cause", "") for c in causes)
        return out.get("error") in causes or nested

    fuzz_services(srv, fuzz_worker)
    for round_ in range(4):
        d = fuzz_machine(rng, extra=("broken", "child", "activity"))
        why = f"seed {seed} (SHOAL_FUZZ_SEED), round {round_}: {json.dumps(d)}"
        arn = machine(sfn, f"cf{round_}", d)
        http_target.broken = True
        execs = fuzz_start(sfn, arn, http_target, round_)
        kill_at = time.time() + rng.uniform(0.0, 0.3)
        killed = False
        end = time.time() + 60
        while True:
            if not killed and time.time() >= kill_at:
                srv.kill9()
                srv.start()
                sfn, killed = srv.client(), True
            st = [sfn.describe_execution(executionArn=e)["status"] for e in execs]
            if killed and all(s != "RUNNING" for s in st):
                break
            assert time.time() < end, (why, st, stuck(sfn, execs))
            fuzz_answer(sfn, http_target, answered, rng)
        http_target.broken = False
        failed = []
        for e in execs:
            out = sfn.describe_execution(executionArn=e)
            if out.get("error") == "States.ExceedToleratedFailureThreshold":
                # a distributed Map fails when a child does
                run = sfn.list_map_runs(executionArn=e)["mapRuns"][0]["mapRunArn"]
                children = sfn.list_executions(mapRunArn=run, statusFilter="FAILED")["executions"]
                ends = [sfn.describe_execution(executionArn=c["executionArn"]) for c in children]
                assert ends and all(expected(c) for c in ends), (why, [(c.get("error"), c.get("cause")) for c in ends])
            else:
                assert out["status"] == "SUCCEEDED" or expected(out), (why, out.get("error"), out.get("cause"))
            if out["status"] == "FAILED":
                failed.append(e)
        calls = [c for c in fuzz_calls(http_target) if c[0] == "direct" and c[1].startswith(f"r{round_}e")]
        assert all(calls.count(c) == 1 for c in calls), (why, sorted(calls))
        # what failed, a redrive finishes, running none of what had finished
        fuzz_redrive(sfn, arn, execs, failed, http_target, answered, rng, round_, why)


def test_sync_tasks_that_start_one_child_both_get_its_end_across_a_kill(make_server):
    """Two `.sync` branches start a child of one name and input. The second start is answered
    with the running child, as StartExecution is for a running execution's name and input, and
    the child's end answers both branches, though the server is killed while the child runs."""
    srv = make_server()
    sfn = srv.client()
    child = machine(sfn, "sharedchild", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"got.$": "$.k"}, "End": True}}})
    start = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
             "Parameters": {"StateMachineArn": child, "Name.$": "States.Format('shared-{}', $$.Execution.Name)",
                            "Input": {"k.$": "$.k"}},
             "ResultSelector": {"o.$": "$.Output", "arn.$": "$.ExecutionArn"}, "End": True}
    parent = machine(sfn, "sharingparent", {"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "A", "States": {"A": start}}, {"StartAt": "B", "States": {"B": start}}]}}})
    execs = {sfn.start_execution(stateMachineArn=parent, name=f"p{k}", input=json.dumps({"k": k}))["executionArn"]: k
             for k in range(3)}
    end = time.time() + 30
    for e in execs:
        while sum(ev["type"] == "TaskSubmitted" for ev in history(sfn, e)) < 2:
            assert time.time() < end, stuck(sfn, [e])
            time.sleep(0.05)
    srv.kill9()
    srv.start()
    sfn = srv.client()
    for e, k in execs.items():
        while sfn.describe_execution(executionArn=e)["status"] == "RUNNING":
            assert time.time() < end, stuck(sfn, [e])
            time.sleep(0.05)
        d = sfn.describe_execution(executionArn=e)
        assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
        a, b = json.loads(d["output"])
        assert a == b and a["o"] == {"got": k}, (a, b)
    # one child per parent: the second start made none
    assert len(sfn.list_executions(stateMachineArn=child)["executions"]) == 3
