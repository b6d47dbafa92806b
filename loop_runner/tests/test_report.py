"""The loop's summary shows every model, and its models are the folders asked for."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from loop_runner.loop import select_models
from loop_runner.report import headline, human
from mlops_core.contracts.pipeline import PipelineResult
from mlops_core.errors import BadInput
from mlops_core.settings import get_settings


def model_loop(name: str, task: str, metrics: dict[str, float], metric: str) -> dict:
    monitoring = {
        "status": "no_drift",
        "drift_share": 0.0,
        "drifted_columns": [],
        "rows": 1100,
        "rmse": None,
        "metric": metric,
        "metric_value": 0.5,
        "report_html": f"/h/reports/{name}/a.html",
        "report_json": None,
        "model_version": "1",
    }
    traffic = {
        "predictions": 1100,
        "failed_requests": 0,
        "feedback": 550,
        "model_versions": ["1"],
        "seconds": 1.0,
    }
    version = {"data_version": "data-v1", "gate": "passed", "metrics": metrics, "promoted": True}
    return {
        "model": name,
        "task": task,
        "log": f"/h/run/pipeline-{name}.log",
        "seconds": 60.0,
        "data_versions": ["data-v1", "data-v2"],
        "versions": [{**version, "version": "1"}, {**version, "version": "2"}],
        "traffic": {
            "normal": traffic,
            "drifted": traffic,
            "during_swap": {"requests": 40, "failed": 0, "by_version": {"2": 40}, "errors": []},
        },
        "monitoring": [monitoring, {**monitoring, "status": "drift"}],
        "champion": "2",
        "gitops": {
            "repo": "/h/gitops",
            "commit": "abcdef1234567",
            "values_files": [f"gitops/envs/kind/models/{name}.yaml"],
        },
        "prediction_service": "http://127.0.0.1:8000",
        "predict_url": f"http://127.0.0.1:8000/v1/models/{name}/predict",
        "steps": [{"step": "train", "model": name, "command": "mlops train", "seconds": 3.0}],
    }


def test_the_summary_prints_every_model():
    result = PipelineResult.model_validate(
        {
            "ok": True,
            "home": "/h",
            "log": "/h/run/pipeline.log",
            "seconds": 200.0,
            "serving": "one service",
            "side_by_side": True,
            "models": [
                model_loop(
                    "house-price", "regression", {"test_rmse": 1.1e6, "test_r2": 0.6}, "rmse"
                ),
                model_loop(
                    "churn",
                    "classification",
                    {"test_roc_auc": 0.81, "test_f1_macro": 0.7},
                    "roc_auc",
                ),
            ],
            "urls": {"mlflow_ui": "http://127.0.0.1:5050"},
            "steps": [],
        }
    )
    out = io.StringIO()
    human(Console(file=out, width=200), result)
    text = out.getvalue()
    assert "house-price, churn (side by side; one service" in text
    for name in ("house-price", "churn"):
        assert f"gitops/envs/kind/models/{name}.yaml" in text
        assert f"/v1/models/{name}/predict" in text
    assert "test_rmse=1.1e+06" in text and "test_roc_auc=0.81" in text
    assert "roc_auc 0.5" in text


def test_headline_metrics_of_either_task():
    assert headline({"test_r2": 0.5, "val_r2": 0.4, "test_rmse": 2.0}) == "test_rmse=2, test_r2=0.5"
    assert headline({"test_accuracy": 0.9, "test_roc_auc": 0.8}) == (
        "test_roc_auc=0.8, test_accuracy=0.9"
    )


def test_the_loop_runs_the_models_asked_for(mlops_home, tmp_path, monkeypatch, make_model_folder):
    models = mlops_home.parent / "models"
    make_model_folder(models, "churn")
    platform = get_settings()
    assert [m.name for m in select_models(platform, None)] == ["churn", "house-price"]
    assert [m.name for m in select_models(platform, ["house-price"])] == ["house-price"]
    with pytest.raises(BadInput, match=r"unknown model 'fraud'.*churn, house-price"):
        select_models(platform, ["fraud"])
    with pytest.raises(BadInput, match="given twice"):
        select_models(platform, ["churn", "churn"])
