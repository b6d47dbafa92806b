"""The prediction log journal on its own: what a killed process leaves is adopted and
shipped once, a torn record is skipped, shipped segments are deleted, a folder that cannot
be written is refused at start naming it, and processes never take each other's journal.

A process "dies" here by `_abandon`: its descriptors are closed (its flocks released, as
the kernel does on SIGKILL) and nothing is deleted. test_serve_crash.py kills real ones.
"""

from __future__ import annotations

import logging
import os
import time

import pytest
from serve_helpers import log_row

from mlops_core import predlog
from mlops_core.errors import BadInput
from prediction_service.db import migrate
from prediction_service.journal import Journal, target_id
from prediction_service.logwriter import PredictionLogWriter


@pytest.fixture
def db(sqlite_log):
    return sqlite_log


def _writer(url, folder, **kw) -> PredictionLogWriter:
    return PredictionLogWriter(url, folder, batch_size=100, flush_interval=0.02, **kw)


def _abandon(writer: PredictionLogWriter) -> None:
    """What SIGKILL leaves: the files as they are, every lock released."""
    j = writer.journal
    j._mm.close()  # unmapped, not cut to size: the zeros after the last record stay
    os.close(j._fd)
    j._mm, j._fd = None, -1
    j._release()
    writer.engine.dispose()


def _count(url: str, prefix: str) -> int:
    from serve_helpers import count_ids

    return count_ids(url, prefix)


def _segments(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("seg-*.wal"))


def _wait_shipped(writer: PredictionLogWriter, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while writer.journal_rows and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.journal_rows == 0


def test_rows_of_a_killed_process_are_shipped_at_the_next_start(db, tmp_path):
    folder = tmp_path / "journal"
    first = _writer(db, folder)
    for i in range(30):
        first.log_prediction(log_row(i, "j"))
    first.log_predictions([log_row(i, "b") for i in range(20)])
    first.log_feedback({"request_id": "j-3", "label": 7.0, "created_at": predlog.utcnow()})
    _abandon(first)  # never started: nothing reached the database
    assert _count(db, "j") == 0

    second = _writer(db, folder)
    assert second.journal_rows == 51
    second.start()  # ships the adopted journal before serving
    assert _count(db, "j") == 30 and _count(db, "b") == 20
    engine = predlog.create_engine(db)
    assert predlog.count(engine, predlog.feedback) == 1
    engine.dispose()
    second.close()
    assert _segments(folder) == [] and not list(folder.glob("owner-*"))


def test_replay_of_rows_already_in_the_database_writes_nothing_twice(db, tmp_path):
    folder = tmp_path / "journal"
    first = _writer(db, folder)
    first.start()
    for i in range(40):
        first.log_prediction(log_row(i, "dup"))
    _wait_shipped(first)
    # Killed while idle: the writer had shipped the rows, its segment not yet deleted.
    from prediction_service.logwriter import _STOP

    first.queue.put(_STOP)
    first._thread.join(5)
    _abandon(first)
    assert _count(db, "dup") == 40
    assert _segments(folder)  # shipped rows still journaled: they will be shipped again

    second = _writer(db, folder)
    assert second.journal_rows == 40
    second.start()
    assert second.stats.replayed == 40
    second.log_prediction(log_row(40, "dup"))
    second.close()
    assert _count(db, "dup") == 41  # exactly one row per request id


def test_a_torn_last_record_is_skipped_with_a_warning(db, tmp_path, caplog):
    folder = tmp_path / "journal"
    first = _writer(db, folder)
    for i in range(5):
        first.log_prediction(log_row(i, "torn"))
    seq, used = first.journal.end()
    segment = first.journal.segments[seq].path
    _abandon(first)
    # Killed in the middle of the sixth record's copy: its header and part of its body.
    from prediction_service.journal import encode

    sixth = encode("p", [log_row(5, "torn")])
    data = bytearray(segment.read_bytes())
    data[used : used + len(sixth) // 2] = sixth[: len(sixth) // 2]
    segment.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING, logger="prediction_service.journal"):
        second = _writer(db, folder)  # never a crash at start-up
        second.start()
    assert _count(db, "torn") == 5
    assert any("torn" in r.getMessage() for r in caplog.records)
    second.close()
    assert _segments(folder) == []


def test_a_corrupt_record_is_caught_by_its_checksum(db, tmp_path, caplog):
    folder = tmp_path / "journal"
    first = _writer(db, folder)
    for i in range(3):
        first.log_prediction(log_row(i, "crc"))
    seq, used = first.journal.end()
    segment = first.journal.segments[seq].path
    _abandon(first)
    data = bytearray(segment.read_bytes())
    data[used - 3] ^= 0xFF  # a flipped byte inside the last record's JSON
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="prediction_service.journal"):
        second = _writer(db, folder)
        second.start()
    assert _count(db, "crc") == 2
    assert any("torn" in r.getMessage() for r in caplog.records)
    second.close()


