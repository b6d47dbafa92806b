"""The data registry against real git and real DVC (local remote) in temporary folders."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from mlops_core.errors import BadInput, Conflict, MlopsError
from mlops_core.git import Git
from mlops_core.registry import SPLITS, DataRegistry, frame_hash
from mlops_core.settings import PlatformSettings


@pytest.fixture
def registry(tmp_path: Path) -> DataRegistry:
    return DataRegistry(
        str(tmp_path / "registry.git"),
        str(tmp_path / "remote"),
        model="house-price",
        work_dir=tmp_path / "work",
    )


def test_empty_registry_has_no_version(registry):
    assert registry.versions() == []
    assert registry.latest() is None
    with pytest.raises(BadInput, match=r"unknown data version 'data-v1'.*no data version yet"):
        registry.manifest("data-v1")


def test_publish_list_pull_and_identical_data(registry, tmp_path, registry_splits, git_refs):
    first = registry.publish(registry_splits(tmp_path / "a"), {"source": {"uri": "test"}})
    assert (first.tag, first.created) == ("data-v1", True)
    assert registry.latest() == "data-v1"

    again = registry.publish(registry_splits(tmp_path / "b"), {"source": {"uri": "other name"}})
    assert (again.tag, again.created) == ("data-v1", False)
    refs = git_refs(Path(registry.url))

    second = registry.publish(
        registry_splits(tmp_path / "c", offset=10), {"source": {"uri": "test"}}
    )
    assert (second.tag, second.created) == ("data-v2", True)
    assert git_refs(Path(registry.url)) != refs

    versions = registry.versions()
    assert [v.tag for v in versions] == ["data-v1", "data-v2"]
    assert versions[0].rows == {"train": 2, "val": 2, "test": 2}
    assert versions[0].content_hash and versions[0].content_hash != versions[1].content_hash
    manifest = registry.manifest("data-v2")
    assert manifest["source"] == {"uri": "test"}
    assert manifest["data_version"] == "data-v2"
    assert set(manifest["splits"]) == set(SPLITS)

    files = registry.pull("data-v1", tmp_path / "pulled")
    assert set(files) == set(SPLITS)
    for name in SPLITS:
        expected = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(files[name]), expected)
    assert (tmp_path / "pulled" / "manifest.json").exists()

    # Nothing of the remote's address is tracked: it is given to DVC in memory.
    tracked = subprocess.run(
        ["git", f"--git-dir={registry.url}", "grep", "-I", "remote", "house-price/data-v2"],
        capture_output=True,
        text=True,
    ).stdout
    assert str(tmp_path / "remote") not in tracked
    # Temporary clones are gone.
    assert list((tmp_path / "work").iterdir()) == []


def test_publish_leaves_the_environment_and_the_system_cache_alone(
    registry, tmp_path, registry_splits
):
    """DVC gets its settings as configuration: the process environment is not touched, and
    DVC's site cache lives in the temporary clone, not under /var/tmp/dvc."""
    system_cache = Path("/var/tmp/dvc/repo")
    cached = set(system_cache.iterdir()) if system_cache.exists() else set()
    environ = dict(os.environ)
    registry.publish(registry_splits(tmp_path / "a"), {})
    registry.pull("data-v1", tmp_path / "out")
    assert dict(os.environ) == environ
    assert (set(system_cache.iterdir()) if system_cache.exists() else set()) == cached


