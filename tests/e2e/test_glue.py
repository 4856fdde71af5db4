"""The data layer through boto3 and the AWS CLI: the Glue Data Catalog, crawlers over shoal's
S3, the seed's DQDL rulesets on silver data the test generates, interactive sessions with their
CloudTrail events and the cost-control workflow, and `shoal sql`."""

import datetime
import io
import json
import os
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BIN, ROLE, aws_cli, history, machine, next_0700_utc, wait_done

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
DQDL = os.path.join(SHARED, "fixtures", "amazonwebshark", "dqdl")
GLUE_ROLE = "arn:aws:iam::123456789012:role/Glue-S3ReadOnly"


def fixture(name):
    path = os.path.join(DQDL, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: the data-quality tests read ../shared beside the repository")
    with open(path) as f:
        return f.read()


def put_parquet(s3, bucket, key, table):
    b = io.BytesIO()
    pq.write_table(table, b)
    s3.put_object(Bucket=bucket, Key=key, Body=b.getvalue())


def silver_frames(n_posts=40):
    """Silver posts (15 columns) and statistics_pages (10 columns) as the seed's silver job
    writes them: dates as timestamps, calendar parts as int64."""
    base = datetime.datetime(2023, 3, 1, 9, 30)
    dates = [base + datetime.timedelta(days=3 * i) for i in range(n_posts)]
    mod = [d + datetime.timedelta(hours=5) for d in dates]
    posts = pa.table({
        "ID": pa.array(range(1, n_posts + 1), pa.int64()),
        "post_date": [d.strftime("%Y-%m-%d %H:%M:%S") for d in dates],
        "post_title": [f"Post {i}" for i in range(n_posts)],
        "post_status": ["publish"] * n_posts,
        "post_modified": [d.strftime("%Y-%m-%d %H:%M:%S") for d in mod],
        "post_parent": pa.array([0] * n_posts, pa.int64()),
        "post_type": ["post" if i % 4 else "page" for i in range(n_posts)],
        "post_date_todate": pa.array(dates, pa.timestamp("ms")),
        "post_date_year": pa.array([d.year for d in dates], pa.int64()),
        "post_date_month": pa.array([d.month for d in dates], pa.int64()),
        "post_date_day": pa.array([d.day for d in dates], pa.int64()),
        "post_modified_todate": pa.array(mod, pa.timestamp("ms")),
        "post_modified_year": pa.array([d.year for d in mod], pa.int64()),
        "post_modified_month": pa.array([d.month for d in mod], pa.int64()),
        "post_modified_day": pa.array([d.day for d in mod], pa.int64()),
    })
    days = [datetime.datetime(2024, 1, 1) + datetime.timedelta(days=i) for i in range(60)]
    stats = pa.table({
        "page_id": pa.array(range(1000, 1060), pa.int64()),
        "uri": [f"/p/{i}" for i in range(60)],
        "type": ["post"] * 60,
        "date": pa.array(days, pa.timestamp("ms")),
        "count": pa.array([(i * 7) % 300 + 1 for i in range(60)], pa.int64()),
        "id": pa.array([(i % n_posts) + 1 for i in range(60)], pa.int64()),
        "date_todate": pa.array(days, pa.timestamp("ms")),
        "date_year": pa.array([d.year for d in days], pa.int64()),
        "date_month": pa.array([d.month for d in days], pa.int64()),
        "date_day": pa.array([d.day for d in days], pa.int64()),
    })
    return posts, stats


def wait_crawler(glue, name, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        c = glue.get_crawler(Name=name)["Crawler"]
        if c["State"] == "READY" and "LastCrawl" in c:
            return c
        time.sleep(0.05)
    raise AssertionError(f"crawler {name} still running")


def wait_run(glue, run_id, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        r = glue.get_data_quality_ruleset_evaluation_run(RunId=run_id)
        if r["Status"] not in ("STARTING", "RUNNING"):
            return r
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still running")


def lake(server):
    """Buckets bronze and silver with the seed's layout, crawled into database wordpress_api."""
    s3, glue = server.client(service="s3"), server.client(service="glue")
    posts, stats = silver_frames()
    for bucket in ("bronze", "silver"):
        s3.create_bucket(Bucket=bucket)
    # bronze holds the same rows before silver's derived columns
    put_parquet(s3, "bronze", "wordpress_api/posts/posts.parquet", posts.select(["ID", "post_date", "post_title"]))
    put_parquet(s3, "bronze", "wordpress_api/statistics_pages/statistics_pages.parquet", stats.select(["page_id", "uri", "count", "id"]))
    put_parquet(s3, "silver", "wordpress_api/posts/posts.parquet", posts)
    put_parquet(s3, "silver", "wordpress_api/statistics_pages/statistics_pages.parquet", stats)
    glue.create_database(DatabaseInput={"Name": "wordpress_api"})
    for layer in ("bronze", "silver"):
        glue.create_crawler(Name=f"wordpress_{layer}", Role=GLUE_ROLE, DatabaseName="wordpress_api",
                            TablePrefix=f"{layer}-", Targets={"S3Targets": [{"Path": f"s3://{layer}/wordpress_api/"}]})
        glue.start_crawler(Name=f"wordpress_{layer}")
        c = wait_crawler(glue, f"wordpress_{layer}")
        assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
    return s3, glue, posts, stats


def test_catalog_api_and_cli(server):
    glue = server.client(service="glue")
    glue.create_database(DatabaseInput={"Name": "Sales", "Description": "d"})
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": "sales"})
    cols = [{"Name": "id", "Type": "bigint"}, {"Name": "tags", "Type": "array<struct<name:string>>"}]
    glue.create_table(DatabaseName="sales", TableInput={
        "Name": "Orders", "PartitionKeys": [{"Name": "year", "Type": "string"}],
        "StorageDescriptor": {"Columns": cols, "Location": "s3://lake/orders/"}, "Parameters": {"classification": "parquet"}})
    t = glue.get_table(DatabaseName="sales", Name="orders")["Table"]
    assert t["Name"] == "orders" and t["DatabaseName"] == "sales" and t["VersionId"] == "0"
    assert t["StorageDescriptor"]["Columns"] == cols
    glue.update_table(DatabaseName="sales", TableInput={**{k: t[k] for k in ("Name", "StorageDescriptor", "PartitionKeys")}, "Description": "v2"})
    versions = glue.get_table_versions(DatabaseName="sales", TableName="orders")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["1", "0"]
    assert versions[0]["Table"]["Description"] == "v2" and "Description" not in versions[1]["Table"]
    for y in ("2023", "2024", "2025"):
        glue.create_partition(DatabaseName="sales", TableName="orders", PartitionInput={
            "Values": [y], "StorageDescriptor": {"Location": f"s3://lake/orders/year={y}/"}})
    got = glue.get_partitions(DatabaseName="sales", TableName="orders", Expression="year >= '2024'")["Partitions"]
    assert [p["Values"] for p in got] == [["2024"], ["2025"]]
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="sales", Name="nope")
    with pytest.raises(glue.exceptions.InvalidInputException):
        glue.create_partition(DatabaseName="sales", TableName="orders", PartitionInput={"Values": ["a", "b"]})
    # the AWS CLI prints what boto3 reads
    out = json.loads(aws_cli(server, "glue", "get-table", "--database-name", "sales", "--name", "orders").stdout)
    assert out["Table"]["StorageDescriptor"]["Location"] == "s3://lake/orders/"
    names = json.loads(aws_cli(server, "glue", "get-tables", "--database-name", "sales", "--expression", "ord*").stdout)
    assert [t["Name"] for t in names["TableList"]] == ["orders"]
    glue.delete_database(Name="sales")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="sales", Name="orders")


def test_crawlers_make_glue_shaped_tables(make_server):
    # crawls take 30 s to start, at 1/100 speed
    server = make_server("--wait-scale", "0.01", "--glue-crawler-startup", "30")
    s3, glue, posts, stats = lake(server)
    t = glue.get_table(DatabaseName="wordpress_api", Name="silver-posts")["Table"]
    cols = [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]]
    assert len(cols) == 15 and cols[0] == ("id", "bigint"), cols
    assert ("post_date_todate", "timestamp") in cols and ("post_title", "string") in cols
    assert t["StorageDescriptor"]["Location"] == "s3://silver/wordpress_api/posts/"
    assert t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert t["Parameters"]["classification"] == "parquet" and t["Parameters"]["recordCount"] == "40"
    names = sorted(x["Name"] for x in glue.get_tables(DatabaseName="wordpress_api")["TableList"])
    assert names == ["bronze-posts", "bronze-statistics_pages", "silver-posts", "silver-statistics_pages"]
    m = {x["CrawlerName"]: x for x in glue.get_crawler_metrics()["CrawlerMetricsList"]}
    assert m["wordpress_silver"]["TablesCreated"] == 2
    # a second crawl updates; a start while running is refused
    glue.start_crawler(Name="wordpress_silver")
    with pytest.raises(glue.exceptions.CrawlerRunningException):
        glue.start_crawler(Name="wordpress_silver")
    wait_crawler(glue, "wordpress_silver")
    m = {x["CrawlerName"]: x for x in glue.get_crawler_metrics()["CrawlerMetricsList"]}
    assert m["wordpress_silver"]["TablesUpdated"] == 2 and m["wordpress_silver"]["TablesCreated"] == 0
    # hive-style folders become partitions; JSON Lines and CSV are classified from samples
    for month, v in (("01", 1.5), ("02", 2.5)):
        put_parquet(s3, "silver", f"events/year=2024/month={month}/part.parquet", pa.table({"id": [1], "v": [v]}))
    s3.put_object(Bucket="silver", Key="feeds/lines/a.json", Body=b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    s3.put_object(Bucket="silver", Key="feeds/csv/a.csv", Body=b"id,name,score\n1,a,2.5\n2,b,3\n")
    s3.put_object(Bucket="silver", Key="feeds/piped/a.txt", Body=b"x|y\nu|v\n")
    glue.create_crawler(Name="misc", Role=GLUE_ROLE, DatabaseName="wordpress_api",
                        Targets={"S3Targets": [{"Path": "s3://silver/events/"}, {"Path": "s3://silver/feeds/"}]})
    glue.start_crawler(Name="misc")
    wait_crawler(glue, "misc")
    ev = glue.get_table(DatabaseName="wordpress_api", Name="events")["Table"]
    assert [k["Name"] for k in ev["PartitionKeys"]] == ["year", "month"]
    parts = glue.get_partitions(DatabaseName="wordpress_api", TableName="events")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["2024", "01"], ["2024", "02"]]
    lines = glue.get_table(DatabaseName="wordpress_api", Name="lines")["Table"]
    assert [(c["Name"], c["Type"]) for c in lines["StorageDescriptor"]["Columns"]] == [("a", "int"), ("b", "string")]
    csv = glue.get_table(DatabaseName="wordpress_api", Name="csv")["Table"]
    assert csv["Parameters"]["skip.header.line.count"] == "1"
    assert [c["Type"] for c in csv["StorageDescriptor"]["Columns"]] == ["int", "string", "double"]
    out = subprocess.run([BIN, "sql", "--endpoint", server.url, "--format", "json",
                          'SELECT month, v FROM wordpress_api.events ORDER BY month'], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"month": "01", "v": 1.5}, {"month": "02", "v": 2.5}]
    # CSV tables read with their header line and delimiter, as crawled
    for q, want in (("SELECT name, score FROM wordpress_api.csv ORDER BY id", [{"name": "a", "score": 2.5}, {"name": "b", "score": 3.0}]),
                    ("SELECT col0, col1 FROM wordpress_api.piped ORDER BY col0", [{"col0": "u", "col1": "v"}, {"col0": "x", "col1": "y"}])):
        out = subprocess.run([BIN, "sql", "--endpoint", server.url, "--format", "json", q], capture_output=True, text=True)
        assert out.returncode == 0 and json.loads(out.stdout) == want, out.stdout + out.stderr
    logs = server.client(service="logs").get_log_events(logGroupName="/aws-glue/crawlers", logStreamName="misc")["events"]
    assert any("Created table events" in e["message"] for e in logs), logs

    # the seed's states: aws-sdk:glue:startCrawler answers at once; a second start while the
    # crawl runs fails with Glue.CrawlerRunningException, which the Catch takes
    sfn = server.client()
    arn = machine(sfn, "crawl", {"StartAt": "Start Bronze Crawler", "States": {
        "Start Bronze Crawler": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
                                 "Parameters": {"Name": "wordpress_bronze"}, "Next": "Again"},
        "Again": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
                  "Parameters": {"Name": "wordpress_bronze"}, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Get"}], "End": True},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
                "Parameters": {"Name": "wordpress_bronze"}, "ResultSelector": {"state.$": "$.Crawler.State"}, "ResultPath": "$.crawler", "End": True}}})
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["Error"] == "Glue.CrawlerRunningException" and out["crawler"]["state"] == "RUNNING", out
    wait_crawler(glue, "wordpress_bronze")


