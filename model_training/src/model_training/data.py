"""Materialise a data version of the registry (mlops_core.registry) as DataFrames."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_core.contracts import SPLITS
from mlops_core.errors import BadInput, DataQualityError
from mlops_core.settings import PlatformSettings


@dataclass
class DataVersion:
    tag: str
    content_hash: str | None  # the registry's content hash of the version (manifest)
    source: str  # the registry's git URL
    manifest: dict[str, Any]
    frames: dict[str, pd.DataFrame]
    split_hashes: dict[str, str] = field(default_factory=dict)  # split -> DVC md5


def dvc_md5(path: Path) -> str:
    """The hash DVC records for a file in its .dvc metafile (md5 of the bytes)."""
    from mlops_core.storage import file_digest

    return file_digest(path, lambda: hashlib.md5(usedforsecurity=False))


def data_registry(settings: PlatformSettings, model: str | None):
    """The data registry of one model (`DataRegistry.from_settings(settings, model=...)`).

    Until the registry takes `model=` (per-model tag spaces), the shared one.
    """
    import inspect

    from mlops_core.registry import DataRegistry

    if model is not None and "model" in inspect.signature(DataRegistry.from_settings).parameters:
        return DataRegistry.from_settings(settings, model=model)
    return DataRegistry.from_settings(settings)


def load_data_version(
    settings: PlatformSettings, tag: str | None, dest: Path, model: str | None = None
) -> DataVersion:
    """Pull version `tag` (default: the newest) of `model` into dest and read its splits."""
    registry = data_registry(settings, model)
    if tag is None:
        tag = registry.latest()
        if tag is None:
            raise BadInput(
                f"the data registry {settings.data_registry_url} has no data version yet; "
                "create one with `mlops ingest`"
            )
    paths = registry.pull(tag, dest)
    manifest = registry.manifest(tag)
    content_hash = manifest.get("content_hash") or None
    frames: dict[str, pd.DataFrame] = {}
    split_hashes: dict[str, str] = {}
    for split in SPLITS:
        path = paths.get(split)
        if path is None:
            raise DataQualityError(f"data version {tag}: split {split!r} is missing")
        try:
            frames[split] = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise DataQualityError(f"data version {tag}: {path}: unreadable ({exc})") from exc
        split_hashes[split] = dvc_md5(path)
    return DataVersion(
        tag=tag,
        content_hash=content_hash,
        source=settings.data_registry_url,
        manifest=manifest,
        frames=frames,
        split_hashes=split_hashes,
    )
