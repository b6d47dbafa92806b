"""Reading and writing files that live in a local folder or on S3 (MinIO with an endpoint URL),
through fsspec and s3fs.

Every function takes a URL: a path (or file://...) or s3://bucket/key, and the S3 endpoint
from the settings (`PlatformSettings.s3_endpoint_url`), passed to s3fs as
`client_kwargs={"endpoint_url": ...}`; credentials come from the usual AWS variables or
files, read by botocore. Nothing here reads settings or writes the environment.

Writes are atomic: `atomic_write` writes a local file to a temporary name in the same folder
and renames it; an S3 object is spooled to a local temporary file and uploaded once the
writer is done (a PUT, or a multipart upload that is aborted on failure), so a reader sees
the whole object or nothing. When the writer raises, nothing is left behind.

Errors: a missing file or object raises FileNotFoundError naming the URL; a store that
cannot be reached, read or written raises StorageError (exit 5) naming the URL and the
endpoint.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlops_core.errors import BadInput, Unavailable

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "StorageError",
    "atomic_write",
    "check_writable",
    "delete",
    "download",
    "exists",
    "file_digest",
    "filesystem",
    "is_s3",
    "join",
    "list_names",
    "read_bytes",
    "read_text",
    "size",
    "upload",
    "write_bytes",
    "write_text",
]

# progress(done_bytes, total_bytes_or_None)
ProgressFn = Callable[[int, int | None], None]


class StorageError(Unavailable):
    """A folder or bucket cannot be reached, read or written. `reason` says which kind:
    "unreachable", "denied", "credentials" or "failed"."""

    def __init__(self, message: str, *, reason: str = "failed") -> None:
        super().__init__(message)
        self.reason = reason


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def _is_local(url: str) -> bool:
    scheme = urlparse(url).scheme.lower()
    return scheme in ("", "file") or len(scheme) == 1  # a Windows drive letter is a path


def join(url: str, *parts: str) -> str:
    """`url/part/...` for a folder or an S3 prefix."""
    if is_s3(url):
        return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts if p)])
    return str(Path(_local_path(url), *parts))


def _local_path(url: str) -> str:
    return os.path.expanduser(url.removeprefix("file://"))


@functools.lru_cache(maxsize=16)
def _s3(endpoint_url: str | None, timeout: float, pid: int) -> AbstractFileSystem:
    """One s3fs filesystem per endpoint, timeout and process (its connections are reused)."""
    from s3fs import S3FileSystem

    fs = S3FileSystem(
        client_kwargs={"endpoint_url": endpoint_url} if endpoint_url else {},
        config_kwargs={
            "connect_timeout": min(timeout, 5),
            "read_timeout": timeout,
            "retries": {"max_attempts": 3, "mode": "standard"},
        },
        # Another process writes the same prefixes (a monitor run, an ingest): a cached
        # listing would hide its objects.
        use_listings_cache=False,
        skip_instance_cache=True,
    )
    # botocore already retries each request; s3fs's own loop on top would make an
    # unreachable endpoint take tens of seconds to report.
    fs.retries = 1
    return fs


def filesystem(
    url: str, *, endpoint_url: str | None = None, timeout: float | None = None
) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem of `url` and the path inside it (`timeout`: seconds an S3
    request may wait for an answer, 60 when None). BadInput for another scheme."""
    if is_s3(url):
        path = url[len("s3://") :]
        if not path.split("/", 1)[0]:
            raise BadInput(f"{url!r}: no bucket in the s3:// URL")
        return _s3(endpoint_url, timeout or 60.0, os.getpid()), path
    if _is_local(url):
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), os.path.abspath(_local_path(url))
    raise BadInput(f"{url!r}: use a local path or an s3:// URL")


@contextlib.contextmanager
def _errors(url: str, action: str, endpoint_url: str | None) -> Iterator[None]:
    """Translate what fsspec, s3fs and botocore raise into FileNotFoundError / StorageError."""
    from botocore import exceptions as bex

    try:
        yield
    except FileNotFoundError as exc:
        raise FileNotFoundError(errno.ENOENT, "no such file or object", url) from exc
    except (OSError, bex.BotoCoreError, bex.ClientError) as exc:
        where = f" at {endpoint_url}" if endpoint_url and is_s3(url) else ""
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, bex.NoCredentialsError):
            message = f"{url}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            raise StorageError(message, reason="credentials") from exc
        if isinstance(exc, PermissionError):
            raise StorageError(f"{url}{where}: access denied ({detail})", reason="denied") from exc
        unreachable = (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError)
        if isinstance(exc, (*unreachable, TimeoutError, ConnectionError)):
            message = f"{url}{where}: cannot be reached ({detail})"
            raise StorageError(message, reason="unreachable") from exc
        raise StorageError(f"{url}{where}: {action} failed ({detail})") from exc


# -- reading ---------------------------------------------------------------------------------


def read_bytes(url: str, *, endpoint_url: str | None = None) -> bytes:
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    with _errors(url, "read", endpoint_url):
        return fs.cat_file(path)


def read_text(url: str, *, endpoint_url: str | None = None, encoding: str = "utf-8") -> str:
    return read_bytes(url, endpoint_url=endpoint_url).decode(encoding)


def exists(url: str, *, endpoint_url: str | None = None) -> bool:
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    with _errors(url, "check", endpoint_url):
        return bool(fs.exists(path))


