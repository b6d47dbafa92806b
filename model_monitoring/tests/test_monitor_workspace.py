"""Runs go into an Evidently workspace project per model; `mlops monitor ui` serves it."""

from __future__ import annotations

import json

import httpx
import pytest
from monitor_helpers import make_frames

from mlops_core.services import free_port
from model_monitoring.analysis import analyse
from model_monitoring.policy import load_policy


@pytest.mark.slow
def test_runs_are_snapshots_of_one_project_served_by_the_ui(schema, mlops_home, mlops, monkeypatch):
    from model_monitoring.workspace import add_snapshot

    reference, current = make_frames(schema, rows_ref=1500, rows_cur=1200)
    result = analyse(reference, current, schema, load_policy())
    workspace = mlops_home / "monitoring" / "workspace"
    project_a, first = add_snapshot(workspace, "model-a", result.snapshot, "run-1")
    again, second = add_snapshot(workspace, "model-a", result.snapshot, "run-2")
    project_b, _ = add_snapshot(workspace, "model-b", result.snapshot, "run-1")
    assert project_a == again != project_b  # one project per model
    dashboards = list(workspace.glob("*/dashboard.json"))
    assert len(dashboards) == 2
    dashboard = json.loads(dashboards[0].read_text())
    panels = dashboard["tabs"][0]["panels"]
    assert len(panels) == len(set(panels)) == 4
    titles = {p["title"] for p in dashboard["panels"]}
    assert titles & {"Model model-a: drift and quality of served traffic",
                     "Model model-b: drift and quality of served traffic"}  # fmt: skip

    port = free_port()
    monkeypatch.setenv("MLOPS_MONITOR_UI_PORT", str(port))
    started = mlops("monitor", "ui", "--background", "--json")
    try:
        assert started.exit_code == 0, started.stderr
        assert started.json["url"] == f"http://127.0.0.1:{port}"
        projects = {
            p["name"]: p["id"] for p in httpx.get(f"{started.json['url']}/api/projects").json()
        }
        assert set(projects) == {"model-a", "model-b"}
        snaps = httpx.get(
            f"{started.json['url']}/api/projects/{projects['model-a']}/snapshots"
        ).json()
        assert {s["id"] for s in snaps} == {first, second}
        # The browser tab names the platform, not Evidently's "ML Monitoring Demo".
        for path in ("/", f"/projects/{projects['model-a']}"):
            page = httpx.get(started.json["url"] + path)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert "<title>MLOps model monitoring (Evidently)</title>" in page.text
            assert "Demo" not in page.text
        assert httpx.get(started.json["url"] + "/favicon.ico").status_code == 200
        assert mlops("monitor", "ui", "--background", "--json").json["started"] is False
    finally:
        stopped = mlops("monitor", "ui", "--stop", "--json")
    assert stopped.json["stopped"] is True
