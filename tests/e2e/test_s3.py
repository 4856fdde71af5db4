"""S3 through boto3 and the AWS CLI against the real `shoal serve`: objects byte-exact, ranges,
copies, listings, multipart uploads, checksums, events, and no acknowledged object lost to a
kill -9."""

import base64
import hashlib
import http.client
import io
import json
import os
import threading
import time

import pytest
from conftest import aws_cli


def test_objects_round_trip(make_server):
    s = make_server()
    s3 = s.client(service="s3", region="eu-west-1")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(s3.exceptions.ClientError, match="InvalidBucketName"):
        s3.create_bucket(Bucket="Bad_Name", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.head_bucket(Bucket="lake")["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    assert s3.get_bucket_location(Bucket="lake")["LocationConstraint"] == "eu-west-1"

    body = json.dumps([{"id": i, "title": f"post {i}"} for i in range(100)]).encode()
    r = s3.put_object(Bucket="lake", Key="wordpress_api/posts/posts.json", Body=body,
                      ContentType="application/json", Metadata={"source": "wordpress"})
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    g = s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json")
    assert g["Body"].read() == body
    assert (g["ContentType"], g["Metadata"], g["ContentLength"]) == ("application/json", {"source": "wordpress"}, len(body))
    part = s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20] and part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json", Range="bytes=-5")["Body"].read() == body[-5:]
    with pytest.raises(s3.exceptions.ClientError, match="InvalidRange"):
        s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json", Range=f"bytes={len(body)}-")
    # conditional reads
    with pytest.raises(s3.exceptions.ClientError, match="304|Not Modified"):
        s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json", IfNoneMatch=r["ETag"])
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json", IfMatch='"nope"')
    # boto3 sends a CRC32 of the body by default; it is checked, kept and given back on request
    assert "ChecksumCRC32" in r
    g = s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json", ChecksumMode="ENABLED")
    assert g["ChecksumCRC32"] == r["ChecksumCRC32"]
    with pytest.raises(s3.exceptions.ClientError, match="BadDigest"):
        s3.put_object(Bucket="lake", Key="bad", Body=b"abc", ChecksumCRC32="AAAAAA==")
    with pytest.raises(s3.exceptions.ClientError, match="BadDigest"):
        s3.put_object(Bucket="lake", Key="bad", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    # a body past 1 MiB is hashed on a thread of its own: the same digests and checks
    big = os.urandom(3 << 20)
    with pytest.raises(s3.exceptions.ClientError, match="BadDigest"):
        s3.put_object(Bucket="lake", Key="bad", Body=big, ChecksumSHA256=base64.b64encode(hashlib.sha256(b"x").digest()).decode())
    r = s3.put_object(Bucket="lake", Key="big.bin", Body=big, ChecksumAlgorithm="SHA256")
    assert r["ETag"] == '"%s"' % hashlib.md5(big).hexdigest()
    assert r["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(big).digest()).decode()
    s3.delete_object(Bucket="lake", Key="big.bin")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="lake", Key="bad")
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_object(Bucket="nope", Key="x")
    with pytest.raises(s3.exceptions.ClientError, match="404"):
        s3.head_object(Bucket="lake", Key="missing")

    # keys with spaces, unicode and plus signs survive both ways
    odd = "raw/a b+c/ü ✓.json"
    s3.put_object(Bucket="lake", Key=odd, Body=b"{}")
    assert s3.get_object(Bucket="lake", Key=odd)["Body"].read() == b"{}"
    s3.copy_object(Bucket="lake", Key="bronze/copy.json", CopySource={"Bucket": "lake", "Key": odd},
                   MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"k": "v"})
    h = s3.head_object(Bucket="lake", Key="bronze/copy.json")
    assert (h["ContentType"], h["Metadata"], h["ContentLength"]) == ("text/plain", {"k": "v"}, 2)
    with pytest.raises(s3.exceptions.ClientError, match="InvalidRequest"):
        s3.copy_object(Bucket="lake", Key=odd, CopySource={"Bucket": "lake", "Key": odd})

    # listings: v2 with pages and delimiters, v1, url encoding (boto3 asks for it and decodes)
    for i in range(7):
        s3.put_object(Bucket="lake", Key=f"silver/day={i:02}/part.parquet", Body=b"p" * i)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix="silver/", PaginationConfig={"PageSize": 3})
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert keys == [f"silver/day={i:02}/part.parquet" for i in range(7)]
    top = s3.list_objects_v2(Bucket="lake", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["bronze/", "raw/", "silver/", "wordpress_api/"]
    assert "Contents" not in top and top["KeyCount"] == 4
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="raw/")["Contents"]] == [odd]
    v1 = s3.list_objects(Bucket="lake", Prefix="silver/", MaxKeys=2)
    assert v1["IsTruncated"] and len(v1["Contents"]) == 2
    v1b = s3.list_objects(Bucket="lake", Prefix="silver/", Marker=v1["Contents"][-1]["Key"])
    assert len(v1b["Contents"]) == 5

    gone = s3.delete_objects(Bucket="lake", Delete={"Objects": [{"Key": f"silver/day={i:02}/part.parquet"} for i in range(7)]})
    assert len(gone["Deleted"]) == 7
    s3.delete_object(Bucket="lake", Key="never-was")
    with pytest.raises(s3.exceptions.ClientError, match="BucketNotEmpty"):
        s3.delete_bucket(Bucket="lake")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["lake"]

    # everything is still there after a restart
    s.stop()
    s.start()
    s3 = s.client(service="s3", region="eu-west-1")
    assert s3.get_object(Bucket="lake", Key="wordpress_api/posts/posts.json")["Body"].read() == body
    assert s3.list_objects_v2(Bucket="lake", Prefix="silver/")["KeyCount"] == 0


