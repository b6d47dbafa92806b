"""The retraining trigger of `mlops monitor --trigger-retrain`: start another stage's work.

Monitoring never runs training code itself. It goes through the same runner contract the
DAGs use:
- with the local task runner (MLOPS_TASK_RUNNER unset or `local`) and the stage commands
  installed next to it (the embedded runtime), `mlops ingest --model M` (when a source is
  given) then `mlops train --model M`, each through `mlops_core.taskrun`, results read as
  their `--json` contract;
- otherwise (a monitoring-only image, or the kubernetes runner), with MLOPS_RETRAIN_AIRFLOW_URL
  set, the model's training DAG (`mlops_training_pipeline.<model>`) through Airflow's REST
  API (the orchestrator runs each stage in its own image); without it, a clear refusal
  naming what to set.
Under Airflow the monitoring DAG itself branches on `retrain_advised` and triggers training.
Retraining is always of the monitored model only.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from mlops_core import taskrun
from mlops_core.contracts import ExitCode, parse_payload
from mlops_core.contracts.ingest import IngestResult
from mlops_core.contracts.train import TrainResult
from mlops_core.errors import BadInput, Unavailable
from mlops_core.settings import StageSettings

log = logging.getLogger("mlops.monitor")

TRAINING_DAG_PREFIX = "mlops_training_pipeline"


def training_dag_id(model: str) -> str:
    """The training DAG of one model (the DAGs are generated per model folder)."""
    return f"{TRAINING_DAG_PREFIX}.{model}"


RUNNER_VARIABLE = "MLOPS_TASK_RUNNER"
NEEDED = ("ingest", "train")


class RetrainSettings(StageSettings):
    """Where retraining is started when this process cannot run it (MLOPS_RETRAIN_*)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_RETRAIN_")

    airflow_url: str | None = Field(
        None, description="Airflow's base URL; set: trigger the training DAG through its API"
    )
    airflow_username: str | None = Field(None, description="user for Airflow's /auth/token")
    airflow_password: SecretStr | None = Field(None, description="that user's password")
    airflow_token: SecretStr | None = Field(None, description="a ready API token instead")
    dag_id: str | None = Field(
        None,
        description="the DAG that ingests and trains; default: the model's "
        "mlops_training_pipeline.<model>",
    )


def installed_commands() -> set[str]:
    """The `mlops` commands of this installation (what its stage image holds): every
    installed stage's commands, registered on a probe app as `mlops` registers them."""
    from importlib.metadata import entry_points

    import typer

    probe = typer.Typer()
    for ep in entry_points(group="mlops.commands"):
        ep.load()(probe)
    names = {c.name or c.callback.__name__ for c in probe.registered_commands if c.callback}
    return names | {g.name for g in probe.registered_groups if g.name}


