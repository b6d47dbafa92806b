"""The storage layer on local folders and on S3 (a real moto server): reading, writing,
listing, hashing, and atomic writes that leave nothing behind when the writer fails."""

from __future__ import annotations

import hashlib
import re
import time

import pytest

from mlops_core import storage
from mlops_core.errors import BadInput
from mlops_core.services import free_port
from mlops_core.storage import StorageError


class WriterFailed(Exception):
    pass


@pytest.fixture
def bucket(moto_endpoint, monkeypatch, request) -> str:
    """A fresh bucket on the moto server: yields s3://<bucket>."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:50]
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path) -> tuple[str, str | None]:
    """(root URL, endpoint) of an empty folder or an empty bucket."""
    if request.param == "local":
        return str(tmp_path / "store"), None
    return request.getfixturevalue("bucket") + "/prefix", request.getfixturevalue("moto_endpoint")


def test_write_read_list_delete(root):
    url, endpoint = root
    assert storage.list_names(url, endpoint_url=endpoint) == []
    storage.write_text(storage.join(url, "b.json"), '{"b": 1}', endpoint_url=endpoint)
    storage.write_bytes(storage.join(url, "a.bin"), b"\x00\x01", endpoint_url=endpoint)
    storage.write_text(storage.join(url, "sub", "c.txt"), "c", endpoint_url=endpoint)
    assert storage.list_names(url, endpoint_url=endpoint) == ["a.bin", "b.json"]
    assert storage.read_text(storage.join(url, "b.json"), endpoint_url=endpoint) == '{"b": 1}'
    assert storage.read_bytes(storage.join(url, "a.bin"), endpoint_url=endpoint) == b"\x00\x01"
    assert storage.size(storage.join(url, "a.bin"), endpoint_url=endpoint) == 2
    assert storage.exists(storage.join(url, "sub", "c.txt"), endpoint_url=endpoint)

    storage.delete(storage.join(url, "a.bin"), endpoint_url=endpoint)
    assert not storage.exists(storage.join(url, "a.bin"), endpoint_url=endpoint)
    storage.delete(storage.join(url, "a.bin"), endpoint_url=endpoint)  # missing is fine
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        storage.read_bytes(storage.join(url, "missing.json"), endpoint_url=endpoint)


def test_atomic_write_leaves_nothing_when_the_writer_raises(root):
    url, endpoint = root
    target = storage.join(url, "report.html")
    storage.write_text(target, "old", endpoint_url=endpoint)
    with (
        pytest.raises(WriterFailed),
        storage.atomic_write(target, "w", endpoint_url=endpoint) as fh,
    ):
        fh.write("half of the new")
        fh.flush()
        raise WriterFailed
    assert storage.read_text(target, endpoint_url=endpoint) == "old"
    new = storage.join(url, "new.json")
    with (
        pytest.raises(WriterFailed),
        storage.atomic_write(new, endpoint_url=endpoint) as fh,
    ):
        fh.write(b"{")
        raise WriterFailed
    assert not storage.exists(new, endpoint_url=endpoint)
    # No temporary file or object left next to the target either.
    assert storage.list_names(url, endpoint_url=endpoint) == ["report.html"]


def test_a_reader_never_sees_a_partial_file(root):
    url, endpoint = root
    target = storage.join(url, "big.bin")
    with storage.atomic_write(target, endpoint_url=endpoint) as fh:
        fh.write(b"x" * 1000)
        assert not storage.exists(target, endpoint_url=endpoint)
    assert storage.size(target, endpoint_url=endpoint) == 1000


def test_upload_download_and_digest(root, tmp_path):
    url, endpoint = root
    src = tmp_path / "data.parquet"
    src.write_bytes(b"PAR1" + bytes(range(256)) * 5000)
    target = storage.join(url, "data.parquet")
    storage.upload(src, target, endpoint_url=endpoint)
    expected = hashlib.sha256(src.read_bytes()).hexdigest()
    assert storage.file_digest(target, endpoint_url=endpoint) == expected
    assert storage.file_digest(src) == expected
    md5 = hashlib.md5(src.read_bytes(), usedforsecurity=False).hexdigest()
    assert storage.file_digest(src, lambda: hashlib.md5(usedforsecurity=False)) == md5

    seen: list[tuple[int, int | None]] = []
    out = storage.download(
        target, tmp_path / "out" / "copy.parquet", endpoint_url=endpoint,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert out.read_bytes() == src.read_bytes()
    assert seen and seen[-1] == (src.stat().st_size, src.stat().st_size)
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.parquet"]
    with pytest.raises(FileNotFoundError):
        storage.download(storage.join(url, "nope"), out.parent / "nope", endpoint_url=endpoint)
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.parquet"]


def test_s3_content_type_follows_the_name(bucket, moto_endpoint):
    import boto3

    storage.write_text(f"{bucket}/r/report.html", "<html/>", endpoint_url=moto_endpoint)
    head = boto3.client("s3", endpoint_url=moto_endpoint).head_object(
        Bucket=bucket.removeprefix("s3://"), Key="r/report.html"
    )
    assert head["ContentType"] == "text/html"


def test_check_writable(tmp_path, bucket, moto_endpoint):
    storage.check_writable(str(tmp_path / "new" / "folder"))
    assert (tmp_path / "new" / "folder").is_dir()
    assert list((tmp_path / "new" / "folder").iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match=f"{blocker}/x: write failed"):
        storage.check_writable(str(blocker / "x"))

    storage.check_writable(bucket + "/reports", endpoint_url=moto_endpoint)
    with pytest.raises(StorageError, match=r"s3://no-such-bucket/x at http.*no such bucket"):
        storage.check_writable("s3://no-such-bucket/x", endpoint_url=moto_endpoint)
    with pytest.raises(StorageError, match="no such bucket"):
        storage.list_names("s3://no-such-bucket/x", endpoint_url=moto_endpoint)


def test_unreachable_endpoint_is_a_storage_error_naming_it(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StorageError, match=f"s3://b/k at {endpoint}: cannot be reached") as caught:
        storage.read_bytes("s3://b/k", endpoint_url=endpoint)
    assert (caught.value.exit_code, caught.value.reason) == (5, "unreachable")
    assert time.monotonic() - started < 30


def test_urls_are_checked():
    with pytest.raises(BadInput, match="no bucket"):
        storage.filesystem("s3://")
    with pytest.raises(BadInput, match="local path or an s3"):
        storage.filesystem("gs://bucket/x")
    assert storage.join("s3://b/p/", "m", "x.json") == "s3://b/p/m/x.json"
    assert storage.join("/tmp/a", "m", "x.json") == "/tmp/a/m/x.json"
