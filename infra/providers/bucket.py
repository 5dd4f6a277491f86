"""Read small objects from a run's prefix in S3 or GCS, from the machine running Pulumi.

The cloud job resource polls the node's markers and progress object through this.
Credentials are whatever the SDKs find, like the Pulumi providers' own (``AWS_PROFILE``,
``AWS_ACCESS_KEY_ID``…, application-default credentials on GCP); boto3 also honours
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, which is how the real-engine test points
it at an S3-compatible server on localhost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


class Prefix(Protocol):
    """Objects under one ``s3://bucket/prefix`` or ``gs://bucket/prefix``."""

    uri: str

    def read(self, name: str) -> bytes | None:
        """The object ``<prefix>/<name>``'s bytes, or None when it does not exist."""
        ...


def split_uri(uri: str) -> tuple[str, str, str]:
    """``s3://bucket/a/b`` -> ``("s3", "bucket", "a/b")``."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in ("s3", "gs"):
        raise ValueError(f"store URI {uri!r} is neither s3://bucket/prefix nor gs://bucket/prefix")
    bucket, _, prefix = rest.partition("/")
    return scheme, bucket, prefix.strip("/")


@dataclass
class S3Prefix:
    uri: str
    region: str | None = None

    def __post_init__(self) -> None:
        import boto3

        _, self.bucket, self.prefix = split_uri(self.uri)
        self._s3 = boto3.client("s3", region_name=self.region or None)

    def read(self, name: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self._s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}")["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise


@dataclass
class GcsPrefix:
    uri: str
    region: str | None = None

    def __post_init__(self) -> None:
        from google.cloud import storage

        _, bucket, self.prefix = split_uri(self.uri)
        self._bucket = storage.Client().bucket(bucket)

    def read(self, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self._bucket.blob(f"{self.prefix}/{name}").download_as_bytes()
        except NotFound:
            return None


def open_prefix(uri: str, region: str | None = None) -> Prefix:
    """The reader for ``uri``'s scheme."""
    scheme = split_uri(uri)[0]
    return S3Prefix(uri, region) if scheme == "s3" else GcsPrefix(uri, region)


def read_json(prefix: Prefix, name: str) -> Any | None:
    """An object parsed as JSON; None when absent or not (yet) valid JSON."""
    raw = prefix.read(name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
