"""Dataset lineage for MLflow: a data version split as a DVC-tracked file at a git tag.

Imported only when a run is logged (it imports mlflow).
"""

from __future__ import annotations

from typing import Any

from mlflow.data.dataset_source import DatasetSource


class DVCDatasetSource(DatasetSource):
    """A file tracked by DVC in the data registry's git repository, at revision `rev`.

    `dvc.api.open(path, repo=url, rev=rev)` reads it back.
    """

    def __init__(self, url: str, rev: str, path: str, content_hash: str | None = None):
        self.url = url
        self.rev = rev
        self.path = path
        self.content_hash = content_hash

    @staticmethod
    def _get_source_type() -> str:
        return "dvc"

    def load(self, dst_path: str | None = None) -> str:
        import dvc.api

        return dvc.api.get_url(self.path, repo=self.url, rev=self.rev)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> DVCDatasetSource:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "rev": self.rev,
            "path": self.path,
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DVCDatasetSource:
        return cls(
            source_dict["url"],
            source_dict["rev"],
            source_dict["path"],
            source_dict.get("content_hash"),
        )
