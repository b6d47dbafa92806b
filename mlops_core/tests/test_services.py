"""mlops_core.services: background services of the embedded runtime, real processes."""

import sys
import time

import httpx
import psutil
import pytest

from mlops_core.errors import Conflict, Unavailable
from mlops_core.services import ServiceManager, free_port, port_holder


def http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_start_status_stop_a_real_http_server(tmp_path):
    manager = ServiceManager(tmp_path / "run")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = http_server(port)
    info, started = manager.start("web", argv, url=url, health_url=url, cwd=tmp_path, port=port)
    assert started and info.alive
    again, started_again = manager.start("web", argv, url=url, health_url=url, port=port)
    assert not started_again and again.pid == info.pid
    assert httpx.get(url).status_code == 200
    assert [s.name for s in manager.all()] == ["web"]
    assert manager.stop("web")
    time.sleep(0.2)
    assert not info.alive
    assert manager.all() == []
    assert not manager.stop("web")


def test_a_service_that_dies_while_starting_is_reported(tmp_path):
    manager = ServiceManager(tmp_path / "run")
    argv = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(Unavailable, match="exited with code 3") as info:
        manager.start(
            "bad", argv, url="http://127.0.0.1:1", health_url="http://127.0.0.1:1", timeout=10
        )
    assert "boom" in str(info.value)
    assert manager.all() == []


def test_stop_ends_the_whole_process_tree(tmp_path):
    """A service's children (a server's workers) die with it: no orphan keeps a port."""
    manager = ServiceManager(tmp_path / "run")
    port = free_port()
    script = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-m', 'http.server', '{port}', "
        "'--bind', '127.0.0.1']); time.sleep(600)"
    )
    url = f"http://127.0.0.1:{port}"
    info, _ = manager.start("tree", [sys.executable, "-c", script], url=url, health_url=url)
    children = psutil.Process(info.pid).children(recursive=True)
    assert children
    assert manager.stop("tree")
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert port_holder(port) is None


def test_a_recycled_pid_is_not_taken_for_the_service(tmp_path):
    manager = ServiceManager(tmp_path / "run")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    info, _ = manager.start("web", http_server(port), url=url, health_url=url)
    try:
        assert info.alive
        info.created = info.created - 3600  # what a state file of an older process says
        assert not info.alive
    finally:
        manager.stop("web")


def test_a_port_held_by_another_home_is_never_taken_for_ours(tmp_path):
    """Home A's service holds the port: home B's start is refused naming home A (the
    health check, answered by A's server, would otherwise say "started")."""
    a, b = ServiceManager(tmp_path / "a" / "run"), ServiceManager(tmp_path / "b" / "run")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    a.start("web", http_server(port), url=url, health_url=url, port=port)
    try:
        holder = port_holder(port)
        assert holder is not None
        assert (holder.home, holder.service) == (str(tmp_path / "a"), "web")
        with pytest.raises(Conflict, match=str(tmp_path / "a")):
            b.start("web", http_server(port), url=url, health_url=url, port=port)
        assert b.get("web") is None

        # Claiming the port instead: B gets a free one, recorded for B's next commands.
        chosen, note = b.claim_port("web", port)
        assert chosen != port and port_holder(chosen) is None
        assert str(tmp_path / "a") in note
        assert b.recorded_port("web") == chosen
        assert b.all() == [] and b.recorded_port("web") == chosen  # a record, not a service
        with pytest.raises(Conflict, match=str(tmp_path / "a")):
            b.claim_port("web", port, fixed=True)

        # A's own service keeps its port.
        assert a.claim_port("web", port) == (port, None)
    finally:
        a.stop("web")


def test_a_port_held_by_a_process_of_no_home_is_named(tmp_path):
    import subprocess

    port = free_port()
    proc = subprocess.Popen(http_server(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while port_holder(port) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(Conflict, match=f"pid {proc.pid}"):
            ServiceManager(tmp_path / "run").claim_port("web", port, fixed=True)
    finally:
        proc.terminate()
        proc.wait()
