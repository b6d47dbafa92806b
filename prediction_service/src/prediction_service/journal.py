"""An append-only journal of prediction log rows on local disk.

The rows of every answered request are written here in the request path, before the
response is sent, and shipped to the database by the log writer. A process killed with
SIGKILL loses none of them: the record is in the kernel's page cache, which outlives the
process. Only a power loss or a kernel crash can lose the rows not yet in the database,
unless `fsync` is on (each record synced before the answer).

A segment is a preallocated file (posix_fallocate: a full disk is an error when a segment
is opened, never a SIGBUS on a write) mapped into memory (MAP_SHARED); appending a record
is one memory copy into the mapping. No system call on the request path: `os.write` would
release the GIL, and a busy log writer thread could then hold it for up to a switch
interval before the request got it back. A segment is cut to its used size when it is
closed; the zeros after the last record of a segment still open are its free space.

Layout of the journal folder (one per service instance: a pod's emptyDir):

    owner-<id>.lock         flock'ed by the live process <id> for its whole life
    seg-<id>-<seq>.wal      its segments, in order; the last one is being appended
    journal.lock            flock'ed while a starting process adopts orphans

<id> is start time and pid, so a restarted container that gets the same pid is another
owner. A segment is deleted once every row in it is in the database (`checkpoint`): the
segments left are the durable part of the checkpoint, and a restart ships them again, which
writes nothing twice (inserts are idempotent on the request id). The owner file names the
database the rows are for: a process adopts only the orphans of its own database.

A record is an 8-byte header, the body's length and CRC32 (little-endian), and a body of a
4-byte row count, a kind byte (b"p" prediction, b"f" feedback) and the rows as JSON. A torn
record (the process killed mid-copy) fails its length or CRC: it and the rest of its
segment are skipped, with a warning.

Not thread-safe: the log writer serializes `append`, `end` and `checkpoint` with one lock
(an append and its queue item must keep the same order).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import mmap
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from mlops_core.errors import BadInput

log = logging.getLogger("prediction_service.journal")

HEADER = struct.Struct("<II")  # body length, CRC32 of the body
COUNT = struct.Struct("<I")  # rows in the record
# A journal position: (segment number, offset just past a record). Tuples compare in order.
Pos = tuple[int, int]
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_MAX_BODY = 1 << 30  # a longer "length" is garbage, not a record


def target_id(url: str) -> str:
    """Which database the rows are for, without its password: a short hash of the URL."""
    import sqlalchemy as sa

    safe = sa.engine.make_url(url).render_as_string(hide_password=True)
    return hashlib.sha256(safe.encode()).hexdigest()[:16]


def encode(kind: str, rows: list[dict[str, Any]]) -> bytes:
    # default=str: a value JSON has no type for is logged as text, never a failed answer.
    data = orjson.dumps(rows, option=_JSON_OPTIONS, default=str)
    body = COUNT.pack(len(rows)) + kind.encode() + data
    return HEADER.pack(len(body), zlib.crc32(body)) + body


def decode_rows(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    kind = body[4:5].decode()
    rows = orjson.loads(body[5:])
    for row in rows:
        created = row.get("created_at")
        if isinstance(created, str):
            row["created_at"] = datetime.fromisoformat(created)
    return kind, rows


def iter_records(data: bytes, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(offset past the record, body) of each whole record in `data` from `start`; stops
    at the first torn or corrupt one (the caller compares the last offset with len(data))."""
    off, end = start, len(data)
    while off + HEADER.size <= end:
        length, crc = HEADER.unpack_from(data, off)
        stop = off + HEADER.size + length
        if length < COUNT.size + 1 or length > _MAX_BODY or stop > end:
            return
        body = data[off + HEADER.size : stop]
        if zlib.crc32(body) != crc:
            return
        yield stop, body
        off = stop


