"""Benchmark of the ingestion stage: end-to-end rows/s and peak memory.

For 10 thousand and 300 thousand synthetic rows by default (1% missing cells, 1% duplicate
rows, 1% invalid rows, so every cleaning path runs), each in a fresh process:

  generate -> clean + validate (pandera) + impute -> split -> version (Parquet, dvc add,
  dvc push, git commit/tag/push into a temporary registry)

Baselines measured in the same run, on the same rows:
  - pandas: the same cleaning and validation written in plain vectorised pandas, the way a
            competent user would (category spelling with .str methods, drop_duplicates,
            dropna on the label, pd.to_numeric(errors="coerce"), range and category masks,
            a reason per invalid row, median/mode fillna, casts) and sklearn's
            train_test_split, stratified on label quantile bins. It keeps the same rows
            (checked below). This is the baseline the ratios are against;
  - naive:  a per-row Python validation loop (types, ranges, categories), the way a
            hand-written validator often starts (a floor of how slow it can get);
  - io:     plain pandas Parquet write + read of the same frame (no cleaning, no
            validation, no versioning: what the versioning step costs on top).

Target (issue 2): 1 million rows in under 60 s on 2 cores with under 2 GB peak memory
(`--sizes 10000,1000000`; the default sizes keep one run near a minute on a busy machine).

Run: uv run python bench/ingest.py [--sizes 10000,300000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlops_core.contracts import read_result
from mlops_core.contracts.ingest import IngestResult

RESULTS = Path(__file__).parent / "results"
HOUSE_PRICE = Path(__file__).resolve().parents[1] / "models" / "house-price" / "schema.yaml"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_ingest(rows: int) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from data_ingestion.pipeline import IngestOptions, ingest_frame
    from data_ingestion.split import SplitOptions
    from mlops_core.registry import DataRegistry
    from mlops_core.schema import load_schema
    from mlops_core.synthetic import Drift, generate

    schema = load_schema(HOUSE_PRICE)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        registry = DataRegistry(
            str(home / "registry.git"),
            str(home / "dvc-remote"),
            model=schema.name,
            work_dir=home / "tmp",
        )
        # Imports before the clock starts: the steps time the work, and the CLI run below
        # gives the figure with process start and imports included.
        import pandera.pandas  # noqa: F401
        from dvc.repo import Repo  # noqa: F401

        start = time.perf_counter()
        drift = Drift(missing_rate=0.01, duplicate_rate=0.01, invalid_rate=0.01)
        frame = generate(schema, rows, seed=1, drift=drift)
        timings["generate"] = time.perf_counter() - start
        marks = {"t": time.perf_counter(), "name": None}

        def step(name: str) -> None:
            now = time.perf_counter()
            if marks["name"]:
                timings[marks["name"]] = now - marks["t"]
            marks.update(t=now, name=name)

        options = IngestOptions(
            split=SplitOptions(), max_invalid_fraction=0.05, quarantine_dir=home / "q"
        )
        result = ingest_frame(
            frame,
            schema,
            {"uri": f"synthetic:{rows}", "kind": "synthetic"},
            registry,
            options,
            work_dir=home / "tmp",
            step=step,
        )
        step("end")
        total = time.perf_counter() - start
        assert result.created and result.data_version == "data-v1", result
    return {
        "rows": rows,
        "rows_in": len(frame),
        "seconds": total,
        "steps": timings,
        "peak_mb": _peak_mb(),
        "rows_out": result.rows.out,
        "quarantined": result.rows.quarantined,
    }


def pandas_clean(frame, schema):
    """The ingestion's cleaning and validation in plain vectorised pandas: the same rows in,
    the same rows kept, a reason per quarantined row, the same imputation and dtypes."""
    import numpy as np
    import pandas as pd

    label = schema.label.name
    df = frame[[c.name for c in schema.columns]].copy()
    for name in schema.categorical_features:
        spelled = df[name].astype("string").str.strip().str.lower()
        df[name] = spelled.str.replace(r"\s+", " ", regex=True).replace("", pd.NA)
    df = df.drop_duplicates()
    df = df.dropna(subset=[label])
    invalid = pd.Series(False, index=df.index)
    reasons = pd.Series("", index=df.index, dtype="string")

    def flag(bad: pd.Series, name: str, values: pd.Series, why: str) -> None:
        nonlocal invalid
        if bad.any():
            shown = values[bad].astype(str)
            reasons[bad] = reasons[bad] + f"{name}: " + shown + f" {why}; "
            invalid |= bad

    for column in schema.columns:
        raw = df[column.name]
        if column.is_numeric:
            number = pd.to_numeric(raw, errors="coerce")
            flag(raw.notna() & number.isna(), column.name, raw, "is not a number")
            if column.dtype == "int":
                flag(number.notna() & (number % 1 != 0), column.name, raw, "is not an integer")
            low = -np.inf if column.min is None else column.min
            high = np.inf if column.max is None else column.max
            out = number.notna() & ~number.between(low, high)
            flag(out, column.name, raw, f"out of range [{low}, {high}]")
            df[column.name] = number
        else:
            allowed = list(column.categories or ())
            bad = raw.notna() & ~raw.isin(allowed)
            flag(bad, column.name, raw, f"not one of {', '.join(allowed)}")
    quarantine = df[invalid].assign(_reason=reasons[invalid])
    df = df[~invalid]
    fill = {}
    for column in schema.features:
        values = df[column.name]
        if column.is_numeric:
            median = values.median()
            fill[column.name] = round(median) if column.dtype == "int" else median
        else:
            fill[column.name] = values.mode().sort_values().iloc[0]
    df = df.fillna(fill)
    dtypes = {name: object for name in schema.categorical_features}
    for column in schema.columns:
        if column.is_numeric:
            dtypes[column.name] = "int64" if column.dtype == "int" else "float64"
    return df.astype(dtypes), quarantine


def pandas_split(df, label: str, seed: int = 42):
    """70/15/15 with sklearn's train_test_split, stratified on 10 label quantile bins."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    strata = pd.qcut(df[label].rank(method="first"), 10, labels=False)
    train, rest = train_test_split(df, test_size=0.3, stratify=strata, random_state=seed)
    val, test = train_test_split(
        rest, test_size=0.5, stratify=strata.loc[rest.index], random_state=seed
    )
    return {"train": train, "val": val, "test": test}


