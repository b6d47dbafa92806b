from pathlib import Path

import numpy as np
import pytest

from mlops_core.errors import BadInput
from mlops_core.schema import load_schema
from mlops_core.synthetic import Drift, generate

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def schema():
    return load_schema(MODELS / "house-price" / "schema.yaml")


def test_same_seed_same_rows(schema):
    a = generate(schema, 500, seed=7)
    b = generate(schema, 500, seed=7)
    c = generate(schema, 500, seed=8)
    assert a.equals(b)
    assert not a.equals(c)


def test_rows_respect_the_schema(schema):
    frame = generate(schema, 5000, seed=1)
    assert list(frame.columns) == [*schema.feature_names, schema.label.name]
    for column in schema.columns:
        values = frame[column.name]
        assert values.notna().all()
        if column.dtype == "category":
            assert set(values) <= set(column.categories)
        else:
            assert values.min() >= column.min and values.max() <= column.max


def test_label_depends_on_features(schema):
    frame = generate(schema, 20000, seed=3)
    numeric = schema.numeric_features
    correlations = frame[numeric].corrwith(np.log(frame[schema.label.name]))
    assert correlations.max() > 0.3


def test_drift_changes_what_it_names(schema):
    numeric = schema.numeric_features[0]
    category = schema.categorical_features[-1]
    first = schema.column(category).categories[0]
    base = generate(schema, 20000, seed=5)
    drifted = generate(
        schema,
        20000,
        seed=5,
        drift=Drift(shift={numeric: 1.5}, category_weights={category: {first: 1}}),
    )
    assert drifted[numeric].mean() == pytest.approx(base[numeric].mean() * 1.5, rel=0.01)
    assert (drifted[category] == first).all()


def test_dirty_rows(schema):
    frame = generate(
        schema, 10000, seed=2, drift=Drift(missing_rate=0.05, duplicate_rate=0.1, invalid_rate=0.05)
    )
    assert len(frame) == 11000
    assert frame.duplicated().sum() >= 900
    missing = frame[schema.feature_names].isna().to_numpy().mean()
    assert 0.03 < missing < 0.07


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0}, "between"),
        ({"drift": Drift(shift={"nope": 1.2})}, "not a column"),
        ({"drift": Drift(missing_rate=1.5)}, "missing rate"),
    ],
)
def test_bad_generator_input(schema, kwargs, message):
    kwargs = {"rows": 100, **kwargs}
    with pytest.raises(BadInput, match=message):
        generate(schema, **kwargs)
