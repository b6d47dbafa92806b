"""`mlops monitor` pushes its results to a real Prometheus Pushgateway (Debian's
prometheus-pushgateway, started once for this module): the documented series of a judged
run, the time and row counts of a run with too few rows (the last verdict kept), and a run
that still succeeds, with a warning, when the gateway is down. Traffic is the session's
trained model's predictions written to the test's own prediction log."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from registered import Registered, log_traffic

from mlops_core.contracts import read_result
from mlops_core.contracts.monitor import MonitorResult
from mlops_core.services import free_port
from mlops_core.settings import get_settings
from mlops_core.synthetic import Drift, generate

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("pushgateway") / "pushgateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"pushgateway not ready:\n{log.read_text()}"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def pushed(url: str, model: str) -> dict[str, dict[tuple, float]]:
    """{series name: {sorted labels except job/instance/model: value}} of the model's group."""
    out: dict[str, dict[tuple, float]] = {}
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if labels.pop("model", None) != model or labels.pop("job", None) != "mlops-monitor":
                continue
            labels.pop("instance", None)
            out.setdefault(sample.name, {})[tuple(sorted(labels.items()))] = sample.value
    return out


def monitor(mlops, *args: str) -> tuple[int, MonitorResult]:
    run = mlops("monitor", *args, "--json")
    assert run.exit_code in (0, 6, 7), run.stdout + run.stderr
    return run.exit_code, read_result(run.stdout, MonitorResult)


@pytest.mark.slow
def test_monitor_pushes_the_documented_series(
    trained_model, mlops_home, monkeypatch, mlops, pushgateway
):
    from mlops_core.mlflow_utils import load_estimator

    trained_model.use(monkeypatch)
    settings = get_settings()
    schema = settings.load_schema()
    name = trained_model.model_name
    estimator, _ = load_estimator(trained_model.model_uri, trained_model.tracking_uri)
    reg = Registered(name, trained_model.version, trained_model.data_version, schema,
                     estimator, {})  # fmt: skip
    shifted = schema.numeric_features[:2]
    traffic = generate(schema, 400, seed=31, drift=Drift(shift=dict.fromkeys(shifted, 1.6)))
    log_traffic(settings.prediction_log, reg, traffic, labels=list(traffic[schema.label.name]))
    # A policy of the test's own: its schedule is what the run must push.
    policy = yaml.safe_load((trained_model.models_dir / name / "monitor.yaml").read_text())
    policy.update(min_rows=100, schedule_seconds=7200)
    policy_file = mlops_home / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    monkeypatch.setenv("MLOPS_MONITOR_POLICY", str(policy_file))
    monkeypatch.setenv("MLOPS_MONITOR_PUSHGATEWAY_URL", pushgateway)

    before = time.time()
    code, result = monitor(mlops, "--model", name)
    after = time.time()
    assert result.status in ("drift", "no_drift") and result.rows == 400, result.message
    assert result.pushgateway == pushgateway and not result.warnings
    series = pushed(pushgateway, name)
    assert before <= series["mlops_monitor_last_run_timestamp_seconds"][()] <= after
    assert series["mlops_monitor_schedule_seconds"] == {(): 7200}
    assert series["mlops_monitor_rows"] == {(): 400}
    assert series["mlops_monitor_labelled_rows"] == {(): 400}
    assert series["mlops_monitor_model_version_info"] == {(("version", reg.version),): 1}
    assert series["mlops_monitor_dataset_drift"] == {(): float(result.data_drift)}
    assert result.data_drift and code == 6  # two columns 60 % larger: drift
    assert series["mlops_monitor_drift_share"][()] == pytest.approx(result.drift_share)
    scores = series["mlops_monitor_column_drift_score"]
    drifted = series["mlops_monitor_column_drifted"]
    assert set(scores) == set(drifted) == {(("column", c),) for c in result.columns}
    for column, info in result.columns.items():
        assert scores[(("column", column),)] == pytest.approx(info.score)
        assert drifted[(("column", column),)] == float(info.drifted)
    assert all(drifted[(("column", c),)] == 1 for c in shifted)
    perf = result.performance
    assert perf is not None and perf.rmse is not None
    performance = series["mlops_monitor_performance"]
    assert performance[(("metric", "rmse"),)] == pytest.approx(perf.rmse)
    assert performance[(("metric", "r2"),)] == pytest.approx(perf.r2)
    assert (("metric", "roc_auc"),) not in performance  # not a regression metric
    assert series["mlops_monitor_performance_degraded"] == {(): float(result.degraded)}
    # No rollback policy here: neither rollback series says one happened.
    assert series["mlops_monitor_rolled_back"] == {(): 0.0}
    assert series["mlops_monitor_rollback_failed"] == {(): 0.0}

    # Nothing new since that run: too few rows to judge. The run's time and row counts are
    # pushed (monitoring did run); the last verdict stays until a run judges again.
    code, empty = monitor(mlops, "--model", name, "--since", datetime.now(UTC).isoformat())
    assert code == 7 and empty.status == "insufficient_data" and empty.pushgateway == pushgateway
    again = pushed(pushgateway, name)
    assert again["mlops_monitor_last_run_timestamp_seconds"][()] >= after
    assert again["mlops_monitor_rows"] == {(): 0}
    assert again["mlops_monitor_dataset_drift"] == series["mlops_monitor_dataset_drift"]
    assert again["mlops_monitor_column_drift_score"] == scores

    # The Pushgateway down: the run's outcome is the same, with a warning naming it.
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_MONITOR_PUSHGATEWAY_URL", down)
    monkeypatch.setenv("MLOPS_MONITOR_PUSHGATEWAY_TIMEOUT", "1")
    started = time.monotonic()
    code, offline = monitor(mlops, "--model", name, "--since", datetime.now(UTC).isoformat())
    assert code == 7 and offline.status == "insufficient_data" and offline.pushgateway is None
    assert any(w.startswith(f"Pushgateway {down} not updated: ") for w in offline.warnings)
    assert time.monotonic() - started < 30
    assert pushed(pushgateway, name) == again  # nothing reached the running gateway


