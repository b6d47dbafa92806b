"""Benchmark: the prediction service against its peers on the same pipeline, per model,
with two models loaded in one service process.

The service serves two registered models at once (house-price, a regression forest, and a
binary classifier forest: its routes answer the class and every class's probability). Each
peer serves one model a process, started for that model's measurements only: `mlflow
models serve --env-manager local`, KServe's Python model server with its sklearn runtime's
model class, MLServer with mlserver-sklearn and adaptive batching, and a BentoML service
(bench/peers.py; each in its own virtual environment under bench/.peers, made with uv on
first use), plus the ceiling: a bare ASGI app under the same uvicorn answering a constant
body of the size of the service's answer. One worker process each, 127.0.0.1, the same load
generators in separate processes, for each model:
- closed loop at concurrency 1, 8 and 32 with single records: throughput, p50/p95/p99
  (wrk with one thread and a Lua body when installed, else bench/loadgen.py);
- batches of 1 000 records at concurrency 2: rows per second;
- open loop at a fixed 300 requests/s (bench/loadgen.py, latency from the scheduled start):
  p50/p95/p99 latency;
- the in-process predict time of the pipeline alone (the floor).
Every server is checked to answer what the service answers before it is measured. The
service logs every prediction (SQLite under a temporary MLOPS_HOME), as in production;
before each of its measurements the bench waits until the log writer has caught up, and
reports how long that took. Ratios are ours / theirs, measured in the same run.

    uv run python bench/serve.py [--duration 10] [--peers kserve,mlserver,bentoml]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

# bench/ scripts run as files: their sibling modules import by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers
from drivers import run_loadgen, run_wrk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- set-up
def start_mlflow(home: Path) -> tuple[str, object]:
    from mlops_core.embedded import start_mlflow as start
    from mlops_core.services import free_port
    from mlops_core.settings import PlatformSettings

    settings = PlatformSettings(home=home, mlflow_port=free_port(), mlflow_tracking_uri=None)
    url = start(settings, timeout=300).url
    return url, settings


CLASSIFIER = "churn-bench"


def models_folder(root: Path) -> Path:
    """house-price's folder, and a classifier's (a binary label, numeric and category
    features), as the service reads them (MLOPS_MODELS_DIR)."""
    import yaml

    models = root / "models"
    (models / "house-price").mkdir(parents=True)
    for src in (ROOT / "models" / "house-price").iterdir():
        if src.is_file():
            (models / "house-price" / src.name).write_bytes(src.read_bytes())
    schema = {
        "name": CLASSIFIER,
        "task": "classification",
        "description": "Customers who cancel (bench).",
        "label": {"name": "churned", "dtype": "category", "categories": ["yes", "no"]},
        "features": [
            {"name": "tenure", "dtype": "int", "min": 0, "max": 72},
            {"name": "monthly", "dtype": "float", "min": 0, "max": 200},
            {"name": "support_calls", "dtype": "int", "min": 0, "max": 20},
            {"name": "contract", "dtype": "category", "categories": ["month", "year", "two-year"]},
            {"name": "paperless", "dtype": "category", "categories": ["yes", "no"]},
        ],
    }
    (models / CLASSIFIER).mkdir()
    (models / CLASSIFIER / "schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    return models


def classifier_frame(n: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "tenure": rng.integers(0, 73, n),
            "monthly": rng.uniform(10, 150, n).round(2),
            "support_calls": rng.poisson(1.5, n).clip(0, 20),
            "contract": rng.choice(["month", "year", "two-year"], n, p=[0.5, 0.3, 0.2]),
            "paperless": rng.choice(["yes", "no"], n),
        }
    )
    score = (
        1.0
        - 0.06 * X["tenure"]
        + 0.015 * X["monthly"]
        + 0.4 * X["support_calls"]
        - 1.2 * (X["contract"] != "month")
    )
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-score)), "yes", "no")
    return X, pd.Series(y, name="churned")


def _log(pipe, X, name: str, tracking_uri: str) -> str:
    import mlflow
    import skops.io as sio
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{name}-training")
    with mlflow.start_run():
        mlflow.set_tag("data_version", "bench")
        info = mlflow.sklearn.log_model(
            pipe,
            name="model",
            signature=infer_signature(X.head(50), pipe.predict(X.head(50))),
            input_example=X.head(2),
            pip_requirements=["scikit-learn", "pandas", "skops"],
            serialization_format="skops",
            skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(pipe)),
            registered_model_name=name,
        )
    return f"models:/{name}/{info.registered_model_version}"


def register_models(tracking_uri: str, models: Path) -> dict[str, str]:
    """Fit and register both models; {name: models:/ URI}.

    house-price: the schema-built pipeline `mlops train` builds (model_training.core), with
    a 60-tree random forest on a log target (one of its default candidates). The classifier:
    the same kind of preprocessing (median-imputed, scaled numbers; one-hot categories) and
    a 60-tree random forest classifier."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlops_core.schema import load_schema
    from mlops_core.synthetic import generate
    from model_training.core import build_pipeline

    schema = load_schema(models / "house-price" / "schema.yaml")
    frame = generate(schema, 5000, seed=42)
    X, y = frame[schema.feature_names], frame[schema.label.name]
    forest = RandomForestRegressor(
        n_estimators=60, min_samples_leaf=3, max_features=0.5, max_samples=0.5, random_state=0
    )
    pipe = build_pipeline(schema, forest, target_transform="log").fit(X, y)
    out = {"house-price": _log(pipe, X, "house-price", tracking_uri)}

    cschema = load_schema(models / CLASSIFIER / "schema.yaml")
    X, y = classifier_frame(5000, seed=42)
    prep = ColumnTransformer(
        [
            (
                "num",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                cschema.numeric_features,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                cschema.categorical_features,
            ),
        ]
    )
    clf = RandomForestClassifier(
        n_estimators=60, min_samples_leaf=3, max_features=0.5, max_samples=0.5, random_state=0
    )
    cpipe = Pipeline([("prep", prep), ("clf", clf)]).fit(X[cschema.feature_names], y)
    out[CLASSIFIER] = _log(cpipe, X[cschema.feature_names], CLASSIFIER, tracking_uri)
    return out


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready:\n{log_path.read_text()[-3000:]}")