def test_multipart_uploads(make_server):
    s = make_server()
    s3 = s.client(service="s3")
    s3.create_bucket(Bucket="big")
    data = os.urandom(13 << 20)
    # boto3's managed transfer: multipart above 8 MiB, ranged parallel GETs
    s3.upload_fileobj(io.BytesIO(data), "big", "blob.bin")
    h = s3.head_object(Bucket="big", Key="blob.bin")
    assert h["ContentLength"] == len(data) and h["ETag"].endswith('-2"')
    out = io.BytesIO()
    s3.download_fileobj("big", "blob.bin", out)
    assert out.getvalue() == data
    # a range that spans the two parts
    r = s3.get_object(Bucket="big", Key="blob.bin", Range=f"bytes={(8 << 20) - 3}-{(8 << 20) + 2}")
    assert r["Body"].read() == data[(8 << 20) - 3:(8 << 20) + 3]

    # the low-level calls and their errors
    up = s3.create_multipart_upload(Bucket="big", Key="parts", ContentType="text/csv")["UploadId"]
    small = s3.upload_part(Bucket="big", Key="parts", UploadId=up, PartNumber=1, Body=b"a" * 10)
    last = s3.upload_part(Bucket="big", Key="parts", UploadId=up, PartNumber=2, Body=b"b")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket="big", Key="parts", UploadId=up)["Parts"]] == [1, 2]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="big")["Uploads"]] == ["parts"]
    parts = [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]
    with pytest.raises(s3.exceptions.ClientError, match="EntityTooSmall"):
        s3.complete_multipart_upload(Bucket="big", Key="parts", UploadId=up, MultipartUpload={"Parts": parts})
    with pytest.raises(s3.exceptions.ClientError, match="InvalidPart"):
        s3.complete_multipart_upload(Bucket="big", Key="parts", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": '"0000"'}]})
    s3.upload_part(Bucket="big", Key="parts", UploadId=up, PartNumber=1, Body=b"a" * (5 << 20))
    first = s3.list_parts(Bucket="big", Key="parts", UploadId=up)["Parts"][0]["ETag"]
    done = s3.complete_multipart_upload(Bucket="big", Key="parts", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": last["ETag"]}]})
    want = hashlib.md5(hashlib.md5(b"a" * (5 << 20)).digest() + hashlib.md5(b"b").digest()).hexdigest()
    assert done["ETag"] == f'"{want}-2"'
    g = s3.get_object(Bucket="big", Key="parts")
    assert g["ContentType"] == "text/csv" and g["Body"].read() == b"a" * (5 << 20) + b"b"
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.list_parts(Bucket="big", Key="parts", UploadId=up)
    up2 = s3.create_multipart_upload(Bucket="big", Key="dropped")["UploadId"]
    s3.upload_part(Bucket="big", Key="dropped", UploadId=up2, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="big", Key="dropped", UploadId=up2)
    assert s3.list_multipart_uploads(Bucket="big").get("Uploads", []) == []
    # no blob outlives what names it: two objects of 13 MiB + 5 MiB + 1 byte remain
    blobs = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(s.data, "objects")) for f in fs]
    assert sum(os.path.getsize(b) for b in blobs) == len(data) + (5 << 20) + 1


