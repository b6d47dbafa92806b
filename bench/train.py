"""Benchmark of `mlops train`'s core: model selection + refit on synthetic data.

For each size (10 and 100 thousand rows by default: about a minute on a busy 2-core
machine), in a fresh subprocess, on the same rows and the same split:
- the selected model: the packaged training config (every candidate scored on the
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

    uv run python bench/train.py                   # 10k and 100k rows
    uv run python bench/train.py --rows 1000000    # one size (the 120 s target)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def measure(rows: int, seed: int) -> dict:
    from sklearn.linear_model import Ridge
    from threadpoolctl import threadpool_limits

    from mlops_core.schema import load_schema
    from mlops_core.synthetic import generate
    from model_training.config import LOWER_IS_BETTER, load_config, split_params
    from model_training.core import build_pipeline, metrics, train, xy

    schema = load_schema()
    config, _, _ = load_config()
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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.rows or [10_000, 100_000]
    if args.child:
        print(json.dumps(measure(sizes[0], args.seed)))
        return

    results = []
    for rows in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--rows", str(rows), "--seed", str(args.seed)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results.append(r)
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
