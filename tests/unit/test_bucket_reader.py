"""Reading a run's objects from S3 (moto, in process) and GCS (the client library with a
stand-in transport): present objects come back as bytes, absent ones as None, a bad URI
is refused, and anything else (a permission error) is raised, not taken for absence."""

from __future__ import annotations

import pytest

from infra.providers import bucket


def test_uri_parts_and_a_bad_scheme() -> None:
    assert bucket.split_uri("s3://b/runs/st/job-1/") == ("s3", "b", "runs/st/job-1")
    with pytest.raises(ValueError, match="neither s3://bucket/prefix nor gs://bucket/prefix"):
        bucket.split_uri("file:///tmp/x")


def test_s3_prefix_reads_objects_and_none_when_absent(monkeypatch) -> None:
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="run-bucket")
        boto3.client("s3", region_name="us-east-1").put_object(Bucket="run-bucket", Key="runs/st/job-1/_COMPLETE.json", Body=b'{"a": 1}')
        prefix = bucket.open_prefix("s3://run-bucket/runs/st/job-1", "us-east-1")
        assert prefix.read("_COMPLETE.json") == b'{"a": 1}'
        assert bucket.read_json(prefix, "_COMPLETE.json") == {"a": 1}
        assert prefix.read("_FAILED.txt") is None
        denied = bucket.open_prefix("s3://not-a-bucket-of-ours/x", "us-east-1")
        with pytest.raises(Exception, match="NoSuchBucket"):
            denied.read("progress.json")


def test_gcs_prefix_reads_objects_and_none_when_absent(monkeypatch) -> None:
    from google.api_core.exceptions import Forbidden, NotFound
    from google.cloud import storage

    objects = {"runs/st/job-1/report.json": b'{"metrics": {}}'}

    class Blob:
        def __init__(self, name: str) -> None:
            self.name = name

        def download_as_bytes(self) -> bytes:
            if self.name.endswith("secret.txt"):
                raise Forbidden("no access")
            if self.name not in objects:
                raise NotFound(self.name)
            return objects[self.name]

    class Client:
        def bucket(self, name: str):
            assert name == "b"
            return type("Bucket", (), {"blob": lambda self, n: Blob(n)})()

    monkeypatch.setattr(storage, "Client", Client)
    prefix = bucket.open_prefix("gs://b/runs/st/job-1")
    assert bucket.read_json(prefix, "report.json") == {"metrics": {}}
    assert prefix.read("_COMPLETE.json") is None
    with pytest.raises(Forbidden):
        prefix.read("secret.txt")
