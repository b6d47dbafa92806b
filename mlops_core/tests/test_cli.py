"""mlops_core.cli: the `mlops` entry point, its plugins and its help."""

import os
import re
import subprocess
import sys
from pathlib import Path

from mlops_core.contracts import read_result
from mlops_core.contracts.runtime import ServiceDownResult, StatusResult

MLOPS = str(Path(sys.executable).parent / "mlops")


def test_version(mlops):
    result = mlops("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("mlops ")


# The order a model goes through the stages, then the embedded runtime (issue 12).
HELP_ORDER = [
    "models", "ingest", "data", "train", "promote", "rollback", "history", "serve", "monitor",
    "alerts",
    "pipeline",
    "up", "down", "status", "mlflow", "airflow",
]  # fmt: skip


def test_help_lists_commands_in_pipeline_order(mlops):
    result = mlops("--help")
    assert result.exit_code == 0
    commands = result.stdout.split("Commands")[1]
    listed = re.findall(r"^│ ([a-z][a-z-]*)  ", commands, flags=re.MULTILINE)
    # Every stage of this workspace is installed, so every command is listed.
    assert listed == HELP_ORDER


def test_a_stage_whose_commands_fail_to_import_is_an_error(tmp_path, mlops_home):
    """An installed stage that cannot be imported ends every command with exit code 1 and a
    traceback naming it, rather than its commands silently missing from the CLI."""
    package = tmp_path / "broken_stage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("import no_such_dependency_of_broken_stage\n")
    dist = tmp_path / "broken_stage-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-stage\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[mlops.commands]\nbroken_stage = broken_stage.cli:register\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [MLOPS, "status", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" in result.stderr
    assert "no_such_dependency_of_broken_stage" in result.stderr
    error = read_result(result.stdout)
    assert "broken-stage" in error["error"] and "broken_stage.cli:register" in error["error"]


def test_unknown_command_is_a_usage_error(mlops):
    assert mlops("no-such-command").exit_code == 2


def test_status_json_with_nothing_running(mlops, mlops_home):
    result = mlops("status", "--json")
    assert result.exit_code == 0
    status = read_result(result.stdout, StatusResult)
    assert (status.home, status.services) == (str(mlops_home), [])


def test_status_in_a_pipe_prints_whole_urls_and_paths(tmp_path, monkeypatch):
    """Not a terminal (CI, `| less`): the table cuts nothing a person copies."""
    from mlops_core.services import ServiceManager, free_port

    home = tmp_path / ("a-state-folder-with-a-long-name-" * 3).rstrip("-")
    manager = ServiceManager(home / "run")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    info, _ = manager.start("web", argv, url=url, health_url=url, port=port)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
        env.update(MLOPS_HOME=str(home), COLUMNS="80")
        result = subprocess.run(
            [MLOPS, "status"], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert url in result.stdout
        assert info.log in result.stdout and len(info.log) > 120
    finally:
        manager.stop("web")


def test_mlflow_up_refuses_external_tracking_uri(mlops, mlops_home, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.invalid:5000")
    result = mlops("mlflow", "up", "--json")
    assert result.exit_code == 2
    assert "external server" in result.json["error"]


def test_down_of_a_service_that_is_not_running(mlops, mlops_home):
    result = mlops("mlflow", "down", "--json")
    assert result.exit_code == 0
    down = read_result(result.stdout, ServiceDownResult)
    assert (down.service, down.stopped) == ("mlflow", False)
    text = mlops("mlflow", "down")
    assert "MLflow was not running" in text.stdout + text.stderr
