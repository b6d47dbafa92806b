"""DataRegistry: list, read, pull and publish one model's data versions, over the registry's
git repository (gitrepo), DVC (dvc_store) and the versions' manifests (versions).

One registry repository holds every model's versions: model `m`'s `data-vN` is the git tag
`m/data-vN` on the branch `models/m`. A DataRegistry is bound to one model and only ever
lists, reads, creates or moves that model's refs. A registry still in the single-model
layout (tags `data-vN` without a model) is refused with the way forward,
`mlops data migrate --model NAME` (`migrate`)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.contracts.constants import SPLITS
from mlops_core.errors import BadInput, Conflict, MlopsError
from mlops_core.modelspec import validate_model_name
from mlops_core.registry.dvc_store import DvcStore
from mlops_core.registry.gitrepo import PushRejected, RegistryRepo, is_local
from mlops_core.registry.versions import (
    DATA_DIR,
    MANIFEST,
    PublishResult,
    VersionInfo,
    complete_manifest,
    content_hash_of,
    git_tag,
    legacy_tags,
    list_tags,
    model_branch,
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


class LegacyRegistry(Conflict):
    """The registry holds versions of the single-model layout (tags `data-vN` that name no
    model): `mlops data migrate --model NAME` makes them NAME's (exit 8)."""


