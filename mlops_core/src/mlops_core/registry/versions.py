"""Data versions: the `data-vN` tags, their manifests and the content hashes that tell whether
the same data is already a version. Reads refs and manifests straight from a git directory:
listing versions downloads no data.

Versions are per model: model `m`'s version `data-v3` is the git tag `m/data-v3`. Callers
only ever see `data-vN` of the model they name; the namespace is this module's business
(`git_tag`, `list_tags(git_dir, model)`). A tag `data-vN` without a namespace comes from the
single-model layout: `legacy_tags` finds them, `mlops data migrate` re-tags them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.contracts.constants import DATA_VERSION_PREFIX, SPLITS
from mlops_core.errors import BadInput, MlopsError
from mlops_core.git import Git

if TYPE_CHECKING:
    import pandas as pd

TAG_PREFIX = DATA_VERSION_PREFIX
MANIFEST = "manifest.json"
DATA_DIR = "data"
_TAG_RE = re.compile(rf"^{re.escape(TAG_PREFIX)}([1-9][0-9]*)$")
# Branch holding a model's versions (one commit per version); tags `<model>/data-vN`.
BRANCH_PREFIX = "models/"


def git_tag(model: str, tag: str) -> str:
    """The git tag of a model's data version: `<model>/data-vN`."""
    tag_number(tag)
    return f"{model}/{tag}"


def model_branch(model: str) -> str:
    return f"{BRANCH_PREFIX}{model}"


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

    @classmethod
    def from_manifest(cls, tag: str, manifest: dict[str, Any]) -> VersionInfo:
        splits = manifest.get("splits") or {}
        return cls(
            tag=tag,
            created=str(manifest.get("created", "")),
            rows={s: int((splits.get(s) or {}).get("rows", 0)) for s in SPLITS},
            content_hash=str(manifest.get("content_hash", "")),
            manifest=manifest,
        )


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


def next_tag(existing: list[str]) -> str:
    return f"{TAG_PREFIX}{max((tag_number(t) for t in existing), default=0) + 1}"


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


def list_tags(git_dir: Path, model: str) -> list[str]:
    """The data versions (data-vN) of `model` in a git directory, oldest first (by N)."""
    prefix = f"refs/tags/{model}/"
    out = Git(git_dir=git_dir)("for-each-ref", "--format=%(refname)", f"{prefix}{TAG_PREFIX}*")
    tags = [
        t.removeprefix(prefix)
        for t in out.split()
        if t.startswith(prefix) and _TAG_RE.match(t.removeprefix(prefix))
    ]
    return sorted(tags, key=tag_number)


def legacy_tags(git_dir: Path) -> list[str]:
    """Tags `data-vN` of the single-model layout (no model namespace), oldest first."""
    out = Git(git_dir=git_dir)("for-each-ref", "--format=%(refname)", f"refs/tags/{TAG_PREFIX}*")
    tags = [t.removeprefix("refs/tags/") for t in out.split()]
    return sorted((t for t in tags if _TAG_RE.match(t)), key=tag_number)


def read_manifests(
    git_dir: Path, tags: list[str], model: str | None = None
) -> dict[str, dict[str, Any]]:
    """{tag: manifest} of the given tags (of `model`, or legacy tags when None), read in one
    `git cat-file --batch`."""
    if not tags:
        return {}
    refs = [f"refs/tags/{model}/{tag}" if model else f"refs/tags/{tag}" for tag in tags]
    out = Git(git_dir=git_dir).output(
        "cat-file", "--batch", input="".join(f"{ref}:{MANIFEST}\n" for ref in refs)
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


def split_info(splits: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """Per split: its path in a version, its row count and the SHA-256 of its file."""
    import pyarrow.parquet as pq

    from mlops_core.storage import file_digest

    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise BadInput(f"publish needs the splits {', '.join(SPLITS)}; missing {missing}")
    return {
        name: {
            "path": f"{DATA_DIR}/{name}.parquet",
            "rows": pq.read_metadata(Path(splits[name])).num_rows,
            "sha256": file_digest(Path(splits[name])),
        }
        for name in SPLITS
    }


def content_hash_of(manifest: Mapping[str, Any], info: dict[str, dict[str, Any]]) -> str:
    """The hash that identifies a version's content: the splits' content hashes when the
    manifest gives them (the same rows in another file format), else the files' hashes."""
    given = manifest.get("splits") or {}
    hashes = {s: (given.get(s) or {}).get("content_hash") or info[s]["sha256"] for s in SPLITS}
    return combined_hash(hashes)


def complete_manifest(
    manifest: Mapping[str, Any],
    tag: str,
    content_hash: str,
    info: dict[str, dict[str, Any]],
    *,
    model: str,
) -> dict[str, Any]:
    """The manifest.json of a new version: the caller's, with model, data_version, its git
    tag, created, content_hash and per-split rows and hashes."""
    full = dict(manifest)
    full["model"] = model
    full["data_version"] = tag
    full["git_tag"] = git_tag(model, tag)
    full["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    full["content_hash"] = content_hash
    splits = {name: dict((manifest.get("splits") or {}).get(name) or {}) for name in SPLITS}
    for name in SPLITS:
        splits[name].update(info[name])
    full["splits"] = splits
    full["rows"] = {
        **(manifest.get("rows") or {}),
        **{name: info[name]["rows"] for name in SPLITS},
    }
    return full
