"""Several models in one MLOPS_HOME: each sees only its own data versions; a single-model
registry is refused until `mlops data migrate` re-tags it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_core.git import Git


@pytest.fixture
def two_models(mlops_home: Path, make_model_folder, monkeypatch) -> Path:
    """The home's models folder holds house-price and churn."""
    models = mlops_home.parent / "models"
    make_model_folder(models, "churn", source="churn")
    return mlops_home


def test_each_model_sees_only_its_own_versions(mlops, two_models, git_refs):
    house = mlops("ingest", "--model", "house-price", "--synthetic", "300", "--json")
    assert house.exit_code == 0, house.stderr
    assert (house.json["model"], house.json["data_version"]) == ("house-price", "data-v1")
    house_refs = {
        k: v for k, v in git_refs(two_models / "data-registry.git").items() if "house-price" in k
    }

    churn = mlops("ingest", "-m", "churn", "--synthetic", "300", "--seed", "1", "--json")
    assert churn.exit_code == 0, churn.stderr
    assert (churn.json["model"], churn.json["data_version"]) == ("churn", "data-v1")
    assert churn.json["task"] == "classification"
    second = mlops("ingest", "-m", "churn", "--synthetic", "300", "--seed", "2", "--json")
    assert second.json["data_version"] == "data-v2"

    refs = git_refs(two_models / "data-registry.git")
    # Ingesting churn created, moved and listed nothing of house-price.
    assert {k: v for k, v in refs.items() if "house-price" in k} == house_refs
    assert sorted(refs) == [
        "refs/heads/models/churn",
        "refs/heads/models/house-price",
        "refs/tags/churn/data-v1",
        "refs/tags/churn/data-v2",
        "refs/tags/house-price/data-v1",
    ]
    listed = mlops("data", "list", "--model", "house-price", "--json").json
    assert listed["model"] == "house-price"
    assert [v["data_version"] for v in listed["versions"]] == ["data-v1"]
    listed = mlops("data", "list", "--model", "churn", "--json").json
    assert [v["data_version"] for v in listed["versions"]] == ["data-v1", "data-v2"]
    human = mlops("data", "list", "--model", "churn")
    assert "data versions of churn" in human.stdout

    pulled = mlops("data", "pull", "data-v2", two_models / "out", "-m", "churn", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.json["model"] == "churn"
    assert set(pd.read_parquet(pulled.json["files"]["train"])["churned"]) == {"yes", "no"}
    missing = mlops("data", "pull", "data-v2", two_models / "x", "-m", "house-price", "--json")
    assert missing.exit_code == 2
    assert "unknown data version 'data-v2' of model 'house-price'" in missing.json["error"]


def test_without_a_model_the_commands_say_which_exist(mlops, two_models, git_refs):
    for args in (("ingest", "--synthetic", "300"), ("data", "list"), ("data", "migrate")):
        result = mlops(*args, "--json")
        assert result.exit_code == 2, args
        assert (
            "several models" in result.json["error"]
            and "churn, house-price" in (result.json["error"])
        )
    unknown = mlops("data", "list", "--model", "nope", "--json")
    assert unknown.exit_code == 2
    assert "unknown model 'nope'" in unknown.json["error"]
    assert git_refs(two_models / "data-registry.git") == {}


def _legacy_registry(home: Path, mlops, git_refs) -> dict[str, str]:
    """The single-model layout in `home`: two versions tagged data-v1, data-v2 on main (as
    the platform wrote them before versions were per model)."""
    for seed in (1, 2):
        done = mlops("ingest", "-m", "house-price", "--synthetic", "300", "--seed", str(seed))
        assert done.exit_code == 0, done.stderr
    git = Git(git_dir=home / "data-registry.git")
    for n in (1, 2):
        commit = git("rev-parse", f"refs/tags/house-price/data-v{n}^{{commit}}").strip()
        git("tag", "-a", f"data-v{n}", commit, "-m", f"data version data-v{n}")
        git("tag", "-d", f"house-price/data-v{n}")
    git("update-ref", "refs/heads/main", "refs/heads/models/house-price")
    git("update-ref", "-d", "refs/heads/models/house-price")
    return git_refs(home / "data-registry.git")


def test_a_single_model_registry_says_to_migrate_then_migrates_once(mlops, two_models, git_refs):
    before = _legacy_registry(two_models, mlops, git_refs)
    for args in (
        ("data", "list", "-m", "house-price"),
        ("data", "list", "-m", "churn"),
        ("data", "pull", "latest", two_models / "out", "-m", "house-price"),
        ("ingest", "-m", "churn", "--synthetic", "300"),
    ):
        result = mlops(*args, "--json")
        assert result.exit_code == 8, (args, result.stdout)
        assert "run `mlops data migrate --model NAME`" in result.json["error"]
        assert result.json["legacy_versions"] == ["data-v1", "data-v2"]
    assert git_refs(two_models / "data-registry.git") == before

    migrated = mlops("data", "migrate", "--model", "house-price", "--json")
    assert migrated.exit_code == 0, migrated.stderr
    assert migrated.json["migrated"] == ["data-v1", "data-v2"]
    assert migrated.json["versions"] == ["data-v1", "data-v2"]
    assert migrated.json["datasets"] == ["house-price"]
    refs = git_refs(two_models / "data-registry.git")
    assert refs["refs/migrated/data-v1"] == before["refs/tags/data-v1"]
    assert "refs/tags/data-v1" not in refs

    again = mlops("data", "migrate", "--model", "house-price")
    assert again.exit_code == 0
    assert "nothing to migrate" in again.stdout
    assert git_refs(two_models / "data-registry.git") == refs

    listed = mlops("data", "list", "-m", "house-price", "--json").json
    assert [v["data_version"] for v in listed["versions"]] == ["data-v1", "data-v2"]
    assert mlops("data", "list", "-m", "churn", "--json").json["versions"] == []
    same = mlops("ingest", "-m", "house-price", "--synthetic", "300", "--seed", "2")
    assert "no change: the data is identical to data-v2 of house-price" in same.stdout
    pulled = mlops("data", "pull", "data-v1", two_models / "v1", "-m", "house-price", "--json")
    assert pulled.exit_code == 0, pulled.stderr
