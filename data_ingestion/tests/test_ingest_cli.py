"""`mlops ingest`, `mlops data list` and `mlops data pull` end to end, with real git and DVC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops_core.contracts import ErrorResult, read_result
from mlops_core.contracts.ingest import DataListResult, DataPullResult, IngestResult
from mlops_core.registry import SPLITS, DataRegistry
from mlops_core.settings import get_settings
from mlops_core.synthetic import generate


def _expected_dtypes(schema) -> dict[str, str]:
    return {
        c.name: {"int": "int64", "float": "float64", "category": "object"}[c.dtype]
        for c in schema.columns
    }


def test_synthetic_creates_a_version_then_no_change(mlops, mlops_home, schema, tmp_path):
    first = mlops("ingest", "--synthetic", "1000", "--seed", "42", "--json")
    assert first.exit_code == 0, first.stderr
    out = first.json
    assert out["ok"] is True
    assert (out["data_version"], out["created"]) == ("data-v1", True)
    assert out["rows"] == {
        "in": 1000,
        "duplicates": 0,
        "missing_label": 0,
        "quarantined": 0,
        "out": 1000,
        "train": 700,
        "val": 150,
        "test": 150,
    }
    assert out["registry"] == str(mlops_home / "data-registry.git")

    again = mlops("ingest", "--synthetic", "1000", "--seed", "42")
    assert again.exit_code == 0
    assert "no change: the data is identical to data-v1" in again.stdout

    other = mlops("ingest", "--synthetic", "1000", "--seed", "43", "--json")
    assert (other.json["data_version"], other.json["created"]) == ("data-v2", True)

    listed = mlops("data", "list", "--json").json
    assert listed["latest"] == "data-v2"
    assert [v["data_version"] for v in listed["versions"]] == ["data-v1", "data-v2"]
    assert listed["versions"][0]["rows"] == {"train": 700, "val": 150, "test": 150}
    assert listed["versions"][0]["source"] == "synthetic:1000"
    human = mlops("data", "list")
    assert "data-v1" in human.stdout and "data-v2" in human.stdout

    pulled = mlops("data", "pull", "data-v1", tmp_path / "v1", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    files = {k: Path(v) for k, v in pulled.json["files"].items()}
    assert set(files) == set(SPLITS)
    train = pd.read_parquet(files["train"])
    assert list(train.columns) == [*schema.feature_names, schema.label.name]
    assert {c: str(t) for c, t in train.dtypes.items()} == _expected_dtypes(schema)
    latest = mlops("data", "pull", "latest", tmp_path / "latest", "--json")
    assert latest.json["data_version"] == "data-v2"

    unknown = mlops("data", "pull", "data-v9", tmp_path / "v9", "--json")
    assert unknown.exit_code == 2
    assert "unknown data version 'data-v9'" in unknown.json["error"]


def test_manifest_records_cleaning_and_statistics(mlops, mlops_home, schema):
    result = mlops(
        "ingest",
        "--synthetic",
        "3000",
        "--seed",
        "5",
        "--missing-rate",
        "0.03",
        "--duplicate-rate",
        "0.05",
        "--invalid-rate",
        "0.02",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    rows = result.json["rows"]
    assert rows["in"] == 3150
    assert rows["duplicates"] == 150
    assert 0 < rows["quarantined"] < 0.05 * 3000
    assert rows["out"] == 3000 - rows["quarantined"]
    assert rows["train"] + rows["val"] + rows["test"] == rows["out"]

    registry = DataRegistry.from_settings(get_settings())
    manifest = registry.manifest("data-v1")
    assert manifest["rows"]["quarantined"] == rows["quarantined"]
    assert sum(manifest["quarantine"]["by_column"].values()) >= rows["quarantined"]
    assert manifest["source"]["drift"]["missing_rate"] == 0.03
    assert manifest["schema"]["name"] == schema.name
    values = manifest["imputation"]["values"]
    assert set(values) == set(schema.feature_names)
    for name in schema.feature_names:
        column = schema.column(name)
        stats = manifest["statistics"][name]
        assert stats["missing_imputed"] > 0
        if column.is_numeric:
            assert column.min <= values[name] <= column.max
            assert stats["min"] <= stats["median"] <= stats["max"]
        else:
            assert values[name] in column.categories
            assert sum(stats["categories"].values()) == rows["out"]
    assert manifest["split"]["seed"] == 5
    assert manifest["content_hash"] == result.json["content_hash"]
    assert len(manifest["splits"]["train"]["sha256"]) == 64

    files = registry.pull("data-v1", mlops_home / "pulled")
    for name in SPLITS:
        frame = pd.read_parquet(files[name])
        assert not frame.isna().any().any()
        for column in schema.columns:
            if column.dtype == "category":
                assert set(frame[column.name]) <= set(column.categories)
            else:
                assert frame[column.name].between(column.min, column.max).all()

    quarantine = pd.read_csv(result.json["quarantine"])
    assert len(quarantine) == rows["quarantined"]
    assert quarantine["_reason"].str.contains(r"out of range|not one of").all()


def test_csv_spellings_missing_labels_and_extra_columns(mlops, mlops_home, schema, tmp_path):
    frame = generate(schema, 500, seed=9)
    category = schema.categorical_features[0]
    allowed = schema.column(category).categories
    frame[category] = frame[category].map(lambda v: f"  {v.upper()} ")
    frame.loc[frame.index[:20], schema.label.name] = None
    frame["comment"] = "extra"
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)

    result = mlops("ingest", "--source", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["rows"]["missing_label"] == 20
    assert result.json["rows"]["out"] == 480
    assert result.json["source"]["kind"] == "file"
    assert result.json["source"]["format"] == "csv"
    registry = DataRegistry.from_settings(get_settings())
    manifest = registry.manifest("data-v1")
    assert manifest["dropped_columns"] == ["comment"]
    assert manifest["source"]["sha256"]
    train = pd.read_parquet(registry.pull("data-v1", tmp_path / "out")["train"])
    assert set(train[category]) <= set(allowed)


def test_split_fractions_and_seed_options(mlops, mlops_home):
    args = ("--synthetic", "2000", "--val-fraction", "0.1", "--test-fraction", "0.25", "--json")
    result = mlops("ingest", *args)
    assert result.exit_code == 0, result.stderr
    rows = result.json["rows"]
    assert (rows["train"], rows["val"], rows["test"]) == (1300, 200, 500)
    same_data_other_split = mlops("ingest", *args[:2], "--json")
    assert same_data_other_split.json["data_version"] == "data-v2"


def test_drift_options_change_the_data(mlops, mlops_home, schema):
    numeric = schema.numeric_features[0]
    category = schema.categorical_features[-1]
    first = schema.column(category).categories[0]
    base = mlops("ingest", "--synthetic", "2000", "--json")
    assert base.exit_code == 0, base.stderr
    weights = ",".join(f"{c}:{1 if c == first else 0}" for c in schema.column(category).categories)
    drifted = mlops(
        "ingest",
        "--synthetic",
        "2000",
        "--shift",
        f"{numeric}=1.2",
        "--category-weights",
        f"{category}={weights}",
        "--json",
    )
    assert drifted.exit_code == 0, drifted.stderr
    registry = DataRegistry.from_settings(get_settings())
    a = registry.manifest("data-v1")["statistics"]
    b = registry.manifest("data-v2")["statistics"]
    assert b[numeric]["median"] > a[numeric]["median"] * 1.1
    assert b[category]["categories"][first] == 2000
    assert registry.manifest("data-v2")["source"]["drift"]["shift"] == {numeric: 1.2}


def test_dry_run_creates_nothing(mlops, mlops_home, registry_state):
    result = mlops("ingest", "--synthetic", "500", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["data_version"] is None
    assert result.json["dry_run"] is True
    assert registry_state() == {}


def test_failing_dvc_remote_leaves_the_registry_unchanged(
    mlops, seeded_home, registry_state, monkeypatch, tmp_path
):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLOPS_DVC_REMOTE", str(blocker / "remote"))
    before = registry_state()
    result = mlops("ingest", "--synthetic", "500", "--json")
    assert result.exit_code != 0
    assert "dvc push" in result.json["error"]
    assert registry_state() == before
    assert [p.name for p in (seeded_home / "tmp").iterdir()] == []


def test_nothing_on_stdout_but_the_json(mlops, mlops_home):
    result = mlops("ingest", "--synthetic", "300", "--json")
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    json.loads(lines[0])


def test_help_has_examples(mlops):
    for command in (["ingest"], ["data", "list"], ["data", "pull"]):
        result = mlops(*command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.stdout


@pytest.mark.slow
def test_demo_command_from_the_makefile(tmp_path):
    """`make demo`'s command in a fresh MLOPS_HOME, as a subprocess: created, then no change."""
    env_home = tmp_path / "home"
    argv = ["mlops", "ingest", "--model", "house-price", "--synthetic", "5000", "--seed", "42"]
    env = {"MLOPS_HOME": str(env_home), "PATH": _venv_path()}
    first = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "created data-v1" in first.stdout
    second = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    assert "no change" in second.stdout
    git = ["git", f"--git-dir={env_home / 'data-registry.git'}", "tag"]
    tags = subprocess.run(git, capture_output=True, text=True).stdout.split()
    assert tags == ["house-price/data-v1"]


