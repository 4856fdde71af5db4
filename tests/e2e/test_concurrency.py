"""Concurrent changes to one resource, as infrastructure tools make them (Terraform applies ten
changes at a time): each change answers as if it ran alone, and none is lost."""

import json
from concurrent.futures import ThreadPoolExecutor

from conftest import machine

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
WIDTH = 8


def at_once(fn, n=WIDTH):
    """Calls fn(0..n) from n threads at once and gives their answers in order."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, range(n)))


def first(call, taken):
    """Whether call() created the thing: False when it raised `taken` (another got there first)."""
    try:
        call()
        return True
    except taken:
        return False


def test_targets_put_at_once_on_one_rule_are_all_kept(server):
    ev = server.client(service="events")
    sfn = server.client()
    target = machine(sfn, "t", PASS)
    clients = [server.client(service="events") for _ in range(5)]
    for r in range(10):
        rule = f"r{r}"
        ev.put_rule(Name=rule, EventPattern=json.dumps({"source": [f"s{r}"]}))

        def put(k):
            return clients[k].put_targets(Rule=rule, Targets=[{"Id": f"t{k}", "Arn": target}])

        # five: a rule's most targets
        assert all(a["FailedEntryCount"] == 0 for a in at_once(put, n=5))
        ids = sorted(t["Id"] for t in ev.list_targets_by_rule(Rule=rule)["Targets"])
        assert ids == [f"t{k}" for k in range(5)], rule


def test_parameter_overwritten_at_once_gets_one_version_per_put(server):
    clients = [server.client(service="ssm") for _ in range(WIDTH)]
    for p in range(10):
        name = f"/watermark/{p}"

        def put(k):
            return clients[k].put_parameter(Name=name, Value=str(k), Type="String", Overwrite=True)

        versions = sorted(a["Version"] for a in at_once(put))
        assert versions == list(range(1, WIDTH + 1)), name
        history = clients[0].get_parameter_history(Name=name)["Parameters"]
        assert sorted(h["Version"] for h in history) == versions
        # each version holds the value of the put that was answered with it
        assert len({h["Value"] for h in history}) == WIDTH


def test_parameter_created_at_once_without_overwrite_is_created_once(server):
    clients = [server.client(service="ssm") for _ in range(WIDTH)]
    for p in range(10):
        name = f"/once/{p}"

        def put(k):
            c = clients[k]
            return first(lambda: c.put_parameter(Name=name, Value=str(k), Type="String"),
                         c.exceptions.ParameterAlreadyExists)

        assert sum(at_once(put)) == 1, name
        assert clients[0].get_parameter(Name=name)["Parameter"]["Version"] == 1


def test_machine_tags_and_versions_at_once(server):
    sfn = server.client()
    clients = [server.client() for _ in range(WIDTH)]
    arn = machine(sfn, "tagged", PASS)
    at_once(lambda k: clients[k].tag_resource(resourceArn=arn, tags=[{"key": f"k{k}", "value": "v"}]))
    tags = sfn.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted(t["key"] for t in tags) == sorted(f"k{k}" for k in range(WIDTH))

    def publish(k):
        definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": k, "End": True}}}
        return clients[k].update_state_machine(
            stateMachineArn=arn, definition=json.dumps(definition), publish=True
        )["stateMachineVersionArn"]

    published = at_once(publish)
    assert len(set(published)) == WIDTH
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert sorted(v["stateMachineVersionArn"] for v in listed) == sorted(published)


def test_bucket_settings_put_at_once_are_all_kept(server):
    s3 = server.client(service="s3")
    clients = [server.client(service="s3") for _ in range(2)]
    for b in range(20):
        bucket = f"settings-{b}"
        s3.create_bucket(Bucket=bucket)
        changes = [
            lambda c: c.put_bucket_tagging(
                Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]}
            ),
            lambda c: c.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            ),
        ]
        at_once(lambda k: changes[k](clients[k]), n=2)
        assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "data"}]
        notes = s3.get_bucket_notification_configuration(Bucket=bucket)
        assert "EventBridgeConfiguration" in notes, bucket


def test_topic_attributes_and_subscriptions_at_once(server):
    sns = server.client(service="sns")
    sqs = server.client(service="sqs")
    clients = [server.client(service="sns") for _ in range(WIDTH)]
    topic = sns.create_topic(Name="busy")["TopicArn"]
    names = ["DisplayName", "Policy", "DeliveryPolicy", "TracingConfig"]
    values = {
        "DisplayName": "busy",
        "Policy": json.dumps({"Version": "2012-10-17", "Statement": []}),
        "DeliveryPolicy": json.dumps({"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}}}),
        "TracingConfig": "Active",
    }
    at_once(
        lambda k: clients[k].set_topic_attributes(
            TopicArn=topic, AttributeName=names[k], AttributeValue=values[names[k]]
        ),
        n=len(names),
    )
    got = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    for n in names:
        assert got.get(n) == values[n], n
    queues = [
        sqs.get_queue_attributes(
            QueueUrl=sqs.create_queue(QueueName=f"q{k}")["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for k in range(WIDTH)
    ]
    subs = at_once(
        lambda k: clients[k].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queues[k])[
            "SubscriptionArn"
        ]
    )
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["SubscriptionArn"] for s in listed) == sorted(subs)


def test_table_updated_at_once_gets_one_version_per_update(server):
    glue = server.client(service="glue")
    clients = [server.client(service="glue") for _ in range(WIDTH)]
    glue.create_database(DatabaseInput={"Name": "lake"})

    def table(k):
        columns = [{"Name": f"c{k}", "Type": "string"}]
        return {"Name": "events", "StorageDescriptor": {"Columns": columns, "Location": "s3://b/"}}

    glue.create_table(DatabaseName="lake", TableInput=table(-1))
    at_once(lambda k: clients[k].update_table(DatabaseName="lake", TableInput=table(k)))
    versions = glue.get_table_versions(DatabaseName="lake", TableName="events")["TableVersions"]
    assert sorted(int(v["VersionId"]) for v in versions) == list(range(WIDTH + 1))
    # every update's columns are one version's
    kept = {v["Table"]["StorageDescriptor"]["Columns"][0]["Name"] for v in versions}
    assert kept == {f"c{k}" for k in range(-1, WIDTH)}


def test_log_group_created_at_once_is_created_once(server):
    clients = [server.client(service="logs") for _ in range(WIDTH)]
    for g in range(10):
        name = f"/aws/lambda/f{g}"

        def create(k):
            c = clients[k]
            return first(lambda: c.create_log_group(logGroupName=name),
                         c.exceptions.ResourceAlreadyExistsException)

        assert sum(at_once(create)) == 1, name
