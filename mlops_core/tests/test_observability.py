"""`mlops up --observability`: a real Prometheus and Pushgateway (Debian's binaries) as
services of MLOPS_HOME, scraping the real prediction service, alerts in `mlops status`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import httpx
import pytest
import yaml

from mlops_core import observability
from mlops_core.contracts import read_result
from mlops_core.contracts.runtime import DownResult, StatusResult, UpResult
from mlops_core.services import ServiceManager, free_port
from mlops_core.settings import get_settings


@pytest.fixture
def alerting(monkeypatch):
    """mlops_core.alerting; until obs-rules' module lands, a stand-in writing no group."""
    try:
        import mlops_core.alerting as module
    except ImportError:
        module = types.ModuleType("mlops_core.alerting")

        def write_rules_file(path: Path, models) -> None:
            path.write_text(yaml.safe_dump({"groups": []}))

        module.write_rules_file = write_rules_file
        monkeypatch.setitem(sys.modules, "mlops_core.alerting", module)
    return module


def test_a_missing_binary_starts_nothing_and_says_how_to_install(
    mlops, mlops_home, monkeypatch, tmp_path
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setitem(observability.DEBIAN_BINARIES, "prometheus", tmp_path / "no" / "prometheus")
    result = mlops("up", "--observability", "--json")
    assert result.exit_code == 5, result.stdout + result.stderr
    error = result.json["error"]
    assert "apt-get install prometheus prometheus-pushgateway" in error
    assert "MLOPS_OBSERVABILITY_PROMETHEUS_BIN" in error
    assert not (mlops_home / "run").exists()  # not even MLflow was started

    # The official archive's name on PATH wins over Debian's path.
    (bin_dir / "pushgateway").symlink_to("/usr/bin/prometheus-pushgateway")
    assert observability.find_binary("pushgateway", None) == str(bin_dir / "pushgateway")

    monkeypatch.setenv("MLOPS_OBSERVABILITY_PROMETHEUS_BIN", "/usr/bin/prometheus")
    monkeypatch.setenv("MLOPS_OBSERVABILITY_PUSHGATEWAY_BIN", str(tmp_path / "pgw"))
    result = mlops("up", "--observability", "--json")
    assert result.exit_code == 2
    assert f"MLOPS_OBSERVABILITY_PUSHGATEWAY_BIN={tmp_path / 'pgw'}" in result.json["error"]
    assert not (mlops_home / "run").exists()


def test_a_bad_rules_file_starts_nothing_and_is_named(mlops, mlops_home, monkeypatch, tmp_path):
    rules = tmp_path / "mine.rules.yml"
    monkeypatch.setenv("MLOPS_OBSERVABILITY_RULE_FILES", f"{rules}")
    result = mlops("up", "--observability", "--json")
    assert result.exit_code == 2
    assert f"MLOPS_OBSERVABILITY_RULE_FILES: {rules}: no such file" in result.json["error"]

    bad = {"groups": [{"name": "g", "rules": [{"alert": "Broken", "expr": "up >"}]}]}
    rules.write_text(yaml.safe_dump(bad))
    result = mlops("up", "--observability", "--json")
    assert result.exit_code == 2
    error = result.json["error"]
    assert f"MLOPS_OBSERVABILITY_RULE_FILES: {rules} is not valid for Prometheus" in error
    assert "parse error" in error  # promtool's own words
    assert not (mlops_home / "run").exists()


RULES = {
    "groups": [
        {
            "name": "test-observability",
            "rules": [
                {
                    "alert": "TestValueHigh",
                    "expr": "mlops_test_value > 1",
                    "for": "0s",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "value {{ $value }} of {{ $labels.model }}"},
                },
                {
                    "alert": "TestValueHighForAnHour",
                    "expr": "mlops_test_value > 1",
                    "for": "1h",
                    "labels": {"severity": "info"},
                },
            ],
        }
    ]
}


def _until(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.5)


