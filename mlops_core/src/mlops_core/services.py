"""Background services of the embedded runtime: started in their own process group, tracked
by state files under MLOPS_HOME/run, stopped with every process of their tree and group so
no orphan survives.

Several state folders may share one machine, so a service's port is claimed, not assumed:
a port held by another process (another MLOPS_HOME's server, anything else) is never taken
for this home's service. The port a service got is recorded in run/ports.json, and
settings read it back (the tracking URI follows the home's own MLflow server).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil
from filelock import FileLock

from mlops_core.errors import Conflict, MlopsError, Unavailable
from mlops_core.mlflow_utils.connect import request_env

# Set in every service's environment: how a port's holder is recognised as a service of
# the embedded runtime, and of which home.
HOME_VARIABLE = "MLOPS_HOME"
SERVICE_VARIABLE = "MLOPS_SERVICE"


@dataclass
class ServiceInfo:
    name: str
    pid: int
    url: str | None
    log: str
    argv: list[str]
    started: float
    port: int | None = None
    # psutil's create_time of the process: a recycled pid is not taken for the service.
    created: float | None = None

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid, self.created)

    def processes(self) -> list[psutil.Process]:
        """The service's process, its descendants and its process group (live ones)."""
        if not self.alive:
            return _group(self.pid)
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        seen = {p.pid for p in tree}
        return tree + [p for p in _group(self.pid) if p.pid not in seen]


def pid_alive(pid: int, created: float | None = None) -> bool:
    """Whether pid runs (a zombie does not); with created, whether it is still that process."""
    launched = _LAUNCHED.get(pid)
    if launched is not None and launched.poll() is not None:
        return False  # our own child, exited (poll reaps it)
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # create_time is boot time + start ticks; the boot time psutil reads moves by a
        # second now and then, a recycled pid starts later than that.
        return created is None or abs(proc.create_time() - created) < 3.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _group(pgid: int) -> list[psutil.Process]:
    """Live processes of process group pgid (a service's grandchildren that were reparented)."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


@dataclass(frozen=True)
class PortHolder:
    """What listens on a port: a process, and the MLOPS_HOME it serves when it is a service
    of the embedded runtime."""

    port: int
    pid: int | None
    command: str
    home: str | None = None
    service: str | None = None
    pids: frozenset[int] = field(default_factory=frozenset)

    def describe(self) -> str:
        if self.home:
            return f"the {self.service or 'service'} of MLOPS_HOME {self.home} (pid {self.pid})"
        if self.pid:
            return f"pid {self.pid} ({self.command})"
        return "a process of another user"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        # As a server binds: connections closed lately (TIME_WAIT) do not hold the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def port_holder(port: int) -> PortHolder | None:
    """Who listens on a TCP port of this machine (None when it is free)."""
    pids = {
        c.pid
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }
    if not pids:
        return PortHolder(port, None, "") if port_in_use(port) else None
    # A server's workers share its socket: describe the oldest, the one that started them.
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    if not procs:
        return None
    leader = min(procs, key=lambda p: p.create_time())
    home = service = None
    with_parents = [leader, *leader.parents()]
    for proc in with_parents:
        try:
            env = proc.environ()
        except psutil.Error:
            continue
        if env.get(SERVICE_VARIABLE):
            home, service = env.get(HOME_VARIABLE), env[SERVICE_VARIABLE]
            break
    try:
        command = " ".join(leader.cmdline()[:4])
    except psutil.Error:
        command = leader.name()
    return PortHolder(port, leader.pid, command, home, service, frozenset(pids))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Popen objects of services started by this process: kept so they are not garbage-collected
# while the service runs (a warning), and reaped when stopped.
_LAUNCHED: dict[int, subprocess.Popen] = {}


class ServiceManager:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.home = run_dir.parent

    def _state_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    @property
    def _ports_file(self) -> Path:
        return self.run_dir / "ports.json"

    def _lock(self, name: str) -> FileLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(self.run_dir / f"{name}.lock", timeout=600)

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
        names = (p.stem for p in sorted(self.run_dir.glob("*.json")) if p != self._ports_file)
        found = (self.get(name) for name in names)
        return [s for s in found if s is not None]

    def recorded_port(self, name: str) -> int | None:
        """The port this home's service `name` got last (kept when it stops)."""
        try:
            port = json.loads(self._ports_file.read_text()).get(name)
        except (OSError, ValueError, AttributeError):
            return None
        return port if isinstance(port, int) else None

    def _record_port(self, name: str, port: int) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self._ports_file
        try:
            ports = json.loads(path.read_text())
        except (OSError, ValueError):
            ports = {}
        ports = {**(ports if isinstance(ports, dict) else {}), name: port}
        _write_atomic(path, json.dumps(ports, sort_keys=True))

    def claim_port(self, name: str, port: int, *, fixed: bool = False) -> tuple[int, str | None]:
        """The port service `name` of this home listens on, and a note when it is not `port`.

        Its own running service keeps its port. Otherwise `port` when free, else the port
        recorded last when free; when other processes hold both, a free port (or, when
        `fixed`, Conflict naming the holder). The choice is recorded in run/ports.json.
        """
        own = self.get(name)
        if own and own.alive and own.port:
            return own.port, None
        recorded = None if fixed else self.recorded_port(name)
        candidates = list(dict.fromkeys(p for p in (port, recorded) if p))
        holder = None
        for candidate in candidates:
            found = port_holder(candidate)
            if found is None or (found.home == str(self.home) and found.service == name):
                self._record_port(name, candidate)
                return candidate, None
            holder = holder or found  # the configured port's holder, for the message
        assert holder is not None
        if fixed:
            raise Conflict(
                f"port {port} is held by {holder.describe()}, not by the {name} of "
                f"MLOPS_HOME {self.home}: stop it, or choose a free port"
            )
        chosen = free_port()
        self._record_port(name, chosen)
        return chosen, f"port {port} is held by {holder.describe()}; {name} uses port {chosen}"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        url: str | None,
        health_url: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120.0,
        port: int | None = None,
    ) -> tuple[ServiceInfo, bool]:
        """Start a service unless it already runs; returns (info, started_now).

        With port, the service must be the one listening there: a port already held when it
        starts is a Conflict naming the holder (never "started"), since the health check
        would otherwise be answered by the other process.
        """
        with self._lock(name):
            current = self.get(name)
            if current and current.alive:
                return current, False
            if port is not None and (holder := port_holder(port)) is not None:
                raise Conflict(
                    f"cannot start {name} of MLOPS_HOME {self.home}: port {port} is held by "
                    f"{holder.describe()}"
                )
            log_path = self.run_dir / f"{name}.log"
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    list(argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={
                        # MLflow's HTTP settings default to fail-in-seconds (a service that
                        # waits for MLflow passes its own), the caller's environment wins.
                        **request_env(),
                        **os.environ,
                        **(env or {}),
                        HOME_VARIABLE: str(self.home),
                        SERVICE_VARIABLE: name,
                    },
                    cwd=cwd,
                    start_new_session=True,
                )
            _LAUNCHED[proc.pid] = proc
            try:
                created = psutil.Process(proc.pid).create_time()
            except psutil.NoSuchProcess:
                created = None
            info = ServiceInfo(
                name, proc.pid, url, str(log_path), list(argv), time.time(), port, created
            )
            _write_atomic(self._state_file(name), json.dumps(asdict(info)))
            if health_url:
                try:
                    wait_healthy(health_url, timeout=timeout, proc=proc, log_path=log_path)
                    if port is not None:
                        self._check_owner(info, port)
                except MlopsError:
                    self.stop(name)
                    raise
        from mlops_core.observability import service_started

        # Outside the lock: Prometheus's targets list every service of the home.
        service_started(self, info)
        return info, True

    def _check_owner(self, info: ServiceInfo, port: int) -> None:
        holder = port_holder(port)
        ours = {p.pid for p in info.processes()}
        if holder is None or not (holder.pids or {holder.pid}) & ours:
            who = holder.describe() if holder else "nothing"
            raise Conflict(f"{info.name} answered on port {port}, but the port is held by {who}")

    def stop(self, name: str, timeout: float = 20.0) -> bool:
        """Stop the service's process tree and group; returns whether it was running."""
        info = self.get(name)
        if info is None:
            return False
        was_alive = info.alive
        procs = info.processes()
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                continue
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(alive, timeout=5)
        launched = _LAUNCHED.pop(info.pid, None)
        if launched is not None:
            launched.wait(timeout=5)
        self._state_file(name).unlink(missing_ok=True)
        return was_alive


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


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
