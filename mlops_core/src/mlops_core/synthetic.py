"""Seeded synthetic rows for any dataset schema, from the schema's `synthetic` sections.

The demo, the tests and the benchmarks use it, since no machine here reaches the internet.
Drift is injected by name, so the same code shifts any dataset.

The label (the schema's top-level `synthetic.label`) is a score of the features:
`intercept + sum(terms) + interactions + noise`, each term `coefficient * transform(x)` of
a numeric feature or `levels: {category: coefficient}` of a category feature.
- regression: `link: log` (label = exp(score)) or `identity` (label = score);
- binary classification: `link: logistic`, `positive: CLASS`; P(positive) = sigmoid(score),
  the class is drawn from it (seeded);
- classification with any number of classes: `link: softmax` and `classes: {CLASS: {intercept,
  terms, interactions}}`, one score per class (a class left out scores 0); P = softmax of
  the scores, the class is drawn from it.
Drift changes the features; a classifier's classes follow from the drifted features through
the same label model (covariate shift, so the class mix moves with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlops_core.errors import BadInput
from mlops_core.schema import Column, DatasetSchema

MIN_ROWS = 1
MAX_ROWS = 10_000_000


@dataclass(frozen=True)
class Drift:
    """What to change in the generated rows.

    shift: numeric column -> multiplicative factor (1.3 makes values 30% larger).
    category_weights: category column -> {category: weight}, replacing the schema's mix.
    missing_rate: share of feature cells set to missing.
    duplicate_rate: share of rows repeated exactly.
    invalid_rate: share of rows made invalid (out-of-range value or unknown category).
    """

    shift: Mapping[str, float] = field(default_factory=dict)
    category_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    missing_rate: float = 0.0
    duplicate_rate: float = 0.0
    invalid_rate: float = 0.0

    def validate(self, schema: DatasetSchema) -> None:
        for name in [*self.shift, *self.category_weights]:
            if name == schema.label.name:
                option = "shift" if name in self.shift else "category weights"
                raise BadInput(
                    f"{option}: {name!r} is the label; drift changes features "
                    "(the label follows from them)"
                )
        for name in self.shift:
            _column(schema, name, numeric=True, option="shift")
        for name, weights in self.category_weights.items():
            column = _column(schema, name, numeric=False, option="category weights")
            unknown = set(weights) - set(column.categories or ())
            if unknown:
                raise BadInput(
                    f"category weights for {name!r}: unknown categories {sorted(unknown)}"
                )
        for label, rate in (
            ("missing rate", self.missing_rate),
            ("duplicate rate", self.duplicate_rate),
            ("invalid rate", self.invalid_rate),
        ):
            if not 0.0 <= rate < 1.0:
                raise BadInput(f"{label} must be in [0, 1), got {rate}")

    @property
    def is_empty(self) -> bool:
        return not (
            self.shift
            or self.category_weights
            or self.missing_rate
            or self.duplicate_rate
            or self.invalid_rate
        )


def _column(schema: DatasetSchema, name: str, *, numeric: bool, option: str) -> Column:
    try:
        column = schema.column(name)
    except KeyError:
        raise BadInput(f"{option}: {name!r} is not a column of schema {schema.name!r}") from None
    if column.is_numeric != numeric:
        kind = "numeric" if numeric else "category"
        raise BadInput(f"{option}: {name!r} is not a {kind} column")
    return column


def generate(
    schema: DatasetSchema, rows: int, seed: int = 0, drift: Drift | None = None
) -> pd.DataFrame:
    """Generate `rows` labelled rows (plus any injected duplicates)."""
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise BadInput(f"rows must be between {MIN_ROWS} and {MAX_ROWS:,}, got {rows:,}")
    drift = drift or Drift()
    drift.validate(schema)
    check_label_model(schema)
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for column in schema.features:
        data[column.name] = _feature(column, rows, rng, drift)
    frame = pd.DataFrame(data)
    frame[schema.label.name] = _label(schema, frame, rng)
    for column in schema.categorical_features:
        frame[column] = frame[column].astype(object)
    if schema.is_classification:
        frame[schema.label.name] = frame[schema.label.name].astype(object)
    if drift.invalid_rate:
        _make_invalid(schema, frame, rng, drift.invalid_rate)
    if drift.missing_rate:
        mask = rng.random((rows, len(schema.features))) < drift.missing_rate
        for i, name in enumerate(schema.feature_names):
            if mask[:, i].any():
                if schema.column(name).is_numeric:
                    frame[name] = frame[name].astype("float64")
                frame.loc[mask[:, i], name] = np.nan if schema.column(name).is_numeric else None
    if drift.duplicate_rate:
        picks = rng.choice(rows, size=int(rows * drift.duplicate_rate), replace=True)
        frame = pd.concat([frame, frame.iloc[picks]], ignore_index=True)
    return frame


def _feature(column: Column, rows: int, rng: np.random.Generator, drift: Drift) -> np.ndarray:
    spec = dict(column.synthetic or {})
    if column.dtype == "category":
        categories = list(column.categories or ())
        weights = spec.get("weights") or [1.0] * len(categories)
        if column.name in drift.category_weights:
            override = drift.category_weights[column.name]
            weights = [float(override.get(c, 0.0)) for c in categories]
        p = np.asarray(weights, dtype=float)
        if p.sum() <= 0:
            raise BadInput(f"category weights for {column.name!r} sum to zero")
        return rng.choice(np.asarray(categories, dtype=object), size=rows, p=p / p.sum())

    kind = spec.get("distribution", "uniform")
    if kind == "lognormal":
        values = rng.lognormal(spec.get("mean", 0.0), spec.get("sigma", 1.0), rows)
    elif kind == "normal":
        values = rng.normal(spec.get("mean", 0.0), spec.get("sigma", 1.0), rows)
    elif kind == "choice":
        p = np.asarray(spec["weights"], dtype=float)
        values = rng.choice(np.asarray(spec["values"], dtype=float), size=rows, p=p / p.sum())
    elif kind == "uniform":
        low = spec.get("low", column.min if column.min is not None else 0.0)
        high = spec.get("high", column.max if column.max is not None else 1.0)
        values = rng.uniform(low, high, rows)
    else:
        raise BadInput(f"column {column.name!r}: unknown synthetic distribution {kind!r}")
    if "clip" in spec:
        values = np.clip(values, *spec["clip"])
    factor = drift.shift.get(column.name)
    if factor is not None:
        values = values * factor
    if column.dtype == "int":
        values = np.rint(values)
        # A shift must not push an integer column out of its declared range.
        if factor is not None:
            values = np.clip(values, column.min, column.max)
        return values.astype("int64")
    if "round" in spec:
        values = np.round(values, int(spec["round"]))
    return values


def _label(schema: DatasetSchema, frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    spec = schema.synthetic["label"]  # type: ignore[index]
    if schema.is_classification:
        return _classes(schema, spec, frame, rng)
    label = _score(schema, spec, frame, rng)
    if spec.get("link") == "log":
        label = np.exp(label)
    if schema.label.dtype == "int":
        return np.rint(label).astype("int64")
    return np.round(label, 2)


def _score(
    schema: DatasetSchema, spec: Mapping, frame: pd.DataFrame, rng: np.random.Generator | None
) -> np.ndarray:
    """intercept + terms + interactions (+ noise when `rng` is given)."""
    eta = np.full(len(frame), float(spec.get("intercept", 0.0)))
    for name, term in (spec.get("terms") or {}).items():
        eta += _term(frame, name, term)
    for term in spec.get("interactions") or []:
        active = np.ones(len(frame), dtype=bool)
        for name, value in (term.get("when") or {}).items():
            active &= frame[name].to_numpy() == value
        numeric = [f for f in term["features"] if schema.column(f).is_numeric]
        base = np.ones(len(frame))
        for name in numeric:
            base = base * (
                _transform(frame[name].to_numpy(float), term.get("transform"))
                - float(term.get("center", 0.0))
            )
        eta += np.where(active, float(term["coefficient"]) * base, 0.0)
    if rng is not None:
        eta += rng.normal(0.0, float(spec.get("noise_sd", 0.0)), len(frame))
    return eta


def class_probabilities(schema: DatasetSchema, frame: pd.DataFrame) -> np.ndarray:
    """P(class | features) of a classification schema's label model, one column per class
    in the schema's order (rows x classes): what an ideal classifier would predict."""
    check_label_model(schema)
    spec = schema.synthetic["label"]  # type: ignore[index]
    classes = list(schema.classes)
    if spec["link"] == "logistic":
        positive = spec["positive"]
        p = 1.0 / (1.0 + np.exp(-_score(schema, spec, frame, None)))
        return np.column_stack([p if c == positive else 1.0 - p for c in classes])
    per_class = spec.get("classes") or {}
    scores = np.column_stack([_score(schema, per_class.get(c) or {}, frame, None) for c in classes])
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


