"""The report store: a local folder or an s3:// prefix (S3, MinIO with an endpoint URL).

Layout: <store>/<model>/<YYYYmmddTHHMMSSffffffZ>-v<version>.{html,json}. A run is complete
when its JSON exists: the HTML is written first, the JSON last, each with mlops_core.storage's
atomic write (local: temporary file + rename; S3: one upload), and the HTML is deleted
again if the JSON fails, so a reader never sees a half-written run.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops_core import storage
from mlops_core.errors import BadInput, Unavailable
from mlops_core.storage import StorageError

_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{12}Z)-v(?P<version>[^/]+)\.json$")


def run_stem(when: datetime, version: str) -> str:
    return f"{when.strftime('%Y%m%dT%H%M%S%fZ')}-v{version}"


@dataclass
class StoredRun:
    html: str
    json: str


class ReportStore:
    def __init__(self, location: str, endpoint_url: str | None = None) -> None:
        self.location = location.rstrip("/")
        self.endpoint_url = endpoint_url
        self.is_s3 = storage.is_s3(location)
        if self.is_s3:
            if not location[len("s3://") :].partition("/")[0]:
                raise BadInput(f"report store {location!r}: no bucket in the s3:// URL")
        elif "://" in location:
            raise BadInput(f"report store {location!r}: use a folder or an s3:// URL")

    def uri(self, *parts: str) -> str:
        return storage.join(self.location, *parts)

    def check(self) -> None:
        """Fail before any work when the store cannot be written."""
        try:
            storage.check_writable(self.location, endpoint_url=self.endpoint_url)
        except StorageError as exc:
            if self.is_s3:
                raise Unavailable(
                    f"report store {self.location} is not reachable: {exc.message}"
                ) from None
            raise Unavailable(
                f"report store {self.location}: cannot write ({exc.message})"
            ) from None

    # -- writing ----------------------------------------------------------------
    def write_run(self, model: str, stem: str, html: str, result: dict[str, Any]) -> StoredRun:
        html_uri, json_uri = self.uri(model, f"{stem}.html"), self.uri(model, f"{stem}.json")
        body = json.dumps(result, default=str, sort_keys=True, indent=2)
        try:
            storage.write_text(html_uri, html, endpoint_url=self.endpoint_url)
            try:
                storage.write_text(json_uri, body, endpoint_url=self.endpoint_url)
            except BaseException:
                with contextlib.suppress(StorageError):
                    storage.delete(html_uri, endpoint_url=self.endpoint_url)
                raise
        except (StorageError, OSError) as exc:
            action = "upload failed" if self.is_s3 else "write failed"
            raise Unavailable(f"report store {self.uri(model)}: {action} ({exc})") from None
        return StoredRun(html_uri, json_uri)

    # -- reading ----------------------------------------------------------------
    def runs(self, model: str) -> list[str]:
        """Names of the complete runs' JSON files of a model, oldest first."""
        try:
            names = storage.list_names(self.uri(model), endpoint_url=self.endpoint_url)
        except StorageError as exc:
            raise Unavailable(f"report store {self.uri(model)}: cannot list ({exc})") from None
        return sorted(n for n in names if _NAME.match(n))

    def read_json(self, model: str, name: str) -> dict[str, Any]:
        return json.loads(storage.read_text(self.uri(model, name), endpoint_url=self.endpoint_url))

    def last_window_end(self, model: str, version: str | None = None) -> str | None:
        """`window.until` of the newest judged run (drift / no_drift) of the model."""
        for name in reversed(self.runs(model)):
            match = _NAME.match(name)
            if version is not None and match and match["version"] != str(version):
                continue
            try:
                data = self.read_json(model, name)
            except (OSError, ValueError):
                continue
            if data.get("status") in ("drift", "no_drift"):
                return (data.get("window") or {}).get("until")
        return None
