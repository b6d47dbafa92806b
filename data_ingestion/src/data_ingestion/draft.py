"""Drafting a model's schema from a real table (`mlops models new`).

What is inferred, column by column (the label by the same rules, then its task):
- a numeric column (or text whose values are numbers, at least 95% of them) is `int` when
  every value is a whole number, else `float`; its range is what was read widened by a
  margin (10% of the range on each side, never below 0 for a column with no negative
  value), so tomorrow's rows are not refused for being 1% larger;
- a text (or boolean) column with few distinct values is a `category`; its categories are
  the normal spellings ("MALE", "male " -> "male"), most frequent first; values that only
  mark a missing cell (".", "?", "n/a", ...) are left out (ingestion quarantines such rows);
- left out, with the reason: identifiers (an id-like name with many distinct values, a
  row number, text unique per row), constant columns, empty or mostly empty columns, dates,
  free text (long values or too many distinct ones);
- the task, unless given: a text or boolean label, or whole numbers with few distinct
  values, is classification; other numbers are regression.
Everything a person should check is listed in `review`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_ingestion.clean import spell
from mlops_core.contracts.constants import Task
from mlops_core.errors import BadInput

MAX_CATEGORIES = 50  # more distinct values than this: not a category (free text, ids)
MAX_CLASSES = 50
CLASSIFICATION_MAX_INTEGERS = 10  # whole-number labels with at most this many values
NUMERIC_SHARE = 0.95  # share of a text column's values that must be numbers
MOSTLY_EMPTY = 0.5  # a column missing in more than this share of rows is left out
RARE_SHARE = 0.01
RARE_ROWS = 5
MARGIN = 0.1
FREE_TEXT_LENGTH = 40  # mean characters of a value above which text is free text
MISSING_MARKERS = frozenset({".", "?", "-", "--", "n/a", "na", "nan", "null", "#n/a", "none"})
_ID_NAME = re.compile(r"(^|[\s_\-.])(id|ids|uuid|guid|key|index|idx|number|no|num)$", re.I)
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?")


@dataclass
class ColumnDraft:
    name: str
    dtype: str  # int | float | category
    missing: int
    min: float | None = None
    max: float | None = None
    observed_min: float | None = None
    observed_max: float | None = None
    categories: list[str] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    markers: dict[str, int] = field(default_factory=dict)  # missing markers left out
    not_numbers: dict[str, int] = field(default_factory=dict)  # in a numeric column
    spellings: dict[str, list[str]] = field(default_factory=dict)  # normal -> as written

    def schema_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        if self.dtype == "category":
            entry["categories"] = list(self.categories or [])
        else:
            entry["min"] = _plain(self.min, self.dtype)
            entry["max"] = _plain(self.max, self.dtype)
        return entry


@dataclass
class Draft:
    name: str
    source: str
    rows: int
    task: Task
    task_reason: str
    label: ColumnDraft
    features: list[ColumnDraft]
    dropped: list[tuple[str, str]]
    review: list[str]

    @property
    def classes(self) -> list[str] | None:
        return list(self.label.categories or []) if self.task is Task.CLASSIFICATION else None

    def schema_dict(self) -> dict[str, Any]:
        label = self.label.schema_entry()
        label["description"] = f"The label ({self.task}), as read from {self.source}."
        return {
            "name": self.name,
            "task": str(self.task),
            "description": f"Drafted by `mlops models new` from {self.source}: review it.",
            "label": label,
            "features": [c.schema_entry() for c in self.features],
        }


def draft_schema(frame: pd.DataFrame, *, name: str, label: str, task: Task | None,
                 source: str) -> Draft:  # fmt: skip
    """Infer a schema for `frame` (a table read from `source`) with `label` as the label."""
    columns = [str(c) for c in frame.columns]
    if label not in columns:
        close = [c for c in columns if c.strip().lower() == label.strip().lower()]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BadInput(
            f"label column {label!r} is not in {source} (columns: {', '.join(columns)}){hint}"
        )
    if len(columns) < 2:
        raise BadInput(
            f"source {source}: not a table of features and a label "
            f"(one column read: {columns[0]!r})"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise BadInput(f"source {source}: duplicated column names {', '.join(duplicated)}")
    if not len(frame):
        raise BadInput(f"source {source}: the table has no rows")
    rows = len(frame)
    review: list[str] = []

    label_column, task, reason = _label(frame[label], label, task, source)
    if label_column.missing:
        review.append(
            f"label {label!r}: {label_column.missing:,} of {rows:,} rows have no value "
            "(ingestion drops them)"
        )
    features: list[ColumnDraft] = []
    dropped: list[tuple[str, str]] = []
    for column in columns:
        if column == label:
            continue
        why = _reason_to_drop(frame[column], column)
        if why:
            dropped.append((column, why))
            continue
        features.append(_column(frame[column], column))
    if not features:
        shown = "; ".join(f"{c}: {why}" for c, why in dropped)
        raise BadInput(f"source {source}: no column is usable as a feature ({shown})")

    for c in [label_column, *features]:
        review.extend(_review(c, rows, is_label=c is label_column))
    if dropped:
        review.append(
            "left out: "
            + "; ".join(f"{c} ({why})" for c, why in dropped)
            + " - add them back to schema.yaml if they are features"
        )
    odd = [c.name for c in features if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c.name)]
    if odd:
        review.append(
            "column names with spaces or symbols (kept as written, ingestion matches them by "
            "name): " + ", ".join(odd)
        )
    review.append(
        "ranges are what was read widened by 10% on each side: set the limits a valid row "
        "can really take (min/max in schema.yaml)"
    )
    return Draft(name, source, rows, task, reason, label_column, features, dropped, review)


def _label(series: pd.Series, name: str, task: Task | None,
           source: str) -> tuple[ColumnDraft, Task, str]:  # fmt: skip
    values = series.dropna()
    if values.empty:
        raise BadInput(f"label column {name!r} of {source} is empty in every row")
    numeric, not_numbers = _as_numbers(series)
    kind = "number" if numeric is not None else "text"
    if pd.api.types.is_bool_dtype(series):
        kind = "boolean"
    whole = numeric is not None and bool(np.all(np.mod(numeric.dropna(), 1) == 0))
    distinct = int(values.map(spell).nunique()) if kind != "number" else int(numeric.nunique())
    if task is None:
        if kind in ("text", "boolean"):
            task = Task.CLASSIFICATION
            reason = f"the label {name!r} holds {kind} values ({distinct} distinct)"
        elif whole and distinct <= CLASSIFICATION_MAX_INTEGERS:
            task = Task.CLASSIFICATION
            shown = ", ".join(str(int(v)) for v in sorted(numeric.dropna().unique())[:10])
            reason = (
                f"the label {name!r} holds few distinct whole numbers ({distinct}: {shown}), "
                "read as classes"
            )
        else:
            task = Task.REGRESSION
            reason = f"the label {name!r} holds numbers ({distinct:,} distinct values)"
        reason += "; pass --task to choose"
    else:
        reason = f"--task {task}"
    if task is Task.REGRESSION:
        if numeric is None:
            sample = ", ".join(repr(v) for v in values.astype(str).unique()[:3])
            raise BadInput(
                f"label column {name!r} holds text ({sample}, ...): it cannot be a "
                "regression label; use --task classification"
            )
        column = _numeric(series, numeric, not_numbers, name)
        return column, task, reason
    column = _category(series, name)
    n = len(column.categories or [])
    if n < 2:
        raise BadInput(
            f"label column {name!r}: one class only ({', '.join(column.categories or [])}); "
            "a classifier needs two or more"
        )
    if n > MAX_CLASSES:
        raise BadInput(
            f"label column {name!r}: {n:,} distinct values are too many classes "
            f"(at most {MAX_CLASSES}); use --task regression for a numeric label"
        )
    return column, task, reason


def _reason_to_drop(series: pd.Series, name: str) -> str | None:
    rows = len(series)
    values = series.dropna()
    if values.empty:
        return "empty in every row"
    if len(values) < rows * (1 - MOSTLY_EMPTY):
        return f"mostly empty ({1 - len(values) / rows:.0%} missing)"
    numeric, _ = _as_numbers(series)
    distinct = int(values.nunique()) if numeric is None else int(numeric.nunique())
    if numeric is None and not pd.api.types.is_bool_dtype(series):
        distinct = int(values.astype(str).map(spell).nunique())
    if distinct == 1:
        return f"constant (every value is {values.iloc[0]!r})"
    ratio = distinct / len(values)
    if _ID_NAME.search(name.strip()) and ratio >= 0.3:
        return f"an identifier ({distinct:,} distinct values)"
    if numeric is not None:
        clean = numeric.dropna()
        if (
            ratio == 1
            and bool(np.all(np.mod(clean, 1) == 0))
            and (clean.is_monotonic_increasing or clean.is_monotonic_decreasing)
        ):
            return "a row number (distinct whole numbers in order)"
        return None
    text = values.astype(str)
    if text.map(lambda v: bool(_DATE.match(v.strip()))).mean() >= 0.9:
        return "dates (derive numbers from them, e.g. a year or an age, to use them)"
    if ratio == 1 and len(values) > 20:
        return f"unique per row ({distinct:,} distinct values): an identifier or free text"
    if text.str.len().mean() > FREE_TEXT_LENGTH:
        return "free text (long values)"
    if distinct > MAX_CATEGORIES:
        return f"too many distinct values for a category ({distinct:,} > {MAX_CATEGORIES})"
    return None


def _column(series: pd.Series, name: str) -> ColumnDraft:
    numeric, not_numbers = _as_numbers(series)
    if numeric is not None:
        return _numeric(series, numeric, not_numbers, name)
    return _category(series, name)


def _as_numbers(series: pd.Series) -> tuple[pd.Series | None, dict[str, int]]:
    """The column as float64 when it is numeric (or text of numbers, >= 95% of the values),
    with the values that are not numbers and their counts; None when it is not numeric."""
    if pd.api.types.is_bool_dtype(series):
        return None, {}
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64"), {}
    values = series.dropna()
    if values.empty:
        return None, {}
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    if parsed.notna().mean() < NUMERIC_SHARE:
        return None, {}
    bad = values[parsed.isna()].astype(str)
    counts = {str(k): int(v) for k, v in bad.value_counts().items()}
    full = pd.to_numeric(series.astype(str).str.strip(), errors="coerce").astype("float64")
    full[series.isna()] = np.nan
    return full, counts


def _numeric(series: pd.Series, numeric: pd.Series, not_numbers: dict[str, int],
             name: str) -> ColumnDraft:  # fmt: skip
    clean = numeric[np.isfinite(numeric)].dropna()
    whole = bool(np.all(np.mod(clean, 1) == 0))
    dtype = "int" if whole else "float"
    low, high = float(clean.min()), float(clean.max())
    span = high - low if high > low else max(abs(high), 1.0)
    lo, hi = low - MARGIN * span, high + MARGIN * span
    if low >= 0:
        lo = max(lo, 0.0)
    if whole:
        lo, hi = float(np.floor(lo)), float(np.ceil(hi))
    else:
        lo, hi = _round_out(lo, hi)
    missing = int(series.isna().sum())
    return ColumnDraft(
        name, dtype, missing, min=lo, max=hi, observed_min=low, observed_max=high,
        not_numbers=not_numbers,
    )  # fmt: skip


def _round_out(lo: float, hi: float) -> tuple[float, float]:
    """Round the limits outwards to 3 significant digits of the range."""
    span = hi - lo
    if span <= 0:
        return lo, hi
    exponent = int(np.floor(np.log10(span))) - 2
    step = 10.0**exponent
    digits = max(0, -exponent)
    return (
        round(float(np.floor(lo / step) * step), digits),
        round(float(np.ceil(hi / step) * step), digits),
    )


def _category(series: pd.Series, name: str) -> ColumnDraft:
    values = series.dropna()
    written = values
    normal = written.map(spell)
    blank = normal == ""
    counts: dict[str, int] = {}
    markers: dict[str, int] = {}
    spellings: dict[str, set[str]] = {}
    for value, raw in zip(normal[~blank], written[~blank], strict=True):
        if value in MISSING_MARKERS:
            markers[value] = markers.get(value, 0) + 1
            continue
        counts[value] = counts.get(value, 0) + 1
        spellings.setdefault(value, set()).add(str(raw))
    if counts and all(re.fullmatch(r"-?\d+", c) for c in counts):  # classes 0, 1, 2: in order
        ordered = sorted(counts, key=int)
    else:  # most frequent first
        ordered = sorted(counts, key=lambda c: (-counts[c], c))
    missing = int(series.isna().sum()) + int(blank.sum())
    return ColumnDraft(
        name,
        "category",
        missing,
        categories=ordered,
        counts={c: counts[c] for c in ordered},
        markers=markers,
        spellings={c: sorted(s) for c, s in spellings.items() if len(s) > 1},
    )


def _review(column: ColumnDraft, rows: int, *, is_label: bool) -> list[str]:
    what = f"label {column.name!r}" if is_label else f"{column.name!r}"
    out: list[str] = []
    if column.dtype == "category":
        rare = [c for c, n in column.counts.items() if n < max(RARE_ROWS, RARE_SHARE * rows)]
        if rare:
            shown = ", ".join(f"{c} ({column.counts[c]})" for c in rare)
            kind = "classes" if is_label else "categories"
            out.append(f"{what}: rare {kind}: {shown}")
        if column.spellings:
            shown = "; ".join(
                f"{', '.join(map(repr, s))} -> {c!r}" for c, s in column.spellings.items()
            )
            out.append(f"{what}: spellings collapsed: {shown}")
        if column.markers:
            shown = ", ".join(f"{m!r} ({n} rows)" for m, n in column.markers.items())
            out.append(
                f"{what}: values that look like missing-value markers were left out of the "
                f"categories: {shown}; ingestion quarantines those rows (blank them in the "
                "source to have them imputed instead)"
            )
    else:
        out.append(
            f"{what}: {column.dtype} read from {_num(column.observed_min)} to "
            f"{_num(column.observed_max)}, drafted as [{_num(column.min)}, {_num(column.max)}]"
        )
        if column.not_numbers:
            shown = ", ".join(f"{v!r} ({n} rows)" for v, n in column.not_numbers.items())
            out.append(
                f"{what}: values that are not numbers: {shown}; ingestion quarantines those rows"
            )
    if column.missing and not is_label:
        out.append(
            f"{what}: {column.missing:,} of {rows:,} rows have no value (ingestion imputes "
            f"the {'median' if column.dtype != 'category' else 'most frequent value'})"
        )
    return out


def _plain(value: float | None, dtype: str) -> int | float | None:
    if value is None:
        return None
    if dtype == "int" or float(value).is_integer():
        return int(value)
    return float(value)


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"
