"""The training core, free of MLflow: pipeline from the schema, model selection, metrics.

`train(frames, schema, config)` takes the train/val/test splits as DataFrames and returns
the refitted pipeline of the best candidate, every candidate's validation score and the
metrics on the three splits. Same frames, config and seed -> same result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.contracts import SPLITS
from mlops_core.errors import BadInput, DataQualityError
from mlops_core.schema import DatasetSchema
from model_training.config import LOWER_IS_BETTER, TrainingConfig, make_regressor, split_params


def build_pipeline(schema: DatasetSchema, regressor: Any, target_transform: str = "log"):
    """Raw feature DataFrame (schema columns) -> prediction of the label."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers = []
    if schema.numeric_features:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("numeric", numeric, list(schema.numeric_features)))
    if schema.categorical_features:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                (
                    "onehot",
                    OneHotEncoder(
                        handle_unknown="ignore",
                        sparse_output=False,
                        categories=[
                            list(schema.column(c).categories or ())
                            for c in schema.categorical_features
                        ],
                    ),
                ),
            ]
        )
        transformers.append(("categorical", categorical, list(schema.categorical_features)))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    if target_transform == "log":
        regressor = TransformedTargetRegressor(
            regressor=regressor, func=np.log, inverse_func=np.exp, check_inverse=False
        )
    return Pipeline([("preprocess", preprocess), ("regressor", regressor)])


def make_pipeline(
    schema: DatasetSchema, regressor: str, params: dict[str, Any], config: TrainingConfig, seed: int
):
    """The pipeline of one candidate parameter set (which may choose its target transform)."""
    _, transform = split_params(params, config.target_transform)
    return build_pipeline(schema, make_regressor(regressor, params, seed), transform)


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """rmse, mae, r2 and mape (a fraction, not a percentage) of predictions."""
    from sklearn.metrics import (
        mean_absolute_error,
        mean_absolute_percentage_error,
        r2_score,
        root_mean_squared_error,
    )

    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "mape": float(mean_absolute_percentage_error(y_true, y_pred)),
    }


def better(metric: str, a: float, b: float) -> bool:
    """Whether score a beats score b on metric."""
    return a < b if LOWER_IS_BETTER[metric] else a > b


def check_frame(frame: pd.DataFrame, schema: DatasetSchema, where: str) -> None:
    """The split holds every schema feature and the label, with a usable label."""
    missing = [c for c in [*schema.feature_names, schema.label.name] if c not in frame.columns]
    if missing:
        raise DataQualityError(f"{where}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise DataQualityError(f"{where}: no rows")
    label = pd.to_numeric(frame[schema.label.name], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(label.to_numpy(dtype=float)))
    if len(bad):
        raise DataQualityError(
            f"{where}: label {schema.label.name!r} is missing or not numeric in "
            f"{len(bad)} row(s), first at row {int(bad[0])}"
        )


def sample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).sort_index()


@dataclass
class CandidateScore:
    candidate: str
    regressor: str
    params: dict[str, Any]
    val: dict[str, float]
    fit_seconds: float


@dataclass
class TrainingResult:
    pipeline: Any
    best: CandidateScore
    candidates: list[CandidateScore]
    metrics: dict[str, float]  # {split}_{metric}
    seed: int
    selection_rows: int
    selection_val_rows: int
    refit_rows: int
    timings: dict[str, float] = field(default_factory=dict)


def xy(frame: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[schema.feature_names], frame[schema.label.name].to_numpy(dtype=float)


def train(
    frames: dict[str, pd.DataFrame],
    schema: DatasetSchema,
    config: TrainingConfig,
    seed: int | None = None,
    log=None,
) -> TrainingResult:
    """Select the best candidate on the validation split, refit it, score all splits."""
    seed = config.seed if seed is None else seed
    for split in SPLITS:
        if split not in frames:
            raise BadInput(f"split {split!r} is missing")
        check_frame(frames[split], schema, f"split {split!r}")
    uses_log = any(
        split_params(p, config.target_transform)[1] == "log"
        for c in config.candidates
        for p in c.combinations()
    )
    if uses_log:
        for split in SPLITS:
            label = frames[split][schema.label.name].to_numpy(dtype=float)
            if (label <= 0).any():
                row = int(np.flatnonzero(label <= 0)[0])
                raise DataQualityError(
                    f"split {split!r}: label {schema.label.name!r} must be positive for "
                    f"target_transform=log (row {row}); use target_transform: none"
                )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.threads):
        return _train(frames, schema, config, seed, log)


