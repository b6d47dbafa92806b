"""The data registry: a git repository of DVC metafiles plus a DVC remote holding the data.

A version is a git tag `data-vN`. Its commit holds `manifest.json` (cheap to list: no data
is downloaded) and the DVC metafiles of `data/{train,val,test}.parquet`; the Parquet files
themselves live in the DVC remote.

The registry repository is a bare git repository under MLOPS_HOME by default, or any git
URL. The DVC remote is a folder by default, or `s3://bucket/prefix` with the endpoint URL
and credentials taken from the environment. The remote's address is never written into a
tracked file: it is passed to DVC in memory on every operation, so one registry can be read
through a local folder on one machine and through MinIO in a cluster.

Creating a version is atomic: everything happens in a temporary clone (dvc add, dvc push,
git commit, git tag) and the registry changes only with the final `git push --atomic` of
the branch and the tag together. A failure before that leaves the registry as it was (DVC
objects pushed by a failed run are content-addressed and referenced by no version).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.errors import BadInput, Conflict, MlopsError, Unavailable

if TYPE_CHECKING:
    import pandas as pd

    from mlops_core.settings import PlatformSettings

SPLITS = ("train", "val", "test")
TAG_PREFIX = "data-v"
BRANCH = "main"
MANIFEST = "manifest.json"
DATA_DIR = "data"
_TAG_RE = re.compile(rf"^{re.escape(TAG_PREFIX)}([1-9][0-9]*)$")
_REMOTE = "storage"
_PUSH_ATTEMPTS = 3
# What git says when another run pushed the branch or the tag first.
_RACE_MARKERS = (
    "[rejected]",
    "non-fast-forward",
    "fetch first",
    "already exists",
    "cannot lock ref",
    "atomic transaction failed",
)
_log = logging.getLogger("mlops.registry")


class RegistryError(MlopsError):
    """A git or DVC operation on the registry failed (exit 1 unless a subclass says more)."""


@dataclass(frozen=True)
class VersionInfo:
    tag: str
    created: str
    rows: dict[str, int]
    content_hash: str
    manifest: dict[str, Any] = field(repr=False)

    @property
    def number(self) -> int:
        return tag_number(self.tag)

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_version": self.tag,
            "created": self.created,
            "rows": self.rows,
            "content_hash": self.content_hash,
        }


@dataclass(frozen=True)
class PublishResult:
    tag: str
    created: bool
    manifest: dict[str, Any]


def tag_number(tag: str) -> int:
    match = _TAG_RE.match(tag)
    if not match:
        raise BadInput(f"{tag!r} is not a data version (expected {TAG_PREFIX}N, e.g. data-v1)")
    return int(match.group(1))


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a table: column names, dtypes and values, independent of the file
    format that stores it (the same rows give the same hash whatever Parquet writer)."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(json.dumps([[c, str(frame[c].dtype)] for c in frame.columns]).encode())
    values = pd.util.hash_pandas_object(frame, index=False, categorize=True)
    digest.update(values.to_numpy().tobytes())
    return digest.hexdigest()


def combined_hash(split_hashes: Mapping[str, str]) -> str:
    text = "\n".join(f"{name}:{split_hashes[name]}" for name in sorted(split_hashes))
    return hashlib.sha256(text.encode()).hexdigest()


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # a remote asking for a password fails instead of hanging
    env.setdefault("GIT_AUTHOR_NAME", "mlops data registry")
    env.setdefault("GIT_AUTHOR_EMAIL", "mlops@localhost")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    return env


def _git(*args: str, cwd: Path | None = None, input: str | None = None) -> str:
    return _git_bytes(*args, cwd=cwd, input=input.encode() if input else None).decode()


def _git_bytes(*args: str, cwd: Path | None = None, input: bytes | None = None) -> bytes:
    if shutil.which("git") is None:
        raise Unavailable("git is not installed; the data registry needs it")
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=_git_env(), check=False
    )
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip()).decode(errors="replace")
        raise _GitFailed(args, proc.returncode, output)
    return proc.stdout


class _GitFailed(RegistryError):
    def __init__(self, args: tuple[str, ...], code: int, output: str) -> None:
        super().__init__(f"git {' '.join(args[:2])} failed ({code}): {output}")
        self.output = output


def _is_local(url: str) -> bool:
    return "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url)


class DataRegistry:
    """Versions of a dataset: list them, read their manifests, pull their splits, publish."""

    def __init__(
        self,
        url: str,
        remote_url: str,
        *,
        s3_endpoint_url: str | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.url = url
        self.remote_url = remote_url
        self.s3_endpoint_url = s3_endpoint_url
        self.work_dir = work_dir  # where temporary clones go (the system temp dir if None)

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> DataRegistry:
        return cls(
            settings.data_registry_url,
            settings.dvc_remote_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            work_dir=settings.home / "tmp",
        )

    # ---------------------------------------------------------------- reading

    def versions(self) -> list[VersionInfo]:
        """Every version, oldest first (by N)."""
        with self._git_dir() as git_dir:
            if git_dir is None:
                return []
            tags = self._tags(git_dir)
            manifests = self._read_manifests(git_dir, tags)
        return [self._info(tag, manifests[tag]) for tag in tags]

    def latest(self) -> str | None:
        with self._git_dir() as git_dir:
            tags = self._tags(git_dir) if git_dir is not None else []
        return tags[-1] if tags else None

    def manifest(self, tag: str) -> dict[str, Any]:
        tag_number(tag)
        with self._git_dir() as git_dir:
            if git_dir is None or tag not in self._tags(git_dir):
                raise self._unknown(tag)
            return self._read_manifests(git_dir, [tag])[tag]

    def pull(self, tag: str, dest: Path) -> dict[str, Path]:
        """Materialise a version's splits in `dest` (created if missing): dest/{split}.parquet
        and dest/manifest.json. Returns {split: path}. Files appear complete or not at all."""
        tag_number(tag)
        dest = Path(dest)
        with self._clone(ref=tag) as clone:
            if clone is None or not (clone / MANIFEST).exists():
                raise self._unknown(tag)
            repo = self._dvc_repo(clone)
            try:
                repo.pull(targets=[str(clone / DATA_DIR / f"{s}.parquet.dvc") for s in SPLITS])
            except Exception as exc:
                raise self._dvc_error("pull", exc) from exc
            finally:
                repo.close()
            dest.mkdir(parents=True, exist_ok=True)
            out: dict[str, Path] = {}
            for name in [*SPLITS]:
                target = dest / f"{name}.parquet"
                _atomic_copy(clone / DATA_DIR / f"{name}.parquet", target)
                out[name] = target
            _atomic_copy(clone / MANIFEST, dest / MANIFEST)
        return out

    # ---------------------------------------------------------------- writing

    def find(self, content_hash: str) -> str | None:
        """The version holding exactly this content, if any."""
        for info in self.versions():
            if info.content_hash == content_hash:
                return info.tag
        return None

    def publish(
        self,
        splits: Mapping[str, Path],
        manifest: Mapping[str, Any],
        *,
        content_hash: str | None = None,
    ) -> PublishResult:
        """Create the next version from Parquet files {train, val, test}, unless a version
        with the same content exists (then that version is returned, created=False).

        `manifest` is stored as manifest.json, completed with data_version, created,
        content_hash and per-split rows/hashes."""
        import pyarrow.parquet as pq

        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise BadInput(f"publish needs the splits {', '.join(SPLITS)}; missing {missing}")
        split_info: dict[str, dict[str, Any]] = {}
        for name in SPLITS:
            path = Path(splits[name])
            split_info[name] = {
                "path": f"{DATA_DIR}/{name}.parquet",
                "rows": pq.read_metadata(path).num_rows,
                "sha256": _file_sha256(path),
            }
        if content_hash is None:
            given = manifest.get("splits") or {}
            hashes = {
                s: (given.get(s) or {}).get("content_hash") or split_info[s]["sha256"]
                for s in SPLITS
            }
            content_hash = combined_hash(hashes)

        for attempt in range(_PUSH_ATTEMPTS):
            self._ensure_repo()
            with self._clone(ref=None) as clone:
                assert clone is not None
                existing = self._tags(clone / ".git")
                manifests = self._read_manifests(clone / ".git", existing)
                for tag in existing:
                    if manifests[tag].get("content_hash") == content_hash:
                        return PublishResult(tag, False, manifests[tag])
                number = max((tag_number(t) for t in existing), default=0) + 1
                tag = f"{TAG_PREFIX}{number}"
                full = self._complete_manifest(manifest, tag, content_hash, split_info)
                try:
                    self._commit_version(clone, tag, splits, full)
                except _PushRejected:
                    _log.info("the data registry changed while %s was made; retrying", tag)
                    if attempt + 1 == _PUSH_ATTEMPTS:
                        raise Conflict(
                            f"the data registry {self.url} changed while {tag} was being "
                            f"created, {_PUSH_ATTEMPTS} times; try again"
                        ) from None
                    continue
                return PublishResult(tag, True, full)
        raise AssertionError("unreachable")  # pragma: no cover

    def _complete_manifest(
        self,
        manifest: Mapping[str, Any],
        tag: str,
        content_hash: str,
        split_info: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        full = dict(manifest)
        full["data_version"] = tag
        full["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        full["content_hash"] = content_hash
        splits = {name: dict((manifest.get("splits") or {}).get(name) or {}) for name in SPLITS}
        for name in SPLITS:
            splits[name].update(split_info[name])
        full["splits"] = splits
        full["rows"] = {
            **(manifest.get("rows") or {}),
            **{name: split_info[name]["rows"] for name in SPLITS},
        }
        return full

    def _commit_version(
        self, clone: Path, tag: str, splits: Mapping[str, Path], manifest: dict[str, Any]
    ) -> None:
        Repo = _dvc_repo_class()
        if not (clone / ".dvc").exists():
            # Repo.init takes no config: point DVC's site cache into the clone through its
            # variable, or every new registry leaves a folder under /var/tmp/dvc.
            saved = os.environ.get("DVC_SITE_CACHE_DIR")
            os.environ["DVC_SITE_CACHE_DIR"] = str(clone / ".dvc" / "tmp" / "site")
            try:
                repo = Repo.init(str(clone))
                repo.close()
            finally:
                if saved is None:
                    os.environ.pop("DVC_SITE_CACHE_DIR", None)
                else:
                    os.environ["DVC_SITE_CACHE_DIR"] = saved
            # Analytics off in the tracked config: no remote address, no secret.
            with (clone / ".dvc" / "config").open("a") as fh:
                fh.write("[core]\n    analytics = false\n    autostage = false\n")
        data = clone / DATA_DIR
        data.mkdir(exist_ok=True)
        for name in SPLITS:
            shutil.copyfile(splits[name], data / f"{name}.parquet")
        (clone / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

        repo = self._dvc_repo(clone)
        try:
            repo.add([str(data / f"{name}.parquet") for name in SPLITS])
            repo.push()
        except Exception as exc:
            raise self._dvc_error("push", exc) from exc
        finally:
            repo.close()

        _git("add", "-A", ".", cwd=clone)
        rows = ", ".join(f"{s} {manifest['splits'][s]['rows']}" for s in SPLITS)
        _git("commit", "-q", "-m", f"{tag}: {rows}", cwd=clone)
        _git("tag", "-a", tag, "-m", f"data version {tag}", cwd=clone)
        try:
            _git("push", "--atomic", "-q", "origin", f"HEAD:refs/heads/{BRANCH}", tag, cwd=clone)
        except _GitFailed as exc:
            if "hook declined" in exc.output or "protected" in exc.output:
                raise Conflict(f"the data registry {self.url} refused {tag}: {exc.output}") from exc
            if any(marker in exc.output for marker in _RACE_MARKERS):
                raise _PushRejected(exc.output) from exc  # someone else pushed first
            raise Unavailable(
                f"pushing {tag} to the data registry {self.url} failed: {exc.output}"
            ) from exc

    # ---------------------------------------------------------------- helpers

    def _unknown(self, tag: str) -> BadInput:
        known = self._safe_tags()
        hint = f"known: {', '.join(known)}" if known else "the registry has no version yet"
        return BadInput(f"unknown data version {tag!r} in {self.url} ({hint})")

    def _safe_tags(self) -> list[str]:
        try:
            with self._git_dir() as git_dir:
                return self._tags(git_dir) if git_dir is not None else []
        except MlopsError:
            return []

    def _ensure_repo(self) -> None:
        if not _is_local(self.url):
            return
        path = Path(self.url)
        if (path / "HEAD").exists() or (path / ".git").exists():
            return
        if path.exists() and any(path.iterdir()):
            raise BadInput(f"data registry {path}: exists but is not a git repository")
        # Create it in a temporary sibling, then rename: never a half-initialised registry.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            _git("init", "-q", "--bare", f"--initial-branch={BRANCH}", str(tmp))
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
    def _git_dir(self) -> Iterator[Path | None]:
        """A git directory to read refs and manifests from: the registry itself when it is a
        local repository, else a temporary bare clone. None when a local one does not exist."""
        if _is_local(self.url):
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
            self._run_clone("--bare", "-q", self.url, str(target))
            yield target

    @contextmanager
    def _clone(self, ref: str | None) -> Iterator[Path | None]:
        """A temporary working clone at `ref` (the branch head when None), deleted after."""
        if _is_local(self.url) and not Path(self.url).exists():
            yield None
            return
        with self._tempdir() as tmp:
            clone = tmp / "clone"
            args = ["-q"]
            if ref is not None:
                args += ["--depth", "1", "--branch", ref]
                if _is_local(self.url):
                    args.insert(0, "--no-local")  # --depth is ignored for local paths
            try:
                self._run_clone(*args, self.url, str(clone))
            except BadInput:
                if ref is not None:
                    yield None
                    return
                raise
            if ref is None:
                _git("fetch", "-q", "--tags", "origin", cwd=clone)
                _git("symbolic-ref", "HEAD", f"refs/heads/{BRANCH}", cwd=clone)
            yield clone

    def _run_clone(self, *args: str) -> None:
        try:
            _git("clone", *args)
        except _GitFailed as exc:
            text = exc.output
            if "Remote branch" in text and "not found" in text:
                raise BadInput(f"data registry {self.url}: {text.splitlines()[-1]}") from exc
            if _is_local(self.url) and "does not exist" in text:
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

    @staticmethod
    def _tags(git_dir: Path) -> list[str]:
        out = _git(
            f"--git-dir={git_dir}",
            "for-each-ref",
            "--format=%(refname:short)",
            f"refs/tags/{TAG_PREFIX}*",
        )
        tags = [t for t in out.split() if _TAG_RE.match(t)]
        return sorted(tags, key=tag_number)

    @staticmethod
    def _read_manifests(git_dir: Path, tags: list[str]) -> dict[str, dict[str, Any]]:
        if not tags:
            return {}
        out = _git_bytes(
            f"--git-dir={git_dir}",
            "cat-file",
            "--batch",
            input="".join(f"{tag}:{MANIFEST}\n" for tag in tags).encode(),
        )
        manifests: dict[str, dict[str, Any]] = {}
        pos = 0
        for tag in tags:  # "<sha> blob <size>\n<size bytes>\n" per object, in input order
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            if len(header) < 3 or header[1] != b"blob":
                raise RegistryError(f"data version {tag} has no {MANIFEST}")
            size = int(header[2])
            manifests[tag] = json.loads(out[end + 1 : end + 1 + size])
            pos = end + 1 + size + 1
        return manifests

    @staticmethod
    def _info(tag: str, manifest: dict[str, Any]) -> VersionInfo:
        splits = manifest.get("splits") or {}
        return VersionInfo(
            tag=tag,
            created=str(manifest.get("created", "")),
            rows={s: int((splits.get(s) or {}).get("rows", 0)) for s in SPLITS},
            content_hash=str(manifest.get("content_hash", "")),
            manifest=manifest,
        )

    def remote_config(self) -> dict[str, Any]:
        """The DVC remote as DVC config (in memory only: never written to a tracked file)."""
        url = self.remote_url
        if "://" not in url:
            url = str(Path(url).expanduser().resolve())
        remote: dict[str, Any] = {"url": url}
        if url.startswith("s3://") and self.s3_endpoint_url:
            remote["endpointurl"] = self.s3_endpoint_url
        return remote

    def _dvc_repo(self, clone: Path):
        Repo = _dvc_repo_class()
        config = {
            "core": {
                "remote": _REMOTE,
                "analytics": "false",
                # DVC's per-repo index otherwise piles up under /var/tmp/dvc for every clone.
                "site_cache_dir": str(clone / ".dvc" / "tmp" / "site"),
            },
            "remote": {_REMOTE: self.remote_config()},
        }
        return Repo(str(clone), config=config)

    def _dvc_error(self, action: str, exc: Exception) -> MlopsError:
        text = f"{type(exc).__name__}: {exc}"
        cause = exc.__cause__ or exc.__context__
        if cause is not None and str(cause) not in text:
            text += f" ({type(cause).__name__}: {cause})"
        return Unavailable(f"dvc {action} with the remote {self.remote_url} failed: {text}")


def _dvc_repo_class():
    """dvc.repo.Repo, with DVC's own stdout log handlers removed: its messages go through the
    platform's logging (stderr), so stdout stays clean for --json results."""
    import logging

    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from dvc.repo import Repo

    logger = logging.getLogger("dvc")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    if logging.getLogger().level > logging.DEBUG:
        logger.setLevel(logging.WARNING)
    return Repo


class _PushRejected(Exception):
    """Someone else pushed first: retry on a fresh clone."""


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_copy(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
