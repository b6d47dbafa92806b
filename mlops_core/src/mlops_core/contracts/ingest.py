"""Results of `mlops ingest`, `mlops data list|pull|migrate` and `mlops models new`
(data_ingestion)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result
from mlops_core.contracts.constants import Task


class SyntheticDrift(BaseModel):
    """The drift injected into synthetic rows (`mlops ingest --synthetic N --shift ...`)."""

    model_config = ConfigDict(extra="forbid")

    shift: dict[str, float] = Field(
        default_factory=dict, description="numeric column -> multiplicative factor"
    )
    category_weights: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="category column -> {category: weight}"
    )
    missing_rate: float = Field(0.0, description="share of feature cells left empty")
    duplicate_rate: float = Field(0.0, description="share of rows repeated exactly")
    invalid_rate: float = Field(0.0, description="share of rows made invalid")


class SourceInfo(BaseModel):
    """Where the ingested rows came from, as recorded in the manifest (no credentials)."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(
        ..., description="the source without user:password@ or query string; synthetic:N"
    )
    kind: str = Field(..., description="file, http, s3 or synthetic")
    format: str | None = Field(None, description="csv or parquet (read from the content)")
    bytes: int | None = Field(None, description="size of the file read")
    sha256: str | None = Field(None, description="SHA-256 of the file read")
    rows: int | None = Field(None, description="synthetic: the number of rows generated")
    seed: int | None = Field(None, description="synthetic: the generator's seed")
    drift: SyntheticDrift | None = Field(None, description="synthetic: the drift injected")


class IngestRows(BaseModel):
    """Row counts of one ingestion, from the rows read to the rows of each split."""

    # `in` is a Python keyword: the field is `in_`, read and written as "in".
    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)

    in_: int = Field(..., alias="in", description="rows read from the source")
    duplicates: int = Field(..., description="exact duplicate rows dropped (after normalising)")
    missing_label: int = Field(..., description="rows dropped because the label is missing")
    quarantined: int = Field(..., description="invalid rows written to the quarantine file")
    out: int = Field(..., description="valid rows kept: train + val + test")
    train: int = Field(..., description="rows of the train split")
    val: int = Field(..., description="rows of the val split")
    test: int = Field(..., description="rows of the test split")


class IngestResult(Result):
    """A dataset cleaned, validated, split and (unless a dry run) versioned."""

    command: ClassVar[str] = "`mlops ingest`"

    model: str = Field(..., description="the model (folder) whose data version this is")
    task: Task = Field(Task.REGRESSION, description="the model's task")
    dataset: str = Field(..., description="the schema's name (the model's name)")
    data_version: str | None = Field(
        ...,
        description="the model's version holding the data (data-vN); null on a dry run",
    )
    created: bool = Field(
        ..., description="false when identical data already was a version (or a dry run)"
    )
    dry_run: bool = Field(False, description="true with --dry-run: no version was created")
    content_hash: str = Field(..., description="hash of the three splits' values")
    rows: IngestRows = Field(..., description="row counts")
    quarantine: str | None = Field(
        ..., description="path of the file of quarantined rows, null when none"
    )
    invalid_by_column: dict[str, int] = Field(
        ..., description="invalid rows per column, most first"
    )
    registry: str = Field(..., description="URL of the data registry")
    source: SourceInfo | None = Field(None, description="where the rows came from")
    class_distribution: dict[str, dict[str, int]] | None = Field(
        None,
        description="classification: rows per class in each split (train, val, test); "
        "null for regression",
    )
    seconds: float | None = Field(None, description="wall time of the command")


class DataVersionEntry(BaseModel):
    """One version of the data registry."""

    model_config = ConfigDict(extra="forbid")

    data_version: str = Field(..., description="the tag, data-vN")
    created: str = Field(..., description="creation time (UTC, ISO 8601)")
    rows: dict[str, int] = Field(..., description="rows per split (train, val, test)")
    content_hash: str = Field(..., description="hash of the three splits' values")
    source: str | None = Field(None, description="the source's URI, as in the manifest")
    quarantined: int | None = Field(None, description="rows quarantined when it was ingested")


class DataListResult(Result):
    """The versions of the data registry, oldest first."""

    command: ClassVar[str] = "`mlops data list`"

    model: str = Field(..., description="the model whose versions these are")
    registry: str = Field(..., description="URL of the data registry")
    latest: str | None = Field(..., description="the newest version, null when there is none")
    versions: list[DataVersionEntry] = Field(..., description="every version, oldest first")


class DataPullResult(Result):
    """A data version's splits (and manifest.json) materialised in a folder."""

    command: ClassVar[str] = "`mlops data pull`"

    model: str = Field(..., description="the model whose version was pulled")
    data_version: str = Field(..., description="the version pulled ('latest' resolved)")
    files: dict[str, str] = Field(..., description="split name -> path of its Parquet file")


class DataMigrateResult(Result):
    """A single-model registry's versions (tags data-vN naming no model) made one model's."""

    command: ClassVar[str] = "`mlops data migrate`"

    model: str = Field(..., description="the model the versions now belong to")
    registry: str = Field(..., description="URL of the data registry")
    migrated: list[str] = Field(
        ..., description="versions re-tagged by this run; empty when there was nothing to do"
    )
    versions: list[str] = Field(..., description="the model's versions after the run")
    datasets: list[str] = Field(
        default_factory=list, description="the dataset names the migrated manifests record"
    )


class DraftColumn(BaseModel):
    """One column of a drafted schema, with what was read to infer it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="the column's name, as in the CSV header")
    dtype: str = Field(..., description="int, float or category")
    role: str = Field(..., description="label or feature")
    min: float | None = Field(None, description="numeric: the drafted minimum (with a margin)")
    max: float | None = Field(None, description="numeric: the drafted maximum (with a margin)")
    observed_min: float | None = Field(None, description="numeric: the smallest value read")
    observed_max: float | None = Field(None, description="numeric: the largest value read")
    categories: list[str] | None = Field(
        None, description="category: the allowed values (normal form), most frequent first"
    )
    missing: int = Field(0, description="rows where the value is missing")


class DroppedColumn(BaseModel):
    """A column of the CSV left out of the drafted schema, and why."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="the column's name")
    reason: str = Field(..., description="why it was left out (identifier, constant, ...)")


class ModelDraftResult(Result):
    """A model folder drafted from a CSV: schema.yaml, train.yaml and monitor.yaml."""

    command: ClassVar[str] = "`mlops models new`"

    model: str = Field(..., description="the model's name (its folder's name)")
    path: str = Field(..., description="the model folder written")
    files: list[str] = Field(..., description="the files written in it")
    source: str = Field(..., description="the CSV the draft was inferred from")
    rows: int = Field(..., description="data rows read from the CSV")
    task: Task = Field(..., description="regression or classification")
    task_reason: str = Field(..., description="why this task (given, or inferred from the label)")
    label: str = Field(..., description="the label column")
    classes: list[str] | None = Field(None, description="classification: the classes")
    columns: list[DraftColumn] = Field(..., description="the columns of the schema")
    dropped: list[DroppedColumn] = Field(..., description="CSV columns left out, and why")
    templates: dict[str, str] = Field(
        ...,
        description="train.yaml / monitor.yaml -> the template it was copied from",
    )
    review: list[str] = Field(..., description="what a person should check before use")
