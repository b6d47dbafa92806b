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

__all__ = [
    "Commit",
    "FileChange",
    "Git",
    "GitError",
    "git_env",
    "is_git_url",
    "trailer_block",
]

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
# git's own rule for a trailer token (trailer.c find_separator): letters, digits, dashes.
# "Data version: x" is no trailer to git, and one such line voids the whole block.
_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
# Field and record separators of `log()`'s format (%x1f, %x1e): control characters no
# commit message or path of ours holds.
_FIELD, _RECORD = "\x1f", "\x1e"
_LOG_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cI", "%s", "%B", "%(trailers:only,unfold)")


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


def trailer_block(pairs: Sequence[tuple[str, object]]) -> str:
    """`Key: value` lines that git reads as a trailer block (`git interpret-trailers
    --parse`, `%(trailers)`) when they end a commit message after a blank line. Each value
    is folded onto one line; a key git would not accept is a ValueError (a programming
    error, never user input)."""
    lines = []
    for key, value in pairs:
        if not _TRAILER_KEY.match(key):
            raise ValueError(f"trailer key {key!r}: letters, digits and dashes only")
        text = " ".join(str(value).split()) or "none"
        lines.append(f"{key}: {text}")
    return "\n".join(lines)


@dataclass(frozen=True)
class FileChange:
    """One path a commit changed (`git log --numstat`); added/deleted None for binary."""

    path: str
    added: int | None
    deleted: int | None


@dataclass(frozen=True)
class Commit:
    """One commit as `Git.log` reads it."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    authored: str  # ISO-8601, the author date
    committed: str  # ISO-8601, the committer date (when it landed on the branch)
    subject: str
    message: str  # the whole message
    trailers: tuple[tuple[str, str], ...]  # as git parsed them, in order
    changes: tuple[FileChange, ...]  # limited to the paths asked for

    def trailer(self, key: str) -> str | None:
        """The last value of trailer `key` (case-insensitive, as git matches keys)."""
        values = self.trailer_values(key)
        return values[-1] if values else None

    def trailer_values(self, key: str) -> list[str]:
        return [v for k, v in self.trailers if k.lower() == key.lower()]


def _parse_log(text: str) -> list[Commit]:
    commits = []
    for record in text.split(_RECORD)[1:]:
        fields = record.split(_FIELD)
        if len(fields) < len(_LOG_FIELDS) + 1:
            continue
        sha, parents, name, email, authored, committed, subject, message, trailers = fields[:9]
        changes = []
        for line in fields[9].splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3:
                added, deleted, path = parts
                changes.append(
                    FileChange(
                        path,
                        int(added) if added.isdigit() else None,
                        int(deleted) if deleted.isdigit() else None,
                    )
                )
        pairs = []
        for line in trailers.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                pairs.append((key.strip(), value.strip()))
        commits.append(
            Commit(
                sha=sha,
                parents=tuple(parents.split()),
                author_name=name,
                author_email=email,
                authored=authored,
                committed=committed,
                subject=subject,
                message=message.strip("\n"),
                trailers=tuple(pairs),
                changes=tuple(changes),
            )
        )
    return commits


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

    # -- reading history ---------------------------------------------------------------
    def log(
        self, rev: str = "HEAD", paths: Sequence[str] = (), *, max_count: int | None = None
    ) -> list[Commit]:
        """The commits of `rev` that touch `paths` (git pathspecs, `:(glob)` magic
        allowed), newest first, each with its trailers as git parses them and the files it
        changed among `paths` (renames as a delete and an add). [] for an unborn branch."""
        if self("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False) == "":
            return []
        args = [
            "-c",
            "core.quotePath=false",
            "log",
            "--no-renames",
            "--numstat",
            "--format=%x1e" + "%x1f".join(_LOG_FIELDS) + "%x1f",
        ]
        if max_count is not None:
            args.append(f"--max-count={int(max_count)}")
        args += [rev, "--", *paths]
        return _parse_log(self.run(*args).stdout.decode(errors="replace"))

    def read_blobs(self, specs: Sequence[str]) -> list[str | None]:
        """The text of each `REV:PATH` in `specs`, in order, None where it does not exist,
        read by one `git cat-file --batch` process whatever their number."""
        if not specs:
            return []
        if any("\n" in spec for spec in specs):
            raise ValueError("a REV:PATH holds a newline")
        out = self.output("cat-file", "--batch", input="".join(f"{s}\n" for s in specs))
        found: list[str | None] = []
        pos = 0
        for _ in specs:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if len(header) != 3 or header[1] != b"blob":
                found.append(None)  # "<spec> missing", or a tree / commit
                if len(header) == 3:
                    pos += int(header[2]) + 1
                continue
            size = int(header[2])
            found.append(out[pos : pos + size].decode(errors="replace"))
            pos += size + 1
        return found
