"""Settings of the ingestion stage (MLOPS_INGEST_*), read when a command starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from mlops_core.settings import StageSettings


class IngestSettings(StageSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_INGEST_")

    seed: int = Field(default=42, description="Seed of the synthetic generator and the split.")
    val_fraction: float = Field(default=0.15, gt=0, lt=1, description="Share of rows in val.")
    test_fraction: float = Field(default=0.15, gt=0, lt=1, description="Share of rows in test.")
    strata: int = Field(
        default=10, ge=1, le=1000, description="Label quantile bins the split is stratified on."
    )
    max_invalid_fraction: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="The run fails when more than this share of rows is invalid.",
    )
    quarantine_dir: Path | None = Field(
        default=None, description="Where quarantine files go; MLOPS_HOME/quarantine when unset."
    )
    http_timeout: float = Field(default=30.0, gt=0, description="Seconds for URL/S3 reads.")

    @model_validator(mode="after")
    def _fractions(self) -> IngestSettings:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(
                "MLOPS_INGEST_VAL_FRACTION + MLOPS_INGEST_TEST_FRACTION must stay below 1"
            )
        return self
