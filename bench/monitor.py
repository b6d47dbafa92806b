"""Benchmark of `mlops monitor`'s core: wall time and peak memory for 10 k, 200 k and 1 M
current rows against a reference of the same size (the schema's 12 feature columns), and, in
the same run, the reference design's approach on 2 000 rows as a baseline: reference
predictions fetched with one HTTP request per row from a running prediction endpoint, then
the report.

What is timed for our path (each size in its own process, so peak RSS is per size):
  batch prediction of the reference with the model, in-process (one call);
  the analysis: exact row counts, Evidently on a uniform sample of at most
  MLOPS_MONITOR_SAMPLE_ROWS (default 100 000) rows per side, sampling error bounds;
  rendering the HTML report and writing HTML + JSON to a local report store.
Not timed: generating the synthetic frames, the current rows' predictions (they come from
the prediction log, where the service wrote them), reading the log.

At 1 M rows the bench also computes every column's drift score exactly on all rows (with
Evidently's own stattest functions) and prints the largest |sampled - exact| difference next
to the error bound the report carries.

The baseline serves the same model from a minimal local uvicorn + FastAPI endpoint
(POST /v1/predict, one record per request, as in CONTRACTS.md section 4): the serve stage was
not merged when the figures in docs/model_monitoring.md were taken, and a minimal endpoint
keeps the baseline's per-request cost a lower bound of the real service's.

Usage: uv run python bench/monitor.py [--sizes 10000,200000,1000000] [--baseline-rows 2000]
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

HERE = Path(__file__).resolve()
FIT_ROWS = 20_000


def _model_path(tmp: Path) -> Path:
    """A model like the training stage's: one-hot categories + gradient boosting, fitted on
    synthetic rows, saved with joblib for the child processes."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlops_core.schema import load_schema
    from mlops_core.synthetic import generate

    schema = load_schema()
    train = generate(schema, FIT_ROWS, seed=100)
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), schema.categorical_features)],
        remainder="passthrough",
    )
    model = Pipeline([("pre", pre), ("gbr", HistGradientBoostingRegressor(max_iter=200))])
    model.fit(train[schema.feature_names], train[schema.label.name])
    path = tmp / "model.joblib"
    joblib.dump(model, path)
    return path


def _frames(rows: int, model):
    from mlops_core.schema import load_schema
    from mlops_core.synthetic import Drift, generate
    from model_monitoring.analysis import prediction_column

    schema = load_schema()
    reference = generate(schema, rows, seed=1)
    # Current traffic: one numeric feature shifted, so the report has drift to show.
    current = generate(schema, rows, seed=2, drift=Drift(shift={schema.numeric_features[0]: 1.2}))
    current[prediction_column(schema)] = model.predict(current[schema.feature_names])
    return schema, reference, current


def child(rows: int, model_path: str, store: str) -> dict:
    """One size: our path, timed; prints a JSON line."""
    import warnings

    import joblib

    from model_monitoring.analysis import analyse, prediction_column
    from model_monitoring.policy import load_policy
    from model_monitoring.settings import MonitorSettings
    from model_monitoring.store import ReportStore, run_stem

    warnings.simplefilter("ignore")
    model = joblib.load(model_path)
    schema, reference, current = _frames(rows, model)
    sample_rows = MonitorSettings().sample_rows
    # Warm the imports (Evidently, plotly: ~10 s on a cold interpreter without .pyc files)
    # so the timing is the work, not the imports.
    import evidently.presets  # noqa: F401

    started = time.perf_counter()
    reference[prediction_column(schema)] = model.predict(reference[schema.feature_names])
    predicted = time.perf_counter()
    result = analyse(reference, current, schema, load_policy(), sample_rows=sample_rows)
    analysed = time.perf_counter()
    html = result.snapshot.get_html_str(as_iframe=False)
    from datetime import UTC, datetime

    ReportStore(store).write_run("bench", run_stem(datetime.now(UTC), "1"), html, result.as_dict())
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
        "html_mb": len(html) / 1e6,
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
        method = info["method"]
        kind = ColumnType.Numerical if schema.column(name).is_numeric else ColumnType.Categorical
        if "Wasserstein" in method:
            exact, _ = _wasserstein_distance_norm(reference[name], current[name], kind, 0.1)
        elif "Jensen" in method:
            exact, _ = _jensenshannon(reference[name], current[name], kind, 0.1)
        else:
            continue
        error = abs(float(exact) - info["score"])
        decisions_agree &= (float(exact) >= info["threshold"]) == info["drifted"]
        if error >= worst["abs_error"]:
            worst = {"column": name, "abs_error": error, "bound": info["sampling_error"],
                     "exact": float(exact), "sampled": info["score"]}  # fmt: skip
    bounds = [c["sampling_error"] for c in result.columns.values()]
    return {"worst": worst, "max_bound": max(bounds), "decisions_agree": decisions_agree}


