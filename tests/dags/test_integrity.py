"""Every DAG file imports with zero errors and zero warnings, with no Airflow variable or
connection set, with either task runner; nothing heavy is imported when a DAG is parsed.
The DAGs are generated per model folder: a new folder is new DAGs, a broken folder is an
import error naming it and leaves the other models' DAGs alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import DAG_IDS, DAGS_FOLDER, KINDS, load_dagbag, models_folder

DAG_FILES = {"training_pipeline.py", "monitoring.py", "rollback.py", "rollout.py"}


@pytest.mark.parametrize("runner", ["local", "kubernetes", "docker"])
def test_every_dag_file_imports_without_errors(runner, monkeypatch, dag_models_dir):
    assert not [n for n in os.environ if n.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_"))]
    bag = load_dagbag(runner, monkeypatch, dag_models_dir)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    assert not bag.captured_warnings, bag.captured_warnings
    files = {stat.file for stat in bag.dagbag_stats}
    assert {p.name for p in DAGS_FOLDER.glob("*.py")} <= files


def test_the_repository_models_folder_is_the_default(monkeypatch):
    """No MLOPS_MODELS_DIR: the models/ of the repository dags/ belongs to (git-sync's
    checkout), one DAG of each kind per folder in it."""
    bag = load_dagbag("local", monkeypatch)
    assert bag.import_errors == {}
    repo_models = sorted(
        p.parent.name for p in (DAGS_FOLDER.parent / "models").glob("*/schema.yaml")
    )
    assert "house-price" in repo_models
    assert set(bag.dag_ids) == {f"{k}.{m}" for k in KINDS for m in repo_models}


def test_a_new_model_folder_is_new_dags_without_editing_a_dag_file(
    monkeypatch, tmp_path, make_model_folder
):
    models = models_folder(tmp_path / "models", make_model_folder, names=("house-price",))
    before = load_dagbag("local", monkeypatch, models)
    assert set(before.dag_ids) == {f"{k}.house-price" for k in KINDS}

    make_model_folder(models, "fraud-2")
    after = load_dagbag("local", monkeypatch, models)
    assert after.import_errors == {}
    assert set(after.dag_ids) == {f"{k}.{m}" for k in KINDS for m in ("house-price", "fraud-2")}
    trigger = after.dags["mlops_monitoring.fraud-2"].get_task("trigger_retraining")
    assert trigger.trigger_dag_id == "mlops_training_pipeline.fraud-2"
    for kind in KINDS:
        dag = after.dags[f"{kind}.fraud-2"]
        for task in dag.tasks:
            if hasattr(task, "op_kwargs") and "argv" in task.op_kwargs:
                assert "--model=fraud-2" in task.op_kwargs["argv"], (kind, task.task_id)


def test_a_broken_model_folder_is_an_import_error_naming_it(
    monkeypatch, tmp_path, make_model_folder
):
    """A bad folder name or a folder without schema.yaml: the other models keep their DAGs,
    and one import error names each broken folder and why."""
    models = models_folder(tmp_path / "models", make_model_folder, names=("house-price",))
    bad = models / "Bad_Name"
    bad.mkdir()
    (bad / "schema.yaml").write_text((models / "house-price" / "schema.yaml").read_text())
    (models / "no-schema").mkdir()
    (models / "no-schema" / "train.yaml").write_text("seed: 1\n")
    (models / ".hidden").mkdir()  # ignored, as are files
    (models / "README.md").write_text("the models\n")

    bag = load_dagbag("local", monkeypatch, models)
    assert set(bag.dag_ids) == {f"{k}.house-price" for k in KINDS}
    assert {p.rsplit("/", 1)[-1] for p in bag.import_errors} == {"mlops_model_folders.py"}
    [error] = bag.import_errors.values()
    assert "Bad_Name" in error and "lower-case" in error
    assert "no-schema" in error and "no schema.yaml" in error
    assert ".hidden" not in error and "README" not in error


def test_an_empty_models_folder_builds_no_dags_and_no_errors(monkeypatch, tmp_path):
    (tmp_path / "models").mkdir()
    bag = load_dagbag("local", monkeypatch, tmp_path / "models")
    assert bag.dag_ids == [] and bag.import_errors == {}


def test_an_unknown_runner_is_an_import_error_naming_the_setting(monkeypatch, dag_models_dir):
    bag = load_dagbag("podman", monkeypatch, dag_models_dir)
    assert {p.rsplit("/", 1)[-1] for p in bag.import_errors} == DAG_FILES
    for error in bag.import_errors.values():
        assert "MLOPS_TASK_RUNNER='podman'" in error
        assert "local, kubernetes, docker" in error


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
heavy = ("mlflow", "sklearn", "evidently", "dvc", "pandas", "numpy", "pyarrow", "kubernetes")
print(json.dumps({
    "errors": bag.import_errors,
    "dags": sorted(bag.dag_ids),
    "heavy": sorted(m for m in new if m.split(".")[0] in heavy),
    "mlops_core": sorted(m for m in new if m.split(".")[0] == "mlops_core"),
}))
"""

# What listing the model folders may import of mlops_core: modelspec (its name rules) and
# the light modules it stands on; never settings, registry, MLflow or storage layers, nor
# configfile (no schema file is read while parsing).
LIGHT_MLOPS_CORE = re.compile(r"^mlops_core(\.(modelspec|schema|errors|contracts(\..*)?))?$")


def test_parsing_with_the_local_runner_imports_nothing_heavy(dag_models_dir):
    """A DAG processor in a cluster has no stage packages: the DAG files import Airflow and
    mlops_core.modelspec's light modules only (the Kubernetes client only with the
    kubernetes runner)."""
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS_FOLDER)],
        env={**os.environ, "MLOPS_TASK_RUNNER": "local", "MLOPS_MODELS_DIR": str(dag_models_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert set(result["dags"]) == DAG_IDS
    assert result["heavy"] == []
    assert [m for m in result["mlops_core"] if not LIGHT_MLOPS_CORE.match(m)] == []


MODELSPEC_FROM_CHECKOUT = """
import sys
sys.path = [p for p in sys.path if not p.endswith("mlops_core/src")]
import importlib.util
assert importlib.util.find_spec("mlops_core") is None
sys.path.insert(0, sys.argv[1])
import mlops_models
names, broken = mlops_models.scan()
print(",".join(names), len(broken))
"""


def test_model_folders_are_listed_without_an_installed_mlops_core(tmp_path, dag_models_dir):
    """An Airflow image holds Airflow only: the model folders are listed with modelspec
    read from the repository git-sync checked out."""
    proc = subprocess.run(
        [sys.executable, "-c", MODELSPEC_FROM_CHECKOUT, str(DAGS_FOLDER)],
        env={**os.environ, "MLOPS_MODELS_DIR": str(dag_models_dir)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["churn,house-price", "0"]
