"""The GitOps repository: a checkout that promotion commits the promoted state to.

Every change is prepared and committed locally first; the caller moves the MLflow alias,
then pushes; on any failure it calls `reset_to()` so the checkout is exactly as before.
A dirty or diverged checkout is refused before anything moves.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from mlops_core import gitops_layout as layout
from mlops_core.errors import BadInput, Conflict, Unavailable
from mlops_core.git import Git, GitError, is_git_url
from mlops_core.storage import write_text

HEADER = layout.HEADER


def is_url(value: str) -> bool:
    return is_git_url(value)


def values_path(env: str, name: str, gitops_dir: str = "gitops") -> str:
    """gitops/envs/<env>/models/<name>.yaml (mlops_core.gitops_layout)."""
    return layout.model_values_path(env, name, gitops_dir)


def render_values(name: str, version: str, data_version: str | None) -> str:
    return layout.render_model_values(name, version, data_version)


def parse_values(text: str) -> dict | None:
    try:
        return layout.parse_model_values(text)
    except BadInput:
        return None


@dataclass
class Checkout:
    """A git working tree on `branch`; `remote` is None when nothing is pushed."""

    path: Path
    branch: str
    remote: str | None
    gitops_dir: str
    author_name: str
    author_email: str
    managed: bool = False  # a clone or seed of our own under MLOPS_HOME

    @property
    def git(self) -> Git:
        return Git(self.path)

    # -- reading -----------------------------------------------------------------------
    def head(self) -> str | None:
        out = self.git("rev-parse", "--verify", "-q", "HEAD", check=False)
        return out or None

    def read_values(self, env: str, name: str) -> dict | None:
        """What envs/<env>/models/<name>.yaml pins (None: no file); BadInput names a file
        that is not a values file or pins another model."""
        pin = layout.read_pin(self.path, env, name, self.gitops_dir)
        if pin is None:
            return None
        return {
            "name": pin.name,
            "version": pin.version,
            "data_version": pin.data_version,
            "candidate": pin.candidate,
        }

    def legacy_files(self) -> list[str]:
        """The single-model files of the old layout still here (envs/<env>/model-values.yaml)."""
        return layout.legacy_files(self.path, self.gitops_dir)

    def remote_url(self) -> str | None:
        if not self.remote:
            return None
        return self.git("remote", "get-url", self.remote, check=False) or None

    # -- safety checks -------------------------------------------------------------------
    def ensure_clean_and_current(self) -> None:
        """Refuse a dirty or diverged checkout; fast-forward one that is only behind."""
        dirty = self.git("status", "--porcelain", "--untracked-files=all")
        if dirty:
            files = ", ".join(line[3:] for line in dirty.splitlines()[:5])
            raise Conflict(
                f"GitOps checkout {self.path} has uncommitted changes ({files}); "
                "commit or discard them first",
                details={"gitops_repo": str(self.path)},
            )
        current = self.git("symbolic-ref", "--short", "-q", "HEAD", check=False)
        if current != self.branch:
            if self.head() is None:
                self.git("symbolic-ref", "HEAD", f"refs/heads/{self.branch}")
            elif self.managed:
                self._switch_branch()
            else:
                raise Conflict(
                    f"GitOps checkout {self.path} is on branch {current or '(detached)'}, "
                    f"not {self.branch}; switch it (git switch {self.branch}) first",
                    details={"gitops_repo": str(self.path)},
                )
        if not self.remote:
            return
        try:
            self.git("fetch", "-q", self.remote)
        except GitError as exc:
            raise Unavailable(
                f"cannot fetch the GitOps remote {self.remote_url()}: {exc.output}"
            ) from exc
        upstream = self.git(
            "rev-parse", "--verify", "-q", f"{self.remote}/{self.branch}", check=False
        )
        head = self.head()
        if not upstream or upstream == head:
            return
        if head is None:
            self.git("reset", "-q", "--hard", upstream)
            return
        ahead = int(self.git("rev-list", "--count", f"{upstream}..{head}"))
        if ahead:
            behind = int(self.git("rev-list", "--count", f"{head}..{upstream}"))
            state = "diverged from" if behind else "is ahead of"
            raise Conflict(
                f"GitOps checkout {self.path} {state} {self.remote}/{self.branch} "
                f"({ahead} local commit(s) not pushed"
                + (f", {behind} remote commit(s) not merged" if behind else "")
                + "); push or reset it first",
                details={"gitops_repo": str(self.path)},
            )
        self.git("merge", "-q", "--ff-only", upstream)

    def _switch_branch(self) -> None:
        local = self.git("rev-parse", "--verify", "-q", f"refs/heads/{self.branch}", check=False)
        if local:
            self.git("checkout", "-q", self.branch)
            return
        if self.remote:
            self.git("fetch", "-q", self.remote, check=False)
            tracked = self.git(
                "rev-parse",
                "--verify",
                "-q",
                f"refs/remotes/{self.remote}/{self.branch}",
                check=False,
            )
            if tracked:
                self.git(
                    "checkout",
                    "-q",
                    "-b",
                    self.branch,
                    "--track",
                    f"{self.remote}/{self.branch}",
                )
                return
        self.git("checkout", "-q", "-b", self.branch)

    def git_dir(self) -> Path:
        return Path(self.git("rev-parse", "--absolute-git-dir"))

    # -- changing ------------------------------------------------------------------------
    def commit_values(
        self, envs: list[str], name: str, version: str, data_version: str | None, message: str
    ) -> str | None:
        """Write this model's file in each env and commit only those paths; None when
        nothing changed. No other model's file is read, written or staged."""
        return self.commit_files(
            name, {env: (version, data_version, None) for env in envs}, message
        )

    def commit_files(
        self,
        name: str,
        files: dict[str, tuple[str | None, str | None, layout.CandidatePin | None]],
        message: str,
    ) -> str | None:
        """Write this model's file of each env as (version, data version, candidate block)
        and commit only those paths; None when nothing changed."""
        if not files:
            return None
        paths = []
        for env, (version, data_version, candidate) in files.items():
            path = values_path(env, name, self.gitops_dir)
            text = layout.render_model_values(name, version, data_version, candidate)
            write_text(str(self.path / path), text)
            paths.append(path)
        self.git("add", "--", *paths)
        if not self.git("diff", "--cached", "--name-only", "--", *paths):
            return None
        self._commit(message, paths)
        return self.head()

    def _commit(self, message: str, paths: list[str] | None = None) -> None:
        args = ["commit", "-q", "--no-verify", "-m", message]
        if paths:
            args += ["--", *paths]
        self.git(
            "-c", f"user.name={self.author_name}", "-c", f"user.email={self.author_email}", *args
        )

    def migrate_legacy(self) -> tuple[str | None, list[str]]:
        """Move every envs/<env>/model-values.yaml of the single-model layout to
        envs/<env>/models/<name>.yaml (the name it pins), content unchanged, as one commit.
        Returns (commit, moved paths); (None, []) when there is nothing to migrate.
        Refuses (BadInput, nothing moved) a file that is no values file or whose target
        exists already."""
        legacy = self.legacy_files()
        if not legacy:
            return None, []
        moves: list[tuple[str, str]] = []
        for old in legacy:
            env = old.split("/")[-2]
            try:
                values = layout.parse_model_values((self.path / old).read_text(), old)
                target = values_path(env, values["name"], self.gitops_dir)
            except BadInput as exc:
                raise BadInput(
                    f"cannot migrate {old} in {self.path} to one file per model: "
                    f"{exc.message}; move it by hand: git mv {old} "
                    f"{self.gitops_dir}/envs/{env}/models/<model>.yaml (or delete it)"
                ) from exc
            if (self.path / target).exists():
                raise BadInput(
                    f"cannot migrate {old} in {self.path}: {target} exists already; keep one "
                    f"of them (git rm {old}, or git mv -f {old} {target}) and commit"
                )
            moves.append((old, target))
        base = self.head()
        try:
            for old, new in moves:
                (self.path / new).parent.mkdir(parents=True, exist_ok=True)
                self.git("mv", old, new)
            changed = [p for pair in moves for p in pair]
            self._commit(
                "Migrate the GitOps tree to one values file per model\n\n"
                + "".join(f"{old} -> {new}\n" for old, new in moves)
                + "\nWritten by `mlops promote` / `mlops rollback`: the single-model file "
                "gave way to envs/<env>/models/<name>.yaml (one Argo CD application per "
                "model).\n",
                changed,
            )
        except BaseException:
            self.reset_to(base)
            raise
        return self.head(), [new for _, new in moves]

    def reset_to(self, commit: str | None) -> None:
        """Undo local, unpushed work: back to `commit` (or to an empty branch)."""
        if commit is None:
            self.git("update-ref", "-d", "HEAD", check=False)
            self.git("rm", "-rq", "--cached", ".", check=False)
            self.git("clean", "-fdq")
            return
        self.git("reset", "-q", "--hard", commit)
        self.git("clean", "-fdq")

    def delete_remote_branch(self, branch: str, extra_config: list[str] | None = None) -> None:
        """Best effort: remove a branch this command pushed (its pull request failed)."""
        if self.remote:
            args = [*(extra_config or []), "push", "-q", self.remote, "--delete", branch]
            self.git(*args, check=False)

    def push(self, refspec: str, extra_config: list[str] | None = None) -> None:
        """Push; Conflict when the remote rejects, Unavailable when it cannot be reached."""
        assert self.remote
        args = [*(extra_config or []), "push", "--porcelain", self.remote, refspec]
        try:
            self.git(*args)
        except GitError as exc:
            text = exc.output
            rejected = any(
                marker in text
                for marker in ("[rejected]", "[remote rejected]", "hook declined", "! ")
            )
            if rejected:
                reason = _rejection_reason(text)
                raise Conflict(
                    f"the GitOps remote {self.remote_url()} rejected the push to "
                    f"{refspec.split(':')[-1]}: {reason}",
                    details={"gitops_repo": str(self.path)},
                ) from exc
            raise Unavailable(
                f"cannot push to the GitOps remote {self.remote_url()}: {text.strip()}"
            ) from exc


