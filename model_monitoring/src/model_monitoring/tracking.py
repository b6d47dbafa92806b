"""Key figures of a monitoring run in MLflow: experiment '<model>-monitoring', one run per
monitoring run, tagged with the model version and its training run; the model version gets
tags pointing back at the latest monitoring run."""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("mlops.monitor")


def performance_metric(result: dict[str, Any]) -> str:
    return (result.get("performance") or {}).get("metric") or ""


def log_run(
    tracking_uri: str, experiment: str, model, result: dict[str, Any], run_name: str
) -> str:
    """Log one monitoring run; returns its MLflow run id."""
    from mlops_core.mlflow_utils import client as mlflow_client
    from mlops_core.mlflow_utils.experiments import ensure_experiment

    client = mlflow_client(tracking_uri)
    experiment_id = ensure_experiment(client, experiment).experiment_id
    tags = {
        "mlflow.runName": run_name,
        "model_name": model.name,
        "task": str(result.get("task") or "regression"),
        "metric": str(performance_metric(result)),
        "model_version": str(model.version),
        "model_run_id": model.run_id or "",
        "data_version": model.data_version or "",
        "status": result["status"],
        "report_html": result.get("report_html") or "",
        "report_json": result.get("report_json") or "",
        "drifted_columns": ",".join(result.get("drifted_columns") or []),
    }
    run = client.create_run(experiment_id, tags=tags)
    run_id = run.info.run_id
    metrics = {
        "drift_share": result.get("drift_share"),
        "drifted_columns": len(result.get("drifted_columns") or []),
        "rows": result.get("rows"),
        "reference_rows": result.get("reference_rows"),
        "labelled_rows": result.get("labelled_rows"),
        "rmse": result.get("rmse"),
        "mae": result.get("mae"),
        "prediction_drift_score": (result.get("prediction_drift") or {}).get("score"),
        "drift": 1.0 if result["status"] == "drift" else 0.0,
    }
    performance = result.get("performance") or {}
    for key in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss", "brier"):
        metrics[key] = performance.get(key)  # a classifier's scores (None: regression)
    for cls, drift in (result.get("probability_drift") or {}).items():
        # MLflow metric names: letters, digits, _ - . / and spaces.
        safe = re.sub(r"[^\w\-./ ]", "_", str(cls))
        metrics[f"probability_drift_score.{safe}"] = (drift or {}).get("score")
    window = result.get("window") or {}
    try:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None],
            params=[
                Param("window_since", str(window.get("since"))),
                Param("window_until", str(window.get("until"))),
                Param("policy", str(result.get("policy"))),
            ],
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "monitoring_result.json")
            path.write_text(json.dumps(result, default=str, sort_keys=True, indent=2))
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id, "FINISHED")
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    for key, value in (
        ("monitoring_status", result["status"]),
        ("monitoring_run_id", run_id),
        ("monitoring_report", result.get("report_html") or ""),
    ):
        client.set_model_version_tag(model.name, str(model.version), key, value)
    return run_id
