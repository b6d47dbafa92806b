"""The numpy fast path gives the pipeline's own predictions, or is not used."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.tree import DecisionTreeRegressor

from mlops_core.synthetic import generate
from prediction_service.fastpath import compile_pipeline
from prediction_service.model import LoadedModel, Predictor


@pytest.fixture(scope="module")
def data(schema):
    frame = generate(schema, 800, seed=5)
    return frame[schema.feature_names], frame[schema.label.name]


def _pipe(schema, numeric, categorical, regressor, log_target=False):
    prep = ColumnTransformer(
        [
            ("num", numeric, schema.numeric_features),
            ("cat", categorical, schema.categorical_features),
        ]
    )
    if log_target:
        regressor = TransformedTargetRegressor(
            regressor=regressor, func=np.log, inverse_func=np.exp, check_inverse=False
        )
    return Pipeline([("prep", prep), ("reg", regressor)])


def _num():
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])


def _cat():
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )


SUPPORTED = {
    "train-style forest, log target": lambda s: _pipe(
        s, _num(), _cat(), RandomForestRegressor(n_estimators=15, max_features=0.5), True
    ),
    "gradient boosting, sparse one-hot": lambda s: _pipe(
        s, StandardScaler(), OneHotEncoder(handle_unknown="ignore"), GradientBoostingRegressor()
    ),
    "extra trees, min-max": lambda s: _pipe(
        s, MinMaxScaler(), _cat(), ExtraTreesRegressor(n_estimators=10)
    ),
    "tree, robust, ordinal": lambda s: _pipe(
        s,
        RobustScaler(),
        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
        DecisionTreeRegressor(max_depth=6),
    ),
    "ridge, passthrough": lambda s: _pipe(s, "passthrough", _cat(), Ridge()),
    "hist gradient boosting": lambda s: _pipe(
        s, _num(), _cat(), HistGradientBoostingRegressor(max_iter=20)
    ),
}


@pytest.mark.parametrize("name", list(SUPPORTED))
def test_fast_path_equals_the_pipeline(name, schema, data):
    X, y = data
    pipe = SUPPORTED[name](schema).fit(X, y)
    predictor = Predictor(schema)
    model = predictor.prepare(LoadedModel("m", "1", "u", pipe))
    assert model.fast is not None, name
    records = predictor.samples(200)
    expected = pipe.predict(predictor.frame(records))
    assert predictor.predict(model, records) == pytest.approx(expected.tolist(), rel=1e-9)
    assert predictor.predict(model, records[:1]) == pytest.approx([expected[0]], rel=1e-9)


def test_a_large_batch_splits_the_trees_over_two_threads_and_sums_the_same(schema, data):
    from prediction_service import fastpath

    X, y = data
    pipe = SUPPORTED["train-style forest, log target"](schema).fit(X, y)
    predictor = Predictor(schema)
    model = predictor.prepare(LoadedModel("m", "1", "u", pipe))
    records = predictor.samples(3 * fastpath._PARALLEL_ROWS)
    whole = predictor.predict(model, records)
    assert fastpath._pool is not None, "the batch did not use the helper thread"
    # The same rows in calls below the threshold: one thread, the same sums bit for bit.
    step = fastpath._PARALLEL_ROWS - 1
    pieces = [
        v
        for i in range(0, len(records), step)
        for v in predictor.predict(model, records[i : i + step])
    ]
    assert whole == pieces
    assert whole == pytest.approx(pipe.predict(predictor.frame(records)).tolist(), rel=1e-9)


UNSUPPORTED = {
    "one-hot with drop": lambda s: _pipe(s, _num(), OneHotEncoder(drop="first"), Ridge()),
    "function transformer": lambda s: _pipe(s, FunctionTransformer(np.log1p), _cat(), Ridge()),
    "raising one-hot": lambda s: _pipe(s, _num(), OneHotEncoder(sparse_output=False), Ridge()),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unknown_steps_keep_the_dataframe_path(name, schema, data):
    X, y = data
    pipe = UNSUPPORTED[name](schema).fit(X, y)
    predictor = Predictor(schema)
    model = predictor.prepare(LoadedModel("m", "1", "u", pipe))
    assert model.fast is None
    records = predictor.samples(20)
    assert predictor.predict(model, records) == pytest.approx(
        pipe.predict(predictor.frame(records)).tolist()
    )


def test_a_disagreeing_path_is_refused(schema, data):
    X, y = data
    pipe = SUPPORTED["ridge, passthrough"](schema).fit(X, y)
    records = Predictor(schema).samples(10)
    assert compile_pipeline(pipe, schema, records) is not None
    original = pipe.predict

    # The check compares with estimator.predict: make that disagree.
    shifted = Pipeline(pipe.steps)
    shifted.predict = lambda frame: original(frame) + 1.0  # type: ignore[method-assign]
    assert compile_pipeline(shifted, schema, records) is None


def test_a_swapped_out_model_is_freed_although_the_heap_was_frozen(schema, data):
    """The service freezes the heap after a swap without a collection; that only holds if a
    model with its compiled fast path has no reference cycle, so that dropping the last
    reference frees it."""
    import gc
    import weakref

    from prediction_service.manager import freeze_heap

    X, y = data
    pipe = _pipe(
        schema,
        SimpleImputer(),
        OneHotEncoder(handle_unknown="ignore"),
        RandomForestRegressor(n_estimators=5, random_state=0),
        log_target=True,
    ).fit(X, y)
    predictor = Predictor(schema)
    model = predictor.prepare(LoadedModel("m", "1", "x", pipe, flavor="sklearn"))
    assert model.fast is not None
    predictor.predict(model, predictor.samples(3))
    refs = [weakref.ref(pipe), weakref.ref(pipe.steps[-1][1]), weakref.ref(model)]
    del pipe
    try:
        freeze_heap(collect=False)
        del model
        assert [r() is None for r in refs] == [True, True, True]
    finally:
        gc.unfreeze()


# -- classifiers: the fast path reproduces predict_proba, or is not used ----------------------
CLASSIFIERS = {
    "logistic regression, binary": (("yes", "no"), lambda: _logistic()),
    "logistic regression, three classes": (("low", "mid", "high"), lambda: _logistic()),
    "random forest, binary": (("yes", "no"), lambda: _forest()),
    "random forest, three classes": (("low", "mid", "high"), lambda: _forest()),
    "extra trees": (("yes", "no"), lambda: _extra()),
    "decision tree": (("yes", "no"), lambda: _tree()),
    "hist gradient boosting": (("low", "mid", "high"), lambda: _hgb()),
}


def _logistic():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500, class_weight="balanced")


def _forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=20, min_samples_leaf=3, random_state=0)


def _extra():
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(n_estimators=10, random_state=0)


def _tree():
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=5, random_state=0)


def _hgb():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=20)


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classifier_fast_path_reproduces_predict_proba(name):
    import classifier_helpers as ch

    classes, make = CLASSIFIERS[name]
    schema = ch.schema_of("churn", classes)
    X, y = ch.frame(schema, 500, seed=2)
    pipe = ch.pipeline(schema, make()).fit(X, y)
    predictor = Predictor(schema)
    model = predictor.prepare(LoadedModel("churn", "1", "u", pipe))
    assert model.fast is not None, (name, model.fast_reason)
    records = predictor.samples(200) + [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in X.head(100).to_dict("records")
    ]
    expected = pipe.predict_proba(predictor.frame(records))
    answers = predictor.predict(model, records)
    assert len(answers) == len(records)
    for (predicted, probabilities), row, label in zip(
        answers, expected, pipe.predict(predictor.frame(records)), strict=True
    ):
        assert list(probabilities) == list(classes)  # every class, in the schema's order
        by_class = dict(zip(map(str, pipe.classes_), row, strict=True))
        assert [probabilities[c] for c in classes] == pytest.approx(
            [by_class[c] for c in classes], rel=1e-9, abs=1e-12
        )
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert predicted == label
    # One record through the micro-batch path gives the same.
    assert predictor.predict(model, records[:1])[0][1] == pytest.approx(answers[0][1])


def test_a_disagreeing_classifier_path_is_refused_and_says_why():
    import classifier_helpers as ch

    schema = ch.schema_of("churn")
    X, y = ch.frame(schema, 300, seed=3)
    pipe = ch.pipeline(schema, _logistic()).fit(X, y)
    shifted = Pipeline(pipe.steps)
    original = pipe.predict_proba
    shifted.predict_proba = lambda frame: original(frame)[:, ::-1]  # type: ignore[method-assign]
    predictor = Predictor(schema)
    model = predictor.prepare(LoadedModel("churn", "1", "u", shifted))
    assert model.fast is None
    assert "predict_proba" in model.fast_reason
    # The DataFrame path answers with the (reversed) pipeline's own probabilities.
    records = predictor.samples(5)
    got = [p for _, p in predictor.predict(model, records)]
    want = shifted.predict_proba(predictor.frame(records))
    flat = [g[c] for g in got for c in map(str, pipe.classes_)]
    assert flat == pytest.approx(want.ravel().tolist())


def test_a_classifier_of_other_classes_is_refused():
    import classifier_helpers as ch

    from mlops_core.errors import BadInput

    X, y = ch.frame(ch.schema_of("churn", ("low", "mid", "high")), 200, seed=4)
    schema = ch.schema_of("churn", ("yes", "no"))
    pipe = ch.pipeline(schema, _logistic()).fit(X, y)
    with pytest.raises(BadInput, match=r"does not declare: .*schema classes: yes, no"):
        Predictor(schema).prepare(LoadedModel("churn", "1", "models:/churn/1", pipe))
    regressor = ch.pipeline(schema, Ridge()).fit(X, np.arange(len(X), dtype=float))
    with pytest.raises(BadInput, match="no predict_proba"):
        Predictor(schema).prepare(LoadedModel("churn", "1", "models:/churn/1", regressor))
