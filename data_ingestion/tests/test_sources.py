"""Sources other than the generator: Parquet and compressed CSV files, an http(s) URL, an
s3:// URI on a local moto server (also as the DVC remote), and a real dataset we did not
write (scikit-learn's diabetes data) with its own schema file."""

from __future__ import annotations

import gzip
import json
import subprocess
from importlib import resources

import pandas as pd
import pytest

from mlops_core.registry import DataRegistry
from mlops_core.settings import get_settings
from mlops_core.synthetic import generate


def test_parquet_and_gzipped_csv_give_the_same_version(mlops, mlops_home, schema, tmp_path):
    frame = generate(schema, 800, seed=4)
    parquet = tmp_path / "houses.parquet"
    frame.to_parquet(parquet, index=False)
    gz = tmp_path / "houses.csv.gz"
    frame.to_csv(gz, index=False)

    first = mlops("ingest", "--source", parquet, "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json["source"]["format"] == "parquet"
    second = mlops("ingest", "--source", gz, "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json["source"]["format"] == "csv"
    assert (second.json["data_version"], second.json["created"]) == ("data-v1", False)


def test_http_source(mlops, mlops_home, schema, http_root):
    root, base = http_root
    generate(schema, 600, seed=8).to_csv(root / "houses.csv", index=False)
    result = mlops("ingest", "--source", f"{base}/houses.csv", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["source"]["kind"] == "http"
    assert result.json["source"]["uri"] == f"{base}/houses.csv"
    assert result.json["rows"]["out"] == 600
    assert result.json["data_version"] == "data-v1"
    assert list((mlops_home / "tmp").iterdir()) == []  # the download is gone


def test_s3_source_and_s3_dvc_remote(mlops, s3, mlops_home, schema, monkeypatch, tmp_path):
    s3.create_bucket(Bucket="raw")
    s3.create_bucket(Bucket="dvc")
    body = generate(schema, 700, seed=12).to_csv(index=False).encode()
    s3.put_object(Bucket="raw", Key="in/houses.csv", Body=body)
    monkeypatch.setenv("MLOPS_DVC_REMOTE", "s3://dvc/store")

    result = mlops("ingest", "--source", "s3://raw/in/houses.csv", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["source"]["kind"] == "s3"
    assert result.json["data_version"] == "data-v1"
    stored = s3.list_objects_v2(Bucket="dvc", Prefix="store/")
    assert stored["KeyCount"] >= 3  # the three splits

    # Neither the endpoint nor the remote is written into the registry's tracked files.
    git_dir = mlops_home / "data-registry.git"
    tracked = subprocess.run(
        [
            "git",
            f"--git-dir={git_dir}",
            "grep",
            "-I",
            "-e",
            "127.0.0.1",
            "-e",
            "s3://dvc",
            "data-v1",
        ],
        capture_output=True,
        text=True,
    )
    assert tracked.stdout == ""

    pulled = mlops("data", "pull", "data-v1", tmp_path / "out", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert len(pd.read_parquet(pulled.json["files"]["train"])) == 490


def test_s3_missing_object_and_unreachable_endpoint(
    mlops, s3, mlops_home, closed_port, monkeypatch
):
    s3.create_bucket(Bucket="empty")
    missing = mlops("ingest", "--source", "s3://empty/nothing.csv", "--json")
    assert missing.exit_code == 2
    assert missing.json["error"].startswith("source s3://empty/nothing.csv: no such object at ")

    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    down = mlops("ingest", "--source", "s3://empty/nothing.csv", "--json")
    assert down.exit_code == 5
    assert "cannot be reached" in down.json["error"]
    assert not (mlops_home / "data-registry.git").exists()


DIABETES_SCHEMA = """
name: diabetes
description: Disease progression one year after baseline (scikit-learn's diabetes data).
label: {name: progression, dtype: float, min: 0, max: 1000}
features:
  - {name: age, dtype: int, min: 0, max: 120}
  - {name: sex, dtype: category, categories: ["1", "2"]}
  - {name: bmi, dtype: float, min: 10, max: 70}
  - {name: bp, dtype: float, min: 40, max: 200}
  - {name: s1, dtype: float, min: 0, max: 1000}
  - {name: s2, dtype: float, min: 0, max: 1000}
  - {name: s3, dtype: float, min: 0, max: 1000}
  - {name: s4, dtype: float, min: 0, max: 100}
  - {name: s5, dtype: float, min: 0, max: 100}
  - {name: s6, dtype: float, min: 0, max: 1000}
"""


def test_real_dataset_we_did_not_write(mlops, mlops_home, monkeypatch, tmp_path):
    """scikit-learn ships the diabetes data (442 patients) as two gzipped text files: the
    values are joined into one CSV with a header, and ingested under their own schema."""
    data = resources.files("sklearn.datasets") / "data"
    with resources.as_file(data / "diabetes_data_raw.csv.gz") as raw_path:
        features = pd.read_csv(raw_path, sep=r"\s+", header=None)
    with resources.as_file(data / "diabetes_target.csv.gz") as target_path:
        target = pd.read_csv(target_path, header=None)[0]
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    features.columns = names
    features["progression"] = target
    csv = tmp_path / "diabetes.csv.gz"
    with gzip.open(csv, "wt") as fh:
        features.to_csv(fh, index=False)
    schema_file = tmp_path / "diabetes-models" / "diabetes" / "schema.yaml"
    schema_file.parent.mkdir(parents=True)
    schema_file.write_text(DIABETES_SCHEMA)
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(schema_file.parent.parent))

    result = mlops("ingest", "--source", csv, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["dataset"] == "diabetes"
    assert result.json["rows"]["in"] == 442
    assert result.json["rows"]["quarantined"] == 0
    assert result.json["rows"]["out"] == 442
    again = mlops("ingest", "--source", csv)
    assert "no change: the data is identical to data-v1" in again.stdout

    registry = DataRegistry.from_settings(get_settings())
    files = registry.pull("data-v1", tmp_path / "out")
    train = pd.read_parquet(files["train"])
    assert list(train.columns) == [*names, "progression"]
    assert str(train["age"].dtype) == "int64"
    assert set(train["sex"]) == {"1", "2"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["statistics"]["bmi"]["max"] == pytest.approx(features["bmi"].max())
    # The label's distribution is kept in every split (stratified on its quantiles).
    medians = [pd.read_parquet(files[s])["progression"].median() for s in files]
    assert max(medians) - min(medians) < 0.15 * features["progression"].median()


def test_credentials_in_a_url_are_not_recorded(mlops, mlops_home, schema, http_root):
    root, base = http_root
    generate(schema, 300, seed=3).to_csv(root / "private.csv", index=False)
    url = base.replace("http://", "http://user:secret@") + "/private.csv?token=abc"
    result = mlops("ingest", "--source", url, "--json")
    assert result.exit_code == 0, result.stderr
    assert "secret" not in result.stdout and "abc" not in result.stdout
    manifest = DataRegistry.from_settings(get_settings()).manifest("data-v1")
    assert manifest["source"]["uri"] == f"{base}/private.csv?..."


@pytest.mark.slow
def test_unreachable_s3_dvc_remote_leaves_the_registry_unchanged(
    mlops, s3, seeded_home, registry_state, closed_port, monkeypatch
):
    before = registry_state()
    monkeypatch.setenv("MLOPS_DVC_REMOTE", "s3://nowhere/store")
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    result = mlops("ingest", "--synthetic", "300", "--json")
    assert result.exit_code == 5
    assert result.json["error"].startswith("dvc push with the remote s3://nowhere/store failed")
    assert registry_state() == before


def test_semicolon_csv_with_byte_order_mark(mlops, mlops_home, schema, tmp_path):
    """A spreadsheet export: semicolons, a UTF-8 byte-order mark, decimal points kept."""
    path = tmp_path / "export.csv"
    text = generate(schema, 300, seed=6).to_csv(index=False, sep=";")
    path.write_bytes("\ufeff".encode() + text.encode())
    result = mlops("ingest", "--source", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["rows"]["out"] == 300
