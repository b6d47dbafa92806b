"""Benchmark of `mlops monitor`'s core: wall time and peak memory for growing numbers of
current rows against a reference of the same size (the schema's 12 feature columns), and, in
the same run and on the same row counts, the baselines a user without our batch path would
run: the reference's predictions fetched from the real prediction service (`mlops serve`,
uvicorn, serving the same MLflow model folder), one HTTP request per row, then the same
report; and the stronger peer, the service's batch endpoint (`/v1/predict/batch`).

What is timed for our path (each size in its own process, so peak RSS is per size):
  batch prediction of the reference with the model (MLflow pyfunc, in-process, one call);
  the analysis: exact row counts, Evidently on a uniform sample of at most
  MLOPS_MONITOR_SAMPLE_ROWS (default 100 000) rows per side, sampling error bounds;
  rendering the labelled HTML report and writing HTML + JSON to a local report store.
Not timed: generating the synthetic frames, the current rows' predictions (they come from
the prediction log, where the service wrote them), reading the log.

Ratios against the baselines are printed only at the row counts where both ran. When a
size is sampled, the bench also computes every column's drift score exactly on all rows
(with Evidently's own stattests) and prints the largest |sampled - exact| difference next to
the error bound the report carries.

Usage: uv run python bench/monitor.py [--sizes 20000,200000,1000000] [--baseline-rows 500,2000]
(defaults: --sizes 20000 --baseline-rows 500, a few minutes on a busy 2-core machine: the
per-row baseline costs about 0.4 s per request there)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
FIT_ROWS = 20_000
BATCH = 2_000  # records per /v1/predict/batch request (the service's max batch here)


BENCH_MODEL = "house-price"  # the model folder whose schema and policy the bench uses


def _folder():
    """The bench's model folder (models/house-price/ of this repository, or MLOPS_MODELS_DIR)."""
    from mlops_core.settings import get_settings

    return get_settings().model_folder(BENCH_MODEL)


def _policy():
    from model_monitoring.policy import policy_for

    return policy_for(_folder())


def _model_path(tmp: Path) -> Path:
    """A model like the training stage's: one-hot categories + gradient boosting, fitted on
    synthetic rows, saved as an MLflow model folder (what `mlops serve` and ours load)."""
    import mlflow.sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlops_core.synthetic import generate

    schema = _folder().schema
    train = generate(schema, FIT_ROWS, seed=100)
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), schema.categorical_features)],
        remainder="passthrough",
    )
    model = Pipeline([("pre", pre), ("gbr", HistGradientBoostingRegressor(max_iter=200))])
    model.fit(train[schema.feature_names], train[schema.label.name])
    path = tmp / "model"
    import skops.io as sio

    # As the training stage saves it: skops, trusting the pipeline's own sklearn types.
    trusted = sorted(sio.get_untrusted_types(data=sio.dumps(model)))
    mlflow.sklearn.save_model(
        model, str(path), serialization_format="skops", skops_trusted_types=trusted
    )
    return path


def _frames(rows: int, model):
    from mlops_core.synthetic import Drift, generate
    from model_monitoring.analysis import prediction_column

    schema = _folder().schema
    reference = generate(schema, rows, seed=1)
    # Current traffic: one numeric feature shifted, so the report has drift to show.
    current = generate(schema, rows, seed=2, drift=Drift(shift={schema.numeric_features[0]: 1.2}))
    current[prediction_column(schema)] = model.predict(current[schema.feature_names])
    return schema, reference, current


def _load(model_path: str):
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(model_path)


def _write_report(store: str, name: str, result) -> float:
    """Label, render and store the report as `mlops monitor` does; its size in MB."""
    from datetime import UTC, datetime

    from mlops_core.contracts.monitor import MonitorResult
    from model_monitoring.report_html import ReportLabel, label_html
    from model_monitoring.store import ReportStore, run_stem

    label = ReportLabel(name, "1", "bench window", rows=result.rows,
                        reference_rows=result.reference_rows)  # fmt: skip
    html = label_html(result.snapshot.get_html_str(as_iframe=False), label)
    record = MonitorResult(model_name=name, policy=_policy().source, **result.fields())
    ReportStore(store).write_run(name, run_stem(datetime.now(UTC), "1"), html,
                                 record.model_dump(mode="json"))  # fmt: skip
    return len(html) / 1e6


