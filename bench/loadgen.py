"""HTTP/1.1 load generator on keep-alive connections, standard library only.

Two modes, both printing one JSON line (rps, requests, errors, p50/p95/p99/max in ms):
- closed loop (`--concurrency N`): N connections, each sending its next request when the
  last one is answered;
- open loop (`--rate R`): requests start on a fixed schedule, R a second, whatever the
  server is doing, on as many connections as are needed at once. Latency is measured from
  the scheduled start, so a server that stalls is charged for the requests that queued
  behind the stall (no coordinated omission, as in wrk2). The generator's own lateness
  counts against the server too, so the figures are an upper bound.

    python bench/loadgen.py URL BODY_FILE --rate 300 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.parse
from collections import deque

IO_ERRORS = (OSError, asyncio.IncompleteReadError, ValueError, IndexError)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send one request, read the whole response: (status, server closes)."""
        self.writer.write(request)
        status = int((await self.reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        elif length:
            await self.reader.readexactly(length)
        return status, close

    def close(self) -> None:
        self.writer.close()


def build_request(url: str, body: bytes) -> tuple[str, int, bytes]:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return host, port, head.encode() + body


def summary(latencies: list[float], errors: int, elapsed: float) -> dict:
    latencies.sort()

    def q(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": q(0.50),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
    }


async def closed_loop(url: str, body: bytes, concurrency: int, duration: float) -> dict:
    host, port, request = build_request(url, body)
    latencies: list[float] = []
    errors = 0
    conns = [await Connection.open(host, port) for _ in range(concurrency)]
    start = time.perf_counter()

    async def worker(conn: Connection) -> None:
        nonlocal errors
        while time.perf_counter() - start < duration:
            sent = time.perf_counter()
            try:
                status, close = await conn.exchange(request)
            except IO_ERRORS:
                errors += 1
                conn.close()
                conn = await Connection.open(host, port)
                continue
            latencies.append(time.perf_counter() - sent)
            errors += status != 200
            if close:
                conn.close()
                conn = await Connection.open(host, port)
        conn.close()

    await asyncio.gather(*(worker(c) for c in conns))
    return summary(latencies, errors, time.perf_counter() - start)


async def open_loop(url: str, body: bytes, rate: float, duration: float) -> dict:
    host, port, request = build_request(url, body)
    latencies: list[float] = []
    errors = 0
    # Enough warm connections for the usual overlap; more are opened when a stall needs them.
    # First in, first out, so none sits idle past the server's keep-alive timeout.
    idle = deque([await Connection.open(host, port) for _ in range(8)])

    async def one(scheduled: float) -> None:
        nonlocal errors
        for attempt in (1, 2):
            conn = idle.popleft() if idle else None
            try:
                if conn is None:
                    conn = await Connection.open(host, port)
                status, close = await conn.exchange(request)
                break
            except IO_ERRORS:
                if conn is not None:
                    conn.close()
                if attempt == 2:
                    errors += 1
                    return
                # A kept-alive connection the server has just closed: a client retries once.
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200
        if close:
            conn.close()
        else:
            idle.append(conn)

    tasks: set[asyncio.Task] = set()
    start = time.perf_counter()
    total = int(rate * duration)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return summary(latencies, errors, elapsed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("body_file")
    ap.add_argument("--duration", type=float, default=10.0)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--concurrency", type=int, help="closed loop on N connections")
    mode.add_argument("--rate", type=float, help="open loop: requests started per second")
    args = ap.parse_args()
    with open(args.body_file, "rb") as f:
        body = f.read()
    if args.rate:
        result = asyncio.run(open_loop(args.url, body, args.rate, args.duration))
    else:
        result = asyncio.run(closed_loop(args.url, body, args.concurrency, args.duration))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