def test_aws_cli_cp_ls_sync(make_server, tmp_path):
    s = make_server()
    src = tmp_path / "src"
    (src / "posts").mkdir(parents=True)
    (src / "posts" / "posts.json").write_text('[{"id": 1}]')
    (src / "stats.csv").write_text("id,views\n1,10\n")
    (src / "big.bin").write_bytes(os.urandom(9 << 20))
    aws_cli(s, "s3", "mb", "s3://cli")
    aws_cli(s, "s3", "sync", str(src), "s3://cli/raw", "--only-show-errors")
    ls = aws_cli(s, "s3", "ls", "--recursive", "s3://cli").stdout
    assert "raw/posts/posts.json" in ls and "raw/stats.csv" in ls and str(9 << 20) in ls
    # a second sync uploads nothing
    assert aws_cli(s, "s3", "sync", str(src), "s3://cli/raw").stdout.strip() == ""
    dst = tmp_path / "dst"
    aws_cli(s, "s3", "sync", "s3://cli/raw", str(dst), "--only-show-errors")
    for f in ["posts/posts.json", "stats.csv", "big.bin"]:
        assert (dst / f).read_bytes() == (src / f).read_bytes()
    aws_cli(s, "s3", "cp", "s3://cli/raw/big.bin", "s3://cli/copy/big.bin", "--only-show-errors")
    aws_cli(s, "s3", "cp", "s3://cli/copy/big.bin", str(tmp_path / "back.bin"), "--only-show-errors")
    assert (tmp_path / "back.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert aws_cli(s, "s3", "cp", "s3://cli/raw/stats.csv", "-").stdout == "id,views\n1,10\n"
    assert "PRE raw/" in aws_cli(s, "s3", "ls", "s3://cli/").stdout
    head = json.loads(aws_cli(s, "s3api", "head-object", "--bucket", "cli", "--key", "raw/stats.csv").stdout)
    assert head["ContentLength"] == 14
    missing = aws_cli(s, "s3", "ls", "s3://nope", check=False)
    assert missing.returncode != 0 and "NoSuchBucket" in missing.stderr
    aws_cli(s, "s3", "rb", "--force", "s3://cli")
    assert aws_cli(s, "s3", "ls").stdout.strip() == ""


def test_virtual_hosted_and_unsigned_requests(make_server):
    s = make_server()
    s3 = s.client(service="s3")
    s3.create_bucket(Bucket="site")
    c = http.client.HTTPConnection("127.0.0.1", s.port)
    c.request("PUT", "/index.html", body=b"<h1>hi</h1>", headers={"Host": f"site.s3.localhost:{s.port}", "Content-Type": "text/html"})
    r = c.getresponse()
    r.read()
    assert r.status == 200
    c.request("GET", "/site/index.html")
    r = c.getresponse()
    assert (r.status, r.read(), r.getheader("content-type")) == (200, b"<h1>hi</h1>", "text/html")
    c.request("GET", "/site/nope")
    r = c.getresponse()
    body = r.read().decode()
    assert r.status == 404 and "<Code>NoSuchKey</Code>" in body and "<Key>nope</Key>" in body
    # a presigned URL works as on S3 (credentials are not checked)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "site", "Key": "index.html"})
    path = url.split(str(s.port), 1)[1]
    c.request("GET", path)
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"<h1>hi</h1>")


