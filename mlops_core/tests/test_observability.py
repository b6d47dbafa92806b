"""`mlops up --observability`: a real Prometheus and Pushgateway (Debian's binaries) as
services of MLOPS_HOME, scraping the real prediction service, alerts in `mlops status`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from mlops_core import observability
from mlops_core.contracts import read_result
from mlops_core.contracts.monitor import MonitorResult
from mlops_core.contracts.runtime import DownResult, StatusResult, UpResult
from mlops_core.services import ServiceManager, free_port
from mlops_core.settings import get_settings
from mlops_core.synthetic import Drift, generate
from mlops_core.traffic import PredictionClient


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
    trained_model, mlops_home, mlops, monkeypatch, tmp_path
):
    """Prometheus starts before the prediction service, which finds its port held and takes
    another: Prometheus is reloaded and scrapes it there. An alert of a rules file fires on a
    value pushed to the Pushgateway. Drifted traffic, then `mlops monitor` as a user runs it
    (no Pushgateway variable set): the platform's drift alert fires. `mlops down` leaves no
    process of the home."""
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
        groups = httpx.get(f"{prometheus.url}/api/v1/rules").json()["data"]["groups"]
        loaded = {g["name"]: {r["name"] for r in g["rules"]} for g in groups}
        assert "MlopsDriftDetected" in loaded[f"mlops-model-{model}"]  # the platform's rules
        assert loaded["test-observability"] == {"TestValueHigh", "TestValueHighForAnHour"}

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

        def ours(alerts) -> list:
            return [a for a in alerts if a.name.startswith("Test")]

        first = status()
        assert first.prometheus == prometheus.url and first.alerts is not None
        assert ours(first.alerts) == []
        assert [a.name for a in first.alerts if a.state == "firing"] == []
        assert {"prometheus", "pushgateway"} <= {s.service for s in first.services if s.running}

        pushed = httpx.put(
            f"{pushgateway.url}/metrics/job/mlops-test/model/{model}",
            content="mlops_test_value 5\n",
        )
        assert pushed.status_code == 200, pushed.text

        def listed():
            alerts = ours(status().alerts)
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
        assert [a.name for a in ours(status().alerts)] == [
            "TestValueHigh",
            "TestValueHighForAnHour",
        ]

        # A user's drifted traffic, then their `mlops monitor` (no Pushgateway variable:
        # it finds this home's), and the platform's drift alert fires.
        settings = get_settings()
        schema = settings.load_schema()
        numeric, category = schema.numeric_features[0], schema.categorical_features[0]
        column = schema.column(category)
        reversed_mix = dict(zip(column.categories, column.synthetic["weights"][::-1], strict=True))
        drift = Drift(shift={numeric: 1.5}, category_weights={category: reversed_mix})
        frame = generate(schema, 600, seed=22, drift=drift)
        records = json.loads(frame[schema.feature_names].to_json(orient="records"))
        with PredictionClient(served.url, headers={}) as client:
            assert client.send(records, single=20).predictions == 600
        _until("logged predictions", lambda: _logged(settings.prediction_log) == 600)
        run = mlops("monitor", "--json")
        assert run.exit_code == 6, run.stdout + run.stderr
        judged = read_result(run.stdout, MonitorResult)
        assert judged.status == "drift" and judged.pushgateway == pushgateway.url

        def drift_alert():
            return [a for a in status().alerts if a.name == "MlopsDriftDetected"]

        (alert,) = _until("drift alert", drift_alert)
        assert (alert.model, alert.severity, alert.state) == (model, "warning", "firing")
        assert alert.summary == f"Model {model}: data drift detected"
        firing = query('ALERTS{alertname="MlopsDriftDetected",alertstate="firing"}')
        assert [r["metric"]["model"] for r in firing] == [model]
        assert "MlopsDriftDetected" in mlops("status").stdout

        # Stage commands this runtime runs (Airflow's tasks) push to its Pushgateway.
        from mlops_core.airflow_runtime import AirflowSettings, airflow_env

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


def _logged(url: str) -> int:
    """Rows in the prediction log (the service writes them off the request path)."""
    import sqlalchemy as sa

    from mlops_core import predlog

    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(predlog.predictions)
            return conn.execute(query).scalar_one()
    except sa.exc.OperationalError:  # the service has not created its tables yet
        return 0
    finally:
        engine.dispose()