def start(argv: list[str], env: dict, log_path: Path, cwd: Path | None = None) -> subprocess.Popen:
    with open(log_path, "ab") as f:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )


def check_same_answer(name: str, peer, mine: dict) -> None:
    """A peer must answer what the service answers for the same record, or the comparison
    means nothing (a classifier: the peers answer the class, the service the class and its
    probabilities)."""
    r = httpx.post(peer.single_url, content=peer.one, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, (name, r.status_code, r.text[:500])
    body = r.json()
    theirs = (
        (body["predictions"][0] if isinstance(body, dict) else body[0])
        if name == "mlflow"
        else peers.Peer.answer(name, body)
    )
    ours = mine["prediction"]
    if "probabilities" in mine:
        assert ours == theirs, (name, mine, body)
    else:
        assert abs(ours - float(theirs)) <= 1e-6 * max(1.0, abs(ours)), (name, mine, body)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def log_queue_depth(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    line = next(x for x in text.splitlines() if x.startswith("mlops_prediction_log_queue_depth"))
    return float(line.split()[-1])


def wait_log_drained(base_url: str, timeout: float = 300) -> float:
    """Seconds until the service's prediction log queue is empty: each measurement starts
    from a writer that has caught up (and a backlog left by the last one shows here)."""
    start = time.monotonic()
    while log_queue_depth(base_url) > 0:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"prediction log queue not drained after {timeout:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - start


# --------------------------------------------------------------------------- main
def in_process_floor(
    model_uri: str, tracking_uri: str, schema_path: Path, record: dict, batch: list[dict]
) -> dict:
    import mlflow

    from mlops_core.schema import load_schema
    from prediction_service.model import LoadedModel, Predictor

    mlflow.set_tracking_uri(tracking_uri)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    import sklearn

    sklearn.set_config(assume_finite=True)
    est = mlflow.sklearn.load_model(model_uri)
    schema = load_schema(schema_path)
    predictor = Predictor(schema)
    model = LoadedModel("bench", "1", model_uri, est)
    own = est.predict_proba if schema.is_classification else est.predict

    def timeit(fn, seconds=2.0) -> float:
        fn()
        t0 = time.perf_counter()
        samples = []
        while time.perf_counter() - t0 < seconds:
            s = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - s)
        return statistics.median(samples)

    frame_one, frame_many = predictor.frame([record]), predictor.frame(batch)
    out = {
        "pipeline_single_ms": timeit(lambda: own(frame_one)) * 1000,
        "pipeline_batch_1000_ms": timeit(lambda: own(frame_many)) * 1000,
    }
    predictor.prepare(model)
    out["fast_path"] = model.fast is not None
    out["single_ms"] = timeit(lambda: predictor.predict(model, [record])) * 1000
    out["batch_1000_ms"] = timeit(lambda: predictor.predict(model, batch)) * 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--rate", type=float, default=300.0, help="open-loop requests per second")
    ap.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="closed-loop generator (the open loop is always bench/loadgen.py)",
    )
    ap.add_argument(
        "--peers",
        default=",".join(peers.PEERS),
        help="comma-separated peers beside MLflow (kserve, mlserver, bentoml; '' for none)",
    )
    ap.add_argument(
        "--report", action="store_true", help="print the table of the last run's results again"
    )
    args = ap.parse_args()
    if args.report:
        report(json.loads((ROOT / "bench" / "results" / "serve.json").read_text()))
        return

    from mlops_core.schema import load_schema
    from mlops_core.services import ServiceManager, free_port
    from mlops_core.synthetic import generate

    wanted = [p for p in args.peers.split(",") if p]
    for p in wanted:
        if p not in peers.PEERS:
            ap.error(f"--peers: unknown peer {p!r} (known: {', '.join(peers.PEERS)})")
        peers.ensure_venv(p, log)

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    procs: list[subprocess.Popen] = []
    mlflow_settings = None
    try:
        models = models_folder(tmp)
        log("starting an MLflow server and registering the two models ...")
        tracking_uri, mlflow_settings = start_mlflow(tmp / "mlflow-home")
        from mlops_core.mlflow_utils.quiet import quiet_mlflow

        with quiet_mlflow():  # its run URLs would land in the printed table
            uris = register_models(tracking_uri, models)
        log(f"models {', '.join(uris.values())} on {tracking_uri}")

        inputs: dict[str, list[dict]] = {}
        schema = load_schema(models / "house-price" / "schema.yaml")
        frame = generate(schema, 1000, seed=3)[schema.feature_names]
        inputs["house-price"] = json.loads(frame.to_json(orient="records"))
        cschema = load_schema(models / CLASSIFIER / "schema.yaml")
        cframe, _ = classifier_frame(1000, seed=3)
        inputs[CLASSIFIER] = json.loads(cframe[cschema.feature_names].to_json(orient="records"))

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")},
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLOPS_MLFLOW_TRACKING_URI": tracking_uri,
            "MLOPS_MODELS_DIR": str(models),
            "MLOPS_HOME": str(tmp / "serve-home"),
            "MLOPS_LOG_FORMAT": "json",
            "OMP_NUM_THREADS": "1",
        }
        ours_port = free_port()
        argv = [str(BIN / "mlops"), "serve", "--port", str(ours_port)]
        for uri in uris.values():
            argv += ["--model", uri]
        ours = start(argv, env, tmp / "ours.log")
        procs.append(ours)
        ours_base = f"http://127.0.0.1:{ours_port}"
        wait_ready(f"{ours_base}/v1/health/ready", ours, tmp / "ours.log")
        served = httpx.get(f"{ours_base}/v1/models").json()["models"]
        assert {m["name"] for m in served} == set(uris), served

        use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
        closed = run_wrk if use_wrk else run_loadgen
        loadgen = "wrk (1 thread)" if use_wrk else "bench/loadgen.py"
        results: dict = {
            "loadgen": loadgen,
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg()[0],
            "models": {},
        }
        drained: dict[str, float] = {}

        def settle(name: str, phase: str) -> None:
            if name == "ours":
                drained[phase] = wait_log_drained(ours_base)

        def measure(name: str, target: tuple, model_name: str, out: dict) -> None:
            single_url, batch_url, one, many = target
            for c in (1, 8, 32):
                settle(name, f"{model_name} before c{c}")
                log(f"{model_name} {name}: single records, concurrency {c} ...")
                out[f"{name}_c{c}"] = closed(single_url, one, c, args.duration, tmp)
            settle(name, f"{model_name} before batches")
            log(f"{model_name} {name}: batches of 1000 ...")
            r = closed(batch_url, many, 2, args.duration, tmp)
            r["rows_per_s"] = r["rps"] * 1000
            out[f"{name}_batch"] = r
            settle(name, f"{model_name} before open loop")
            log(f"{model_name} {name}: open loop at {args.rate:.0f} req/s ...")
            out[f"{name}_rate"] = run_loadgen(
                single_url, one, 0, max(args.duration, 20.0), tmp, rate=args.rate
            )

        requests_total = 0
        for model_name, model_uri in uris.items():
            batch = inputs[model_name]
            record = batch[0]
            route = f"{ours_base}/v1/models/{model_name}"
            h = {"Content-Type": "application/json"}
            ours_answer = httpx.post(f"{route}/predict", content=json.dumps(record), headers=h)
            assert ours_answer.status_code == 200, ours_answer.text[:500]
            mine = ours_answer.json()
            model_file = peers.export_pipeline(
                model_uri, tracking_uri, tmp / "peer-models" / model_name / "model.joblib"
            )
            out: dict = {"model_uri": model_uri, "servers": ["ours", "mlflow", *wanted, "ceiling"]}
            measure(
                "ours",
                (
                    f"{route}/predict",
                    f"{route}/predict/batch",
                    json.dumps(record).encode(),
                    json.dumps({"records": batch}).encode(),
                ),
                model_name,
                out,
            )
            for name in ["mlflow", *wanted, "ceiling"]:
                port = free_port()
                if name == "mlflow":
                    argv = [
                        str(BIN / "mlflow"),
                        "models",
                        "serve",
                        "-m",
                        model_uri,
                        "--env-manager",
                        "local",
                        "--host",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-w",
                        "1",
                    ]
                    peer = peers.Peer(
                        name,
                        f"http://127.0.0.1:{port}/invocations",
                        f"http://127.0.0.1:{port}/invocations",
                        json.dumps({"dataframe_records": [record]}).encode(),
                        json.dumps({"dataframe_records": batch}).encode(),
                        argv,
                        env,
                        f"http://127.0.0.1:{port}/ping",
                    )
                else:
                    peer = peers.setup(
                        name,
                        model_name,
                        model_file,
                        record,
                        batch,
                        port,
                        tmp,
                        env,
                        free_port,
                        ceiling_body=ours_answer.content,
                    )
                log_path = tmp / f"{name}-{model_name}.log"
                proc = start(peer.argv, peer.env, log_path, cwd=peer.cwd)
                procs.append(proc)
                wait_ready(peer.ready_url, proc, log_path)
                if name != "ceiling":
                    check_same_answer(name, peer, mine)
                measure(
                    name, (peer.single_url, peer.batch_url, peer.one, peer.many), model_name, out
                )
                stop(proc)
            requests_total += (
                sum(out[f"ours_{k}"]["requests"] for k in ("c1", "c8", "c32", "rate"))
                + 1000 * out["ours_batch"]["requests"]
            )
            out["floor"] = in_process_floor(
                model_uri, tracking_uri, models / model_name / "schema.yaml", record, batch
            )
            results["models"][model_name] = out
        results["log_drain_s"] = drained
        results["rate"] = args.rate
        results["ours_requests"] = requests_total

        # Logging was on: every successful request of ours has its row.
        time.sleep(1.0)
        stop(ours)
        from mlops_core import predlog

        engine = predlog.create_engine(f"sqlite:///{tmp / 'serve-home' / 'predictions.db'}")
        results["ours_logged_rows"] = predlog.count(engine)
        results["ours_logged_rows_by_model"] = {
            name: predlog.count(engine, model_name=name) for name in uris
        }
        engine.dispose()
        report(results)
        out_dir = ROOT / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "serve.json").write_text(json.dumps(results, indent=2))
    finally:
        for p in procs:
            stop(p)
        if mlflow_settings is not None:
            ServiceManager(mlflow_settings.run_dir).stop("mlflow")
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> None:
    lines = [
        "Prediction service (two models loaded in one process, every prediction logged) vs "
        "its peers on the same pipeline, one worker each, "
        f"{r['cpus']} CPUs, load average {r.get('load_average_at_start', float('nan')):.1f} "
        f"at start, load generator: {r['loadgen']}. Ratios are ours / theirs; the ceiling is "
        "a bare ASGI app on the same uvicorn answering a constant body of the same size.",
    ]

    def lat(x: dict) -> str:
        return f"{x['p50_ms']:.2f} / {x['p95_ms']:.2f} / {x['p99_ms']:.2f}"

    errors = 0
    for model_name, m in r["models"].items():
        servers = m.get("servers", ["ours", "mlflow"])
        others = [s for s in servers if s not in ("ours", "ceiling")]
        lines += ["", f"Model {model_name} ({m['model_uri']}):", ""]
        lines.append("| load | " + " | ".join(servers) + " | ours / best peer |")
        lines.append("| --- |" + " ---: |" * (len(servers) + 1))
        for key, label in (
            ("c1", "single, concurrency 1 (req/s)"),
            ("c8", "single, concurrency 8 (req/s)"),
            ("c32", "single, concurrency 32 (req/s)"),
            ("batch", "batches of 1 000 (rows/s)"),
        ):
            field = "rows_per_s" if key == "batch" else "rps"
            values = {s: m[f"{s}_{key}"][field] for s in servers}
            best = max(values[s] for s in others)
            cells = []
            for s in servers:
                cell = f"{values[s]:.0f}"
                if s == "ceiling" and key != "batch":
                    cell += f" (ours {values['ours'] / values[s]:.1%})"
                cells.append(cell)
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {values['ours'] / best:.2f}x |")
        lines += [
            "",
            f"Open loop at {r['rate']:.0f} req/s, latency p50 / p95 / p99 ms (errors):",
            "",
            "| " + " | ".join(servers) + " |",
            "|" + " --- |" * len(servers),
            "| "
            + " | ".join(f"{lat(m[f'{s}_rate'])} ({m[f'{s}_rate']['errors']})" for s in servers)
            + " |",
        ]
        f = m["floor"]
        lines += [
            "",
            "In-process floor, no HTTP: the MLflow-loaded pipeline's own predict"
            f"{'_proba' if model_name == CLASSIFIER else ''} {f['pipeline_single_ms']:.2f} ms "
            f"per record, {f['pipeline_batch_1000_ms']:.1f} ms per 1 000 rows; the service's "
            f"predictor (numpy fast path: {f['fast_path']}) {f['single_ms']:.2f} ms per record, "
            f"{f['batch_1000_ms']:.1f} ms per 1 000 rows.",
            "What each logs per request: "
            + "; ".join(
                f"{s}: {peers.LOGS.get(s, 'one prediction-log row per row')}"
                for s in servers
                if s != "ours"
            )
            + "; ours: one prediction-log row per predicted row (SQLite).",
        ]
        errors += sum(
            v.get("errors", 0)
            for k, v in m.items()
            if k.startswith("ours_") and isinstance(v, dict) and "errors" in v
        )
    drain = r["log_drain_s"]
    lines += [
        "",
        "Prediction log writer, seconds to catch up before each measurement of ours: "
        + ", ".join(f"{k} {v:.1f}" for k, v in drain.items())
        + ".",
        f"Errors of ours (non-2xx or transport) across all runs: {errors}. An open loop "
        "faster than a server can answer makes its queue grow for the whole run: latencies "
        "then count the wait in that queue, and connections beyond the backlog are refused. "
        f"Prediction log rows written by ours: {r['ours_logged_rows']} "
        f"({r.get('ours_logged_rows_by_model', {})}) for {r['ours_requests']} predictions "
        "counted by the load generator (which does not count the requests still in flight when "
        "it stops: up to its connection count, times 1 000 for batches; plus one parity check "
        "per model).",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
