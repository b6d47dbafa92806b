"""mlops_core.dashboards: the generator's command line and the uid Grafana accepts.

The dashboards themselves are checked as the chart renders them, in
tests/k8s/test_cluster_observability.py.
"""

from __future__ import annotations

import json
import re

from mlops_core import dashboards


def test_the_command_writes_the_placeholder_dashboard_the_chart_carries(tmp_path, capsys):
    out = tmp_path / "dashboard.json"
    assert dashboards.main(["--out", str(out)]) == 0
    assert out.read_text() == dashboards.render(dashboards.model_dashboard())
    d = json.loads(out.read_text())
    assert d["uid"] == dashboards.UID and dashboards.MODEL in d["title"]
    assert dashboards.main(["--model", "churn"]) == 0
    assert json.loads(capsys.readouterr().out)["uid"] == "mlops-churn"


def test_uids_stay_within_grafanas_limit_and_apart():
    short = dashboards.dashboard_uid("house-price")
    assert short == "mlops-house-price"
    long_a, long_b = (dashboards.dashboard_uid("x" * 60 + s) for s in ("-a", "-b"))
    for uid in (long_a, long_b):
        assert len(uid) == dashboards.UID_MAX and re.fullmatch(r"[a-z0-9-]+", uid)
    assert long_a != long_b
