"""Which code trained a model: the package version and the git commit."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def package_version() -> str:
    try:
        return version("model-training")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0"


def git_commit(override: str | None = None) -> str:
    """The commit of the code that trains: an explicit value (images), else git, else unknown.

    A checkout with uncommitted changes to tracked files gives `<sha>-dirty`.
    """
    if override:
        return override
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
