"""`mlops pipeline traffic`: wrong labels on purpose, and a clear error with no service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loop_runner.traffic import corrupt_labels
from mlops_core.errors import BadInput
from mlops_core.schema import load_schema
from mlops_core.settings import get_settings

CHURN = Path(__file__).resolve().parents[2] / "models" / "churn" / "schema.yaml"


def test_wrong_labels_are_another_class_for_a_classifier():
    schema = load_schema(CHURN)
    labels = [schema.classes[i % len(schema.classes)] for i in range(2000)]
    wrong = corrupt_labels(schema, labels, 0.3, seed=1)
    changed = [i for i, (a, b) in enumerate(zip(labels, wrong, strict=True)) if a != b]
    assert 0.26 < len(changed) / len(labels) < 0.34
    assert all(wrong[i] in schema.classes and isinstance(wrong[i], str) for i in changed)
    assert corrupt_labels(schema, labels, 0.3, seed=1) == wrong  # seeded


def test_wrong_labels_of_a_regression_are_far_off(mlops_home):
    schema = get_settings().load_schema("house-price")
    labels = [100.0 + i for i in range(1000)]
    wrong = corrupt_labels(schema, labels, 1.0, seed=1)
    assert wrong == [3.0 * v for v in labels]
    assert corrupt_labels(schema, labels, 0.0, seed=1) == labels
    with pytest.raises(BadInput, match="--wrong-labels"):
        corrupt_labels(schema, labels, 1.5, seed=1)


def test_without_a_running_service_it_says_how_to_start_one(mlops, mlops_home):
    result = mlops("pipeline", "traffic", "--model", "house-price", "--rows", "10", "--json")
    assert result.exit_code == 5, result.stderr
    assert "no prediction service" in result.stderr and "mlops up" in result.stderr
    assert "house-price" in result.stderr
    assert not result.stdout.strip() or "error" in json.loads(result.stdout.strip())
