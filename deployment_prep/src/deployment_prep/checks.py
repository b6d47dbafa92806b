"""Run the deployable checks of a model version in a clean subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlops_core.errors import GateRefused, Unavailable


def pull_splits(platform, data_version: str, dest: Path) -> dict[str, Path]:
    """The train/val/test Parquet files of a data version, from the data registry."""
    from mlops_core.registry import DataRegistry

    return DataRegistry.from_settings(platform).pull(data_version, dest)


def run_checks(platform, settings, candidate, work: Path) -> dict:
    """Check `candidate` as a deployable; returns the worker's result (GateRefused on a
    failed check, Unavailable when the registry cannot be read)."""
    if not candidate.data_version:
        raise GateRefused(
            f"model {candidate.name} version {candidate.version} has no data_version tag "
            "(neither on the version nor on its run): its lineage is unknown",
            details={"model_version": candidate.version},
        )
    splits = pull_splits(platform, candidate.data_version, work / "data")
    spec = {
        "model_uri": candidate.uri,
        "tracking_uri": platform.tracking_uri,
        "model_dir": str(work / "model"),
        "train": str(splits["train"]),
        "test": str(splits["test"]),
        "schema": platform.load_schema().as_dict(),
        "check_rows": settings.check_rows,
        "range_margin": settings.range_margin,
        "max_out_of_range": settings.max_out_of_range,
        "latency_samples": settings.latency_samples,
        "latency_budget_ms": settings.latency_budget_ms,
    }
    (work / "model").mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "deployment_prep.check_worker"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=settings.check_timeout,
            env=_worker_env(platform.tracking_uri),
        )
    except subprocess.TimeoutExpired as exc:
        raise GateRefused(
            f"the deployable checks of {candidate.name} v{candidate.version} took longer than "
            f"{settings.check_timeout:g} s (MLOPS_PROMOTE_CHECK_TIMEOUT)"
        ) from exc
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-10:])
        raise GateRefused(
            f"the check process for {candidate.name} v{candidate.version} failed "
            f"(exit {proc.returncode}):\n{tail}"
        )
    result = json.loads(lines[-1])
    if result.get("error_kind") == "download":
        raise Unavailable(
            f"cannot download {candidate.uri} from the model registry: {result['error']}"
        )
    if result.get("error_kind"):
        raise GateRefused(f"the checks of {candidate.uri} failed: {result['error']}")
    failed = [c for c in result.get("checks", []) if not c["ok"]]
    if failed:
        reasons = "; ".join(f"{c['name']}: {c['detail']}" for c in failed)
        raise GateRefused(
            f"model {candidate.name} version {candidate.version} is not deployable: {reasons}",
            details={"model_version": candidate.version, "checks": result.get("checks", [])},
        )
    return result


def _worker_env(tracking_uri: str) -> dict[str, str]:
    import os

    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONWARNINGS": "ignore"}
    return env
