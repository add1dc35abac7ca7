"""An S3-compatible server on 127.0.0.1 (moto's, answering from memory) for the object
storage benchmark and tests: real HTTP requests, no account, nothing leaves the machine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["moto_s3"]

_KEY = "local"
_REGION = "us-east-1"


@contextmanager
def moto_s3(bucket: str) -> Iterator[dict[str, str]]:
    """moto's S3 server on 127.0.0.1 with ``bucket`` created; yields the storage options
    that reach it (``VectorStore(f"s3://{bucket}/...", storage_options=...)``)."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=_KEY,
            aws_secret_access_key=_KEY,
            region_name=_REGION,
        ).create_bucket(Bucket=bucket)
        yield {
            "aws_access_key_id": _KEY,
            "aws_secret_access_key": _KEY,
            "aws_endpoint": endpoint,
            "aws_region": _REGION,
            "allow_http": "true",
        }
    finally:
        server.stop()