def child_baselines(rows: int) -> dict:
    import numpy as np
    import pandas as pd
    import sklearn.model_selection  # noqa: F401  (imports before the clock starts)

    from mlops_core.schema import load_schema
    from mlops_core.synthetic import Drift, generate

    schema = load_schema(HOUSE_PRICE)
    drift = Drift(missing_rate=0.01, duplicate_rate=0.01, invalid_rate=0.01)
    frame = generate(schema, rows, seed=1, drift=drift)

    start = time.perf_counter()
    cleaned, quarantine = pandas_clean(frame, schema)
    pandas_clean_s = time.perf_counter() - start
    start = time.perf_counter()
    parts = pandas_split(cleaned, schema.label.name)
    pandas_split_s = time.perf_counter() - start

    # Naive: one Python check per cell.
    start = time.perf_counter()
    columns = schema.columns
    invalid = 0
    for row in frame.itertuples(index=False):
        for column, value in zip(columns, row, strict=True):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if column.is_numeric:
                if not isinstance(value, int | float | np.integer | np.floating):
                    invalid += 1
                    break
                if (column.min is not None and value < column.min) or (
                    column.max is not None and value > column.max
                ):
                    invalid += 1
                    break
            elif value not in column.categories:
                invalid += 1
                break
    naive = time.perf_counter() - start

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame.parquet"
        frame.to_parquet(path, index=False)
        pd.read_parquet(path)
    plain = time.perf_counter() - start
    return {
        "rows": rows,
        "pandas_clean": pandas_clean_s,
        "pandas_split": pandas_split_s,
        "pandas_rows_out": len(cleaned),
        "pandas_quarantined": len(quarantine),
        "pandas_splits": {k: len(v) for k, v in parts.items()},
        "naive_validation": naive,
        "naive_invalid": invalid,
        "pandas_io": plain,
    }


