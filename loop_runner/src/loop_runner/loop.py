"""`mlops pipeline run`: the whole loop on the embedded runtime, for one or several models,
one stage command at a time per model.

Every stage runs through `mlops_core.taskrun` (`mlops ... --model M --json` as a
subprocess, exactly as a local Airflow task of M's DAG runs it) and its result is read as
the stage's contract; nothing here imports a stage. Client traffic goes over HTTP through
`mlops_core.traffic`. How the models are served (one service for all, or one per model)
is loop_runner.serving's business only.

The models' loops run side by side (a thread each; the stage commands are processes) and
meet once: serving starts when every model has a champion. Promotions, which commit to the
one GitOps repository, take turns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from loop_runner import report
from loop_runner.scenario import client_records, drift_for, ingest_drift_args
from loop_runner.serving import Serving
from loop_runner.steps import StepFailed, Steps
from mlops_core.apikeys import ApiKeySettings
from mlops_core.contracts import ExitCode, Service
from mlops_core.contracts.deploy import PromoteResult
from mlops_core.contracts.ingest import IngestResult
from mlops_core.contracts.monitor import MonitorResult
from mlops_core.contracts.pipeline import PipelineResult
from mlops_core.contracts.train import TrainResult
from mlops_core.errors import BadInput, Unavailable
from mlops_core.modelspec import ModelFolder
from mlops_core.settings import PlatformSettings, get_settings
from mlops_core.traffic import PredictionClient

MONITOR_OUTCOMES = (int(ExitCode.OK), int(ExitCode.DRIFT), int(ExitCode.INSUFFICIENT_DATA))
STEPS_PER_MODEL = 12


@dataclass
class Options:
    rows: int = 5000
    seed: int = 42
    traffic: int = 1200
    single_requests: int = 200
    feedback_share: float = 0.5
    drift_factor: float = 1.6
    side_by_side: bool = True


def _wait_for_version(client: PredictionClient, version: str, timeout: float = 90.0) -> str:
    seen = client.wait_for_version(version, timeout)
    if seen != version:
        raise Unavailable(
            f"the prediction service at {client.url} serves version {seen}, not {version}, "
            f"after {timeout:g} s"
        )
    return seen


def _ingested(result: IngestResult) -> str:
    return f"{result.data_version} ({'new' if result.created else 'already registered'})"


def select_models(platform: PlatformSettings, names: list[str] | None) -> list[ModelFolder]:
    """The named model folders (each once, in the order given), else every model folder."""
    if not names:
        folders = platform.models()
        if not folders:
            platform.model_folder(None)  # BadInput: how to add a model
        return folders
    chosen: list[ModelFolder] = []
    for name in names:
        folder = platform.model_folder(name)
        if folder.name in {f.name for f in chosen}:
            raise BadInput(f"--model {name!r} is given twice")
        chosen.append(folder)
    return chosen


class ModelRun:
    """One model's loop: its steps, results and traffic."""

    def __init__(self, folder: ModelFolder, options: Options, steps: Steps, gitops_lock):
        self.folder = folder
        self.name = folder.name
        self.o = options
        self.p = steps
        self.gitops_lock = gitops_lock
        self.schema = folder.schema
        self.drift = drift_for(self.schema, options.drift_factor)
        self.started = time.perf_counter()

    def traffic(self, client: PredictionClient, rows: int, seed: int, drifted: bool, share):
        records, labels = client_records(
            self.schema, rows, seed=seed, drift=self.drift if drifted else None
        )
        return client.send(
            records,
            labels,
            single=min(self.o.single_requests, rows),
            feedback_share=share,
            seed=seed,
        ).as_dict()

    def promote(self, title: str) -> PromoteResult:
        with self.gitops_lock:  # one GitOps repository: promotions take turns
            return self.p.stage(title, ["promote"], model=PromoteResult)

    def first_champion(self) -> None:
        """ingest data-v1 -> train -> promote."""
        p, o = self.p, self.o
        self.v1 = p.stage(
            f"ingest {o.rows} synthetic rows",
            ["ingest", "--synthetic", str(o.rows), "--seed", str(o.seed)],
            model=IngestResult,
        )
        p.note(_ingested(self.v1))
        self.t1 = p.stage(
            f"train on {self.v1.data_version}",
            ["train", "--data-version", str(self.v1.data_version)],
            model=TrainResult,
        )
        p.note(report.train_note(self.t1))
        self.p1 = self.promote("promote the challenger")
        p.note(report.promote_note(self.p1))

    def serve_and_retrain(self, serving: Serving) -> None:
        """traffic -> monitor -> drifted traffic -> monitor -> ingest data-v2 -> retrain ->
        promote under traffic -> the service answers with the new version."""
        p, o = self.p, self.o
        client = serving.client(self.name)
        try:
            p.client(
                "wait for the service to serve the champion",
                lambda: _wait_for_version(client, self.p1.model_version),
            )
            p.note(f"{serving.predict_url(self.name)} serves v{self.p1.model_version}")
            self.normal = p.client(
                f"send {o.traffic} requests of realistic traffic "
                f"(feedback for {o.feedback_share:.0%})",
                lambda: self.traffic(client, o.traffic, o.seed + 1000, False, o.feedback_share),
            )
            p.note(report.traffic_note(self.normal))
            if not self.normal["predictions"]:
                raise StepFailed(
                    f"the prediction service at {serving.predict_url(self.name)} answered none "
                    f"of {o.traffic} requests for {self.name} (its log: "
                    f"{serving.log_of(self.name)})"
                )
            time.sleep(1.0)  # the service writes its prediction log in the background

            monitor = ["monitor", "--last", str(o.traffic)]
            self.m1 = p.stage(
                "monitor the traffic", monitor, ok=MONITOR_OUTCOMES, model=MonitorResult
            )
            p.note(report.monitor_note(self.m1))

            self.drifted = p.client(
                f"send {o.traffic} requests of drifted traffic",
                lambda: self.traffic(client, o.traffic, o.seed + 2000, True, o.feedback_share),
            )
            p.note(report.traffic_note(self.drifted))
            time.sleep(1.0)

            self.m2 = p.stage(
                "monitor the drifted traffic", monitor, ok=MONITOR_OUTCOMES, model=MonitorResult
            )
            p.note(report.monitor_note(self.m2))

            self.v2 = p.stage(
                "ingest new data (the drifted population)",
                [
                    "ingest",
                    "--synthetic",
                    str(o.rows),
                    "--seed",
                    str(o.seed + 1),
                    *ingest_drift_args(self.drift),
                ],
                model=IngestResult,
            )
            p.note(_ingested(self.v2))

            self.t2 = p.stage(
                f"retrain on {self.v2.data_version}",
                ["train", "--data-version", str(self.v2.data_version)],
                model=TrainResult,
            )
            p.note(report.train_note(self.t2))

            swap_records, _ = client_records(self.schema, 200, seed=o.seed + 4000, drift=self.drift)
            with serving.background_traffic(self.name, swap_records) as during:
                self.p2 = self.promote("promote the new challenger (with traffic running)")
                _wait_for_version(client, self.p2.model_version)
            self.during = during.as_dict()
            p.note(report.promote_note(self.p2) + f"; {during.summary()}")

            served = p.client(
                "check the service answers with the new version",
                lambda: {
                    "version": _wait_for_version(client, self.p2.model_version),
                    **self.traffic(client, 20, o.seed + 3000, True, 0.0),
                },
            )
        finally:
            client.close()
        p.note(f"answers with v{served['version']} ({served['failed_requests']} failed requests)")
        if served["model_versions"] != [self.p2.model_version]:
            raise StepFailed(
                f"the prediction service answered {self.name} with versions "
                f"{served['model_versions']}, expected {self.p2.model_version}"
            )

    def result(self, serving: Serving) -> dict[str, Any]:
        return {
            "model": self.name,
            "task": str(getattr(self.schema, "task", "regression")),
            "log": str(self.p.log_path),
            "seconds": round(sum(s.seconds for s in self.p.steps), 1),
            "data_versions": [self.v1.data_version, self.v2.data_version],
            "versions": [
                report.model_summary(self.t1, self.p1),
                report.model_summary(self.t2, self.p2),
            ],
            "traffic": {
                "normal": self.normal,
                "drifted": self.drifted,
                "during_swap": self.during,
            },
            "monitoring": [report.monitor_summary(self.m1), report.monitor_summary(self.m2)],
            "champion": self.p2.model_version,
            "gitops": {
                "repo": self.p2.gitops_repo,
                "commit": self.p2.commit,
                "values_files": list(self.p2.values_files),
            },
            "prediction_service": serving.urls[self.name],
            "predict_url": serving.predict_url(self.name),
            "steps": self.p.steps,
        }