def test_crawler_schedules_fire_on_the_clock(make_server):
    server = make_server("--virtual-clock")
    s3, glue = server.client(service="s3"), server.client(service="glue")
    s3.create_bucket(Bucket="silver")
    put_parquet(s3, "silver", "daily/posts.parquet", pa.table({"id": [1, 2]}))
    glue.create_database(DatabaseInput={"Name": "lake"})
    with pytest.raises(glue.exceptions.InvalidInputException, match="only cron"):
        glue.create_crawler(Name="bad", Role=GLUE_ROLE, DatabaseName="lake", Schedule="rate(1 day)",
                            Targets={"S3Targets": [{"Path": "s3://silver/daily/"}]})
    with pytest.raises(glue.exceptions.InvalidInputException, match="cron"):
        glue.create_crawler(Name="bad", Role=GLUE_ROLE, DatabaseName="lake", Schedule="cron(0 25 * * ? *)",
                            Targets={"S3Targets": [{"Path": "s3://silver/daily/"}]})
    glue.create_crawler(Name="daily", Role=GLUE_ROLE, DatabaseName="lake", Schedule="cron(0 7 * * ? *)",
                        Targets={"S3Targets": [{"Path": "s3://silver/daily/"}]})
    c = glue.get_crawler(Name="daily")["Crawler"]
    assert c["Schedule"] == {"ScheduleExpression": "cron(0 7 * * ? *)", "State": "SCHEDULED"}, c
    with pytest.raises(glue.exceptions.SchedulerRunningException):
        glue.start_crawler_schedule(CrawlerName="daily")
    t, next7 = next_0700_utc(server)

    def advance(secs):
        r = subprocess.run([BIN, "clock", "advance", f"{int(secs)}s", "--endpoint", server.url], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    # nothing runs before 07:00 UTC; at 07:00 the crawl runs and makes the table
    advance(next7 - t - 60)
    time.sleep(0.3)
    assert "LastCrawl" not in glue.get_crawler(Name="daily")["Crawler"]
    advance(120)
    c = wait_crawler(glue, "daily")
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
    assert glue.get_table(DatabaseName="lake", Name="daily")["Table"]["Parameters"]["recordCount"] == "2"
    runs = glue.get_crawler_metrics(CrawlerNameList=["daily"])["CrawlerMetricsList"][0]
    assert runs["TablesCreated"] == 1, runs
    # a stopped schedule does not fire; a started one does again
    glue.stop_crawler_schedule(CrawlerName="daily")
    assert glue.get_crawler(Name="daily")["Crawler"]["Schedule"]["State"] == "NOT_SCHEDULED"
    with pytest.raises(glue.exceptions.SchedulerNotRunningException):
        glue.stop_crawler_schedule(CrawlerName="daily")
    glue.delete_table(DatabaseName="lake", Name="daily")
    advance(86400)
    time.sleep(0.3)
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="lake", Name="daily")
    glue.update_crawler_schedule(CrawlerName="daily", Schedule="cron(30 8 * * ? *)")
    glue.start_crawler_schedule(CrawlerName="daily")
    advance(86400)
    end = time.time() + 20
    while time.time() < end:
        try:
            glue.get_table(DatabaseName="lake", Name="daily")
            break
        except glue.exceptions.EntityNotFoundException:
            time.sleep(0.05)
    else:
        raise AssertionError("the restarted schedule did not crawl")
    # a crawler without a schedule has none to start
    glue.create_crawler(Name="manual", Role=GLUE_ROLE, DatabaseName="lake",
                        Targets={"S3Targets": [{"Path": "s3://silver/daily/"}]})
    with pytest.raises(glue.exceptions.NoScheduleException):
        glue.start_crawler_schedule(CrawlerName="manual")