def test_shipped_segments_are_deleted(db, tmp_path):
    folder = tmp_path / "journal"
    writer = _writer(db, folder, segment_bytes=4096)
    writer.start()
    for i in range(300):  # about 150 bytes a record: a dozen segments
        writer.log_prediction(log_row(i, "seg"))
    _wait_shipped(writer)
    # The next checkpoint comes with the next batch: send one and wait for it.
    writer.log_prediction(log_row(300, "seg"))
    _wait_shipped(writer)
    assert writer.stats.written == 301
    # Only the active segment is left, and it holds less than one segment's worth.
    assert len(_segments(folder)) == 1
    assert writer.journal_bytes < 4096
    writer.close()
    assert _segments(folder) == []
    assert _count(db, "seg") == 301


def test_while_the_database_is_down_rows_wait_in_the_journal_across_a_restart(db, tmp_path):
    import sqlalchemy as sa

    folder = tmp_path / "journal"
    blocker = tmp_path / "blocked"
    blocker.write_text("")
    writer = _writer(db, folder, retry_interval=0.05)
    writer.engine.dispose()  # the database "goes away": a folder that is a file
    writer.engine = sa.create_engine(f"sqlite:///{blocker / 'log.db'}")
    writer.start()
    writer.log_predictions([log_row(i, "down") for i in range(25)])
    assert writer.flush(5)
    assert not writer.db_ok and writer.spool_rows == 25
    writer.close()  # graceful, database still down: the rows stay journaled
    assert _segments(folder) and _count(db, "down") == 0
    again = _writer(db, folder)  # the database is back
    again.start()
    assert _count(db, "down") == 25
    again.close()
    assert _segments(folder) == []


def test_a_journal_folder_that_cannot_be_written_is_refused_naming_it(db, tmp_path):
    not_a_folder = tmp_path / "taken"
    not_a_folder.write_text("a file where the journal folder should be")
    with pytest.raises(BadInput) as info:
        _writer(db, not_a_folder)
    assert str(not_a_folder) in info.value.message
    assert "MLOPS_SERVE_JOURNAL_DIR" in info.value.message


def test_a_live_process_journal_is_never_adopted(db, tmp_path):
    folder = tmp_path / "journal"
    alive = _writer(db, folder)
    alive.log_prediction(log_row(1, "alive"))
    dead = _writer(db, folder)
    dead.log_prediction(log_row(1, "dead"))
    _abandon(dead)
    third = _writer(db, folder)  # adopts the dead one's rows only
    assert third.journal_rows == 1
    third.start()
    third.close()
    assert _count(db, "dead") == 1 and _count(db, "alive") == 0
    alive.start()
    alive.close()
    assert _count(db, "alive") == 1
    assert _segments(folder) == [] and not list(folder.glob("owner-*"))


def test_another_databases_journal_is_left_alone(db, tmp_path):
    folder = tmp_path / "journal"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    migrate(other)
    theirs = _writer(other, folder)
    theirs.log_prediction(log_row(1, "theirs"))
    _abandon(theirs)
    mine = _writer(db, folder)
    assert mine.journal_rows == 0
    mine.start()
    mine.close()
    assert len(_segments(folder)) == 1  # still theirs
    back = _writer(other, folder)
    back.start()
    back.close()
    assert _count(other, "theirs") == 1
    assert _segments(folder) == []


def test_target_id_hides_the_password():
    a = target_id("postgresql+psycopg://u:secret@h:5432/db")
    b = target_id("postgresql+psycopg://u:other@h:5432/db")
    assert a == b and "secret" not in a


def test_journal_rotates_and_reads_across_segments(tmp_path):
    from prediction_service.journal import encode

    j = Journal(tmp_path / "j", target="t", segment_bytes=4096)
    positions = [j.append(encode("p", [log_row(i, "j")]), 1) for i in range(100)]
    assert len(j.segments) > 3
    # Closed segments are cut to their records; the active one is preallocated.
    closed = [seg for seg in j.segments.values() if seg.closed]
    assert all(seg.path.stat().st_size == seg.size for seg in closed)
    read = list(j.read((0, 0), j.end()))
    assert [pos for pos, _, _ in read] == positions
    assert [rows[0]["request_id"] for _, _, rows in read] == [f"j-{i}" for i in range(100)]
    assert read[0][2][0]["created_at"].tzinfo is not None
    j.close(delete=True)
    assert not list((tmp_path / "j").glob("seg-*"))


def test_after_an_outage_the_writer_ships_from_its_checkpoint(db, tmp_path):
    """Rows written before the outage are not shipped again: the catch-up starts at the
    checkpoint, in the middle of a segment."""
    import sqlalchemy as sa

    writer = _writer(db, tmp_path / "journal", retry_interval=0.05)
    writer.start()
    for i in range(20):
        writer.log_prediction(log_row(i, "pre"))
    _wait_shipped(writer)
    good = writer.engine
    blocker = tmp_path / "blocked"
    blocker.write_text("")
    writer.engine = sa.create_engine(f"sqlite:///{blocker / 'log.db'}")
    for i in range(15):
        writer.log_prediction(log_row(i, "out"))
    assert writer.flush(5)
    deadline = time.monotonic() + 5
    while writer.db_ok and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not writer.db_ok
    writer.engine.dispose()
    writer.engine = good
    _wait_shipped(writer)
    assert writer.stats.replayed == 15
    writer.close()
    assert _count(db, "pre") == 20 and _count(db, "out") == 15
