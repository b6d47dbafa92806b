"""Benchmark of `mlops train`'s core: model selection + refit on synthetic data.

Regression (`--task regression`, the default): for each size (10 and 100 thousand rows
by default: about a minute on a busy 2-core machine), in a fresh subprocess, on the same
rows and the same split:
- the selected model: house-price's training config (every candidate scored on the
  validation split - on a sample when large - then the best refitted on the whole
  training split), timed end to end, selection included;
- the baseline, measured in the same run: Ridge (alpha=1) behind the same schema-built
  preprocessing, fitted on the whole training split with each target transform the
  config uses (log: the TransformedTargetRegressor with log/exp the candidates get; none),
  the better one on the validation split kept - the option a candidate gets.
Prints wall and CPU time, test RMSE and R2 of both, their ratios, and the peak memory
(max RSS) of the subprocess. Fitting uses one thread (config `threads: 1`), so on a busy
machine CPU time is the closer estimate of the wall time on an idle one.
Targets: 1M rows trained in < 120 s on 2 cores; selected R2 >= Ridge R2.

Classification (`--task classification`, 1 million rows by default): a seeded synthetic
churn-like table (numeric and category features, a binary label "yes"/"no" with about a
quarter "yes", a non-linear term only trees capture), trained with the classification
template (mlops_core/templates/train-classification.yaml: selection on the validation
split at this size, baselines, bootstrap), then judged by its quality gate (no champion:
the thresholds). The baseline, measured in the same run: a plain scikit-learn fit of the
same estimator class with the same parameters, once, on the whole training split, behind
the same preprocessing (scikit-learn's docs: scale for linear models; trees take it as
is) - what a user who already knew the winner would run. Prints the train time (wall,
CPU), the gate's decision, the test metrics of both and their ratios.

    uv run python bench/train.py                   # 10k and 100k rows
    uv run python bench/train.py --rows 1000000    # one size (the 120 s target)
    uv run python bench/train.py --task classification             # 1M rows
    uv run python bench/train.py --task classification --rows 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "models"
TEMPLATES = Path(__file__).resolve().parents[1] / "mlops_core/src/mlops_core/templates"


def churn_like(rows: int, seed: int):
    """(schema, frame): a seeded synthetic binary classification table."""
    import numpy as np
    import pandas as pd

    from mlops_core.schema import DatasetSchema

    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, rows).round(0)
    monthly = rng.normal(70, 25, rows).clip(10, 200).round(2)
    calls = rng.poisson(1.5, rows)
    age = rng.integers(18, 90, rows)
    contract = rng.choice(["monthly", "one-year", "two-year"], rows, p=[0.55, 0.25, 0.2])
    payment = rng.choice(["card", "bank", "check"], rows, p=[0.4, 0.35, 0.25])
    region = rng.choice(["north", "south", "east", "west"], rows)
    effect = {"monthly": 0.9, "one-year": -0.3, "two-year": -1.2}
    logit = (
        -1.6
        - 0.04 * tenure
        + 0.015 * (monthly - 70)
        + 0.35 * calls
        + np.vectorize(effect.get)(contract)
        + 0.3 * (payment == "check")
        - 0.004 * (age - 50)
        # New customers on expensive plans leave: an interaction a linear model misses.
        + 1.2 * ((monthly > 100) & (tenure < 6))
    )
    churned = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(
        {
            "tenure": tenure,
            "monthly_charges": monthly,
            "support_calls": calls,
            "age": age,
            "contract": contract,
            "payment": payment,
            "region": region,
            "churned": churned,
        }
    )
    schema = DatasetSchema.model_validate(
        {
            "name": "churn-bench",
            "task": "classification",
            "label": {"name": "churned", "dtype": "category", "categories": ["yes", "no"]},
            "features": [
                {"name": "tenure", "dtype": "float"},
                {"name": "monthly_charges", "dtype": "float"},
                {"name": "support_calls", "dtype": "int"},
                {"name": "age", "dtype": "int"},
                {
                    "name": "contract",
                    "dtype": "category",
                    "categories": ["monthly", "one-year", "two-year"],
                },
                {"name": "payment", "dtype": "category", "categories": ["card", "bank", "check"]},
                {
                    "name": "region",
                    "dtype": "category",
                    "categories": ["north", "south", "east", "west"],
                },
            ],
        }
    )
    return schema, frame


def measure_classification(rows: int, seed: int) -> dict:
    from threadpoolctl import threadpool_limits

    from model_training.config import load_config, make_estimator
    from model_training.core import build_pipeline, evaluate, train, xy
    from model_training.gate import judge

    schema, frame = churn_like(rows, seed)
    config, _, _ = load_config(TEMPLATES / "train-classification.yaml", schema)
    a, b = int(rows * 0.7), int(rows * 0.85)
    frames = {
        "train": frame.iloc[:a].reset_index(drop=True),
        "val": frame.iloc[a:b].reset_index(drop=True),
        "test": frame.iloc[b:].reset_index(drop=True),
    }
    del frame
    started, cpu = time.perf_counter(), time.process_time()
    result = train(frames, schema, config)
    selected_seconds = time.perf_counter() - started
    selected_cpu = time.process_time() - cpu
    decision = judge(
        result.metrics, config.gate, None, "bench", task=schema.task, metric=config.gate_metric
    )

    with threadpool_limits(limits=config.threads):
        started, cpu = time.perf_counter(), time.process_time()
        x, y = xy(frames["train"], schema)
        plain = build_pipeline(
            schema, make_estimator(result.best.estimator, result.best.params, config.seed)
        )
        plain.fit(x, y)
        baseline_seconds = time.perf_counter() - started
        baseline_cpu = time.process_time() - cpu
        x_test, y_test = xy(frames["test"], schema)
        baseline_test = evaluate(plain, x_test, y_test, schema)
    metric = config.metric
    return {
        "task": "classification",
        "rows": rows,
        "positive_share": float((frames["train"]["churned"] == "yes").mean()),
        "selected": result.best.candidate,
        "selected_params": result.best.params,
        "selected_by": result.selected_by,
        "selection": result.selection,
        "candidates": len(result.candidates),
        "selection_rows": result.selection_rows,
        "refit_rows": result.refit_rows,
        "selected_seconds": selected_seconds,
        "selected_cpu_seconds": selected_cpu,
        "timings": result.timings,
        "metric": metric,
        "selected_test": {k[5:]: v for k, v in result.metrics.items() if k.startswith("test_")},
        "baselines": {b.name: [b.test, b.verdict] for b in result.baselines},
        "gate": decision.status,
        "gate_reason": decision.reason,
        "baseline": f"{result.best.estimator} {result.best.params}, one fit on "
        f"{len(frames['train']):,} rows",
        "baseline_seconds": baseline_seconds,
        "baseline_cpu_seconds": baseline_cpu,
        "baseline_test": baseline_test,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": os.getloadavg()[0],
    }


def report_classification(r: dict, seed: int) -> None:
    t, metric = r["timings"], r["metric"]
    sel, base = r["selected_test"], r["baseline_test"]
    print(
        f"\n{r['rows']:,} rows classification (train/val/test 70/15/15, "
        f"{r['positive_share']:.0%} 'yes'), seed {seed}"
    )
    print(
        f"  selected  {r['selected']:<24} {r['selected_seconds']:7.1f} s "
        f"(CPU {r['selected_cpu_seconds']:.1f} s)  test {metric} {sel[metric]:.4f} "
        f"[{sel.get(metric + '_ci_low', float('nan')):.4f}, "
        f"{sel.get(metric + '_ci_high', float('nan')):.4f}]"
    )
    print(
        f"            ({r['candidates']} candidates and baselines on {r['selection_rows']:,} "
        f"rows: {t['selection_seconds']:.1f} s; refit on {r['refit_rows']:,} rows "
        f"{t['refit_seconds']:.1f} s; baselines on test {t['baseline_seconds']:.1f} s; "
        f"scoring {t['evaluate_seconds']:.1f} s)"
    )
    print("            " + "  ".join(f"{k} {sel[k]:.4f}" for k in base))
    print(f"  baselines {', '.join(f'{k} {v[0]:.4f} ({v[1]})' for k, v in r['baselines'].items())}")
    print(f"  gate      {r['gate']}: {r['gate_reason']}")
    print(
        f"  baseline  {r['baseline']}\n"
        f"            {r['baseline_seconds']:.1f} s (CPU {r['baseline_cpu_seconds']:.1f} s)  "
        + "  ".join(f"{k} {base[k]:.4f}" for k in base)
    )
    print(
        f"  ratios    time x{r['selected_seconds'] / r['baseline_seconds']:.1f} of the plain "
        f"fit, {metric} {sel[metric] - base[metric]:+.4f}"
    )
    print(
        f"  peak memory {r['peak_rss_mb']:,.0f} MB; load average {r['load_average']:.1f} at the end"
    )


def measure(rows: int, seed: int) -> dict:
    from sklearn.linear_model import Ridge
    from threadpoolctl import threadpool_limits

    from mlops_core.schema import load_schema
    from mlops_core.synthetic import generate
    from model_training.config import LOWER_IS_BETTER, load_config, split_params
    from model_training.core import build_pipeline, metrics, train, xy

    schema = load_schema(MODELS / "house-price" / "schema.yaml")
    config, _, _ = load_config(MODELS / "house-price" / "train.yaml", schema)
    frame = generate(schema, rows, seed=seed)
    a, b = int(rows * 0.7), int(rows * 0.85)
    frames = {
        "train": frame.iloc[:a].reset_index(drop=True),
        "val": frame.iloc[a:b].reset_index(drop=True),
        "test": frame.iloc[b:].reset_index(drop=True),
    }
    del frame

    started, cpu = time.perf_counter(), time.process_time()
    result = train(frames, schema, config)
    selected_seconds = time.perf_counter() - started
    selected_cpu = time.process_time() - cpu

    # The baseline gets the target-transform option the candidates get: the config's
    # default, and every transform a candidate searches, chosen on the validation split.
    transforms = sorted(
        {config.target_transform}
        | {
            split_params(p, config.target_transform)[1]
            for c in config.candidates
            for p in c.combinations()
        }
    )
    metric = config.selection.metric
    with threadpool_limits(limits=config.threads):
        started, cpu = time.perf_counter(), time.process_time()
        x, y = xy(frames["train"], schema)
        x_val, y_val = xy(frames["val"], schema)
        fitted = []
        for transform in transforms:
            pipeline = build_pipeline(schema, Ridge(alpha=1.0), target_transform=transform)
            pipeline.fit(x, y)
            fitted.append((metrics(y_val, pipeline.predict(x_val))[metric], transform, pipeline))
        lower = LOWER_IS_BETTER[metric]
        _, transform, baseline = (min if lower else max)(fitted, key=lambda f: f[0])
        baseline_fit_seconds = time.perf_counter() - started
        baseline_cpu = time.process_time() - cpu
        x_test, y_test = xy(frames["test"], schema)
        baseline_test = metrics(y_test, baseline.predict(x_test))

    return {
        "rows": rows,
        "selected": result.best.candidate,
        "selected_params": result.best.params,
        "candidates": len(result.candidates),
        "selection_rows": result.selection_rows,
        "selected_seconds": selected_seconds,
        "selected_cpu_seconds": selected_cpu,
        "timings": result.timings,
        "selected_test_rmse": result.metrics["test_rmse"],
        "selected_test_r2": result.metrics["test_r2"],
        "baseline": f"Ridge alpha=1, target_transform={transform} "
        f"(chosen on val among {', '.join(transforms)})",
        "baseline_seconds": baseline_fit_seconds,
        "baseline_cpu_seconds": baseline_cpu,
        "baseline_test_rmse": baseline_test["rmse"],
        "baseline_test_r2": baseline_test["r2"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="sizes (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", choices=["regression", "classification"], default="regression")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    classification = args.task == "classification"
    sizes = args.rows or ([1_000_000] if classification else [10_000, 100_000])
    if args.child:
        run = measure_classification if classification else measure
        print(json.dumps(run(sizes[0], args.seed)))
        return

    results = []
    for rows in sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--task",
                args.task,
                "--rows",
                str(rows),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results.append(r)
        if classification:
            report_classification(r, args.seed)
            continue
        t = r["timings"]
        print(f"\n{rows:,} rows (train/val/test 70/15/15), seed {args.seed}")
        print(
            f"  selected  {r['selected']:<24} {r['selected_seconds']:7.1f} s  "
            f"test RMSE {r['selected_test_rmse']:12,.0f}  R2 {r['selected_test_r2']:.4f}"
        )
        print(
            f"            ({r['candidates']} candidates on {r['selection_rows']:,} rows: "
            f"{t['selection_seconds']:.1f} s; refit {t['refit_seconds']:.1f} s; "
            f"scoring 3 splits {t['evaluate_seconds']:.1f} s)"
        )
        print(
            f"  baseline  {r['baseline']}\n"
            f"            {'':<24} {r['baseline_seconds']:7.1f} s  "
            f"test RMSE {r['baseline_test_rmse']:12,.0f}  R2 {r['baseline_test_r2']:.4f}"
        )
        print(
            f"  ratios    time x{r['selected_seconds'] / r['baseline_seconds']:.1f} of baseline, "
            f"RMSE x{r['selected_test_rmse'] / r['baseline_test_rmse']:.3f}, "
            f"R2 {r['selected_test_r2'] - r['baseline_test_r2']:+.4f}"
        )
        print(
            f"  CPU time  selected {r['selected_cpu_seconds']:.1f} s, baseline "
            f"{r['baseline_cpu_seconds']:.1f} s (wall time inflates on a busy machine: "
            f"load average {r['load_average']:.1f} at the end)"
        )
        print(f"  peak memory (max RSS of the run) {r['peak_rss_mb']:,.0f} MB")
        r2_ok = r["selected_test_r2"] >= r["baseline_test_r2"]
        line = f"  targets   R2 >= Ridge: {'yes' if r2_ok else 'NO'}"
        if rows >= 1_000_000:
            line += f"; < 120 s wall: {'yes' if r['selected_seconds'] < 120 else 'NO'}"
            line += f", < 120 s CPU: {'yes' if r['selected_cpu_seconds'] < 120 else 'NO'}"
        print(line)
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
