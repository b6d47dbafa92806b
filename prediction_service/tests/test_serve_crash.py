"""A prediction log that survives a crash: a real `mlops serve` killed with SIGKILL in the
middle of a burst, then started again on the same home: every request that got a 200 has
exactly one row in the log. On SQLite and PostgreSQL.

The writer is told to wait 3 s before it writes a batch, so when the kill comes most
answered rows are not in the database yet (the test checks that it was so: without the
journal they would be lost)."""

from __future__ import annotations

import asyncio
import signal
import threading

import httpx
import psutil
import pytest
import sqlalchemy as sa
from serve_helpers import metric

from mlops_core import predlog

SLOW_WRITER = {
    "MLOPS_SERVE_LOG_FLUSH_INTERVAL": "3.0",
    "MLOPS_SERVE_LOG_BATCH_SIZE": "100000",
}


def _burst_until_killed(url, records, prefix, answered_before_kill, kill, concurrency=8):
    """POST records with X-Request-ID prefix-i; after `answered_before_kill` 200s, call
    `kill()` (the burst goes on against the dead server). The ids that got a 200."""
    ok: list[str] = []
    attempted: list[str] = []
    fired = threading.Event()

    async def run() -> None:
        it = iter(range(len(records)))
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:

            async def worker() -> None:
                for i in it:
                    rid = f"{prefix}-{i}"
                    attempted.append(rid)
                    try:
                        r = await client.post(
                            "/v1/predict", json=records[i], headers={"X-Request-ID": rid}
                        )
                    except httpx.HTTPError:
                        if fired.is_set():
                            return  # the server is gone
                        raise
                    if r.status_code == 200:
                        assert r.json()["request_id"] == rid
                        ok.append(rid)
                    if len(ok) >= answered_before_kill and not fired.is_set():
                        fired.set()
                        kill()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())
    assert fired.is_set(), "the burst ended before the kill"
    return ok, attempted


def _ids_in_log(url: str, prefix: str) -> list[str]:
    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(predlog.predictions.c.request_id).where(
                        predlog.predictions.c.request_id.like(f"{prefix}-%")
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def log_url(request, tmp_path_factory):
    """(home, prediction log URL, extra env) of the server under test."""
    home = tmp_path_factory.mktemp("crash-home")
    if request.param == "sqlite":
        return home, f"sqlite:///{home / 'predictions.db'}", {}
    url = request.getfixturevalue("postgres_url")
    return home, url, {"MLOPS_PREDICTION_LOG_URL": url}


@pytest.mark.slow
def test_sigkill_mid_burst_loses_no_answered_row(start_server, records, log_url):
    home, url, env = log_url
    prefix = f"crash-{'pg' if env else 'lite'}"
    server = start_server({**SLOW_WRITER, **env}, home=home)
    # The log's database writes run in a process of the service's (logproc.py).
    helpers = psutil.Process(server.proc.pid).children()
    assert any("prediction_service.logproc" in " ".join(c.cmdline()) for c in helpers)
    ok, attempted = _burst_until_killed(
        server.url,
        records[:2000],
        prefix,
        answered_before_kill=300,
        kill=lambda: server.proc.send_signal(signal.SIGKILL),
    )
    assert server.proc.wait(10) == -signal.SIGKILL
    _, alive = psutil.wait_procs(helpers, timeout=10)
    assert not alive, "a process of the killed service lived on"
    before = set(_ids_in_log(url, prefix))
    # The kill came while answered rows were still waiting for the writer.
    assert len(before) < len(ok), "every row was in the database already: nothing tested"
    assert list((home / "prediction-journal").glob("seg-*.wal"))

    # Restart on the same home: the journal is shipped before the service is ready.
    again = start_server({**SLOW_WRITER, **env}, home=home)
    logged = _ids_in_log(url, prefix)
    assert len(logged) == len(set(logged))
    missing = set(ok) - set(logged)
    assert not missing, f"{len(missing)} answered requests have no log row"
    # Nothing but what was sent: a request killed after its journal write and before its
    # answer has a row too (it was predicted), never a row for a request not sent.
    assert set(logged) <= set(attempted)
    health = httpx.get(again.url + "/v1/health/ready", timeout=10).json()
    assert health["prediction_log"] == "up"
    assert metric(again.url, "mlops_prediction_log_journal_rows") == 0
    assert metric(again.url, "mlops_prediction_log_spool_rows") == 0
    # A graceful stop after the replay leaves an empty journal.
    assert again.stop() in (0, -signal.SIGTERM)
    assert not list((home / "prediction-journal").glob("seg-*.wal"))
