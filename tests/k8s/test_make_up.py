"""`make up` / `make down` without Docker or a cluster: the dry-run plan, the prerequisite
check, the remote-repository mode, and the plan run against stand-ins for docker, kind and
kubectl. None of this starts a cluster: the real run needs Docker and kind (docs explain
it) and is not tested here."""

from __future__ import annotations

import os
import re
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


def versions() -> dict[str, str]:
    """The pinned versions `make up` installs (gitops/bootstrap/versions.env)."""
    text = (GITOPS / "bootstrap" / "versions.env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")


def dockerfile_targets() -> set[str]:
    """The stage targets of the Dockerfile (every `FROM runtime AS <stage>`)."""
    text = (ROOT / "Dockerfile").read_text()
    return set(re.findall(r"^FROM runtime AS (\S+)$", text, flags=re.MULTILINE))


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
        f"Argo CD {versions()['ARGOCD_VERSION']}",
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
        f"--force-conflicts -f {versions()['ARGOCD_INSTALL_URL']}"
    ) in out
    # Every image is built from its Dockerfile target in the plan.
    for target in dockerfile_targets():
        assert f"docker build --target {target} " in out, target
    # Secrets are created with redacted values, and never written in dry-run.
    secret_lines = [line for line in out.splitlines() if "create secret generic" in line]
    assert secret_lines and all("<redacted>" in line for line in secret_lines)
    assert "<generated>" not in out
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
    assert f"kind: kind {versions()['KIND_VERSION']}" in proc.stderr and "kubectl:" in proc.stderr
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
    # The labelled Applications, the ApplicationSet's generator and template, airflow's git-sync.
    assert patch_values == [url, "release-1"] * 4
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
    assert "+ .venv/bin/mlops down" in down.stdout, "a dry run stops nothing"
    push = run(
        ["make", "--no-print-directory", "gitops-push", "DRY_RUN=1"],
        env={"MLOPS_KIND_STATE": str(state)},
    )
    assert push.returncode == 0, push.stderr
    assert "HEAD:refs/heads/main" in push.stdout
    assert "argocd.argoproj.io/refresh=normal" in push.stdout


def test_down_without_kind_succeeds_for_the_embedded_runtime(state, bare_path):
    """`make down` after `make demo` on a machine with no kind must not fail."""
    proc = run(
        ["bash", "scripts/platform.sh", "down"],
        env={"DRY_RUN": "0", "MLOPS_KIND_STATE": str(state)},
        path=bare_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "kind is not installed: no cluster to delete" in proc.stdout


def test_unknown_command_is_a_usage_error():
    proc = run(["bash", "scripts/platform.sh", "sideways"])
    assert proc.returncode == 1 and "usage:" in proc.stderr


# Stand-ins for docker, kind and kubectl (which cannot run here): each logs its arguments;
# kind remembers created clusters; kubectl builds kustomizations with the real kubectl and
# ALWAYS reports every application synced and healthy. So what runs against them is the
# plan (the commands, the credentials, the git mirror), never a convergence check.
SHIM = r"""#!/usr/bin/env bash
tool="$(basename "$0")"
printf '%s %s\n' "$tool" "$*" >> "$SHIM_LOG"
case "$tool" in
  kind)
    if [[ "$1 $2" == "get clusters" ]]; then cat "$SHIM_STATE/clusters" 2>/dev/null; fi
    if [[ "$1 $2" == "create cluster" ]]; then echo "$4" >> "$SHIM_STATE/clusters"; fi
    ;;
  kubectl)
    if [[ "$1" == "kustomize" ]]; then exec "$REAL_KUBECTL" "$@"; fi
    if [[ "$*" == *"get applications"* ]]; then
      n=$("$REAL_KUBECTL" kustomize "$SHIM_ROOT/gitops/envs/kind" | grep -c '^kind: Application$')
      for i in $(seq 0 "$n"); do echo "app-$i Synced Healthy"; done
    fi
    if [[ "$*" == *"create secret generic"* ]]; then echo "kind: Secret # $*"; fi
    if [[ "$*" == *"apply"*"-f -"* ]]; then cat >> "$SHIM_STATE/applied"; fi
    ;;
esac
exit 0
"""


@pytest.fixture
def shimmed(tmp_path: Path, bare_path: str):
    from k8s_support import kubectl

    bin_dir = Path(bare_path)
    for tool in ("docker", "kind", "kubectl"):
        shim = bin_dir / tool
        shim.write_text(SHIM)
        shim.chmod(0o755)
    for tool in ("od", "seq", "basename", "base64", "mkdir", "touch", "chmod", "sed", "head"):
        if not (bin_dir / tool).exists() and shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    shim_state = tmp_path / "shim"
    shim_state.mkdir()
    env = {
        "SHIM_LOG": str(shim_state / "log"),
        "SHIM_STATE": str(shim_state),
        "SHIM_ROOT": str(ROOT),
        "REAL_KUBECTL": kubectl(),
        "MLOPS_KIND_STATE": str(tmp_path / "kind-state"),
        "DRY_RUN": "0",
    }
    return env, bare_path, shim_state


def test_the_plan_against_stand_ins_keeps_its_cluster_and_credentials(shimmed, tmp_path):
    """Two runs of `make up`'s script with docker, kind and kubectl stood in for: the
    commands it issues, the credentials it generates and keeps, the commit it serves."""
    env, path, shim_state = shimmed
    state = Path(env["MLOPS_KIND_STATE"])
    first = run(["bash", "scripts/platform.sh", "up"], env=env, path=path, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    log = (shim_state / "log").read_text()
    assert log.count("kind create cluster --name mlops") == 1
    # Every Dockerfile target is built, and each image it tags is loaded into kind.
    builds = re.findall(
        r"^(?:\S*/)?docker build --target (\S+) .*?--tag (\S+)(?: \S+)* \.$", log, re.MULTILINE
    )
    assert {target for target, _ in builds} == dockerfile_targets()
    for _, tag in builds:
        assert f"kind load docker-image {tag} --name mlops" in log
    creds = state / "credentials.env"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    values = dict(line.split("=", 1) for line in creds.read_text().splitlines() if "=" in line)
    assert values and all(len(v) >= 32 for v in values.values())
    # Every generated credential reaches kubectl in a Secret, never the output.
    secret_calls = "\n".join(line for line in log.splitlines() if "create secret generic" in line)
    for name, value in values.items():
        assert value in secret_calls, f"{name} is generated but put in no Secret"
    for value in values.values():
        assert value not in first.stdout and value not in first.stderr
    # The mirror serves the current commit as main.
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    served = subprocess.run(
        ["git", "--git-dir", str(state / "git" / "mlops-platform.git"), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert served.stdout.strip() == head
    assert "applications synced and healthy" in first.stdout
    applied = (shim_state / "applied").read_text()
    assert "name: root-kind" in applied and "name: git-server" in applied
    # Second run: same cluster, same credentials.
    second = run(["bash", "scripts/platform.sh", "up"], env=env, path=path, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    log = (shim_state / "log").read_text()
    assert log.count("kind create cluster") == 1, "the cluster is kept"
    assert "cluster mlops exists: kept" in second.stdout
    again = dict(line.split("=", 1) for line in creds.read_text().splitlines() if "=" in line)
    assert again == values