def child(rows: int, model_path: str, store: str) -> dict:
    """One size: our path, timed; prints a JSON line."""
    import warnings

    from model_monitoring.analysis import analyse, prediction_column
    from model_monitoring.settings import MonitorSettings

    warnings.simplefilter("ignore")
    model = _load(model_path)
    schema, reference, current = _frames(rows, model)
    sample_rows = MonitorSettings().sample_rows
    # Warm the imports (Evidently, plotly: ~10 s on a cold interpreter without .pyc files)
    # so the timing is the work, not the imports.
    import evidently.presets  # noqa: F401

    started = time.perf_counter()
    reference[prediction_column(schema)] = model.predict(reference[schema.feature_names])
    predicted = time.perf_counter()
    result = analyse(reference, current, schema, _policy(), sample_rows=sample_rows)
    analysed = time.perf_counter()
    html_mb = _write_report(store, "bench", result)
    done = time.perf_counter()
    out = {
        "rows": rows,
        "seconds": done - started,
        "predict_s": predicted - started,
        "analyse_s": analysed - predicted,
        "report_s": done - analysed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sampled": result.sampled,
        "rows_compared": result.rows_compared,
        "status": result.status,
        "drifted": result.drifted_columns,
        "html_mb": html_mb,
    }
    if result.sampled:
        out["sampling"] = _exact_check(schema, reference, current, result)
    return out


def _exact_check(schema, reference, current, result) -> dict:
    """Exact drift scores on all rows with Evidently's own stattests vs the sampled ones."""
    from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
    from evidently.legacy.calculations.stattests.wasserstein_distance_norm import (
        _wasserstein_distance_norm,
    )
    from evidently.legacy.core import ColumnType

    worst = {"column": None, "abs_error": 0.0, "bound": None}
    decisions_agree = True
    for name, info in result.columns.items():
        kind = ColumnType.Numerical if schema.column(name).is_numeric else ColumnType.Categorical
        if "Wasserstein" in info.method:
            exact, _ = _wasserstein_distance_norm(reference[name], current[name], kind, 0.1)
        elif "Jensen" in info.method:
            exact, _ = _jensenshannon(reference[name], current[name], kind, 0.1)
        else:
            continue
        error = abs(float(exact) - info.score)
        decisions_agree &= (float(exact) >= info.threshold) == info.drifted
        if error >= worst["abs_error"]:
            worst = {"column": name, "abs_error": error, "bound": info.sampling_error,
                     "exact": float(exact), "sampled": info.score}  # fmt: skip
    bounds = [c.sampling_error for c in result.columns.values()]
    return {"worst": worst, "max_bound": max(bounds), "decisions_agree": decisions_agree}


