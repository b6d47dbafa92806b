"""Fixtures of the container tests: a docker engine, the stage images built once per session
through the one build path (scripts/build-images.sh, as `make images` and `make up`), and the
charts rendered by tests/k8s's helpers.

Without an engine these tests fail under CI=true (.ci/run starts one with
scripts/docker-engine.sh) and skip with the reason elsewhere. PYTHON_IMAGE names the base
image (a registry-free one from scripts/build-base-image.sh, e.g. in .ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "k8s"))

from k8s_support import render  # noqa: E402


def _docker_client() -> str | None:
    # Debian's docker.io (20.10) has BuildKit built in; a newer client first on PATH may not.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def docker() -> str:
    """The docker client of a reachable engine."""
    client = _docker_client()
    reason = "no docker client (apt-get install docker.io; scripts/docker-engine.sh start)"
    if client:
        proc = subprocess.run([client, "info"], capture_output=True, text=True, timeout=60)
        reason = (
            "" if proc.returncode == 0 else f"docker engine not reachable: {proc.stderr[-300:]}"
        )
    if reason:
        if os.environ.get("CI", "").lower() in {"1", "true"}:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return client


@pytest.fixture(scope="session")
def stage_images(docker: str) -> dict[str, dict]:
    """Build every image of gitops/images.yaml once; stage -> {ref, size_mb}.

    MLOPS_TEST_PREBUILT=1 uses the images `make images` built instead (a quicker rerun)."""
    env = {**os.environ, "DOCKER": docker}
    start = time.monotonic()
    if os.environ.get("MLOPS_TEST_PREBUILT") != "1":
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-images.sh")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    refs = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-images.sh"), "--refs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    images = {}
    for stage, ref in zip(refs[::2], refs[1::2], strict=True):
        size = subprocess.run(
            [docker, "image", "inspect", "--format", "{{.Size}}", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        images[stage] = {"ref": ref, "size_mb": int(size) / 1e6}
    print(f"\nstage images built in {time.monotonic() - start:.0f} s: {images}")
    return images


@pytest.fixture(scope="session")
def rendered():
    """render(chart, values label) from tests/k8s: the chart objects as Argo CD applies them."""
    return render


@pytest.fixture
def containers(docker: str):
    """Start containers (`docker run -d ARGS`) and remove every one at the end of the test."""
    started: list[str] = []

    def run(args: list[str]) -> str:
        proc = subprocess.run(
            [docker, "run", "--detach", *args], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        started.append(proc.stdout.strip())
        return started[-1]

    yield run
    for cid in started:
        subprocess.run([docker, "rm", "--force", cid], capture_output=True, timeout=60)
