"""Every alert rule, firing and not firing, judged by Prometheus itself: the rules file is
generated into a temporary folder for two models (house-price with the defaults, churn with
thresholds of its own and one alert disabled) and `promtool test rules` evaluates it on
input series shaped like the prediction service's /metrics and the monitoring runs'
Pushgateway groups.

Instances: A serves house-price alone (a model's Deployment in a cluster: its single-model
routes /v1/predict count for it); B serves house-price and churn (the embedded runtime: only
each model's own /v1/models/<name>/... routes count); C serves churn alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_core.alerting import ALERT_NAMES, write_rules_file
from mlops_core.modelspec import discover_models

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
HP, CHURN = "house-price", "churn"
A = {"job": "serve", "instance": "a:8000"}
B = {"job": "serve", "instance": "b:8000"}
C = {"job": "serve", "instance": "c:8000"}
PUSHED = {"job": "mlops-monitor", "instance": ""}
CHURN_ALERTS = {
    "latency_p99_seconds": 0.2,
    "error_rate": 0.2,
    "max_age_days": 30,
    "disabled": ["MlopsNoTraffic"],
}
BUCKETS = ("0.025", "0.05", "0.1", "0.25", "+Inf")


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory, make_model_folder) -> Path:
    root = tmp_path_factory.mktemp("alerting")
    make_model_folder(root / "models", HP)
    churn = make_model_folder(root / "models", CHURN, source=CHURN)
    policy = yaml.safe_load((churn / "monitor.yaml").read_text())
    policy["alerts"] = CHURN_ALERTS
    policy["schedule_seconds"] = 600
    (churn / "monitor.yaml").write_text(yaml.safe_dump(policy))
    hp = root / "models" / HP / "monitor.yaml"
    hp.write_text(hp.read_text().replace("schedule_seconds: 86400", "schedule_seconds: 600"))
    return write_rules_file(root / "rules.yaml", discover_models(root / "models"))


def s(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def info(instance: dict, model: str, values: str = "1x40") -> dict:
    labels = {**instance, "model_name": model, "model_version": "1", "data_version": "data-v1"}
    return s("mlops_model_info", labels, values)


def histogram(instance: dict, endpoint: str, slow: bool) -> list[dict]:
    """60 requests a minute, all under 25 ms (fast) or all between 100 and 250 ms (slow)."""
    out = []
    for le in BUCKETS:
        counted = le in ("0.25", "+Inf") if slow else True
        labels = {**instance, "endpoint": endpoint, "le": le}
        out.append(
            s(
                "mlops_http_request_duration_seconds_bucket",
                labels,
                "0+60x30" if counted else "0x30",
            )
        )
    return out


def requests(instance: dict, endpoint: str, status: str, per_minute: int) -> dict:
    labels = {**instance, "endpoint": endpoint, "method": "POST", "status": status}
    return s("mlops_http_requests_total", labels, f"0+{per_minute}x30")


def alert(model: str, summary: str, description: str, **labels: str) -> dict:
    severity = labels.pop("severity", "warning")
    return {
        "exp_labels": {"model": model, "severity": severity, **labels},
        "exp_annotations": {"summary": summary, "description": description},
    }


def latency(model: str, target: str, p99: str) -> dict:
    return alert(
        model,
        f"Model {model}: p99 prediction latency above {target} s",
        f"The 99th percentile of {model}'s prediction requests over 5m is {p99} s "
        f"(target {target} s) for 5m.",
    )


def errors(model: str, limit: str, share: str) -> dict:
    return alert(
        model,
        f"Model {model}: more than {limit} of predictions fail",
        f"{share} of {model}'s prediction requests answered 5xx over 5m (limit {limit}).",
        severity="critical",
    )


def no_traffic(model: str) -> dict:
    return alert(
        model,
        f"Model {model}: no prediction for 15m",
        f"Model {model} is served but answered no prediction in the last 15m: "
        "are its clients reaching it?",
    )


def backlog(model: str, instance: dict, rows: str) -> dict:
    return alert(
        model,
        f"Model {model}: prediction log rows waiting to be written",
        f"{rows} prediction log rows wait for the writer on {instance['instance']} "
        "(limit 10000) for 5m: the log database is slow.",
        **instance,
    )


def spooling(model: str, instance: dict, rows: str) -> dict:
    return alert(
        model,
        f"Model {model}: prediction log spooling (database unavailable)",
        f"{rows} prediction log rows are spooled on {instance['instance']} and the spool "
        "grew in the last 10m: the prediction log database is not taking writes.",
        severity="critical",
        **instance,
    )


def drift(model: str) -> dict:
    return alert(
        model,
        f"Model {model}: data drift detected",
        f"The last monitoring run of {model} found data drift: read its report "
        f"(`mlops monitor --model {model}`) and consider retraining.",
    )


def rolled_back(model: str) -> dict:
    return alert(
        model,
        f"Model {model}: rolled back on live degradation",
        f"The last monitoring run of {model} found the champion degraded beyond its "
        "confidence bound and moved `champion` back to the previous version by a GitOps "
        f"commit (its Reason trailer says why: `mlops history --model {model}`).",
        severity="critical",
    )


def rollback_failed(model: str) -> dict:
    return alert(
        model,
        f"Model {model}: automatic rollback failed",
        f"The last monitoring run of {model} called for a rollback and `mlops rollback` "
        "did not move the champion (no previous champion, or the GitOps push was "
        "refused): the degraded version is still serving.",
        severity="critical",
    )


def degraded(model: str) -> dict:
    return alert(
        model,
        f"Model {model}: performance degraded",
        f"The last monitoring run of {model} judged the served version's quality on "
        "feedback labels beyond the policy's limit.",
        severity="critical",
    )


def stale(model: str, ago: str) -> dict:
    return alert(
        model,
        f"Model {model}: monitoring has not run on schedule",
        f"The last monitoring run of {model} was {ago} ago, more than 2 x its schedule "
        "(600 s in monitor.yaml).",
    )


def too_old(model: str, limit: str, days: str) -> dict:
    return alert(
        model,
        f"Model {model}: served version older than {limit} days",
        f"The newest served version of {model} was registered {days} days ago "
        f"(limit {limit}): retrain it on recent data.",
        model_name=model,
    )


def case(series: list[dict], checks: list[tuple[str, str, list[dict]]]) -> dict:
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": at, "alertname": name, "exp_alerts": expected}
            for at, name, expected in checks
        ],
    }


SERVED = [info(A, HP), info(B, HP), info(B, CHURN)]
SCENARIOS: dict[str, list[dict]] = {
    "MlopsServingLatencyHigh": [
        # Half of each model's requests take 100-250 ms (p99 0.247 s): house-price's on A's
        # single-model route (its own route on B is fast), churn's on one of its routes on
        # B; B's /v1/predict (refused there: B serves two models) counts for neither.
        case(
            SERVED
            + histogram(A, "/v1/predict", slow=True)
            + histogram(B, "/v1/predict", slow=True)
            + histogram(B, "/v1/models/house-price/predict", slow=False)
            + histogram(B, "/v1/models/churn/predict", slow=True)
            + histogram(B, "/v1/models/churn/predict/batch", slow=False),
            [
                ("4m", "MlopsServingLatencyHigh", []),  # not for 5m yet
                ("10m", "MlopsServingLatencyHigh", [latency(HP, "0.05", "0.247"),
                                                    latency(CHURN, "0.2", "0.247")]),
            ],
        ),
        # Every route of house-price fast: only churn's half-slow routes fire.
        case(
            SERVED
            + histogram(A, "/v1/predict", slow=False)
            + histogram(B, "/v1/predict", slow=True)
            + histogram(B, "/v1/models/house-price/predict/batch", slow=False)
            + histogram(B, "/v1/models/churn/predict/batch", slow=True)
            + histogram(B, "/v1/models/churn/predict", slow=False),
            [("10m", "MlopsServingLatencyHigh", [latency(CHURN, "0.2", "0.247")])],
        ),
    ],
    "MlopsServingErrorRate": [
        # 10 % of house-price's requests on A fail.
        case(
            [
                info(A, HP),
                requests(A, "/v1/predict", "200", 54),
                requests(A, "/v1/predict", "500", 6),
            ],
            [("10m", "MlopsServingErrorRate", [errors(HP, "5%", "10%")])],
        ),
        # On B: house-price's 4xx are the clients'; B's /v1/predict 500s belong to no model;
        # churn's 25 % of 503s pass its 20 % limit.
        case(
            [
                *SERVED,
                requests(B, "/v1/models/house-price/predict", "200", 60),
                requests(B, "/v1/models/house-price/predict", "422", 60),
                requests(B, "/v1/predict", "500", 60),
                requests(B, "/v1/models/churn/predict", "200", 45),
                requests(B, "/v1/models/churn/predict", "503", 15),
            ],
            [("10m", "MlopsServingErrorRate", [errors(CHURN, "20%", "25%")])],
        ),
    ],
    "MlopsNoTraffic": [
        # house-price's predictions stop at 10m: still in the 15m window at 20m, gone by 30m.
        # churn has no traffic at all, but its monitor.yaml disables the alert.
        case(
            [
                info(A, HP),
                info(C, CHURN),
                s("mlops_predictions_total", {**A, "model_name": HP, "model_version": "1",
                                              "kind": "single"}, "0+10x10 100x30"),
            ],
            [("20m", "MlopsNoTraffic", []), ("30m", "MlopsNoTraffic", [no_traffic(HP)])],
        ),
        # A service started at 20m is not idle before it has been up for 15m.
        case(
            [info(A, HP, "_x20 1x30")],
            [("30m", "MlopsNoTraffic", []), ("36m", "MlopsNoTraffic", [no_traffic(HP)])],
        ),
    ],
    "MlopsPredictionLogBacklog": [
        # A's queue holds 20 000 rows (over the limit), C's 500: only A's models alert,
        # and only after 5m.
        case(
            [
                info(A, HP),
                info(C, CHURN),
                s("mlops_prediction_log_queue_depth", A, "20000x20"),
                s("mlops_prediction_log_queue_depth", C, "500x20"),
            ],
            [
                ("3m", "MlopsPredictionLogBacklog", []),
                ("10m", "MlopsPredictionLogBacklog", [backlog(HP, A, "20000")]),
            ],
        ),
    ],
    "MlopsPredictionLogSpooling": [
        # B's spool grows from 5m: both models B serves alert; A's spool holds rows that no
        # longer grow (written before the window): no alert.
        case(
            [
                info(A, HP),
                info(B, HP),
                info(B, CHURN),
                s("mlops_prediction_log_spool_rows", A, "50x30"),
                s("mlops_prediction_log_spool_rows", B, "0x5 0+10x25"),
            ],
            [
                ("4m", "MlopsPredictionLogSpooling", []),
                ("15m", "MlopsPredictionLogSpooling", [spooling(HP, B, "90"),
                                                       spooling(CHURN, B, "90")]),
            ],
        ),
    ],
    "MlopsDriftDetected": [
        case(
            [
                s("mlops_monitor_dataset_drift", {**PUSHED, "model": HP}, "1x10"),
                s("mlops_monitor_dataset_drift", {**PUSHED, "model": CHURN}, "0x10"),
            ],
            [("5m", "MlopsDriftDetected", [drift(HP)])],
        ),
        case(
            [s("mlops_monitor_dataset_drift", {**PUSHED, "model": HP}, "0x10")],
            [("5m", "MlopsDriftDetected", [])],
        ),
    ],
    "MlopsPerformanceDegraded": [
        case(
            [
                s("mlops_monitor_performance_degraded", {**PUSHED, "model": HP}, "0x10"),
                s("mlops_monitor_performance_degraded", {**PUSHED, "model": CHURN}, "1x10"),
            ],
            [("5m", "MlopsPerformanceDegraded", [degraded(CHURN)])],
        ),
        case(
            [s("mlops_monitor_performance_degraded", {**PUSHED, "model": CHURN}, "0x10")],
            [("5m", "MlopsPerformanceDegraded", [])],
        ),
    ],
    "MlopsModelRolledBack": [
        case(
            [
                s("mlops_monitor_rolled_back", {**PUSHED, "model": HP}, "1x10"),
                s("mlops_monitor_rolled_back", {**PUSHED, "model": CHURN}, "0x10"),
            ],
            [("5m", "MlopsModelRolledBack", [rolled_back(HP)])],
        ),
        case(
            [s("mlops_monitor_rolled_back", {**PUSHED, "model": HP}, "0x10")],
            [("5m", "MlopsModelRolledBack", [])],
        ),
    ],
    "MlopsRollbackFailed": [
        case(
            [
                s("mlops_monitor_rollback_failed", {**PUSHED, "model": HP}, "0x10"),
                s("mlops_monitor_rollback_failed", {**PUSHED, "model": CHURN}, "1x10"),
            ],
            [("5m", "MlopsRollbackFailed", [rollback_failed(CHURN)])],
        ),
        case(
            [s("mlops_monitor_rollback_failed", {**PUSHED, "model": CHURN}, "0x10")],
            [("5m", "MlopsRollbackFailed", [])],
        ),
    ],
    "MlopsMonitoringStale": [
        # Both expect a run every 600 s: house-price last ran at 0, churn runs every minute.
        case(
            [
                s("mlops_monitor_last_run_timestamp_seconds", {**PUSHED, "model": HP}, "0x40"),
                s("mlops_monitor_schedule_seconds", {**PUSHED, "model": HP}, "600x40"),
                s("mlops_monitor_last_run_timestamp_seconds", {**PUSHED, "model": CHURN},
                  "0+60x40"),
                s("mlops_monitor_schedule_seconds", {**PUSHED, "model": CHURN}, "600x40"),
            ],
            [
                ("15m", "MlopsMonitoringStale", []),  # 900 s: within 2 x 600 s
                ("30m", "MlopsMonitoringStale", [stale(HP, "30m 0s")]),
            ],
        ),
    ],
    "MlopsChampionTooOld": [
        # Registered 92.6 days before the evaluation (house-price's limit: 90) and 34.7
        # days (churn's limit: 30).
        case(
            [
                s("mlops_model_created_timestamp_seconds", {**A, "model_name": HP,
                                                            "model_version": "1"}, "-8000000x20"),
                s("mlops_model_created_timestamp_seconds", {**C, "model_name": CHURN,
                                                            "model_version": "4"}, "-3000000x20"),
            ],
            [("10m", "MlopsChampionTooOld", [too_old(HP, "90", "93"), too_old(CHURN, "30", "35")])],
        ),
        # Ten days old: within both limits; with a newer version served beside an old one,
        # the newest counts.
        case(
            [
                s("mlops_model_created_timestamp_seconds", {**A, "model_name": HP,
                                                            "model_version": "1"}, "-864000x20"),
                s("mlops_model_created_timestamp_seconds", {**C, "model_name": CHURN,
                                                            "model_version": "3"}, "-9000000x20"),
                s("mlops_model_created_timestamp_seconds", {**C, "model_name": CHURN,
                                                            "model_version": "4"}, "-864000x20"),
            ],
            [("10m", "MlopsChampionTooOld", [])],
        ),
    ],
}  # fmt: skip


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_every_alert_has_a_scenario():
    assert set(SCENARIOS) == set(ALERT_NAMES)


def test_the_rules_file_passes_promtool_check(rules_file):
    proc = promtool("check", "rules", str(rules_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {2 * len(ALERT_NAMES) - 1} rules found" in proc.stdout


@pytest.mark.parametrize("alert_name", sorted(SCENARIOS))
def test_rule_fires_and_stays_quiet(alert_name, rules_file, tmp_path):
    tests = tmp_path / f"{alert_name}.test.yaml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules_file)],
                "evaluation_interval": "1m",
                "tests": SCENARIOS[alert_name],
            },
            sort_keys=False,
        )
    )
    proc = promtool("test", "rules", str(tests))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout
