"""Quarantine: the invalid rows with their reasons, and the threshold that fails a run.

The file holds `_row` (1-based data row of the source), `_reason`, then the row's values as
read. It is written whole or not at all, also when the run then fails on the threshold (the
error names it, so the rows can be fixed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlops_core.errors import DataQualityError
from mlops_core.storage import atomic_write

ROW_COLUMN = "_row"
REASON_COLUMN = "_reason"


def quarantine_frame(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """The rows of `frame` named by `reasons` (indexed by row position of the source): _row,
    _reason, then the columns as read."""
    invalid = reasons.index.to_numpy()
    out = pd.DataFrame(
        {ROW_COLUMN: invalid + 1, REASON_COLUMN: reasons.to_numpy()}, index=reasons.index
    )
    if len(invalid):
        out = pd.concat([out, frame.loc[invalid]], axis=1)
    return out


def check_threshold(
    quarantine: pd.DataFrame,
    *,
    checked: int,
    rows: dict[str, int],
    by_column: dict[str, int],
    max_invalid_fraction: float,
    shown: str,
    label: str,
    where: str | None,
) -> None:
    """DataQualityError when no row is left, when every row is invalid or when more than
    `max_invalid_fraction` of the `checked` rows are: the count, share, counts per column,
    the first reason and the quarantine file."""
    invalid = len(quarantine)
    fraction = invalid / checked if checked else 0.0
    if checked and fraction <= max_invalid_fraction and invalid < checked:
        return
    if checked == 0:
        message = (
            f"source {shown}: no row left to validate: the label column {label!r} is empty "
            f"in all {rows['missing_label']:,} rows"
        )
    else:
        summary = ", ".join(f"{k} {v}" for k, v in by_column.items())
        first = quarantine.iloc[0]
        example = f"row {int(first[ROW_COLUMN])}: {first[REASON_COLUMN]}"
        message = (
            f"source {shown}: {invalid:,} of {checked:,} rows ({fraction:.1%}) are "
            f"invalid, above the {max_invalid_fraction:.1%} threshold; by column: {summary}; "
            f"first: {example}"
        )
    if where:
        message += f"; quarantine: {where}"
    details: dict[str, Any] = {
        "rows": rows,
        "invalid_fraction": round(fraction, 6),
        "threshold": max_invalid_fraction,
        "invalid_by_column": by_column,
        "quarantine": where,
    }
    raise DataQualityError(message, details=details)


def write_quarantine(frame: pd.DataFrame, path: Path) -> None:
    """Write the CSV whole or not at all (a reader never sees half a file)."""
    with atomic_write(str(path), "wb") as fh:
        frame.to_csv(fh, index=False)
