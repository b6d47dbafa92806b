"""The generator's classification label models: logistic (binary, models/churn) and softmax
(multi-class, examples/models/ticket-priority), seeded, with drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from mlops_core.errors import BadInput
from mlops_core.schema import DatasetSchema, load_schema
from mlops_core.synthetic import Drift, class_probabilities, generate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def churn() -> DatasetSchema:
    return load_schema(REPO / "models" / "churn" / "schema.yaml")


@pytest.fixture(scope="module")
def tickets() -> DatasetSchema:
    return load_schema(REPO / "examples" / "models" / "ticket-priority" / "schema.yaml")


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (Mann-Whitney), without scikit-learn."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    n_pos = positive.sum()
    n_neg = len(positive) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_binary_labels_are_the_schemas_classes_seeded_and_imbalanced(churn):
    a = generate(churn, 20_000, seed=4)
    assert a.equals(generate(churn, 20_000, seed=4))
    assert not a.equals(generate(churn, 20_000, seed=5))
    assert list(a.columns) == [*churn.feature_names, "churned"]
    assert set(a["churned"]) == {"yes", "no"}
    assert a["churned"].dtype == object
    share = (a["churned"] == "yes").mean()
    assert 0.2 < share < 0.3, share
    for column in churn.features:
        if column.is_numeric:
            assert a[column.name].between(column.min, column.max).all(), column.name


def test_binary_classes_follow_the_features(churn):
    frame = generate(churn, 20_000, seed=6)
    p = class_probabilities(churn, frame)
    assert p.shape == (20_000, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    positive = (frame["churned"] == "yes").to_numpy()
    # The label model's own probability ranks the drawn classes well (learnable signal),
    # and its mean matches the drawn share (the classes are drawn from it).
    assert _auc(positive, p[:, churn.classes.index("yes")]) > 0.75
    assert abs(p[:, churn.classes.index("yes")].mean() - positive.mean()) < 0.01
    monthly = frame["contract"] == "month-to-month"
    assert positive[monthly].mean() > 2 * positive[~monthly].mean()


def test_multi_class_softmax(tickets):
    frame = generate(tickets, 30_000, seed=2)
    assert frame.equals(generate(tickets, 30_000, seed=2))
    counts = frame["priority"].value_counts(normalize=True)
    assert set(counts.index) == {"low", "medium", "high"}
    assert counts.min() > 0.05
    p = class_probabilities(tickets, frame)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    for i, name in enumerate(tickets.classes):
        assert abs(p[:, i].mean() - counts[name]) < 0.01, name
    outage = frame["outage_reported"] == "yes"
    high = frame["priority"] == "high"
    assert high[outage].mean() > 3 * high[~outage].mean()


def test_drift_moves_the_class_mix_through_the_features(churn):
    base = generate(churn, 20_000, seed=8)
    short = generate(churn, 20_000, seed=8, drift=Drift(shift={"tenure_months": 0.3}))
    monthly = generate(
        churn, 20_000, seed=8, drift=Drift(category_weights={"contract": {"month-to-month": 1}})
    )
    rate = {k: (f["churned"] == "yes").mean() for k, f in (("base", base), ("short", short),
                                                          ("monthly", monthly))}  # fmt: skip
    assert short["tenure_months"].mean() == pytest.approx(base["tenure_months"].mean() * 0.3,
                                                          rel=0.02)  # fmt: skip
    assert rate["short"] > rate["base"] + 0.05
    assert rate["monthly"] > rate["base"] + 0.05
    dirty = generate(
        churn, 5_000, seed=1, drift=Drift(missing_rate=0.05, duplicate_rate=0.1, invalid_rate=0.02)
    )
    assert len(dirty) == 5_500
    assert dirty["churned"].notna().all()  # missing cells are features' only
    assert set(dirty["churned"]) == {"yes", "no"}


def _with_label_model(schema: DatasetSchema, tmp_path: Path, label: dict, **top) -> DatasetSchema:
    data = schema.as_dict()
    data["synthetic"] = {"label": label}
    data.update(top)
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_schema(path)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ({"link": "log", "intercept": 1}, r"synthetic.label.link: 'log' does not fit a "
                                          r"classification label \(use logistic or softmax\)"),
        ({"intercept": 1}, r"link: None does not fit"),
        ({"link": "logistic", "positive": "maybe"}, r"synthetic.label.positive: 'maybe' is "
                                                    r"not a class \(yes, no\)"),
        ({"link": "logistic", "positive": "yes", "terms": {"nope": {"coefficient": 1}}},
         r"synthetic.label.terms: 'nope' is not a feature"),
        ({"link": "logistic", "positive": "yes", "terms": {"contract": {"coefficient": 1}}},
         r"terms.contract: a numeric feature takes 'coefficient', a category feature 'levels'"),
        ({"link": "logistic", "positive": "yes",
          "terms": {"contract": {"levels": {"weekly": 1}}}},
         r"terms.contract.levels: \['weekly'\] not categories"),
        ({"link": "softmax"}, r"synthetic.label.classes: softmax needs"),
        ({"link": "softmax", "classes": {"perhaps": {"intercept": 1}}},
         r"classes: 'perhaps' is not a class"),
        ({"link": "softmax", "classes": {"yes": {"terms": {"x": {"coefficient": 1}}}}},
         r"synthetic.label.classes.yes.terms: 'x' is not a feature"),
    ],
)  # fmt: skip
def test_bad_label_models_name_the_field(churn, tmp_path, label, message):
    schema = _with_label_model(churn, tmp_path, label)
    with pytest.raises(BadInput, match=message):
        generate(schema, 100)


def test_logistic_needs_two_classes(tickets, tmp_path):
    schema = _with_label_model(tickets, tmp_path, {"link": "logistic", "positive": "high"})
    with pytest.raises(BadInput, match=r"logistic is for two classes.*has 3.*use softmax"):
        generate(schema, 100)


def test_softmax_works_for_two_classes_too(churn, tmp_path):
    schema = _with_label_model(
        churn, tmp_path, {"link": "softmax", "classes": {"yes": {"intercept": -1.1}}}
    )
    share = (generate(schema, 20_000, seed=1)["churned"] == "yes").mean()
    assert share == pytest.approx(1 / (1 + np.exp(1.1)), abs=0.015)


def test_a_regression_label_model_cannot_be_logistic(tmp_path):
    house = load_schema(REPO / "models" / "house-price" / "schema.yaml")
    schema = _with_label_model(house, tmp_path, {"link": "logistic", "positive": "yes"})
    with pytest.raises(BadInput, match=r"'logistic' does not fit a regression label"):
        generate(schema, 100)


@pytest.mark.parametrize(
    "drift",
    [Drift(shift={"churned": 1.2}), Drift(category_weights={"churned": {"yes": 1}})],
)
def test_drift_on_the_label_is_refused(churn, drift):
    with pytest.raises(BadInput, match="'churned' is the label; drift changes features"):
        generate(churn, 100, drift=drift)
