"""`mlops pipeline run`: the whole loop on the embedded runtime, one stage command at a time.

Every stage runs through `mlops_core.taskrun` (`mlops ... --json` as a subprocess, exactly
as a local Airflow task runs it) and its result is read as the stage's contract; nothing
here imports a stage. Client traffic goes over HTTP through `mlops_core.traffic`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loop_runner import report
from loop_runner.scenario import client_records, drift_for, ingest_drift_args
from loop_runner.steps import StepFailed, Steps
from mlops_core.apikeys import ApiKeySettings
from mlops_core.contracts import ExitCode, Service
from mlops_core.contracts.deploy import PromoteResult
from mlops_core.contracts.ingest import IngestResult
from mlops_core.contracts.monitor import MonitorResult
from mlops_core.contracts.pipeline import PipelineResult
from mlops_core.contracts.train import TrainResult
from mlops_core.errors import Unavailable
from mlops_core.settings import get_settings
from mlops_core.traffic import BackgroundTraffic, PredictionClient

PREDICTION_SERVICE = "prediction-service"
MONITOR_OUTCOMES = (int(ExitCode.OK), int(ExitCode.DRIFT), int(ExitCode.INSUFFICIENT_DATA))


@dataclass
class Options:
    rows: int = 5000
    seed: int = 42
    traffic: int = 1200
    single_requests: int = 200
    feedback_share: float = 0.5
    drift_factor: float = 1.6


def _service_url(up: dict[str, Any]) -> str | None:
    for service in up.get("services", []):
        if service.get("service") == PREDICTION_SERVICE and service.get("url"):
            return service["url"]
    return None


def _wait_for_version(client: PredictionClient, version: str, timeout: float = 60.0) -> str:
    seen = client.wait_for_version(version, timeout)
    if seen != version:
        raise Unavailable(
            f"the prediction service at {client.url} serves version {seen}, not {version}, "
            f"after {timeout:g} s"
        )
    return seen


def _ingested(result: IngestResult) -> str:
    return f"{result.data_version} ({'new' if result.created else 'already registered'})"


def run(options: Options, quiet: bool = False) -> PipelineResult:
    platform = get_settings()
    schema = platform.load_schema()
    platform.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = platform.run_dir / "pipeline.log"
    log_path.write_text("")
    p = Steps(log_path, quiet=quiet)
    started = time.perf_counter()
    o = options
    drift = drift_for(schema, o.drift_factor)
    headers = ApiKeySettings().headers()

    def traffic(client: PredictionClient, rows: int, seed: int, drifted: bool, share: float):
        records, labels = client_records(schema, rows, seed=seed, drift=drift if drifted else None)
        return client.send(
            records,
            labels,
            single=min(o.single_requests, rows),
            feedback_share=share,
            seed=seed,
        ).as_dict()

    up = p.stage("start the embedded services (MLflow, Evidently UI)", ["up"])
    p.note(", ".join(f"{s['service']} {s.get('url') or '(not yet)'}" for s in up["services"]))

    v1 = p.stage(
        f"ingest {o.rows} synthetic rows",
        ["ingest", "--synthetic", str(o.rows), "--seed", str(o.seed)],
        model=IngestResult,
    )
    p.note(_ingested(v1))

    t1 = p.stage(
        f"train on {v1.data_version}",
        ["train", "--data-version", str(v1.data_version)],
        model=TrainResult,
    )
    p.note(report.train_note(t1))

    p1 = p.stage("promote the challenger", ["promote"], model=PromoteResult)
    p.note(report.promote_note(p1))

    up = p.stage("serve the champion", ["up"])
    url = _service_url(up)
    if not url:
        raise StepFailed(f"the prediction service did not start: {up}")
    client = PredictionClient(url, headers)
    try:
        _wait_for_version(client, p1.model_version)
        p.note(f"prediction service at {url} serves v{p1.model_version}")

        normal = p.client(
            f"send {o.traffic} requests of realistic traffic (feedback for {o.feedback_share:.0%})",
            lambda: traffic(client, o.traffic, o.seed + 1000, False, o.feedback_share),
        )
        p.note(report.traffic_note(normal))
        time.sleep(1.0)  # the service writes its prediction log in the background

        monitor = ["monitor", "--last", str(o.traffic)]
        m1 = p.stage("monitor the traffic", monitor, ok=MONITOR_OUTCOMES, model=MonitorResult)
        p.note(report.monitor_note(m1))

        drifted = p.client(
            f"send {o.traffic} requests of drifted traffic",
            lambda: traffic(client, o.traffic, o.seed + 2000, True, o.feedback_share),
        )
        p.note(report.traffic_note(drifted))
        time.sleep(1.0)

        m2 = p.stage(
            "monitor the drifted traffic", monitor, ok=MONITOR_OUTCOMES, model=MonitorResult
        )
        p.note(report.monitor_note(m2))

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
            model=IngestResult,
        )
        p.note(_ingested(v2))

        t2 = p.stage(
            f"retrain on {v2.data_version}",
            ["train", "--data-version", str(v2.data_version)],
            model=TrainResult,
        )
        p.note(report.train_note(t2))

        swap_records, _ = client_records(schema, 200, seed=o.seed + 4000, drift=drift)
        with BackgroundTraffic(url, swap_records, headers) as during:
            p2 = p.stage(
                "promote the new challenger (with traffic running)",
                ["promote"],
                model=PromoteResult,
            )
            _wait_for_version(client, p2.model_version)
        p.note(report.promote_note(p2) + f"; {during.summary()}")

        served = p.client(
            "check the service answers with the new version",
            lambda: {
                "version": _wait_for_version(client, p2.model_version),
                **traffic(client, 20, o.seed + 3000, True, 0.0),
            },
        )
    finally:
        client.close()
    p.note(f"answers with v{served['version']} ({served['failed_requests']} failed requests)")
    if served["model_versions"] != [p2.model_version]:
        raise StepFailed(
            f"the prediction service answered with versions {served['model_versions']}, "
            f"expected {p2.model_version}"
        )

    status = p.stage("collect the URLs", ["status"])
    urls = {s["service"]: s["url"] for s in status.get("services", []) if s.get("running")}
    return PipelineResult.model_validate(
        {
            "ok": True,
            "home": str(platform.home),
            "log": str(log_path),
            "seconds": round(time.perf_counter() - started, 1),
            "data_versions": [v1.data_version, v2.data_version],
            "models": [report.model_summary(t1, p1), report.model_summary(t2, p2)],
            "traffic": {"normal": normal, "drifted": drifted, "during_swap": during.as_dict()},
            "monitoring": [report.monitor_summary(m1), report.monitor_summary(m2)],
            "champion": p2.model_version,
            "gitops": {"repo": p2.gitops_repo, "commit": p2.commit},
            "urls": {
                "mlflow_ui": urls.get(Service.MLFLOW.value),
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
