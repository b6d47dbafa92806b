"""A direct numpy path into a fitted scikit-learn Pipeline.

scikit-learn's ColumnTransformer costs far more than the arithmetic it does when it gets
one row: a DataFrame per block, column selection by name, validation at every step. For the
transformers a schema-built pipeline uses (ColumnTransformer of Pipelines of SimpleImputer,
StandardScaler, MinMaxScaler, RobustScaler, OneHotEncoder, OrdinalEncoder, passthrough),
`compile_pipeline` rebuilds the preprocessing as plain numpy on the validated records and
hands the matrix to the fitted final estimator: its `predict` for a regressor, its
`predict_proba` for a classifier (forests and trees averaged straight from their trees).

It is only used when it gives the pipeline's own answers: `compile_pipeline` checks the
result against `pipeline.predict` (a classifier: `pipeline.predict_proba`) on sample rows
and returns None (the DataFrame path) for anything it does not know or that does not match;
`compile_with_reason` also says why.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from typing import Any

import numpy as np

from mlops_core.schema import DatasetSchema

log = logging.getLogger("prediction_service.fastpath")

Matrix = np.ndarray
Step = Callable[[Matrix], Matrix]


class Unsupported(Exception):
    pass


def _imputer(t) -> Step:
    if getattr(t, "indicator_", None) is not None:
        raise Unsupported("SimpleImputer with add_indicator")
    stats = t.statistics_
    missing = t.missing_values

    nan_like = missing is None or missing != missing
    is_missing = np.frompyfunc(lambda v: v is None or v != v, 1, 1)

    def step(x: Matrix) -> Matrix:
        if x.dtype == object:
            mask = is_missing(x).astype(bool) if nan_like else (x == missing)
        elif nan_like:
            mask = np.isnan(x)
        else:
            mask = x == missing
        if mask.any():
            x = np.where(mask, stats, x)
        return x

    return step


def _standard(t) -> Step:
    mean = t.mean_ if t.with_mean else None
    scale = t.scale_ if t.with_std else None

    def step(x: Matrix) -> Matrix:
        x = np.asarray(x, dtype=np.float64)
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return step


def _minmax(t) -> Step:
    scale, shift, clip, lo_hi = t.scale_, t.min_, t.clip, t.feature_range

    def step(x: Matrix) -> Matrix:
        x = np.asarray(x, dtype=np.float64) * scale + shift
        return np.clip(x, lo_hi[0], lo_hi[1]) if clip else x

    return step


def _robust(t) -> Step:
    center = t.center_ if t.with_centering else None
    scale = t.scale_ if t.with_scaling else None

    def step(x: Matrix) -> Matrix:
        x = np.asarray(x, dtype=np.float64)
        if center is not None:
            x = x - center
        if scale is not None:
            x = x / scale
        return x

    return step


def _onehot(t) -> Step:
    if getattr(t, "drop_idx_", None) is not None:
        raise Unsupported("OneHotEncoder with drop")
    if getattr(t, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with infrequent categories")
    if t.handle_unknown != "ignore":
        raise Unsupported("OneHotEncoder that raises on unknown categories")
    blocks = []
    offset = 0
    for cats in t.categories_:
        blocks.append((offset, cats.tolist()))
        offset += len(cats)
    width = offset

    def step(x: Matrix) -> Matrix:
        out = np.zeros((x.shape[0], width), dtype=np.float64)
        for j, (start, cats) in enumerate(blocks):
            col = x[:, j]
            for k, cat in enumerate(cats):
                out[:, start + k] = col == cat
        return out

    return step


def _ordinal(t) -> Step:
    if getattr(t, "_infrequent_enabled", False):
        raise Unsupported("OrdinalEncoder with infrequent categories")
    if t.handle_unknown != "use_encoded_value":
        raise Unsupported("OrdinalEncoder that raises on unknown categories")
    unknown = float(t.unknown_value)
    lookups = [{c: float(k) for k, c in enumerate(cats.tolist())} for cats in t.categories_]

    def step(x: Matrix) -> Matrix:
        out = np.empty(x.shape, dtype=np.float64)
        for j, lookup in enumerate(lookups):
            col = x[:, j]
            for i in range(x.shape[0]):
                out[i, j] = lookup.get(col[i], unknown)
        return out

    return step


def _identity(x: Matrix) -> Matrix:
    return x


def _step(t) -> Step:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    if t is None or (isinstance(t, str) and t == "passthrough"):
        return _identity
    kind = type(t)
    if kind is FunctionTransformer and t.func is None:
        return _identity  # what a fitted ColumnTransformer makes of "passthrough"
    if kind is Pipeline:
        steps = [_step(s) for _, s in t.steps]

        def chain(x: Matrix) -> Matrix:
            for s in steps:
                x = s(x)
            return x

        return chain
    table = {
        SimpleImputer: _imputer,
        StandardScaler: _standard,
        MinMaxScaler: _minmax,
        RobustScaler: _robust,
        OneHotEncoder: _onehot,
        OrdinalEncoder: _ordinal,
    }
    if kind not in table:
        raise Unsupported(kind.__name__)
    return table[kind](t)


def _column_transformer(ct, schema: DatasetSchema) -> Callable[[Sequence[dict]], Matrix]:
    numeric = set(schema.numeric_features)
    known = set(schema.feature_names)
    blocks: list[tuple[list[str], bool, Step]] = []
    for _name, trans, columns in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        if isinstance(columns, str):
            columns = [columns]
        columns = list(columns)
        if not columns:
            continue
        if not all(isinstance(c, str) and c in known for c in columns):
            raise Unsupported("ColumnTransformer columns not given by schema names")
        is_numeric = all(c in numeric for c in columns)
        if not is_numeric and any(c in numeric for c in columns):
            raise Unsupported("a block mixing numeric and category columns")
        blocks.append((columns, is_numeric, _step(trans)))

    # itemgetter pulls a block's values out of each record in C: on a batch of 1 000 rows
    # a Python loop over rows and columns cost more than the block's arithmetic.
    getters = [
        (itemgetter(*columns), len(columns), np.float64 if is_numeric else object, step)
        for columns, is_numeric, step in blocks
    ]

    def transform(records: Sequence[dict]) -> Matrix:
        parts = []
        for get, width, dtype, step in getters:
            x = np.array(list(map(get, records)), dtype=dtype).reshape(len(records), width)
            parts.append(np.asarray(step(x), dtype=np.float64))
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    return transform


# From this many rows a forest's trees are applied on two threads: Tree.apply releases the
# GIL, and on a batch of 1 000 rows the trees are most of the cost. Smaller calls (the
# micro-batches of single records) stay on the calling thread.
_PARALLEL_ROWS = 256
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _helper() -> ThreadPoolExecutor | None:
    """One helper thread for every forest of the process, or None on a single CPU."""
    global _pool
    if _pool is None and len(os.sched_getaffinity(0)) > 1:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forest")
    return _pool


def _looked_up(leaves: Sequence[tuple[Callable, np.ndarray]], x32: Matrix) -> list[np.ndarray]:
    return [values[apply(x32)] for apply, values in leaves]


def _leaf_sum(leaves: Sequence[tuple[Callable, np.ndarray]], x32: Matrix) -> np.ndarray:
    """The sum over the trees, in tree order, of each tree's leaf values for the rows of
    x32 (the same sums whether one thread or two looked the leaves up)."""
    pool = _helper() if len(x32) >= _PARALLEL_ROWS else None
    if pool is None:
        apply, values = leaves[0]
        total = values[apply(x32)]
        for apply, values in leaves[1:]:
            total += values[apply(x32)]
        return total
    half = len(leaves) // 2
    second = pool.submit(_looked_up, leaves[half:], x32)
    looked = _looked_up(leaves[:half], x32) + second.result()
    total = looked[0]
    for part in looked[1:]:
        total += part
    return total


def _inverse(transformer) -> Callable[[Matrix], Matrix]:
    """A target transformer's inverse_transform; a FunctionTransformer's function called
    straight (its input here is the forest's own finite float64 output, which its
    check_array would only copy)."""
    from sklearn.preprocessing import FunctionTransformer

    if type(transformer) is FunctionTransformer and transformer.inverse_func is not None:
        func, kwargs = transformer.inverse_func, transformer.inv_kw_args or {}
        return lambda x: func(x, **kwargs)
    return transformer.inverse_transform


def _final(est) -> Callable[[Matrix], np.ndarray]:
    """The final estimator's predict; forests and trees without scikit-learn's per-tree
    joblib wrapping (10x the cost of the trees themselves on one row)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor

    kind = type(est)
    if kind is TransformedTargetRegressor:
        inner = _final(est.regressor_)
        inverse = _inverse(est.transformer_)

        def ttr(x: Matrix) -> np.ndarray:
            pred = np.asarray(inner(x))
            if pred.ndim == 1:
                pred = pred.reshape(-1, 1)
            out = np.asarray(inverse(pred))
            return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

        return ttr
    if kind in (RandomForestRegressor, ExtraTreesRegressor) and est.n_outputs_ == 1:
        # Each tree's leaf values, taken once: Tree.predict rebuilds its value array on
        # every call (a third of a small batch's cost); the sums are the same, in order.
        leaves = [
            (e.tree_.apply, e.tree_.value[:, 0, 0].astype(np.float64)) for e in est.estimators_
        ]
        n = float(len(leaves))

        def forest(x: Matrix) -> np.ndarray:
            return _leaf_sum(leaves, np.ascontiguousarray(x, dtype=np.float32)) / n

        return forest
    if kind in (DecisionTreeRegressor, ExtraTreeRegressor) and est.n_outputs_ == 1:
        tree = est.tree_

        def single(x: Matrix) -> np.ndarray:
            return tree.predict(np.ascontiguousarray(x, dtype=np.float32))[:, 0]

        return single
    return est.predict


