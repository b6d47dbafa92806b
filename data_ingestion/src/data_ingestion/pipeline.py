"""The ingestion pipeline: clean, validate, impute, split and version a table.

Every step is vectorised (one pass per column, never a Python loop over rows), so a million
rows take seconds. The steps, in order:

1. columns: every schema column must be there (extra columns are dropped and recorded);
2. clean: normalise category spellings, drop exact duplicate rows, drop rows without label;
3. validate: types (coercion failures), allowed categories and ranges, with pandera; invalid
   rows go to a quarantine file with a reason per row; too many of them fail the run;
4. impute missing features on the valid rows: median (numeric) and mode (category);
5. split into train/val/test stratified on label quantiles;
6. version: Parquet files plus manifest.json into the data registry (unless identical).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_core.errors import BadInput, DataQualityError
from mlops_core.registry import SPLITS, DataRegistry, combined_hash, frame_hash
from mlops_core.schema import Column, DatasetSchema, normalise_category

if TYPE_CHECKING:
    import pandera.pandas as pa

log = logging.getLogger("mlops.ingest")

ROW_COLUMN = "_row"
REASON_COLUMN = "_reason"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class SplitOptions:
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 42
    strata: int = 10

    def check(self) -> None:
        for name, value in (("val", self.val_fraction), ("test", self.test_fraction)):
            if not 0 < value < 1:
                raise BadInput(f"{name} fraction must be in (0, 1), got {value}")
        if self.val_fraction + self.test_fraction >= 1:
            raise BadInput(
                f"val fraction {self.val_fraction} + test fraction {self.test_fraction} "
                "leave no training rows"
            )
        if self.strata < 1:
            raise BadInput(f"strata must be at least 1, got {self.strata}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "fractions": {
                "train": round(1 - self.val_fraction - self.test_fraction, 6),
                "val": self.val_fraction,
                "test": self.test_fraction,
            },
            "seed": self.seed,
            "strata": self.strata,
        }


@dataclass
class Cleaned:
    """The outcome of cleaning and validation."""

    frame: pd.DataFrame  # valid rows, imputed, final dtypes
    rows: dict[str, int]
    quarantine: pd.DataFrame  # invalid rows: _row, _reason, then the columns as read
    imputation: dict[str, Any]
    missing: dict[str, int]
    dropped_columns: list[str] = field(default_factory=list)
    invalid_by_column: dict[str, int] = field(default_factory=dict)  # most first


# (column, messages indexed by row label): the reasons one check found.
ReasonPart = tuple[str, pd.Series]


# ------------------------------------------------------------------------- columns


def select_columns(
    raw: pd.DataFrame, schema: DatasetSchema, shown: str
) -> tuple[pd.DataFrame, list[str]]:
    """The schema's columns of `raw`; BadInput when none is there (not a table of this
    schema), DataQualityError when some are missing."""
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
    if not len(raw):
        raise BadInput(f"source {shown}: the table has no rows")
    return raw.loc[:, expected].copy(deep=False), extra


# --------------------------------------------------------------------------- clean


def normalise_categories(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Category columns as pandas Categoricals in normal spelling (" Yes" -> "yes"); blank
    values become missing. Normalising the distinct values only, then remapping the codes,
    keeps this (and every later isna/isin/duplicated) fast on millions of rows."""
    out = frame.copy(deep=False)
    for name in schema.categorical_features:
        column = out[name]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype("category")
        spelled = [normalise_category(v) or None for v in column.cat.categories]
        categories = pd.Index(sorted({v for v in spelled if v is not None}), dtype=object)
        position = {v: i for i, v in enumerate(categories)}
        # The extra last entry maps code -1 (missing) to itself.
        lookup = np.array([position[v] if v is not None else -1 for v in spelled] + [-1])
        codes = lookup[column.cat.codes.to_numpy()]
        out[name] = pd.Categorical.from_codes(codes, categories=categories)
    return out


