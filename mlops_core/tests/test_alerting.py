"""Alert rules as code: thresholds from monitor.yaml, clear errors for a bad `alerts:` block,
`mlops alerts rules` (rules file, PrometheusRule, GitOps files) through the real CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_core.alerting import (
    ALERT_NAMES,
    PROMETHEUS_RELEASE,
    AlertsConfig,
    prometheus_rule,
    rule_groups,
)
from mlops_core.modelspec import ModelFolder

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def with_alerts(folder: Path, alerts, **top) -> Path:
    policy = yaml.safe_load((folder / "monitor.yaml").read_text())
    policy["alerts"] = alerts
    policy.update(top)
    (folder / "monitor.yaml").write_text(yaml.safe_dump(policy))
    return folder


@pytest.fixture
def models(mlops_home, tmp_path, monkeypatch, make_model_folder) -> Path:
    """A models folder with house-price (the repository's monitor.yaml) and churn."""
    root = tmp_path / "alert-models"
    make_model_folder(root, "house-price")
    make_model_folder(root, "churn", source="churn")
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(root))
    return root


def rules_of(doc: dict, model: str) -> dict[str, dict]:
    (group,) = [g for g in doc["groups"] if g["name"] == f"mlops-model-{model}"]
    return {r["alert"]: r for r in group["rules"]}


def test_the_repository_models_get_every_alert_with_the_documented_defaults(models):
    doc = rule_groups([ModelFolder("house-price", models / "house-price")])
    rules = rules_of(doc, "house-price")
    assert list(rules) == list(ALERT_NAMES)
    for rule in rules.values():
        assert rule["labels"] == {"model": "house-price", "severity": rule["labels"]["severity"]}
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"].startswith("Model house-price: ")
    defaults = AlertsConfig()
    assert rules["MlopsServingLatencyHigh"]["expr"].endswith(f"> {defaults.latency_p99_seconds}")
    assert rules["MlopsServingLatencyHigh"]["for"] == "5m"
    assert "[15m]" in rules["MlopsNoTraffic"]["expr"]
    assert rules["MlopsChampionTooOld"]["expr"].endswith("> 90")
    assert "86400 s in monitor.yaml" in rules["MlopsMonitoringStale"]["annotations"]["description"]


def test_thresholds_and_disabled_alerts_come_from_each_models_monitor_yaml(models):
    alerts = {"latency_p99_seconds": 0.3, "no_traffic_for": "1h", "max_age_days": 7,
              "stale_factor": 3, "disabled": ["MlopsNoTraffic", "MlopsChampionTooOld"]}  # fmt: skip
    with_alerts(models / "churn", alerts, schedule_seconds=3600)
    folders = [ModelFolder(n, models / n) for n in ("churn", "house-price")]
    doc = rule_groups(folders)
    assert [g["name"] for g in doc["groups"]] == ["mlops-model-churn", "mlops-model-house-price"]
    churn, house = rules_of(doc, "churn"), rules_of(doc, "house-price")
    assert "MlopsNoTraffic" not in churn and "MlopsChampionTooOld" not in churn
    assert len(churn) == len(ALERT_NAMES) - 2 and len(house) == len(ALERT_NAMES)
    assert churn["MlopsServingLatencyHigh"]["expr"].endswith("> 0.3")
    assert "> 3 * max by (model)" in churn["MlopsMonitoringStale"]["expr"]
    assert "3600 s" in churn["MlopsMonitoringStale"]["annotations"]["description"]
    # Each group reads its own model's series only.
    assert 'model="churn"' in churn["MlopsDriftDetected"]["expr"]
    assert "house-price" not in " ".join(r["expr"] for r in churn.values())
    assert house["MlopsServingLatencyHigh"]["expr"].endswith("> 0.05")


