"""`shoal sfn`: the CLI conveniences against a running server, read back through boto3."""

import json
import os
import subprocess

from conftest import BIN


def shoal(server, *args, stdin=None):
    env = dict(os.environ, SHOAL_ENDPOINT=server.url)
    return subprocess.run([BIN, "sfn", *args], capture_output=True, text=True, env=env, input=stdin, timeout=60)


def test_sfn_cli(server, sfn, tmp_path):
    d = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.r", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "F"}], "Default": "Done"},
        "F": {"Type": "Fail", "Error": "Boom", "Cause": "asked to"},
        "Done": {"Type": "Succeed"}}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(d))
    r = shoal(server, "create", "cli", "--definition", str(path))
    assert r.returncode == 0, r.stderr
    arn = r.stdout.strip()
    assert sfn.describe_state_machine(stateMachineArn=arn)["name"] == "cli"
    # a second create fails as AWS does, unless --update; the definition can come on stdin
    r = shoal(server, "create", "cli", "--definition", "-", stdin=json.dumps({**d, "Comment": "v2"}))
    assert r.returncode != 0 and "StateMachineAlreadyExists" in r.stderr
    r = shoal(server, "create", "cli", "--definition", "-", "--update", stdin=json.dumps({**d, "Comment": "v2"}))
    assert r.returncode == 0, r.stderr
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])["Comment"] == "v2"

    r = shoal(server, "start", "cli", "--name", "ok", "--input", '{"fail": false}', "--wait")
    assert r.returncode == 0, r.stderr
    assert "SUCCEEDED" in r.stdout and '{"fail":false,"r":1}' in r.stdout
    r = shoal(server, "start", "cli", "--name", "bad", "--input", '{"fail": true}', "--wait")
    assert r.returncode == 1 and "Boom" in r.stdout

    r = shoal(server, "history", "cli:bad")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "AFTER", "DETAIL"]
    assert [l.split()[1] for l in lines[1:]] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ChoiceStateEntered",
        "ChoiceStateExited", "FailStateEntered", "ExecutionFailed"]
    assert "Boom: asked to" in lines[-1]
    r = shoal(server, "--json", "history", "cli:bad", "--reverse")
    assert json.loads(r.stdout)["events"][0]["type"] == "ExecutionFailed"

    r = shoal(server, "list", "cli", "--status", "FAILED")
    assert [l.split()[:2] for l in r.stdout.splitlines()] == [["NAME", "STATUS"], ["bad", "FAILED"]]
    r = shoal(server, "--json", "list")
    assert [m["name"] for m in json.loads(r.stdout)["stateMachines"]] == ["cli"]

    bad = sfn.describe_execution(executionArn=arn.replace("stateMachine", "execution") + ":bad")["executionArn"]
    r = shoal(server, "redrive", bad)
    assert r.returncode == 0 and r.stdout.startswith("redriven at"), r.stderr
    assert sfn.describe_execution(executionArn=bad)["redriveCount"] == 1

    r = shoal(server, "describe", "cli:missing")
    assert r.returncode != 0 and "ExecutionDoesNotExist" in r.stderr
    r = shoal(server, "describe", "missing-colon")
    assert r.returncode != 0 and "MACHINE:NAME" in r.stderr
    r = shoal(server, "start", "cli", "--input", "{nope")
    assert r.returncode != 0 and "not JSON" in r.stderr
