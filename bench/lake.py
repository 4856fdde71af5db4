#!/usr/bin/env python3
"""The lakehouse stages of the seed pipeline, shoal (release build) beside the tools people use.

    python3 bench/lake.py [--bronze-rows 1000000] [--gold-rows 10000000] [--posts 100000]
                          [--only bronze|gold]

Needs pandas, pyarrow, duckdb and polars (e.g. target/e2e-venv plus `pip install polars`).

- **bronze**: a raw WordPress `posts` dump (a JSON array of string-valued rows, as the raw stage
  writes it) to snappy Parquet. shoal runs a visual job (S3JsonSource → S3DirectTarget) on an
  object in its own S3; pandas + pyarrow run what awswrangler does (`read_json` →
  `to_parquet`) on the same file on local disk.
- **gold**: the seed's gold job (posts ⋈ statistics_pages on ID/id, the 15-column mapping, the
  `post_type` prefix filter, snappy Parquet) on `--gold-rows` statistics rows. shoal runs the
  visual job; DuckDB and Polars run the same query on local Parquet files.

Each figure is wall time of the whole step (shoal: StartJobRun until SUCCEEDED) and peak RSS
(shoal: the server process's VmHWM; the others: their process's maxrss).
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SHOAL_BIN", os.path.join(ROOT, "target", "release", "shoal"))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def child(code, *args):
    """Runs `code` in a fresh Python; returns (seconds it reports, its peak RSS in MiB)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the parent
    code += "\nprint(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    lines = out.stdout.strip().splitlines()
    return float(lines[-2]), int(lines[-1]) / 1024


def posts_json(path, n):
    """n posts as the MySQL-dump endpoint returns them: every value a string."""
    types = ["post", "page", "revision", "attachment", "post"]
    with open(path, "w") as f:
        f.write("[")
        for i in range(n):
            d = f"20{21 + i % 4}-{1 + i % 12:02d}-{1 + i % 28:02d} 0{i % 10}:1{i % 6}:00"
            row = {"ID": str(i + 1), "post_author": "1", "post_date": d, "post_date_gmt": d,
                   "post_content": f"<p>Post number {i} about data engineering on AWS.</p>",
                   "post_title": f"Post {i}", "post_excerpt": "", "post_status": "publish",
                   "comment_status": "open", "ping_status": "open", "post_name": f"post-{i}",
                   "post_modified": d, "post_modified_gmt": d, "post_parent": str(i % 7),
                   "guid": f"https://example.com/?p={i + 1}", "menu_order": "0",
                   "post_type": types[i % 5], "post_mime_type": "", "comment_count": str(i % 3)}
            if i:
                f.write(", ")
            f.write(json.dumps(row))
        f.write("]")


def silver(folder, posts, rows):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(7)
    base = np.datetime64("2023-01-01T00:00:00", "ms")
    pdates = base + (np.arange(posts) * 3600 * 1000).astype("timedelta64[ms]")
    types = np.array(["post", "page", "revision", "attachment", "post"])[np.arange(posts) % 5]
    p = pa.table({
        "ID": pa.array(np.arange(1, posts + 1), pa.int64()),
        "post_date": pa.array(pdates.astype(str)), "post_title": pa.array([f"Post {i}" for i in range(posts)]),
        "post_status": pa.array(["publish"] * posts), "post_modified": pa.array(pdates.astype(str)),
        "post_parent": pa.array(np.zeros(posts, dtype=np.int64)), "post_type": pa.array(types),
        "post_date_todate": pa.array(pdates), "post_date_year": pa.array(pdates.astype("datetime64[Y]").astype(int) + 1970),
        "post_date_month": pa.array(pdates.astype("datetime64[M]").astype(int) % 12 + 1),
        "post_date_day": pa.array(np.ones(posts, dtype=np.int64)),
        "post_modified_todate": pa.array(pdates), "post_modified_year": pa.array(np.full(posts, 2023)),
        "post_modified_month": pa.array(np.ones(posts, dtype=np.int64)), "post_modified_day": pa.array(np.ones(posts, dtype=np.int64)),
    })
    sdates = base + (rng.integers(0, 700, rows) * 86400 * 1000).astype("timedelta64[ms]")
    s = pa.table({
        "page_id": pa.array(np.arange(rows), pa.int64()), "uri": pa.array(np.char.add("/p/", (np.arange(rows) % posts).astype(str))),
        "type": pa.array(np.array(["post", "page", "category"])[np.arange(rows) % 3]), "date": pa.array(sdates),
        "count": pa.array(rng.integers(1, 500, rows)), "id": pa.array(rng.integers(1, int(posts * 1.1), rows)),
        "date_todate": pa.array(sdates), "date_year": pa.array(sdates.astype("datetime64[Y]").astype(int) + 1970),
        "date_month": pa.array(sdates.astype("datetime64[M]").astype(int) % 12 + 1), "date_day": pa.array(np.ones(rows, dtype=np.int64)),
    })
    pq.write_table(p, os.path.join(folder, "posts.parquet"))
    pq.write_table(s, os.path.join(folder, "statistics_pages.parquet"), row_group_size=1 << 20)


