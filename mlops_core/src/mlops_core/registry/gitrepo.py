"""The registry's git repository: a local bare repository (created on first use) or any git
URL. Reads go to the repository itself when it is local, else to a temporary bare clone;
writes go through a temporary working clone and one `git push --atomic` of the branch and
the tag together, so the registry changes completely or not at all.

Each model has its own branch (`models/<model>`, one commit per version) and its own tags
(`<model>/data-vN`): a push for one model never touches another model's refs."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_core.errors import BadInput, Conflict, Unavailable
from mlops_core.git import Git, GitError

BRANCH = "main"  # the single-model layout's branch (and the bare repository's HEAD)
_DEFAULT_IDENTITY = ("mlops data registry", "mlops@localhost")
# What git says when another run pushed the branch or the tag first.
_RACE_MARKERS = (
    "[rejected]",
    "non-fast-forward",
    "fetch first",
    "already exists",
    "cannot lock ref",
    "atomic transaction failed",
)


class PushRejected(Exception):
    """Someone else pushed first: retry on a fresh clone."""


def is_local(url: str) -> bool:
    return "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url)


class RegistryRepo:
    def __init__(self, url: str, *, work_dir: Path | None = None) -> None:
        self.url = url
        self.work_dir = work_dir  # where temporary clones go (the system temp dir if None)
        # A person's GIT_AUTHOR_* names their versions; a pod's commits get the default.
        self.identity = (
            os.environ.get("GIT_AUTHOR_NAME") or _DEFAULT_IDENTITY[0],
            os.environ.get("GIT_AUTHOR_EMAIL") or _DEFAULT_IDENTITY[1],
        )

    def ensure_exists(self) -> None:
        """Create a local registry on first use; a URL must exist already."""
        if not is_local(self.url):
            return
        path = Path(self.url)
        if (path / "HEAD").exists() or (path / ".git").exists():
            return
        # HEAD looked at again last: a concurrent first use may have renamed its new
        # registry into place since the look above.
        if path.exists() and any(path.iterdir()) and not (path / "HEAD").exists():
            raise BadInput(f"data registry {path}: exists but is not a git repository")
        # Create it in a temporary sibling, then rename: never a half-initialised registry.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            Git(path.parent)("init", "-q", "--bare", f"--initial-branch={BRANCH}", str(tmp))
            try:
                if path.exists():
                    path.rmdir()
                tmp.rename(path)
            except OSError:
                if not (path / "HEAD").exists():  # not just a concurrent run creating it too
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def git_dir(self) -> Iterator[Path | None]:
        """A git directory to read refs and manifests from: the registry itself when it is a
        local repository, else a temporary bare clone. None when a local one does not exist."""
        if is_local(self.url):
            path = Path(self.url)
            if (path / "HEAD").exists():
                yield path
            elif (path / ".git" / "HEAD").exists():
                yield path / ".git"
            else:
                yield None
            return
        with self._tempdir() as tmp:
            target = tmp / "registry.git"
            self._run_clone(tmp, "--bare", "-q", self.url, str(target))
            yield target

    @contextmanager
    def clone(self, ref: str | None, *, branch: str = BRANCH) -> Iterator[Path | None]:
        """A temporary working clone at `ref`, deleted after; with ref None, a clone of every
        branch and tag with `branch` checked out (a new, empty branch when it does not exist
        yet). None when the registry or the ref does not exist."""
        if is_local(self.url) and not Path(self.url).exists():
            yield None
            return
        with self._tempdir() as tmp:
            clone = tmp / "clone"
            args = ["-q"] if ref is not None else ["-q", "--no-checkout"]
            if ref is not None:
                args += ["--depth", "1", "--branch", ref]
                if is_local(self.url):
                    args.insert(0, "--no-local")  # --depth is ignored for local paths
            try:
                self._run_clone(tmp, *args, self.url, str(clone))
            except BadInput:
                if ref is not None:
                    yield None
                    return
                raise
            if ref is None:
                git = self.git(clone)
                git("fetch", "-q", "--tags", "origin")
                remote = f"refs/remotes/origin/{branch}"
                if git("for-each-ref", "--format=%(refname)", remote).strip() == remote:
                    git("checkout", "-q", "-B", branch, remote)
                else:
                    git("symbolic-ref", "HEAD", f"refs/heads/{branch}")
                    git("read-tree", "--empty")
            yield clone

    def remote_tags(self, pattern: str) -> list[str]:
        """Tag names matching `pattern` (refs/tags/<pattern>), read with `git ls-remote`
        (no clone); [] when a local registry does not exist."""
        if is_local(self.url) and not Path(self.url).exists():
            return []
        with self._tempdir() as tmp:
            try:
                out = Git(tmp)("ls-remote", "--tags", "--refs", self.url, f"refs/tags/{pattern}")
            except GitError as exc:
                raise Unavailable(
                    f"data registry {self.url} cannot be reached: {exc.output}"
                ) from exc
        return [line.split("\t", 1)[1].removeprefix("refs/tags/") for line in out.splitlines()]

    def git(self, clone: Path) -> Git:
        return Git(clone, identity=self.identity)

    def commit_and_push(
        self, clone: Path, tag: str, message: str, *, branch: str = BRANCH, note: str = ""
    ) -> None:
        """Commit everything in `clone`, tag it and push both atomically. PushRejected when
        another run pushed first, Conflict when the registry refuses, else Unavailable."""
        git = self.git(clone)
        git("add", "-A", ".")
        git("commit", "-q", "-m", message)
        git("tag", "-a", tag, "-m", note or f"data version {tag}")
        self.push(clone, [f"HEAD:refs/heads/{branch}", f"refs/tags/{tag}"], what=tag)

    def push(self, clone: Path, refspecs: list[str], *, what: str) -> None:
        """`git push --atomic` of `refspecs`: all of them or none (errors as commit_and_push)."""
        git = self.git(clone)
        tag = what
        try:
            git("push", "--atomic", "-q", "origin", *refspecs)
        except GitError as exc:
            if "hook declined" in exc.output or "protected" in exc.output:
                raise Conflict(f"the data registry {self.url} refused {tag}: {exc.output}") from exc
            if any(marker in exc.output for marker in _RACE_MARKERS):
                raise PushRejected(exc.output) from exc
            raise Unavailable(
                f"pushing {tag} to the data registry {self.url} failed: {exc.output}"
            ) from exc

    def _run_clone(self, cwd: Path, *args: str) -> None:
        try:
            Git(cwd)("clone", *args)
        except GitError as exc:
            text = exc.output
            if "Remote branch" in text and "not found" in text:
                raise BadInput(f"data registry {self.url}: {text.splitlines()[-1]}") from exc
            if is_local(self.url) and "does not exist" in text:
                raise BadInput(f"data registry {self.url} does not exist") from exc
            raise Unavailable(f"data registry {self.url} cannot be reached: {text}") from exc

    @contextmanager
    def _tempdir(self) -> Iterator[Path]:
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="registry-", dir=self.work_dir))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