def to_output(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The contract's dtypes: category columns back to str (object) values."""
    out = frame.copy(deep=False)
    for name in schema.categorical_features:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].astype(object)
    return out


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


# ------------------------------------------------------------------------ validate


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
            checks.append(pa.Check.isin(allowed, error=f"not one of {', '.join(allowed)}"))
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


# -------------------------------------------------------------------------- impute


def fit_imputation(frame: pd.DataFrame, schema: DatasetSchema) -> dict[str, Any]:
    """Median of each numeric feature (rounded for int columns), mode of each category."""
    values: dict[str, Any] = {}
    for column in schema.features:
        series = frame[column.name].dropna()
        if series.empty:
            raise DataQualityError(
                f"column {column.name!r} has no valid value to impute missing ones from"
            )
        if column.is_numeric:
            median = float(series.median())
            values[column.name] = int(np.rint(median)) if column.dtype == "int" else median
        else:
            counts = series.value_counts()
            top = counts[counts == counts.max()].index
            values[column.name] = str(sorted(top)[0])  # ties broken alphabetically
    return values


def finalise(
    frame: pd.DataFrame, schema: DatasetSchema, imputation: dict[str, Any]
) -> pd.DataFrame:
    """Impute and cast: int -> int64, float -> float64, category -> Categorical of the
    schema's categories (to_output turns them into str values)."""
    out = {}
    for column in schema.columns:
        series = frame[column.name]
        if column.name in imputation and series.isna().any():
            series = series.fillna(imputation[column.name])
        out[column.name] = _cast(series, column)
    return pd.DataFrame(out, index=frame.index)


def _cast(series: pd.Series, column: Column) -> pd.Series:
    if column.dtype == "int":
        return series.astype("int64")
    if column.dtype == "float":
        return series.astype("float64")
    if isinstance(series.dtype, pd.CategoricalDtype):
        # Only the allowed categories remain (invalid rows are gone), in the schema's order.
        return series.cat.set_categories(list(column.categories or ()))
    return series.astype(object)


# --------------------------------------------------------------------------- clean


def clean(
    raw: pd.DataFrame,
    schema: DatasetSchema,
    *,
    shown: str,
    max_invalid_fraction: float,
    on_quarantine: Callable[[pd.DataFrame], str | None] | None = None,
) -> Cleaned:
    """Columns, cleaning, validation and imputation. `on_quarantine(frame)` saves the
    quarantined rows and returns where (called before a DataQualityError too)."""
    rows_in = len(raw)
    frame, extra = select_columns(raw, schema, shown)
    frame.index = pd.RangeIndex(len(frame))  # row i is line i + 1 of the source's data
    frame = normalise_categories(frame, schema)

    duplicated = frame.duplicated(keep="first").to_numpy()
    n_duplicates = int(duplicated.sum())
    if n_duplicates:
        frame = frame[~duplicated]

    label = schema.label.name
    no_label = frame[label].isna().to_numpy()
    n_no_label = int(no_label.sum())
    if n_no_label:
        frame = frame[~no_label]

    typed, type_reasons = coerce_types(frame, schema)
    range_reasons = validate(typed, schema)
    reasons, by_column = combine_reasons([*type_reasons, *range_reasons], frame.index)

    checked = len(frame)
    invalid = reasons.index.to_numpy()
    quarantine = pd.DataFrame(
        {ROW_COLUMN: invalid + 1, REASON_COLUMN: reasons.to_numpy()}, index=reasons.index
    )
    if len(invalid):
        quarantine = pd.concat([quarantine, frame.loc[invalid]], axis=1)
    where = on_quarantine(quarantine) if (on_quarantine and len(invalid)) else None

    fraction = len(invalid) / checked if checked else 0.0
    rows = {
        "in": rows_in,
        "duplicates": n_duplicates,
        "missing_label": n_no_label,
        "quarantined": len(invalid),
    }
    if checked == 0 or fraction > max_invalid_fraction or len(invalid) == checked:
        summary = ", ".join(f"{k} {v}" for k, v in by_column.items())
        if checked == 0:
            message = f"source {shown}: no row left to validate ({n_no_label} without label)"
        else:
            example = (
                f"row {int(quarantine[ROW_COLUMN].iloc[0])}: {quarantine[REASON_COLUMN].iloc[0]}"
            )
            message = (
                f"source {shown}: {len(invalid):,} of {checked:,} rows ({fraction:.1%}) are "
                f"invalid, above the {max_invalid_fraction:.1%} threshold; by column: {summary}; "
                f"first: {example}"
            )
        if where:
            message += f"; quarantine: {where}"
        raise DataQualityError(
            message,
            details={
                "rows": rows,
                "invalid_fraction": round(fraction, 6),
                "threshold": max_invalid_fraction,
                "invalid_by_column": by_column,
                "quarantine": where,
            },
        )

    valid = typed.drop(index=invalid) if len(invalid) else typed
    missing = {c: int(n) for c, n in valid[schema.feature_names].isna().sum().items() if n}
    imputation = fit_imputation(valid, schema)
    final = finalise(valid, schema, imputation)
    rows["out"] = len(final)
    return Cleaned(final, rows, quarantine, imputation, missing, extra, by_column)


