"""The Evidently 0.7 run: one Report (drift of every judged feature and of the prediction, a
data summary, and quality when labels exist) on the compared frames.

Regression: the prediction's drift and Evidently's RegressionPreset. Classification: the
drift of the predicted class distribution and of each class's probability, and Evidently's
ClassificationPreset (accuracy, precision, recall, F1, ROC AUC and log loss where
probabilities were logged, per-class scores) on a BinaryClassification (the positive class's
probability column) or MulticlassClassification (one probability column per class, named
after it) data definition.

Evidently picks the drift method by row count (p-value tests up to 1 000 rows, distances
above) unless the policy names one. The metric objects are kept beside the snapshot, so the
results are read back through them (`readings`), not through metric-id strings.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_core.schema import DatasetSchema
from model_monitoring.policy import Policy


@dataclass
class EvidentlyRun:
    snapshot: Any  # evidently Snapshot
    drift: Any  # the DataDriftPreset over the judged feature columns
    prediction_drift: Any  # the ValueDrift metric of the prediction column
    probability_drift: dict[str, Any] = field(default_factory=dict)  # class -> ValueDrift


def run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: DatasetSchema,
    policy: Policy,
    columns: list[str],
    prediction: str,
    label: str | None,
    *,
    limit: float | None,
    metric: str | None = None,
    probability_columns: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    name: str | None = None,
    summary: bool = True,
) -> EvidentlyRun:
    """Run the report on `current` against `reference` (both already sampled); `label` is
    None when the window has too few labels to judge quality; `probability_columns` maps a
    classifier's classes to its probability columns (None: no probabilities logged);
    `summary`: with the DataSummaryPreset (most of the run's time on a small window)."""
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset, DataSummaryPreset, RegressionPreset

    rule = policy.drift
    per_method = {c: r.method for c, r in rule.columns.items() if r.method and c in columns}
    per_threshold = {
        c: r.threshold for c, r in rule.columns.items() if r.threshold and c in columns
    }
    drift = DataDriftPreset(
        columns=columns,
        drift_share=rule.share,
        method=rule.method,
        threshold=rule.threshold,
        per_column_method=per_method or None,
        per_column_threshold=per_threshold or None,
    )
    prediction_drift = ValueDrift(column=prediction, method=rule.method, threshold=rule.threshold)
    items: list = [drift, prediction_drift]
    probability_drift: dict[str, Any] = {}
    if schema.is_classification:
        definition, reference, current, drifted, quality_probas = _classification(
            reference, current, schema, prediction, label, probability_columns
        )
        for cls, column in drifted.items():
            probability_drift[cls] = ValueDrift(
                column=column, method=rule.method, threshold=rule.threshold
            )
        items += list(probability_drift.values())
        if summary:
            items.append(DataSummaryPreset())
        if definition.classification:
            items += _classification_presets(metric, limit, quality_probas)
    else:
        numeric = [*schema.numeric_features, prediction] + ([label] if label else [])
        definition = DataDefinition(
            numerical_columns=numeric,
            categorical_columns=list(schema.categorical_features),
            regression=[Regression(target=label, prediction=prediction)] if label else None,
        )
        if summary:
            items.append(DataSummaryPreset())
        if label:
            from evidently.tests import lte

            tests = [lte(limit)] if limit is not None else []
            metric = metric or policy.performance.metric or "rmse"
            items.append(
                RegressionPreset(
                    rmse_tests=tests if metric == "rmse" else None,
                    mae_tests=tests if metric == "mae" else None,
                )
            )
    report = Report(items, include_tests=True, metadata=metadata or {}, tags=tags or [])
    with warnings.catch_warnings():
        # Evidently's binned regression plots call sklearn's r2 on bins of one row, and
        # pandas/numpy warn about Evidently's internal dtype handling: noise for a report.
        for category in (UserWarning, FutureWarning, RuntimeWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category=category)
        snapshot = report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
            name=name,
        )
    return EvidentlyRun(
        snapshot=snapshot,
        drift=drift,
        prediction_drift=prediction_drift,
        probability_drift=probability_drift,
    )


