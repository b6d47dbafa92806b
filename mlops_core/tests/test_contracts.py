"""The contract parser and the generated reference of the result models."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mlops_core.contracts import ErrorResult, Result, ResultNotFound, read_result
from mlops_core.contracts.docs import render

REPO = Path(__file__).resolve().parents[2]


class Sample(Result):
    count: int


def test_read_result_takes_the_last_json_object_line():
    text = 'progress 1/2\n{"ok": true, "count": 1}\nnot json {\n{"ok": true, "count": 2}\n{oops\n'
    assert read_result(text, Sample).count == 2
    assert read_result(text) == {"ok": True, "count": 2}


def test_read_result_ignores_json_that_is_not_an_object():
    assert read_result('{"ok": true, "count": 5}\n[1, 2]\n"text"\n', Sample).count == 5


def test_no_result_is_an_error_with_a_model_and_empty_without():
    with pytest.raises(ResultNotFound, match="Sample"):
        read_result("just logs\n", Sample)
    assert read_result("just logs\n") == {}


def test_an_error_result_parses_as_error_result():
    parsed = read_result('{"ok": false, "exit_code": 2, "error": "bad --seed"}', Sample)
    assert isinstance(parsed, ErrorResult)
    assert (parsed.exit_code, parsed.error) == (2, "bad --seed")


def test_a_field_the_contract_does_not_name_is_refused():
    with pytest.raises(ValidationError, match="surprise"):
        read_result('{"ok": true, "count": 1, "surprise": 1}', Sample)


def test_the_generated_reference_is_current():
    committed = (REPO / "docs" / "contracts.md").read_text()
    assert committed == render(), (
        "docs/contracts.md is stale: run `python -m mlops_core.contracts.docs --write`"
    )