def test_sql_reads_the_catalog_like_athena(server):
    s3, glue, posts, stats = lake(server)
    q = 'SELECT p.id, p.post_title, s.count FROM wordpress_api."silver-posts" p JOIN wordpress_api."silver-statistics_pages" s ON p.id = s.id WHERE p.id <= 2 ORDER BY s.count'
    out = subprocess.run([BIN, "sql", "--endpoint", server.url, "--format", "csv", q], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = out.stdout.strip().splitlines()
    assert rows[0] == "id,post_title,count"
    expected = sorted(((i % 40) + 1, (i * 7) % 300 + 1) for i in range(60) if (i % 40) + 1 <= 2)
    assert sorted((int(r.split(",")[0]), int(r.split(",")[2])) for r in rows[1:]) == expected
    table = subprocess.run([BIN, "sql", "--endpoint", server.url, "-d", "wordpress_api", 'SELECT count(*) AS n FROM "silver-posts"'],
                           capture_output=True, text=True)
    assert table.returncode == 0 and "| 40 |" in table.stdout, table.stdout + table.stderr
    bad = subprocess.run([BIN, "sql", "--endpoint", server.url, "SELECT nope FROM wordpress_api.\"silver-posts\""], capture_output=True, text=True)
    assert bad.returncode != 0 and "nope" in bad.stderr


def test_seed_rulesets_pass_on_good_data_and_catch_broken_data(server):
    s3, glue, posts, stats = lake(server)
    for name in ("silver-posts", "silver-statistics_pages"):
        glue.create_data_quality_ruleset(Name=name, Ruleset=fixture(f"{name}.dqdl"),
                                         TargetTable={"DatabaseName": "wordpress_api", "TableName": name})
    with pytest.raises(glue.exceptions.InvalidInputException) as bad:
        glue.create_data_quality_ruleset(Name="bad", Ruleset="Rules = [ RowCount > ]")
    assert "line 1" in str(bad.value)

    def evaluate(table):
        run = glue.start_data_quality_ruleset_evaluation_run(
            DataSource={"GlueTable": {"DatabaseName": "wordpress_api", "TableName": table}},
            Role=GLUE_ROLE, RulesetNames=[table])["RunId"]
        r = wait_run(glue, run)
        assert r["Status"] == "SUCCEEDED", r
        [rid] = r["ResultIds"]
        return glue.get_data_quality_result(ResultId=rid)

    for table, n in (("silver-posts", 27), ("silver-statistics_pages", 20)):
        res = evaluate(table)
        rules = res["RuleResults"]
        assert len(rules) == n
        failed = [r for r in rules if r["Result"] != "PASS"]
        assert not failed, failed
        assert res["Score"] == 1.0 and rules[0]["Name"] == "Rule_1"
    assert rules[0]["Description"] == "ColumnCount = 10"

    # break silver: a NULL title, a duplicate id, a month of 13, a future date, an orphan stat
    bad_posts = posts.to_pylist()
    bad_posts[1]["post_title"] = None
    bad_posts[2]["ID"] = bad_posts[3]["ID"]
    bad_posts[4]["post_date_month"] = 13
    bad_posts[5]["post_date_todate"] = datetime.datetime(2999, 1, 1)
    put_parquet(s3, "silver", "wordpress_api/posts/posts.parquet", pa.Table.from_pylist(bad_posts, schema=posts.schema))
    bad_stats = stats.to_pylist()
    for r in bad_stats[:10]:
        r["id"] = 99999
    bad_stats[0]["count"] = 1000
    put_parquet(s3, "silver", "wordpress_api/statistics_pages/statistics_pages.parquet", pa.Table.from_pylist(bad_stats, schema=stats.schema))

    res = {r["Description"]: r for r in evaluate("silver-posts")["RuleResults"]}
    fails = sorted(d for d, r in res.items() if r["Result"] == "FAIL")
    assert fails == sorted([
        'IsPrimaryKey "id"',
        'IsComplete "post_title"',
        'ColumnValues "post_date_month" between 0 and 13',
        'ColumnValues "post_date_todate" <= now()',
    ]), fails
    assert res['ColumnValues "post_date_month" between 0 and 13']["EvaluationMessage"] == \
        "Value: 13.0 does not meet the constraint requirement!"
    assert res['IsComplete "post_title"']["EvaluatedMetrics"]["Column.post_title.Completeness"] == 39 / 40
    res = {r["Description"]: r for r in evaluate("silver-statistics_pages")["RuleResults"]}
    fails = sorted(d for d, r in res.items() if r["Result"] == "FAIL")
    assert fails == sorted([
        'ColumnValues "count" between 0 and 1000',
        'ReferentialIntegrity "id" "wordpress_api.silver-posts.id" >= 0.9',
    ]), fails
    ri = res['ReferentialIntegrity "id" "wordpress_api.silver-posts.id" >= 0.9']
    # ten orphans, and one more row whose post (ID 3) the broken posts lost
    assert abs(ri["EvaluatedMetrics"]["Column.id.ReferentialIntegrity"] - 49 / 60) < 1e-9


def test_data_quality_from_a_state_machine_and_more_rule_types(server):
    s3, glue, posts, stats = lake(server)
    glue.create_data_quality_ruleset(Name="extra", Ruleset="""
        Rules = [
            Completeness "post_title" > 0.5,
            (IsUnique "id") and (ColumnExists "post_type"),
            (ColumnValues "post_type" in ["post", "page"]) or (RowCount < 0),
            ColumnValues "post_type" matches "p(ost|age)",
            ColumnValues "post_title" = "Post 1" with threshold > 0.02,
            ColumnLength "post_status" = 7,
            CustomSql "select count(*) from primary where post_type = 'page'" = 10,
            RowCount = 10 where "post_type = 'page'",
            DataFreshness "post_date_todate" <= 3650 days,
            Uniqueness "post_type" < 0.5,
            Mean "post_parent" = 0,
            ColumnCorrelation "id" "post_date_month" > 0.9,
            SchemaMatch "wordpress_api.silver-posts" = 1.0,
            SchemaMatch "wordpress_api.bronze-posts" between 0.19 and 0.21,
            DatasetMatch "wordpress_api.bronze-posts" "id" "post_title" = 1.0,
            AggregateMatch "count(id)" "count(wordpress_api.bronze-posts.id)" = 1.0,
            ColumnDataType "post_date" = "TIMESTAMP",
            ColumnDataType "post_title" in ["INTEGER", "DOUBLE"] with threshold < 0.1,
            DatasetMatch "wordpress_api.bronze-posts" "id" "post_date->post_title" > 0.5,
            DetectAnomalies "RowCount"
        ]""")
    sfn = server.client()
    arn = machine(sfn, "dq", {"StartAt": "DQ", "States": {"DQ": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:startDataQualityRulesetEvaluationRun",
        "Parameters": {"DataSource": {"GlueTable": {"DatabaseName": "wordpress_api", "TableName": "silver-posts"}},
                       "Role": "Glue-S3ReadOnly", "RulesetNames": ["extra"]}, "End": True}}})
    e = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    d = wait_done(sfn, e)
    assert d["status"] == "SUCCEEDED", d
    run_id = json.loads(d["output"])["RunId"]
    r = wait_run(glue, run_id)
    res = glue.get_data_quality_result(ResultId=r["ResultIds"][0])["RuleResults"]
    outcome = [x["Result"] for x in res]
    assert outcome == ["PASS"] * 18 + ["FAIL", "ERROR"], res
    assert "not supported" in res[-1]["EvaluationMessage"]
    metrics = {k: v for x in res for k, v in x.get("EvaluatedMetrics", {}).items()}
    assert metrics["Dataset.wordpress_api.bronze-posts.SchemaMatch"] == 3 / 15, metrics
    assert metrics["Column.post_title.ColumnDataType.Compliance"] == 0.0, metrics
    assert metrics["Multicolumn.id,post_date_month.ColumnCorrelation"] > 0.9, metrics