def baseline(rows: int, model_path: str, store: str) -> dict:
    """The reference design: per-row HTTP predictions for the reference, then the report."""
    import socket
    import warnings

    import httpx
    import joblib

    from model_monitoring.analysis import analyse, prediction_column
    from model_monitoring.policy import load_policy
    from model_monitoring.store import ReportStore, run_stem

    warnings.simplefilter("ignore")
    model = joblib.load(model_path)
    schema, reference, current = _frames(rows, model)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(HERE), "--serve", model_path, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v1/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("baseline endpoint did not start")
            time.sleep(0.2)
        import evidently.presets  # noqa: F401

        records = json.loads(reference[schema.feature_names].to_json(orient="records"))
        started = time.perf_counter()
        preds = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for record in records:
                preds.append(client.post("/v1/predict", json=record).json()["prediction"])
        fetched = time.perf_counter()
        reference[prediction_column(schema)] = preds
        result = analyse(reference, current, schema, load_policy())
        html = result.snapshot.get_html_str(as_iframe=False)
        from datetime import UTC, datetime

        ReportStore(store).write_run("bench-baseline", run_stem(datetime.now(UTC), "1"), html,
                                     result.as_dict())  # fmt: skip
        done = time.perf_counter()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {
        "rows": rows,
        "seconds": done - started,
        "http_s": fetched - started,
        "report_s": done - fetched,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def serve(model_path: str, port: int) -> None:
    """Minimal stand-in for the prediction service: one record per POST /v1/predict."""
    import uuid

    import joblib
    import pandas as pd
    import uvicorn
    from fastapi import FastAPI

    from mlops_core.schema import load_schema

    schema = load_schema()
    model = joblib.load(model_path)
    app = FastAPI()

    @app.get("/v1/health/ready")
    def ready() -> dict:
        return {"ready": True}

    @app.post("/v1/predict")
    def predict(record: dict) -> dict:
        frame = pd.DataFrame([record], columns=schema.feature_names)
        return {"request_id": uuid.uuid4().hex, "prediction": float(model.predict(frame)[0]),
                "model_name": "bench", "model_version": "1"}  # fmt: skip

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _spawn(*args: str) -> dict:
    proc = subprocess.run([sys.executable, str(HERE), *args], capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,200000,1000000")
    parser.add_argument("--baseline-rows", type=int, default=2000)
    parser.add_argument("--one", type=int)
    parser.add_argument("--baseline", type=int)
    parser.add_argument("--serve")
    parser.add_argument("--port", type=int)
    parser.add_argument("--model")
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.one:
        print(json.dumps(child(args.one, args.model, args.store), default=str))
        return
    if args.baseline:
        print(json.dumps(baseline(args.baseline, args.model, args.store), default=str))
        return

    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        model = str(_model_path(Path(tmp)))
        store = str(Path(tmp, "reports"))
        common = ["--model", model, "--store", store]
        base = _spawn("--baseline", str(args.baseline_rows), *common)
        ours_small = _spawn("--one", str(args.baseline_rows), *common)
        runs = [_spawn("--one", size, *common) for size in args.sizes.split(",")]

    print(f"bench/monitor.py  (cpus: {os.cpu_count()}, load avg: {os.getloadavg()[0]:.1f}, "
          f"sample cap {runs[-1].get('rows_compared')} rows/side)")  # fmt: skip
    print(
        f"baseline (reference design, {base['rows']} rows): {base['seconds']:.1f} s "
        f"({base['http_s']:.1f} s of per-row HTTP predictions + {base['report_s']:.1f} s report),"
        f" peak {base['peak_rss_mb']:.0f} MB"
    )
    print(
        f"ours on the same {ours_small['rows']} rows: {ours_small['seconds']:.1f} s "
        f"(batch predict {ours_small['predict_s']:.3f} s): "
        f"{base['seconds'] / ours_small['seconds']:.1f}x faster; reference predictions "
        f"{base['http_s'] / max(ours_small['predict_s'], 1e-6):.0f}x faster"
    )
    base_rate = base["rows"] / base["seconds"]
    header = f"{'rows':>9} {'wall s':>8} {'predict':>8} {'analyse':>8} {'report':>7} "
    print(header + f"{'peak MB':>8} {'rows/s':>10} {'vs baseline rows/s':>19}  verdict")
    for r in runs:
        rate = r["rows"] / r["seconds"]
        print(
            f"{r['rows']:>9,} {r['seconds']:>8.1f} {r['predict_s']:>8.2f} {r['analyse_s']:>8.1f} "
            f"{r['report_s']:>7.1f} {r['peak_rss_mb']:>8.0f} {rate:>10,.0f} "
            f"{rate / base_rate:>18.0f}x  {r['status']} {','.join(r['drifted'])}"
        )
        if r.get("sampling"):
            s = r["sampling"]
            w = s["worst"]
            print(
                f"{'':>9} sampled {r['rows_compared']:,}/side: largest |sampled - exact| score "
                f"{w['abs_error']:.4f} ({w['column']}, bound {w['bound']:.4f}); max bound "
                f"{s['max_bound']:.4f}; drift decisions equal to exact: {s['decisions_agree']}"
            )
    largest = runs[-1]
    ok = largest["seconds"] < 120 and largest["peak_rss_mb"] < 4096
    print(
        f"target {largest['rows']:,} vs {largest['rows']:,}: < 120 s and < 4096 MB -> "
        f"{'met' if ok else 'NOT met'} ({largest['seconds']:.1f} s, "
        f"{largest['peak_rss_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
