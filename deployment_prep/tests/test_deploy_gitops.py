"""The GitOps checkout on real git repositories: commits, pushes and their refusals, through
mlops_core's git wrapper."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from deployment_prep import gitops
from mlops_core.errors import BadInput, Conflict, Unavailable
from mlops_core.git import Git


def _settings(**overrides) -> SimpleNamespace:
    values = {
        "author_name": "Promoter",
        "author_email": "promoter@example.com",
        "gitops_repo": None,
        "gitops_dir": "gitops",
        "branch": "main",
        "remote": "origin",
    }
    return SimpleNamespace(**{**values, **overrides})


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[gitops.Checkout, Path]:
    """A checkout cloned from a bare remote under a temporary home: (checkout, remote)."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    seed = tmp_path / "seed"
    gitops._seed(seed, None, "gitops", "main", ("Seeder", "seed@example.com"))
    Git(seed)("push", "-q", str(remote), "main")
    checkout = gitops.open_checkout(_settings(gitops_repo=str(remote)), tmp_path / "home")
    return checkout, remote


def test_commit_and_push_the_values(pushed):
    checkout, remote = pushed
    checkout.ensure_clean_and_current()
    commit = checkout.commit_values(["dev"], "houses", "3", "data-v2", "Promote houses v3")
    assert commit and checkout.head() == commit
    assert checkout.commit_values(["dev"], "houses", "3", "data-v2", "again") is None
    checkout.push(f"HEAD:refs/heads/{checkout.branch}")
    assert Git(git_dir=remote)("rev-parse", "main") == commit
    assert Git(git_dir=remote)("log", "-1", "--format=%an") == "Promoter"
    values = Git(git_dir=remote)("show", "main:gitops/envs/dev/models/houses.yaml")
    assert gitops.parse_values(values) == {
        "name": "houses",
        "version": "3",
        "data_version": "data-v2",
    }


def test_a_rejected_push_is_a_conflict_with_the_hook_message(pushed):
    checkout, remote = pushed
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'promotions are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    checkout.commit_values(["dev"], "houses", "4", None, "Promote houses v4")
    with pytest.raises(Conflict, match=r"rejected the push to refs/heads/main.*frozen"):
        checkout.push("HEAD:refs/heads/main")


def test_inherited_git_dir_does_not_redirect_the_checkout(pushed, tmp_path, monkeypatch):
    """Run from a git hook, GIT_DIR names the hook's repository; the checkout's commands
    still act on the checkout."""
    checkout, _ = pushed
    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["git", "init", "-q", str(elsewhere)], check=True)
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    assert checkout.git_dir() == checkout.path / ".git"
    checkout.ensure_clean_and_current()
    assert checkout.commit_values(["dev"], "houses", "5", None, "Promote houses v5")
    no_commits = subprocess.run(
        ["git", f"--git-dir={elsewhere / '.git'}", "rev-parse", "-q", "--verify", "HEAD"],
        capture_output=True,
    )
    assert no_commits.returncode != 0


def test_an_unreachable_gitops_url_names_it_and_git_says_why(tmp_path):
    source = f"file://{tmp_path}/missing.git"
    with pytest.raises(
        Unavailable, match=r"cannot clone the GitOps repository .*missing\.git"
    ) as e:
        gitops.open_checkout(_settings(gitops_repo=source), tmp_path / "home")
    assert "does not appear to be a git repository" in str(e.value)
    assert list((tmp_path / "home" / "gitops-clones").iterdir()) == []


def test_one_promotion_at_a_time_per_checkout(pushed):
    checkout, _ = pushed
    with (
        gitops.locked(checkout),
        pytest.raises(Conflict, match="another promotion or rollback is running"),
        gitops.locked(checkout),
    ):
        pass
    with gitops.locked(checkout):  # released: the next one goes ahead
        pass


def _show(remote: Path, path: str, rev: str = "main") -> str:
    return Git(git_dir=remote)("show", f"{rev}:{path}")


