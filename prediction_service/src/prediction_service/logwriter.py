"""Prediction log writer: off the request path, in batches, never losing a row.

Request handlers put rows on an in-memory queue (no I/O), one queue item per request (a
batch request's rows travel together). One background thread takes them in batches and
writes them in one transaction. When the database fails, the batch is
appended to a local spool file (JSON lines, fsynced) and the writer keeps spooling until a
retry of the database succeeds; then the spool is replayed and removed. Inserts are
idempotent on the request id, so a replay that is interrupted and repeated writes nothing
twice. `close()` flushes the queue (to the database, or to the spool when it is down).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from mlops_core import predlog

log = logging.getLogger("prediction_service.logwriter")

_STOP = object()

# A queue item: the kind ("p" prediction, "f" feedback) and the rows of one request.
Item = tuple[str, list[dict[str, Any]]]
Row = tuple[str, dict[str, Any]]


def _rows(items: list[Item]) -> list[Row]:
    return [(kind, row) for kind, rows in items for row in rows]


@dataclass
class WriterStats:
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    failures: int = 0
    dropped: int = 0


def _encode_row(kind: str, row: dict[str, Any]) -> bytes:
    return orjson.dumps({"kind": kind, **row}) + b"\n"


def _decode_row(line: bytes) -> tuple[str, dict[str, Any]]:
    row = orjson.loads(line)
    kind = row.pop("kind")
    created = row.get("created_at")
    if isinstance(created, str):
        row["created_at"] = datetime.fromisoformat(created)
    return kind, row


class PredictionLogWriter:
    def __init__(
        self,
        url: str,
        spool_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        retry_interval: float = 2.0,
        queue_max: int = 200_000,
    ) -> None:
        """`queue_max` bounds the rows held in memory; beyond it rows go to the spool."""
        self.url = url
        self.engine = predlog.create_engine(url)
        self.spool_dir = spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        # One spool per process: several workers never interleave their writes.
        self.spool_path = spool_dir / f"spool-{os.getpid()}.jsonl"
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_interval = retry_interval
        self.queue_max = queue_max
        self.queue: queue.Queue = queue.Queue()
        self._queued_rows = 0
        self._count_lock = threading.Lock()
        self.stats = WriterStats()
        self.db_ok = True
        self._next_retry = 0.0
        self._spool_rows = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    # -- request side ---------------------------------------------------------------------
    def log_prediction(self, row: dict[str, Any]) -> None:
        self._put("p", [row])

    def log_predictions(self, rows: list[dict[str, Any]]) -> None:
        """The rows of one batch request, as one queue item."""
        if rows:
            self._put("p", rows)

    def log_feedback(self, row: dict[str, Any]) -> None:
        self._put("f", [row])

    def _put(self, kind: str, rows: list[dict[str, Any]]) -> None:
        with self._count_lock:
            full = self._queued_rows + len(rows) > self.queue_max
            if not full:
                self._queued_rows += len(rows)
        # Past the bound the rows go straight to the spool; but never wait for the spool
        # while the writer holds it (replaying a long outage): then they stay in memory.
        if full and self._lock.acquire(blocking=False):
            try:
                self._append_spool([(kind, row) for row in rows])
            finally:
                self._lock.release()
            return
        if full:
            with self._count_lock:
                self._queued_rows += len(rows)
        self.queue.put_nowait((kind, rows))

    def _taken(self, items: list[Item]) -> None:
        n = sum(len(rows) for _, rows in items)
        with self._count_lock:
            self._queued_rows -= n

    @property
    def queue_depth(self) -> int:
        """Rows waiting in memory for the writer."""
        return self._queued_rows

    @property
    def spool_rows(self) -> int:
        return self._spool_rows

    @property
    def spool_bytes(self) -> int:
        total = 0
        for p in self._spool_files():
            with contextlib.suppress(OSError):
                total += p.stat().st_size
        return total

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            self._spool_rows = self._count_spool()
            self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued (to the database, or the spool) and stop the thread."""
        if self._started:
            self.queue.put(_STOP)
            self._thread.join(timeout)
        self.engine.dispose()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty and written (for tests and admin)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    # -- writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            items: list[Item] = []
            try:
                first = self.queue.get(timeout=self.flush_interval)
            except queue.Empty:
                first = None
            if first is _STOP:
                stopping = True
                self.queue.task_done()
            elif first is not None:
                items.append(first)
                n = len(first[1])
                deadline = time.monotonic() + self.flush_interval
                while n < self.batch_size:
                    try:
                        nxt = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        self.queue.task_done()
                        break
                    items.append(nxt)
                    n += len(nxt[1])
            self._taken(items)
            rows = _rows(items)
            try:
                self._handle(rows, final=stopping)
            except Exception:  # the writer must survive anything
                log.exception("prediction log writer failed; rows kept in the spool")
                with self._lock:
                    self._append_spool(rows)
            finally:
                for _ in items:
                    self.queue.task_done()
        # Drain anything that arrived after the stop marker.
        rest: list[Item] = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            self.queue.task_done()
            if item is not _STOP:
                rest.append(item)
        self._taken(rest)
        if rest:
            self._handle(_rows(rest), final=True)

    def _handle(self, items: list[Row], *, final: bool) -> None:
        now = time.monotonic()
        with self._lock:
            if not self.db_ok or self._spool_rows:
                if now >= self._next_retry or final:
                    self._try_replay()
                if not self.db_ok or self._spool_rows:
                    if items:
                        self._append_spool(items)
                    return
            if items and not self._write(items):
                self._append_spool(items)

    def _write(self, items: list[Row]) -> bool:
        preds = [row for kind, row in items if kind == "p"]
        fbs = [row for kind, row in items if kind == "f"]
        try:
            try:
                with self.engine.begin() as conn:
                    predlog.write_rows(conn, preds, fbs)
            except sa.exc.IntegrityError:
                # Feedback for a prediction the log does not hold: keep the rest.
                with self.engine.begin() as conn:
                    predlog.write_rows(conn, preds)
                    ids = [r["request_id"] for r in fbs]
                    known = set(
                        conn.execute(
                            sa.select(predlog.predictions.c.request_id).where(
                                predlog.predictions.c.request_id.in_(ids)
                            )
                        ).scalars()
                    )
                    predlog.write_rows(conn, [], [r for r in fbs if r["request_id"] in known])
                dropped = sum(1 for r in fbs if r["request_id"] not in known)
                self.stats.dropped += dropped
                log.warning("dropped feedback for unknown predictions", extra={"rows": dropped})
        except Exception as exc:
            self.stats.failures += 1
            self.db_ok = False
            self._next_retry = time.monotonic() + self.retry_interval
            log.warning(
                "prediction log database unavailable; spooling rows",
                extra={"error": f"{type(exc).__name__}: {str(exc)[:200]}"},
            )
            return False
        self.db_ok = True
        self.stats.written += len(items)
        return True

    # -- spool ----------------------------------------------------------------------------
    def _spool_files(self) -> list[Path]:
        """Frozen replay files first (oldest first), then live spools: the order rows
        were written, so feedback never comes before its prediction."""
        frozen = sorted(self.spool_dir.glob("replay-*.jsonl"))
        return frozen + sorted(self.spool_dir.glob("spool-*.jsonl"))

    def _append_spool(self, items: list[Row]) -> None:
        if not items:
            return
        data = b"".join(_encode_row(kind, row) for kind, row in items)
        with open(self.spool_path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self._spool_rows += len(items)
        self.stats.spooled += len(items)

    def _count_spool(self) -> int:
        n = 0
        for p in self._spool_files():
            with contextlib.suppress(OSError), open(p, "rb") as f:
                n += sum(1 for line in f if line.strip())
        return n

    def _iter_spool(self, path: Path) -> Iterator[Row]:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    try:
                        yield _decode_row(line)
                    except (orjson.JSONDecodeError, KeyError, ValueError):
                        # A torn last line from a crash: skip it, the rest is intact.
                        log.warning("skipping an unreadable spool line", extra={"file": str(path)})

    def _try_replay(self) -> None:
        """Replay every spool file (this process's and any left by an earlier one)."""
        self._next_retry = time.monotonic() + self.retry_interval
        # Freeze live spools first, so appends during the replay go to a new file.
        for live in sorted(self.spool_dir.glob("spool-*.jsonl")):
            with contextlib.suppress(OSError):
                live.rename(self.spool_dir / f"replay-{time.time_ns():020d}-{live.stem}.jsonl")
        for replaying in sorted(self.spool_dir.glob("replay-*.jsonl")):
            batch: list[Row] = []
            ok = True
            for item in self._iter_spool(replaying):
                batch.append(item)
                if len(batch) >= 2000:
                    ok = self._write(batch)
                    if not ok:
                        break
                    batch = []
            if ok and batch:
                ok = self._write(batch)
            if not ok:
                return
            n = sum(1 for _ in self._iter_spool(replaying))
            replaying.unlink(missing_ok=True)
            self.stats.replayed += n
            # _write counted replayed rows as written too; keep `written` for fresh rows only.
            self.stats.written -= n
            log.info("replayed spooled prediction log rows", extra={"rows": n})
        self._spool_rows = self._count_spool()
        self.db_ok = True
