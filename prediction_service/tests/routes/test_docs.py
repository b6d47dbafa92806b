"""The root page, Swagger UI and ReDoc: rendered by a real headless Chromium that can reach
nothing but the service (every other host name fails to resolve)."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def render(url: str, tmp_path) -> str:
    """The DOM of `url` after its scripts ran, with no network beyond 127.0.0.1."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_root_links_to_the_docs(server):
    r = httpx.get(server.url + "/")
    assert r.status_code == 200
    assert 'href="/docs"' in r.text


def test_docs_pages_load_no_asset_from_another_host(server):
    for path in ("/docs", "/redoc"):
        page = httpx.get(server.url + path).text
        assert "http://" not in page and "https://" not in page, (path, page)
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        r = httpx.get(f"{server.url}/docs-assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 100_000, asset


@pytest.mark.slow
def test_swagger_ui_renders_the_operations_offline(server, tmp_path):
    dom = render(server.url + "/docs", tmp_path)
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/feedback", "/v1/admin/reload"):
        assert f'data-path="{path}"' in dom, path
    assert "Predict one record" in dom


@pytest.mark.slow
def test_redoc_renders_the_operations_offline(server, tmp_path):
    dom = render(server.url + "/redoc", tmp_path)
    assert "Predict one record" in dom
    assert "/v1/predict/batch" in dom
