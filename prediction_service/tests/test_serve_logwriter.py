"""The prediction log writer on its own: batching, idempotency, and the journal as the
spool while the database is down (test_serve_journal.py tests the journal itself)."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa
from serve_helpers import log_row as _row

from mlops_core import predlog
from prediction_service.db import migrate
from prediction_service.logwriter import PredictionLogWriter


@pytest.fixture
def db(sqlite_log):
    return sqlite_log


def _leftovers(folder):
    """What a writer that shipped everything leaves: nothing but the folder's lock file."""
    return sorted(p.name for p in folder.iterdir() if p.name != "journal.lock")


def _writer(url, tmp_path, **kw):
    return PredictionLogWriter(
        url, tmp_path / "spool", batch_size=100, flush_interval=0.02, retry_interval=0.05, **kw
    )


def test_rows_are_written_once(db, tmp_path):
    writer = _writer(db, tmp_path)
    writer.start()
    for i in range(250):
        writer.log_prediction(_row(i))
    for i in range(50):  # the same request ids again
        writer.log_prediction(_row(i))
    writer.log_feedback({"request_id": "r-3", "label": 9.0, "created_at": predlog.utcnow()})
    writer.log_feedback({"request_id": "r-3", "label": 10.0, "created_at": predlog.utcnow()})
    writer.close()
    engine = predlog.create_engine(db)
    assert predlog.count(engine) == 250
    rows = {r["request_id"]: r for r in predlog.read_predictions(engine)}
    assert rows["r-3"]["label"] == 10.0
    assert rows["r-7"]["features"] == {"x": 7, "c": "yes"}
    assert predlog.read_predictions(engine, limit=2)[-1]["request_id"] == "r-249"
    engine.dispose()


@pytest.mark.parametrize(("fsync", "synchronous"), [(False, 1), (True, 2)])
def test_sqlite_commits_are_fsynced_only_when_the_journal_is(db, tmp_path, fsync, synchronous):
    """The journal holds every row first: SQLite's commits need no stronger guarantee than
    it gives (synchronous NORMAL=1 without fsync, FULL=2 with)."""
    writer = _writer(db, tmp_path, fsync=fsync)
    with writer.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == synchronous
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    writer.engine.dispose()


def test_spool_while_down_then_replay(tmp_path):
    target = tmp_path / "later.db"
    # The database's folder is a file for now: SQLite cannot open it.
    blocker = tmp_path / "blocked"
    blocker.write_text("")
    down_url = f"sqlite:///{blocker / 'log.db'}"
    writer = PredictionLogWriter.__new__(PredictionLogWriter)
    writer.__init__(
        f"sqlite:///{target}",
        tmp_path / "spool",
        batch_size=50,
        flush_interval=0.02,
        retry_interval=0.05,
    )
    writer.engine.dispose()
    writer.engine = sa.create_engine(down_url)
    writer.start()
    for i in range(120):
        writer.log_prediction(_row(i))
    writer.log_feedback({"request_id": "r-1", "label": 1.0, "created_at": predlog.utcnow()})
    assert writer.flush(10)
    assert writer.spool_rows == 121
    assert not writer.db_ok
    # The database comes back.
    migrate(f"sqlite:///{target}")
    writer.engine.dispose()
    writer.engine = predlog.create_engine(f"sqlite:///{target}")
    writer.log_prediction(_row(500))
    import time

    deadline = time.monotonic() + 10
    while writer.spool_rows and time.monotonic() < deadline:
        writer.log_prediction(_row(501))
        time.sleep(0.05)
    writer.close()
    engine = predlog.create_engine(f"sqlite:///{target}")
    assert predlog.count(engine) == 122
    assert predlog.count(engine, predlog.feedback) == 1
    engine.dispose()
    assert writer.stats.replayed >= 121  # plus any r-501 journaled before the retry
    assert _leftovers(tmp_path / "spool") == []


