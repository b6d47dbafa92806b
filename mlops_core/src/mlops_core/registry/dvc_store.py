"""DVC in a registry clone: initialise it, add and push a version's Parquet files to the
remote, pull them back. The remote (a folder, or s3:// with an endpoint URL) is given to DVC
as configuration in memory on every operation, never written into a tracked file, and no
DVC setting goes through the environment of this process."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_core.errors import MlopsError, Unavailable

_REMOTE = "storage"
# Tracked in the registry: no remote address, no secret.
_TRACKED_CONFIG = "[core]\n    analytics = false\n    autostage = false\n"


def site_cache_dir(clone: Path) -> Path:
    """DVC's per-repository index and state: inside the clone (deleted with it) instead of
    a folder under /var/tmp/dvc left behind for every temporary clone."""
    return clone / ".dvc" / "tmp" / "site"


class DvcStore:
    def __init__(self, remote_url: str, *, s3_endpoint_url: str | None = None) -> None:
        self.remote_url = remote_url
        self.s3_endpoint_url = s3_endpoint_url

    def remote_config(self) -> dict[str, Any]:
        """The DVC remote as DVC config (in memory only: never written to a tracked file)."""
        url = self.remote_url
        if "://" not in url:
            url = str(Path(url).expanduser().resolve())
        remote: dict[str, Any] = {"url": url}
        if url.startswith("s3://") and self.s3_endpoint_url:
            remote["endpointurl"] = self.s3_endpoint_url
        return remote

    def init(self, clone: Path) -> None:
        """Make `clone` a DVC repository. DVC's Repo.init takes no configuration (only an
        environment variable would move its site cache), so this does what it does with
        the configuration given explicitly: a .dvc folder with the tracked config, then
        opening the repository writes .dvc/.gitignore (its tmp, cache and local config)."""
        dvc_dir = clone / ".dvc"
        dvc_dir.mkdir()
        (dvc_dir / "config").write_text(_TRACKED_CONFIG)
        self._repo(clone).close()
        if not (dvc_dir / ".gitignore").exists():  # pragma: no cover - a DVC change
            raise MlopsError(f"dvc did not initialise {clone} (no .dvc/.gitignore)")

    def add_and_push(self, clone: Path, files: Sequence[Path]) -> None:
        """Track `files` with DVC (writing their .dvc metafiles) and push them."""
        repo = self._repo(clone)
        try:
            repo.add([str(f) for f in files])
            repo.push()
        except Exception as exc:
            raise self._error("push", exc) from exc
        finally:
            repo.close()

    def pull(self, clone: Path, metafiles: Sequence[Path]) -> None:
        repo = self._repo(clone)
        try:
            repo.pull(targets=[str(f) for f in metafiles])
        except Exception as exc:
            raise self._error("pull", exc) from exc
        finally:
            repo.close()

    def _repo(self, clone: Path):
        Repo = _dvc_repo_class()
        config = {
            "core": {
                "remote": _REMOTE,
                "analytics": "false",
                "site_cache_dir": str(site_cache_dir(clone)),
            },
            "remote": {_REMOTE: self.remote_config()},
        }
        return Repo(str(clone), config=config)

    def _error(self, action: str, exc: Exception) -> MlopsError:
        text = f"{type(exc).__name__}: {exc}"
        cause = exc.__cause__ or exc.__context__
        if cause is not None and str(cause) not in text:
            text += f" ({type(cause).__name__}: {cause})"
        return Unavailable(f"dvc {action} with the remote {self.remote_url} failed: {text}")


def _dvc_repo_class():
    """dvc.repo.Repo, with DVC's own stdout log handlers removed: its messages go through the
    platform's logging (stderr), so stdout stays clean for --json results. (The Python API
    sends no analytics: only DVC's command line does.)"""
    from dvc.repo import Repo

    logger = logging.getLogger("dvc")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    if logging.getLogger().level > logging.DEBUG:
        logger.setLevel(logging.WARNING)
    return Repo
