"""The ingestion pipeline: the steps of one run, in order, each in its own module.

1. columns (validate.select_columns): every schema column must be there; extra columns are
   dropped and recorded;
2. clean (clean): normalise category spellings, drop exact duplicate rows, drop rows
   without label;
3. validate (validate): types, allowed categories and ranges; invalid rows go to a
   quarantine file with a reason per row (quarantine); too many of them fail the run;
4. impute (impute) missing features on the valid rows: median (numeric), mode (category);
5. split (split) into train/val/test stratified on label quantiles (regression) or on the
   class (classification);
6. version: Parquet files plus the manifest (manifest) into the data registry, unless
   identical data already is a version.

A failed run leaves no version and no file behind, except the quarantine file its error
names.
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
from typing import Any

import pandas as pd

from data_ingestion.clean import (
    drop_duplicates,
    drop_missing_label,
    normalise_categories,
    to_output,
)
from data_ingestion.impute import finalise, fit_imputation
from data_ingestion.manifest import build_manifest, class_distribution, summarise
from data_ingestion.quarantine import check_threshold, quarantine_frame, write_quarantine
from data_ingestion.split import SplitOptions, stratified_split
from data_ingestion.validate import coerce_types, combine_reasons, select_columns, validate
from mlops_core.contracts.ingest import IngestResult, SourceInfo
from mlops_core.errors import DataQualityError, MlopsError
from mlops_core.registry import SPLITS, DataRegistry, combined_hash, frame_hash
from mlops_core.schema import DatasetSchema

log = logging.getLogger("mlops.ingest")


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
    frame, n_duplicates = drop_duplicates(frame)
    frame, n_no_label = drop_missing_label(frame, schema)

    typed, type_reasons = coerce_types(frame, schema)
    range_reasons = validate(typed, schema)
    reasons, by_column = combine_reasons([*type_reasons, *range_reasons], frame.index)
    quarantine = quarantine_frame(frame, reasons)
    where = on_quarantine(quarantine) if (on_quarantine and len(quarantine)) else None
    rows = {
        "in": rows_in,
        "duplicates": n_duplicates,
        "missing_label": n_no_label,
        "quarantined": len(quarantine),
    }
    check_threshold(
        quarantine,
        checked=len(frame),
        rows=rows,
        by_column=by_column,
        max_invalid_fraction=max_invalid_fraction,
        shown=shown,
        label=schema.label.name,
        where=where,
    )

    valid = typed.drop(index=reasons.index) if len(reasons) else typed
    missing = {c: int(n) for c, n in valid[schema.feature_names].isna().sum().items() if n}
    try:
        imputation = fit_imputation(valid, schema, shown=shown)
    except DataQualityError as exc:
        if not where:
            raise
        details = {**exc.details, "quarantine": where}
        raise DataQualityError(f"{exc.message}; quarantine: {where}", details=details) from exc
    final = finalise(valid, schema, imputation)
    rows["out"] = len(final)
    return Cleaned(final, rows, quarantine, imputation, missing, extra, by_column)


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
) -> IngestResult:
    """Clean, validate, split and version `raw`; returns the command's result."""
    step = step or (lambda _name: None)
    shown = str(source.get("uri", "input"))
    started = datetime.now(UTC)
    written: list[Path] = []

    def save_quarantine(rows: pd.DataFrame) -> str | None:
        if options.quarantine_dir is None:
            return None
        path = options.quarantine_dir / f"{started:%Y%m%dT%H%M%S}-{os.getpid()}.csv"
        write_quarantine(rows, path)
        written.append(path)
        return str(path)

    try:
        step("clean and validate")
        cleaned = clean(
            raw,
            schema,
            shown=shown,
            max_invalid_fraction=options.max_invalid_fraction,
            on_quarantine=save_quarantine,
        )
        return _split_and_version(
            cleaned,
            schema,
            source,
            registry,
            options,
            quarantine=str(written[0]) if written else None,
            work_dir=work_dir,
            step=step,
        )
    except BaseException as exc:
        # The quarantine file stays only when the error points the user at it.
        named = isinstance(exc, MlopsError) and exc.details.get("quarantine") is not None
        if not named:
            for path in written:
                path.unlink(missing_ok=True)
        raise


def _split_and_version(
    cleaned: Cleaned,
    schema: DatasetSchema,
    source: dict[str, Any],
    registry: DataRegistry,
    options: IngestOptions,
    *,
    quarantine: str | None,
    work_dir: Path,
    step: Step,
) -> IngestResult:
    shown = str(source.get("uri", "input"))
    log.info(
        "cleaned %s rows: %s duplicates and %s without label dropped, %s quarantined, %s kept",
        cleaned.rows["in"],
        cleaned.rows["duplicates"],
        cleaned.rows["missing_label"],
        cleaned.rows["quarantined"],
        cleaned.rows["out"],
    )
    step("split")
    try:
        parts = stratified_split(
            cleaned.frame,
            schema.label.name,
            options.split,
            classes=schema.classes if schema.is_classification else None,
        )
    except DataQualityError as exc:
        raise DataQualityError(f"source {shown}: {exc.message}", details=exc.details) from exc
    splits = {name: to_output(part, schema) for name, part in parts.items()}
    split_hashes = {name: frame_hash(splits[name]) for name in SPLITS}
    content_hash = combined_hash(split_hashes)
    distribution = class_distribution(splits, schema) if schema.is_classification else None
    manifest = build_manifest(
        schema=schema,
        source=source,
        rows=cleaned.rows,
        dropped_columns=cleaned.dropped_columns,
        invalid_by_column=cleaned.invalid_by_column,
        imputation=cleaned.imputation,
        split=options.split.as_dict(),
        statistics=summarise(cleaned.frame, schema, cleaned.missing),
        split_hashes=split_hashes,
        class_distribution=distribution,
    )
    result = IngestResult(
        model=registry.model,
        task=schema.task,
        dataset=schema.name,
        data_version=None,
        created=False,
        content_hash=content_hash,
        rows={**cleaned.rows, **{name: len(splits[name]) for name in SPLITS}},
        quarantine=quarantine,
        invalid_by_column=cleaned.invalid_by_column,
        registry=registry.url,
        source=SourceInfo.model_validate(source),
        class_distribution=distribution,
    )
    if options.dry_run:
        result.dry_run = True
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
    result.data_version = published.tag
    result.created = published.created
    return result