def test_sessions_cloudtrail_and_cost_control(make_server):
    """The seed's cost-control workflow on shoal's own sessions: CreateSession is recorded as a
    CloudTrail event; the rule starts the machine, which waits, then stops the session through
    aws-sdk:glue (retrying while it is PROVISIONING) and publishes to a topic."""
    # provisioning takes 60 s of clock; waits and retries run at 1/100 speed
    s = make_server("--wait-scale", "0.01", "--glue-session-startup", "60")
    glue, ev, sfn = s.client(service="glue"), s.client(service="events"), s.client()
    sqs, sns = s.client(service="sqs"), s.client(service="sns")
    topic = sns.create_topic(Name="success-stepfunction")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    # every CloudTrail event of Glue lands in a queue too
    trail = sqs.create_queue(QueueName="trail")["QueueUrl"]
    tarn = sqs.get_queue_attributes(QueueUrl=trail, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev.put_rule(Name="trail", EventPattern=json.dumps({"source": ["aws.glue"], "detail-type": ["AWS API Call via CloudTrail"]}))
    ev.put_targets(Rule="trail", Targets=[{"Id": "q", "Arn": tarn}])
    cost = machine(sfn, "glue-cost-control", {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 30, "Next": "Stop"},
        "Stop": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:stopSession",
                 "Parameters": {"Id.$": "$.session_id"},
                 "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "MaxAttempts": 3}],
                 "ResultPath": None, "Next": "Notify"},
        "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                   "Parameters": {"TopicArn": topic, "Message.$": "States.Format('Hi! Glue session {} was stopped.', $.session_id)"},
                   "End": True}}})
    ev.put_rule(Name="glue-create-session", EventPattern=json.dumps({
        "source": ["aws.glue"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["glue.amazonaws.com"], "eventName": ["CreateSession"]}}))
    ev.put_targets(Rule="glue-create-session", Targets=[{"Id": "stop", "Arn": cost, "InputTransformer": {
        "InputPathsMap": {"id": "$.detail.requestParameters.id"}, "InputTemplate": '{"session_id": "<id>"}'}}])

    sid = "glue-studio-datapreview-6d3f2a"
    created = glue.create_session(Id=sid, Role=GLUE_ROLE, Command={"Name": "glueetl", "PythonVersion": "3"},
                                  NumberOfWorkers=2, WorkerType="G.1X")["Session"]
    assert created["Status"] == "PROVISIONING"
    end = time.time() + 20
    while time.time() < end:
        execs = sfn.list_executions(stateMachineArn=cost)["executions"]
        if execs and execs[0]["status"] != "RUNNING":
            break
        time.sleep(0.05)
    [x] = sfn.list_executions(stateMachineArn=cost)["executions"]
    d = wait_done(sfn, x["executionArn"])
    assert json.loads(d["input"]) == {"session_id": sid}
    assert d["status"] == "SUCCEEDED", d
    failed = [e for e in history(sfn, d["executionArn"]) if e["type"] == "TaskFailed"]
    assert failed and failed[0]["taskFailedEventDetails"]["error"] == "Glue.IllegalSessionStateException", failed
    session = glue.get_session(Id=sid)["Session"]
    assert session["Status"] == "STOPPED"
    assert session["DPUSeconds"] == 120.0  # two G.1X workers, one-minute minimum
    msgs = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=5)["Messages"]
    assert msgs[0]["Body"] == f"Hi! Glue session {sid} was stopped."

    seen = []
    end = time.time() + 10
    while time.time() < end and not {"CreateSession", "StopSession"} <= {x["detail"]["eventName"] for x in seen}:
        for m in sqs.receive_message(QueueUrl=trail, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.loads(m["Body"]))
    create = next(x for x in seen if x["detail"]["eventName"] == "CreateSession")
    assert create["source"] == "aws.glue" and create["detail-type"] == "AWS API Call via CloudTrail"
    assert create["detail"]["eventSource"] == "glue.amazonaws.com"
    assert create["detail"]["requestParameters"]["id"] == sid
    assert create["detail"]["requestParameters"]["command"] == {"name": "glueetl", "pythonVersion": "3"}
    stops = [x["detail"] for x in seen if x["detail"]["eventName"] == "StopSession"]
    assert any(x.get("errorCode") == "IllegalSessionStateException" for x in stops), stops
    assert all(x["detail"]["eventName"] not in ("GetSession", "ListSessions") for x in seen)


