"""The training core, free of MLflow: pipeline from the schema, model selection, metrics.

`train(frames, schema, config)` takes the train/val/test splits as DataFrames and returns
the refitted pipeline of the chosen candidate, every candidate's selection score, the
metrics on the three splits, the test metric's spread and the baselines it was compared
with. Same frames, config and seed -> same result.

Selection: with fewer than `selection.cv_below_rows` train+val rows, every candidate
parameter set is scored by k-fold cross-validation on train+val (stratified on the class
for a classifier) and the winner is refitted on train+val; with more, each is fitted on
(a sample of) train and scored on val, and the winner is refitted on train. Baselines
(scikit-learn defaults: linear, random forest, gradient boosting) compete as candidates
and are then scored on the test split beside the winner: when the winner loses to the
best baseline by more than the split's noise (a paired bootstrap of the test rows), that
baseline is the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.contracts import SPLITS
from mlops_core.contracts.constants import Task
from mlops_core.errors import BadInput, DataQualityError
from mlops_core.schema import DatasetSchema, normalise_category
from model_training import metrics as m
from model_training.config import (
    LOWER_IS_BETTER,
    TASK_METRICS,
    Candidate,
    TrainingConfig,
    make_estimator,
    split_params,
)

# name -> estimator of the baselines, per task (scikit-learn's defaults).
BASELINES: dict[Task, dict[str, str]] = {
    Task.REGRESSION: {
        "linear": "Ridge",
        "random_forest": "RandomForestRegressor",
        "gradient_boosting": "HistGradientBoostingRegressor",
    },
    Task.CLASSIFICATION: {
        "linear": "LogisticRegression",
        "random_forest": "RandomForestClassifier",
        "gradient_boosting": "HistGradientBoostingClassifier",
    },
}
BASELINE_PREFIX = "baseline_"


def build_pipeline(schema: DatasetSchema, estimator: Any, target_transform: str = "log"):
    """Raw feature DataFrame (schema columns) -> prediction of the label.

    Steps: `preprocess` (a ColumnTransformer built from the schema), then `regressor`
    (optionally inside a log/exp TransformedTargetRegressor) or `classifier`.
    """
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
    if schema.is_classification:
        return Pipeline([("preprocess", preprocess), ("classifier", estimator)])
    if target_transform == "log":
        estimator = TransformedTargetRegressor(
            regressor=estimator, func=np.log, inverse_func=np.exp, check_inverse=False
        )
    return Pipeline([("preprocess", preprocess), ("regressor", estimator)])


def make_pipeline(
    schema: DatasetSchema, estimator: str, params: dict[str, Any], config: TrainingConfig, seed: int
):
    """The pipeline of one candidate parameter set (which may choose its target transform)."""
    _, transform = split_params(params, config.target_transform)
    return build_pipeline(schema, make_estimator(estimator, params, seed), transform)


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """rmse, mae, r2 and mape (a fraction, not a percentage) of regression predictions."""
    return m.regression_scorer(y_true, y_pred)()


def better(metric: str, a: float, b: float) -> bool:
    """Whether score a beats score b on metric."""
    return a < b if LOWER_IS_BETTER[metric] else a > b


# ------------------------------------------------------------------ labels and predictions


def labels(frame: pd.DataFrame, schema: DatasetSchema, where: str = "split") -> np.ndarray:
    """The label column: floats (regression) or the class strings in their normal form."""
    column = frame[schema.label.name]
    if not schema.is_classification:
        label = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(label))
        if len(bad):
            raise DataQualityError(
                f"{where}: label {schema.label.name!r} is missing or not numeric in "
                f"{len(bad)} row(s), first at row {int(bad[0])}"
            )
        return label
    values = column.astype(object)
    present = values.notna()
    spelling = {v: normalise_category(v) for v in pd.unique(values[present])}
    normal = values.map(spelling).where(present, None)
    bad = np.flatnonzero(~normal.isin(schema.classes).to_numpy())
    if len(bad):
        first = int(bad[0])
        shown = "missing" if not present.iloc[first] else repr(values.iloc[first])
        raise DataQualityError(
            f"{where}: label {schema.label.name!r} is not one of the classes "
            f"{', '.join(schema.classes)} in {len(bad)} row(s), first at row {first} ({shown})"
        )
    return normal.to_numpy(dtype=object)


def class_codes(y: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """The index of each class string in `classes` (the schema's order)."""
    codes = pd.Categorical(np.asarray(y, dtype=object), categories=list(classes)).codes
    if (codes < 0).any():
        raise ValueError(f"a value outside the classes {', '.join(classes)}")
    return codes.astype(int)


def class_probabilities(pipeline: Any, x: pd.DataFrame, classes: tuple[str, ...]) -> np.ndarray:
    """predict_proba with one column per schema class, in the schema's order.

    scikit-learn orders its columns by `classes_` (sorted); a class the model never saw in
    training gets probability 0.
    """
    raw = np.asarray(pipeline.predict_proba(x), dtype=float)
    out = np.zeros((len(x), len(classes)))
    position = {str(c): j for j, c in enumerate(pipeline.classes_)}
    for i, name in enumerate(classes):
        j = position.get(name)
        if j is not None:
            out[:, i] = raw[:, j]
    return out


def scorer(pipeline: Any, x: pd.DataFrame, y: np.ndarray, schema: DatasetSchema):
    """The weighted scorer (model_training.metrics) of a fitted pipeline on rows x, y."""
    if not schema.is_classification:
        return m.regression_scorer(y, pipeline.predict(x))
    classes = schema.classes
    proba = class_probabilities(pipeline, x, classes)
    pred = class_codes(np.asarray(pipeline.predict(x), dtype=object), classes)
    return m.classification_scorer(class_codes(y, classes), proba, pred)


def evaluate(pipeline: Any, x: pd.DataFrame, y: np.ndarray, schema: DatasetSchema) -> dict:
    """Every metric of the task on rows x, y."""
    return scorer(pipeline, x, y, schema)()


def check_frame(frame: pd.DataFrame, schema: DatasetSchema, where: str) -> None:
    """The split holds every schema feature and the label, with a usable label."""
    missing = [c for c in [*schema.feature_names, schema.label.name] if c not in frame.columns]
    if missing:
        raise DataQualityError(f"{where}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise DataQualityError(f"{where}: no rows")
    labels(frame, schema, where)


def sample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).sort_index()


def xy(frame: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[schema.feature_names], labels(frame, schema)


# ------------------------------------------------------------------ results


@dataclass
class CandidateScore:
    candidate: str
    estimator: str
    params: dict[str, Any]
    val: dict[str, float]  # the selection estimate: val split, or the cross-validated mean
    fit_seconds: float
    std: float | None = None  # the selection metric's std over the folds (cv)
    baseline: bool = False

    @property
    def regressor(self) -> str:  # the name before classifiers joined
        return self.estimator


@dataclass
class BaselineComparison:
    name: str  # linear, random_forest, gradient_boosting
    estimator: str
    test: float  # the baseline's test primary metric
    selected_test: float  # the selected model's, on the same rows
    # selected minus baseline, oriented so that > 0 means the selected model is better
    margin: float
    margin_low: float
    margin_high: float

    @property
    def beaten(self) -> bool:
        return self.margin > 0

    @property
    def verdict(self) -> str:
        if np.isfinite(self.margin_low) and self.margin_low > 0:
            return "better"
        if np.isfinite(self.margin_high):
            return "worse" if self.margin_high < 0 else "within noise"
        return "better" if self.margin > 0 else ("worse" if self.margin < 0 else "within noise")


@dataclass
class TrainingResult:
    pipeline: Any
    best: CandidateScore
    candidates: list[CandidateScore]
    metrics: dict[str, float]  # {split}_{metric}, test_<primary>_ci_low/high, cv_<primary>_std
    seed: int
    selection_rows: int
    selection_val_rows: int
    refit_rows: int
    timings: dict[str, float] = field(default_factory=dict)
    task: Task = Task.REGRESSION
    primary_metric: str = "rmse"
    selection: str = "validation"  # validation | cv
    folds: int | None = None
    selected_by: str = "selection"  # selection | baseline (the winner lost to it on test)
    overruled: str | None = None  # the candidate a baseline replaced
    baselines: list[BaselineComparison] = field(default_factory=list)
    classes: tuple[str, ...] | None = None


# ------------------------------------------------------------------ training


def train(
    frames: dict[str, pd.DataFrame],
    schema: DatasetSchema,
    config: TrainingConfig,
    seed: int | None = None,
    log=None,
) -> TrainingResult:
    """Select the best candidate, refit it, score all splits, compare with the baselines."""
    seed = config.seed if seed is None else seed
    if config.task is not schema.task:
        raise BadInput(
            f"the training config is for a {config.task.value} model and the schema of "
            f"{schema.name} says {schema.task.value}"
        )
    for split in SPLITS:
        if split not in frames:
            raise BadInput(f"split {split!r} is missing")
        check_frame(frames[split], schema, f"split {split!r}")
    if not schema.is_classification:
        uses_log = any(
            split_params(p, config.target_transform)[1] == "log"
            for c in candidates_of(config, schema)
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
    else:
        present = set(labels(frames["train"], schema))
        if len(present) < 2:
            raise DataQualityError(
                f"split 'train': label {schema.label.name!r} holds one class only "
                f"({', '.join(sorted(present))}); a classifier needs two"
            )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.threads):
        return _train(frames, schema, config, seed, log)


def candidates_of(config: TrainingConfig, schema: DatasetSchema) -> list[Candidate]:
    """The config's candidates, then the baselines (when enabled and competing)."""
    out = list(config.candidates)
    if config.baselines.enabled and config.baselines.compete:
        kind = "classifier" if schema.is_classification else "regressor"
        for name, estimator in BASELINES[schema.task].items():
            out.append(Candidate(name=f"{BASELINE_PREFIX}{name}", **{kind: estimator}))
    return out


def _folds(y: np.ndarray, schema: DatasetSchema, wanted: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    if schema.is_classification:
        smallest = int(pd.Series(y).value_counts().min())
        if smallest >= 2:
            k = min(wanted, smallest)
            return k, StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    k = min(wanted, len(y))
    return k, KFold(n_splits=k, shuffle=True, random_state=seed)


def _train(
    frames: dict[str, pd.DataFrame],
    schema: DatasetSchema,
    config: TrainingConfig,
    seed: int,
    log,
) -> TrainingResult:
    timings: dict[str, float] = {}
    metric = config.selection_metric
    primary = config.metric
    candidates = candidates_of(config, schema)
    use_cv = len(frames["train"]) + len(frames["val"]) < config.selection.cv_below_rows

    started = time.perf_counter()
    scores: list[CandidateScore] = []
    folds = None
    if use_cv:
        pool = pd.concat([frames["train"], frames["val"]], ignore_index=True)
        x_pool, y_pool = xy(pool, schema)
        folds, splitter = _folds(y_pool, schema, config.selection.cv_folds, seed)
        fold_index = list(splitter.split(x_pool, y_pool))
        selection_rows = selection_val_rows = len(pool)
    else:
        sel_train = sample(frames["train"], config.selection.max_rows, seed)
        sel_val = sample(frames["val"], config.selection.max_val_rows, seed)
        x_sel, y_sel = xy(sel_train, schema)
        x_sval, y_sval = xy(sel_val, schema)
        selection_rows, selection_val_rows = len(sel_train), len(sel_val)
    selection_fits: dict[str, Any] = {}  # baselines fitted on the selection sample
    for candidate in candidates:
        for params in candidate.combinations():
            t0 = time.perf_counter()
            std = None
            if use_cv:
                per_fold = []
                for fit_rows, score_rows in fold_index:
                    pipeline = make_pipeline(schema, candidate.estimator, params, config, seed)
                    pipeline.fit(x_pool.iloc[fit_rows], y_pool[fit_rows])
                    per_fold.append(
                        evaluate(pipeline, x_pool.iloc[score_rows], y_pool[score_rows], schema)
                    )
                val = {k: float(np.nanmean([f[k] for f in per_fold])) for k in per_fold[0]}
                std = float(np.nanstd([f[metric] for f in per_fold]))
            else:
                pipeline = make_pipeline(schema, candidate.estimator, params, config, seed)
                pipeline.fit(x_sel, y_sel)
                val = evaluate(pipeline, x_sval, y_sval, schema)
                if candidate.name.startswith(BASELINE_PREFIX):
                    selection_fits[candidate.name] = pipeline
            score = CandidateScore(
                candidate.name,
                candidate.estimator,
                params,
                val,
                time.perf_counter() - t0,
                std,
                candidate.name.startswith(BASELINE_PREFIX),
            )
            scores.append(score)
            if log is not None:
                log.info(
                    "candidate %s %s: %s %s %.4g (%.1fs)",
                    candidate.name,
                    params,
                    "cv" if use_cv else "val",
                    metric,
                    score.val[metric],
                    score.fit_seconds,
                )
    best = scores[0]
    for score in scores[1:]:
        if better(metric, score.val[metric], best.val[metric]):
            best = score
    timings["selection_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    if use_cv:
        refit_frame = pd.concat([frames["train"], frames["val"]], ignore_index=True)
    else:
        refit_frame = sample(frames["train"], config.refit.max_rows, seed)
    x_refit, y_refit = xy(refit_frame, schema)
    pipeline = make_pipeline(schema, best.estimator, best.params, config, seed)
    pipeline.fit(x_refit, y_refit)
    timings["refit_seconds"] = time.perf_counter() - started

    # Baselines on the same test rows, with the winner: a paired bootstrap gives the noise.
    started = time.perf_counter()
    x_test, y_test = xy(frames["test"], schema)
    test_scorers = {"selected": scorer(pipeline, x_test, y_test, schema)}
    fitted = {"selected": pipeline}
    base_rows = sample(refit_frame, config.baselines.max_rows, seed)
    x_base, y_base = xy(base_rows, schema)
    baseline_of = {}
    if config.baselines.enabled:
        for name, estimator in BASELINES[schema.task].items():
            key = f"{BASELINE_PREFIX}{name}"
            baseline_of[key] = estimator
            if best.candidate == key and len(base_rows) == len(refit_frame):
                fitted[key] = pipeline
            elif key in selection_fits and base_rows.index.equals(sel_train.index):
                fitted[key] = selection_fits[key]  # already fitted on these very rows
            else:
                fitted[key] = make_pipeline(schema, estimator, {}, config, seed)
                fitted[key].fit(x_base, y_base)
            test_scorers[key] = scorer(fitted[key], x_test, y_test, schema)
    test_scores = {k: s() for k, s in test_scorers.items()}
    resampled = (
        m.bootstrap(test_scorers, primary, len(y_test), config.evaluation.bootstrap, seed)
        if config.evaluation.bootstrap
        else {}
    )
    selected_key = "selected"
    comparisons = _compare(selected_key, test_scores, resampled, baseline_of, primary)
    selected_by, overruled = "selection", None
    worse = [c for c in comparisons if c.verdict == "worse"]
    if worse:
        strongest = max(worse, key=lambda c: m.oriented(primary, c.test))
        key = f"{BASELINE_PREFIX}{strongest.name}"
        overruled = best.candidate
        selected_by = "baseline"
        best = next(
            (s for s in scores if s.candidate == key),
            CandidateScore(key, strongest.estimator, {}, {}, 0.0, baseline=True),
        )
        pipeline = fitted[key]
        refit_frame = base_rows
        selected_key = key
        comparisons = _compare(selected_key, test_scores, resampled, baseline_of, primary)
        if log is not None:
            log.info(
                "%s lost to baseline %s on the test split beyond its noise: %s is the model",
                overruled,
                strongest.name,
                key,
            )
    timings["baseline_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    result_metrics: dict[str, float] = {}
    for split in SPLITS:
        if split == "test":
            values = test_scores[selected_key]
        elif split == "val" and use_cv and best.val:
            values = best.val  # out-of-fold: val is part of the refit rows
        else:
            # Train metrics (an overfitting check) on a sample when large; val in full.
            frame = frames[split]
            if split == "train":
                frame = sample(frame, config.evaluation.max_train_rows, seed)
            x, y = xy(frame, schema)
            values = evaluate(pipeline, x, y, schema)
        for name in TASK_METRICS[schema.task]:
            result_metrics[f"{split}_{name}"] = float(values[name])
    if resampled:
        spread = m.interval(resampled[selected_key])
        result_metrics[f"test_{primary}_ci_low"] = spread.low
        result_metrics[f"test_{primary}_ci_high"] = spread.high
    if best.std is not None:
        result_metrics[f"cv_{metric}_std"] = best.std
    timings["evaluate_seconds"] = time.perf_counter() - started
    return TrainingResult(
        pipeline=pipeline,
        best=best,
        candidates=scores,
        metrics=result_metrics,
        seed=seed,
        selection_rows=selection_rows,
        selection_val_rows=selection_val_rows,
        refit_rows=len(refit_frame),
        timings=timings,
        task=schema.task,
        primary_metric=primary,
        selection="cv" if use_cv else "validation",
        folds=folds,
        selected_by=selected_by,
        overruled=overruled,
        baselines=comparisons,
        classes=schema.classes if schema.is_classification else None,
    )


def _compare(
    selected: str,
    test_scores: dict[str, dict[str, float]],
    resampled: dict[str, np.ndarray],
    baseline_of: dict[str, str],
    metric: str,
) -> list[BaselineComparison]:
    out = []
    mine = test_scores[selected][metric]
    for key, estimator in baseline_of.items():
        theirs = test_scores[key][metric]
        margin = m.oriented(metric, mine) - m.oriented(metric, theirs)
        low = high = float("nan")
        if resampled:
            diff = m.oriented(metric, resampled[selected]) - m.oriented(metric, resampled[key])
            spread = m.interval(diff)
            low, high = spread.low, spread.high
        out.append(
            BaselineComparison(
                key.removeprefix(BASELINE_PREFIX), estimator, theirs, mine, margin, low, high
            )
        )
    return out


def best_per_candidate(scores: list[CandidateScore], metric: str) -> dict[str, CandidateScore]:
    out: dict[str, CandidateScore] = {}
    for score in scores:
        current = out.get(score.candidate)
        if current is None or better(metric, score.val[metric], current.val[metric]):
            out[score.candidate] = score
    return out


def feature_importance(
    pipeline: Any,
    frame: pd.DataFrame,
    schema: DatasetSchema,
    rows: int,
    repeats: int,
    seed: int,
    metric: str | None = None,
) -> pd.DataFrame:
    """Permutation importance of each raw feature column: how much worse `metric` (rmse
    for a regressor, the primary metric given) gets when the column is shuffled."""
    from sklearn.inspection import permutation_importance

    metric = metric or ("roc_auc" if schema.is_classification else "rmse")
    x, y = xy(sample(frame, rows, seed), schema)

    def score(estimator, x_rows, y_rows) -> float:
        return m.oriented(metric, evaluate(estimator, x_rows, np.asarray(y_rows), schema)[metric])

    result = permutation_importance(
        pipeline, x, y, scoring=score, n_repeats=repeats, random_state=seed, n_jobs=1
    )
    table = pd.DataFrame(
        {
            "feature": schema.feature_names,
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)