def baseline(rows: int, model_path: str, store: str, url: str) -> dict:
    """The reference's predictions from the running prediction service, then the report:
    one request per row, and (the stronger peer) the batch endpoint."""
    import warnings

    from mlops_core.traffic import PredictionClient
    from model_monitoring.analysis import analyse, prediction_column

    warnings.simplefilter("ignore")
    schema, reference, current = _frames(rows, _load(model_path))
    import evidently.presets  # noqa: F401

    records = json.loads(reference[schema.feature_names].to_json(orient="records"))
    # The platform's own traffic client, as a client application sends records.
    with PredictionClient(url, headers={}, timeout=60) as client:
        started = time.perf_counter()
        preds = []
        for record in records:
            response = client.predict(record)
            response.raise_for_status()
            preds.append(response.json()["prediction"])
        per_row = time.perf_counter() - started
        started = time.perf_counter()
        batched = []
        for start in range(0, len(records), BATCH):
            response = client.predict_batch(records[start : start + BATCH])
            response.raise_for_status()
            batched += response.json()["predictions"]
        batch = time.perf_counter() - started
    # Both answers are the same model's: the comparison is of how they were fetched.
    assert max(abs(a - b) for a, b in zip(preds, batched, strict=True)) < 1e-6
    reference[prediction_column(schema)] = preds
    started = time.perf_counter()
    result = analyse(reference, current, schema, _policy())
    _write_report(store, "bench-baseline", result)
    report = time.perf_counter() - started
    return {
        "rows": rows,
        "per_row_s": per_row,
        "batch_s": batch,
        "report_s": report,
        "seconds": per_row + report,
        "batch_seconds": batch + report,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


@contextlib.contextmanager
def prediction_service(model_path: str, home: Path):
    """`mlops serve` (the real service: FastAPI under uvicorn, prediction log) on the model
    folder, in a home of its own."""
    import httpx

    from mlops_core.services import free_port

    port = free_port()
    mlops = Path(sys.executable).parent / "mlops"
    argv = [str(mlops)] if mlops.exists() else [sys.executable, "-m", "mlops_core.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(MLOPS_HOME=str(home), MLOPS_SERVE_MAX_BATCH=str(BATCH), MLOPS_LOG_FORMAT="json")
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "serve.log", "ab") as log:
        server = subprocess.Popen(
            [*argv, "serve", "--model", model_path, "--port", str(port), "--poll", "0"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlops serve exited:\n{(home / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/v1/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlops serve did not become ready")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def _spawn(*args: str) -> dict:
    from mlops_core.contracts import read_result

    proc = subprocess.run([sys.executable, str(HERE), *args], capture_output=True, text=True)
    found = read_result(proc.stdout)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"bench child {args} failed:\n{proc.stderr[-3000:]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000")
    parser.add_argument("--baseline-rows", default="500")
    parser.add_argument("--one", type=int)
    parser.add_argument("--baseline", type=int)
    parser.add_argument("--url")
    parser.add_argument("--model")
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(child(args.one, args.model, args.store), default=str))
        return
    if args.baseline:
        print(json.dumps(baseline(args.baseline, args.model, args.store, args.url), default=str))
        return

    base_sizes = [int(n) for n in args.baseline_rows.split(",") if n]
    sizes = [int(n) for n in args.sizes.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        model = str(_model_path(Path(tmp)))
        store = str(Path(tmp, "reports"))
        common = ["--model", model, "--store", store]
        with prediction_service(model, Path(tmp, "serve-home")) as url:
            bases = [_spawn("--baseline", str(n), "--url", url, *common) for n in base_sizes]
        ours = {n: _spawn("--one", str(n), *common) for n in sorted({*base_sizes, *sizes})}

    print(f"bench/monitor.py  (cpus: {os.cpu_count()}, load avg: {os.getloadavg()[0]:.1f}, "
          f"sample cap {_sample_cap()} rows/side)")  # fmt: skip
    print("vs the prediction service (`mlops serve`, same model folder), same rows:")
    for b in bases:
        o = ours[b["rows"]]
        print(
            f"  {b['rows']:>7,} rows: per-row HTTP {b['seconds']:.1f} s ({b['per_row_s']:.1f} s "
            f"predicting, {b['rows'] / b['per_row_s']:,.0f} rows/s) | batch HTTP "
            f"{b['batch_seconds']:.1f} s ({b['batch_s']:.2f} s predicting) | ours "
            f"{o['seconds']:.1f} s ({o['predict_s']:.3f} s predicting): "
            f"{b['seconds'] / o['seconds']:.1f}x faster than per-row, "
            f"{b['batch_seconds'] / o['seconds']:.2f}x vs batch; reference predictions "
            f"{b['per_row_s'] / max(o['predict_s'], 1e-6):.0f}x / "
            f"{b['batch_s'] / max(o['predict_s'], 1e-6):.1f}x faster"
        )
    header = f"{'rows':>9} {'wall s':>8} {'predict':>8} {'analyse':>8} {'report':>7} "
    print("ours at each size (ratios only above, at the row counts where a baseline ran):")
    print(header + f"{'peak MB':>8} {'rows/s':>10}  verdict")
    for r in ours.values():
        print(
            f"{r['rows']:>9,} {r['seconds']:>8.1f} {r['predict_s']:>8.2f} {r['analyse_s']:>8.1f} "
            f"{r['report_s']:>7.1f} {r['peak_rss_mb']:>8.0f} {r['rows'] / r['seconds']:>10,.0f}"
            f"  {r['status']} {','.join(r['drifted'])}"
        )
        if r.get("sampling"):
            s = r["sampling"]
            w = s["worst"]
            print(
                f"{'':>9} sampled {r['rows_compared']:,}/side: largest |sampled - exact| score "
                f"{w['abs_error']:.4f} ({w['column']}, bound {w['bound']:.4f}); max bound "
                f"{s['max_bound']:.4f}; drift decisions equal to exact: {s['decisions_agree']}"
            )


def _sample_cap() -> int:
    from model_monitoring.settings import MonitorSettings

    return MonitorSettings().sample_rows


if __name__ == "__main__":
    main()
