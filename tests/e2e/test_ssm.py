"""Parameter Store through boto3 against the real `shoal serve`."""

import json
import os

import pytest

from conftest import machine, wait_done


def test_parameters(make_server):
    s = make_server()
    ssm = s.client(service="ssm")
    assert ssm.put_parameter(Name="/pipeline/wordpress/url", Value="https://example.org/wp-json", Type="String")["Version"] == 1
    ssm.put_parameter(Name="/pipeline/wordpress/pages", Value="posts,pages", Type="StringList", Description="endpoints")
    ssm.put_parameter(Name="/pipeline/bucket/raw", Value="raw-bucket", Type="String")
    ssm.put_parameter(Name="/pipeline/db/password", Value="hunter2", Type="SecureString")
    ssm.put_parameter(Name="flat", Value="1", Type="String")
    with pytest.raises(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(Name="flat", Value="2", Type="String")
    assert ssm.put_parameter(Name="flat", Value="2", Overwrite=True)["Version"] == 2
    # AWS's naming rules
    with pytest.raises(ssm.exceptions.ClientError, match="prefixed"):
        ssm.put_parameter(Name="/aws/x", Value="1", Type="String")
    with pytest.raises(ssm.exceptions.ClientError, match="fully qualified"):
        ssm.put_parameter(Name="a/b", Value="1", Type="String")
    with pytest.raises(ssm.exceptions.ParameterPatternMismatchException):
        ssm.put_parameter(Name="/n", Value="abc", Type="String", AllowedPattern="[0-9]+")
    with pytest.raises(ssm.exceptions.ClientError, match="tags and overwrite"):
        ssm.put_parameter(Name="flat", Value="3", Overwrite=True, Tags=[{"Key": "k", "Value": "v"}])
    # reads
    p = ssm.get_parameter(Name="/pipeline/wordpress/url")["Parameter"]
    assert p["Value"] == "https://example.org/wp-json" and p["Type"] == "String" and p["Version"] == 1
    assert p["ARN"] == "arn:aws:ssm:us-east-1:123456789012:parameter/pipeline/wordpress/url"
    sealed = ssm.get_parameter(Name="/pipeline/db/password")["Parameter"]["Value"]
    assert sealed != "hunter2"
    assert ssm.get_parameter(Name="/pipeline/db/password", WithDecryption=True)["Parameter"]["Value"] == "hunter2"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/nope")
    got = ssm.get_parameters(Names=["flat", "/nope", "/pipeline/bucket/raw"])
    assert [x["Name"] for x in got["Parameters"]] == ["flat", "/pipeline/bucket/raw"]
    assert got["InvalidParameters"] == ["/nope"]
    one = ssm.get_parameters_by_path(Path="/pipeline")["Parameters"]
    assert one == []
    deep = ssm.get_parameters_by_path(Path="/pipeline", Recursive=True, WithDecryption=True)["Parameters"]
    assert {x["Name"]: x["Value"] for x in deep} == {
        "/pipeline/bucket/raw": "raw-bucket", "/pipeline/db/password": "hunter2",
        "/pipeline/wordpress/pages": "posts,pages", "/pipeline/wordpress/url": "https://example.org/wp-json"}
    page = ssm.get_parameters_by_path(Path="/pipeline", Recursive=True, MaxResults=3)
    assert len(page["Parameters"]) == 3 and page["NextToken"]
    rest = ssm.get_parameters_by_path(Path="/pipeline", Recursive=True, MaxResults=3, NextToken=page["NextToken"])
    assert len(rest["Parameters"]) == 1
    # versions and labels
    assert ssm.get_parameter(Name="flat:1")["Parameter"]["Value"] == "1"
    ssm.label_parameter_version(Name="flat", ParameterVersion=1, Labels=["stable"])
    assert ssm.get_parameter(Name="flat:stable")["Parameter"]["Value"] == "1"
    bad = ssm.label_parameter_version(Name="flat", Labels=["1bad", "awsx", "prod"])
    assert sorted(bad["InvalidLabels"]) == ["1bad", "awsx"] and bad["ParameterVersion"] == 2
    ssm.label_parameter_version(Name="flat", ParameterVersion=2, Labels=["stable"])  # a label moves
    hist = ssm.get_parameter_history(Name="flat")["Parameters"]
    assert [(h["Version"], h["Value"], sorted(h["Labels"])) for h in hist] == [(1, "1", []), (2, "2", ["prod", "stable"])]
    with pytest.raises(ssm.exceptions.ParameterVersionNotFound):
        ssm.get_parameter(Name="flat:9")
    u = ssm.unlabel_parameter_version(Name="flat", ParameterVersion=2, Labels=["prod", "ghost"])
    assert u["RemovedLabels"] == ["prod"] and u["InvalidLabels"] == ["ghost"]
    # describe with filters
    d = ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/pipeline"]},
                                                  {"Key": "Type", "Values": ["SecureString"]}])["Parameters"]
    assert [x["Name"] for x in d] == ["/pipeline/db/password"] and d[0]["KeyId"] == "alias/aws/ssm"
    assert "Value" not in d[0]
    d = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/pipeline/word"]}])
    assert len(d["Parameters"]) == 2
    # deletes
    ssm.delete_parameter(Name="flat")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.delete_parameter(Name="flat")
    out = ssm.delete_parameters(Names=["/pipeline/bucket/raw", "/nope"])
    assert out["DeletedParameters"] == ["/pipeline/bucket/raw"] and out["InvalidParameters"] == ["/nope"]
    # the secret is sealed at rest: neither the database nor its WAL holds it; the key is a file apart
    s.stop()
    stored = b"".join(open(os.path.join(s.data, f), "rb").read() for f in os.listdir(s.data)
                      if f.startswith("shoal.db"))
    assert b"posts,pages" in stored, "plain parameters are in the database files"
    assert b"hunter2" not in stored, "a SecureString is not"
    assert os.path.exists(os.path.join(s.data, "parameters.key"))
    s.start()
    assert ssm.get_parameter(Name="/pipeline/db/password", WithDecryption=True)["Parameter"]["Value"] == "hunter2"


def test_state_machines_read_parameters(make_server):
    """The seed's state machines read their configuration with aws-sdk:ssm:getParameter."""
    s = make_server()
    s.stop()
    s.extra = ["--aws-endpoint", f"ssm={s.url}"]
    s.start()
    ssm, sfn = s.client(service="ssm"), s.client()
    ssm.put_parameter(Name="/pipeline/bucket", Value="lake-raw", Type="String")
    arn = machine(sfn, "config", {"StartAt": "Get", "States": {"Get": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
        "Parameters": {"Name": "/pipeline/bucket"}, "ResultSelector": {"bucket.$": "$.Parameter.Value"},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Missing"}], "End": True},
        "Missing": {"Type": "Pass", "End": True}}})
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"])
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"bucket": "lake-raw"}, d
    ssm.delete_parameter(Name="/pipeline/bucket")
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"])
    assert json.loads(d["output"])["Error"] == "Ssm.ParameterNotFoundException", d