@pytest.mark.slow
def test_up_observability_scrapes_the_service_and_status_lists_its_alerts(
    trained_model, mlops_home, mlops, monkeypatch, tmp_path, alerting
):
    """Prometheus starts before the prediction service, which finds its port held and takes
    another: Prometheus is reloaded and scrapes it there. An alert of a rules file fires on a
    value pushed to the Pushgateway; `mlops down` leaves no process of the home."""
    trained_model.use(monkeypatch)  # the session's MLflow server: `up` starts none
    monkeypatch.setenv("MLOPS_SERVE_MODEL", trained_model.model_uri)
    monkeypatch.setenv("MLOPS_OBSERVABILITY_PROMETHEUS_PORT", str(free_port()))
    monkeypatch.setenv("MLOPS_OBSERVABILITY_PUSHGATEWAY_PORT", str(free_port()))
    rules = tmp_path / "own.rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    monkeypatch.setenv("MLOPS_OBSERVABILITY_RULE_FILES", str(rules))
    model = trained_model.model_name
    try:
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            monkeypatch.setenv("MLOPS_SERVE_PORT", str(held.getsockname()[1]))
            up = mlops("up", "--observability", "--json")
        assert up.exit_code == 0, up.stdout + up.stderr
        services = {s.service: s for s in read_result(up.stdout, UpResult).services}
        assert services["mlflow"].skipped and not services["mlflow"].started
        prometheus, pushgateway = services["prometheus"], services["pushgateway"]
        assert prometheus.started and pushgateway.started
        served = services["prediction-service"]
        assert served.started and "is held by" in served.note
        service_port = served.url.rsplit(":", 1)[1]

        config = yaml.safe_load(Path(prometheus.model_extra["config"]).read_text())
        assert config["rule_files"] == [prometheus.model_extra["rules"], str(rules)]

        def query(expr: str) -> list[dict]:
            answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr})
            return answer.json()["data"]["result"]

        scraped = _until(
            "scrape of the prediction service",
            lambda: [r for r in query('up{job="prediction-service"}') if r["value"][1] == "1"],
        )
        assert [r["metric"]["instance"] for r in scraped] == [f"127.0.0.1:{service_port}"]
        assert scraped[0]["metric"]["service"] == "prediction-service"

        def status() -> StatusResult:
            result = mlops("status", "--json")
            assert result.exit_code == 0, result.stderr
            return read_result(result.stdout, StatusResult)

        first = status()
        assert first.prometheus == prometheus.url and first.alerts == []
        assert {"prometheus", "pushgateway"} <= {s.service for s in first.services if s.running}

        pushed = httpx.put(
            f"{pushgateway.url}/metrics/job/mlops-test/model/{model}",
            content="mlops_test_value 5\n",
        )
        assert pushed.status_code == 200, pushed.text

        def listed():
            alerts = status().alerts
            return alerts if len(alerts) == 2 else None

        firing, pending = _until("alert", listed)
        assert (firing.name, firing.model, firing.severity, firing.state) == (
            "TestValueHigh",
            model,
            "warning",
            "firing",
        )
        assert firing.summary == f"value 5 of {model}" and firing.since
        assert (pending.name, pending.state) == ("TestValueHighForAnHour", "pending")
        text = mlops("status").stdout
        assert "TestValueHigh" in text and "firing" in text and "pending" in text

        # `up` again: the same services; the rules rewritten and Prometheus reloaded.
        again = mlops("up", "--observability", "--json")
        assert again.exit_code == 0, again.stdout + again.stderr
        rerun = {s.service: s for s in read_result(again.stdout, UpResult).services}
        assert (rerun["prometheus"].url, rerun["prometheus"].started) == (prometheus.url, False)
        assert (rerun["pushgateway"].url, rerun["pushgateway"].started) == (pushgateway.url, False)
        assert [a.name for a in status().alerts][:1] == ["TestValueHigh"]

        # Stage commands this runtime runs (Airflow's tasks) push to its Pushgateway.
        from mlops_core.airflow_runtime import AirflowSettings, airflow_env

        settings = get_settings()
        assert observability.pushgateway_url(settings) == pushgateway.url
        env = airflow_env(settings, AirflowSettings(), tmp_path)
        assert env["MLOPS_MONITOR_PUSHGATEWAY_URL"] == pushgateway.url
    finally:
        down = mlops("down", "--json")
    stopped = read_result(down.stdout, DownResult).stopped
    assert {"prometheus", "pushgateway", "prediction-service"} <= set(stopped)
    # Prometheus, Pushgateway name the home in their command lines.
    left = subprocess.run(["pgrep", "-af", str(mlops_home)], capture_output=True, text=True)
    assert left.returncode == 1, left.stdout
    assert ServiceManager(get_settings().run_dir).all() == []
    assert os.environ.get("MLOPS_MONITOR_PUSHGATEWAY_URL") is None
