"""The prediction log's database writes, in a process of their own.

Binding a thousand rows' parameters and stepping SQLite's B-trees held the serving
process's GIL and a core for 3 to 4 ms a thousand rows: the requests, the forest's threads
and the writer took turns for one interpreter lock. The log writer thread (logwriter.py)
keeps every decision (what to write, the journal's checkpoint, retries, catching up); a
batch it has decided to write goes to this process as one JSON frame on a pipe, and the
answer comes back on another. The process holds no state: killed or crashed, its batch
fails as a database failure does (the rows are in the journal) and the next batch starts a
new one. It ends when the pipe from its parent closes, so it never outlives the service.

Frames both ways: a 4-byte little-endian length, then JSON. The first frame to the
process: {"url": ..., "sync_commits": ...} (the URL never on a command line, where `ps`
shows it). Then a batch: {"p": [prediction rows], "f": [feedback rows]}, answered
{"ok": true, "dropped": N} (feedback rows dropped for predictions the log does not hold) or
{"ok": false, "error": "..."}.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import struct
import subprocess
import sys
import threading
from datetime import datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa

from mlops_core import predlog

log = logging.getLogger("prediction_service.logproc")

FRAME = struct.Struct("<I")
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class WriteFailed(Exception):
    """The database did not take the batch (or the process writing it died)."""


def write_batch(engine: sa.Engine, preds: list[dict], fbs: list[dict]) -> int:
    """Write one batch in one transaction; feedback for a prediction the log does not hold
    is dropped and the rest kept. Returns the feedback rows dropped."""
    try:
        with engine.begin() as conn:
            predlog.write_rows(conn, preds, fbs)
        return 0
    except sa.exc.IntegrityError:
        with engine.begin() as conn:
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
        return sum(1 for r in fbs if r["request_id"] not in known)


def _send(pipe: IO[bytes], obj: Any) -> None:
    data = orjson.dumps(obj, option=_JSON_OPTIONS, default=str)
    pipe.write(FRAME.pack(len(data)) + data)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> Any | None:
    """The next frame, or None at the end of the pipe (a torn frame included)."""
    head = pipe.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (length,) = FRAME.unpack(head)
    data = pipe.read(length)
    if len(data) < length:
        return None
    return orjson.loads(data)


def _timestamps(rows: list[dict]) -> list[dict]:
    for row in rows:
        created = row.get("created_at")
        if isinstance(created, str):
            row["created_at"] = datetime.fromisoformat(created)
    return rows


class WriterProcess:
    """The parent's end: `write` sends one batch and waits for the answer. Used by one
    thread at a time (the log writer's)."""

    def __init__(self, url: str, *, sync_commits: bool = False) -> None:
        self.url = url
        self.sync_commits = sync_commits
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _start(self) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prediction_service.logproc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self.starts += 1
        try:
            _send(proc.stdin, {"url": self.url, "sync_commits": self.sync_commits})
        except OSError:
            self._kill(proc)
            raise
        return proc

    def ensure(self) -> subprocess.Popen:
        """The running process, started when there is none; raises WriteFailed."""
        with self._lock:
            return self._running()

    def _running(self) -> subprocess.Popen:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            if proc is not None:
                self._kill(proc)  # it ended between batches: its pipes are closed
            self._proc = None
            try:
                proc = self._proc = self._start()
            except OSError as exc:
                raise WriteFailed(f"the log writer process did not start: {exc}") from exc
        return proc

    def write(self, preds: list[dict], fbs: list[dict]) -> int:
        """Feedback rows dropped; raises WriteFailed when the batch was not written."""
        with self._lock:
            proc = self._running()
            try:
                _send(proc.stdin, {"p": preds, "f": fbs})
                answer = _receive(proc.stdout)
            except (OSError, ValueError) as exc:
                answer = None
                log.warning("prediction log writer process failed", extra={"error": str(exc)})
            if answer is None:  # it died mid-batch: the next batch starts another
                self._kill(proc)
                self._proc = None
                raise WriteFailed(f"the log writer process ended (exit {proc.returncode})")
            if not answer.get("ok"):
                raise WriteFailed(str(answer.get("error")))
            return int(answer.get("dropped", 0))

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            proc.stdin.close()  # the process ends at the end of its input
            proc.wait(timeout)
        self._kill(proc)

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        """Kill the process (if it still runs), reap it and close its pipes."""
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def main() -> int:
    """The process: batches from stdin written to the database, answers on stdout."""
    # The parent decides when this process ends (by closing its input), after its last
    # batch: a Ctrl-C or a SIGTERM to the whole process group must not cut that batch off.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = _receive(stdin)
    if not isinstance(first, dict) or "url" not in first:
        return 2
    engine = predlog.create_engine(first["url"], sync_commits=bool(first.get("sync_commits")))
    try:
        while True:
            batch = _receive(stdin)
            if batch is None:
                return 0
            try:
                dropped = write_batch(engine, _timestamps(batch["p"]), _timestamps(batch["f"]))
                answer: dict[str, Any] = {"ok": True, "dropped": dropped}
            except Exception as exc:
                answer = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            try:
                _send(stdout, answer)
            except BrokenPipeError:  # the parent is gone
                return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
