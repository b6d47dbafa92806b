"""What a training run stores besides figures: diagnostic plots, feature importance and the
model itself (sklearn flavour, skops format, signature, explicit requirements)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.schema import DatasetSchema
from model_training.config import TrainingConfig
from model_training.core import class_codes, class_probabilities, feature_importance, sample, xy

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


def calibration_plot(
    y: np.ndarray, proba: np.ndarray, classes: tuple[str, ...], path: Path, bins: int = 10
) -> None:
    """Reliability diagram on the test split: the observed share of a class against the
    predicted probability of it (binned), one line per class (one-vs-rest; the second
    class only with two), with the histogram of the predicted probabilities below."""
    from matplotlib.figure import Figure
    from sklearn.calibration import calibration_curve

    shown = [1] if len(classes) == 2 else list(range(len(classes)))
    fig = Figure(figsize=(6.5, 7), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    ax1.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="calibrated")
    for j in shown:
        positive = y == j
        if positive.all() or not positive.any():
            continue
        observed, predicted = calibration_curve(positive, proba[:, j], n_bins=bins)
        ax1.plot(predicted, observed, marker="o", label=f"{classes[j]!s}")
        ax2.hist(proba[:, j], bins=bins, range=(0, 1), histtype="step", label=classes[j])
    ax1.set_ylabel("observed share of the class")
    ax1.set_title("Calibration on the test split")
    ax1.legend(loc="upper left", fontsize="small")
    ax2.set_xlabel("predicted probability")
    ax2.set_ylabel("rows")
    fig.savefig(path, dpi=100)


def confusion_plot(y: np.ndarray, pred: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    """Confusion matrix on the test split: counts, with each row's share (recall) shaded."""
    from matplotlib.figure import Figure

    k = len(classes)
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (y, pred), 1)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros((k, k)), where=totals > 0)
    size = 2.2 + 0.7 * k
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{counts[i, j]:,}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if shares[i, j] > 0.5 else "black",
                fontsize="small",
            )
    ax.set_xticks(range(k), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(c) for c in classes])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix on the test split")
    fig.colorbar(image, ax=ax, label="share of the true class")
    fig.savefig(path, dpi=100)
    return counts


def importance_plot(table: pd.DataFrame, path: Path, metric: str = "rmse") -> None:
    from matplotlib.figure import Figure

    ordered = table.iloc[::-1]
    fig = Figure(figsize=(7, 0.35 * len(table) + 1.2), layout="constrained")
    ax = fig.subplots()
    ax.barh(ordered["feature"], ordered["importance_mean"], xerr=ordered["importance_std"])
    ax.set_xlabel(f"{metric} worsening when the column is shuffled (validation split)")
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
    """Regression: residuals on (a sample of) the test split. Classification: calibration
    plot and confusion matrix on the test split (and the matrix as CSV). Both: permutation
    importance on validation."""
    import mlflow

    if schema.is_classification:
        x_test, labels = xy(frames["test"], schema)
        classes = schema.classes
        y = class_codes(labels, classes)
        proba = class_probabilities(pipeline, x_test, classes)
        pred = class_codes(np.asarray(pipeline.predict(x_test), dtype=object), classes)
        calibration_plot(y, proba, classes, out / "calibration.png")
        counts = confusion_plot(y, pred, classes, out / "confusion_matrix.png")
        table = pd.DataFrame(counts, index=list(classes), columns=list(classes))
        table.index.name = "true \\ predicted"
        table.to_csv(out / "confusion_matrix.csv")
        for name in ("calibration.png", "confusion_matrix.png"):
            mlflow.log_artifact(str(out / name), "plots")
        mlflow.log_artifact(str(out / "confusion_matrix.csv"), "evaluation")
    else:
        x_test, y_test = xy(sample(frames["test"], RESIDUAL_PLOT_ROWS, seed), schema)
        residual_plot(y_test, pipeline.predict(x_test), out / "residuals.png", schema.label.name)
        mlflow.log_artifact(str(out / "residuals.png"), "plots")
    metric = config.metric
    importance = feature_importance(
        pipeline,
        frames["val"],
        schema,
        config.importance.max_rows,
        config.importance.repeats,
        seed,
        metric,
    )
    importance.to_csv(out / "feature_importance.csv", index=False)
    importance_plot(importance, out / "feature_importance.png", metric)
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
    from mlops_core.mlflow_utils import SCHEMA_METADATA

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
        metadata={SCHEMA_METADATA: schema.as_dict()},
    )
    version = str(info.registered_model_version)
    if version in ("", "None"):
        raise Unavailable(f"MLflow did not register a version of {model_name!r}")
    return version