def _venv_path() -> str:
    import os
    import sys

    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.mark.slow
def test_concurrent_ingests_get_distinct_versions(tmp_path):
    """Two runs racing on one registry: one push is rejected, retried on a fresh clone, and
    both versions exist once each."""
    home = tmp_path / "home"
    env = {"MLOPS_HOME": str(home), "PATH": _venv_path(), "MLOPS_LOG_FORMAT": "json"}
    argv = ["mlops", "ingest", "-m", "house-price", "--synthetic", "500", "--json"]
    procs = [
        subprocess.Popen(
            [*argv, "--seed", str(seed)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(read_result(out, IngestResult))
    assert sorted(r.data_version for r in results) == ["data-v1", "data-v2"]
    assert all(r.created for r in results)
    git = ["git", f"--git-dir={home / 'data-registry.git'}", "tag"]
    assert subprocess.run(git, capture_output=True, text=True).stdout.split() == [
        "house-price/data-v1",
        "house-price/data-v2",
    ]


def test_empty_registry_listing_and_help(mlops, mlops_home):
    listed = mlops("data", "list")
    assert listed.exit_code == 0
    assert "no data version yet" in listed.stdout
    assert mlops("data", "list", "--json").json["versions"] == []
    assert mlops("data", "pull", "latest", mlops_home / "x", "--json").exit_code == 2


def test_the_commands_are_registered(mlops):
    import typer

    from mlops_core.cli import app

    shown = mlops("--help")  # loads every stage's commands
    assert shown.exit_code == 0 and "commands of data_ingestion" not in shown.stderr
    command = typer.main.get_command(app)
    assert {"ingest", "data"} <= set(command.commands)
    assert set(command.commands["data"].commands) == {"list", "pull", "migrate"}
    assert "new" in command.commands["models"].commands


def test_every_result_is_its_contract(mlops, mlops_home, tmp_path):
    ingested = mlops("ingest", "--synthetic", "300", "--json")
    result = read_result(ingested.stdout, IngestResult)
    assert isinstance(result, IngestResult), ingested.stdout
    assert result.rows.in_ == 300 and result.source.kind == "synthetic"
    listed = read_result(mlops("data", "list", "--json").stdout, DataListResult)
    assert [v.data_version for v in listed.versions] == [result.data_version]
    pulled = mlops("data", "pull", "latest", tmp_path / "out", "--json")
    assert read_result(pulled.stdout, DataPullResult).data_version == result.data_version
    dry = read_result(mlops("ingest", "--synthetic", "300", "--dry-run", "--json").stdout)
    assert IngestResult.model_validate(dry).dry_run is True
    failed = read_result(mlops("ingest", "--json").stdout, IngestResult)
    assert isinstance(failed, ErrorResult) and failed.exit_code == 2


def test_output_into_a_pipe_cuts_nothing(mlops, mlops_home, schema, tmp_path):
    """In CI or `| less`, rich would fit the output into 80 columns (60 here): cut the
    table's source and date, break a path across lines. Every value stays whole."""
    folder = tmp_path / "a-folder-with-a-long-name-as-in-ci-workspaces" / "exports-2026-12-01"
    folder.mkdir(parents=True)
    path = folder / "houses-exported-from-the-warehouse-nightly.csv"
    frame = generate(schema, 300, seed=4)
    frame.loc[0, schema.label.name] = -1.0  # one quarantined row
    frame.to_csv(path, index=False)
    env = {**os.environ, "COLUMNS": "60"}
    env.pop("FORCE_COLOR", None)

    def piped(*args: str) -> list[str]:
        exe = str(Path(sys.executable).parent / "mlops")
        # capture_output: stdout is a pipe, as in CI
        done = subprocess.run([exe, *args], env=env, capture_output=True, text=True, check=True)
        assert "…" not in done.stdout
        return done.stdout.splitlines()

    ingested = piped("ingest", "--source", str(path))
    registry = str(mlops_home / "data-registry.git")
    assert f"created data-v1 of house-price in {registry}" in ingested
    quarantine = next(line for line in ingested if line.startswith("quarantine: "))
    assert Path(quarantine.removeprefix("quarantine: ")).is_file()

    created = mlops("data", "list", "--json").json["versions"][0]["created"]
    row = next(line for line in piped("data", "list") if "data-v1" in line)
    assert str(path) in row and created in row

    dest = folder / "pulled-into-another-folder-with-a-long-name"
    assert piped("data", "pull", "latest", str(dest)) == [
        f"house-price data-v1 pulled into {dest}: train.parquet, val.parquet, test.parquet"
    ]