def test_unknown_and_malformed_tags(registry, tmp_path, registry_splits):
    registry.publish(registry_splits(tmp_path / "a"), {})
    with pytest.raises(BadInput, match=r"unknown data version 'data-v7'.*known: data-v1"):
        registry.pull("data-v7", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(BadInput, match="'v1' is not a data version"):
        registry.manifest("v1")


def test_failing_dvc_push_leaves_no_version(tmp_path, registry_splits, git_refs):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the DVC remote's parent should be")
    registry = DataRegistry(
        str(tmp_path / "registry.git"),
        str(blocker / "remote"),
        model="house-price",
        work_dir=tmp_path / "work",
    )
    with pytest.raises(MlopsError, match="dvc push"):
        registry.publish(registry_splits(tmp_path / "a"), {})
    assert git_refs(tmp_path / "registry.git") == {}
    assert registry.versions() == []


def test_rejected_git_push_leaves_no_tag(registry, tmp_path, registry_splits, git_refs):
    registry.publish(registry_splits(tmp_path / "a"), {})
    before = git_refs(Path(registry.url))
    hook = Path(registry.url) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'registry is frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(Conflict, match="refused house-price/data-v2"):
        registry.publish(registry_splits(tmp_path / "b", offset=5), {})
    assert git_refs(Path(registry.url)) == before
    assert registry.latest() == "data-v1"


def test_remote_git_url(tmp_path, registry_splits):
    bare = tmp_path / "shared.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    registry = DataRegistry(
        f"file://{bare}", str(tmp_path / "remote"), model="m", work_dir=tmp_path / "w"
    )
    assert registry.publish(registry_splits(tmp_path / "a"), {}).tag == "data-v1"
    assert [v.tag for v in registry.versions()] == ["data-v1"]
    assert set(registry.pull("data-v1", tmp_path / "out")) == set(SPLITS)


def test_unreachable_remote_git_url(tmp_path):
    registry = DataRegistry("file:///nonexistent/registry.git", str(tmp_path / "remote"), model="m")
    with pytest.raises(MlopsError, match="cannot be reached"):
        registry.versions()


def test_from_settings_defaults_under_home(tmp_path, make_model_folder):
    make_model_folder(tmp_path / "models", "only-one")
    settings = PlatformSettings(home=tmp_path, models_dir=tmp_path / "models", model=None)
    registry = DataRegistry.from_settings(settings, model="other")
    assert registry.url == str(tmp_path / "data-registry.git")
    assert registry.remote_url == str(tmp_path / "dvc-remote")
    assert registry.model == "other"
    # Without model=: the settings' model (the only folder here), for callers in transition.
    assert DataRegistry.from_settings(settings).model == "only-one"


def test_model_names_are_validated(tmp_path):
    with pytest.raises(BadInput, match="model name 'Bad_Name'"):
        DataRegistry(str(tmp_path / "r.git"), str(tmp_path / "remote"), model="Bad_Name")


def test_frame_hash_ignores_storage_but_not_values():
    a = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
    assert frame_hash(a) == frame_hash(a.copy())
    assert frame_hash(a) != frame_hash(a.assign(x=[1.0, 2.5]))
    assert frame_hash(a) != frame_hash(a.rename(columns={"x": "y"}))


def test_interrupt_before_the_push_leaves_nothing(
    registry, tmp_path, monkeypatch, registry_splits, git_refs
):
    """An interrupt (Ctrl-C, a killed pod) after dvc push and the local commit and tag, just
    before `git push --atomic`: the registry has no trace of the version."""
    registry.publish(registry_splits(tmp_path / "a"), {})
    before = git_refs(Path(registry.url))
    real_run = Git.run

    def interrupted(self, *args, **kwargs):
        if args[0] == "push":
            raise KeyboardInterrupt
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(Git, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        registry.publish(registry_splits(tmp_path / "b", offset=3), {})
    monkeypatch.setattr(Git, "run", real_run)
    assert git_refs(Path(registry.url)) == before
    assert list((tmp_path / "work").iterdir()) == []
    # The next run is not disturbed by the interrupted one.
    assert registry.publish(registry_splits(tmp_path / "b", offset=3), {}).tag == "data-v2"


def test_a_registry_renamed_into_place_between_the_looks_is_used(tmp_path, monkeypatch):
    """Two first uses at once (two models' ingests side by side): when the other one renames
    its new registry into place just after this one looked for HEAD, it is used, never
    refused as 'not a git repository'."""
    from mlops_core.registry.gitrepo import RegistryRepo

    path = tmp_path / "registry.git"
    RegistryRepo(str(path)).ensure_exists()  # the other run's registry, now in place
    head, real, looked = path / "HEAD", Path.exists, []

    def exists(self, *args, **kwargs):
        if self == head and not looked:
            looked.append(self)
            return False  # this run's first look came before the other's rename
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    RegistryRepo(str(path)).ensure_exists()
    assert looked and head.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".registry.git.")]
