"""`make up` / `make down` without Docker or a cluster: the dry-run plan, the prerequisite
check, the remote-repository mode. The real run needs Docker and kind (docs explain it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from k8s_support import GITOPS, ROOT, load_all

TOOLS = [
    "bash",
    "make",
    "git",
    "awk",
    "sed",
    "grep",
    "od",
    "tr",
    "cat",
    "mkdir",
    "dirname",
    "head",
    "base64",
    "date",
    "sleep",
    "env",
    "touch",
    "chmod",
]


def run(args, env=None, path=None, timeout=120):
    full = {**os.environ, **(env or {})}
    if path is not None:
        full["PATH"] = path
    return subprocess.run(args, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bare_path(tmp_path: Path) -> str:
    """A PATH with basic tools but no docker, kind or kubectl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "kind-state"


def test_dry_run_prints_the_whole_plan_and_writes_nothing(state, bare_path):
    proc = run(
        ["make", "--no-print-directory", "up", "DRY_RUN=1"],
        env={"MLOPS_KIND_STATE": str(state)},
        path=bare_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    steps = [
        "Checking prerequisites",
        "Serving commit",
        "kind cluster mlops",
        "Building the stage images",
        "Argo CD v3.5.8",
        "In-cluster read-only git server",
        "Secrets",
        "Root application root-kind",
        "Waiting until every application",
        "The platform on kind",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions), "steps out of order"
    assert "docker   MISSING" in out and "kind     MISSING" in out
    # Rendered manifests: kind config with the mirror path, namespaces, Argo CD settings,
    # git server, root application.
    assert f"hostPath: {state}/git" in out
    assert "--- # gitops/namespaces/namespaces.yaml" in out
    assert "--- # gitops/bootstrap/git-server.yaml" in out
    assert "--- # gitops/envs/kind/root-app.yaml" in out
    assert "+ kind create cluster --name mlops --config" in out
    assert (
        "+ kubectl --context kind-mlops apply --namespace argocd --server-side "
        "--force-conflicts -f https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.8/"
        "manifests/install.yaml"
    ) in out
    # Secrets are created with redacted values, and never written in dry-run.
    assert out.count("create secret generic") == 12
    assert "<redacted>" in out and "<generated>" not in out
    assert not state.exists(), "dry run wrote the state folder"
    for url in (
        "http://localhost:30080",
        "http://localhost:30081",
        "http://localhost:30082",
        "http://localhost:30083",
        "http://localhost:30085",
        "http://localhost:30086",
    ):
        assert url in out


def test_every_rendered_manifest_of_the_plan_is_yaml(state):
    proc = run(
        ["bash", "scripts/platform.sh", "up"], env={"DRY_RUN": "1", "MLOPS_KIND_STATE": str(state)}
    )
    assert proc.returncode == 0, proc.stderr
    chunks = proc.stdout.split("--- # ")[1:]
    assert len(chunks) >= 6
    for chunk in chunks:
        label, _, body = chunk.partition("\n")
        body = body.split("\n+ ")[0].split("\n==> ")[0]
        docs = load_all(body)
        assert docs and all("kind" in d for d in docs), label


def test_missing_prerequisites_are_named_with_how_to_get_them(state, bare_path):
    proc = run(
        ["bash", "scripts/platform.sh", "up"],
        env={"DRY_RUN": "0", "MLOPS_KIND_STATE": str(state)},
        path=bare_path,
    )
    assert proc.returncode == 3
    assert "docker: Docker Engine or Docker Desktop" in proc.stderr
    assert "kind: kind v0.33.0" in proc.stderr and "kubectl:" in proc.stderr
    assert not state.exists()
    assert "+ kind create" not in proc.stdout


def test_a_remote_repository_replaces_the_in_cluster_git_server(state):
    url = "https://github.com/example-org/mlops-platform.git"
    proc = run(
        ["bash", "scripts/platform.sh", "up"],
        env={
            "DRY_RUN": "1",
            "MLOPS_KIND_STATE": str(state),
            "REPO_URL": url,
            "REVISION": "release-1",
        },
    )
    assert proc.returncode == 0, proc.stderr
    root = proc.stdout.split("--- # gitops/envs/kind/root-app.yaml\n")[1].split("\n+ ")[0]
    app = load_all(root)[0]
    assert app["spec"]["source"]["repoURL"] == url
    assert app["spec"]["source"]["targetRevision"] == "release-1"
    patch_values = [
        op["value"]
        for p in app["spec"]["source"]["kustomize"]["patches"]
        for op in load_all(p["patch"])[0]
    ]
    assert patch_values == [url, "release-1", url, "release-1"]
    assert "+ git push" not in proc.stdout
    assert "--- # gitops/bootstrap/git-server.yaml" not in proc.stdout
    assert f"After a commit: git push to {url}" in proc.stdout


def test_root_app_rendering_keeps_the_file_in_git_unchanged(state):
    before = (GITOPS / "envs" / "kind" / "root-app.yaml").read_text()
    run(
        ["bash", "scripts/platform.sh", "up"],
        env={"DRY_RUN": "1", "MLOPS_KIND_STATE": str(state), "REPO_URL": "https://x/y.git"},
    )
    assert (GITOPS / "envs" / "kind" / "root-app.yaml").read_text() == before


def test_make_down_and_gitops_push_dry_runs(state):
    down = run(
        ["make", "--no-print-directory", "down", "DRY_RUN=1"], env={"MLOPS_KIND_STATE": str(state)}
    )
    assert down.returncode == 0, down.stderr
    assert "+ kind delete cluster --name mlops" in down.stdout
    push = run(
        ["make", "--no-print-directory", "gitops-push", "DRY_RUN=1"],
        env={"MLOPS_KIND_STATE": str(state)},
    )
    assert push.returncode == 0, push.stderr
    assert "HEAD:refs/heads/main" in push.stdout
    assert "argocd.argoproj.io/refresh=normal" in push.stdout


def test_unknown_command_is_a_usage_error():
    proc = run(["bash", "scripts/platform.sh", "sideways"])
    assert proc.returncode == 1 and "usage:" in proc.stderr
