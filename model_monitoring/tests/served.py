"""A real `mlops serve` (uvicorn) for the monitoring tests, and a client that sends it traffic
the way a client application does: predictions one by one and in batches, then feedback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from mlops_core import predlog
from mlops_core.services import free_port
from mlops_core.synthetic import Drift, generate


@dataclass
class Served:
    url: str
    home: Path
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _mlops() -> list[str]:
    exe = Path(sys.executable).parent / "mlops"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mlops_core.cli"]


@contextmanager
def serving(
    home: Path, env: dict[str, str], model: str, timeout: float = 120, poll: float = 0
) -> Iterator[Served]:
    """`mlops serve --model MODEL` on a free port, logging to HOME's prediction log; stopped
    with SIGTERM (graceful: the log writer flushes) when the block ends. `poll`: seconds
    between its polls of the model's alias (0: it serves one version)."""
    port = free_port()
    log_path = home / f"serve-{port}.log"
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")},
        "MLOPS_HOME": str(home),
        "MLOPS_LOG_FORMAT": "json",
        **env,
    }
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [*_mlops(), "serve", "--model", model, "--port", str(port), "--poll", str(poll)],
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(f"http://127.0.0.1:{port}", home, proc, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlops serve exited {proc.returncode}:\n{served.log()}")
            try:
                if httpx.get(served.url + "/v1/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlops serve did not become ready:\n{served.log()}")
            time.sleep(0.3)
        yield served
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def send_traffic(
    served: Served,
    schema,
    rows: int,
    seed: int,
    drift: Drift | None = None,
    labelled: bool = True,
    single: int = 40,
) -> list[str]:
    """Predict `rows` generated records (`single` one per request, the rest in batches of
    200), then report each true label when `labelled`; returns the request ids."""
    frame = generate(schema, rows, seed=seed, drift=drift)
    records = json.loads(frame[schema.feature_names].to_json(orient="records"))
    ids: list[str] = []
    with httpx.Client(base_url=served.url, timeout=60) as client:
        for record in records[:single]:
            response = client.post("/v1/predict", json=record)
            assert response.status_code == 200, response.text
            ids.append(response.json()["request_id"])
        for start in range(single, rows, 200):
            response = client.post(
                "/v1/predict/batch", json={"records": records[start : start + 200]}
            )
            assert response.status_code == 200, response.text
            ids += response.json()["request_ids"]
        if labelled:
            for request_id, label in zip(ids, frame[schema.label.name], strict=True):
                response = client.post(
                    "/v1/feedback", json={"request_id": request_id, "label": float(label)}
                )
                assert response.status_code == 202, response.text
    return ids


def wait_for_log(url: str, ids: list[str], labelled: bool, timeout: float = 60) -> None:
    """Until every request id is in the prediction log (and its label, when labelled): the
    service writes the log off the request path."""
    p, f = predlog.predictions, predlog.feedback
    deadline = time.monotonic() + timeout
    while True:
        engine = predlog.create_engine(url)
        try:
            with engine.connect() as conn:
                logged = conn.execute(
                    sa.select(sa.func.count()).select_from(p).where(p.c.request_id.in_(ids))
                ).scalar_one()
                labels = conn.execute(
                    sa.select(sa.func.count()).select_from(f).where(f.c.request_id.in_(ids))
                ).scalar_one()
        except sa.exc.OperationalError:  # the service has not created the tables yet
            logged = labels = 0
        finally:
            engine.dispose()
        if logged == len(ids) and labels == (len(ids) if labelled else 0):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{logged}/{len(ids)} predictions and {labels} labels logged")
        time.sleep(0.2)