def _train(
    frames: dict[str, pd.DataFrame],
    schema: DatasetSchema,
    config: TrainingConfig,
    seed: int,
    log,
) -> TrainingResult:
    timings: dict[str, float] = {}
    metric = config.selection.metric

    started = time.perf_counter()
    sel_train = sample(frames["train"], config.selection.max_rows, seed)
    sel_val = sample(frames["val"], config.selection.max_val_rows, seed)
    x_sel, y_sel = xy(sel_train, schema)
    x_sval, y_sval = xy(sel_val, schema)
    scores: list[CandidateScore] = []
    for candidate in config.candidates:
        for params in candidate.combinations():
            t0 = time.perf_counter()
            pipeline = make_pipeline(schema, candidate.regressor, params, config, seed)
            pipeline.fit(x_sel, y_sel)
            fit_seconds = time.perf_counter() - t0
            score = CandidateScore(
                candidate.name,
                candidate.regressor,
                params,
                metrics(y_sval, pipeline.predict(x_sval)),
                fit_seconds,
            )
            scores.append(score)
            if log is not None:
                log.info(
                    "candidate %s %s: val %s %.4g (%.1fs)",
                    candidate.name,
                    params,
                    metric,
                    score.val[metric],
                    fit_seconds,
                )
    best = scores[0]
    for score in scores[1:]:
        if better(metric, score.val[metric], best.val[metric]):
            best = score
    timings["selection_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    refit_train = sample(frames["train"], config.refit.max_rows, seed)
    x_train, y_train = xy(refit_train, schema)
    pipeline = make_pipeline(schema, best.regressor, best.params, config, seed)
    pipeline.fit(x_train, y_train)
    timings["refit_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    result_metrics: dict[str, float] = {}
    for split in SPLITS:
        # Train metrics (an overfitting check) on a sample when large; val and test in full.
        frame = frames[split]
        if split == "train":
            frame = sample(frame, config.evaluation.max_train_rows, seed)
        x, y = xy(frame, schema)
        for name, value in metrics(y, pipeline.predict(x)).items():
            result_metrics[f"{split}_{name}"] = value
    timings["evaluate_seconds"] = time.perf_counter() - started
    return TrainingResult(
        pipeline=pipeline,
        best=best,
        candidates=scores,
        metrics=result_metrics,
        seed=seed,
        selection_rows=len(sel_train),
        selection_val_rows=len(sel_val),
        refit_rows=len(refit_train),
        timings=timings,
    )


def best_per_candidate(scores: list[CandidateScore], metric: str) -> dict[str, CandidateScore]:
    out: dict[str, CandidateScore] = {}
    for score in scores:
        current = out.get(score.candidate)
        if current is None or better(metric, score.val[metric], current.val[metric]):
            out[score.candidate] = score
    return out


def feature_importance(
    pipeline: Any, frame: pd.DataFrame, schema: DatasetSchema, rows: int, repeats: int, seed: int
) -> pd.DataFrame:
    """Permutation importance of each raw feature column (increase of RMSE when shuffled)."""
    from sklearn.inspection import permutation_importance

    x, y = xy(sample(frame, rows, seed), schema)
    result = permutation_importance(
        pipeline,
        x,
        y,
        scoring="neg_root_mean_squared_error",
        n_repeats=repeats,
        random_state=seed,
        n_jobs=1,
    )
    table = pd.DataFrame(
        {
            "feature": schema.feature_names,
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)
