"""A step of the loop runs its stage command through mlops_core.taskrun (as a local Airflow
task does), reads the result, and turns a failure into the pipeline's exit code."""

from __future__ import annotations

import pytest

from loop_runner.steps import StepFailed, Steps
from mlops_core.contracts import ExitCode


def test_a_stage_command_runs_through_taskrun_and_returns_its_result(mlops_home, tmp_path):
    log = tmp_path / "pipeline.log"
    steps = Steps(log, quiet=True)
    result = steps.stage("collect the URLs", ["status"])
    assert result["exit_code"] == 0 and isinstance(result["services"], list), result
    [step] = steps.steps
    assert step.command == "mlops status" and step.exit_code == 0 and step.seconds > 0
    text = log.read_text()
    assert "running: mlops status --json" in text  # taskrun's own announcement
    assert "(exit 0)" in text

    assert steps.client("count", lambda: 41 + 1) == 42
    assert [s.step for s in steps.steps] == ["collect the URLs", "count"]
    steps.note("done")
    assert steps.steps[-1].summary == "done"


def test_a_failed_command_stops_the_loop_with_its_exit_code(mlops_home, tmp_path):
    missing = tmp_path / "no-such-file.csv"
    steps = Steps(tmp_path / "pipeline.log", quiet=True)
    with pytest.raises(StepFailed) as info:
        steps.stage("ingest", ["ingest", "--source", str(missing)])
    error = info.value
    assert error.exit_code == ExitCode.BAD_INPUT
    assert "no-such-file.csv" in error.message and "pipeline.log" in error.message
    assert error.details["failed_step"] == "ingest"
    assert [s["exit_code"] for s in error.details["steps"]] == [int(ExitCode.BAD_INPUT)]


def test_an_accepted_outcome_code_is_a_result_not_a_failure(mlops_home, tmp_path):
    missing = tmp_path / "no-such-file.csv"
    steps = Steps(tmp_path / "pipeline.log", quiet=True)
    result = steps.stage("ingest", ["ingest", "--source", str(missing)], ok=(0, 2))
    assert result["exit_code"] == 2 and result["ok"] is False
    assert "no-such-file.csv" in result["error"]