# --------------------------------------------------------------------------- split


def stratified_split(
    frame: pd.DataFrame, label: str, options: SplitOptions
) -> dict[str, pd.DataFrame]:
    """train/val/test stratified on label quantiles: rows are ranked by label into `strata`
    equal bins, and each bin gives each split its share (largest remainder), at random."""
    options.check()
    n = len(frame)
    n_test = max(1, round(options.test_fraction * n))
    n_val = max(1, round(options.val_fraction * n))
    if n - n_test - n_val < 1:
        raise DataQualityError(f"{n} valid rows are too few to split into train, val and test")
    strata = max(1, min(options.strata, n // 3))
    rank = frame[label].rank(method="first").to_numpy() - 1
    codes = (rank * strata // n).astype("int64")
    sizes = np.bincount(codes, minlength=strata)
    test_q = _quotas(sizes, options.test_fraction, n_test)
    val_q = np.minimum(_quotas(sizes, options.val_fraction, n_val), sizes - test_q)

    rng = np.random.default_rng(options.seed)
    order = np.lexsort((rng.random(n), codes))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sorted_codes = codes[order]
    position = np.arange(n) - starts[sorted_codes]
    assign = np.full(n, 0, dtype=np.int8)  # 0 train, 1 val, 2 test
    assign[order[position < test_q[sorted_codes]]] = 2
    val_mask = (position >= test_q[sorted_codes]) & (
        position < test_q[sorted_codes] + val_q[sorted_codes]
    )
    assign[order[val_mask]] = 1
    out = {}
    for code, name in ((0, "train"), (1, "val"), (2, "test")):
        part = frame[assign == code]
        part.index = pd.RangeIndex(len(part))
        out[name] = part
    return out


def _quotas(sizes: np.ndarray, fraction: float, total: int) -> np.ndarray:
    ideal = sizes * fraction
    base = np.floor(ideal).astype("int64")
    remainder = int(total - base.sum())
    if remainder > 0:
        order = np.argsort(-(ideal - base), kind="stable")
        base[order[:remainder]] += 1
    return np.minimum(base, sizes)


# ------------------------------------------------------------------------- summary


def summarise(frame: pd.DataFrame, schema: DatasetSchema, missing: dict[str, int]) -> dict:
    stats: dict[str, Any] = {}
    for column in schema.columns:
        series = frame[column.name]
        entry: dict[str, Any] = {
            "dtype": column.dtype,
            "missing_imputed": missing.get(column.name, 0),
        }
        if column.is_numeric:
            values = series.to_numpy(dtype="float64")
            q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
            entry.update(
                count=int(values.size),
                mean=float(values.mean()),
                std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
                min=float(q[0]),
                p25=float(q[1]),
                median=float(q[2]),
                p75=float(q[3]),
                max=float(q[4]),
            )
        else:
            counts = series.value_counts()
            entry.update(
                count=len(series),
                categories={str(c): int(counts.get(c, 0)) for c in column.categories or ()},
            )
        stats[column.name] = entry
    return stats


# -------------------------------------------------------------------------- ingest


Step = Callable[[str], None]


@dataclass
class IngestOptions:
    split: SplitOptions
    max_invalid_fraction: float = 0.05
    quarantine_dir: Path | None = None
    dry_run: bool = False


def ingest_frame(
    raw: pd.DataFrame,
    schema: DatasetSchema,
    source: dict[str, Any],
    registry: DataRegistry,
    options: IngestOptions,
    *,
    work_dir: Path,
    step: Step | None = None,
) -> dict[str, Any]:
    """Clean, validate, split and version `raw`; returns the command's result."""
    step = step or (lambda _name: None)
    shown = str(source.get("uri", "input"))
    started = datetime.now(UTC)
    quarantine_path: list[str] = []

    def save_quarantine(rows: pd.DataFrame) -> str | None:
        if options.quarantine_dir is None:
            return None
        path = options.quarantine_dir / f"{started:%Y%m%dT%H%M%S}-{os.getpid()}.csv"
        _atomic_write_csv(rows, path)
        quarantine_path.append(str(path))
        return str(path)

    step("clean and validate")
    cleaned = clean(
        raw,
        schema,
        shown=shown,
        max_invalid_fraction=options.max_invalid_fraction,
        on_quarantine=save_quarantine,
    )
    log.info(
        "cleaned %s rows: %s duplicates and %s without label dropped, %s quarantined, %s kept",
        cleaned.rows["in"],
        cleaned.rows["duplicates"],
        cleaned.rows["missing_label"],
        cleaned.rows["quarantined"],
        cleaned.rows["out"],
    )
    step("split")
    splits = {
        name: to_output(part, schema)
        for name, part in stratified_split(cleaned.frame, schema.label.name, options.split).items()
    }
    split_hashes = {name: frame_hash(splits[name]) for name in SPLITS}
    content_hash = combined_hash(split_hashes)
    from data_ingestion import __version__

    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "dataset": schema.name,
        "source": source,
        "rows": cleaned.rows,
        "dropped_columns": cleaned.dropped_columns,
        "quarantine": {
            "rows": cleaned.rows["quarantined"],
            "by_column": cleaned.invalid_by_column,
        },
        "imputation": {
            "strategy": {"numeric": "median", "category": "mode"},
            "values": cleaned.imputation,
        },
        "split": {**options.split.as_dict(), "stratify": f"{schema.label.name} quantiles"},
        "schema": schema.as_dict(),
        "statistics": summarise(cleaned.frame, schema, cleaned.missing),
        "splits": {name: {"content_hash": split_hashes[name]} for name in SPLITS},
        "producer": {"package": "data-ingestion", "version": __version__},
    }
    result: dict[str, Any] = {
        "ok": True,
        "dataset": schema.name,
        "content_hash": content_hash,
        "rows": {**cleaned.rows, **{name: len(splits[name]) for name in SPLITS}},
        "quarantine": quarantine_path[0] if quarantine_path else None,
        "invalid_by_column": cleaned.invalid_by_column,
        "registry": registry.url,
    }
    if options.dry_run:
        result.update(data_version=None, created=False, dry_run=True)
        return result

    step("version")
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="splits-", dir=work_dir))
    try:
        paths = {}
        for name in SPLITS:
            paths[name] = tmp / f"{name}.parquet"
            splits[name].to_parquet(paths[name], index=False)
        published = registry.publish(paths, manifest, content_hash=content_hash)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.update(data_version=published.tag, created=published.created)
    return result


def _atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
