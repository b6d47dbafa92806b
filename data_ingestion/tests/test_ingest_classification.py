"""Classification data: the label's classes are categories (normalised, an unknown class is a
quarantined row), the split is stratified on the class, the manifest counts the classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_ingestion.split import SplitOptions, stratified_split
from mlops_core.errors import DataQualityError
from mlops_core.schema import load_schema
from mlops_core.synthetic import generate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def churn():
    return load_schema(REPO / "models" / "churn" / "schema.yaml")


@pytest.fixture
def churn_home(mlops_home: Path, make_model_folder, monkeypatch) -> Path:
    """A home whose models folder holds churn only (so --model is not needed)."""
    models = mlops_home.parent / "churn-models"
    make_model_folder(models, "churn", source="churn")
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))
    return mlops_home


def test_synthetic_churn_is_split_on_the_class(mlops, churn_home, churn, tmp_path):
    result = mlops("ingest", "--synthetic", "2000", "--seed", "3", "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json
    assert (out["model"], out["task"]) == ("churn", "classification")
    assert out["data_version"] == "data-v1"
    dist = out["class_distribution"]
    assert set(dist) == {"train", "val", "test"}
    total = {c: sum(dist[s][c] for s in dist) for c in churn.classes}
    assert sum(total.values()) == 2000
    share = total["yes"] / 2000
    for split, counts in dist.items():
        n = sum(counts.values())
        assert n == out["rows"][split]
        # Largest remainder per class: each split's count is within a row of its share.
        assert abs(counts["yes"] - share * n) <= 1, (split, counts)

    pulled = mlops("data", "pull", "data-v1", tmp_path / "v1", "--json")
    files = pulled.json["files"]
    train = pd.read_parquet(files["train"])
    assert train["churned"].dtype == object and set(train["churned"]) == {"yes", "no"}
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    assert manifest["task"] == "classification"
    assert manifest["model"] == "churn" and manifest["git_tag"] == "churn/data-v1"
    assert manifest["class_distribution"] == dist
    assert manifest["splits"]["test"]["classes"] == dist["test"]
    assert manifest["split"]["stratify"] == "churned classes"
    assert manifest["statistics"]["churned"]["categories"] == total

    human = mlops("ingest", "--synthetic", "2000", "--seed", "4")
    assert "model churn (classification)" in human.stdout
    assert "classes in train: yes" in human.stdout


def test_class_spellings_are_normalised_and_unknown_classes_quarantined(
    mlops, churn_home, churn, tmp_path
):
    frame = generate(churn, 600, seed=5)
    frame["churned"] = frame["churned"].astype(object)
    frame.loc[0:9, "churned"] = [" Yes", "NO", "yes ", "No", "YES", "no", " no ", "Yes", "nO", "y"]
    frame.loc[20, "churned"] = "maybe"
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    result = mlops("ingest", "--source", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["rows"]["quarantined"] == 2
    assert result.json["invalid_by_column"] == {"churned": 2}
    quarantine = pd.read_csv(result.json["quarantine"])
    assert list(quarantine["_row"]) == [10, 21]
    assert list(quarantine["_reason"]) == [
        "churned: 'y' is not a class of the label (yes, no)",
        "churned: 'maybe' is not a class of the label (yes, no)",
    ]
    dist = result.json["class_distribution"]
    expected = frame.drop(index=[9, 20])["churned"].str.strip().str.lower()
    assert sum(d["yes"] for d in dist.values()) == int((expected == "yes").sum())


def test_numeric_classes_read_as_floats_keep_their_spelling(mlops, mlops_home, tmp_path,
                                                            monkeypatch):  # fmt: skip
    """A label of classes 0/1 with an empty cell is read as floats (1.0): still class "1"."""
    folder = tmp_path / "binary-models" / "binary"
    folder.mkdir(parents=True)
    (folder / "schema.yaml").write_text(
        "name: binary\ntask: classification\n"
        "label: {name: target, dtype: category, categories: ['0', '1']}\n"
        "features:\n  - {name: x, dtype: float}\n"
    )
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(folder.parent))
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    target = (x > 0).astype(float)
    target[5] = np.nan
    path = tmp_path / "binary.csv"
    pd.DataFrame({"x": x, "target": target}).to_csv(path, index=False)
    result = mlops("ingest", "--source", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["rows"]["missing_label"] == 1
    assert result.json["rows"]["quarantined"] == 0
    assert set(result.json["class_distribution"]["train"]) == {"0", "1"}


def test_a_class_too_small_to_stratify_is_named(mlops, churn_home, churn, tmp_path):
    frame = generate(churn, 400, seed=2)
    frame["churned"] = "no"
    frame.loc[[3, 7], "churned"] = "yes"
    path = tmp_path / "few.csv"
    frame.to_csv(path, index=False)
    result = mlops("ingest", "--source", path, "--json")
    assert result.exit_code == 4
    error = result.json["error"]
    assert error.startswith(f"source {path}: label 'churned': too few rows of class 'yes' 2 rows")
    assert "each class needs at least 3" in error
    assert result.json["classes"] == {"yes": 2, "no": 398}
    assert mlops("data", "list", "--json").json["versions"] == []


def test_stratified_class_split_is_seeded_and_keeps_every_class(churn):
    frame = generate(churn, 5000, seed=9)
    options = SplitOptions(val_fraction=0.15, test_fraction=0.15, seed=11)
    parts = stratified_split(frame, "churned", options, classes=churn.classes)
    again = stratified_split(frame, "churned", options, classes=churn.classes)
    assert all(parts[k].equals(again[k]) for k in parts)
    other = stratified_split(frame, "churned", SplitOptions(seed=12), classes=churn.classes)
    assert not parts["test"].equals(other["test"])
    assert sum(len(p) for p in parts.values()) == 5000
    share = (frame["churned"] == "yes").mean()
    for name, part in parts.items():
        assert abs((part["churned"] == "yes").sum() - share * len(part)) <= 1, name


def test_a_tiny_class_gets_a_row_in_every_split():
    frame = pd.DataFrame({"y": ["a"] * 97 + ["b"] * 3, "i": range(100)})
    parts = stratified_split(frame, "y", SplitOptions(0.1, 0.1, seed=1), classes=["a", "b"])
    assert all((p["y"] == "b").sum() == 1 for p in parts.values())
    assert sorted(np.concatenate([p["i"] for p in parts.values()])) == list(range(100))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["a"] * 50 + ["b"] * 2, r"too few rows of class 'b' 2 rows"),
        (["a"] * 50, r"too few rows of class 'b' 0 rows"),
        (["a"] * 50 + ["b"] * 1 + ["c"] * 2, r"classes 'b' 1 row, 'c' 2 rows"),
    ],
)
def test_small_classes_are_refused(values, message):
    frame = pd.DataFrame({"y": values})
    classes = sorted(set(values) | {"b"})
    with pytest.raises(DataQualityError, match=message):
        stratified_split(frame, "y", SplitOptions(), classes=classes)