def test_a_bad_alerts_block_fails_the_monitoring_run_naming_file_and_field(
    mlops, mlops_home, tmp_path
):
    policy = tmp_path / "bad-alerts.yaml"
    policy.write_text("alerts:\n  latency_p99_seconds: 0\n")
    result = mlops("monitor", "--policy", str(policy), "--json")
    assert result.exit_code == 2
    assert (
        "bad-alerts.yaml: alerts.latency_p99_seconds: Input should be greater than 0"
        in (result.json["error"])
    )
    policy.write_text("schedule_seconds: often\n")
    result = mlops("monitor", "--policy", str(policy), "--json")
    assert result.exit_code == 2 and "bad-alerts.yaml: schedule_seconds:" in result.json["error"]


@pytest.mark.parametrize(
    ("ok", "rolled_back", "failed"), [(True, 1.0, 0.0), (False, 0.0, 1.0), (None, 0.0, 0.0)]
)
def test_a_rollback_outcome_is_a_series_the_rollback_alerts_read(ok, rolled_back, failed):
    from mlops_core.contracts.monitor import RollbackOutcome
    from model_monitoring.push import registry_of

    result = MonitorResult(
        status="drift",
        model_name="house-price",
        policy="monitor.yaml",
        degraded=True,
        rollback=None
        if ok is None
        else RollbackOutcome(advised=True, triggered=True, ok=ok, reason="rmse beyond limit"),
    )
    r = registry_of(result, 86400)
    assert r.get_sample_value("mlops_monitor_rolled_back") == rolled_back
    assert r.get_sample_value("mlops_monitor_rollback_failed") == failed
