"""`mlops models new` on real tables other people wrote (shipped in the wheels of
palmerpenguins, vega_datasets and scikit-learn), then `mlops ingest` of the draft, unchanged;
and every bad input, each refused with one line and nothing written."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops_core.contracts import ErrorResult, read_result
from mlops_core.contracts.ingest import ModelDraftResult
from mlops_core.modelspec import ModelFolder


def _penguins(name: str) -> Path:
    return Path(str(resources.files("palmerpenguins") / "data" / name))


@pytest.fixture
def models(mlops_home: Path) -> Path:
    """The home's models folder (house-price in it)."""
    return mlops_home.parent / "models"


@pytest.fixture(scope="session")
def cars_csv(tmp_path_factory) -> Path:
    """vega_datasets' cars.json (406 cars, missing mileage and horsepower) as a CSV."""
    source = Path(str(resources.files("vega_datasets") / "_data" / "cars.json"))
    path = tmp_path_factory.mktemp("cars") / "cars.csv"
    pd.read_json(source).to_csv(path, index=False)
    return path


def _new(mlops, *args) -> ModelDraftResult:
    result = mlops("models", "new", *args, "--json")
    assert result.exit_code == 0, result.stderr
    parsed = read_result(result.stdout, ModelDraftResult)
    assert isinstance(parsed, ModelDraftResult)
    return parsed


def _columns(draft: ModelDraftResult) -> dict:
    return {c.name: c for c in draft.columns}


def _leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if p.name.startswith("."))


def test_penguins_classification_inferred_then_ingested(mlops, models):
    draft = _new(mlops, "penguins", "--from-csv", _penguins("penguins.csv"), "--label", "species")
    assert draft.task == "classification"
    assert "holds text values (3 distinct)" in draft.task_reason
    assert sorted(draft.classes) == ["adelie", "chinstrap", "gentoo"]
    cols = _columns(draft)
    assert cols["sex"].dtype == "category" and cols["sex"].categories == ["male", "female"]
    assert cols["sex"].missing == 11
    assert cols["bill_length_mm"].dtype == "float" and cols["bill_length_mm"].missing == 2
    assert cols["flipper_length_mm"].dtype == "int"  # whole numbers read as floats (NaN)
    low, high = cols["body_mass_g"].observed_min, cols["body_mass_g"].observed_max
    assert (low, high) == (2700, 6300)
    assert cols["body_mass_g"].min < low and cols["body_mass_g"].max > high
    assert any("'sex': 11 of 344 rows have no value" in line for line in draft.review)
    folder = ModelFolder("penguins", Path(draft.path))
    assert folder.path == models / "penguins"
    assert sorted(p.name for p in folder.path.iterdir()) == draft.files
    assert folder.schema.is_classification and folder.task == "classification"
    assert yaml.safe_load(folder.train_path.read_text())["primary_metric"] == "f1_macro"
    assert yaml.safe_load(folder.monitor_path.read_text())["min_rows"] >= 1
    assert _leftovers(models) == []

    ingested = mlops("ingest", "--model", "penguins", "--source", _penguins("penguins.csv"),
                     "--json")  # fmt: skip
    assert ingested.exit_code == 0, ingested.stderr
    out = ingested.json
    assert (out["model"], out["data_version"]) == ("penguins", "data-v1")
    assert out["rows"]["in"] == 344 and out["rows"]["quarantined"] == 0
    assert out["rows"]["out"] == 344
    assert {s: sum(c.values()) for s, c in out["class_distribution"].items()} == {
        s: out["rows"][s] for s in ("train", "val", "test")
    }


def test_penguins_raw_spellings_collapse_and_ids_are_left_out(mlops, models, tmp_path):
    """penguins-raw.csv: "MALE"/"FEMALE", long species names, ids, dates, constants, a mostly
    empty comment column - plus, written here, a few worse spellings of the same values and
    "." where the sex is unknown."""
    raw = pd.read_csv(_penguins("penguins-raw.csv"))
    raw.loc[[0, 1], "Sex"] = [" male", "Female "]
    raw.loc[[2, 3, 4], "Sex"] = "."
    messy = tmp_path / "penguins-messy.csv"
    raw.to_csv(messy, index=False)

    draft = _new(mlops, "penguins-raw", "--from-csv", messy, "--label", "Species")
    cols = _columns(draft)
    assert cols["Sex"].categories == ["male", "female"]
    assert cols["Clutch Completion"].categories == ["yes", "no"]
    assert draft.classes[0] == "adelie penguin (pygoscelis adeliae)"
    dropped = {d.name: d.reason for d in draft.dropped}
    assert set(dropped) == {
        "Sample Number", "Region", "Stage", "Individual ID", "Date Egg", "Comments",
    }  # fmt: skip
    assert dropped["Region"].startswith("constant")
    assert dropped["Individual ID"].startswith("an identifier")
    assert dropped["Date Egg"].startswith("dates")
    assert dropped["Comments"].startswith("mostly empty")
    review = "\n".join(draft.review)
    # (" male" is read as "male": the CSV reader skips the spaces after a delimiter.)
    assert "'Sex': spellings collapsed: 'MALE', 'male' -> 'male'; 'FEMALE', 'Female ' -> " in review
    assert "'.' (3 rows)" in review and "quarantines those rows" in review
    assert "left out: Sample Number" in review

    human = mlops("models", "new", "penguins-two", "--from-csv", messy, "--label", "Species")
    assert human.exit_code == 0, human.stderr
    assert "task: classification" in human.stdout and "review before use:" in human.stdout

    ingested = mlops("ingest", "-m", "penguins-raw", "--source", messy, "--json")
    assert ingested.exit_code == 0, ingested.stderr
    assert ingested.json["rows"]["quarantined"] == 3
    quarantine = pd.read_csv(ingested.json["quarantine"])
    assert list(quarantine["_row"]) == [3, 4, 5]
    assert quarantine["_reason"].iloc[0] == "Sex: '.' not one of male, female"


