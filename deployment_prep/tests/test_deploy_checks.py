"""The deployable checks: each refuses what it should, and names why.

The check functions are tested in-process here (fast); the clean-process run through
`mlops promote` is covered by test_deploy_promote.py.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from deploy_helpers import champion, house_schema

from deployment_prep.check_worker import check_latency, check_predictions, check_signature


class Scaled:
    """A stand-in model: a constant prediction per row, scaled."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, frame: pd.DataFrame):
        return [self.value] * len(frame)


@pytest.fixture
def spec(split_files) -> dict:
    return {
        "train": str(split_files["train"]),
        "test": str(split_files["test"]),
        "check_rows": 100,
        "range_margin": 0.5,
        "max_out_of_range": 0.01,
        "latency_samples": 20,
        "latency_budget_ms": 1000.0,
    }


def _median_label(split_files) -> float:
    return float(pd.read_parquet(split_files["train"])[house_schema().label.name].median())


def test_predictions_in_range_pass_and_implausible_ones_are_named(spec, split_files):
    schema = house_schema()
    median = _median_label(split_files)
    ok, stats = check_predictions(Scaled(median), spec, schema)
    assert ok["ok"], ok
    assert stats["rows"] == 100 and stats["out_of_range_share"] == 0.0
    low, high = stats["plausible_range"]
    assert low <= median <= high

    huge, stats = check_predictions(Scaled(median * 1000), spec, schema)
    assert not huge["ok"]
    assert "plausible range" in huge["detail"] and "100.0%" in huge["detail"]

    nan, _ = check_predictions(Scaled(float("nan")), spec, schema)
    assert not nan["ok"] and "not finite" in nan["detail"]

    # The label's schema minimum bounds the range even when the margin reaches below it.
    negative, _ = check_predictions(Scaled(-1.0), spec, schema)
    assert not negative["ok"]


def test_signature_must_match_the_dataset_schema(split_files):
    from mlflow.models import infer_signature

    schema = house_schema()
    frame = pd.read_parquet(split_files["train"]).head(50)
    features = frame[schema.feature_names]
    label = frame[schema.label.name].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = infer_signature(features, label)
        narrow = infer_signature(features.iloc[:, :-1], label)
        numeric = schema.numeric_features[0]
        retyped = infer_signature(features.astype({numeric: str}), label)
        no_output_type = infer_signature(features, frame[[schema.label.name]].astype(str))
    assert check_signature(full, schema)["ok"]
    missing = check_signature(narrow, schema)
    assert not missing["ok"] and schema.feature_names[-1] in missing["detail"]
    wrong = check_signature(retyped, schema)
    assert not wrong["ok"] and numeric in wrong["detail"] and "string" in wrong["detail"]
    assert not check_signature(no_output_type, schema)["ok"]
    assert not check_signature(None, schema)["ok"]


def test_latency_budget(spec, split_files):
    schema = house_schema()
    model = Scaled(_median_label(split_files))
    fine, stats = check_latency(model, spec, schema)
    assert fine["ok"] and stats["samples"] == 20 and stats["p99_ms"] >= stats["p50_ms"]

    class Slow(Scaled):
        def predict(self, frame):
            import time

            time.sleep(0.005)
            return super().predict(frame)

    over, stats = check_latency(Slow(1.0), {**spec, "latency_budget_ms": 1.0}, schema)
    assert not over["ok"] and "budget 1 ms" in over["detail"]


def test_a_version_that_failed_the_gate_is_refused(
    mlops, register, client, unique_model_name, mlops_home
):
    failed = register(tags={"validation_status": "failed", "validation_reason": "rmse too high"})
    result = mlops("promote", "--version", failed, "--json")
    assert result.exit_code == 3 and "rmse too high" in result.json["error"]
    # Refused before the checks ran: they record their verdict on the version.
    assert "deploy_check" not in client.get_model_version(unique_model_name, failed).tags
    assert champion(client, unique_model_name) is None


def test_a_version_without_lineage_is_refused(
    mlops, register, client, unique_model_name, mlops_home
):
    orphan = register(data_version=None)
    result = mlops("promote", "--version", orphan, "--json")
    assert result.exit_code == 3 and "data_version" in result.json["error"]
    assert champion(client, unique_model_name) is None


@pytest.fixture
def classifier_case(split_files, tmp_path):
    """A classification schema over the house-price features (label: price band "high" /
    "low", the classes as the schema writes them) and its test split."""
    from mlops_core.schema import DatasetSchema

    base = house_schema()
    label = base.label.name
    schema = DatasetSchema.model_validate(
        {
            **base.as_dict(),
            "name": "price-band",
            "task": "classification",
            "label": {"name": "band", "dtype": "category", "categories": ["high", "low"]},
        }
    )
    test = pd.read_parquet(split_files["test"])
    median = float(test[label].median())
    test["band"] = ["high" if v > median else "low" for v in test[label]]
    path = tmp_path / "test.parquet"
    test.drop(columns=[label]).to_parquet(path)
    spec = {"train": str(path), "test": str(path), "check_rows": 100}
    return schema, spec


class Constant:
    def __init__(self, value) -> None:
        self.value = value

    def predict(self, frame: pd.DataFrame):
        return pd.DataFrame({"prediction": [self.value] * len(frame)})


def test_a_classifier_predicts_one_of_its_classes(classifier_case):
    schema, spec = classifier_case
    ok, stats = check_predictions(Constant("high"), spec, schema)
    assert ok["ok"], ok
    assert stats["classes"] == ["high", "low"] and stats["predicted_classes"]["high"] == 100
    assert 0.0 < stats["accuracy"] < 1.0 and stats["out_of_range_share"] == 0.0

    wrong, stats = check_predictions(Constant("maybe"), spec, schema)
    assert not wrong["ok"] and "'maybe'" in wrong["detail"] and "high" in wrong["detail"]
    assert stats["out_of_range_share"] == 1.0 and "accuracy" not in stats
    numeric, _ = check_predictions(Constant(0.7), spec, schema)
    assert not numeric["ok"] and "not one of the classes" in numeric["detail"]


def test_a_classifier_signature_answers_one_class_per_row(classifier_case, split_files):
    from mlflow.models import infer_signature

    schema, _ = classifier_case
    frame = pd.read_parquet(split_files["train"]).head(20)[schema.feature_names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        classes = infer_signature(frame, pd.Series(["high", "low"] * 10, name="prediction"))
        two = infer_signature(frame, pd.DataFrame({"high": [0.5] * 20, "low": [0.5] * 20}))
    assert check_signature(classes, schema)["ok"]
    bad = check_signature(two, schema)
    assert not bad["ok"] and "one class per row" in bad["detail"]
