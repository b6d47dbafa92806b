"""The one way the platform runs git: the data registry and the GitOps repository both use it.

Every command runs with an environment built here rather than whatever the caller's process
holds: the variables that point git at another repository (set when we run inside a git
hook, or under a `git rebase --exec`) are removed, prompts are off (a remote asking for a
password fails instead of hanging) and messages are in English, because callers branch on
them ("[rejected]", "does not exist"). A failure raises GitError naming the repository, the
command (with secrets hidden) and git's own message.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlops_core.errors import MlopsError, Unavailable

__all__ = ["Git", "GitError", "git_env", "is_git_url"]

# `git rev-parse --local-env-vars` (git 2.39): what git itself clears when it switches to
# another repository. Inherited, any of them would make a command act on the wrong one.
_REPOSITORY_VARIABLES = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)
_CONFIG_PAIRS = re.compile(r"^GIT_CONFIG_(KEY|VALUE)_\d+$")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@")


def git_env(
    identity: tuple[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a git command: the process's, minus the variables that redirect git
    to another repository, with prompts off, C messages, and the author/committer `identity`
    (name, email) when given."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _REPOSITORY_VARIABLES and not _CONFIG_PAIRS.match(name)
    }
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)  # gettext honours LANGUAGE over LC_ALL
    if identity is not None:
        name, email = identity
        env.update(
            GIT_AUTHOR_NAME=name,
            GIT_AUTHOR_EMAIL=email,
            GIT_COMMITTER_NAME=name,
            GIT_COMMITTER_EMAIL=email,
        )
    env.update(extra or {})
    return env


def is_git_url(value: str) -> bool:
    """A URL (scheme://...) or scp-like address (user@host:path) rather than a local path."""
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", value)) or bool(
        re.match(r"^[\w.-]+@[\w.-]+:", value)
    )


def shown_command(args: Sequence[str]) -> str:
    """`git ARGS` as printed in messages: `-c key=value` values and URL passwords hidden
    (push authentication travels as `-c http.extraHeader=...`)."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            key = arg.split("=", 1)[0]
            out.append(f"{key}=***" if "=" in arg else arg)
            hide_next = False
            continue
        hide_next = arg == "-c"
        out.append(_URL_CREDENTIALS.sub(r"\g<scheme>***@", arg))
    return "git " + " ".join(out)


class GitError(MlopsError):
    """A git command exited non-zero. `output` holds git's stderr and stdout (a push's
    `--porcelain` status lines are on stdout)."""

    def __init__(
        self, repo: Path | str | None, args: Sequence[str], code: int, stdout: str, stderr: str
    ) -> None:
        self.repo = repo
        self.command = tuple(args)
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.output = "\n".join(s for s in (stderr.strip(), stdout.strip()) if s)
        where = f" in {repo}" if repo is not None else ""
        super().__init__(
            f"{shown_command(args)}{where} failed (exit {code}): {self.output or 'no output'}"
        )


@dataclass(frozen=True)
class Git:
    """git commands in one repository.

    `repo` is the working directory of each command (a working tree, or any folder for
    commands such as `clone` and `init` that name their target); `git_dir` runs against a
    bare repository or a git directory instead (`--git-dir`). `identity` (name, email) is
    the author and committer of commits made through this object.
    """

    repo: Path | None = None
    git_dir: Path | None = None
    identity: tuple[str, str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def where(self) -> Path | None:
        return self.git_dir or self.repo

    def run(
        self, *args: str, input: bytes | str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `git ARGS`; GitError when it fails and `check` is true."""
        argv = ["git"]
        if self.git_dir is not None:
            argv.append(f"--git-dir={self.git_dir}")
        argv += args
        data = input.encode() if isinstance(input, str) else input
        try:
            proc = subprocess.run(
                argv,
                cwd=self.repo,
                input=data,
                stdin=None if data is not None else subprocess.DEVNULL,
                capture_output=True,
                env=git_env(self.identity, self.env),
                check=False,
            )
        except FileNotFoundError as exc:
            if self.repo is not None and not Path(self.repo).is_dir():
                raise GitError(self.repo, args, -1, "", f"{self.repo} does not exist") from exc
            raise Unavailable("git is not installed (the platform needs it on PATH)") from exc
        if check and proc.returncode != 0:
            raise GitError(
                self.where,
                args,
                proc.returncode,
                proc.stdout.decode(errors="replace"),
                proc.stderr.decode(errors="replace"),
            )
        return proc

    def __call__(self, *args: str, input: bytes | str | None = None, check: bool = True) -> str:
        """Run `git ARGS` and return its stdout as text, stripped."""
        return self.run(*args, input=input, check=check).stdout.decode(errors="replace").strip()

    def output(self, *args: str, input: bytes | str | None = None) -> bytes:
        """Run `git ARGS` and return its stdout unchanged (for `cat-file --batch`)."""
        return self.run(*args, input=input).stdout

    def at(self, repo: Path) -> Git:
        """The same settings, in another working directory."""
        return Git(repo, None, self.identity, self.env)
