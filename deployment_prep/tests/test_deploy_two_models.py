"""Two models in one GitOps repository: promotion and rollback of one never touch the
other's file, and a checkout of the old single-model layout is migrated by a commit."""

from __future__ import annotations

import pytest
import yaml
from deploy_helpers import DATA_VERSION, champion, git

from deployment_prep import gitops


def _copy_version(client, source_name: str, version: str, name: str) -> str:
    """Register `source_name` v`version`'s model under `name` too (a second model of the
    same schema shape), as the challenger."""
    source = client.get_model_version(source_name, version)
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    mv = client.create_model_version(
        name,
        source.source,
        run_id=source.run_id,
        tags={"data_version": DATA_VERSION, "validation_status": "passed"},
        model_id=source.source.removeprefix("models:/"),
    )
    client.set_registered_model_alias(name, "challenger", mv.version)
    return str(mv.version)


def _path(env: str, name: str) -> str:
    return f"gitops/envs/{env}/models/{name}.yaml"


def _touched(repo, rev: str = "HEAD") -> list[str]:
    return git(repo, "show", "--name-only", "--format=", rev).splitlines()


@pytest.fixture
def two_models(unique_model_name, make_model_folder, mlops_home, monkeypatch, tmp_path):
    """(a, b): the test's model and a second one in the same models folder; MLOPS_MODEL
    unset, so every command must say which."""
    other = f"{unique_model_name}-b"
    make_model_folder(tmp_path / "unique-models", other)
    monkeypatch.delenv("MLOPS_MODEL")
    return unique_model_name, other


@pytest.fixture
def legacy_remote(remote, tmp_path, two_models):
    """The remote as the single-model layout left it: envs/kind/model-values.yaml pinning
    model a, nothing promoted yet."""
    a, _ = two_models
    work = tmp_path / "legacy-seed"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    legacy = work / "gitops/envs/kind/model-values.yaml"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text(gitops.render_values(a, "", None))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "single-model layout")
    git(work, "push", "-q", "origin", "main")
    return remote


@pytest.mark.slow  # real deployable checks in a clean process, four times
def test_promotion_and_rollback_of_one_model_never_touch_the_other(
    mlops, register, data_registry, client, two_models, legacy_remote, clone, monkeypatch
):
    a, b = two_models
    remote = legacy_remote
    git(clone, "pull", "-q", "--ff-only")
    a1 = register()
    b1 = _copy_version(client, a, a1, b)
    # Data versions are per model: b's own data-v1 (the same rows as a's).
    ingested = mlops("ingest", "--model", b, "--synthetic", "1500", "--seed", "7", "--json")
    assert ingested.exit_code == 0 and ingested.json["data_version"] == DATA_VERSION

    several = mlops("promote", "--json")
    assert several.exit_code == 2
    assert "several models" in several.json["error"] and a in several.json["error"]
    unknown = mlops("promote", "--model", "nope", "--json")
    assert unknown.exit_code == 2 and "unknown model 'nope'" in unknown.json["error"]
    bad = mlops("promote", "--model", "Not_A_Name", "--json")
    assert bad.exit_code == 2 and "lower-case" in bad.json["error"]
    assert git(remote, "rev-list", "--count", "main") == "2"  # nothing moved

    # The first promotion migrates the old layout by a commit of its own, then commits a's.
    first = mlops("promote", "--model", a, "--env", "kind", "--env", "prod", "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json["migrated_files"] == [_path("kind", a)]
    assert first.json["values_files"] == [_path("kind", a), _path("prod", a)]
    assert git(remote, "rev-list", "--count", "main") == "4"  # seed, legacy, migrate, promote
    assert sorted(_touched(remote, "main")) == [_path("kind", a), _path("prod", a)]
    migration = git(remote, "show", "--name-status", "--format=%s", "-M", "main~1")
    assert "one values file per model" in migration
    assert f"gitops/envs/kind/model-values.yaml\t{_path('kind', a)}" in migration
    assert not (clone / "gitops/envs/kind/model-values.yaml").exists()

    second = mlops("promote", "--model", b, "--env", "kind", "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json["migrated_files"] == [] and second.json["model_name"] == b
    assert _touched(remote, "main") == [_path("kind", b)]
    assert champion(client, a) == a1 and champion(client, b) == b1
    a_files = {env: git(remote, "show", f"main:{_path(env, a)}") for env in ("kind", "prod")}
    b_file = git(remote, "show", f"main:{_path('kind', b)}")
    assert yaml.safe_load(b_file)["model"] == {
        "name": b,
        "version": b1,
        "dataVersion": DATA_VERSION,
    }

    a2 = register()
    third = mlops("promote", "--model", a, "--env", "kind", "--env", "prod", "--json")
    assert third.exit_code == 0, third.stderr
    assert sorted(_touched(remote, "main")) == [_path("kind", a), _path("prod", a)]
    assert git(remote, "show", f"main:{_path('kind', b)}") == b_file  # byte-identical
    assert champion(client, b) == b1

    back = mlops("rollback", "--model", a, "--json")
    assert back.exit_code == 0, back.stderr
    assert back.json["model_version"] == a1 and back.json["envs"] == ["kind", "prod"]
    assert sorted(_touched(remote, "main")) == [_path("kind", a), _path("prod", a)]
    assert git(remote, "show", f"main:{_path('kind', b)}") == b_file
    for env in ("kind", "prod"):
        assert git(remote, "show", f"main:{_path(env, a)}") == a_files[env]
    assert champion(client, a) == a1 and champion(client, b) == b1

    # b has no previous champion: its rollback is refused and a's files stay as they are.
    none = mlops("rollback", "--model", b, "--json")
    assert none.exit_code == 2 and "no previous champion" in none.json["error"]
    assert a2 != a1

    # `mlops models list` sees both, each with its own aliases and promotions.
    listed = mlops("models", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    by_name = {m["name"]: m for m in listed.json["models"]}
    assert set(by_name) == {a, b}
    assert by_name[a]["champion"] == a1
    assert by_name[a]["promoted"] == {"kind": a1, "prod": a1}
    assert by_name[a]["champion_envs"] == ["kind", "prod"]
    assert by_name[b]["champion"] == b1 and by_name[b]["promoted"] == {"kind": b1}
    assert by_name[a]["latest_data_version"] == DATA_VERSION
