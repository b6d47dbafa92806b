"""Helpers of the prediction service's tests: load bursts and prediction log queries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx
import sqlalchemy as sa

from mlops_core import predlog

# The admin key of the test servers (never a real secret).
API_KEY = "test-key-" + "0123456789abcdef"


async def _burst(url: str, records: Sequence[dict], prefix: str, concurrency: int) -> list:
    results: list = [None] * len(records)
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(len(records)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                try:
                    r = await client.post(
                        "/v1/predict",
                        json=records[i],
                        headers={"X-Request-ID": f"{prefix}-{i}"},
                    )
                    results[i] = (r.status_code, r.json())
                except httpx.HTTPError as exc:
                    results[i] = (None, repr(exc))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def burst(url: str, records: Sequence[dict], prefix: str, concurrency: int = 16) -> list:
    """POST every record to /v1/predict with X-Request-ID prefix-i; (status, body) each."""
    return asyncio.run(_burst(url, records, prefix, concurrency))


def count_ids(url: str, prefix: str, table: sa.Table = predlog.predictions) -> int:
    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.request_id.like(f"{prefix}-%"))
            ).scalar_one()
    finally:
        engine.dispose()


def wait_for_rows(url: str, prefix: str, expected: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        try:
            n = count_ids(url, prefix)
        except sa.exc.OperationalError:
            n = -1
        if n >= expected:
            return n
        time.sleep(0.2)
    return n


def metric(url: str, name: str) -> float:
    """The value of an unlabelled series on the server's /metrics."""
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not exported")
