"""The load drivers of the serving benchmarks, each in its own process: wrk (with a Lua body)
for closed loops when installed, and bench/loadgen.py for closed and open loops."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '@@{{"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50":%d,"p95":%d,"p99":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def run_wrk(url: str, body: bytes, concurrency: int, duration: float, tmp: Path) -> dict:
    script = tmp / f"wrk-{time.time_ns()}.lua"
    script.write_text(WRK_LUA.format(body=body.decode()))
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{int(duration)}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("@@"))
    r = json.loads(line[2:])
    seconds = r["duration_us"] / 1e6
    return {
        "rps": r["requests"] / seconds,
        "requests": r["requests"],
        "errors": r["errors"] + r["non2xx"],
        "p50_ms": r["p50"] / 1000,
        "p95_ms": r["p95"] / 1000,
        "p99_ms": r["p99"] / 1000,
    }


def run_loadgen(
    url: str, body: bytes, concurrency: int, duration: float, tmp: Path, rate: float = 0.0
) -> dict:
    """bench/loadgen.py in its own process: closed loop, or open loop with a rate."""
    body_file = tmp / f"body-{time.time_ns()}.json"
    body_file.write_bytes(body)
    mode = ["--rate", str(rate)] if rate else ["--concurrency", str(concurrency)]
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "loadgen.py"),
            url,
            str(body_file),
            "--duration",
            str(duration),
            *mode,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
