"""Quarantine (data_ingestion.quarantine): the rows and reasons, the threshold, the file."""

from __future__ import annotations

import pandas as pd
import pytest

from data_ingestion.quarantine import (
    REASON_COLUMN,
    ROW_COLUMN,
    check_threshold,
    quarantine_frame,
    write_quarantine,
)
from mlops_core.errors import DataQualityError

ROWS = {"in": 100, "duplicates": 0, "missing_label": 0, "quarantined": 5}


def _quarantine(invalid: int) -> pd.DataFrame:
    frame = pd.DataFrame({"a": range(100)})
    reasons = pd.Series([f"a: {i} bad" for i in range(invalid)], index=range(invalid))
    return quarantine_frame(frame, reasons)


def _check(quarantine: pd.DataFrame, threshold: float, checked: int = 100, where=None) -> None:
    check_threshold(
        quarantine,
        checked=checked,
        rows=ROWS,
        by_column={"a": len(quarantine)},
        max_invalid_fraction=threshold,
        shown="f.csv",
        label="y",
        where=where,
    )


def test_the_quarantine_holds_source_rows_reasons_and_values():
    frame = pd.DataFrame({"a": [10, 11, 12, 13]})
    reasons = pd.Series(["a: 11 bad", "a: 13 bad"], index=[1, 3])
    out = quarantine_frame(frame, reasons)
    assert out.to_dict("list") == {
        ROW_COLUMN: [2, 4],
        REASON_COLUMN: ["a: 11 bad", "a: 13 bad"],
        "a": [11, 13],
    }


def test_at_the_threshold_passes_above_fails():
    _check(_quarantine(5), 0.05)
    with pytest.raises(DataQualityError) as failed:
        _check(_quarantine(6), 0.05, where="q.csv")
    assert failed.value.message == (
        "source f.csv: 6 of 100 rows (6.0%) are invalid, above the 5.0% threshold; "
        "by column: a 6; first: row 1: a: 0 bad; quarantine: q.csv"
    )
    assert failed.value.details["invalid_fraction"] == 0.06
    assert failed.value.details["quarantine"] == "q.csv"


def test_every_row_invalid_fails_whatever_the_threshold():
    with pytest.raises(DataQualityError, match=r"3 of 3 rows \(100.0%\) are invalid"):
        _check(_quarantine(3), 1.0, checked=3)


def test_no_row_left_names_the_label():
    with pytest.raises(DataQualityError, match="the label column 'y' is empty in all 0 rows"):
        _check(_quarantine(0), 0.05, checked=0)


def test_the_file_is_complete_or_absent(tmp_path, monkeypatch):
    target = tmp_path / "q" / "rows.csv"
    write_quarantine(_quarantine(3), target)
    assert pd.read_csv(target)[ROW_COLUMN].tolist() == [1, 2, 3]
    assert [p.name for p in target.parent.iterdir()] == ["rows.csv"]

    def broken(self, handle, **kwargs):
        handle.write(b"_row,_reason\n1,")  # half a file, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="No space"):
        write_quarantine(_quarantine(3), tmp_path / "q" / "other.csv")
    assert [p.name for p in target.parent.iterdir()] == ["rows.csv"]