MAPPING = [("ID", "post_ID", "long"), ("post_title", "post_title", "string"), ("post_status", "post_status", "string"),
           ("post_parent", "post_parent", "long"), ("post_type", "post_type", "string"), ("post_date_todate", "post_date", "timestamp"),
           ("post_date_year", "post_date_year", "long"), ("post_date_month", "post_date_month", "long"),
           ("post_date_day", "post_date_day", "long"), ("page_id", "statistics_id", "long"), ("date", "statistics_date", "timestamp"),
           ("count", "statistics_count", "long"), ("date_year", "statistics_date_year", "long"),
           ("date_month", "statistics_date_month", "long"), ("date_day", "statistics_date_day", "long")]

DUCKDB = r"""
import duckdb, sys, time
t = time.perf_counter()
d = sys.argv[1]
duckdb.sql(f'''COPY (SELECT {sys.argv[2]} FROM '{d}/posts.parquet' p JOIN '{d}/statistics_pages.parquet' s ON p."ID" = s.id
  WHERE regexp_matches(p.post_type, '^post')) TO '{d}/gold-duckdb.parquet' (FORMAT parquet, COMPRESSION snappy)''')
print(time.perf_counter() - t)
"""

POLARS = r"""
import polars as pl, sys, time, json
t = time.perf_counter()
d = sys.argv[1]
m = json.loads(sys.argv[2])
p = pl.scan_parquet(f"{d}/posts.parquet")
s = pl.scan_parquet(f"{d}/statistics_pages.parquet")
kinds = {"long": pl.Int64, "string": pl.Utf8, "timestamp": pl.Datetime("us")}
j = p.join(s, left_on="ID", right_on="id", how="inner")
out = j.select([pl.col(a).cast(kinds[k]).alias(b) for a, b, k in m]).filter(pl.col("post_type").str.contains("^post"))
out.sink_parquet(f"{d}/gold-polars.parquet", compression="snappy")
print(time.perf_counter() - t)
"""

PANDAS = r"""
import pandas as pd, sys, time
t = time.perf_counter()
df = pd.read_json(sys.argv[1])
df.to_parquet(sys.argv[2], compression="snappy", index=False)
print(time.perf_counter() - t)
"""


class Shoal:
    def __init__(self, data):
        import boto3
        from botocore.config import Config
        self.port = free_port()
        self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", data],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{self.port}"
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t",
                  config=Config(read_timeout=600, retries={"max_attempts": 1}))
        for _ in range(200):
            try:
                self.s3 = boto3.client("s3", **kw)
                self.s3.list_buckets()
                break
            except Exception:
                time.sleep(0.05)
        self.glue = boto3.client("glue", **kw)
        self.logs = boto3.client("logs", **kw)

    def run(self, job):
        t = time.perf_counter()
        rid = self.glue.start_job_run(JobName=job)["JobRunId"]
        while True:
            r = self.glue.get_job_run(JobName=job, RunId=rid)["JobRun"]
            if r["JobRunState"] not in ("RUNNING", "STARTING"):
                break
            time.sleep(0.02)
        took = time.perf_counter() - t
        if r["JobRunState"] != "SUCCEEDED":
            raise RuntimeError(r)
        for e in self.logs.get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=rid)["events"]:
            print(f"    shoal log: {e['message']}")
        return took

    def peak_mib(self):
        return peak_kib(self.proc.pid) / 1024

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def upload(s3, bucket, key, path):
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f)


