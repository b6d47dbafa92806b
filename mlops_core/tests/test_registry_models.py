"""Data versions per model in one registry, and the migration of a single-model registry,
against real git and real DVC."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_core.errors import BadInput, Conflict
from mlops_core.git import Git
from mlops_core.registry import SPLITS, DataRegistry, LegacyRegistry


def _registry(tmp_path: Path, model: str) -> DataRegistry:
    return DataRegistry(
        str(tmp_path / "registry.git"),
        str(tmp_path / "remote"),
        model=model,
        work_dir=tmp_path / "work",
    )


def test_two_models_never_see_each_other(tmp_path, registry_splits, git_refs):
    a, b = _registry(tmp_path, "alpha"), _registry(tmp_path, "beta")
    assert a.publish(registry_splits(tmp_path / "a1"), {"source": {"uri": "a1"}}).tag == "data-v1"
    assert (
        a.publish(registry_splits(tmp_path / "a2", 5), {"source": {"uri": "a2"}}).tag == "data-v2"
    )
    refs_a = {k: v for k, v in git_refs(Path(a.url)).items() if "alpha" in k}
    assert b.versions() == [] and b.latest() is None

    # The same data for beta is beta's own data-v1; alpha's refs do not move.
    created = b.publish(registry_splits(tmp_path / "b1"), {"source": {"uri": "b1"}})
    assert (created.tag, created.created) == ("data-v1", True)
    assert created.manifest["model"] == "beta"
    assert created.manifest["git_tag"] == "beta/data-v1"
    refs = git_refs(Path(a.url))
    assert {k: v for k, v in refs.items() if "alpha" in k} == refs_a
    assert sorted(refs) == [
        "refs/heads/models/alpha",
        "refs/heads/models/beta",
        "refs/tags/alpha/data-v1",
        "refs/tags/alpha/data-v2",
        "refs/tags/beta/data-v1",
    ]
    assert [v.tag for v in a.versions()] == ["data-v1", "data-v2"]
    assert [v.tag for v in b.versions()] == ["data-v1"]
    assert a.manifest("data-v1")["source"] == {"uri": "a1"}
    assert b.manifest("data-v1")["source"] == {"uri": "b1"}
    with pytest.raises(BadInput, match=r"unknown data version 'data-v2' of model 'beta'"):
        b.pull("data-v2", tmp_path / "none")

    # Each model's branch holds only its own versions, one commit each.
    log = Git(git_dir=Path(a.url))("log", "--format=%s", "models/beta")
    assert log.split("\n")[0].startswith("beta data-v1")
    assert len(log.strip().splitlines()) == 1
    files = b.pull("data-v1", tmp_path / "pulled-b")
    pd.testing.assert_frame_equal(
        pd.read_parquet(files["train"]), pd.read_parquet(tmp_path / "b1" / "train.parquet")
    )
    # A model whose name is a prefix of another's sees nothing of it.
    assert _registry(tmp_path, "alp").versions() == []


def _make_legacy(tmp_path: Path, registry_splits, versions: int = 2) -> Path:
    """A registry in the single-model layout: tags data-vN on `main`, made by publishing for
    a scratch model, then re-tagging its commits as the old code did."""
    scratch = _registry(tmp_path, "scratch")
    for n in range(versions):
        scratch.publish(registry_splits(tmp_path / f"s{n}", 10 * n), {"dataset": "house-price"})
    git_dir = Path(scratch.url)
    git = Git(git_dir=git_dir)
    for n in range(1, versions + 1):
        commit = git("rev-parse", f"refs/tags/scratch/data-v{n}^{{commit}}").strip()
        git("tag", "-a", f"data-v{n}", commit, "-m", f"data version data-v{n}")
        git("tag", "-d", f"scratch/data-v{n}")
    git("update-ref", "refs/heads/main", "refs/heads/models/scratch")
    git("update-ref", "-d", "refs/heads/models/scratch")
    return git_dir


def test_a_single_model_registry_is_refused_with_the_way_forward(
    tmp_path, registry_splits, git_refs
):
    git_dir = _make_legacy(tmp_path, registry_splits)
    before = git_refs(git_dir)
    registry = _registry(tmp_path, "house-price")
    for call in (
        registry.versions,
        registry.latest,
        lambda: registry.manifest("data-v1"),
        lambda: registry.pull("data-v1", tmp_path / "out"),
        lambda: registry.publish(registry_splits(tmp_path / "new", 99), {}),
    ):
        with pytest.raises(LegacyRegistry, match=r"mlops data migrate --model NAME") as info:
            call()
        assert "data-v1 .. data-v2" in info.value.message
        assert info.value.exit_code == 8
    assert git_refs(git_dir) == before
    assert not (tmp_path / "out").exists()


def test_migrate_retags_keeps_everything_and_is_idempotent(tmp_path, registry_splits, git_refs):
    git_dir = _make_legacy(tmp_path, registry_splits)
    old = git_refs(git_dir)
    registry = _registry(tmp_path, "house-price")
    assert registry.legacy_versions() == ["data-v1", "data-v2"]

    result = registry.migrate()
    assert result.migrated == ["data-v1", "data-v2"]
    assert result.versions == ["data-v1", "data-v2"]
    assert result.datasets == ["house-price"]
    refs = git_refs(git_dir)
    git = Git(git_dir=git_dir)
    for n in (1, 2):
        # Same commit (same manifest, same data), old tag object kept outside refs/tags.
        assert f"refs/tags/data-v{n}" not in refs
        assert refs[f"refs/migrated/data-v{n}"] == old[f"refs/tags/data-v{n}"]
        assert git("rev-parse", f"refs/tags/house-price/data-v{n}^{{commit}}") == git(
            "rev-parse", f"refs/migrated/data-v{n}^{{commit}}"
        )
    assert refs["refs/heads/main"] == old["refs/heads/main"]
    assert refs["refs/heads/models/house-price"] == old["refs/heads/main"]

    assert [v.tag for v in registry.versions()] == ["data-v1", "data-v2"]
    files = registry.pull("data-v1", tmp_path / "pulled")
    pd.testing.assert_frame_equal(
        pd.read_parquet(files["val"]), pd.read_parquet(tmp_path / "s0" / "val.parquet")
    )
    # Identical data is still found; new data continues the model's numbering.
    assert registry.publish(registry_splits(tmp_path / "again", 10), {}).created is False
    assert registry.publish(registry_splits(tmp_path / "next", 50), {}).tag == "data-v3"

    after = git_refs(git_dir)
    again = registry.migrate()
    assert again.migrated == [] and again.versions == ["data-v1", "data-v2", "data-v3"]
    assert git_refs(git_dir) == after
    # Other models now work on the registry too, from their own data-v1.
    assert (
        _registry(tmp_path, "churn").publish(registry_splits(tmp_path / "c", 7), {}).tag
        == "data-v1"
    )


def test_migrate_refuses_to_merge_into_a_model_with_versions(tmp_path, registry_splits, git_refs):
    git_dir = _make_legacy(tmp_path, registry_splits)
    # A version of house-price made outside this code (a newer client, by hand).
    git = Git(git_dir=git_dir)
    git("tag", "-a", "house-price/data-v1", "main", "-m", "x")
    before = git_refs(git_dir)
    with pytest.raises(Conflict, match=r"already has data versions \(data-v1\)"):
        _registry(tmp_path, "house-price").migrate()
    assert git_refs(git_dir) == before


def test_migrate_on_an_empty_or_missing_registry_does_nothing(tmp_path):
    registry = _registry(tmp_path, "house-price")
    result = registry.migrate()
    assert (result.migrated, result.versions) == ([], [])
    assert not (tmp_path / "registry.git").exists()


def test_a_remote_single_model_registry_is_refused_before_any_pull(tmp_path, registry_splits):
    git_dir = _make_legacy(tmp_path, registry_splits)
    remote = DataRegistry(
        f"file://{git_dir}", str(tmp_path / "remote"), model="house-price", work_dir=tmp_path / "w"
    )
    with pytest.raises(LegacyRegistry, match=r"data-v1 \.\. data-v2"):
        remote.pull("data-v1", tmp_path / "out")
    remote.migrate()
    assert set(remote.pull("data-v2", tmp_path / "out")) == set(SPLITS)
