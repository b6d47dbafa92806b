"""`mlops pipeline run`: the whole loop on the embedded runtime, one stage command at a time.

Every stage runs as a subprocess through the `mlops` command line (`python -m
mlops_core.cli ... --json`), exactly as an Airflow task or a pod runs it; nothing here
imports another stage. Client traffic is sent over HTTP to the running prediction service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_core.errors import ExitCode, MlopsError, Unavailable
from mlops_core.output import stderr
from mlops_core.settings import PlatformSettings, get_settings


class StepFailed(MlopsError):
    """A stage command failed: its exit code is the pipeline's."""


@dataclass
class Options:
    rows: int = 5000
    seed: int = 42
    traffic: int = 1200
    single_requests: int = 200
    feedback_share: float = 0.5
    drift_factor: float = 1.6


@dataclass
class Pipeline:
    options: Options
    platform: PlatformSettings
    quiet: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)
    log_path: Path | None = None
    total: int = 14

    # -- running stage commands ----------------------------------------------------------
    def stage(self, title: str, args: list[str], ok: tuple[int, ...] = (0,)) -> dict:
        """Run `mlops ARGS --json` as a subprocess; returns its JSON result."""
        started = time.perf_counter()
        self._announce(title)
        proc = subprocess.run(
            [sys.executable, "-m", "mlops_core.cli", *args, "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "MLOPS_LOG_FORMAT": "json"},
            stdin=subprocess.DEVNULL,
        )
        self._log(args, proc)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        result = json.loads(lines[-1]) if lines else {}
        seconds = time.perf_counter() - started
        step = {
            "step": title,
            "command": "mlops " + " ".join(args),
            "exit_code": proc.returncode,
            "seconds": round(seconds, 2),
        }
        self.steps.append(step)
        if proc.returncode not in ok:
            message = result.get("error") or _tail(proc.stderr) or f"exit {proc.returncode}"
            self._done(step, f"[red]failed[/] ({message})")
            code = proc.returncode if proc.returncode in {int(c) for c in ExitCode} else 1
            error = StepFailed(
                f"step {title!r} failed: `mlops {' '.join(args)}` exited {proc.returncode}: "
                f"{message} (full log: {self.log_path})",
                details={"steps": self.steps, "failed_step": title},
            )
            error.exit_code = ExitCode(code)
            raise error
        return result

    def client_step(self, title: str, work: Callable[[], dict]) -> dict:
        started = time.perf_counter()
        self._announce(title)
        result = work()
        step = {"step": title, "seconds": round(time.perf_counter() - started, 2)}
        self.steps.append(step)
        return result

    def _announce(self, title: str) -> None:
        if not self.quiet:
            stderr.print(f"[bold cyan][{len(self.steps) + 1:>2}/{self.total}][/] {title} ...")

    def _done(self, step: dict, text: str) -> None:
        step["summary"] = text
        if not self.quiet:
            stderr.print(f"        {text} [dim]({step['seconds']:.1f} s)[/]", highlight=False)

    def note(self, text: str) -> None:
        self._done(self.steps[-1], text)

    def _log(self, args: list[str], proc: subprocess.CompletedProcess) -> None:
        if self.log_path is None:
            return
        with open(self.log_path, "a") as log:
            log.write(f"\n$ mlops {' '.join(args)} --json  (exit {proc.returncode})\n")
            log.write(proc.stderr)
            log.write(proc.stdout)


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


# -- client traffic -------------------------------------------------------------------------


def drift_for(schema, factor: float) -> dict:
    """A visible shift, named from the schema: the first two numeric columns scaled and the
    first category column's mix turned around."""
    shift = {name: factor for name in schema.numeric_features[:2]}
    weights: dict[str, dict[str, float]] = {}
    if schema.categorical_features:
        column = schema.column(schema.categorical_features[0])
        cats = list(column.categories or ())
        weights[column.name] = {
            c: (0.8 if i == len(cats) - 1 else 0.2 / max(len(cats) - 1, 1))
            for i, c in enumerate(cats)
        }
    return {"shift": shift, "category_weights": weights}


def ingest_drift_args(drift: dict) -> list[str]:
    args: list[str] = []
    for name, factor in drift["shift"].items():
        args += ["--shift", f"{name}={factor}"]
    for name, mix in drift["category_weights"].items():
        args += ["--category-weights", f"{name}=" + ",".join(f"{c}:{w}" for c, w in mix.items())]
    return args


def send_traffic(
    url: str,
    schema,
    *,
    rows: int,
    single: int,
    seed: int,
    feedback_share: float,
    drift: dict | None,
    headers: dict[str, str],
) -> dict:
    """Predict `rows` generated records (`single` one by one, the rest in batches) and report
    the true label for a share of them, as a client application would."""
    import httpx
    import numpy as np

    from mlops_core.synthetic import Drift, generate

    frame = generate(schema, rows, seed=seed, drift=Drift(**drift) if drift else None)
    records = json.loads(frame[schema.feature_names].to_json(orient="records"))
    labels = frame[schema.label.name].tolist()
    ids: list[str | None] = [None] * rows
    versions: set[str] = set()
    failures = 0
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:

        def one(i: int) -> None:
            nonlocal failures
            response = client.post("/v1/predict", json=records[i])
            if response.status_code != 200:
                failures += 1
                return
            body = response.json()
            ids[i] = body["request_id"]
            versions.add(str(body["model_version"]))

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, range(min(single, rows))))
        for start in range(min(single, rows), rows, 200):
            chunk = records[start : start + 200]
            response = client.post("/v1/predict/batch", json={"records": chunk})
            if response.status_code != 200:
                failures += len(chunk)
                continue
            body = response.json()
            versions.add(str(body["model_version"]))
            for offset, request_id in enumerate(body["request_ids"]):
                ids[start + offset] = request_id
        rng = np.random.default_rng(seed)
        chosen = [i for i in range(rows) if ids[i] and rng.random() < feedback_share]

        def feedback(i: int) -> bool:
            response = client.post("/v1/feedback", json={"request_id": ids[i], "label": labels[i]})
            return response.status_code < 300

        with ThreadPoolExecutor(max_workers=4) as pool:
            sent = sum(pool.map(feedback, chosen))
    return {
        "predictions": sum(1 for i in ids if i),
        "failed_requests": failures,
        "feedback": sent,
        "model_versions": sorted(versions),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _service_headers() -> dict[str, str]:
    from deployment_prep.settings import ServeAdminSettings

    admin = ServeAdminSettings()
    key = admin.key()
    return {admin.api_key_header: key} if key else {}


def _service_url(up: dict) -> str | None:
    for service in up.get("services", []):
        if service.get("service") == "prediction-service" and service.get("url"):
            return service["url"]
    return None


def _wait_for_version(url: str, version: str, headers: dict, timeout: float = 60.0) -> str:
    import httpx

    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/v1/model", headers=headers, timeout=5.0)
            if response.status_code == 200:
                seen = str(response.json().get("model_version"))
                if seen == version:
                    return seen
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise Unavailable(
        f"the prediction service at {url} serves version {seen}, not {version}, after {timeout:g} s"
    )


class BackgroundTraffic:
    """Single requests in a loop while a promotion runs: proves the swap fails none."""

    def __init__(self, url: str, schema, headers: dict, *, seed: int, drift: dict) -> None:
        from mlops_core.synthetic import Drift, generate

        frame = generate(schema, 200, seed=seed, drift=Drift(**drift))
        self.records = json.loads(frame[schema.feature_names].to_json(orient="records"))
        self.url, self.headers = url, headers
        self.sent = self.failed = 0
        self.versions: dict[str, int] = {}
        self.errors: list[str] = []
        self._stop = False

    def _loop(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30.0) as client:
            i = 0
            while not self._stop:
                try:
                    response = client.post("/v1/predict", json=self.records[i % len(self.records)])
                    ok = response.status_code == 200
                    if ok:
                        version = str(response.json()["model_version"])
                        self.versions[version] = self.versions.get(version, 0) + 1
                    else:
                        self.errors.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    ok = False
                    self.errors.append(type(exc).__name__)
                self.sent += 1
                self.failed += not ok
                i += 1
                time.sleep(0.02)

    def __enter__(self) -> BackgroundTraffic:
        import threading

        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop = True
        self._thread.join(timeout=60)

    def summary(self) -> str:
        by_version = ", ".join(f"v{v}: {n}" for v, n in sorted(self.versions.items()))
        return f"{self.sent} requests during the swap ({by_version}), {self.failed} failed"

    def as_dict(self) -> dict:
        return {
            "requests": self.sent,
            "failed": self.failed,
            "by_version": self.versions,
            "errors": self.errors[:5],
        }


# -- the loop --------------------------------------------------------------------------------


def run(options: Options, quiet: bool = False) -> dict:
    platform = get_settings()
    schema = platform.load_schema()
    platform.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = platform.run_dir / "pipeline.log"
    log_path.write_text("")
    p = Pipeline(options, platform, quiet=quiet, log_path=log_path)
    started = time.perf_counter()
    o = options
    drift = drift_for(schema, o.drift_factor)
    headers = _service_headers()
    summary: dict[str, Any] = {"ok": True, "home": str(platform.home), "log": str(log_path)}

    up = p.stage("start the embedded services (MLflow, Evidently UI)", ["up"])
    p.note(", ".join(f"{s['service']} {s.get('url') or '(not yet)'}" for s in up["services"]))

    v1 = p.stage(
        f"ingest {o.rows} synthetic rows",
        ["ingest", "--synthetic", str(o.rows), "--seed", str(o.seed)],
    )
    p.note(f"{v1['data_version']} ({'new' if v1.get('created') else 'already registered'})")

    t1 = p.stage(f"train on {v1['data_version']}", ["train", "--data-version", v1["data_version"]])
    p.note(_train_note(t1))

    p1 = p.stage("promote the challenger", ["promote"])
    p.note(_promote_note(p1))

    up = p.stage("serve the champion", ["up"])
    url = _service_url(up)
    if not url:
        raise StepFailed(f"the prediction service did not start: {up}")
    _wait_for_version(url, p1["model_version"], headers)
    p.note(f"prediction service at {url} serves v{p1['model_version']}")

    normal = p.client_step(
        f"send {o.traffic} requests of realistic traffic (feedback for {o.feedback_share:.0%})",
        lambda: send_traffic(
            url,
            schema,
            rows=o.traffic,
            single=o.single_requests,
            seed=o.seed + 1000,
            feedback_share=o.feedback_share,
            drift=None,
            headers=headers,
        ),
    )
    p.note(_traffic_note(normal))
    time.sleep(1.0)  # the service writes its prediction log in the background

    m1 = p.stage("monitor the traffic", ["monitor", "--last", str(o.traffic)], ok=(0, 6, 7))
    p.note(_monitor_note(m1))

    drifted = p.client_step(
        f"send {o.traffic} requests of drifted traffic",
        lambda: send_traffic(
            url,
            schema,
            rows=o.traffic,
            single=o.single_requests,
            seed=o.seed + 2000,
            feedback_share=o.feedback_share,
            drift=drift,
            headers=headers,
        ),
    )
    p.note(_traffic_note(drifted))
    time.sleep(1.0)

    m2 = p.stage("monitor the drifted traffic", ["monitor", "--last", str(o.traffic)], ok=(0, 6, 7))
    p.note(_monitor_note(m2))

    v2 = p.stage(
        "ingest new data (the drifted population)",
        [
            "ingest",
            "--synthetic",
            str(o.rows),
            "--seed",
            str(o.seed + 1),
            *ingest_drift_args(drift),
        ],
    )
    p.note(f"{v2['data_version']} ({'new' if v2.get('created') else 'already registered'})")

    t2 = p.stage(
        f"retrain on {v2['data_version']}", ["train", "--data-version", v2["data_version"]]
    )
    p.note(_train_note(t2))

    with BackgroundTraffic(url, schema, headers, seed=o.seed + 4000, drift=drift) as during:
        p2 = p.stage("promote the new challenger (with traffic running)", ["promote"])
        _wait_for_version(url, p2["model_version"], headers)
    p.note(_promote_note(p2) + f"; {during.summary()}")

    served = p.client_step(
        "check the service answers with the new version",
        lambda: {
            "version": _wait_for_version(url, p2["model_version"], headers),
            **send_traffic(
                url,
                schema,
                rows=20,
                single=20,
                seed=o.seed + 3000,
                feedback_share=0.0,
                drift=drift,
                headers=headers,
            ),
        },
    )
    p.note(f"answers with v{served['version']} ({served['failed_requests']} failed requests)")
    if served["model_versions"] != [p2["model_version"]]:
        raise StepFailed(
            f"the prediction service answered with versions {served['model_versions']}, "
            f"expected {p2['model_version']}"
        )

    status = p.stage("collect the URLs", ["status"])
    urls = {s["service"]: s["url"] for s in status.get("services", []) if s.get("running")}
    summary.update(
        {
            "seconds": round(time.perf_counter() - started, 1),
            "data_versions": [v1["data_version"], v2["data_version"]],
            "models": [_model_summary(t1, p1), _model_summary(t2, p2)],
            "traffic": {"normal": normal, "drifted": drifted, "during_swap": during.as_dict()},
            "monitoring": [_monitor_summary(m1), _monitor_summary(m2)],
            "champion": p2["model_version"],
            "gitops": {"repo": p2["gitops_repo"], "commit": p2.get("commit")},
            "urls": {
                "mlflow_ui": urls.get("mlflow"),
                "swagger": f"{url}/docs",
                "prediction_service": url,
                "evidently_ui": next(
                    (u for name, u in urls.items() if "evidently" in name or "monitor" in name),
                    None,
                ),
            },
            "steps": p.steps,
        }
    )
    return summary


def _train_note(t: dict) -> str:
    metrics = t.get("metrics") or {}
    shown = ", ".join(
        f"{k}={metrics[k]:.4g}" for k in ("test_rmse", "test_r2", "test_mape") if k in metrics
    )
    return f"v{t.get('model_version')} gate {t.get('gate')}: {shown}"


def _promote_note(r: dict) -> str:
    reload = r.get("reload") or {}
    served = f"; service {reload.get('how')}" if reload.get("ok") else ""
    commit = (r.get("commit") or "")[:10]
    return (
        f"champion v{r['model_version']} (was {r.get('previous_version') or 'none'}), "
        f"commit {commit} in {r['gitops_repo']}{served}"
    )


def _traffic_note(t: dict) -> str:
    return (
        f"{t['predictions']} predictions, {t['feedback']} labels, "
        f"{t['failed_requests']} failed, model {', '.join(t['model_versions'])}"
    )


def _monitor_note(m: dict) -> str:
    share = m.get("drift_share")
    rmse = m.get("rmse")
    return (
        f"{m.get('status')}: drift share {share if share is None else f'{share:.2f}'}"
        + (
            f", drifted {', '.join(m.get('drifted_columns') or [])}"
            if m.get("drifted_columns")
            else ""
        )
        + (f", rmse {rmse:.4g}" if isinstance(rmse, int | float) else "")
    )


def _model_summary(t: dict, p: dict) -> dict:
    return {
        "version": t.get("model_version"),
        "data_version": t.get("data_version"),
        "gate": t.get("gate"),
        "metrics": {k: v for k, v in (t.get("metrics") or {}).items() if k.startswith("test_")},
        "promoted": p.get("model_version") == t.get("model_version"),
    }


def _monitor_summary(m: dict) -> dict:
    keys = (
        "status",
        "drift_share",
        "drifted_columns",
        "rows",
        "rmse",
        "report_html",
        "report_json",
        "model_version",
    )
    return {k: m.get(k) for k in keys}


def human(console, s: dict) -> None:
    console.print(f"\n[bold green]The loop ran in {s['seconds']:.0f} s[/] (state in {s['home']})")
    console.print(f"  data versions: {', '.join(s['data_versions'])}")
    for m in s["models"]:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in m["metrics"].items())
        console.print(
            f"  model v{m['version']} on {m['data_version']}: gate {m['gate']}; {metrics}"
        )
    console.print(
        f"  champion: v{s['champion']} (gitops commit {str(s['gitops']['commit'])[:10]}"
        f" in {s['gitops']['repo']})"
    )
    for label, m in zip(("normal traffic", "drifted traffic"), s["monitoring"], strict=True):
        console.print(f"  monitoring, {label}: {m['status']} (drift share {m['drift_share']})")
        console.print(f"    report: {m['report_html']}")
    console.print("  open:")
    for name, url in s["urls"].items():
        if url:
            console.print(f"    {name.replace('_', ' ')}: {url}")
    console.print("  stop the services with `make down` (or `mlops down`)")
