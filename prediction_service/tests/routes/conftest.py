"""A client of the shared server and the path of its prediction log."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def log_url(server) -> str:
    return f"sqlite:///{server.home / 'predictions.db'}"