def test_object_events_reach_rules(make_server):
    s = make_server()
    s3, ev, sqs = s.client(service="s3"), s.client(service="events"), s.client(service="sqs")
    s3.create_bucket(Bucket="landing")
    q = sqs.create_queue(QueueName="arrivals")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev.put_rule(Name="raw-arrived", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": ["landing"]}, "object": {"key": [{"prefix": "raw/"}]}}}))
    ev.put_targets(Rule="raw-arrived", Targets=[{"Id": "q", "Arn": qarn}])
    s3.put_object(Bucket="landing", Key="raw/before.json", Body=b"{}")
    with pytest.raises(s3.exceptions.ClientError, match="NotImplemented"):
        s3.put_bucket_notification_configuration(Bucket="landing", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": qarn, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_bucket_notification_configuration(Bucket="landing", NotificationConfiguration={"EventBridgeConfiguration": {}})
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket="landing")
    s3.put_object(Bucket="landing", Key="raw/posts.json", Body=b"[1,2,3]")
    s3.put_object(Bucket="landing", Key="other/ignored.json", Body=b"{}")
    s3.delete_object(Bucket="landing", Key="raw/posts.json")
    got = []
    deadline = time.time() + 10
    while len(got) < 2 and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            got.append(json.loads(m["Body"]))
    assert [(e["detail-type"], e["detail"]["object"]["key"]) for e in got] == [
        ("Object Created", "raw/posts.json"), ("Object Deleted", "raw/posts.json")]
    created = got[0]
    assert created["source"] == "aws.s3" and created["resources"] == ["arn:aws:s3:::landing"]
    assert created["detail"]["object"]["size"] == 7 and created["detail"]["reason"] == "PutObject"
    assert created["detail"]["object"]["etag"] == hashlib.md5(b"[1,2,3]").hexdigest()


def test_kill9_loses_no_acknowledged_object(make_server):
    s = make_server()
    s3 = s.client(service="s3")
    s3.create_bucket(Bucket="durable")
    acked, stop = {}, threading.Event()

    def writer(n):
        c = s.client(service="s3")
        i = 0
        while not stop.is_set():
            key = f"w{n}/{i}"
            body = os.urandom(1000 + i * 37 % 200_000)
            try:
                c.put_object(Bucket="durable", Key=key, Body=body)
            except Exception:
                return
            acked[key] = hashlib.md5(body).hexdigest()
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    s.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 20
    s.start()
    s3 = s.client(service="s3")
    for key, md5 in acked.items():
        assert hashlib.md5(s3.get_object(Bucket="durable", Key=key)["Body"].read()).hexdigest() == md5, key
    # whatever was not acknowledged is either whole or absent, never half-written
    listed = {o["Key"]: o for p in s3.get_paginator("list_objects_v2").paginate(Bucket="durable") for o in p.get("Contents", [])}
    assert set(acked) <= set(listed)
    for key, o in listed.items():
        if key in acked:
            continue
        body = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        assert len(body) == o["Size"] and f'"{hashlib.md5(body).hexdigest()}"' == o["ETag"]
    # the interrupted uploads' blobs were swept at start
    blobs = sum(len(fs) for _, _, fs in os.walk(os.path.join(s.data, "objects")))
    assert blobs == len(listed)
