"""The report store: a local folder or an s3:// prefix (S3, MinIO with an endpoint URL).

Layout: <store>/<model>/<YYYYmmddTHHMMSSffffffZ>-v<version>.{html,json}. A run is complete
when its JSON exists: the HTML is written first, the JSON last (local: temp file + rename;
S3: each object is one atomic PUT, and the HTML is deleted again if the JSON fails), so a
reader never sees a half-written run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_core.errors import BadInput, Unavailable

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
        self.is_s3 = location.startswith("s3://")
        if self.is_s3:
            bucket, _, prefix = location[len("s3://") :].partition("/")
            if not bucket:
                raise BadInput(f"report store {location!r}: no bucket in the s3:// URL")
            self.bucket, self.prefix = bucket, prefix.strip("/")
        elif "://" in location:
            raise BadInput(f"report store {location!r}: use a folder or an s3:// URL")

    # -- plumbing ---------------------------------------------------------------
    def _s3(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
        )

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def uri(self, *parts: str) -> str:
        if self.is_s3:
            return f"s3://{self.bucket}/{self._key(*parts)}"
        return str(Path(self.location, *parts))

    def check(self) -> None:
        """Fail before any work when the store cannot be written."""
        if self.is_s3:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self._s3().head_bucket(Bucket=self.bucket)
            except (BotoCoreError, ClientError) as exc:
                where = f" at {self.endpoint_url}" if self.endpoint_url else ""
                raise Unavailable(
                    f"report store s3://{self.bucket}{where} is not reachable: {exc}"
                ) from None
            return
        root = Path(self.location)
        try:
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=root, prefix=".probe-"):
                pass
        except OSError as exc:
            raise Unavailable(f"report store {root}: cannot write ({exc.strerror})") from None

    # -- writing ----------------------------------------------------------------
    def write_run(self, model: str, stem: str, html: str, result: dict[str, Any]) -> StoredRun:
        html_name, json_name = f"{stem}.html", f"{stem}.json"
        body = json.dumps(result, default=str, sort_keys=True, indent=2)
        if self.is_s3:
            from botocore.exceptions import BotoCoreError, ClientError

            client = self._s3()
            html_key, json_key = self._key(model, html_name), self._key(model, json_name)
            try:
                client.put_object(
                    Bucket=self.bucket, Key=html_key, Body=html.encode(), ContentType="text/html"
                )
                try:
                    client.put_object(
                        Bucket=self.bucket,
                        Key=json_key,
                        Body=body.encode(),
                        ContentType="application/json",
                    )
                except (BotoCoreError, ClientError):
                    with contextlib.suppress(BotoCoreError, ClientError):
                        client.delete_object(Bucket=self.bucket, Key=html_key)
                    raise
            except (BotoCoreError, ClientError) as exc:
                raise Unavailable(f"report store {self.uri(model)}: upload failed: {exc}") from None
        else:
            folder = Path(self.location, model)
            folder.mkdir(parents=True, exist_ok=True)
            written: list[Path] = []
            try:
                for name, text in ((html_name, html), (json_name, body)):
                    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        fh.write(text)
                    os.replace(tmp, folder / name)
                    written.append(folder / name)
            except OSError as exc:
                for path in written:
                    path.unlink(missing_ok=True)
                for tmp_file in folder.glob(f".{stem}.*.tmp"):
                    tmp_file.unlink(missing_ok=True)
                raise Unavailable(f"report store {folder}: write failed ({exc})") from None
        return StoredRun(self.uri(model, html_name), self.uri(model, json_name))

    # -- reading ----------------------------------------------------------------
    def runs(self, model: str) -> list[str]:
        """Names of the complete runs' JSON files of a model, oldest first."""
        if self.is_s3:
            from botocore.exceptions import BotoCoreError, ClientError

            names: list[str] = []
            try:
                pages = self._s3().get_paginator("list_objects_v2")
                for page in pages.paginate(Bucket=self.bucket, Prefix=self._key(model) + "/"):
                    names += [o["Key"].rsplit("/", 1)[-1] for o in page.get("Contents", [])]
            except (BotoCoreError, ClientError) as exc:
                raise Unavailable(f"report store {self.uri(model)}: cannot list: {exc}") from None
        else:
            folder = Path(self.location, model)
            names = [p.name for p in folder.glob("*.json")] if folder.is_dir() else []
        return sorted(n for n in names if _NAME.match(n))

    def read_json(self, model: str, name: str) -> dict[str, Any]:
        if self.is_s3:
            body = self._s3().get_object(Bucket=self.bucket, Key=self._key(model, name))["Body"]
            return json.loads(body.read())
        return json.loads(Path(self.location, model, name).read_text())

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
