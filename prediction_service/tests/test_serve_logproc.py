"""The prediction log written from a process of its own (logproc.py): the same rows as from
a thread, on SQLite and PostgreSQL, and nothing lost when that process dies or the database
refuses it."""

from __future__ import annotations

import os
import signal
import time

import psutil
import sqlalchemy as sa
from serve_helpers import log_row

from mlops_core import predlog
from prediction_service.db import migrate
from prediction_service.logwriter import PredictionLogWriter


def _writer(url, tmp_path, **kw):
    return PredictionLogWriter(
        url,
        tmp_path / "journal",
        batch_size=100,
        flush_interval=0.02,
        retry_interval=0.05,
        process=True,
        **kw,
    )


def _rows_like(url: str, prefix: str) -> dict[str, dict]:
    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(predlog.predictions).where(
                    predlog.predictions.c.request_id.like(f"{prefix}-%")
                )
            ).mappings()
            return {r["request_id"]: dict(r) for r in found}
    finally:
        engine.dispose()


def _label(url: str, rid: str):
    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(predlog.feedback.c.label).where(predlog.feedback.c.request_id == rid)
            ).scalar()
    finally:
        engine.dispose()


def _wait_for(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_the_process_writes_each_row_once_as_the_thread_does(log_db, tmp_path):
    prefix = f"lp{os.getpid()}{time.time_ns() % 10**6}"
    writer = _writer(log_db, tmp_path)
    writer.start()
    for i in range(250):
        writer.log_prediction(log_row(i, prefix))
    writer.log_predictions([log_row(i, prefix) for i in range(40, 90)])  # ids seen before
    for label in (9.0, 10.0):  # the later label replaces the earlier
        writer.log_feedback(
            {"request_id": f"{prefix}-3", "label": label, "created_at": predlog.utcnow()}
        )
    assert writer.flush(20)
    child = writer.process.pid
    assert child is not None and psutil.Process(child).ppid() == os.getpid()
    writer.close()
    rows = _rows_like(log_db, prefix)
    assert len(rows) == 250
    assert rows[f"{prefix}-7"]["features"] == {"x": 7, "c": "yes"}
    assert rows[f"{prefix}-7"]["prediction"] == 7.0
    assert rows[f"{prefix}-7"]["created_at"] is not None
    assert _label(log_db, f"{prefix}-3") == 10.0
    assert writer.stats.failures == 0 and writer.process.starts == 1
    assert not psutil.pid_exists(child)  # ended and reaped by close()


def test_a_killed_writer_process_loses_no_row(sqlite_log, tmp_path):
    writer = _writer(sqlite_log, tmp_path)
    writer.start()
    writer.log_predictions([log_row(i, "k1") for i in range(100)])
    assert writer.flush(20) and len(_rows_like(sqlite_log, "k1")) == 100
    os.kill(writer.process.pid, signal.SIGKILL)
    for i in range(100):
        writer.log_prediction(log_row(i, "k2"))
    assert _wait_for(lambda: len(_rows_like(sqlite_log, "k2")) == 100), writer.stats
    writer.close()
    assert writer.process.starts == 2
    assert len(_rows_like(sqlite_log, "k1")) == 100
    assert writer.spool_rows == 0 and writer.journal_rows == 0


def test_rows_the_process_could_not_write_wait_in_the_journal(tmp_path):
    """The log has no tables yet: every write of the process fails, the rows stay in the
    journal; once the log is migrated, the writer ships them."""
    url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    writer = _writer(url, tmp_path)
    writer.start()
    for i in range(60):
        writer.log_prediction(log_row(i, "down"))
    assert _wait_for(lambda: writer.stats.failures > 0)
    assert not writer.db_ok and writer.spool_rows == 60
    migrate(url)
    assert _wait_for(lambda: writer.spool_rows == 0 and writer.db_ok), writer.stats
    writer.close()
    assert len(_rows_like(url, "down")) == 60
    assert writer.stats.replayed == 60
    assert writer.process.starts == 1  # a refused batch is an answer, not a dead process


def test_the_process_ends_when_its_service_is_killed(sqlite_log, tmp_path):
    """The pipe from a SIGKILLed parent closes: the writer process ends with it."""
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from prediction_service.logwriter import PredictionLogWriter\n"
        "w = PredictionLogWriter(sys.argv[1], Path(sys.argv[2]), process=True)\n"
        "w.start(); w.log_prediction({'request_id': 'orphan-1', 'created_at': "
        "__import__('mlops_core.predlog').predlog.utcnow(), 'model_name': 'm', "
        "'model_version': '1', 'features': {}, 'prediction': 1.0, 'latency_ms': 1.0})\n"
        "w.flush(20); print(w.process.pid, flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code, sqlite_log, str(tmp_path / "journal")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        assert child.ppid() == parent.pid
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _, alive = psutil.wait_procs([child], timeout=10)
        assert not alive, "the writer process outlived its service"
    finally:
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
    assert len(_rows_like(sqlite_log, "orphan")) == 1
