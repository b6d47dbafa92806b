"""The retraining path of the embedded runtime: `mlops ingest` (when a source is given), then
`mlops train`, each as a subprocess: the command line is the contract between stages.
(Under Airflow the DAG branches on the `retrain_advised` field of `mlops monitor --json`.)"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from typing import Any

log = logging.getLogger("mlops.monitor")


def mlops_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_core.cli", *args]


def _run(args: list[str], timeout: float) -> dict[str, Any]:
    argv = mlops_argv(*args)
    log.info("retraining: running %s", " ".join(["mlops", *args]))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        error = f"timed out after {timeout:.0f}s"
        return {"command": ["mlops", *args], "exit_code": None, "error": error}
    out: dict[str, Any] = {"command": ["mlops", *args], "exit_code": proc.returncode}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        with contextlib.suppress(ValueError):
            out["result"] = json.loads(lines[-1])
    if proc.returncode != 0:
        out["stderr_tail"] = "\n".join(proc.stderr.splitlines()[-10:])
    return out


def retrain(
    source: str | None = None,
    synthetic: int | None = None,
    seed: int | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run ingest (when source/synthetic) then train; returns what was started and how it ended."""
    steps: list[dict[str, Any]] = []
    data_version = None
    if source is not None or synthetic is not None:
        args = ["ingest", "--json"]
        args += ["--source", source] if source is not None else ["--synthetic", str(synthetic)]
        if seed is not None:
            args += ["--seed", str(seed)]
        step = _run(args, timeout)
        steps.append(step)
        if step["exit_code"] != 0:
            return {"triggered": True, "ok": False, "steps": steps}
        data_version = (step.get("result") or {}).get("data_version")
    args = ["train", "--json"] + (["--data-version", data_version] if data_version else [])
    step = _run(args, timeout)
    steps.append(step)
    result = step.get("result") or {}
    return {
        "triggered": True,
        # exit 3 = the new model was trained but refused by the quality gate: the path ran.
        "ok": step["exit_code"] in (0, 3),
        "steps": steps,
        "data_version": data_version or result.get("data_version"),
        "model_version": result.get("model_version"),
        "gate": result.get("gate"),
    }