def _classes(
    schema: DatasetSchema, spec: Mapping, frame: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    classes = list(schema.classes)
    if spec["link"] == "logistic":
        positive = spec["positive"]
        negative = next(c for c in classes if c != positive)
        score = _score(schema, spec, frame, rng)
        p = 1.0 / (1.0 + np.exp(-score))
        drawn = rng.random(len(frame)) < p
        return np.where(drawn, positive, negative).astype(object)
    per_class = spec.get("classes") or {}
    scores = np.column_stack([_score(schema, per_class.get(c) or {}, frame, rng) for c in classes])
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(len(frame))[:, None]
    index = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), len(classes) - 1)
    return np.asarray(classes, dtype=object)[index]


_LINKS = {False: ("identity", "log"), True: ("logistic", "softmax")}


def check_label_model(schema: DatasetSchema) -> None:
    """BadInput naming the field when the schema's `synthetic.label` does not fit its task."""
    if not schema.synthetic or "label" not in schema.synthetic:
        raise BadInput(f"schema {schema.name!r} has no 'synthetic' section to generate from")
    spec = schema.synthetic["label"]
    where = f"schema {schema.name!r}: synthetic.label"
    if not isinstance(spec, Mapping):
        raise BadInput(f"{where}: expected a mapping (link, intercept, terms, ...)")
    classification = schema.is_classification
    default = None if classification else "identity"
    link = spec.get("link", default)
    if link not in _LINKS[classification]:
        allowed = " or ".join(_LINKS[classification])
        raise BadInput(f"{where}.link: {link!r} does not fit a {schema.task} label (use {allowed})")
    known = set(schema.feature_names)
    bodies: list[tuple[str, Mapping]] = [(where, spec)]
    if link == "logistic":
        classes = schema.classes
        if len(classes) != 2:
            raise BadInput(
                f"{where}.link: logistic is for two classes, {schema.label.name!r} has "
                f"{len(classes)} ({', '.join(classes)}): use softmax"
            )
        if spec.get("positive") not in classes:
            raise BadInput(
                f"{where}.positive: {spec.get('positive')!r} is not a class ({', '.join(classes)})"
            )
    elif link == "softmax":
        per_class = spec.get("classes")
        if not isinstance(per_class, Mapping) or not per_class:
            raise BadInput(f"{where}.classes: softmax needs {{CLASS: {{intercept, terms}}}}")
        unknown = sorted(set(per_class) - set(schema.classes))
        if unknown:
            raise BadInput(
                f"{where}.classes: {', '.join(map(repr, unknown))} "
                f"{'is' if len(unknown) == 1 else 'are'} not a class "
                f"({', '.join(schema.classes)})"
            )
        bodies = [(f"{where}.classes.{c}", body or {}) for c, body in per_class.items()]
    for at, body in bodies:
        for name, term in (body.get("terms") or {}).items():
            if name not in known:
                raise BadInput(f"{at}.terms: {name!r} is not a feature of {schema.name!r}")
            column = schema.column(name)
            if "levels" in term:
                bad = sorted(set(term["levels"]) - set(column.categories or ()))
                if column.is_numeric or bad:
                    raise BadInput(
                        f"{at}.terms.{name}.levels: {bad or 'levels'} not categories of {name!r}"
                    )
            elif not column.is_numeric or "coefficient" not in term:
                raise BadInput(
                    f"{at}.terms.{name}: a numeric feature takes 'coefficient', a category "
                    "feature 'levels'"
                )
        for term in body.get("interactions") or []:
            missing = [f for f in term.get("features", []) if f not in known]
            if missing or "coefficient" not in term:
                raise BadInput(
                    f"{at}.interactions: needs 'features' (of {schema.name!r}) and "
                    f"'coefficient' (unknown: {missing})"
                )


