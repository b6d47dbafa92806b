"""mlops_core.taskrun: how a stage command's exit code and --json result become a task's
outcome and XCom, in a pod (`python -m mlops_core.taskrun --xcom-file ...`) and locally."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlops_core import taskrun


def fake_command(code: int, result: dict | None, stderr: str = "progress") -> list[str]:
    """A command that logs to stderr, prints noise then a JSON line, and exits with code."""
    payload = json.dumps(result) if result is not None else ""
    script = (
        "import sys; "
        f"print({stderr!r}, file=sys.stderr); print('a line for a person'); "
        f"print({payload!r}); sys.exit({code})"
    )
    return [sys.executable, "-c", script]


def test_accepted_exit_code_returns_the_json_result_with_the_code():
    lines = []
    outcome = taskrun.run(
        fake_command(3, {"ok": False, "gate": "failed", "reason": "rmse too high"}),
        accept=(0, 3),
        sink=lambda stream, line: lines.append((stream, line)),
    )
    assert outcome.payload() == {
        "ok": False,
        "gate": "failed",
        "reason": "rmse too high",
        "exit_code": 3,
    }
    assert ("stderr", "progress") in lines
    assert ("stdout", "a line for a person") in lines


@pytest.mark.parametrize(("code", "retryable"), [(1, True), (5, True), (8, True), (2, False)])
def test_other_exit_codes_fail_the_task(code, retryable):
    with pytest.raises(taskrun.TaskFailed) as info:
        taskrun.run(
            fake_command(code, {"ok": False, "error": "registry unreachable"}),
            accept=(0,),
            sink=lambda *_: None,
        )
    assert info.value.outcome.exit_code == code
    assert info.value.retryable is retryable
    assert f"exited with code {code}: registry unreachable" in str(info.value)


def test_a_refused_gate_is_not_retried_when_the_task_does_not_accept_it():
    with pytest.raises(taskrun.TaskFailed) as info:
        taskrun.run(fake_command(3, None), accept=(0,), sink=lambda *_: None)
    assert not info.value.retryable
    assert "progress" in str(info.value)  # the last line it logged


def test_empty_arguments_are_dropped():
    assert taskrun.resolve_argv(["python", "", None, "-V"]) == ["python", "-V"]
    with pytest.raises(ValueError, match="empty command"):
        taskrun.resolve_argv(["", None])


def test_pod_entry_point_writes_the_xcom_file_the_sidecar_reads(tmp_path):
    xcom = tmp_path / "airflow" / "xcom" / "return.json"
    result = {"status": "drift", "drift_share": 0.5, "drifted_columns": ["c1"]}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_core.taskrun",
            "--xcom-file",
            str(xcom),
            "--accept",
            "0,6,7",
            "--",
            *fake_command(6, result),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(xcom.read_text()) == {**result, "exit_code": 6}
    assert "exit code 6 (accepted)" in proc.stderr
    assert [p.name for p in xcom.parent.iterdir()] == ["return.json"]  # no temp file left


def test_pod_entry_point_keeps_a_failing_code_and_writes_no_xcom(tmp_path):
    xcom = tmp_path / "return.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_core.taskrun",
            "--xcom-file",
            str(xcom),
            "--",
            *fake_command(4, {"ok": False, "error": "too many invalid rows"}),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 4
    assert "too many invalid rows" in proc.stderr
    assert not xcom.exists()


def test_a_real_mlops_command(mlops_home):
    outcome = taskrun.run(["mlops", "status", "--json"], sink=lambda *_: None)
    assert outcome.exit_code == 0
    assert outcome.result["home"] == str(mlops_home)
    assert outcome.argv[:2] == ["mlops", "status"]


def test_the_local_task_callable_maps_codes_to_airflow_exceptions(mlops_home):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[2] / "dags"))
    try:
        import mlops_tasks
    finally:
        sys.path.pop(0)
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    assert mlops_tasks.run_stage_locally(["mlops", "status", "--json"], [0])["exit_code"] == 0
    with pytest.raises(AirflowFailException, match="No such command"):
        mlops_tasks.run_stage_locally(["mlops", "no-such-command", "--json"], [0])
    with pytest.raises(AirflowException) as info:
        mlops_tasks.run_stage_locally(fake_command(5, {"error": "down"}), [0])
    assert not isinstance(info.value, AirflowFailException)


def test_a_task_gets_mlflow_settings_that_fail_in_seconds_unless_it_has_its_own(monkeypatch):
    """MLflow's own defaults retry for minutes when its server goes away mid-command."""
    show = (
        "import json, os; print(json.dumps({k: os.environ.get(k) for k in "
        "('MLFLOW_HTTP_REQUEST_MAX_RETRIES', 'MLFLOW_HTTP_REQUEST_TIMEOUT')}))"
    )
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    quiet = lambda stream, line: None  # noqa: E731
    given = taskrun.run([sys.executable, "-c", show], sink=quiet).result
    assert given == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "9")
    own = taskrun.run([sys.executable, "-c", show], sink=quiet).result
    assert own["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"
