"""What a training run stores besides figures: diagnostic plots, feature importance and the
model itself (sklearn flavour, skops format, signature, explicit requirements)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.schema import DatasetSchema
from model_training.config import TrainingConfig
from model_training.core import feature_importance, sample, xy

RESIDUAL_PLOT_ROWS = 5000


def residual_plot(y_true: np.ndarray, y_pred: np.ndarray, path: Path, label: str) -> None:
    from matplotlib.figure import Figure

    residuals = y_true - y_pred
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(y_pred, residuals, s=6, alpha=0.4)
    ax1.axhline(0.0, color="black", linewidth=1)
    ax1.set_xlabel(f"predicted {label}")
    ax1.set_ylabel("residual (actual - predicted)")
    ax1.set_title("Residuals on the test split")
    ax2.hist(residuals, bins=50)
    ax2.set_xlabel("residual")
    ax2.set_ylabel("rows")
    ax2.set_title("Residual distribution")
    fig.savefig(path, dpi=100)


def importance_plot(table: pd.DataFrame, path: Path) -> None:
    from matplotlib.figure import Figure

    ordered = table.iloc[::-1]
    fig = Figure(figsize=(7, 0.35 * len(table) + 1.2), layout="constrained")
    ax = fig.subplots()
    ax.barh(ordered["feature"], ordered["importance_mean"], xerr=ordered["importance_std"])
    ax.set_xlabel("RMSE increase when the column is shuffled (validation split)")
    ax.set_title("Permutation feature importance")
    fig.savefig(path, dpi=100)


def log_diagnostics(
    pipeline: Any,
    frames: dict[str, pd.DataFrame],
    schema: DatasetSchema,
    config: TrainingConfig,
    seed: int,
    out: Path,
) -> None:
    """Residuals on (a sample of) the test split; permutation importance on validation."""
    import mlflow

    x_test, y_test = xy(sample(frames["test"], RESIDUAL_PLOT_ROWS, seed), schema)
    residual_plot(y_test, pipeline.predict(x_test), out / "residuals.png", schema.label.name)
    mlflow.log_artifact(str(out / "residuals.png"), "plots")
    importance = feature_importance(
        pipeline,
        frames["val"],
        schema,
        config.importance.max_rows,
        config.importance.repeats,
        seed,
    )
    importance.to_csv(out / "feature_importance.csv", index=False)
    importance_plot(importance, out / "feature_importance.png")
    mlflow.log_artifact(str(out / "feature_importance.csv"), "importance")
    mlflow.log_artifact(str(out / "feature_importance.png"), "plots")


def pip_requirements() -> list[str]:
    """Explicit requirements: inferring them costs ~15 s per logged model."""
    import mlflow
    import scipy
    import sklearn
    import skops

    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"scipy=={scipy.__version__}",
        f"skops=={skops.__version__}",
    ]


def skops_trusted_types(model: Any) -> list[str]:
    """Types skops must trust to load our own pipeline back (scikit-learn and numpy only).

    MLflow saves sklearn models with skops (no pickle) and records this list in the MLmodel
    file, so loading the model needs no extra argument.
    """
    import skops.io as sio

    untrusted = sorted(sio.get_untrusted_types(data=sio.dumps(model)))
    foreign = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if foreign:
        raise RuntimeError(f"the pipeline holds types outside scikit-learn/numpy: {foreign}")
    return untrusted


def log_model(pipeline: Any, train: pd.DataFrame, schema: DatasetSchema, model_name: str) -> str:
    """Log the pipeline as the run's model "model", register it; returns the new version."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from mlops_core.errors import Unavailable

    x_train, _ = xy(train, schema)
    example = x_train.head(5).reset_index(drop=True)
    info = mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=infer_signature(example, pipeline.predict(example)),
        input_example=example,
        pip_requirements=pip_requirements(),
        serialization_format="skops",
        skops_trusted_types=skops_trusted_types(pipeline),
        registered_model_name=model_name,
    )
    version = str(info.registered_model_version)
    if version in ("", "None"):
        raise Unavailable(f"MLflow did not register a version of {model_name!r}")
    return version
