"""Reading a source into a DataFrame: a local CSV or Parquet file, an http(s) URL, an s3://
URI. Remote sources are downloaded to a temporary file first, then read like local files:
S3 through mlops_core.storage (fsspec/s3fs); http(s) with httpx, whose status codes decide
between a bad source (4xx) and an unavailable one (5xx, timeouts).

Errors name the source: BadInput (exit 2) for a file that is missing, empty, binary or not a
table; Unavailable (exit 5) for a URL or S3 endpoint that cannot be reached.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlops_core.errors import BadInput, Unavailable
from mlops_core.storage import file_digest

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("mlops.ingest")

PARQUET_MAGIC = b"PAR1"
COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
# progress(done_bytes, total_bytes_or_None)
ProgressFn = Callable[[int, int | None], None]


@dataclass(frozen=True)
class SourceInfo:
    uri: str
    kind: str  # file | http | s3 | synthetic
    format: str | None = None  # csv | parquet
    bytes: int | None = None
    sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


def kind_of(source: str) -> str:
    scheme = urlparse(source).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme == "s3":
        return "s3"
    if scheme in ("", "file") or len(scheme) == 1:  # a Windows drive letter is a path
        return "file"
    raise BadInput(
        f"source {source}: unsupported scheme {scheme!r} (use a path, http(s):// or s3://)"
    )


def redact(uri: str) -> str:
    """The URI without what may be a secret: user:password@ and the query string (tokens,
    pre-signed URL signatures)."""
    parsed = urlparse(uri)
    if parsed.scheme.lower() not in ("http", "https", "s3"):
        return uri
    netloc = parsed.netloc.rpartition("@")[2]
    shown = parsed._replace(netloc=netloc, query="", fragment="").geturl()
    return shown + ("?..." if parsed.query else "")


def read_source(
    source: str,
    *,
    work_dir: Path,
    timeout: float = 30.0,
    s3_endpoint_url: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[pd.DataFrame, SourceInfo]:
    kind = kind_of(source)
    if kind == "file":
        path = Path(source.removeprefix("file://")).expanduser()
        return _read_file(path, source, kind)
    with _download(source, kind, work_dir, timeout, s3_endpoint_url, progress) as path:
        return _read_file(path, redact(source), kind)


@contextmanager
def _download(
    source: str,
    kind: str,
    work_dir: Path,
    timeout: float,
    s3_endpoint_url: str | None,
    progress: ProgressFn | None,
) -> Iterator[Path]:
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="source-", dir=work_dir))
    name = Path(urlparse(source).path).name or "download"
    target = tmp / name
    try:
        if kind == "http":
            _download_http(source, target, timeout, progress)
        else:
            _download_s3(source, target, timeout, s3_endpoint_url, progress)
        yield target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _download_http(url: str, target: Path, timeout: float, progress: ProgressFn | None) -> None:
    import httpx

    shown = redact(url)
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code >= 500:
                raise Unavailable(
                    f"source {shown}: the server answered HTTP {response.status_code}"
                )
            if response.status_code >= 400:
                raise BadInput(
                    f"source {shown}: HTTP {response.status_code} ({response.reason_phrase})"
                )
            total = response.headers.get("content-length")
            total_bytes = int(total) if total and total.isdigit() else None
            done = 0
            with target.open("wb") as fh:
                for chunk in response.iter_bytes(1 << 20):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total_bytes)
    except httpx.TimeoutException as exc:
        raise Unavailable(f"source {shown}: timed out after {timeout:g} s ({exc})") from exc
    except httpx.TransportError as exc:
        raise Unavailable(f"source {shown}: cannot be reached ({exc})") from exc
    except httpx.InvalidURL as exc:
        raise BadInput(f"source {shown}: invalid URL ({exc})") from exc


def _download_s3(
    uri: str,
    target: Path,
    timeout: float,
    endpoint_url: str | None,
    progress: ProgressFn | None,
) -> None:
    from mlops_core import storage

    parsed = urlparse(uri)
    if not parsed.netloc or not parsed.path.lstrip("/"):
        raise BadInput(f"source {uri}: expected s3://BUCKET/KEY")
    try:
        storage.download(uri, target, endpoint_url=endpoint_url, progress=progress, timeout=timeout)
    except FileNotFoundError as exc:
        where = f" at {endpoint_url}" if endpoint_url else ""
        raise BadInput(f"source {uri}: no such object{where}") from exc
    except storage.StorageError as exc:
        raise Unavailable(f"source {exc.message}") from exc


def sniff_format(path: Path, shown: str) -> str:
    """csv or parquet, from the content (and the name for compressed CSV); BadInput for an
    empty or binary file."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if not head.strip():
        raise BadInput(f"source {shown}: the file is empty")
    if head[:4] == PARQUET_MAGIC:
        return "parquet"
    if path.suffix.lower() in COMPRESSED:
        return "csv"
    if path.suffix.lower() == ".parquet":
        raise BadInput(f"source {shown}: not a Parquet file (no PAR1 header)")
    if b"\x00" in head:
        raise BadInput(f"source {shown}: not a table (binary content)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the end
            try:
                head.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                raise BadInput(f"source {shown}: not a text table") from exc
    return "csv"


def _read_file(path: Path, shown: str, kind: str) -> tuple[pd.DataFrame, SourceInfo]:
    import pandas as pd

    if not path.exists():
        raise BadInput(f"source {shown}: no such file")
    if not path.is_file():
        raise BadInput(f"source {shown}: not a file")
    fmt = sniff_format(path, shown)
    try:
        frame = pd.read_parquet(path) if fmt == "parquet" else _read_csv(path)
    except BadInput:
        raise
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"source {shown}: not a {fmt.upper()} table ({first})") from exc
    except Exception as exc:  # pyarrow and codecs raise many kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"source {shown}: cannot be read as {fmt.upper()} ({first})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    size = path.stat().st_size
    sha256 = file_digest(path)
    return frame, SourceInfo(uri=shown, kind=kind, format=fmt, bytes=size, sha256=sha256)


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    sep = _delimiter(path)
    try:  # utf-8-sig: a byte-order mark is not part of the first column's name
        return pd.read_csv(
            path, sep=sep, low_memory=False, skipinitialspace=True, encoding="utf-8-sig"
        )
    except UnicodeDecodeError:
        return pd.read_csv(
            path, sep=sep, low_memory=False, skipinitialspace=True, encoding="latin-1"
        )


def _delimiter(path: Path) -> str:
    """The header line's most frequent of , ; tab | (a comma when none appears)."""
    if path.suffix.lower() in COMPRESSED:
        return ","
    with path.open("rb") as fh:
        header = fh.readline(65536)
    counts = {sep: header.count(sep.encode()) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","
