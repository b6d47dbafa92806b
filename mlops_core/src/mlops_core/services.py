"""Background services of the embedded runtime: started in their own process group, tracked
by pid files under MLOPS_HOME/run, stopped as a group so no orphan survives."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from mlops_core.errors import MlopsError, Unavailable


@dataclass
class ServiceInfo:
    name: str
    pid: int
    url: str
    log: str
    argv: list[str]
    started: float

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


# Popen objects of services started by this process: kept so they are not garbage-collected
# while the service runs (a warning), and reaped when stopped.
_LAUNCHED: dict[int, subprocess.Popen] = {}


class ServiceManager:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def _state_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def get(self, name: str) -> ServiceInfo | None:
        path = self._state_file(name)
        if not path.exists():
            return None
        try:
            return ServiceInfo(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            path.unlink(missing_ok=True)
            return None

    def all(self) -> list[ServiceInfo]:
        if not self.run_dir.exists():
            return []
        found = (self.get(p.stem) for p in sorted(self.run_dir.glob("*.json")))
        return [s for s in found if s is not None]

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        url: str,
        health_url: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120.0,
    ) -> tuple[ServiceInfo, bool]:
        """Start a service unless it already runs; returns (info, started_now)."""
        current = self.get(name)
        if current and current.alive:
            return current, False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        _LAUNCHED[proc.pid] = proc
        info = ServiceInfo(name, proc.pid, url, str(log_path), list(argv), time.time())
        tmp = self._state_file(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info)))
        tmp.replace(self._state_file(name))
        if health_url:
            try:
                wait_healthy(health_url, timeout=timeout, proc=proc, log_path=log_path)
            except MlopsError:
                self.stop(name)
                raise
        return info, True

    def stop(self, name: str, timeout: float = 20.0) -> bool:
        """Stop the service's whole process group; returns whether it was running."""
        info = self.get(name)
        if info is None:
            return False
        was_alive = info.alive
        if was_alive:
            _signal_group(info.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (info.alive or _group_alive(info.pid)):
                time.sleep(0.1)
            if info.alive or _group_alive(info.pid):
                _signal_group(info.pid, signal.SIGKILL)
        launched = _LAUNCHED.pop(info.pid, None)
        if launched is not None:
            launched.wait(timeout=5)
        self._state_file(name).unlink(missing_ok=True)
        return was_alive


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_healthy(
    url: str,
    *,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll url until it answers 2xx; fail early when the process dies."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = _tail(log_path) if log_path else ""
            raise Unavailable(
                f"service exited with code {proc.returncode} while starting; "
                f"log {log_path}:\n{tail}"
            )
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code < 300:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = type(exc).__name__
        time.sleep(0.3)
    raise Unavailable(f"{url} did not become healthy within {timeout:.0f}s ({last_error})")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