def run_cli(rows: int) -> dict:
    """`mlops ingest --synthetic N` as a user runs it (interpreter start and imports count)."""
    exe = Path(sys.executable).parent / "mlops"
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MLOPS_HOME": home, "MLOPS_LOG_FORMAT": "json"}
        argv = [str(exe), "ingest", "--model", "house-price", "--synthetic", str(rows)]
        argv += ["--seed", "1"]
        argv += ["--missing-rate", "0.01", "--duplicate-rate", "0.01", "--invalid-rate", "0.01"]
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*argv, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"mlops ingest --synthetic {rows} failed: {out.decode()}")
        result = read_result(out.decode(), IngestResult)
        assert isinstance(result, IngestResult) and result.data_version == "data-v1", result
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


def run_child(kind: str, rows: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--rows", str(rows)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {kind} {rows} failed:\n{proc.stderr}")
    return read_result(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,300000")
    parser.add_argument("--child", choices=["ingest", "baselines"])
    parser.add_argument("--rows", type=int)
    args = parser.parse_args()
    if args.child:
        fn = child_ingest if args.child == "ingest" else child_baselines
        print(json.dumps(fn(args.rows)))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"ingestion benchmark on {os.cpu_count()} cores (each run in a fresh process)")
    report = []
    for rows in sizes:
        ours = run_child("ingest", rows)
        cli = run_cli(rows)
        base = run_child("baselines", rows)
        validate = ours["steps"].get("clean and validate", float("nan"))
        entry = {**ours, "cli": cli, "baselines": base}
        report.append(entry)
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in ours["steps"].items())
        print(
            f"\n{rows:>9,} rows: {ours['seconds']:.2f} s end to end = "
            f"{rows / ours['seconds']:,.0f} rows/s, peak {ours['peak_mb']:.0f} MB"
        )
        print(f"           steps: {steps}")
        print(
            f"           `mlops ingest --synthetic {rows}` (process start and imports "
            f"included): {cli['seconds']:.2f} s = {rows / cli['seconds']:,.0f} rows/s, "
            f"peak {cli['peak_mb']:.0f} MB"
        )
        split = ours["steps"].get("split", float("nan"))
        pandas_total = base["pandas_clean"] + base["pandas_split"]
        same = (ours["rows_out"], ours["quarantined"]) == (
            base["pandas_rows_out"],
            base["pandas_quarantined"],
        )
        print(
            f"           baseline plain pandas clean + validate + impute "
            f"{base['pandas_clean']:.2f} s, ours {validate:.2f} s: "
            f"ratio pandas/ours {base['pandas_clean'] / validate:.2f}x; "
            f"split (train_test_split) {base['pandas_split']:.2f} s, ours {split:.2f} s: "
            f"{base['pandas_split'] / split:.2f}x; both steps "
            f"{pandas_total / (validate + split):.2f}x "
            f"({'same' if same else 'DIFFERENT'} rows kept: ours {ours['rows_out']:,} and "
            f"{ours['quarantined']:,} quarantined, pandas {base['pandas_rows_out']:,} and "
            f"{base['pandas_quarantined']:,})"
        )
        print(
            f"           baseline naive per-row validation {base['naive_validation']:.2f} s: "
            f"ratio naive/ours {base['naive_validation'] / validate:.1f}x"
        )
        print(
            f"           baseline plain pandas Parquet write+read {base['pandas_io']:.2f} s; "
            f"ours end to end is {ours['seconds'] / base['pandas_io']:.1f}x that"
        )
        if rows >= 1_000_000:
            worst_s = max(ours["seconds"], cli["seconds"])
            worst_mb = max(ours["peak_mb"], cli["peak_mb"])
            ok = worst_s < 60 and worst_mb < 2048
            print(
                f"           target 1M rows < 60 s and < 2048 MB: {'met' if ok else 'MISSED'} "
                f"({worst_s:.1f} s, {worst_mb:.0f} MB)"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
