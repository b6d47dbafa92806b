"""Results of `mlops serve migrate` (prediction_service). `mlops serve --json` prints only
an ErrorResult (a start-up that failed); a running service answers over HTTP instead."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from mlops_core.contracts.base import Result


class MigrateResult(Result):
    """The prediction log's tables, created or brought to the newest migration."""

    command: ClassVar[str] = "`mlops serve migrate`"

    url: str = Field(..., description="the prediction log's database URL, password hidden")
    before: str | None = Field(
        ..., description="the Alembic revision before the command (null: no tables yet)"
    )
    after: str | None = Field(..., description="the revision after it (the newest migration)")
