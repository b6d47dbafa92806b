"""Benchmark of the deployable checks of `mlops promote`.

A small scikit-learn pipeline (the schema's features, one-hot categories, a tree) is saved
as an MLflow model in a temporary folder; then, in the same run:

  - baseline: the scikit-learn pipeline's own predict on one record, in this process;
  - pyfunc:   the same model loaded through mlflow.pyfunc (what serving and the latency
              check call: schema enforcement included), one record;
  - check:    the whole clean-process check (`python -m deployment_prep.check_worker`):
              interpreter + imports, copy of the model files, load, predictions on the
              test rows, 200 timed single-record predictions.

Prints the single-record p50/p99 of both and their ratio, and the check's phases.

Run: uv run python bench/promote.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HOUSE_PRICE_SCHEMA = Path(__file__).resolve().parents[1] / "models" / "house-price" / "schema.yaml"


def timed(fn, record, n: int = 300) -> tuple[float, float]:
    for _ in range(10):
        fn(record)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn(record)
        samples.append((time.perf_counter() - start) * 1000)
    p50, p99 = np.percentile(samples, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeRegressor

    from mlops_core.contracts import read_result
    from mlops_core.contracts.deploy import CheckReport
    from mlops_core.schema import load_schema
    from mlops_core.synthetic import generate

    schema = load_schema(HOUSE_PRICE_SCHEMA)
    frame = generate(schema, 6000, seed=3)
    train, test = frame.iloc[:5000], frame.iloc[5000:].reset_index(drop=True)
    features = schema.feature_names
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("cat", OneHotEncoder(handle_unknown="ignore"), schema.categorical_features)],
                    remainder="passthrough",
                ),
            ),
            ("model", DecisionTreeRegressor(max_depth=8, random_state=0)),
        ]
    ).fit(train[features], train[schema.label.name])
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model_dir = tmp_path / "model"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.sklearn.save_model(
                pipe,
                str(model_dir),
                signature=infer_signature(train[features], pipe.predict(train[features])),
                pip_requirements=["scikit-learn", "pandas", "numpy"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        for split, part in (("train", train), ("test", test)):
            part.to_parquet(tmp_path / f"{split}.parquet")
        record = test[features].iloc[[0]]
        base_p50, base_p99 = timed(pipe.predict, record)
        loaded = mlflow.pyfunc.load_model(str(model_dir))
        py_p50, py_p99 = timed(loaded.predict, record)

        spec = {
            "model_uri": str(model_dir),
            "tracking_uri": (tmp_path / "mlruns").as_uri(),
            "model_dir": str(tmp_path / "download"),
            "train": str(tmp_path / "train.parquet"),
            "test": str(tmp_path / "test.parquet"),
            "schema": schema.as_dict(),
            "check_rows": 1000,
            "range_margin": 0.5,
            "max_out_of_range": 0.01,
            "latency_samples": 200,
            "latency_budget_ms": 200.0,
        }
        (tmp_path / "download").mkdir()
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "deployment_prep.check_worker"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        total = time.perf_counter() - start
        report = read_result(proc.stdout, CheckReport)

    print("single-record predict, one in-process call (ms):")
    print(f"  baseline scikit-learn pipeline  p50 {base_p50:7.2f}  p99 {base_p99:7.2f}")
    print(
        f"  mlflow pyfunc (checked path)     p50 {py_p50:7.2f}  p99 {py_p99:7.2f}"
        f"   ratio p50 {py_p50 / base_p50:4.1f}x, p99 {py_p99 / base_p99:4.1f}x vs baseline"
    )
    checks = ", ".join(f"{c.name} {'ok' if c.ok else 'FAILED'}" for c in report.checks)
    print(f"clean-process check: {total:.1f} s in all ({checks})")
    for phase in ("import", "download", "load", "predict", "latency"):
        seconds = getattr(report, f"{phase}_s")
        if seconds is not None:
            print(f"  {phase:<9} {seconds:6.2f} s  ({seconds / total:5.1%})")
    p99 = report.latency.p99_ms if report.latency else float("nan")
    size = (report.artifact_size_bytes or 0) / 1e3
    print(f"  artifact size {size:.0f} kB; worker p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
