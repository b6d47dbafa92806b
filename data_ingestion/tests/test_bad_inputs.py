"""Every bad input named in the issue: the exit code, a message naming the file/column/row,
and a registry left exactly as it was (it holds data-v1 before each run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlops_core.synthetic import generate


@pytest.fixture
def good(schema):
    return generate(schema, 400, seed=11)


@pytest.fixture
def run(mlops, registry_state, home_files, mlops_home):
    """run(*args) -> the failed `mlops ingest ARGS --json`, having checked that it left the
    registry as it was and no file behind but the quarantine file its error names."""

    def failed(*args):
        before, files = registry_state(), home_files()
        result = mlops("ingest", *args, "--json")
        assert result.json["ok"] is False, result.stdout
        assert registry_state() == before, "the failed run changed the registry"
        named = result.json.get("quarantine")
        added = home_files() - files
        expected = {str(Path(named).relative_to(mlops_home))} if named else set()
        assert added == expected, f"the failed run left files behind: {sorted(added)}"
        return result

    return failed


def test_missing_column(run, seeded_home, schema, good, tmp_path):
    dropped = schema.numeric_features[1]
    path = tmp_path / "houses.csv"
    good.drop(columns=[dropped]).to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    assert result.json["error"] == (
        f"source {path}: missing column {dropped} (schema {schema.name!r})"
    )
    assert result.json["missing_columns"] == [dropped]


def test_wrong_type(run, seeded_home, schema, good, tmp_path):
    column = schema.numeric_features[0]
    bad = good.astype({column: object})
    bad.loc[bad.index[:40], column] = "large"  # 10% of the rows
    path = tmp_path / "typed.csv"
    bad.to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    error = result.json["error"]
    assert f"source {path}: 40 of 400 rows (10.0%) are invalid" in error
    assert f"first: row 1: {column}: 'large' is not a number (" in error
    assert result.json["invalid_by_column"] == {column: 40}


def test_fractional_value_in_an_int_column(run, seeded_home, schema, tmp_path):
    column = next(c.name for c in schema.features if c.dtype == "int")
    frame = generate(schema, 400, seed=2).astype({column: "float64"})
    frame.loc[frame.index[:30], column] = 2.5
    path = tmp_path / "fractional.csv"
    frame.to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    assert f"{column}: 2.5 is not an integer" in result.json["error"]


def test_unknown_category(run, seeded_home, schema, good, tmp_path):
    column = schema.categorical_features[0]
    good.loc[good.index[100:150], column] = "martian"
    path = tmp_path / "categories.csv"
    good.to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    allowed = ", ".join(schema.column(column).categories)
    assert f"first: row 101: {column}: 'martian' not one of {allowed}" in result.json["error"]
    quarantine = Path(result.json["quarantine"])
    text = quarantine.read_text()
    assert text.startswith("_row,_reason,")
    assert text.count("martian") == 100  # the reason and the value, 50 rows


def test_out_of_range(run, seeded_home, schema, good, tmp_path):
    column = schema.column(schema.numeric_features[0])
    good.loc[good.index[:30], column.name] = column.max * 2
    path = tmp_path / "range.parquet"
    good.to_parquet(path)
    result = run("--source", path)
    assert result.exit_code == 4
    assert f"{column.name}: {column.max * 2!r} out of range [" in result.json["error"]
    assert result.json["invalid_fraction"] == pytest.approx(30 / 400)


def test_label_out_of_range_is_quarantined(run, seeded_home, schema, good, tmp_path):
    label = schema.label
    good.loc[good.index[:100], label.name] = -5.0
    path = tmp_path / "labels.csv"
    good.to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    assert result.json["invalid_by_column"] == {label.name: 100}


def test_empty_file(run, seeded_home, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    result = run("--source", path)
    assert result.exit_code == 2
    assert result.json["error"] == f"source {path}: the file is empty"


def test_header_only(run, seeded_home, schema, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(",".join(c.name for c in schema.columns) + "\n")
    result = run("--source", path)
    assert result.exit_code == 2
    assert result.json["error"] == f"source {path}: the table has no rows"


def test_binary_file(run, seeded_home, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    result = run("--source", path)
    assert result.exit_code == 2
    assert result.json["error"] == f"source {path}: not a table (binary content)"
    assert "\n" not in result.json["error"]


def test_text_that_is_not_a_table(run, seeded_home, schema, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Dear reader,\nthis is a letter, not a table.\n")
    result = run("--source", path)
    assert result.exit_code == 2
    assert result.json["error"].startswith(
        f"source {path}: not a table of schema {schema.name!r} (none of its columns found"
    )


def test_broken_parquet(run, seeded_home, tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 100)
    result = run("--source", path)
    assert result.exit_code == 2
    assert result.json["error"].startswith(f"source {path}: cannot be read as PARQUET (")
    assert "\n" not in result.json["error"]


def test_missing_file(run, seeded_home, tmp_path):
    result = run("--source", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert result.json["error"] == f"source {tmp_path / 'nope.csv'}: no such file"


def test_unreachable_url(run, seeded_home, closed_port):
    url = f"http://127.0.0.1:{closed_port}/houses.csv"
    result = run("--source", url)
    assert result.exit_code == 5
    assert result.json["error"].startswith(f"source {url}: cannot be reached (")


def test_url_not_found(run, seeded_home, http_root):
    _, base = http_root
    result = run("--source", f"{base}/missing.csv")
    assert result.exit_code == 2
    assert result.json["error"] == f"source {base}/missing.csv: HTTP 404 (File not found)"


def test_too_many_invalid_rows(run, seeded_home):
    result = run("--synthetic", "2000", "--invalid-rate", "0.2")
    assert result.exit_code == 4
    error = result.json["error"]
    assert "rows (" in error and "are invalid, above the 5.0% threshold; by column:" in error
    assert result.json["invalid_fraction"] > 0.05
    quarantine = Path(result.json["quarantine"])
    assert quarantine.parent == seeded_home / "quarantine"
    lines = quarantine.read_text().splitlines()
    assert len(lines) - 1 == result.json["rows"]["quarantined"]


def test_threshold_is_configurable(run, seeded_home, monkeypatch):
    monkeypatch.setenv("MLOPS_INGEST_MAX_INVALID_FRACTION", "0.001")
    result = run("--synthetic", "1000", "--invalid-rate", "0.01")
    assert result.exit_code == 4
    assert "above the 0.1% threshold" in result.json["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--synthetic", "10"], "--synthetic must be between 100 and 10,000,000, got 10"),
        (["--synthetic", "500", "--source", "x.csv"], "give exactly one of"),
        ([], "give exactly one of"),
        (["--synthetic", "500", "--shift", "nosuchcolumn=2"], "'nosuchcolumn' is not a column"),
        (["--synthetic", "500", "--missing-rate", "1.5"], "missing rate must be in [0, 1)"),
        (["--synthetic", "500", "--val-fraction", "0.6", "--test-fraction", "0.5"], "leave no"),
        (["--source", "ftp://host/file.csv"], "unsupported scheme 'ftp'"),
        (["--source", "x.csv", "--invalid-rate", "0.1"], "drift options"),
    ],
)
def test_usage_errors(run, seeded_home, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.json["error"]


def test_duplicated_column_in_a_csv_header(run, seeded_home, schema, good, tmp_path):
    column = schema.numeric_features[0]
    path = tmp_path / "twice.csv"
    good.assign(**{f"{column}_copy": good[column]}).to_csv(path, index=False)
    path.write_text(path.read_text().replace(f"{column}_copy", column, 1))
    result = run("--source", path)
    assert result.exit_code == 2
    assert result.json["error"] == (
        f"source {path}: duplicated column names {column} (read as {column}, {column}.1)"
    )


def test_label_missing_in_every_row(run, seeded_home, schema, good, tmp_path):
    label = schema.label.name
    good[label] = np.nan
    path = tmp_path / "unlabelled.csv"
    good.to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    assert result.json["error"] == (
        f"source {path}: no row left to validate: the label column {label!r} is empty "
        "in all 400 rows"
    )


def test_a_whole_column_of_text_in_a_numeric_column(run, seeded_home, schema, good, tmp_path):
    column = schema.numeric_features[0]
    good[column] = "big"
    path = tmp_path / "text.parquet"
    good.to_parquet(path)
    result = run("--source", path)
    assert result.exit_code == 4
    error = result.json["error"]
    assert error.startswith(f"source {path}: 400 of 400 rows (100.0%) are invalid")
    assert f"by column: {column} 400; first: row 1: {column}: 'big' is not a number (" in error


def test_booleans_in_an_int_column_are_not_numbers(run, seeded_home, schema, good, tmp_path):
    column = next(c.name for c in schema.features if c.dtype == "int")
    good[column] = good.index % 2 == 0
    path = tmp_path / "booleans.parquet"
    good.to_parquet(path)
    result = run("--source", path)
    assert result.exit_code == 4
    assert f"first: row 1: {column}: True is not a number (int)" in result.json["error"]
    assert result.json["invalid_by_column"] == {column: 400}


def test_a_feature_empty_in_every_row(run, seeded_home, schema, good, tmp_path):
    column = schema.categorical_features[0]
    good[column] = None
    path = tmp_path / "empty-column.csv"
    good.to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    assert result.json["error"] == (
        f"source {path}: column {column!r} has no valid value to impute missing ones from "
        "(empty in all 400 valid rows)"
    )
    assert result.json["column"] == column


def test_too_few_rows_to_split_names_the_file(run, seeded_home, good, tmp_path):
    path = tmp_path / "two.csv"
    good.head(2).to_csv(path, index=False)
    result = run("--source", path)
    assert result.exit_code == 4
    assert result.json["error"] == (
        f"source {path}: 2 valid rows are too few to split into train, val and test"
    )


def test_a_failure_after_quarantine_removes_the_quarantine_file(
    run, seeded_home, monkeypatch, tmp_path
):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLOPS_DVC_REMOTE", str(blocker / "remote"))
    result = run("--synthetic", "500", "--invalid-rate", "0.02")
    assert "dvc push" in result.json["error"]
    assert "quarantine" not in result.json
    assert not list((seeded_home / "quarantine").glob("*.csv"))