def test_cars_regression_with_missing_values(mlops, models, cars_csv):
    draft = _new(mlops, "cars", "--from-csv", cars_csv, "--label", "Miles_per_Gallon")
    assert draft.task == "regression"
    assert "holds numbers (129 distinct values)" in draft.task_reason
    assert draft.classes is None
    cols = _columns(draft)
    assert cols["Origin"].categories == ["usa", "japan", "europe"]
    assert cols["Cylinders"].dtype == "int"
    assert cols["Horsepower"].missing == 6
    assert {d.name for d in draft.dropped} == {"Name", "Year"}
    assert any("label 'Miles_per_Gallon': 8 of 406 rows have no value" in r for r in draft.review)
    ingested = mlops("ingest", "-m", "cars", "--source", cars_csv, "--json")
    assert ingested.exit_code == 0, ingested.stderr
    rows = ingested.json["rows"]
    assert (rows["in"], rows["missing_label"], rows["quarantined"]) == (406, 8, 0)


@pytest.mark.parametrize(
    ("loader", "classes", "metric"),
    [("load_breast_cancer", ["0", "1"], "roc_auc"), ("load_wine", ["0", "1", "2"], "f1_macro")],
)
def test_scikit_learn_tables_with_integer_classes(mlops, models, tmp_path, loader, classes,
                                                  metric):  # fmt: skip
    """scikit-learn's shipped CSVs (data/breast_cancer.csv, data/wine_data.csv) with the
    column names its loader gives them."""
    import sklearn.datasets

    frame = getattr(sklearn.datasets, loader)(as_frame=True).frame
    path = tmp_path / f"{loader}.csv"
    frame.to_csv(path, index=False)
    name = loader.removeprefix("load_").replace("_", "-")
    draft = _new(mlops, name, "--from-csv", path, "--label", "target")
    assert draft.task == "classification"
    assert "few distinct whole numbers" in draft.task_reason
    assert draft.classes == classes
    assert len(draft.columns) == frame.shape[1]
    train = yaml.safe_load((Path(draft.path) / "train.yaml").read_text())
    assert train["primary_metric"] == metric
    ingested = mlops("ingest", "-m", name, "--source", path, "--json")
    assert ingested.exit_code == 0, ingested.stderr
    assert ingested.json["rows"]["out"] == len(frame)
    assert set(ingested.json["class_distribution"]["test"]) == set(classes)


def test_the_task_can_be_given(mlops, models, cars_csv):
    draft = _new(mlops, "cylinders", "--from-csv", cars_csv, "--label", "Cylinders",
                 "--task", "regression")  # fmt: skip
    assert (draft.task, draft.task_reason) == ("regression", "--task regression")
    inferred = _new(mlops, "cylinders-c", "--from-csv", cars_csv, "--label", "Cylinders")
    assert inferred.task == "classification"
    assert inferred.classes == ["3", "4", "5", "6", "8"]


def _refused(mlops, models: Path, *args) -> str:
    before = sorted(p.name for p in models.iterdir())
    result = mlops("models", "new", *args, "--json")
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    error = ErrorResult.model_validate(read_result(result.stdout))
    assert "\n" not in error.error
    assert sorted(p.name for p in models.iterdir()) == before  # nothing half-written
    return error.error