def test_session_statements_run_sql(make_server):
    s = make_server("--glue-session-startup", "0")
    s3, glue = s.client(service="s3"), s.client(service="glue")
    s3.create_bucket(Bucket="lake-b")
    put_parquet(s3, "lake-b", "t/part.parquet", pa.table({"x": [1, 2, 3]}))
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "t", "StorageDescriptor": {
        "Columns": [{"Name": "x", "Type": "bigint"}], "Location": "s3://lake-b/t/"}, "Parameters": {"classification": "parquet"}})
    glue.create_session(Id="s1", Role=GLUE_ROLE, Command={"Name": "glueetl", "PythonVersion": "3"}, IdleTimeout=5)
    end = time.time() + 10
    while glue.get_session(Id="s1")["Session"]["Status"] != "READY" and time.time() < end:
        time.sleep(0.02)

    def run(code):
        n = glue.run_statement(SessionId="s1", Code=code)["Id"]
        end = time.time() + 10
        while time.time() < end:
            st = glue.get_statement(SessionId="s1", Id=n)["Statement"]
            if st["State"] in ("AVAILABLE", "ERROR"):
                return st
            time.sleep(0.02)
        raise AssertionError("statement still running")

    st = run('spark.sql("SELECT sum(x) AS total FROM db.t").show()')
    assert st["State"] == "AVAILABLE" and "| 6     |" in st["Output"]["Data"]["TextPlain"], st
    st = run("SELECT nope FROM db.t")
    assert st["Output"]["Status"] == "error" and "nope" in st["Output"]["ErrorValue"]
    assert len(glue.list_statements(SessionId="s1")["Statements"]) == 2
    glue.stop_session(Id="s1")
    with pytest.raises(glue.exceptions.IllegalSessionStateException):
        glue.run_statement(SessionId="s1", Code="SELECT 1")
    glue.delete_session(Id="s1")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_session(Id="s1")