def _rejection_reason(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    remote_lines = [ln.removeprefix("remote:").strip() for ln in lines if ln.startswith("remote:")]
    remote_lines = [ln for ln in remote_lines if ln]
    for line in lines:
        if "rejected" in line:
            detail = re.search(r"\(([^)]*)\)\s*$", line)
            base = detail.group(1) if detail else line
            return base + (f" ({'; '.join(remote_lines)})" if remote_lines else "")
    return "; ".join(remote_lines) or (lines[-1] if lines else "rejected")


# -- opening a checkout -----------------------------------------------------------------------


def _seed(dest: Path, seed_dir: Path | None, gitops_dir: str, branch: str, author: tuple) -> None:
    """Create the local GitOps repository, seeded from this repository's gitops/ folder."""
    tmp = Path(tempfile.mkdtemp(prefix=".gitops-seed-", dir=dest.parent))
    try:
        Git(tmp)("init", "-q", "-b", branch)
        if seed_dir is not None and seed_dir.is_dir():
            shutil.copytree(seed_dir, tmp / gitops_dir, dirs_exist_ok=True)
        else:
            (tmp / gitops_dir / "envs").mkdir(parents=True)
            (tmp / gitops_dir / "README.md").write_text(
                "Desired state of the platform. `mlops promote` and `mlops rollback` write "
                "envs/<env>/models/<name>.yaml.\n"
            )
        Git(tmp)("add", "-A")
        Git(tmp)(
            "-c",
            f"user.name={author[0]}",
            "-c",
            f"user.email={author[1]}",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "Seed the GitOps tree" + (f" from {seed_dir}" if seed_dir else ""),
        )
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_checkout(settings, home: Path) -> Checkout:
    """Resolve MLOPS_PROMOTE_GITOPS_REPO into a working tree (clone or seed it if needed)."""
    from deployment_prep.settings import repo_root

    author = (settings.author_name, settings.author_email)
    source = settings.gitops_repo
    if not source:
        path = home / "gitops"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            root = repo_root()
            seed = root / settings.gitops_dir if root else None
            _seed(path, seed, settings.gitops_dir, settings.branch, author)
        remote = _remote_if_present(path, settings.remote)
        return Checkout(path, settings.branch, remote, settings.gitops_dir, *author, managed=True)

    if not is_url(source):
        local = Path(source).expanduser().resolve()
        if not local.exists():
            raise BadInput(f"MLOPS_PROMOTE_GITOPS_REPO: {local} does not exist")
        bare = Git(local)("rev-parse", "--is-bare-repository", check=False)
        if bare == "false":
            toplevel = Path(Git(local)("rev-parse", "--show-toplevel"))
            remote = _remote_if_present(toplevel, settings.remote)
            return Checkout(toplevel, settings.branch, remote, settings.gitops_dir, *author)
        if bare != "true":
            raise BadInput(f"MLOPS_PROMOTE_GITOPS_REPO: {local} is not a git repository")
        source = str(local)

    # A bare repository or a URL: a clone of our own under MLOPS_HOME.
    slug = re.sub(r"[^A-Za-z0-9]+", "-", source).strip("-")[-40:]
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    path = home / "gitops-clones" / f"{slug}-{digest}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=path.parent))
        try:
            Git(path.parent)("clone", "-q", "--origin", settings.remote, source, str(tmp))
        except GitError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Unavailable(f"cannot clone the GitOps repository {source}: {exc.output}") from exc
        tmp.rename(path)
    return Checkout(
        path, settings.branch, settings.remote, settings.gitops_dir, *author, managed=True
    )


def _remote_if_present(path: Path, remote: str) -> str | None:
    names = Git(path)("remote", check=False).split()
    return remote if remote in names else None


@contextmanager
def locked(checkout: Checkout) -> Iterator[None]:
    """One promotion or rollback at a time per checkout."""
    lock = FileLock(checkout.git_dir() / "mlops-promote.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise Conflict(
            f"another promotion or rollback is running on {checkout.path}; try again"
        ) from exc
    try:
        yield
    finally:
        lock.release()