def test_an_old_spool_is_moved_into_the_journal_and_shipped(db, tmp_path):
    """Spool files of the version before the journal (JSON lines, a torn last line) are
    shipped at the next start, and deleted."""
    spool = tmp_path / "old-spool"
    spool.mkdir()
    lines = b"".join(orjson.dumps({"kind": "p", **_row(i, "t")}) + b"\n" for i in range(3))
    (spool / "spool-999999.jsonl").write_bytes(lines + b'{"kind": "p", "request_')
    writer = _writer(db, tmp_path, legacy_spool_dir=spool)
    assert writer.spool_rows == 3
    writer.start()
    writer.log_prediction(_row(1, "u"))
    writer.close()
    engine = predlog.create_engine(db)
    assert predlog.count(engine) == 4
    engine.dispose()
    assert not list(spool.iterdir())
    assert _leftovers(tmp_path / "spool") == []


def test_feedback_for_an_unknown_prediction_does_not_block_the_log(db, tmp_path):
    writer = _writer(db, tmp_path)
    writer.start()
    writer.log_prediction(_row(1))
    writer.log_feedback({"request_id": "ghost", "label": 1.0, "created_at": predlog.utcnow()})
    writer.close()
    engine = predlog.create_engine(db)
    assert predlog.count(engine) == 1
    engine.dispose()
    assert writer.spool_rows == 0
    assert _leftovers(tmp_path / "spool") == []


def test_a_batch_beyond_the_memory_bound_waits_in_the_journal_and_is_not_lost(db, tmp_path):
    writer = _writer(db, tmp_path, queue_max=150)
    first = [_row(i, "b1") for i in range(100)]
    second = [_row(i, "b2") for i in range(100)]
    writer.log_predictions(first)
    writer.log_predictions(second)  # 200 rows would pass the bound of 150
    assert writer.queue_depth == 100
    assert writer.spool_rows == 100
    writer.start()
    writer.close()
    engine = predlog.create_engine(db)
    assert predlog.count(engine) == 200
    engine.dispose()
    assert writer.queue_depth == 0
    assert writer.spool_rows == 0


def test_a_large_batch_is_written_once_across_statements(log_db, tmp_path):
    """Rows are inserted a hundred a statement: a batch that spans several statements, with
    request ids repeated inside it and across calls, leaves exactly one row per id."""
    rows = [_row(i, "big") for i in range(250)]
    rows += [_row(i, "big") for i in range(95, 105)]  # repeats across a statement boundary
    engine = predlog.create_engine(log_db)
    with engine.begin() as conn:
        predlog.write_rows(conn, rows)
    with engine.begin() as conn:
        predlog.write_rows(conn, rows[:120])
    with engine.connect() as conn:
        ids = conn.execute(
            sa.select(predlog.predictions.c.request_id, predlog.predictions.c.features).where(
                predlog.predictions.c.request_id.like("big-%")
            )
        ).all()
    engine.dispose()
    assert len(ids) == 250
    assert dict(ids)["big-101"] == {"x": 101, "c": "yes"}


def test_a_request_never_waits_for_the_writer_shipping_the_journal(db, tmp_path):
    """While the writer ships a backlog from the journal (here: stalled inside a database
    write), requests still journal their rows at once: the writer holds no lock a request
    needs across a database write."""
    import threading

    writer = _writer(db, tmp_path, queue_max=50)
    writer.log_predictions([_row(i, "q") for i in range(80)])  # past the bound: journal only
    inside, release = threading.Event(), threading.Event()
    real = writer._write

    def stalled(items, **kw):
        inside.set()
        assert release.wait(10)
        return real(items, **kw)

    writer._write = stalled
    starting = threading.Thread(target=writer.start)
    starting.start()  # start() ships the journal first: it stalls in the write
    assert inside.wait(5)
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (writer.log_predictions([_row(i, "o") for i in range(30)]), done.set())
    )
    thread.start()
    assert done.wait(5), "the request side waited for the writer"
    release.set()
    thread.join()
    starting.join(10)
    writer.close()
    engine = predlog.create_engine(db)
    assert predlog.count(engine) == 110
    engine.dispose()
