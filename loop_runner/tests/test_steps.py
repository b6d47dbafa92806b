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


def test_a_model_step_passes_its_model_and_names_it_when_it_fails(mlops_home, tmp_path):
    """A model's steps run `mlops <stage> --model M ...`, as a stage task of M's DAG does,
    and a failure says which model's step it was."""
    missing = tmp_path / "no-such-file.csv"
    steps = Steps(tmp_path / "house-price.log", quiet=True, model="house-price")
    with pytest.raises(StepFailed) as info:
        steps.stage("ingest", ["ingest", "--source", str(missing)])
    [step] = steps.steps
    assert step.command == f"mlops ingest --model house-price --source {missing}"
    assert step.model == "house-price"
    assert "of model house-price" in info.value.message
    assert info.value.details["model"] == "house-price"


def test_a_cancelled_loop_stops_before_its_next_step(tmp_path):
    """Side by side, one model's failure stops the others at their next step."""
    import threading

    from loop_runner.steps import Cancelled

    cancel = threading.Event()
    steps = Steps(tmp_path / "churn.log", quiet=True, model="churn", cancel=cancel)
    assert steps.client("count", lambda: 1) == 1
    cancel.set()
    with pytest.raises(Cancelled, match="churn: stopped before 'train'"):
        steps.stage("train", ["train"])
    assert [s.step for s in steps.steps] == ["count"]
