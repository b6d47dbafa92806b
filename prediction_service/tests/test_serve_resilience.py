"""The prediction log survives its database going away: rows wait in the journal while it
is down and are shipped when it is back; a graceful shutdown flushes everything; nothing is
written twice. SQLite (locked by another process's exclusive transaction) and PostgreSQL (cut off
behind a TCP proxy the test controls; the shared server itself is never stopped)."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time

import httpx
import pytest
import sqlalchemy as sa
from serve_helpers import burst, count_ids, metric, wait_for_rows

from prediction_service.journal import read_segment

# uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15.
GRACEFUL = (0, -15)

LOG_ENV = {
    "MLOPS_SERVE_LOG_FLUSH_INTERVAL": "0.05",
    "MLOPS_SERVE_LOG_RETRY_INTERVAL": "0.5",
    "MLOPS_SERVE_LOG_BATCH_SIZE": "50",
}


@contextlib.contextmanager
def sqlite_locked(path):
    """Hold an exclusive lock on the SQLite file: every writer gets 'database is locked'."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _burst_in_background(url, records, prefix, concurrency=8):
    out: dict = {}

    def run() -> None:
        out["results"] = burst(url, records, prefix, concurrency)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


@pytest.mark.slow
def test_sqlite_unavailable_mid_burst_loses_no_row(start_server, records):
    server = start_server(LOG_ENV)
    db = server.home / "predictions.db"
    url = f"sqlite:///{db}"
    assert all(s == 200 for s, _ in burst(server.url, records[:50], "warm"))
    assert wait_for_rows(url, "warm", 50) == 50

    thread, out = _burst_in_background(server.url, records[:600], "mid")
    time.sleep(0.3)
    with sqlite_locked(db):
        thread.join(120)
        # Serving went on while the log could not be written.
        assert all(status == 200 for status, _ in out["results"])
        deadline = time.monotonic() + 30
        while metric(server.url, "mlops_prediction_log_spool_rows") == 0:
            assert time.monotonic() < deadline, "nothing was spooled"
            time.sleep(0.2)
        ready = httpx.get(server.url + "/v1/health/ready").json()
        assert ready["prediction_log"] == "spooling"
    assert wait_for_rows(url, "mid", 600) == 600
    deadline = time.monotonic() + 30
    while metric(server.url, "mlops_prediction_log_spool_rows") != 0:
        assert time.monotonic() < deadline, "the spool was not replayed"
        time.sleep(0.2)
    assert count_ids(url, "mid") == 600
    # Shipped: at most the active journal segment is left (deleted when it is full).
    assert len(list((server.home / "prediction-journal").glob("seg-*.wal"))) <= 1


@pytest.mark.slow
def test_shutdown_while_database_down_spools_and_next_start_replays(start_server, records):
    server = start_server(LOG_ENV)
    db = server.home / "predictions.db"
    url = f"sqlite:///{db}"
    assert all(s == 200 for s, _ in burst(server.url, records[:10], "pre"))
    assert wait_for_rows(url, "pre", 10) == 10
    with sqlite_locked(db):
        results = burst(server.url, records[:300], "down", concurrency=8)
        assert all(status == 200 for status, _ in results)
        # SIGTERM right away: the rows the database did not take stay in the journal.
        assert server.stop() in GRACEFUL
        journaled = {
            row["request_id"]
            for p in (server.home / "prediction-journal").glob("seg-*.wal")
            for _, rows in read_segment(p)
            for row in rows
        }
        assert {f"down-{i}" for i in range(300)} <= journaled
    assert count_ids(url, "down") == 0
    again = start_server(LOG_ENV, home=server.home)
    assert wait_for_rows(url, "down", 300) == 300
    assert count_ids(url, "pre") == 10
    assert again.url


def test_graceful_shutdown_flushes_the_queue(start_server, records):
    server = start_server({"MLOPS_SERVE_LOG_FLUSH_INTERVAL": "2.0"})
    url = f"sqlite:///{server.home / 'predictions.db'}"
    results = burst(server.url, records[:200], "flush", concurrency=8)
    assert all(status == 200 for status, _ in results)
    assert server.stop() in GRACEFUL
    assert count_ids(url, "flush") == 200


class TcpProxy:
    """127.0.0.1:port -> upstream; `cut()` closes the listener and every connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        from mlops_core.services import free_port

        self.upstream = upstream
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets = []


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_unreachable_mid_burst_loses_no_row(start_server, records, postgres_url):
    real = sa.engine.make_url(postgres_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.start()
    via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        server = start_server({**LOG_ENV, "MLOPS_PREDICTION_LOG_URL": via_proxy})
        assert all(s == 200 for s, _ in burst(server.url, records[:50], "pgwarm"))
        assert wait_for_rows(postgres_url, "pgwarm", 50) == 50

        thread, out = _burst_in_background(server.url, records[:600], "pgmid")
        time.sleep(0.3)
        proxy.cut()
        thread.join(120)
        assert all(status == 200 for status, _ in out["results"])
        deadline = time.monotonic() + 30
        while metric(server.url, "mlops_prediction_log_database_up") == 1.0:
            assert time.monotonic() < deadline, "the writer never noticed the outage"
            time.sleep(0.2)
        proxy.start()
        assert wait_for_rows(postgres_url, "pgmid", 600) == 600
        # Feedback goes through the same queue and joins its prediction.
        r = httpx.post(server.url + "/v1/feedback", json={"request_id": "pgmid-1", "label": 2.0})
        assert r.status_code == 202
        assert server.stop() in GRACEFUL
        assert count_ids(postgres_url, "pgmid") == 600
        from mlops_core import predlog

        assert count_ids(postgres_url, "pgmid", predlog.feedback) == 1
    finally:
        proxy.cut()
