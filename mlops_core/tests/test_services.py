import sys
import time

import httpx
import pytest

from mlops_core.errors import Unavailable
from mlops_core.services import ServiceManager, free_port


def test_start_status_stop_a_real_http_server(tmp_path):
    manager = ServiceManager(tmp_path / "run")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    info, started = manager.start("web", argv, url=url, health_url=url, cwd=tmp_path)
    assert started and info.alive
    again, started_again = manager.start("web", argv, url=url, health_url=url)
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