# The seed's gold job as Glue Studio saves it (WordPress_Gold_statisticspagespostsjoin).
GOLD_MAPPING = [
    ("ID", "bigint", "post_ID", "long"), ("post_title", "string", "post_title", "string"),
    ("post_status", "string", "post_status", "string"), ("post_parent", "bigint", "post_parent", "long"),
    ("post_type", "string", "post_type", "string"), ("post_date_todate", "timestamp", "post_date", "timestamp"),
    ("post_date_year", "bigint", "post_date_year", "long"), ("post_date_month", "bigint", "post_date_month", "long"),
    ("post_date_day", "bigint", "post_date_day", "long"), ("page_id", "bigint", "statistics_id", "long"),
    ("date", "timestamp", "statistics_date", "timestamp"), ("count", "bigint", "statistics_count", "long"),
    ("date_year", "bigint", "statistics_date_year", "long"), ("date_month", "bigint", "statistics_date_month", "long"),
    ("date_day", "bigint", "statistics_date_day", "long"),
]


def gold_nodes(silver="silver", gold="gold"):
    return {
        "node-posts": {"S3ParquetSource": {"Name": "posts", "Paths": [f"s3://{silver}/wordpress_api/posts/"], "Recurse": True}},
        "node-stats": {"S3ParquetSource": {"Name": "statistics_pages", "Paths": [f"s3://{silver}/wordpress_api/statistics_pages/"], "Recurse": True}},
        "node-join": {"Join": {"Name": "Join", "Inputs": ["node-posts", "node-stats"], "JoinType": "equijoin",
                               "Columns": [{"From": "node-posts", "Keys": [["ID"]]}, {"From": "node-stats", "Keys": [["id"]]}]}},
        "node-map": {"ApplyMapping": {"Name": "Change Schema", "Inputs": ["node-join"], "Mapping": [
            {"ToKey": to, "FromPath": [src], "FromType": ft, "ToType": tt, "Dropped": False} for src, ft, to, tt in GOLD_MAPPING]}},
        "node-filter": {"Filter": {"Name": "Filter", "Inputs": ["node-map"], "LogicalOperator": "AND", "Filters": [
            {"Operation": "REGEX", "Negated": False, "Values": [
                {"Type": "CONSTANT", "Value": ["post"]}, {"Type": "COLUMNEXTRACTED", "Value": ["post_type"]}]}]}},
        "node-target": {"S3GlueParquetTarget": {"Name": "Amazon S3", "Inputs": ["node-filter"],
                                                "Path": f"s3://{gold}/wordpress_api/statistics_postname/",
                                                "Compression": "snappy", "PartitionKeys": []}},
    }


def read_prefix(s3, bucket, prefix):
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]
    return keys, (pa.concat_tables(tables) if tables else None)


def test_gold_visual_job_through_a_state_machine_matches_duckdb(server, tmp_path):
    import duckdb
    s3, glue, posts, stats = lake(server)
    # a post whose type only starts with "post" stays; pages, revisions and attachments go
    posts = posts.to_pylist()
    posts[1]["post_type"], posts[2]["post_type"] = "post_revision", "revision"
    posts = pa.Table.from_pylist(posts, schema=pa.schema(silver_frames()[0].schema))
    put_parquet(s3, "silver", "wordpress_api/posts/posts.parquet", posts)
    s3.create_bucket(Bucket="gold")
    glue.create_job(Name="WordPress_Gold_statisticspagespostsjoin", Role=GLUE_ROLE, GlueVersion="4.0",
                    Command={"Name": "glueetl", "ScriptLocation": "s3://aws-glue-assets/scripts/gold.py", "PythonVersion": "3"},
                    NumberOfWorkers=2, WorkerType="G.1X", CodeGenConfigurationNodes=gold_nodes())
    with pytest.raises(glue.exceptions.InvalidInputException) as bad:
        glue.create_job(Name="bad", Role=GLUE_ROLE, Command={"Name": "glueetl"},
                        CodeGenConfigurationNodes={"n": {"DynamoDBCatalogSource": {"Name": "x", "Database": "d", "Table": "t"}}})
    assert "DynamoDBCatalogSource" in str(bad.value)
    sfn = server.client()
    arn = machine(sfn, "gold", {"StartAt": "Glue Start Gold PySpark", "States": {
        "Glue Start Gold PySpark": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync",
                                    "Parameters": {"JobName": "WordPress_Gold_statisticspagespostsjoin"},
                                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "PublishFailure"}], "End": True},
        "PublishFailure": {"Type": "Fail", "Error": "GoldFailed"}}})
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"], timeout=60)
    assert d["status"] == "SUCCEEDED", d
    run = json.loads(d["output"])
    assert run["JobRunState"] == "SUCCEEDED" and run["JobName"] == "WordPress_Gold_statisticspagespostsjoin"
    assert run["DPUSeconds"] >= 120.0

    keys, gold = read_prefix(s3, "gold", "wordpress_api/statistics_postname/")
    assert keys and all(k.endswith(".parquet") for k in keys)
    footer = pq.ParquetFile(io.BytesIO(s3.get_object(Bucket="gold", Key=keys[0])["Body"].read())).metadata
    assert footer.row_group(0).column(0).compression == "SNAPPY"
    assert gold.schema.names == [to for _, _, to, _ in GOLD_MAPPING]
    types = {f.name: f.type for f in gold.schema}
    assert types["post_ID"] == pa.int64() and types["statistics_count"] == pa.int64()
    assert pa.types.is_timestamp(types["post_date"]) and pa.types.is_timestamp(types["statistics_date"])
    assert types["post_title"] == pa.string()

    # the same computation, independently, in DuckDB over the files the test wrote
    pq.write_table(posts, tmp_path / "posts.parquet")
    pq.write_table(stats, tmp_path / "stats.parquet")
    # DuckDB folds case, so every column is qualified by its side
    select = ", ".join(f'{"p" if src in posts.column_names else "s"}."{src}"' for src, *_ in GOLD_MAPPING)
    want = duckdb.sql(f"""SELECT {select} FROM '{tmp_path}/posts.parquet' p JOIN '{tmp_path}/stats.parquet' s ON p."ID" = s.id
                           WHERE regexp_matches(post_type, '^post')""").fetchall()
    got = [tuple(r.values()) for r in gold.to_pylist()]
    norm = lambda rows: sorted(tuple(v.replace(tzinfo=None) if isinstance(v, datetime.datetime) else v for v in r) for r in rows)
    assert norm(got) == norm(want)
    assert {r["post_type"] for r in gold.to_pylist()} == {"post", "post_revision"}

    # Glue's S3 sinks append: a second run doubles the rows
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"], timeout=60)
    assert d["status"] == "SUCCEEDED"
    keys2, gold2 = read_prefix(s3, "gold", "wordpress_api/statistics_postname/")
    assert gold2.num_rows == 2 * gold.num_rows and len(keys2) == 2 * len(keys)
    runs = glue.get_job_runs(JobName="WordPress_Gold_statisticspagespostsjoin")["JobRuns"]
    assert len(runs) == 2 and all(r["JobRunState"] == "SUCCEEDED" for r in runs)
    logs = server.client(service="logs").get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=runs[0]["Id"])["events"]
    assert any("Wrote" in e["message"] for e in logs), logs


