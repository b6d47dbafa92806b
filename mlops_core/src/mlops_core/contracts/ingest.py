"""Results of `mlops ingest`, `mlops data list`, `mlops data pull` (data_ingestion)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result


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

    dataset: str = Field(..., description="the schema's name")
    data_version: str | None = Field(
        ..., description="the version holding the data (data-vN); null on a dry run"
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

    registry: str = Field(..., description="URL of the data registry")
    latest: str | None = Field(..., description="the newest version, null when there is none")
    versions: list[DataVersionEntry] = Field(..., description="every version, oldest first")


class DataPullResult(Result):
    """A data version's splits (and manifest.json) materialised in a folder."""

    command: ClassVar[str] = "`mlops data pull`"

    data_version: str = Field(..., description="the version pulled ('latest' resolved)")
    files: dict[str, str] = Field(..., description="split name -> path of its Parquet file")