def _both_classes_labelled(frames, label: str) -> bool:
    """Evidently's binary metrics read the classes from the labels alone when probabilities
    are logged ("Failed to determine negative label" otherwise): a small window of feedback
    can hold one class."""
    return all(
        frame[label].dropna().nunique() >= 2
        for frame in frames
        if frame is not None and label in frame.columns
    )


def _fully_labelled(frames, label: str) -> bool:
    return all(label in frame.columns and frame[label].notna().all() for frame in frames)


def _classification(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: DatasetSchema,
    prediction: str,
    label: str | None,
    probability_columns: dict[str, str] | None,
):
    """The classification data definition, the frames as Evidently reads them, the
    probability columns whose drift is measured (binary: the positive class's only, the
    other is its complement), and the probabilities its quality metrics read (None: none).

    Evidently 0.7's ROC and precision-recall curves read every row, unlabelled ones too
    (they count as negatives, or fail with "Failed to determine negative label"), while its
    scores drop them: probabilities reach the quality metrics only on a fully labelled
    window. The run's own ROC AUC and log loss (`performance`) are computed on the labelled
    rows either way."""
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification

    from model_monitoring.performance import positive_class

    classes = list(schema.classes)
    probas = dict(probability_columns or {})
    categorical = [*schema.categorical_features, prediction] + ([label] if label else [])
    numeric = list(schema.numeric_features)
    task = None
    complete = bool(label) and _fully_labelled((reference, current), label)
    if len(classes) == 2:
        pos = positive_class(classes)
        drifted = {pos: probas[pos]} if probas else {}
        numeric += list(drifted.values())
        if label and _both_classes_labelled((reference, current), label):
            task = BinaryClassification(
                target=label,
                prediction_labels=prediction,
                prediction_probas=probas.get(pos) if complete else None,
                pos_label=pos,
            )
    else:
        drifted = probas
        taken = {*schema.feature_names, prediction, label}
        if probas and label and not taken & set(classes):
            # Evidently's multi-class probabilities are columns named after the classes.
            rename = {column: cls for cls, column in probas.items()}
            reference, current = reference.rename(columns=rename), current.rename(columns=rename)
            drifted = {cls: cls for cls in probas}
            names: list[str] | None = classes
        else:
            names = None
        numeric += list(drifted.values())
        if label:
            task = MulticlassClassification(
                target=label,
                prediction_labels=prediction,
                prediction_probas=names if complete else None,
            )
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=categorical,
        classification=[task] if task else None,
    )
    return definition, reference, current, drifted, (probas if complete else None) or None


# The policy metric -> the ClassificationPreset test it becomes (the others are reported).
# (Evidently's F1 of a binary task is the positive class's, not f1_macro: not a test here.)
_PRESET_TESTS = {"accuracy": "accuracy_tests", "roc_auc": "rocauc_tests",
                 "log_loss": "logloss_tests"}  # fmt: skip
_FROM_PROBABILITIES = {"rocauc_tests", "logloss_tests"}


def _classification_presets(metric: str | None, limit: float | None, probability_columns):
    """Evidently's ClassificationPreset on probabilities, else its quality and per-class
    scores without the curves (see `_classification`)."""
    from evidently.presets import (
        ClassificationPreset,
        ClassificationQuality,
        ClassificationQualityByLabel,
    )
    from evidently.tests import gte, lte

    from model_monitoring.policy import LOWER_IS_BETTER

    kwargs: dict[str, Any] = {}
    key = _PRESET_TESTS.get(metric or "")
    if key and limit is not None and (probability_columns or key not in _FROM_PROBABILITIES):
        kwargs[key] = [lte(limit) if metric in LOWER_IS_BETTER else gte(limit)]
    if probability_columns:
        return [ClassificationPreset(**kwargs)]
    return [ClassificationQuality(conf_matrix=True, **kwargs), ClassificationQualityByLabel()]
