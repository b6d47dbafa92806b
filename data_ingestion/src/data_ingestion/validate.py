"""Validation: does a table fit the dataset schema, and why not, row by row.

The columns must be the schema's; numeric values must be numbers (integers in int columns);
categories and ranges are checked with pandera. Each check returns, per column, a message
for each row it refuses, so a quarantined row says what is wrong with it. Vectorised: one
pass per column, never a Python loop over rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlops_core.errors import BadInput, DataQualityError
from mlops_core.schema import DatasetSchema

if TYPE_CHECKING:
    import pandera.pandas as pa

# (column, messages indexed by row label): the reasons one check found.
ReasonPart = tuple[str, pd.Series]


def select_columns(
    raw: pd.DataFrame, schema: DatasetSchema, shown: str
) -> tuple[pd.DataFrame, list[str]]:
    """The schema's columns of `raw` and the names of the extra ones; BadInput when none is
    there (not a table of this schema), DataQualityError when some are missing."""
    expected = [c.name for c in schema.columns]
    present = set(raw.columns)
    missing = [name for name in expected if name not in present]
    if len(missing) == len(expected):
        found = ", ".join(map(str, list(raw.columns)[:8])) or "none"
        raise BadInput(
            f"source {shown}: not a table of schema {schema.name!r} "
            f"(none of its columns found; columns read: {found})"
        )
    if missing:
        raise DataQualityError(
            f"source {shown}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (schema {schema.name!r})",
            details={"missing_columns": missing},
        )
    if raw.columns.duplicated().any():
        dup = sorted({str(c) for c in raw.columns[raw.columns.duplicated()]})
        raise BadInput(f"source {shown}: duplicated column names {', '.join(dup)}")
    extra = [str(c) for c in raw.columns if c not in set(expected)]
    copies = _renamed_copies(extra, expected)
    if copies:
        shown_copies = "; ".join(f"{name} (read as {', '.join(c)})" for name, c in copies.items())
        raise BadInput(f"source {shown}: duplicated column names {shown_copies}")
    if not len(raw):
        raise BadInput(f"source {shown}: the table has no rows")
    return raw.loc[:, expected].copy(deep=False), extra


def _renamed_copies(extra: list[str], expected: list[str]) -> dict[str, list[str]]:
    """Schema columns that a CSV header repeats: pandas reads the copies of `area` as
    `area.1`, `area.2`... (a real extra column of that name is refused too: ambiguous)."""
    copies: dict[str, list[str]] = {}
    for name in extra:
        base, dot, number = name.rpartition(".")
        if dot and number.isdigit() and base in expected:
            copies.setdefault(base, [base]).append(name)
    return copies


def coerce_types(
    frame: pd.DataFrame, schema: DatasetSchema
) -> tuple[pd.DataFrame, list[ReasonPart]]:
    """Numeric columns as float64 (NaN where missing). Returns the frame and, per column, the
    reasons of the rows holding a value of the wrong type."""
    out = frame.copy(deep=False)
    reasons: list[ReasonPart] = []
    for column in schema.columns:
        if not column.is_numeric:
            continue
        raw = out[column.name]
        if pd.api.types.is_bool_dtype(raw):
            numeric = pd.Series(np.nan, index=raw.index)
        elif pd.api.types.is_numeric_dtype(raw):
            numeric = raw.astype("float64")
        else:
            numeric = pd.to_numeric(raw, errors="coerce").astype("float64")
            booleans = _booleans(raw, numeric)
            if booleans is not None:
                numeric = numeric.mask(booleans)
        values = numeric.to_numpy()
        bad = (raw.notna().to_numpy() & np.isnan(values)) | np.isinf(values)
        if bad.any():
            shown = raw[bad].map(repr)
            reasons.append(
                (column.name, column.name + ": " + shown + f" is not a number ({column.dtype})")
            )
        if column.dtype == "int":
            fractional = ~np.isnan(values) & ~np.isinf(values) & (values != np.floor(values))
            if fractional.any():
                text = column.name + ": " + numeric[fractional].map(repr) + " is not an integer"
                reasons.append((column.name, text))
                bad = bad | fractional
        if bad.any():
            values = values.copy()
            values[bad] = np.nan
            numeric = pd.Series(values, index=raw.index)
        out[column.name] = numeric
    return out, reasons


def _booleans(raw: pd.Series, numeric: pd.Series) -> np.ndarray | None:
    """Where an object column holds True/False: pd.to_numeric reads them as 1 and 0, but a
    boolean is not a number. None when there is none. Only the values read as 0 or 1 of a
    column that mixes types are looked at one by one."""
    if pd.api.types.infer_dtype(raw, skipna=True) not in ("boolean", "mixed", "mixed-integer"):
        return None
    values = numeric.to_numpy()
    candidates = np.flatnonzero((values == 0) | (values == 1))
    held = raw.to_numpy(dtype=object)[candidates]
    is_bool = np.fromiter((isinstance(v, bool | np.bool_) for v in held), bool, len(held))
    if not is_bool.any():
        return None
    found = np.zeros(len(raw), dtype=bool)
    found[candidates[is_bool]] = True
    return found


def pandera_schema(schema: DatasetSchema) -> pa.DataFrameSchema:
    """The dataset schema as a pandera schema over the coerced frame (numerics float64,
    categories in normal form). Missing feature values pass: they are imputed later."""
    import pandera.pandas as pa

    columns = {}
    for column in schema.columns:
        checks = []
        if column.is_numeric:
            if column.min is not None or column.max is not None:
                low = column.min if column.min is not None else -np.inf
                high = column.max if column.max is not None else np.inf
                checks.append(
                    pa.Check.in_range(low, high, error=f"out of range [{_num(low)}, {_num(high)}]")
                )
            columns[column.name] = pa.Column("float64", checks, nullable=True)
        else:
            allowed = list(column.categories or ())
            if column.name == schema.label.name:
                error = f"is not a class of the label ({', '.join(allowed)})"
            else:
                error = f"not one of {', '.join(allowed)}"
            checks.append(pa.Check.isin(allowed, error=error))
            # Categoricals after normalise_categories; the dtype is checked there.
            columns[column.name] = pa.Column(None, checks, nullable=True)
    return pa.DataFrameSchema(columns, strict=True, ordered=False, name=schema.name)


def _num(value: float) -> str:
    return f"{value:g}" if np.isfinite(value) else ("-inf" if value < 0 else "inf")


def validate(frame: pd.DataFrame, schema: DatasetSchema) -> list[ReasonPart]:
    """Per column, the reasons of the rows that break the schema's categories or ranges."""
    import pandera.errors as pe

    try:
        pandera_schema(schema).validate(frame, lazy=True)
    except pe.SchemaErrors as exc:
        cases = exc.failure_cases
        row_level = cases[cases["index"].notna()]
        table_level = cases[cases["index"].isna()]
        if len(table_level):
            first = table_level.iloc[0]
            raise DataQualityError(
                f"the table breaks schema {schema.name!r}: column {first['column']}: "
                f"{first['check']} ({first['failure_case']})"
            ) from exc
        parts: list[ReasonPart] = []
        for column, group in row_level.groupby("column", sort=True):
            messages = (
                f"{column}: "
                + group["failure_case"].astype(object).map(repr).astype(str)
                + " "
                + group["check"].astype(object).astype(str)
            )
            messages.index = group["index"].astype("int64").to_numpy()
            parts.append((str(column), messages))
        return parts
    return []


def combine_reasons(parts: list[ReasonPart], index: pd.Index) -> tuple[pd.Series, dict[str, int]]:
    """One reason per invalid row ("a: ...; b: ..."), in row order, and the number of
    invalid rows per column (most first). Vectorised: a million bad rows take a second."""
    text = np.full(len(index), None, dtype=object)
    counts: dict[str, int] = {}
    for column, messages in parts:
        if messages.index.has_duplicates:  # several checks of one column failed in a row
            messages = messages.groupby(level=0, sort=False).agg("; ".join)
        positions = index.get_indexer(messages.index)
        values = messages.to_numpy(dtype=object)
        current = text[positions]
        empty = pd.isna(current)
        joined = values.copy()
        if not empty.all():
            joined[~empty] = current[~empty] + "; " + values[~empty]
        text[positions] = joined
        counts[column] = counts.get(column, 0) + len(messages)
    bad = ~pd.isna(text)
    reasons = pd.Series(text[bad], index=index[bad], dtype=object)
    ordered = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return reasons, ordered
