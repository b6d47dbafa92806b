"""Benchmark of the ingestion stage: end-to-end rows/s and peak memory.

For 10 thousand and 1 million synthetic rows (1% missing cells, 1% duplicate rows, 1% invalid
rows, so every cleaning path runs), each in a fresh process:

  generate -> clean + validate (pandera) + impute -> split -> version (Parquet, dvc add,
  dvc push, git commit/tag/push into a temporary registry)

Baselines measured in the same run, on the same rows:
  - naive:  a per-row Python validation loop (types, ranges, categories), the way a
            hand-written validator often starts; ingestion's vectorised validation must
            beat it;
  - pandas: plain pandas Parquet write + read of the same frame (a floor: no cleaning, no
            validation, no versioning).

Target (issue 2): 1 million rows in under 60 s on 2 cores with under 2 GB peak memory.

Run: uv run python bench/ingest.py [--sizes 10000,1000000]
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

RESULTS = Path(__file__).parent / "results"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_ingest(rows: int) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from data_ingestion.pipeline import IngestOptions, SplitOptions, ingest_frame
    from mlops_core.registry import DataRegistry
    from mlops_core.schema import load_schema
    from mlops_core.synthetic import Drift, generate

    schema = load_schema()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        registry = DataRegistry(
            str(home / "registry.git"), str(home / "dvc-remote"), work_dir=home / "tmp"
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
        assert result["created"] and result["data_version"] == "data-v1", result
    return {
        "rows": rows,
        "rows_in": len(frame),
        "seconds": total,
        "steps": timings,
        "peak_mb": _peak_mb(),
        "rows_out": result["rows"]["out"],
    }


def child_baselines(rows: int) -> dict:
    import numpy as np
    import pandas as pd

    from mlops_core.schema import load_schema
    from mlops_core.synthetic import Drift, generate

    schema = load_schema()
    drift = Drift(missing_rate=0.01, duplicate_rate=0.01, invalid_rate=0.01)
    frame = generate(schema, rows, seed=1, drift=drift)

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
    return {"rows": rows, "naive_validation": naive, "naive_invalid": invalid, "pandas_io": plain}


def run_cli(rows: int) -> dict:
    """`mlops ingest --synthetic N` as a user runs it (interpreter start and imports count)."""
    exe = Path(sys.executable).parent / "mlops"
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MLOPS_HOME": home, "MLOPS_LOG_FORMAT": "json"}
        argv = [str(exe), "ingest", "--synthetic", str(rows), "--seed", "1"]
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
        result = json.loads(out.decode().strip().splitlines()[-1])
        assert result["data_version"] == "data-v1", result
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
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
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
        print(
            f"           baseline naive per-row validation {base['naive_validation']:.2f} s; "
            f"ours (normalise + dedupe + validate + impute) {validate:.2f} s: "
            f"speed ratio ours/naive {base['naive_validation'] / validate:.1f}x"
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