def bronze(rows):
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "posts.json")
        posts_json(raw, rows)
        mib = os.path.getsize(raw) / 2**20
        pandas_s, pandas_mib = child(PANDAS, raw, os.path.join(d, "posts-pandas.parquet"))
        shoal = Shoal(os.path.join(d, "shoal"))
        try:
            shoal.s3.create_bucket(Bucket="raw")
            upload(shoal.s3, "raw", "wordpress_api/posts/posts.json", raw)
            base = shoal.peak_mib()
            shoal.glue.create_job(Name="bronze", Role="arn:aws:iam::123456789012:role/glue", Command={"Name": "glueetl"},
                                  CodeGenConfigurationNodes={
                                      "src": {"S3JsonSource": {"Name": "raw", "Paths": ["s3://raw/wordpress_api/posts/posts.json"]}},
                                      "out": {"S3DirectTarget": {"Name": "bronze", "Inputs": ["src"], "Format": "parquet",
                                                                 "Compression": "snappy", "Path": "s3://raw/bronze/posts/"}}})
            shoal_s = shoal.run("bronze")
            shoal_mib = shoal.peak_mib()
        finally:
            shoal.stop()
        print(f"bronze: {rows:,} posts, {mib:.0f} MiB of JSON -> snappy Parquet")
        print(f"  shoal visual job   {shoal_s:7.2f} s   peak RSS {shoal_mib:6.0f} MiB (before the job {base:.0f})")
        print(f"  pandas + pyarrow   {pandas_s:7.2f} s   peak RSS {pandas_mib:6.0f} MiB")
        print(f"  shoal is {pandas_s / shoal_s:.1f}x pandas")


def gold(rows, posts):
    with tempfile.TemporaryDirectory() as d:
        silver(d, posts, rows)
        select = ", ".join(f'{"p" if a.startswith("post") or a == "ID" else "s"}."{a}"::{ {"long": "BIGINT", "string": "VARCHAR", "timestamp": "TIMESTAMP"}[k]} AS "{b}"' for a, b, k in MAPPING)
        duck_s, duck_mib = child(DUCKDB, d, select)
        polars_s, polars_mib = child(POLARS, d, json.dumps(MAPPING))
        shoal = Shoal(os.path.join(d, "shoal"))
        try:
            shoal.s3.create_bucket(Bucket="silver")
            shoal.s3.create_bucket(Bucket="gold")
            upload(shoal.s3, "silver", "wordpress_api/posts/posts.parquet", os.path.join(d, "posts.parquet"))
            upload(shoal.s3, "silver", "wordpress_api/statistics_pages/statistics_pages.parquet", os.path.join(d, "statistics_pages.parquet"))
            base = shoal.peak_mib()
            nodes = {
                "posts": {"S3ParquetSource": {"Name": "posts", "Paths": ["s3://silver/wordpress_api/posts/"]}},
                "stats": {"S3ParquetSource": {"Name": "stats", "Paths": ["s3://silver/wordpress_api/statistics_pages/"]}},
                "join": {"Join": {"Name": "j", "Inputs": ["posts", "stats"], "JoinType": "equijoin",
                                  "Columns": [{"From": "posts", "Keys": [["ID"]]}, {"From": "stats", "Keys": [["id"]]}]}},
                "map": {"ApplyMapping": {"Name": "m", "Inputs": ["join"], "Mapping": [
                    {"FromPath": [a], "ToKey": b, "ToType": k, "Dropped": False} for a, b, k in MAPPING]}},
                "filter": {"Filter": {"Name": "f", "Inputs": ["map"], "LogicalOperator": "AND", "Filters": [
                    {"Operation": "REGEX", "Negated": False, "Values": [{"Type": "CONSTANT", "Value": ["post"]},
                                                                        {"Type": "COLUMNEXTRACTED", "Value": ["post_type"]}]}]}},
                "out": {"S3GlueParquetTarget": {"Name": "gold", "Inputs": ["filter"], "Compression": "snappy",
                                                "Path": "s3://gold/wordpress_api/statistics_postname/"}},
            }
            shoal.glue.create_job(Name="gold", Role="arn:aws:iam::123456789012:role/glue", Command={"Name": "glueetl"},
                                  CodeGenConfigurationNodes=nodes)
            shoal_s = shoal.run("gold")
            shoal_mib = shoal.peak_mib()
        finally:
            shoal.stop()
        print(f"gold: {rows:,} statistics rows joined with {posts:,} posts -> snappy Parquet")
        print(f"  shoal visual job   {shoal_s:7.2f} s   peak RSS {shoal_mib:6.0f} MiB (before the job {base:.0f})")
        print(f"  DuckDB             {duck_s:7.2f} s   peak RSS {duck_mib:6.0f} MiB")
        print(f"  Polars             {polars_s:7.2f} s   peak RSS {polars_mib:6.0f} MiB")
        print(f"  shoal / DuckDB = {shoal_s / duck_s:.2f}x the time")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bronze-rows", type=int, default=1_000_000)
    ap.add_argument("--gold-rows", type=int, default=10_000_000)
    ap.add_argument("--posts", type=int, default=100_000)
    ap.add_argument("--only", choices=["bronze", "gold"])
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: cargo build --release -p shoal")
    if a.only != "gold":
        bronze(a.bronze_rows)
    if a.only != "bronze":
        gold(a.gold_rows, a.posts)


if __name__ == "__main__":
    main()