def test_two_models_each_commit_touches_only_its_own_file(pushed):
    checkout, remote = pushed
    checkout.ensure_clean_and_current()
    checkout.commit_values(["kind", "prod"], "houses", "3", "data-v2", "Promote houses v3")
    checkout.commit_values(["kind"], "churn", "1", "data-v1", "Promote churn v1")
    checkout.push(f"HEAD:refs/heads/{checkout.branch}")
    houses_kind = _show(remote, "gitops/envs/kind/models/houses.yaml")
    houses_prod = _show(remote, "gitops/envs/prod/models/houses.yaml")

    # churn moves twice (a promotion, then a rollback-like move back): houses never changes.
    for version in ("2", "1"):
        commit = checkout.commit_values(
            ["kind", "prod"], "churn", version, "data-v1", f"churn v{version}"
        )
        touched = checkout.git("show", "--name-only", "--format=", commit).splitlines()
        assert touched == [
            "gitops/envs/kind/models/churn.yaml",
            "gitops/envs/prod/models/churn.yaml",
        ]
    checkout.push(f"HEAD:refs/heads/{checkout.branch}")
    assert _show(remote, "gitops/envs/kind/models/houses.yaml") == houses_kind
    assert _show(remote, "gitops/envs/prod/models/houses.yaml") == houses_prod
    assert checkout.read_values("kind", "houses")["version"] == "3"
    assert checkout.read_values("prod", "churn")["version"] == "1"
    assert checkout.read_values("prod", "nobody") is None


def test_a_file_pinning_another_model_is_refused_by_name(pushed):
    checkout, _ = pushed
    target = checkout.path / "gitops/envs/kind/models/houses.yaml"
    target.parent.mkdir(parents=True)
    target.write_text(gitops.render_values("churn", "2", None))
    with pytest.raises(BadInput, match=r"models/houses\.yaml: pins model 'churn'"):
        checkout.read_values("kind", "houses")
    target.write_text("model: [not, a, mapping]\n")
    with pytest.raises(BadInput, match=r"models/houses\.yaml: no `model:` mapping"):
        checkout.read_values("kind", "houses")
    target.write_text("model: {name: houses\n")
    with pytest.raises(BadInput, match=r"models/houses\.yaml: not YAML"):
        checkout.read_values("kind", "houses")


def _legacy(checkout: gitops.Checkout, envs=("kind", "prod"), name="houses", version="4"):
    for env in envs:
        file = checkout.path / f"gitops/envs/{env}/model-values.yaml"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(gitops.render_values(name, version, "data-v2"))
    checkout.git("add", "-A")
    checkout._commit("the old single-model layout")


def test_the_single_model_layout_is_migrated_by_one_commit(pushed):
    checkout, _ = pushed
    _legacy(checkout)
    before = (checkout.path / "gitops/envs/kind/model-values.yaml").read_bytes()
    assert checkout.legacy_files() == [
        "gitops/envs/kind/model-values.yaml",
        "gitops/envs/prod/model-values.yaml",
    ]
    commit, moved = checkout.migrate_legacy()
    assert moved == ["gitops/envs/kind/models/houses.yaml", "gitops/envs/prod/models/houses.yaml"]
    assert (checkout.path / moved[0]).read_bytes() == before  # moved, content unchanged
    assert checkout.legacy_files() == []
    status = checkout.git("show", "--name-status", "--format=", "-M", commit).splitlines()
    assert sorted(line.split("\t", 1)[0] for line in status) == ["R100", "R100"]
    assert "one values file per model" in checkout.git("log", "-1", "--format=%B")
    assert checkout.git("status", "--porcelain") == ""
    assert checkout.migrate_legacy() == (None, [])


def test_a_migration_that_cannot_be_done_says_how_and_moves_nothing(pushed):
    checkout, _ = pushed
    _legacy(checkout)
    clash = checkout.path / "gitops/envs/prod/models/houses.yaml"
    clash.parent.mkdir(parents=True)
    clash.write_text(gitops.render_values("houses", "9", None))
    checkout.git("add", "-A")
    checkout._commit("both layouts")
    head = checkout.head()
    with pytest.raises(BadInput, match=r"models/houses\.yaml exists already.*git rm"):
        checkout.migrate_legacy()
    assert checkout.head() == head and checkout.git("status", "--porcelain") == ""

    clash.unlink()
    (checkout.path / "gitops/envs/prod/model-values.yaml").write_text("model: 3\n")
    checkout.git("add", "-A")
    checkout._commit("a broken legacy file")
    head = checkout.head()
    with pytest.raises(BadInput, match=r"cannot migrate .*prod/model-values\.yaml.*git mv"):
        checkout.migrate_legacy()
    assert checkout.head() == head and checkout.git("status", "--porcelain") == ""
    assert (checkout.path / "gitops/envs/kind/model-values.yaml").exists()