@pytest.mark.parametrize(
    ("alerts", "field", "message"),
    [
        ({"error_rate": 2}, "alerts.error_rate", "less than or equal to 1"),
        ({"latency_p99": 0.1}, "alerts.latency_p99", "Extra inputs are not permitted"),
        ({"no_traffic_for": "15 minutes"}, "alerts.no_traffic_for", "should match pattern"),
        ({"disabled": ["MlopsTypo"]}, "alerts.disabled.0", "MlopsServingLatencyHigh"),
        ("yes", "alerts", "valid dictionary"),
    ],
)
def test_a_bad_alerts_block_is_bad_input_naming_the_file_and_field(
    models, mlops, alerts, field, message
):
    path = with_alerts(models / "churn", alerts) / "monitor.yaml"
    result = mlops("alerts", "rules", "--json")
    assert result.exit_code == 2, result.stdout + result.stderr
    error = result.json["error"]
    assert f"monitoring policy {path}: {field}: " in error and message in error, error


def test_a_bad_schedule_is_named_too(models, mlops):
    path = with_alerts(models / "churn", {}, schedule_seconds=5) / "monitor.yaml"
    result = mlops("alerts", "rules", "--model", "churn", "--json")
    assert result.exit_code == 2
    assert (
        f"{path}: schedule_seconds: Input should be greater than or equal to 60"
        in (result.json["error"])
    )


def test_rules_file_and_prometheus_rule_pass_promtool(models, mlops, tmp_path):
    out = tmp_path / "out" / "rules.yaml"
    result = mlops("alerts", "rules", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["format"] == "rules" and result.json["path"] == str(out)
    assert result.json["models"] == ["churn", "house-price"]
    assert result.json["alerts"]["churn"] == list(ALERT_NAMES)
    assert out.read_text().startswith("# Alert rules of churn, house-price")
    check = subprocess.run([PROMTOOL, "check", "rules", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {2 * len(ALERT_NAMES)} rules found" in check.stdout

    result = mlops("alerts", "rules", "--model", "house-price", "--prometheus-rule")
    assert result.exit_code == 0, result.stderr
    resource = yaml.safe_load(result.stdout)
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    meta = resource["metadata"]
    assert meta["name"] == "mlops-alerts-house-price" and meta["namespace"] == "mlops"
    assert meta["labels"]["release"] == PROMETHEUS_RELEASE
    assert meta["labels"]["mlops.platform/model"] == "house-price"
    # The resource's spec is a rules file: the Operator hands it to the same Prometheus.
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(resource["spec"]))
    check = subprocess.run([PROMTOOL, "check", "rules", str(spec)], capture_output=True, text=True)
    assert check.returncode == 0 and f"{len(ALERT_NAMES)} rules found" in check.stdout


def test_unknown_model_and_misused_options_are_bad_input(models, mlops, tmp_path):
    result = mlops("alerts", "rules", "--model", "nope", "--json")
    assert result.exit_code == 2 and "unknown model 'nope'" in result.json["error"]
    result = mlops("alerts", "rules", "--gitops-dir", tmp_path, "--model", "churn", "--json")
    assert result.exit_code == 2 and "--gitops-dir" in result.json["error"]
    result = mlops("alerts", "rules", "--gitops-dir", tmp_path, "--json")
    assert result.exit_code == 2 and "no envs/ folder" in result.json["error"]


def test_gitops_dir_writes_each_environment_and_prunes_deleted_models(models, mlops, tmp_path):
    gitops = tmp_path / "gitops"
    for env in ("dev", "prod"):
        (gitops / "envs" / env).mkdir(parents=True)
    result = mlops("alerts", "rules", "--gitops-dir", gitops, "--json")
    assert result.exit_code == 0, result.stderr
    files = sorted(Path(f).relative_to(gitops).as_posix() for f in result.json["files"])
    assert files == [f"envs/{e}/alerts/{m}.yaml" for e in ("dev", "prod")
                     for m in ("churn", "house-price")]  # fmt: skip
    churn = yaml.safe_load((gitops / "envs/prod/alerts/churn.yaml").read_text())
    assert churn == prometheus_rule([ModelFolder("churn", models / "churn")])

    shutil.rmtree(models / "churn")
    assert mlops("alerts", "rules", "--gitops-dir", gitops).exit_code == 0
    assert sorted(p.name for p in (gitops / "envs/dev/alerts").iterdir()) == ["house-price.yaml"]
