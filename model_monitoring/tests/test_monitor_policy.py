from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.errors import BadInput
from mlops_core.schema import load_schema
from model_monitoring.policy import Policy, default_metric, load_policy, policy_for

TEMPLATE = Path(__file__).resolve().parents[2] / "mlops_core/src/mlops_core/templates/monitor.yaml"
REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def _classifier_schema(tmp_path, classes=("no", "yes")):
    path = tmp_path / "schema.yaml"
    path.write_text(
        "name: clf\ntask: classification\n"
        f"label: {{name: churned, dtype: category, categories: {list(classes)}}}\n"
        "features:\n  - {name: tenure, dtype: float}\n"
    )
    return load_schema(path)


def test_the_template_is_the_documented_default_and_fits_every_task(tmp_path, schema):
    """`mlops models new` copies the template: it names no column and loads for a
    regression, a binary and a multi-class classifier, the metric following the task."""
    policy = load_policy(TEMPLATE)
    assert policy == Policy(source=policy.source)  # the template spells out the defaults
    assert (policy.min_rows, policy.drift.share, policy.performance.max_increase) == (
        200,
        0.15,
        0.25,
    )
    assert policy.performance.metric is None and policy.drift.columns == {}
    binary = _classifier_schema(tmp_path)
    multi = _classifier_schema(tmp_path, ("low", "mid", "high"))
    for model_schema, metric in ((schema, "rmse"), (binary, "roc_auc"), (multi, "f1_macro")):
        policy.check(model_schema)
        assert policy.performance.metric_for(model_schema) == metric == default_metric(model_schema)


def test_the_repository_models_policies_load():
    house = load_policy(REPO_MODELS / "house-price" / "monitor.yaml")
    assert house.performance.metric == "rmse" and house == Policy(
        source=house.source, performance={"metric": "rmse"}
    )
    churn = load_policy(REPO_MODELS / "churn" / "monitor.yaml")
    assert churn.performance.metric == "roc_auc"


def test_a_metric_of_the_other_task_is_refused_naming_the_valid_ones(tmp_path, schema):
    bad = tmp_path / "monitor.yaml"
    bad.write_text("performance:\n  metric: roc_auc\n")
    with pytest.raises(BadInput, match=r"'roc_auc' is not a regression metric.*rmse, mae"):
        load_policy(bad).check(schema)
    bad.write_text("performance:\n  metric: rmse\n")
    with pytest.raises(BadInput, match=r"'rmse' is not a classification metric.*roc_auc"):
        load_policy(bad).check(_classifier_schema(tmp_path))
    bad.write_text("performance:\n  metric: f1\n")
    with pytest.raises(BadInput, match=r"monitor.yaml: performance.metric 'f1'"):
        load_policy(bad).check(_classifier_schema(tmp_path))


def test_a_model_folder_without_monitor_yaml_is_named(tmp_path, make_model_folder):
    from mlops_core.modelspec import ModelFolder

    path = make_model_folder(tmp_path, "solo")
    (path / "monitor.yaml").unlink()
    with pytest.raises(BadInput, match=r"model 'solo' has no monitoring policy: .*monitor.yaml"):
        policy_for(ModelFolder("solo", path))
    # An explicit policy file stands in for it.
    assert policy_for(ModelFolder("solo", path), TEMPLATE).source == str(TEMPLATE)


def test_policy_file_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("drift:\n  share: 2\n")
    with pytest.raises(BadInput, match=r"policy.yaml: drift.share"):
        load_policy(bad)
    bad.write_text("min_rows: [\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        load_policy(bad)
    bad.write_text("drift:\n  colums: {}\n")
    with pytest.raises(BadInput, match=r"drift\.colums"):
        load_policy(bad)
    with pytest.raises(BadInput, match="cannot be read"):
        load_policy(tmp_path / "missing.yaml")


def test_policy_from_file(tmp_path, schema):
    path = tmp_path / "p.yaml"
    name = schema.feature_names[0]
    path.write_text(
        f"min_rows: 10\ndrift:\n  share: 0.5\n  columns:\n    {name}: {{threshold: 0.3}}\n"
    )
    policy = load_policy(path)
    assert policy.min_rows == 10 and policy.drift.columns[name].threshold == 0.3
    policy.check_columns(schema)