def _final_proba(est) -> Callable[[Matrix], np.ndarray]:
    """The final classifier's predict_proba; forests and trees straight from their trees
    (scikit-learn's own arithmetic: each tree's leaf fractions, normalised, averaged)."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

    if not hasattr(est, "predict_proba"):
        raise Unsupported(f"{type(est).__name__} has no predict_proba")
    kind = type(est)

    def leaf_fractions(tree, n_classes: int) -> np.ndarray:
        value = tree.value[:, 0, :n_classes]
        normalizer = value.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        return value / normalizer

    def leaf_proba(tree, x32: Matrix, n_classes: int) -> np.ndarray:
        proba = tree.predict(x32)[:, :n_classes]
        normalizer = proba.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        return proba / normalizer

    if kind in (RandomForestClassifier, ExtraTreesClassifier) and est.n_outputs_ == 1:
        n_classes = int(est.n_classes_)
        # Every leaf's normalised class fractions, computed once (the same division
        # leaf_proba does per row).
        leaves = [(e.tree_.apply, leaf_fractions(e.tree_, n_classes)) for e in est.estimators_]
        n = float(len(leaves))

        def forest(x: Matrix) -> np.ndarray:
            return _leaf_sum(leaves, np.ascontiguousarray(x, dtype=np.float32)) / n

        return forest
    if kind in (DecisionTreeClassifier, ExtraTreeClassifier) and est.n_outputs_ == 1:
        tree, n_classes = est.tree_, int(est.n_classes_)

        def single(x: Matrix) -> np.ndarray:
            return leaf_proba(tree, np.ascontiguousarray(x, dtype=np.float32), n_classes)

        return single
    return est.predict_proba


def compile_pipeline(
    estimator: Any,
    schema: DatasetSchema,
    samples: Sequence[dict] | None = None,
    *,
    proba: bool = False,
) -> Callable[[Sequence[dict]], np.ndarray] | None:
    """A records -> predictions function equal to estimator.predict (with `proba`: to
    estimator.predict_proba), or None."""
    return compile_with_reason(estimator, schema, samples, proba=proba)[0]


def compile_with_reason(
    estimator: Any,
    schema: DatasetSchema,
    samples: Sequence[dict] | None = None,
    *,
    proba: bool = False,
) -> tuple[Callable[[Sequence[dict]], np.ndarray] | None, str | None]:
    """(the fast function, None), or (None, why the DataFrame path is used)."""
    try:
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline

        if type(estimator) is not Pipeline or len(estimator.steps) < 2:
            raise Unsupported("not a Pipeline")
        first = estimator.steps[0][1]
        if type(first) is not ColumnTransformer:
            raise Unsupported("the first step is not a ColumnTransformer")
        if getattr(first, "remainder", "drop") != "drop" and first.transformers_[-1][0] == (
            "remainder"
        ):
            columns = first.transformers_[-1][2]
            if len(columns):
                raise Unsupported("ColumnTransformer remainder with columns")
        head = _column_transformer(first, schema)
        middle = [_step(s) for _, s in estimator.steps[1:-1]]
        final = estimator.steps[-1][1]
        if hasattr(final, "feature_names_in_"):
            raise Unsupported("the final estimator was fitted on named columns")
        predict = _final_proba(final) if proba else _final(final)

        def run(records: Sequence[dict]) -> np.ndarray:
            x = head(records)
            for s in middle:
                x = s(x)
            return predict(x)

        if samples:
            import pandas as pd

            frame = pd.DataFrame(list(samples))[schema.feature_names]
            reference = estimator.predict_proba if proba else estimator.predict
            expected = np.asarray(reference(frame), dtype=np.float64).ravel()
            got = np.asarray(run(samples), dtype=np.float64).ravel()
            if expected.shape != got.shape or not np.allclose(got, expected, rtol=1e-9, atol=1e-9):
                what = "predict_proba" if proba else "predict"
                raise Unsupported(f"numpy path disagrees with the pipeline's {what} on sample rows")
        return run, None
    except Unsupported as exc:
        log.info("numpy fast path not used", extra={"reason": str(exc)})
        return None, str(exc)
    except Exception as exc:  # anything unexpected: the DataFrame path is always right
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("numpy fast path not used", extra={"reason": reason})
        return None, reason