def test_job_failures_fail_the_state_and_catch(server):
    s3, glue, posts, stats = lake(server)
    nodes = gold_nodes()
    nodes["node-posts"]["S3ParquetSource"]["Paths"] = ["s3://silver/nothing-here/"]
    glue.create_job(Name="broken", Role=GLUE_ROLE, Command={"Name": "glueetl"}, CodeGenConfigurationNodes=nodes)
    sfn = server.client()
    arn = machine(sfn, "broken", {"StartAt": "Run", "States": {
        "Run": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync", "Parameters": {"JobName": "broken"},
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True}}})
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"], timeout=60)
    assert d["status"] == "SUCCEEDED"
    out = json.loads(d["output"])
    assert out["Error"] == "States.TaskFailed"
    cause = json.loads(out["Cause"])
    assert cause["JobRunState"] == "FAILED" and "nothing-here" in cause["ErrorMessage"]
    # unknown jobs fail at once with Glue's error name
    arn = machine(sfn, "missing", {"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun", "Parameters": {"JobName": "nope"}, "End": True}}})
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert d["status"] == "FAILED" and d["error"] == "Glue.EntityNotFoundException", d


SILVER_SCRIPT = r'''
import io, sys, boto3, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print("Starting", args["--JOB_NAME"], args["--JOB_RUN_ID"])
s3 = boto3.client("s3")
bronze, silver = args["--bronze"], args["--silver"]
body = s3.get_object(Bucket=bronze, Key="wordpress_api/terms/terms.parquet")["Body"].read()
t = pq.read_table(io.BytesIO(body)).drop(["term_group"])
t = t.set_column(t.schema.get_field_index("name"), "name", pc.replace_substring(t["name"], "&amp;", "&"))
out = io.BytesIO(); pq.write_table(t, out)
s3.put_object(Bucket=silver, Key="wordpress_api/terms/terms.parquet", Body=out.getvalue())
print(f"terms DataFrame has {t.num_columns} columns and {t.num_rows} rows.")
if args.get("--fail") == "yes":
    raise ValueError("asked to fail")
'''


