"""`mlops promote` against a real MLflow server and real git repositories."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_helpers import DATA_VERSION, champion, git, house_schema


@pytest.mark.slow
def test_promote_challenger_into_the_embedded_gitops_repo(
    mlops, register, data_registry, client, unique_model_name, mlops_home, tmp_path
):
    version = register()
    context = tmp_path / "image"
    result = mlops("promote", "--build-context", context, "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json
    assert out["model_version"] == version
    assert out["data_version"] == DATA_VERSION
    assert out["previous_version"] is None
    assert out["changed"] is True and out["pushed"] is False
    assert {c["name"] for c in out["checks"]} == {"loads", "signature", "predictions", "latency"}
    assert all(c["ok"] for c in out["checks"])
    assert out["artifact_size_bytes"] > 1000
    assert out["latency_ms"]["p99_ms"] > 0
    assert champion(client, unique_model_name) == version

    repo = mlops_home / "gitops"
    assert Path(out["gitops_repo"]) == repo
    text = (repo / f"gitops/envs/kind/models/{unique_model_name}.yaml").read_text()
    assert text.startswith("# Written by `mlops promote` / `mlops rollback` only.\n")
    assert f'version: "{version}"' in text
    assert yaml.safe_load(text) == {
        "model": {"name": unique_model_name, "version": version, "dataVersion": DATA_VERSION}
    }
    # Only the kind environment's file changed (prod keeps what it had).
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == (
        f"gitops/envs/kind/models/{unique_model_name}.yaml"
    )
    assert out["values_files"] == [f"gitops/envs/kind/models/{unique_model_name}.yaml"]
    assert out["migrated_files"] == []
    message = git(repo, "log", "-1", "--format=%B")
    for part in (unique_model_name, f"v{version}", DATA_VERSION, "test_rmse=123"):
        assert part in message
    assert git(repo, "status", "--porcelain") == ""
    tags = client.get_model_version(unique_model_name, version).tags
    assert tags["deploy_check"] == "passed"
    assert int(tags["artifact_size_bytes"]) == out["artifact_size_bytes"]

    again = mlops("promote", "--json")
    assert again.exit_code == 0
    assert again.json["changed"] is False
    assert git(repo, "rev-list", "--count", "HEAD") == "2"  # seed + one promotion

    # The image build context: Dockerfile, the model's own files, pinned requirements.
    assert out["build_context"]["path"] == str(context)
    assert (context / "model" / "MLmodel").exists()
    requirements = (context / "requirements.txt").read_text().split()
    assert requirements and all("==" in r for r in requirements)
    assert any(r.startswith("mlflow==") for r in requirements)
    dockerfile = (context / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and ":latest" not in dockerfile
    manifest = json.loads((context / "build.json").read_text())
    assert manifest["model_version"] == version and manifest["data_version"] == DATA_VERSION
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint:  # installed with the k8s dependency group
        lint = subprocess.run([hadolint, str(context / "Dockerfile")], capture_output=True)
        assert lint.returncode == 0, lint.stdout
    exists = mlops("promote", "--build-context", context, "--json")
    assert exists.exit_code == 2 and "not an empty folder" in exists.json["error"]


@pytest.mark.slow  # real deployable checks in a clean process
def test_promote_seeds_from_the_repository_gitops_folder(
    mlops, register, data_registry, mlops_home, unique_model_name
):
    from deployment_prep.settings import repo_root

    register()
    result = mlops("promote", "--env", "kind", "--env", "prod", "--json")
    assert result.exit_code == 0, result.stderr
    repo = mlops_home / "gitops"
    for env in ("kind", "prod"):
        assert (repo / f"gitops/envs/{env}/models/{unique_model_name}.yaml").exists()
        assert not (repo / f"gitops/envs/{env}/model-values.yaml").exists()
    seeded = repo_root() / "gitops"
    files = [p for p in seeded.rglob("*") if p.is_file()]
    assert files, f"no gitops tree under {seeded}"
    for path in files:
        assert (repo / "gitops" / path.relative_to(seeded)).exists(), path


@pytest.mark.slow  # real deployable checks in a clean process
def test_promote_pushes_and_rollback_adds_a_commit(
    mlops, register, data_registry, client, unique_model_name, clone, remote
):
    v1 = register()
    first = mlops("promote", "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json["pushed"] is True
    v2 = register()
    second = mlops("promote", "--env", "kind", "--env", "prod", "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json["previous_version"] == v1
    assert champion(client, unique_model_name) == v2
    pushed = git(remote, "rev-parse", "main")
    assert pushed == second.json["commit"]
    shown = git(remote, "show", f"main:gitops/envs/kind/models/{unique_model_name}.yaml")
    assert yaml.safe_load(shown)["model"]["version"] == v2

    back = mlops("rollback", "--json")
    assert back.exit_code == 0, back.stderr
    out = back.json
    assert out["model_version"] == v1 and out["previous_version"] == v2
    assert out["envs"] == ["kind", "prod"]  # wherever v2 had been promoted
    assert champion(client, unique_model_name) == v1
    head = git(remote, "rev-parse", "main")
    # A new commit on top: history is never rewritten.
    assert git(remote, "rev-parse", "main~1") == pushed
    assert head == out["commit"]
    for env in ("kind", "prod"):
        shown = git(remote, "show", f"main:gitops/envs/{env}/models/{unique_model_name}.yaml")
        assert yaml.safe_load(shown)["model"]["version"] == v1
    message = git(remote, "log", "-1", "--format=%B", "main")
    assert f"v{v1}" in message and "Roll back" in message

    assert out["checks"] is None  # a previous champion: not checked again

    none_left = mlops("rollback", "--json")
    assert none_left.exit_code == 2
    assert "no previous champion" in none_left.json["error"]

    forward = mlops("rollback", "--to", v2, "--json")
    assert forward.exit_code == 0, forward.stderr
    assert champion(client, unique_model_name) == v2
    # No longer in the champion history: checked like a promotion.
    checks = forward.json["checks"]
    assert [c["name"] for c in checks] == ["loads", "signature", "predictions", "latency"]
    assert all(c["ok"] for c in checks), checks
    assert git(remote, "rev-list", "--count", "main") == "5"  # seed + 2 promotes + 2 rollbacks


@pytest.mark.slow  # real deployable checks in a clean process
def test_rejected_push_leaves_alias_and_gitops_as_they_were(
    mlops, register, data_registry, client, unique_model_name, clone, remote
):
    v1 = register()
    assert mlops("promote", "--json").exit_code == 0
    before_remote = git(remote, "rev-parse", "main")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'promotions are frozen until Monday' >&2\nexit 1\n")
    hook.chmod(0o755)
    register()

    result = mlops("promote", "--json")
    assert result.exit_code == 8, result.stderr
    error = result.json["error"]
    assert "rejected" in error and "promotions are frozen" in error
    assert "alias champion moved back" in error
    assert champion(client, unique_model_name) == v1
    assert git(remote, "rev-parse", "main") == before_remote
    assert git(clone, "rev-parse", "HEAD") == before_remote
    assert git(clone, "status", "--porcelain") == ""
    values = yaml.safe_load(
        (clone / f"gitops/envs/kind/models/{unique_model_name}.yaml").read_text()
    )
    assert values["model"]["version"] == v1

    rollback = mlops("rollback", "--to", v1, "--json")
    assert rollback.exit_code == 2  # already the champion: nothing to push


@pytest.mark.slow  # real deployable checks in a clean process
def test_dirty_or_diverged_checkout_is_refused_before_anything_moves(
    mlops, register, data_registry, client, unique_model_name, clone, remote, tmp_path
):
    version = register()
    (clone / "gitops" / "README.md").write_text("edited by hand\n")
    dirty = mlops("promote", "--json")
    assert dirty.exit_code == 8
    assert "uncommitted changes" in dirty.json["error"] and "README.md" in dirty.json["error"]
    assert champion(client, unique_model_name) is None
    # Refused before the checks ran: they record their verdict on the version.
    assert "deploy_check" not in client.get_model_version(unique_model_name, version).tags

    git(clone, "commit", "-qam", "local edit")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "gitops" / "NOTES.md").write_text("someone else\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "remote edit")
    git(other, "push", "-q", "origin", "main")
    diverged = mlops("promote", "--json")
    assert diverged.exit_code == 8
    assert "diverged" in diverged.json["error"]
    assert champion(client, unique_model_name) is None

    git(clone, "reset", "-q", "--hard", "origin/main")
    git(clone, "reset", "-q", "--hard", "HEAD~1")  # behind only: fast-forwarded
    behind = mlops("promote", "--json")
    assert behind.exit_code == 0, behind.stderr
    assert (clone / "gitops" / "NOTES.md").exists()
    assert git(remote, "rev-parse", "main~1") == git(other, "rev-parse", "HEAD")


@pytest.mark.slow  # real deployable checks in a clean process
def test_bare_remote_setting_is_cloned_under_mlops_home(
    mlops, register, data_registry, remote, monkeypatch, mlops_home, unique_model_name
):
    monkeypatch.setenv("MLOPS_PROMOTE_GITOPS_REPO", str(remote))
    version = register()
    result = mlops("promote", "--env", "prod", "--json")
    assert result.exit_code == 0, result.stderr
    assert Path(result.json["gitops_repo"]).is_relative_to(mlops_home)
    shown = git(remote, "show", f"main:gitops/envs/prod/models/{unique_model_name}.yaml")
    assert yaml.safe_load(shown)["model"]["version"] == version


def test_bad_input(mlops, register, unique_model_name, mlops_home, monkeypatch):
    missing = mlops("promote", "--json")
    assert missing.exit_code == 2
    assert unique_model_name in missing.json["error"] and "does not exist" in missing.json["error"]

    register(alias=None)
    no_challenger = mlops("promote", "--json")
    assert no_challenger.exit_code == 2
    assert "no challenger" in no_challenger.json["error"]

    unknown = mlops("promote", "--version", "99", "--json")
    assert unknown.exit_code == 2 and "no version 99" in unknown.json["error"]

    bad_env = mlops("promote", "--version", "1", "--env", "staging", "--json")
    assert bad_env.exit_code == 2 and "staging" in bad_env.json["error"]

    monkeypatch.setenv("MLOPS_PROMOTE_GITOPS_REPO", str(mlops_home / "nowhere"))
    nowhere = mlops("promote", "--version", "1", "--json")
    assert nowhere.exit_code == 2 and "nowhere" in nowhere.json["error"]


def test_unreachable_mlflow_is_exit_5(mlops, mlops_home, monkeypatch):
    from mlops_core.services import free_port

    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    result = mlops("promote", "--json")
    assert result.exit_code == 5
    assert "cannot be reached" in result.json["error"]


@pytest.mark.slow
def test_a_model_failing_a_check_moves_nothing(
    mlops, register, data_registry, client, unique_model_name, clone
):
    head = git(clone, "rev-parse", "HEAD")
    version = register(kind="narrow")
    result = mlops("promote", "--json")
    assert result.exit_code == 3
    assert "signature" in result.json["error"]
    assert house_schema().feature_names[-1] in result.json["error"]
    assert champion(client, unique_model_name) is None
    assert git(clone, "rev-parse", "HEAD") == head
    tags = client.get_model_version(unique_model_name, version).tags
    assert tags["deploy_check"] == "failed"
    assert house_schema().feature_names[-1] in tags["deploy_check_reason"]


@pytest.mark.slow
def test_a_model_from_mlops_train_passes_the_checks(
    trained_model, mlops, mlops_home, monkeypatch, client, unique_model_name
):
    """The real training output (the session's `trained_model`), registered under a name of
    this test's own so its aliases can move, goes through the clean-process checks."""
    trained = trained_model
    trained.use(monkeypatch)
    monkeypatch.setenv("MLOPS_MODEL", unique_model_name)
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(mlops_home.parent / "unique-models"))
    # Data versions are per model: this model's own data-v1, in this test's own registry,
    # holds the rows the session's model was trained on (same generator, same seed).
    monkeypatch.delenv("MLOPS_DATA_REGISTRY")
    monkeypatch.delenv("MLOPS_DVC_REMOTE")
    ingested = mlops("ingest", "--synthetic", "2000", "--seed", "1", "--json")
    assert ingested.exit_code == 0, ingested.stderr
    assert ingested.json["data_version"] == trained.data_version
    source = client.get_model_version(trained.model_name, trained.version)
    client.create_registered_model(unique_model_name)
    mv = client.create_model_version(
        unique_model_name,
        source.source,
        run_id=trained.run_id,
        tags={"data_version": trained.data_version, "validation_status": "passed"},
        model_id=source.source.removeprefix("models:/"),
    )
    client.set_registered_model_alias(unique_model_name, "challenger", mv.version)
    result = mlops("promote", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.json
    assert out["model_version"] == str(mv.version)
    assert out["data_version"] == trained.data_version
    assert all(c["ok"] for c in out["checks"]) and len(out["checks"]) == 4
    assert out["metrics"]["test_rmse"] > 0
    assert champion(client, unique_model_name) == str(mv.version)
