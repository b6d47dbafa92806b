"""The report store: local folder and S3 (moto server), complete-or-nothing writes,
unreachable stores."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_core.errors import BadInput, Unavailable
from mlops_core.services import free_port
from model_monitoring.store import ReportStore, run_stem


def _result(until: str, status: str = "no_drift") -> dict:
    return {"status": status, "window": {"until": until}}


def test_local_store_writes_complete_runs(tmp_path):
    store = ReportStore(str(tmp_path / "reports"))
    store.check()
    stem = run_stem(datetime(2026, 11, 29, 17, 0, tzinfo=UTC), "3")
    stored = store.write_run("m", stem, "<html></html>", _result("2026-11-29T17:00:00+00:00"))
    assert stored.html.endswith(f"m/{stem}.html") and os.path.exists(stored.json)
    assert json.loads(Path(stored.json).read_text())["status"] == "no_drift"
    later = run_stem(datetime(2026, 11, 29, 18, 0, tzinfo=UTC), "3")
    store.write_run(
        "m", later, "<html/>", _result("2026-11-29T18:00:00+00:00", "insufficient_data")
    )
    # The previous *judged* run decides the default window start.
    assert store.last_window_end("m") == "2026-11-29T17:00:00+00:00"
    assert store.runs("m") == [f"{stem}.json", f"{later}.json"]
    assert not [p for p in (tmp_path / "reports" / "m").iterdir() if p.name.startswith(".")]


def test_local_store_failure_leaves_nothing(tmp_path, monkeypatch):
    store = ReportStore(str(tmp_path / "reports"))
    calls = []
    real_replace = os.replace

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the JSON, after the HTML went in
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(Unavailable, match="write failed"):
        store.write_run("m", "20261129T170000000000Z-v1", "<html/>", _result("x"))
    assert list((tmp_path / "reports" / "m").iterdir()) == []


def test_store_urls_are_checked():
    with pytest.raises(BadInput, match="no bucket"):
        ReportStore("s3://")
    with pytest.raises(BadInput, match="folder or an s3"):
        ReportStore("gs://bucket/x")


def test_s3_store_on_moto(s3_endpoint):
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="reports")
    store = ReportStore("s3://reports/monitoring", endpoint_url=s3_endpoint)
    store.check()
    stem = run_stem(datetime(2026, 11, 29, 17, 0, tzinfo=UTC), "2")
    stored = store.write_run("m", stem, "<html/>", _result("2026-11-29T17:00:00+00:00", "drift"))
    assert stored.html == f"s3://reports/monitoring/m/{stem}.html"
    assert store.runs("m") == [f"{stem}.json"]
    assert store.last_window_end("m") == "2026-11-29T17:00:00+00:00"

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    head = s3.head_object(Bucket="reports", Key=f"monitoring/m/{stem}.html")
    assert head["ContentType"] == "text/html"

    missing = ReportStore("s3://no-such-bucket/x", endpoint_url=s3_endpoint)
    with pytest.raises(Unavailable, match="no-such-bucket"):
        missing.check()


def test_unreachable_s3_endpoint_is_unavailable(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = ReportStore("s3://reports", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unavailable, match="not reachable"):
        store.check()


def test_s3_json_failure_removes_the_html(s3_endpoint, monkeypatch):
    """The JSON upload fails after the HTML went in: no half run stays in the bucket."""
    import boto3

    from mlops_core import storage

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="half")
    store = ReportStore("s3://half/r", endpoint_url=s3_endpoint)
    real_write = storage.write_text

    def failing_json(url, text, **kwargs):
        if url.endswith(".json"):
            raise storage.StorageError(f"{url}: upload failed (connection reset)")
        return real_write(url, text, **kwargs)

    monkeypatch.setattr(storage, "write_text", failing_json)
    with pytest.raises(Unavailable, match="upload failed"):
        store.write_run("m", "20261129T170000000000Z-v1", "<html/>", _result("x"))
    assert s3.list_objects_v2(Bucket="half").get("KeyCount") == 0
    assert store.runs("m") == []
