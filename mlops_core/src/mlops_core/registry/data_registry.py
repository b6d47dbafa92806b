"""DataRegistry: list, read, pull and publish data versions, over the registry's git
repository (gitrepo), DVC (dvc_store) and the versions' manifests (versions)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.contracts.constants import SPLITS
from mlops_core.errors import BadInput, Conflict, MlopsError
from mlops_core.registry.dvc_store import DvcStore
from mlops_core.registry.gitrepo import PushRejected, RegistryRepo
from mlops_core.registry.versions import (
    DATA_DIR,
    MANIFEST,
    PublishResult,
    VersionInfo,
    complete_manifest,
    content_hash_of,
    list_tags,
    next_tag,
    read_manifests,
    split_info,
    tag_number,
)
from mlops_core.storage import upload

if TYPE_CHECKING:
    from mlops_core.settings import PlatformSettings

_PUSH_ATTEMPTS = 3
_log = logging.getLogger("mlops.registry")


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
        self.work_dir = work_dir
        self._repo = RegistryRepo(url, work_dir=work_dir)
        self._dvc = DvcStore(remote_url, s3_endpoint_url=s3_endpoint_url)

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> DataRegistry:
        return cls(
            settings.data_registry_url,
            settings.dvc_remote_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            work_dir=settings.home / "tmp",
        )

    def remote_config(self) -> dict[str, Any]:
        return self._dvc.remote_config()

    # ---------------------------------------------------------------- reading

    def versions(self) -> list[VersionInfo]:
        """Every version, oldest first (by N)."""
        with self._repo.git_dir() as git_dir:
            if git_dir is None:
                return []
            tags = list_tags(git_dir)
            manifests = read_manifests(git_dir, tags)
        return [VersionInfo.from_manifest(tag, manifests[tag]) for tag in tags]

    def latest(self) -> str | None:
        with self._repo.git_dir() as git_dir:
            tags = list_tags(git_dir) if git_dir is not None else []
        return tags[-1] if tags else None

    def manifest(self, tag: str) -> dict[str, Any]:
        tag_number(tag)
        with self._repo.git_dir() as git_dir:
            if git_dir is None or tag not in list_tags(git_dir):
                raise self._unknown(tag)
            return read_manifests(git_dir, [tag])[tag]

    def pull(self, tag: str, dest: Path) -> dict[str, Path]:
        """Materialise a version's splits in `dest` (created if missing): dest/{split}.parquet
        and dest/manifest.json. Returns {split: path}. Files appear complete or not at all."""
        tag_number(tag)
        dest = Path(dest)
        with self._repo.clone(ref=tag) as clone:
            if clone is None or not (clone / MANIFEST).exists():
                raise self._unknown(tag)
            self._dvc.pull(clone, [clone / DATA_DIR / f"{s}.parquet.dvc" for s in SPLITS])
            dest.mkdir(parents=True, exist_ok=True)
            out: dict[str, Path] = {}
            for name in SPLITS:
                out[name] = dest / f"{name}.parquet"
                upload(clone / DATA_DIR / f"{name}.parquet", str(out[name]))
            upload(clone / MANIFEST, str(dest / MANIFEST))
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
        info = split_info(splits)
        if content_hash is None:
            content_hash = content_hash_of(manifest, info)

        for attempt in range(_PUSH_ATTEMPTS):
            self._repo.ensure_exists()
            with self._repo.clone(ref=None) as clone:
                assert clone is not None
                existing = list_tags(clone / ".git")
                manifests = read_manifests(clone / ".git", existing)
                for tag in existing:
                    if manifests[tag].get("content_hash") == content_hash:
                        return PublishResult(tag, False, manifests[tag])
                tag = next_tag(existing)
                full = complete_manifest(manifest, tag, content_hash, info)
                try:
                    self._commit_version(clone, tag, splits, full)
                except PushRejected:
                    _log.info("the data registry changed while %s was made; retrying", tag)
                    if attempt + 1 == _PUSH_ATTEMPTS:
                        raise Conflict(
                            f"the data registry {self.url} changed while {tag} was being "
                            f"created, {_PUSH_ATTEMPTS} times; try again"
                        ) from None
                    continue
                return PublishResult(tag, True, full)
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit_version(
        self, clone: Path, tag: str, splits: Mapping[str, Path], manifest: dict[str, Any]
    ) -> None:
        if not (clone / ".dvc").exists():
            self._dvc.init(clone)
        data = clone / DATA_DIR
        data.mkdir(exist_ok=True)
        for name in SPLITS:
            shutil.copyfile(splits[name], data / f"{name}.parquet")
        (clone / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        self._dvc.add_and_push(clone, [data / f"{name}.parquet" for name in SPLITS])
        rows = ", ".join(f"{s} {manifest['splits'][s]['rows']}" for s in SPLITS)
        self._repo.commit_and_push(clone, tag, f"{tag}: {rows}")

    # ---------------------------------------------------------------- helpers

    def _unknown(self, tag: str) -> BadInput:
        known = self._safe_tags()
        hint = f"known: {', '.join(known)}" if known else "the registry has no version yet"
        return BadInput(f"unknown data version {tag!r} in {self.url} ({hint})")

    def _safe_tags(self) -> list[str]:
        try:
            with self._repo.git_dir() as git_dir:
                return list_tags(git_dir) if git_dir is not None else []
        except MlopsError:
            return []