def _term(frame: pd.DataFrame, name: str, term: Mapping) -> np.ndarray:
    if "levels" in term:
        values = frame[name].to_numpy()
        out = np.zeros(len(frame))
        for level, coefficient in term["levels"].items():
            out += np.where(values == level, float(coefficient), 0.0)
        return out
    x = _transform(frame[name].to_numpy(float), term.get("transform"))
    return float(term["coefficient"]) * x


def _transform(x: np.ndarray, name: str | None) -> np.ndarray:
    if name in (None, "identity"):
        return x
    if name == "log":
        return np.log(np.maximum(x, 1e-9))
    if name == "sqrt":
        return np.sqrt(np.maximum(x, 0.0))
    raise BadInput(f"unknown synthetic transform {name!r}")


def _make_invalid(
    schema: DatasetSchema, frame: pd.DataFrame, rng: np.random.Generator, rate: float
) -> None:
    rows = np.flatnonzero(rng.random(len(frame)) < rate)
    if not len(rows):
        return
    columns = rng.choice(len(schema.features), size=len(rows))
    for col_index in np.unique(columns):
        column = schema.features[col_index]
        target = rows[columns == col_index]
        if column.dtype == "category":
            frame.loc[target, column.name] = "unknown-value"
        else:
            bad = (column.max if column.max is not None else 0.0) * 10 + 1
            if column.min is not None and column.min > 0:
                bad = -abs(column.min) - 1
            if column.dtype == "int":
                frame[column.name] = frame[column.name].astype("int64")
                bad = int(bad)
            else:
                frame[column.name] = frame[column.name].astype("float64")
            frame.loc[target, column.name] = bad


def parse_assignments(items: list[str], option: str) -> dict[str, str]:
    """Parse repeated NAME=VALUE options."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise BadInput(f"{option}: expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out