class DataRegistry:
    """One model's data versions: list them, read their manifests, pull their splits, publish."""

    def __init__(
        self,
        url: str,
        remote_url: str,
        *,
        model: str,
        s3_endpoint_url: str | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.model = validate_model_name(model)
        self.url = url
        self.remote_url = remote_url
        self.s3_endpoint_url = s3_endpoint_url
        self.work_dir = work_dir
        self._repo = RegistryRepo(url, work_dir=work_dir)
        self._dvc = DvcStore(remote_url, s3_endpoint_url=s3_endpoint_url)

    @classmethod
    def from_settings(cls, settings: PlatformSettings, *, model: str | None = None) -> DataRegistry:
        """The registry of the settings, bound to `model` (default: the settings' model,
        MLOPS_MODEL or the only model folder: a transition for callers not passing it yet)."""
        if model is None:
            model = settings.model_folder(None).name
        return cls(
            settings.data_registry_url,
            settings.dvc_remote_url,
            model=model,
            s3_endpoint_url=settings.s3_endpoint_url,
            work_dir=settings.home / "tmp",
        )

    @property
    def branch(self) -> str:
        """The git branch holding this model's versions."""
        return model_branch(self.model)

    def git_tag(self, tag: str) -> str:
        """The git tag of this model's version `tag` (data-vN): `<model>/data-vN`."""
        return git_tag(self.model, tag)

    def remote_config(self) -> dict[str, Any]:
        return self._dvc.remote_config()

    # ---------------------------------------------------------------- reading

    def versions(self) -> list[VersionInfo]:
        """Every version of this model, oldest first (by N)."""
        with self._repo.git_dir() as git_dir:
            if git_dir is None:
                return []
            self._refuse_legacy(git_dir)
            tags = list_tags(git_dir, self.model)
            manifests = read_manifests(git_dir, tags, self.model)
        return [VersionInfo.from_manifest(tag, manifests[tag]) for tag in tags]

    def latest(self) -> str | None:
        with self._repo.git_dir() as git_dir:
            if git_dir is None:
                return None
            self._refuse_legacy(git_dir)
            tags = list_tags(git_dir, self.model)
        return tags[-1] if tags else None

    def manifest(self, tag: str) -> dict[str, Any]:
        tag_number(tag)
        with self._repo.git_dir() as git_dir:
            if git_dir is not None:
                self._refuse_legacy(git_dir)
            if git_dir is None or tag not in list_tags(git_dir, self.model):
                raise self._unknown(tag)
            return read_manifests(git_dir, [tag], self.model)[tag]

    def pull(self, tag: str, dest: Path) -> dict[str, Path]:
        """Materialise a version's splits in `dest` (created if missing): dest/{split}.parquet
        and dest/manifest.json. Returns {split: path}. Files appear complete or not at all."""
        tag_number(tag)
        dest = Path(dest)
        if is_local(self.url):
            with self._repo.git_dir() as git_dir:
                if git_dir is not None:
                    self._refuse_legacy(git_dir)
        else:  # no clone just for this: ls-remote
            self._refuse_legacy_tags([t for t in self._repo.remote_tags("data-v*") if "/" not in t])
        with self._repo.clone(ref=self.git_tag(tag)) as clone:
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
            with self._repo.clone(ref=None, branch=self.branch) as clone:
                assert clone is not None
                self._refuse_legacy(clone / ".git")
                existing = list_tags(clone / ".git", self.model)
                manifests = read_manifests(clone / ".git", existing, self.model)
                for tag in existing:
                    if manifests[tag].get("content_hash") == content_hash:
                        return PublishResult(tag, False, manifests[tag])
                tag = next_tag(existing)
                full = complete_manifest(manifest, tag, content_hash, info, model=self.model)
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
        self._repo.commit_and_push(
            clone,
            self.git_tag(tag),
            f"{self.model} {tag}: {rows}",
            branch=self.branch,
            note=f"data version {tag} of model {self.model}",
        )

    # ---------------------------------------------------------------- migration

    def legacy_versions(self) -> list[str]:
        """Tags `data-vN` of the single-model layout still in the registry (no model)."""
        with self._repo.git_dir() as git_dir:
            return legacy_tags(git_dir) if git_dir is not None else []

    def migrate(self) -> MigrationResult:
        """Make the single-model layout's versions this model's: every tag `data-vN` becomes
        `<model>/data-vN` on the same commit (same manifest, same data), the old tag is kept
        under refs/migrated/data-vN (nothing is lost) and leaves refs/tags, and the branch
        `models/<model>` starts at the newest of them. All in one atomic push; running it
        again finds nothing to do."""
        for attempt in range(_PUSH_ATTEMPTS):
            if not self.legacy_versions():
                return MigrationResult(self.model, [], self.versions_tags(), [])
            with self._repo.clone(ref=None, branch=self.branch) as clone:
                assert clone is not None
                git = self._repo.git(clone)
                git_dir = clone / ".git"
                legacy = legacy_tags(git_dir)
                if not legacy:  # another run migrated meanwhile
                    continue
                mine = list_tags(git_dir, self.model)
                datasets = sorted(
                    {
                        str(m.get("dataset"))
                        for m in read_manifests(git_dir, legacy).values()
                        if m.get("dataset")
                    }
                )
                if mine and set(legacy) - set(mine):
                    raise Conflict(
                        f"data registry {self.url}: model {self.model!r} already has data "
                        f"versions ({', '.join(mine)}); the single-model tags "
                        f"{', '.join(legacy)} cannot be merged into them: migrate them to "
                        "another model name (`mlops data migrate --model OTHER`)"
                    )
                refspecs: list[str] = []
                for tag in legacy:
                    commit = git("rev-parse", f"refs/tags/{tag}^{{commit}}").strip()
                    if tag in mine:
                        ours = git("rev-parse", f"refs/tags/{self.git_tag(tag)}^{{commit}}")
                        if ours.strip() != commit:
                            raise Conflict(
                                f"data registry {self.url}: {tag} of the single-model layout "
                                f"and {self.model}'s {tag} are different versions; "
                                "migrate the old tags to another model name"
                            )
                    else:
                        note = (
                            f"data version {tag} of model {self.model} "
                            f"(migrated from the single-model tag {tag})"
                        )
                        git("tag", "-a", self.git_tag(tag), commit, "-m", note)
                        refspecs.append(f"refs/tags/{self.git_tag(tag)}")
                    # The old tag object is kept outside refs/tags: nothing is lost.
                    refspecs += [f"refs/tags/{tag}:refs/migrated/{tag}", f":refs/tags/{tag}"]
                remote_branch = f"refs/remotes/origin/{self.branch}"
                has_branch = git("for-each-ref", "--format=%(refname)", remote_branch).strip()
                if not has_branch:
                    head = git("rev-parse", f"refs/tags/{legacy[-1]}^{{commit}}").strip()
                    refspecs.insert(0, f"{head}:refs/heads/{self.branch}")
                try:
                    self._repo.push(clone, refspecs, what=f"the migration to {self.model}")
                except PushRejected:
                    if attempt + 1 == _PUSH_ATTEMPTS:
                        raise Conflict(
                            f"the data registry {self.url} changed during the migration, "
                            f"{_PUSH_ATTEMPTS} times; try again"
                        ) from None
                    continue
                return MigrationResult(self.model, legacy, self.versions_tags(), datasets)
        return MigrationResult(self.model, [], self.versions_tags(), [])

    def versions_tags(self) -> list[str]:
        with self._repo.git_dir() as git_dir:
            return list_tags(git_dir, self.model) if git_dir is not None else []

    # ---------------------------------------------------------------- helpers

    def _refuse_legacy(self, git_dir: Path) -> None:
        self._refuse_legacy_tags(legacy_tags(git_dir))

    def _refuse_legacy_tags(self, tags: list[str]) -> None:
        legacy = sorted((t for t in tags if _is_version(t)), key=tag_number)
        if legacy:
            shown = legacy[0] if len(legacy) == 1 else f"{legacy[0]} .. {legacy[-1]}"
            raise LegacyRegistry(
                f"the data registry {self.url} holds {len(legacy)} data version"
                f"{'s' if len(legacy) > 1 else ''} of the single-model layout ({shown}, "
                "tags that name no model); run `mlops data migrate --model NAME` once to make "
                "them NAME's versions (nothing is lost)",
                details={"legacy_versions": legacy},
            )

    def _unknown(self, tag: str) -> BadInput:
        known = self._safe_tags()
        hint = (
            f"known: {', '.join(known)}"
            if known
            else f"model {self.model!r} has no data version yet"
        )
        return BadInput(
            f"unknown data version {tag!r} of model {self.model!r} in {self.url} ({hint})"
        )

    def _safe_tags(self) -> list[str]:
        try:
            return self.versions_tags()
        except MlopsError:
            return []


@dataclass(frozen=True)
class MigrationResult:
    model: str
    migrated: list[str]  # the single-model tags re-tagged by this run (empty: nothing to do)
    versions: list[str]  # the model's versions after it
    datasets: list[str]  # the `dataset` names the migrated manifests recorded


def _is_version(tag: str) -> bool:
    try:
        tag_number(tag)
    except BadInput:
        return False
    return True