def test_bad_inputs_are_refused_with_one_line(mlops, models, cars_csv, tmp_path):
    penguins = _penguins("penguins.csv")
    error = _refused(mlops, models, "house-price", "--from-csv", penguins, "--label", "species")
    assert error.startswith(f"model folder {models / 'house-price'} exists already")
    error = _refused(mlops, models, "penguins", "--from-csv", penguins, "--label", "Species")
    assert error.startswith("label column 'Species' is not in")
    assert "did you mean 'species'?" in error
    error = _refused(mlops, models, "Penguins_1", "--from-csv", penguins, "--label", "species")
    assert error.startswith("model name 'Penguins_1'")
    error = _refused(mlops, models, "p", "--from-csv", tmp_path / "nope.csv", "--label", "x")
    assert error == f"source {tmp_path / 'nope.csv'}: no such file"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert _refused(mlops, models, "p", "--from-csv", empty, "--label", "x").endswith("is empty")
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)
    error = _refused(mlops, models, "p", "--from-csv", binary, "--label", "x")
    assert error.endswith("not a table (binary content)")
    prose = tmp_path / "notes.csv"
    prose.write_text("These are my notes\nabout the penguins\nnot a table at all\n")
    error = _refused(mlops, models, "p", "--from-csv", prose, "--label", "These are my notes")
    assert "not a table of features and a label (one column read" in error
    header = tmp_path / "header.csv"
    header.write_text("a,b,label\n")
    assert "the table has no rows" in _refused(mlops, models, "p", "--from-csv", header,
                                               "--label", "label")  # fmt: skip
    error = _refused(mlops, models, "p", "--from-csv", penguins, "--label", "species",
                     "--task", "regression")  # fmt: skip
    assert error.startswith("label column 'species' holds text ('Adelie', 'Gentoo', ")
    assert "use --task classification" in error
    error = _refused(mlops, models, "p", "--from-csv", cars_csv, "--label",
                     "Miles_per_Gallon", "--task", "classification")  # fmt: skip
    assert "too many classes" in error
    error = _refused(mlops, models, "p", "--from-csv", penguins, "--label", "species",
                     "--task", "ranking")  # fmt: skip
    assert error == "--task: 'ranking' is not regression or classification"
    constant = tmp_path / "constant.csv"
    constant.write_text("x,y\n" + "".join(f"{i},yes\n" for i in range(30)))
    error = _refused(mlops, models, "p", "--from-csv", constant, "--label", "y")
    assert error == "label column 'y': one class only (yes); a classifier needs two or more"
    only_ids = tmp_path / "ids.csv"
    only_ids.write_text("id,y\n" + "".join(f"{i},{i * 1.5}\n" for i in range(30)))
    error = _refused(mlops, models, "p", "--from-csv", only_ids, "--label", "y")
    assert error.startswith(f"source {only_ids}: no column is usable as a feature (id: ")
    usage = mlops("models", "new", "p", "--label", "x")
    assert usage.exit_code == 2 and "--from-csv" in usage.stderr


def test_a_failure_while_writing_leaves_no_folder(mlops, models, monkeypatch):
    """The last step, the rename into place, is refused. Simulated: the tests run as root
    here, which a read-only directory does not stop."""
    import data_ingestion.draft_cli as draft_cli

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(draft_cli.os, "rename", refuse)
    error = _refused(mlops, models, "penguins", "--from-csv", _penguins("penguins.csv"),
                     "--label", "species")  # fmt: skip
    assert error == f"model folder {models / 'penguins'} cannot be created: Permission denied"
    assert _leftovers(models) == []


TEMPLATES = Path(__file__).resolve().parents[2] / "mlops_core/src/mlops_core/templates"


@pytest.mark.parametrize(("label", "expected"), [("species", "f1_macro"), ("sex", "roc_auc")])
def test_templates_are_copied_with_the_primary_metric_set(mlops, models, label, expected):
    """train.yaml is the task's template with the line marked `# primary metric` set for two
    classes (roc_auc) or more (f1_macro); monitor.yaml is the template as it is."""
    draft = _new(mlops, "penguins", "--from-csv", _penguins("penguins.csv"), "--label", label)
    assert draft.templates == {
        "train.yaml": "mlops_core/templates/train-classification.yaml",
        "monitor.yaml": "mlops_core/templates/monitor.yaml",
    }
    template = (TEMPLATES / "train-classification.yaml").read_text().splitlines()
    train = (Path(draft.path) / "train.yaml").read_text().splitlines()
    changed = [(t, d) for t, d in zip(template, train, strict=True) if t != d]
    if expected == "roc_auc":  # the template's own choice
        assert changed == []
    else:
        [(_, line)] = changed
        assert line == f"primary_metric: {expected}  # primary metric"
    assert (Path(draft.path) / "monitor.yaml").read_text() == (
        TEMPLATES / "monitor.yaml"
    ).read_text()


def test_a_label_that_is_not_positive_is_not_log_transformed(mlops, models, tmp_path):
    path = tmp_path / "signed.csv"
    x = [(7 * i) % 40 * 0.25 for i in range(40)]
    pd.DataFrame({"x": x, "y": [v * 0.5 - 3 for v in x]}).to_csv(path, index=False)
    draft = _new(mlops, "signed", "--from-csv", path, "--label", "y")
    assert draft.task == "regression"
    train = yaml.safe_load((Path(draft.path) / "train.yaml").read_text())
    assert train["target_transform"] == "none"
    searched = [c["search"]["target_transform"] for c in train["candidates"]
                if "target_transform" in c.get("search", {})]  # fmt: skip
    assert searched and all(s == ["none"] for s in searched)
    positive = tmp_path / "positive.csv"
    pd.DataFrame({"x": x, "y": [v + 1 for v in x]}).to_csv(positive, index=False)
    kept = _new(mlops, "positive", "--from-csv", positive, "--label", "y")
    assert (Path(kept.path) / "train.yaml").read_text() == (
        TEMPLATES / "train-regression.yaml"
    ).read_text()