def test_python_shell_and_sql_jobs(make_server, tmp_path):
    import sys
    # the server's temporary folder, to see that a run's script folder goes away
    s = make_server("--wait-scale", "0.01", "--glue-python", sys.executable, env={"TMPDIR": str(tmp_path)})
    s3, glue, logs = s.client(service="s3"), s.client(service="glue"), s.client(service="logs")
    for b in ("bronze", "silver", "scripts"):
        s3.create_bucket(Bucket=b)
    put_parquet(s3, "bronze", "wordpress_api/terms/terms.parquet",
                pa.table({"term_id": [1, 2], "name": ["Data &amp; AI", "Rust"], "slug": ["d", "r"], "term_group": [0, 0]}))
    s3.put_object(Bucket="scripts", Key="silver.py", Body=SILVER_SCRIPT.encode())
    glue.create_job(Name="wordpressapi_silver", Role=GLUE_ROLE, MaxCapacity=0.0625,
                    Command={"Name": "pythonshell", "ScriptLocation": "s3://scripts/silver.py", "PythonVersion": "3.9"},
                    DefaultArguments={"--bronze": "bronze", "--silver": "silver"})

    def run(job, **kw):
        rid = glue.start_job_run(JobName=job, **kw)["JobRunId"]
        end = time.time() + 60
        while time.time() < end:
            r = glue.get_job_run(JobName=job, RunId=rid)["JobRun"]
            if r["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING"):
                return r
            time.sleep(0.05)
        raise AssertionError("job still running")

    r = run("wordpressapi_silver")
    assert r["JobRunState"] == "SUCCEEDED", r
    assert r["DPUSeconds"] == pytest.approx(60 * 0.0625)
    _, t = read_prefix(s3, "silver", "wordpress_api/terms/")
    assert t.column_names == ["term_id", "name", "slug"] and t["name"].to_pylist() == ["Data & AI", "Rust"]
    out = logs.get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=r["Id"])["events"]
    assert any("terms DataFrame has 3 columns and 2 rows." in e["message"] for e in out), out
    r = run("wordpressapi_silver", Arguments={"--fail": "yes"})
    assert r["JobRunState"] == "FAILED" and "ValueError: asked to fail" in r["ErrorMessage"], r
    err = logs.get_log_events(logGroupName="/aws-glue/jobs/error", logStreamName=r["Id"])["events"]
    assert any("Traceback" in e["message"] for e in err)

    # a SQL job over the catalog and S3 paths, overwriting its target
    s3.put_object(Bucket="scripts", Key="report.sql",
                  Body=b"SELECT term_id, upper(name) AS name FROM 's3://silver/wordpress_api/terms/' WHERE term_id > 1")
    glue.create_job(Name="report", Role=GLUE_ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/report.sql"},
                    DefaultArguments={"--target_path": "s3://silver/reports/terms/", "--target_format": "json",
                                      "--write_mode": "overwrite"})
    for _ in range(2):
        r = run("report")
        assert r["JobRunState"] == "SUCCEEDED", r
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="silver", Prefix="reports/terms/")["Contents"]]
    assert len(keys) == 1, keys
    body = s3.get_object(Bucket="silver", Key=keys[0])["Body"].read().decode()
    assert [json.loads(l) for l in body.splitlines()] == [{"term_id": 2, "name": "RUST"}]
    # a timeout ends the run TIMEOUT
    s3.put_object(Bucket="scripts", Key="slow.py", Body=b"import time\ntime.sleep(30)\n")
    glue.create_job(Name="slow", Role=GLUE_ROLE, Timeout=1, Command={"Name": "pythonshell", "ScriptLocation": "s3://scripts/slow.py"})
    r = run("slow")
    assert r["JobRunState"] == "TIMEOUT", r
    # a stopped run ends STOPPED
    rid = glue.start_job_run(JobName="slow", Timeout=100)["JobRunId"]
    with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
        glue.start_job_run(JobName="slow")
    stopped = glue.batch_stop_job_run(JobName="slow", JobRunIds=[rid])
    assert stopped["SuccessfulSubmissions"] == [{"JobName": "slow", "JobRunId": rid}]
    end = time.time() + 10
    while glue.get_job_run(JobName="slow", RunId=rid)["JobRun"]["JobRunState"] != "STOPPED" and time.time() < end:
        time.sleep(0.05)
    assert glue.get_job_run(JobName="slow", RunId=rid)["JobRun"]["JobRunState"] == "STOPPED"
    # finished, timed-out and stopped runs all leave no script folder behind
    def left():
        return [p for p in os.listdir(tmp_path) if p.startswith("shoal-glue-")]
    end = time.time() + 10
    while left() and time.time() < end:
        time.sleep(0.05)
    assert not left(), os.listdir(tmp_path)


def test_athena_api_with_boto3_and_awswrangler(server):
    s3, glue, posts, stats = lake(server)
    athena = server.client(service="athena")
    s3.create_bucket(Bucket="athena-results")
    q = athena.start_query_execution(
        QueryString='SELECT id, post_title, post_date_todate FROM "silver-posts" WHERE id <= 3 ORDER BY id',
        QueryExecutionContext={"Database": "wordpress_api"},
        ResultConfiguration={"OutputLocation": "s3://athena-results/q/"})["QueryExecutionId"]
    end = time.time() + 20
    while time.time() < end:
        ex = athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]
        if ex["Status"]["State"] not in ("QUEUED", "RUNNING"):
            break
        time.sleep(0.05)
    assert ex["Status"]["State"] == "SUCCEEDED", ex
    assert ex["ResultConfiguration"]["OutputLocation"] == f"s3://athena-results/q/{q}.csv"
    pages = list(athena.get_paginator("get_query_results").paginate(QueryExecutionId=q, PaginationConfig={"PageSize": 2}))
    rows = [[d.get("VarCharValue") for d in r["Data"]] for p in pages for r in p["ResultSet"]["Rows"]]
    assert rows[0] == ["id", "post_title", "post_date_todate"] and len(pages) == 2
    assert [r[:2] for r in rows[1:]] == [["1", "Post 0"], ["2", "Post 1"], ["3", "Post 2"]]
    info = pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [c["Type"] for c in info] == ["bigint", "varchar", "timestamp"]
    csv = s3.get_object(Bucket="athena-results", Key=f"q/{q}.csv")["Body"].read().decode()
    assert csv.splitlines()[:2] == ['"id","post_title","post_date_todate"', '"1","Post 0","2023-03-01T09:30:00"']
    bad = athena.start_query_execution(QueryString="SELECT nope FROM wordpress_api.\"silver-posts\"")["QueryExecutionId"]
    end = time.time() + 20
    while athena.get_query_execution(QueryExecutionId=bad)["QueryExecution"]["Status"]["State"] == "RUNNING" and time.time() < end:
        time.sleep(0.05)
    st = athena.get_query_execution(QueryExecutionId=bad)["QueryExecution"]["Status"]
    assert st["State"] == "FAILED" and "nope" in st["StateChangeReason"]
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_query_results(QueryExecutionId=bad)

    # awswrangler, pointed at shoal, reads a query into pandas
    import awswrangler as wr
    import boto3
    wr.config.athena_endpoint_url = server.url
    wr.config.s3_endpoint_url = server.url
    wr.config.glue_endpoint_url = server.url
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    df = wr.athena.read_sql_query('SELECT post_type, count(*) AS n FROM "silver-posts" GROUP BY post_type ORDER BY post_type',
                                  database="wordpress_api", ctas_approach=False, s3_output="s3://athena-results/wr/",
                                  boto3_session=session)
    assert df.to_dict("records") == [{"post_type": "page", "n": 10}, {"post_type": "post", "n": 30}]