def size(url: str, *, endpoint_url: str | None = None) -> int:
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    with _errors(url, "stat", endpoint_url):
        return int(fs.size(path))


def list_names(url: str, *, endpoint_url: str | None = None) -> list[str]:
    """Names of the files directly under a folder or prefix, sorted; [] when it holds none.
    An S3 bucket that does not exist is a StorageError, not an empty listing."""
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    with _errors(url, "list", endpoint_url):
        try:
            entries = fs.ls(path, detail=True)
        except FileNotFoundError:
            if is_s3(url) and not fs.exists(path.split("/", 1)[0]):
                raise StorageError(
                    f"{url}{f' at {endpoint_url}' if endpoint_url else ''}: no such bucket"
                ) from None
            return []
    return sorted(
        e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"
    )


def download(
    url: str,
    dest: Path,
    *,
    endpoint_url: str | None = None,
    progress: ProgressFn | None = None,
    timeout: float | None = None,
) -> Path:
    """Copy a file or object to the local path `dest`, complete or not at all."""
    from fsspec.callbacks import Callback

    fs, path = filesystem(url, endpoint_url=endpoint_url, timeout=timeout)
    dest = Path(dest)

    class _Progress(Callback):
        def call(self, *args: Any, **kwargs: Any) -> None:
            if progress is not None:
                progress(self.value, self.size or None)

    tmp = _sibling_temp(dest)
    try:
        with _errors(url, "download", endpoint_url):
            fs.get_file(path, str(tmp), callback=_Progress())
        os.replace(tmp, dest)
        if progress is not None:  # a local copy reports no progress on the way
            done = dest.stat().st_size
            progress(done, done)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def file_digest(
    url: str | Path,
    algorithm: str | Callable[[], Any] = "sha256",
    *,
    endpoint_url: str | None = None,
) -> str:
    """The hex digest of a file's bytes, streamed through hashlib.file_digest. `algorithm`
    is a hashlib name or a constructor (`lambda: hashlib.md5(usedforsecurity=False)` where
    MD5 is only a checksum, as in DVC's metafiles)."""
    url = str(url)
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    with _errors(url, "read", endpoint_url):
        opener = fs.open if is_s3(url) else open
        with opener(path, "rb") as fh:
            return hashlib.file_digest(fh, algorithm).hexdigest()


# -- writing ---------------------------------------------------------------------------------


def _sibling_temp(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_write(
    url: str,
    mode: str = "wb",
    *,
    endpoint_url: str | None = None,
    encoding: str | None = None,
    work_dir: Path | None = None,
) -> Iterator[IO[Any]]:
    """A file to write `url` through ("wb" or "w"); it appears at `url` only when the block
    ends without an exception. S3 objects are spooled under `work_dir` (the system temporary
    folder when None) and get the content type their name suggests."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode {mode!r} (use 'wb' or 'w')")
    text = {"encoding": encoding or "utf-8"} if mode == "w" else {}
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    if not is_s3(url):
        dest = Path(path)
        with _errors(url, "write", endpoint_url):
            tmp = _sibling_temp(dest)
        try:
            with open(tmp, mode, **text) as fh:
                yield fh
            with _errors(url, "write", endpoint_url):
                os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return
    name = path.rsplit("/", 1)[-1]
    # The spool keeps the object's name as its suffix: s3fs guesses the content type from it.
    with tempfile.NamedTemporaryFile(mode, suffix=f"-{name}", dir=work_dir, **text) as fh:
        yield fh
        fh.flush()
        with _errors(url, "upload", endpoint_url):
            fs.put_file(fh.name, path)


def write_bytes(url: str, data: bytes, *, endpoint_url: str | None = None) -> None:
    with atomic_write(url, "wb", endpoint_url=endpoint_url) as fh:
        fh.write(data)


def write_text(
    url: str, text: str, *, endpoint_url: str | None = None, encoding: str = "utf-8"
) -> None:
    with atomic_write(url, "w", endpoint_url=endpoint_url, encoding=encoding) as fh:
        fh.write(text)


def upload(src: Path, url: str, *, endpoint_url: str | None = None) -> None:
    """Copy the local file `src` to `url`, complete or not at all."""
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    if is_s3(url):
        with _errors(url, "upload", endpoint_url):
            fs.put_file(str(src), path)
        return
    with atomic_write(url, "wb") as out, open(src, "rb") as fh:
        while chunk := fh.read(1 << 20):
            out.write(chunk)


def delete(url: str, *, endpoint_url: str | None = None) -> None:
    """Remove a file or object; one that does not exist is not an error (as on S3)."""
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    with contextlib.suppress(FileNotFoundError), _errors(url, "delete", endpoint_url):
        fs.rm_file(path)


def check_writable(url: str, *, endpoint_url: str | None = None) -> None:
    """Fail early (StorageError) when a folder cannot be written or a bucket cannot be
    reached; creates a missing local folder."""
    fs, path = filesystem(url, endpoint_url=endpoint_url)
    if is_s3(url):
        bucket = path.split("/", 1)[0]
        try:
            with _errors(url, "access", endpoint_url):
                fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            where = f" at {endpoint_url}" if endpoint_url else ""
            raise StorageError(f"{url}{where}: no such bucket {bucket!r}") from None
        return
    with _errors(url, "write", endpoint_url):
        Path(path).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