def read_segment(path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(kind, rows) of each whole record of one segment file (for tools and tests)."""
    for _, body in iter_records(Path(path).read_bytes()):
        yield decode_rows(body)


@dataclass
class Segment:
    seq: int
    path: Path
    size: int
    rows: int
    closed: bool
    synced: bool = False


class Journal:
    def __init__(
        self,
        folder: Path,
        *,
        target: str,
        fsync: bool = False,
        segment_bytes: int = 1 << 20,
    ) -> None:
        """Open the journal in `folder`: take ownership of the segments of dead processes
        of the same database (`target`), then start a segment of this process's own."""
        self.folder = Path(folder)
        self.target = target
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.owner = f"{time.time_ns():020d}-{os.getpid()}"
        self.segments: dict[int, Segment] = {}
        self.adopted_rows = 0
        self._fd = -1
        self._mm: mmap.mmap | None = None
        self._seq = 0
        self._size = 0  # bytes used in the active segment (its capacity is _cap)
        self._cap = 0
        self._lock_fd = -1
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._dir_lock():
                self._own()
                self._adopt()
            self._open(self._seq + 1, 0)
        except OSError as exc:
            self._release()
            raise BadInput(
                f"prediction log journal folder {self.folder} is not writable "
                f"({exc.strerror or exc}); set MLOPS_SERVE_JOURNAL_DIR to a writable folder"
            ) from exc

    # -- ownership --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _dir_lock(self):
        fd = os.open(self.folder / "journal.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _own(self) -> None:
        """Create owner-<id>.lock already locked (written and flock'ed under a temporary
        name, then renamed): no one ever sees it unlocked and takes it for an orphan's."""
        tmp = self.folder / f".owner-{self.owner}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, orjson.dumps({"pid": os.getpid(), "target": self.target}))
        os.rename(tmp, self._lock_path(self.owner))
        self._lock_fd = fd

    def _lock_path(self, owner: str) -> Path:
        return self.folder / f"owner-{owner}.lock"

    def _seg_path(self, owner: str, seq: int) -> Path:
        return self.folder / f"seg-{owner}-{seq:08d}.wal"

    def _adopt(self) -> None:
        """Rename the segments of every dead owner of our database into ours, oldest owner
        first, numbered before our first own segment; then drop their owner files."""
        for tmp in self.folder.glob(".owner-*.tmp"):  # killed before its rename
            with contextlib.suppress(OSError):
                fd = os.open(tmp, os.O_RDWR | os.O_CLOEXEC)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    tmp.unlink()
                finally:
                    os.close(fd)
        owners: dict[str, list[tuple[int, Path]]] = {}
        for path in self.folder.glob("seg-*.wal"):
            owner, _, seq = path.stem[4:].rpartition("-")
            with contextlib.suppress(ValueError):
                owners.setdefault(owner, []).append((int(seq), path))
        locks = {p.stem[6:]: p for p in self.folder.glob("owner-*.lock")}
        dead: list[tuple[str, int | None]] = []
        for owner in sorted(set(owners) | set(locks)):
            if owner == self.owner:
                continue
            fd = None
            if owner in locks:
                try:
                    fd = os.open(locks[owner], os.O_RDWR | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)  # alive: its journal is its own
                    continue
                try:
                    target = orjson.loads(os.pread(fd, 4096, 0) or b"{}").get("target")
                except orjson.JSONDecodeError:
                    target = None  # killed while writing it: it has no segments yet
                if target not in (None, self.target):
                    os.close(fd)  # another database's rows: its own service ships them
                    continue
            elif owner in owners:
                log.warning(
                    "journal segments without an owner file; adopting them",
                    extra={"owner": owner, "folder": str(self.folder)},
                )
            dead.append((owner, fd))
        for owner, fd in dead:
            for _, path in sorted(owners.get(owner, [])):
                self._seq += 1
                mine = self._seg_path(self.owner, self._seq)
                os.rename(path, mine)
                size, rows = self._scan(mine)
                self.segments[self._seq] = Segment(self._seq, mine, size, rows, closed=True)
                self.adopted_rows += rows
            with contextlib.suppress(FileNotFoundError):
                self._lock_path(owner).unlink()
            if fd is not None:
                os.close(fd)
        if dead:
            self._sync_dir()
            if self.adopted_rows:
                log.info(
                    "adopted the prediction log journal of an earlier process",
                    extra={"rows": self.adopted_rows, "segments": len(self.segments)},
                )

    @staticmethod
    def _scan(path: Path) -> tuple[int, int]:
        """(bytes of whole records, rows) of an adopted segment. What follows the last
        whole record is the free space of a segment that was open (zeros), or a torn
        record (the process killed inside its copy): skipped, with a warning."""
        data = path.read_bytes()
        used, rows = 0, 0
        for stop, body in iter_records(data):
            used, rows = stop, rows + COUNT.unpack_from(body)[0]
        if data[used:].strip(b"\0"):
            log.warning(
                "skipped a torn prediction log journal record (a process killed mid-write); "
                "the records before it are intact",
                extra={"file": str(path), "offset": used},
            )
        return used, rows

    def _sync_dir(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- writing ----------------------------------------------------------------------------
    def _open(self, seq: int, need: int) -> None:
        """Start segment `seq`, with room for at least `need` bytes."""
        path = self._seg_path(self.owner, seq)
        cap = max(self.segment_bytes, need)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.posix_fallocate(fd, 0, cap)
            mm = mmap.mmap(fd, cap, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            if self.fsync:
                self._sync_dir()  # the new file's name must survive a power loss too
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd, self._mm, self._cap = fd, mm, cap
        self._seq, self._size = seq, 0
        self.segments[seq] = Segment(seq, path, 0, 0, closed=False)

    def _close_active(self) -> None:
        """Unmap the active segment and cut it to its records."""
        if self._mm is None:
            return
        mm, fd, self._mm, self._fd = self._mm, self._fd, None, -1
        try:
            if self.fsync:
                mm.flush()
            mm.close()
            os.ftruncate(fd, self._size)
        finally:
            os.close(fd)
            self.segments[self._seq].closed = True

    def append(self, record: bytes, rows: int) -> Pos:
        """Copy one encoded record into the active segment; its end position. A segment
        without room for it is closed and a new one opened (an OSError when the disk
        refuses one: nothing is written, and a later append tries again)."""
        n = len(record)
        if self._mm is None or self._size + n > self._cap:
            self._close_active()
            self._open(self._seq + 1, n)
        start = self._size
        self._mm[start : start + n] = record
        if self.fsync:
            # msync of the pages the record touched (the offset must be page-aligned).
            page = start - start % mmap.PAGESIZE
            self._mm.flush(page, start + n - page)
        self._size = start + n
        seg = self.segments[self._seq]
        seg.size, seg.rows = self._size, seg.rows + rows
        return (self._seq, self._size)

    def sync(self) -> None:
        """fdatasync every segment written since the last sync (the writer calls this
        while the database is down, off the request path: the rows waiting for it then
        survive a power loss too, as the spool's did). Thread-safe: it opens the files by
        name, and a segment deleted meanwhile needs no sync."""
        for seg in list(self.segments.values()):
            if seg.synced:
                continue
            closed = seg.closed
            with contextlib.suppress(FileNotFoundError):
                fd = os.open(seg.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fdatasync(fd)
                finally:
                    os.close(fd)
            seg.synced = closed  # the active segment grows: synced again next time

    def end(self) -> Pos:
        return (self._seq, self._size)

    # -- reading and checkpoints ------------------------------------------------------------
    def read(self, start: Pos, end: Pos) -> Iterator[tuple[Pos, str, list[dict[str, Any]]]]:
        """(position past it, kind, rows) of each record after `start` up to `end`. A torn
        or corrupt record ends its segment, with a warning."""
        # list(): the request thread may add a segment meanwhile (a dict copied in C).
        for seq in sorted(s for s in list(self.segments) if start[0] <= s <= end[0]):
            seg = self.segments[seq]
            offset = start[1] if seq == start[0] else 0
            limit = end[1] if seq == end[0] else seg.size
            if offset >= limit:
                continue
            with open(seg.path, "rb") as f:
                f.seek(offset)
                data = f.read(limit - offset)
            last = offset
            for stop, body in iter_records(data):
                last = offset + stop
                try:
                    kind, rows = decode_rows(body)
                except ValueError:  # JSONDecodeError too: its checksum held, its JSON not
                    log.warning(
                        "skipped an undecodable prediction log journal record",
                        extra={"file": str(seg.path), "offset": last},
                    )
                    kind, rows = "p", []
                yield (seq, last), kind, rows
            if last < limit:
                # Never for a segment of this process or one _scan measured: a file
                # changed under us. Skip the rest rather than stop shipping.
                log.warning(
                    "skipped an unreadable prediction log journal record",
                    extra={"file": str(seg.path), "offset": last, "bytes": limit - last},
                )
                yield (seq, limit), "p", []

    def checkpoint(self, shipped: Pos) -> list[Path]:
        """Everything up to `shipped` is in the database: forget the closed segments it
        covers; their paths, for the caller to delete (outside its lock). The active
        segment is closed when the next record does not fit (`append`)."""
        done = [
            s.seq
            for s in self.segments.values()
            if s.closed and (s.seq < shipped[0] or (s.seq == shipped[0] and shipped[1] >= s.size))
        ]
        return [self.segments.pop(seq).path for seq in done]

    def pending(self, shipped: Pos) -> int:
        """Bytes of the journal after `shipped`."""
        total = 0
        for s in list(self.segments.values()):
            if s.seq > shipped[0]:
                total += s.size
            elif s.seq == shipped[0]:
                total += max(0, s.size - shipped[1])
        return total

    @property
    def bytes(self) -> int:
        return sum(s.size for s in list(self.segments.values()))

    # -- closing ----------------------------------------------------------------------------
    def close(self, *, delete: bool) -> None:
        """Stop writing. `delete` (everything is in the database): remove the segments and
        the owner file, so a clean shutdown leaves nothing; otherwise leave them for the
        next process to adopt."""
        self._close_active()
        if delete:
            for seg in self.segments.values():
                seg.path.unlink(missing_ok=True)
            self.segments.clear()
            self._lock_path(self.owner).unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
