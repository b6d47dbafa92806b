"""Prediction log writer: durable before the answer, written to the database off the
request path, in batches, never losing a row.

A request handler's rows go first to the local journal (journal.py: one `os.write` a
request, so a process killed with SIGKILL has lost none of the rows it answered), then onto
an in-memory queue, one item per request (a batch request's rows travel together). One
background thread takes the queue in batches and writes them in one transaction; after each
commit it advances the journal's checkpoint (a segment whose rows are all in the database is
deleted).

The journal is also the spool: when the database fails, or the queue passes its bound, the
writer falls "behind": requests still append to the journal but no longer queue, and the
writer ships the journal from its checkpoint once a retry of the database succeeds, then
queues again. Inserts are idempotent on the request id, so rows shipped twice (a restart
replays what its checkpoint had not yet deleted) are written once. On start, the journal of
a process that died (same folder, same database) is adopted and shipped before serving.
`close()` flushes the queue; with the database down the rows stay in the journal for the
next start.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from mlops_core import predlog
from prediction_service.journal import Journal, Pos, encode, target_id
from prediction_service.logproc import WriteFailed, WriterProcess, write_batch

log = logging.getLogger("prediction_service.logwriter")

_STOP = object()

# A queue item: the kind ("p" prediction, "f" feedback), the rows of one request and the
# journal position just past them (None when the journal could not be written).
Item = tuple[str, list[dict[str, Any]], Pos | None]
Row = tuple[str, dict[str, Any]]

_REPLAY_ROWS = 2000  # rows a transaction when shipping the journal
_GATHER_POLL = 0.005  # seconds between looks at the queue while a batch fills


def _rows(items: list[Item]) -> list[Row]:
    return [(kind, row) for kind, rows, _ in items for row in rows]


@dataclass
class WriterStats:
    written: int = 0  # rows written from memory
    spooled: int = 0  # rows that went to the journal only (database down, queue full)
    replayed: int = 0  # rows shipped from the journal
    failures: int = 0
    dropped: int = 0
    journal_errors: int = 0


class PredictionLogWriter:
    def __init__(
        self,
        url: str,
        journal_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        retry_interval: float = 2.0,
        queue_max: int = 200_000,
        fsync: bool = False,
        segment_bytes: int = 1 << 20,
        legacy_spool_dir: Path | None = None,
        process: bool = False,
    ) -> None:
        """`queue_max` bounds the rows held in memory; beyond it rows wait in the journal;
        `process`: the database writes run in a process of their own (logproc.py).
        Raises BadInput naming `journal_dir` when it cannot be written."""
        self.url = url
        self.journal_dir = Path(journal_dir)
        self.journal = Journal(
            self.journal_dir, target=target_id(url), fsync=fsync, segment_bytes=segment_bytes
        )
        # The journal holds every row first, fsynced only with `fsync`: the database's
        # commits need no more than that (an fsync a commit cost a fifth of the writer).
        self.engine = predlog.create_engine(url, sync_commits=fsync)
        self.process = WriterProcess(url, sync_commits=fsync) if process else None
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_interval = retry_interval
        self.queue_max = queue_max
        self.queue: queue.Queue = queue.Queue()
        self.stats = WriterStats()
        self.db_ok = True
        self._next_retry = 0.0
        # Serializes journal appends with their queue puts (the same order in both), and
        # the writer's checkpoints and its switch between queue and journal.
        self._lock = threading.Lock()
        self._queued_rows = 0
        self._appended_rows = self.journal.adopted_rows
        self._shipped_rows = 0
        self._shipped: Pos = (0, 0)
        self._behind = False
        self._held: list[Row] = []  # rows the journal could not take (disk full)
        self._last_journal_error = 0.0
        if legacy_spool_dir is not None:
            self._import_spool(Path(legacy_spool_dir))
        # Adopted segments (rows of a dead process) and imported spool rows are shipped
        # before anything else.
        self._behind = self._appended_rows > 0 or any(
            s.closed for s in self.journal.segments.values()
        )
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._started = False

    # -- request side ---------------------------------------------------------------------
    def log_prediction(self, row: dict[str, Any]) -> None:
        self._put("p", [row])

    def log_predictions(self, rows: list[dict[str, Any]]) -> None:
        """The rows of one batch request: one journal record, one queue item."""
        if rows:
            self._put("p", rows)

    def log_feedback(self, row: dict[str, Any]) -> None:
        self._put("f", [row])

    def _put(self, kind: str, rows: list[dict[str, Any]]) -> None:
        record = encode(kind, rows)
        n = len(rows)
        with self._lock:
            try:
                pos: Pos | None = self.journal.append(record, n)
                self._appended_rows += n
            except OSError as exc:
                pos = None
                self._journal_failed(exc)
            if pos is not None and (self._behind or self._queued_rows + n > self.queue_max):
                # The rows wait in the journal; the writer ships it when it can.
                self._behind = True
                self.stats.spooled += n
                return
            self._queued_rows += n
            self.queue.put_nowait((kind, rows, pos))

    def _journal_failed(self, exc: OSError) -> None:
        """The disk refused a record (full, gone): the rows stay in memory only; said
        loudly, at most every 10 s."""
        self.stats.journal_errors += 1
        now = time.monotonic()
        if now - self._last_journal_error > 10:
            self._last_journal_error = now
            log.error(
                "prediction log journal cannot be written; rows are held in memory only "
                "until it can",
                extra={"folder": str(self.journal_dir), "error": f"{exc}"},
            )

    def _taken(self, items: list[Item]) -> None:
        n = sum(len(rows) for _, rows, _ in items)
        with self._lock:
            self._queued_rows -= n

    @property
    def queue_depth(self) -> int:
        """Rows waiting in memory for the writer."""
        return self._queued_rows

    @property
    def journal_rows(self) -> int:
        """Rows in the journal not yet in the database."""
        return max(0, self._appended_rows - self._shipped_rows)

    @property
    def journal_bytes(self) -> int:
        """Size of the journal's segments on disk."""
        return self.journal.bytes

    @property
    def spool_rows(self) -> int:
        """Rows waiting for the database outside the queue: in the journal while the
        writer is behind (database down, queue full), or held in memory."""
        behind = max(0, self.journal_rows - self._queued_rows) if self._behind else 0
        return behind + len(self._held)

    @property
    def spool_bytes(self) -> int:
        return self.journal.pending(self._shipped) if self._behind else 0

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Ship what an earlier process left in the journal (before serving, so feedback
        finds its predictions), then start the writer thread."""
        if not self._started:
            self._started = True
            if self.process is not None:
                try:  # now, not at the first batch: a process that cannot start is said early
                    self.process.ensure()
                except WriteFailed as exc:
                    log.error("prediction log process not started", extra={"error": f"{exc}"})
            if self._behind:
                try:
                    self._catch_up()
                except Exception:
                    log.exception("prediction log journal not shipped at start; retrying")
            self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued to the database and stop the thread; what the database
        did not take stays in the journal."""
        if self._started:
            self.queue.put(_STOP)
            self._thread.join(timeout)
        with self._lock:
            if self._held:
                self._append_held()
            done = (
                not self._behind
                and not self._held
                and self.queue.empty()
                and self._appended_rows == self._shipped_rows
            )
            self.journal.close(delete=done)
        if self.process is not None:
            self.process.close()
        if self._held:
            log.error(
                "prediction log rows lost: neither the database nor the journal took them",
                extra={"rows": len(self._held), "folder": str(self.journal_dir)},
            )
        elif not done:
            log.warning(
                "prediction log rows left in the journal for the next start",
                extra={"rows": self.journal_rows, "folder": str(self.journal_dir)},
            )
        self.engine.dispose()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty and handled (for tests and admin)."""
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
                stopping = self._gather(items, len(first[1]))
            self._taken(items)
            try:
                self._handle(items, final=stopping)
            except Exception:  # the writer must survive anything; the rows are journaled
                log.exception("prediction log writer failed; its rows stay in the journal")
                self._hold(items)
                with self._lock:
                    self._behind = True
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
        if rest or self._behind:
            self._handle(rest, final=True)

    def _gather(self, items: list[Item], n: int) -> bool:
        """Add what is queued to `items` until a batch is full or the flush interval has
        passed since the first; True when the stop marker came. It looks every few ms
        rather than waking on every put: a wake-up per request would take the GIL from
        the event loop thousands of times a second."""
        deadline = time.monotonic() + self.flush_interval
        while True:
            while n < self.batch_size:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self.queue.task_done()
                    return True
                items.append(nxt)
                n += len(nxt[1])
            left = deadline - time.monotonic()
            if n >= self.batch_size or left <= 0:
                return False
            time.sleep(min(_GATHER_POLL, left))

    def _handle(self, items: list[Item], *, final: bool) -> None:
        if self._behind:
            # Journaled rows are read back from the journal; only rows it did not take
            # are kept from memory.
            self._hold(items)
            if final or time.monotonic() >= self._next_retry:
                self._catch_up()
            if self._behind:
                self.journal.sync()
            return
        fresh = [it for it in items if it[2] is None or it[2] > self._shipped]
        if not fresh:
            return
        if self._write(_rows(fresh)):
            positions = [it[2] for it in fresh if it[2] is not None]
            if positions:
                self._advance(positions[-1], sum(len(it[1]) for it in fresh if it[2]))
        else:
            self._hold(fresh)
            with self._lock:
                self._behind = True

    def _hold(self, items: list[Item]) -> None:
        self._held += [(kind, row) for kind, rows, pos in items if pos is None for row in rows]

    def _advance(self, pos: Pos, rows: int) -> None:
        with self._lock:
            if pos > self._shipped:
                self._shipped = pos
            self._shipped_rows += rows
            shipped = self.journal.checkpoint(self._shipped)
        for path in shipped:
            path.unlink(missing_ok=True)

    def _catch_up(self) -> bool:
        """Ship the journal from the checkpoint to its end (chasing appends), then the held
        rows; on success the writer queues again. False when the database failed."""
        self._next_retry = time.monotonic() + self.retry_interval
        shipped_before = self.stats.replayed
        while True:
            with self._lock:
                end = self.journal.end()
                if self._shipped >= end:
                    # Everything appended so far is in the database: requests queue again.
                    self._behind = False
                    self._shipped_rows = self._appended_rows
                    break
            batch: list[Row] = []
            for pos, kind, rows in self.journal.read(self._shipped, end):
                batch += [(kind, row) for row in rows]
                if len(batch) >= _REPLAY_ROWS:
                    if not self._write(batch, replay=True):
                        return False
                    self._advance(pos, len(batch))
                    batch = []
            if batch and not self._write(batch, replay=True):
                return False
            self._advance(end, len(batch))
        if self._held:
            held, self._held = self._held, []
            if not self._write(held):
                self._held = held + self._held
                with self._lock:
                    self._behind = True
                return False
        if self.stats.replayed > shipped_before:
            log.info(
                "shipped prediction log rows from the journal",
                extra={"rows": self.stats.replayed - shipped_before},
            )
        return True

    def _append_held(self) -> None:
        """At close: put rows the journal refused earlier into it now, if it takes them."""
        kept: list[Row] = []
        for kind, row in self._held:
            try:
                self.journal.append(encode(kind, [row]), 1)
                self._appended_rows += 1
            except OSError:
                kept.append((kind, row))
        self._held = kept

    def _write(self, items: list[Row], *, replay: bool = False) -> bool:
        preds = [row for kind, row in items if kind == "p"]
        fbs = [row for kind, row in items if kind == "f"]
        try:
            if self.process is not None:
                dropped = self.process.write(preds, fbs)
            else:
                dropped = write_batch(self.engine, preds, fbs)
            if dropped:
                self.stats.dropped += dropped
                log.warning("dropped feedback for unknown predictions", extra={"rows": dropped})
        except Exception as exc:
            self.stats.failures += 1
            self.db_ok = False
            self._next_retry = time.monotonic() + self.retry_interval
            log.warning(
                "prediction log database unavailable; rows wait in the journal",
                extra={"error": f"{type(exc).__name__}: {str(exc)[:200]}"},
            )
            return False
        self.db_ok = True
        if replay:
            self.stats.replayed += len(items)
        else:
            self.stats.written += len(items)
        return True

    # -- the spool of earlier versions ------------------------------------------------------
    def _import_spool(self, folder: Path) -> None:
        """Move the JSON-lines spool files an earlier version left (spool-*.jsonl,
        replay-*.jsonl) into the journal, then delete them: one durable path."""
        if not folder.is_dir():
            return
        files = sorted(folder.glob("replay-*.jsonl")) + sorted(folder.glob("spool-*.jsonl"))
        for path in files:
            rows = list(_iter_spool(path))
            start = 0
            while start < len(rows):  # one record per run of one kind, in order
                kind = rows[start][0]
                stop = start
                while stop < len(rows) and rows[stop][0] == kind and stop - start < _REPLAY_ROWS:
                    stop += 1
                chunk = [row for _, row in rows[start:stop]]
                self.journal.append(encode(kind, chunk), len(chunk))
                self._appended_rows += len(chunk)
                start = stop
            self.journal.sync()
            path.unlink()
            log.info(
                "moved an old spool file into the journal",
                extra={"file": str(path), "rows": len(rows)},
            )


def _iter_spool(path: Path) -> Iterator[Row]:
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                kind = row.pop("kind")
            except (orjson.JSONDecodeError, KeyError, AttributeError):
                log.warning("skipping an unreadable spool line", extra={"file": str(path)})
                continue
            created = row.get("created_at")
            if isinstance(created, str):
                with contextlib.suppress(ValueError):
                    row["created_at"] = datetime.fromisoformat(created)
            yield kind, row
