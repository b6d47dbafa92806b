"""The GitOps checkout on real git repositories: commits, pushes and their refusals, through
mlops_core's git wrapper."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from deployment_prep import gitops
from mlops_core.errors import Conflict, Unavailable
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
    values = Git(git_dir=remote)("show", "main:gitops/envs/dev/model-values.yaml")
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