def retrain(
    model: str,
    source: str | None = None,
    synthetic: int | None = None,
    seed: int | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Start retraining of `model`; returns what was started and how it ended (or was
    handed over)."""
    settings = RetrainSettings()
    dag_id = settings.dag_id or training_dag_id(model)
    runner = (os.environ.get(RUNNER_VARIABLE) or "local").strip().lower()
    missing = [c for c in NEEDED if c not in installed_commands()]
    if runner == "local" and not missing:
        return _run_locally(model, source, synthetic, seed)
    if settings.airflow_url:
        return _trigger_dag(settings, dag_id, source, synthetic, seed, reason)
    where = (
        f"the commands {', '.join(f'`mlops {c}`' for c in missing)} are not installed here "
        "(a monitoring-only image)"
        if missing
        else f"{RUNNER_VARIABLE}={runner} runs each stage in its own image"
    )
    raise BadInput(
        f"--trigger-retrain cannot start retraining: {where}; set MLOPS_RETRAIN_AIRFLOW_URL "
        f"to trigger the {dag_id} DAG through Airflow's REST API (or let the "
        f"mlops_monitoring.{model} DAG trigger it)"
    )


def _step(args: list[str], accept: tuple[int, ...]) -> dict[str, Any]:
    command = ["mlops", *args, "--json"]
    log.info("retraining: running %s", " ".join(command))
    entry: dict[str, Any] = {"command": command}
    try:
        # taskrun streams the command's output; here it goes to the log at debug level.
        outcome = taskrun.run(
            command, accept=accept, sink=lambda _stream, line: log.debug("%s", line)
        )
    except taskrun.TaskFailed as exc:
        entry.update(
            exit_code=exc.outcome.exit_code,
            result=exc.outcome.result or None,
            error=str(exc),
            stderr_tail="\n".join(exc.outcome.stderr_tail[-10:]),
        )
        return entry
    entry.update(exit_code=outcome.exit_code, result=outcome.payload())
    return entry


def _run_locally(
    model: str, source: str | None, synthetic: int | None, seed: int | None
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    data_version = None
    if source is not None or synthetic is not None:
        args = ["ingest", "--model", model]
        args += ["--source", source] if source is not None else ["--synthetic", str(synthetic)]
        if seed is not None:
            args += ["--seed", str(seed)]
        step = _step(args, (int(ExitCode.OK),))
        steps.append(step)
        if step["exit_code"] != 0:
            return {"triggered": True, "how": "local", "ok": False, "steps": steps}
        data_version = parse_payload(step["result"], IngestResult).data_version
    args = ["train", "--model", model]
    args += ["--data-version", data_version] if data_version else []
    # Exit 3: trained but refused by the quality gate; the retraining path itself ran.
    step = _step(args, (int(ExitCode.OK), int(ExitCode.GATE_REFUSED)))
    steps.append(step)
    # A refused gate prints the TrainResult fields inside its error result.
    trained = parse_payload(step["result"], TrainResult) if step.get("result") else None
    return {
        "triggered": True,
        "how": "local",
        "ok": "error" not in step,
        "steps": steps,
        "data_version": data_version or getattr(trained, "data_version", None),
        "model_version": getattr(trained, "model_version", None),
        "gate": getattr(trained, "gate", None),
    }


def _trigger_dag(
    settings: RetrainSettings,
    dag_id: str,
    source: str | None,
    synthetic: int | None,
    seed: int | None,
    reason: str | None,
) -> dict[str, Any]:
    """POST /api/v2/dags/{dag}/dagRuns: the orchestrator runs ingest and train."""
    import httpx

    base = str(settings.airflow_url).rstrip("/")
    conf: dict[str, Any] = {"reason": reason or "retraining advised by mlops monitor"}
    if source is not None:
        conf["source"] = source
    if synthetic is not None:
        conf["synthetic_rows"] = synthetic
    if seed is not None:
        conf["seed"] = seed
    run_id = f"retrain__monitor__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    try:
        with httpx.Client(base_url=base, timeout=30.0) as client:
            headers = {"Authorization": f"Bearer {_token(client, settings)}"}
            response = client.post(
                f"/api/v2/dags/{dag_id}/dagRuns",
                json={"dag_run_id": run_id, "logical_date": None, "conf": conf},
                headers=headers,
            )
    except httpx.HTTPError as exc:
        raise Unavailable(f"Airflow at {base} cannot be reached: {exc}") from exc
    if response.status_code >= 300:
        raise Unavailable(
            f"Airflow at {base} refused to trigger {dag_id} "
            f"(HTTP {response.status_code}): {response.text[:300]}"
        )
    body = response.json()
    return {
        "triggered": True,
        "how": "airflow",
        "ok": True,
        "dag_id": dag_id,
        "dag_run_id": body.get("dag_run_id", run_id),
        "url": f"{base}/dags/{dag_id}/runs/{body.get('dag_run_id', run_id)}",
        "conf": conf,
    }


def _token(client, settings: RetrainSettings) -> str:
    if settings.airflow_token is not None:
        return settings.airflow_token.get_secret_value()
    if settings.airflow_username and settings.airflow_password is not None:
        body = {
            "username": settings.airflow_username,
            "password": settings.airflow_password.get_secret_value(),
        }
        response = client.post("/auth/token", json=body)
    else:  # simple auth manager with every user an admin (the embedded `airflow standalone`)
        response = client.get("/auth/token")
    if response.status_code >= 300:
        raise Unavailable(
            f"Airflow at {client.base_url} gave no API token (HTTP {response.status_code}); "
            "set MLOPS_RETRAIN_AIRFLOW_TOKEN, or _USERNAME and _PASSWORD"
        )
    return str(response.json()["access_token"])
