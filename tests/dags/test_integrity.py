"""Every DAG file imports with zero errors and zero warnings, with no Airflow variable or
connection set, with either task runner; nothing heavy is imported when a DAG is parsed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import DAG_IDS, DAGS_FOLDER, load_dagbag


@pytest.mark.parametrize("runner", ["local", "kubernetes"])
def test_every_dag_file_imports_without_errors(runner, monkeypatch):
    assert not [n for n in os.environ if n.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_"))]
    bag = load_dagbag(runner, monkeypatch)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    assert not bag.captured_warnings, bag.captured_warnings
    files = {stat.file for stat in bag.dagbag_stats}
    assert {p.name for p in DAGS_FOLDER.glob("*.py")} <= files


def test_an_unknown_runner_is_an_import_error_naming_the_setting(monkeypatch):
    bag = load_dagbag("docker", monkeypatch)
    assert {p.rsplit("/", 1)[-1] for p in bag.import_errors} == {
        "training_pipeline.py",
        "monitoring.py",
        "rollback.py",
    }
    for error in bag.import_errors.values():
        assert "MLOPS_TASK_RUNNER='docker'" in error
        assert "local, kubernetes" in error


def test_no_variable_connection_or_hook_lookup_in_dag_code():
    forbidden = re.compile(r"Variable\.get|get_connection|BaseHook|Connection\(|os\.getenv\(")
    for path in DAGS_FOLDER.glob("*.py"):
        hits = [line for line in path.read_text().splitlines() if forbidden.search(line)]
        assert not hits, f"{path.name}: {hits}"


PARSE_PROBE = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
before = set(sys.modules)
bag = BundleDagBag(sys.argv[1], bundle_path=Path(sys.argv[1]))
new = set(sys.modules) - before
heavy = ("mlflow", "sklearn", "evidently", "dvc", "mlops_core", "kubernetes.client")
print(json.dumps({
    "errors": bag.import_errors,
    "dags": sorted(bag.dag_ids),
    "heavy": sorted(m for m in new if m.split(".")[0] in heavy or m == "kubernetes.client"),
}))
"""


def test_parsing_with_the_local_runner_imports_nothing_heavy():
    """A DAG processor in a cluster has no stage packages: the DAG files may only import
    Airflow (the Kubernetes client only with the kubernetes runner)."""
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS_FOLDER)],
        env={**os.environ, "MLOPS_TASK_RUNNER": "local"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert set(result["dags"]) == DAG_IDS
    assert result["heavy"] == []
