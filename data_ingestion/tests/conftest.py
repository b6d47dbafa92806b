"""Fixtures of the ingestion tests: one moto S3 server and one HTTP file server per session,
a data registry that already holds a version, and helpers to tell whether it changed."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_core.schema import DatasetSchema, load_schema

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"


@pytest.fixture(scope="session")
def schema() -> DatasetSchema:
    """The house-price schema (the model the `mlops_home` fixture's models folder holds)."""
    return load_schema(MODELS / "house-price" / "schema.yaml")


@pytest.fixture
def registry_state(mlops_home: Path, git_refs):
    """registry_state() -> every ref of the registry with its commit ({}: no registry):
    equal before and after a run means the run left no commit and no tag behind."""
    return lambda: git_refs(mlops_home / "data-registry.git")


def _home_files(home: Path) -> set[str]:
    # The registry is compared by its refs; DVC objects a failed push left are referenced by
    # no version (content-addressed), so the remote is not compared.
    skip = {"data-registry.git", "dvc-remote"}
    return {
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file() and p.relative_to(home).parts[0] not in skip
    }


@pytest.fixture
def home_files(mlops_home: Path):
    """home_files() -> every file under MLOPS_HOME outside the registry and the DVC remote:
    what a run added is the difference of two calls."""
    return lambda: _home_files(mlops_home)


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose registry holds data-v1 (made once, copied into each test that needs it)."""
    from mlops_core.registry import DataRegistry
    from mlops_core.synthetic import generate

    home = tmp_path_factory.mktemp("seeded-home")
    registry = DataRegistry(
        str(home / "data-registry.git"),
        str(home / "dvc-remote"),
        model="house-price",
        work_dir=home / "tmp",
    )
    frame = generate(load_schema(MODELS / "house-price" / "schema.yaml"), 300, seed=1)
    parts = {"train": frame[:200], "val": frame[200:250], "test": frame[250:]}
    folder = home / "parts"
    folder.mkdir()
    paths = {}
    for name, part in parts.items():
        paths[name] = folder / f"{name}.parquet"
        part.to_parquet(paths[name], index=False)
    assert registry.publish(paths, {"source": {"uri": "seed"}}).tag == "data-v1"
    shutil.rmtree(folder)
    return home


@pytest.fixture
def seeded_home(mlops_home: Path, _seeded_template: Path) -> Path:
    """MLOPS_HOME with a registry that already holds house-price's data-v1."""
    for name in ("data-registry.git", "dvc-remote"):
        shutil.copytree(_seeded_template / name, mlops_home / name)
    return mlops_home


@pytest.fixture(scope="session")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on 127.0.0.1 serving a folder: yields (folder, base URL)."""
    root = tmp_path_factory.mktemp("http-root")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def s3(moto_endpoint: str, mlops_home: Path, monkeypatch: pytest.MonkeyPatch):
    """A boto3 client of the moto server, with the environment pointed at it."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", moto_endpoint)
    return boto3.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