def _each(runs: list[ModelRun], work: Callable[[ModelRun], None], side_by_side: bool) -> None:
    """work(run) for every model: side by side (a thread each) or one after the other. The
    first failure wins; the other models stop at their next step."""
    if not side_by_side or len(runs) < 2:
        for run in runs:
            work(run)
        return
    errors: list[Exception] = []
    with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="model") as pool:
        futures = [pool.submit(work, run) for run in runs]
        for future in as_completed(futures):  # the first failure, whichever model's
            try:
                future.result()
            except Exception as exc:  # re-raised below, once every model stopped
                errors.append(exc)
                for run in runs:
                    run.p.cancel.set()
    if errors:
        real = [e for e in errors if not getattr(e, "cancelled", False)]
        raise (real or errors)[0]


def run(options: Options, models: list[str] | None = None, quiet: bool = False) -> PipelineResult:
    platform = get_settings()
    folders = select_models(platform, models)
    platform.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = platform.run_dir / "pipeline.log"
    log_path.write_text("")
    p = Steps(log_path, quiet=quiet, total=3)
    started = time.perf_counter()
    headers = ApiKeySettings().headers()
    cancel = threading.Event()
    gitops_lock = threading.Lock()
    runs = []
    for folder in folders:
        model_log = platform.run_dir / f"pipeline-{folder.name}.log"
        model_log.write_text("")
        steps = Steps(
            model_log, quiet=quiet, total=STEPS_PER_MODEL, model=folder.name, cancel=cancel
        )
        runs.append(ModelRun(folder, options, steps, gitops_lock))
    names = [r.name for r in runs]
    side_by_side = options.side_by_side and len(runs) > 1

    up = p.stage("start the embedded services (MLflow, Evidently UI)", ["up"])
    p.note(", ".join(f"{s['service']} {s.get('url') or '(not yet)'}" for s in up["services"]))

    _each(runs, ModelRun.first_champion, side_by_side)
    serving = Serving(platform, names, headers)
    serving.start(p, {r.name: r.p for r in runs})  # once every model has a champion
    _each(runs, lambda r: r.serve_and_retrain(serving), side_by_side)

    status = p.stage("collect the URLs", ["status"])
    urls = {s["service"]: s["url"] for s in status.get("services", []) if s.get("running")}
    first_url = serving.urls[names[0]]
    return PipelineResult.model_validate(
        {
            "ok": True,
            "home": str(platform.home),
            "log": str(log_path),
            "seconds": round(time.perf_counter() - started, 1),
            "serving": serving.how,
            "side_by_side": side_by_side,
            "models": [r.result(serving) for r in runs],
            "urls": {
                "mlflow_ui": urls.get(Service.MLFLOW.value),
                "swagger": f"{first_url}/docs",
                "prediction_service": first_url,
                "evidently_ui": next(
                    (u for name, u in urls.items() if "evidently" in name or "monitor" in name),
                    None,
                ),
            },
            "steps": p.steps,
        }
    )
