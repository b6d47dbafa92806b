"""The git wrapper against real git repositories in temporary folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_core.git import Git, GitError, git_env, is_git_url, shown_command


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    path = tmp_path / "work"
    path.mkdir()
    git = Git(path, identity=("Test Author", "author@example.com"))
    git("init", "-q", "-b", "main")
    return git


def test_commit_uses_the_given_identity(repo):
    (repo.repo / "a.txt").write_text("a\n")
    repo("add", "a.txt")
    repo("commit", "-q", "-m", "first")
    assert repo("log", "-1", "--format=%an <%ae> / %cn <%ce>") == (
        "Test Author <author@example.com> / Test Author <author@example.com>"
    )
    assert repo("rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_failing_command_names_the_repository_the_command_and_git_message(repo):
    with pytest.raises(GitError) as caught:
        repo("checkout", "-q", "no-such-branch")
    error = caught.value
    assert error.code != 0
    assert str(repo.repo) in str(error)
    assert "git checkout -q no-such-branch" in str(error)
    assert "did not match any file(s) known to git" in str(error)  # git's own stderr
    assert "did not match" in error.stderr
    assert error.command == ("checkout", "-q", "no-such-branch")


def test_check_false_returns_the_output_without_raising(repo):
    assert repo("rev-parse", "--verify", "-q", "HEAD", check=False) == ""
    assert repo.run("rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0


def test_bare_repository_through_git_dir_and_binary_input(tmp_path, repo):
    (repo.repo / "m.json").write_text('{"n": 1}\n')
    repo("add", "-A")
    repo("commit", "-q", "-m", "m")
    repo("tag", "v1")
    bare = tmp_path / "bare.git"
    Git(tmp_path)("clone", "-q", "--bare", str(repo.repo), str(bare))
    reader = Git(git_dir=bare)
    assert reader("for-each-ref", "--format=%(refname:short)", "refs/tags") == "v1"
    out = reader.output("cat-file", "--batch", input=b"v1:m.json\n")
    header, body = out.split(b"\n", 1)
    assert header.split()[1:] == [b"blob", b"9"]
    assert body[:9] == b'{"n": 1}\n'


def test_inherited_repository_variables_do_not_redirect_git(repo, tmp_path, monkeypatch):
    """Inside a git hook GIT_DIR points at the hook's repository: the wrapper must still act
    on the repository it was given."""
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    monkeypatch.setenv("LANGUAGE", "de")
    assert Path(repo("rev-parse", "--absolute-git-dir")) == repo.repo / ".git"
    env = git_env()
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env and "LANGUAGE" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["LC_ALL"] == "C"


def test_missing_working_directory_is_a_git_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(GitError, match=f"in {missing}.*does not exist"):
        Git(missing)("status")


def test_secrets_in_the_command_are_hidden_in_messages(repo):
    header = "http.extraHeader=Authorization: Basic c2VjcmV0"
    with pytest.raises(GitError) as caught:
        repo("-c", header, "push", "https://user:s3cret@127.0.0.1:1/x.git", "main")
    text = str(caught.value)
    assert "c2VjcmV0" not in text and "s3cret" not in text
    assert "http.extraHeader=***" in text
    assert shown_command(["clone", "https://u:p@h/r.git"]) == "git clone https://***@h/r.git"


def test_is_git_url():
    assert is_git_url("https://github.com/acme/gitops.git")
    assert is_git_url("git@github.com:acme/gitops.git")
    assert is_git_url("file:///srv/git/r.git")
    assert not is_git_url("/srv/git/r.git")
    assert not is_git_url("relative/path")
