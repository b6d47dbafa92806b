from pathlib import Path

import pytest

from mlops_core.contracts import Task
from mlops_core.errors import BadInput
from mlops_core.schema import load_schema, normalise_category

HOUSE_PRICE = Path(__file__).resolve().parents[2] / "models" / "house-price" / "schema.yaml"


def test_house_price_schema_declares_features_and_label():
    schema = load_schema(HOUSE_PRICE)
    assert schema.task is Task.REGRESSION
    assert schema.label.name not in schema.feature_names
    assert set(schema.numeric_features) | set(schema.categorical_features) == set(
        schema.feature_names
    )
    for name in schema.categorical_features:
        assert schema.column(name).categories


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (" Yes", "yes"),
        ("NO ", "no"),
        ("Semi-Furnished", "semi-furnished"),
        ("semi  furnished", "semi furnished"),
    ],
)
def test_normalise_category(raw, normal):
    assert normalise_category(raw) == normal


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nlabel: {name: y, dtype: float}\nfeatures: []\n", "features"),
        (
            "name: x\nlabel: {name: y, dtype: category, categories: [a]}\n"
            "features: [{name: a, dtype: int}]\n",
            "regression label must be numeric",
        ),
        (
            "name: x\ntask: classification\nlabel: {name: y, dtype: int}\n"
            "features: [{name: a, dtype: int}]\n",
            "classification label is a category column",
        ),
        (
            "name: x\ntask: classification\nlabel: {name: y, dtype: category, categories: [a]}\n"
            "features: [{name: a, dtype: int}]\n",
            "two classes or more",
        ),
        (
            "name: x\ntask: ranking\nlabel: {name: y, dtype: float}\n"
            "features: [{name: a, dtype: int}]\n",
            "task",
        ),
        (
            "name: x\nlabel: {name: y, dtype: float}\nfeatures: [{name: y, dtype: int}]\n",
            "declared twice",
        ),
        (
            "name: x\nlabel: {name: y, dtype: float}\n"
            "features: [{name: a, dtype: category, categories: [' Yes']}]\n",
            "normal form",
        ),
        (
            "name: x\nlabel: {name: y, dtype: float}\n"
            "features: [{name: a, dtype: int, min: 5, max: 1}]\n",
            "above max",
        ),
        ("- just\n- a list\n", "mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_schema_files_name_the_problem(tmp_path: Path, text, message):
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message) as info:
        load_schema(path)
    assert str(path) in str(info.value)


def test_missing_schema_file(tmp_path: Path):
    with pytest.raises(BadInput, match="cannot be read"):
        load_schema(tmp_path / "nope.yaml")


def test_a_classification_schema_lists_its_classes(tmp_path: Path):
    path = tmp_path / "schema.yaml"
    path.write_text(
        "name: churn\ntask: classification\n"
        "label: {name: churned, dtype: category, categories: ['yes', 'no']}\n"
        "features: [{name: tenure, dtype: int}]\n"
    )
    schema = load_schema(path)
    assert schema.is_classification
    assert schema.classes == ("yes", "no")
