"""Run the deployable checks of a model version in a clean subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError

from mlops_core.contracts import ResultNotFound, read_result
from mlops_core.contracts.deploy import CheckReport
from mlops_core.errors import GateRefused, Unavailable


def data_registry(platform, model: str):
    """The data registry of one model (its own data-vN tags)."""
    import inspect

    from mlops_core.registry import DataRegistry

    if "model" in inspect.signature(DataRegistry.from_settings).parameters:
        return DataRegistry.from_settings(platform, model=model)
    return DataRegistry.from_settings(platform)  # a registry without per-model tags yet


def pull_splits(platform, model: str, data_version: str, dest: Path) -> dict[str, Path]:
    """The train/val/test Parquet files of one model's data version."""
    return data_registry(platform, model).pull(data_version, dest)


class Worker:
    """The clean check process, started early: it imports MLflow while the caller resolves
    the version, checks the GitOps checkout and pulls the data; then it gets the spec."""

    def __init__(self, tracking_uri: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deployment_prep.check_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_worker_env(tracking_uri),
        )

        self.done = False

    def communicate(self, spec: dict, timeout: float) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(json.dumps(spec), timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise
        self.done = True
        return self.proc.returncode, out, err

    def close(self) -> None:
        """Stop it when it was not needed (a refusal before the checks) or timed out."""
        if self.done:
            return
        self.done = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def start_worker(tracking_uri: str) -> Worker:
    return Worker(tracking_uri)


def run_checks(
    platform, folder, settings, candidate, work: Path, worker: Worker | None = None
) -> CheckReport:
    """Check `candidate` (a version of the model `folder`) as a deployable against that
    model's schema; returns the worker's report (GateRefused on a failed check,
    Unavailable when the registry cannot be read)."""
    if not candidate.data_version:
        raise GateRefused(
            f"model {candidate.name} version {candidate.version} has no data_version tag "
            "(neither on the version nor on its run): its lineage is unknown",
            details={"model_version": candidate.version},
        )
    splits = pull_splits(platform, folder.name, candidate.data_version, work / "data")
    spec = {
        "model_uri": candidate.uri,
        "tracking_uri": platform.tracking_uri,
        "model_dir": str(work / "model"),
        "train": str(splits["train"]),
        "test": str(splits["test"]),
        "schema": folder.schema.as_dict(),
        "check_rows": settings.check_rows,
        "range_margin": settings.range_margin,
        "max_out_of_range": settings.max_out_of_range,
        "latency_samples": settings.latency_samples,
        "latency_budget_ms": settings.latency_budget_ms,
    }
    (work / "model").mkdir(parents=True, exist_ok=True)
    worker = worker or Worker(platform.tracking_uri)
    try:
        returncode, stdout, stderr = worker.communicate(spec, settings.check_timeout)
    except subprocess.TimeoutExpired as exc:
        raise GateRefused(
            f"the deployable checks of {candidate.name} v{candidate.version} took longer than "
            f"{settings.check_timeout:g} s (MLOPS_PROMOTE_CHECK_TIMEOUT)"
        ) from exc
    try:
        result = read_result(stdout, CheckReport) if returncode == 0 else None
    except (ResultNotFound, ValidationError) as exc:
        stderr += f"\n{exc}"
        result = None
    if result is None:
        tail = "\n".join(stderr.splitlines()[-10:])
        raise GateRefused(
            f"the check process for {candidate.name} v{candidate.version} failed "
            f"(exit {returncode}):\n{tail}"
        )
    if result.error_kind == "download":
        raise Unavailable(
            f"cannot download {candidate.uri} from the model registry: {result.error}"
        )
    if result.error_kind:
        raise GateRefused(f"the checks of {candidate.uri} failed: {result.error}")
    failed = [c for c in result.checks if not c.ok]
    if failed:
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        raise GateRefused(
            f"model {candidate.name} version {candidate.version} is not deployable: {reasons}",
            details={
                "model_version": candidate.version,
                "checks": [c.model_dump() for c in result.checks],
            },
        )
    return result


def _worker_env(tracking_uri: str) -> dict[str, str]:
    import os

    # The registry is the tracking server everywhere on this platform; an inherited
    # MLFLOW_REGISTRY_URI (mlflow.set_registry_uri exports one) must not send the worker
    # to another server.
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "PYTHONWARNINGS": "ignore",
    }
