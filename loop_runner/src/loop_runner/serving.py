"""How the loop serves its models: the one place that knows.

- `one service` (the platform's design): a single prediction service serves every model of
  the loop (`mlops serve --model a --model b`, started by `mlops up` with
  MLOPS_SERVE_MODEL=a,b once every model has a champion), and a model's client uses its
  routes (`/v1/models/{name}/predict`, `/predict/batch`, `/feedback`, `GET
  /v1/models/{name}`).
- `one service per model`: when the prediction service serves one model per process, each
  model gets its own background service (`mlops serve --model models:/<m>@champion`,
  service `prediction-service-<m>` under MLOPS_HOME, stopped by `mlops down`, following the
  alias so a promotion is served without a restart) on a port of its own, and its client
  uses the single-model routes.

`start()` tries one service first and keeps it when it answers `GET /v1/models` with every
model; otherwise (a service that cannot serve several models does not start, or serves
another set) it starts one service per model. MLOPS_PIPELINE_SERVING=one-service|per-model
forces one. The loop only calls `start()`, `client(model)` and `background_traffic(...)`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from mlops_core.errors import Unavailable
from mlops_core.settings import PlatformSettings
from mlops_core.traffic import BackgroundTraffic, PredictionClient

SHARED_SERVICE = "prediction-service"
HEALTH_PATH = "/v1/health/ready"
ONE_SERVICE = "one service"
PER_MODEL = "one service per model"
MODE_VARIABLE = "MLOPS_PIPELINE_SERVING"


def forced_mode() -> str | None:
    forced = os.environ.get(MODE_VARIABLE, "").strip().lower().replace("_", "-")
    if forced in ("one-service", "shared"):
        return ONE_SERVICE
    if forced == "per-model":
        return PER_MODEL
    return None


class ModelClient(PredictionClient):
    """PredictionClient of one model of a multi-model service: its /v1/models/{name}
    routes (the traffic, feedback and version checks are PredictionClient's)."""

    def __init__(self, url: str, model: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(url, headers)
        self.model = model
        self.base = f"/v1/models/{model}"

    def predict(self, record: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"{self.base}/predict", json=record)

    def predict_batch(self, records: Sequence[dict[str, Any]]) -> httpx.Response:
        return self.http.post(f"{self.base}/predict/batch", json={"records": list(records)})

    def feedback(self, request_id: str, label: Any) -> httpx.Response:
        return self.http.post(
            f"{self.base}/feedback", json={"request_id": request_id, "label": label}
        )

    def served_version(self) -> str | None:
        try:
            response = self.http.get(self.base, timeout=5.0)
            if response.status_code != 200:
                return None
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        version = body.get("model_version") or body.get("version")
        return None if version is None else str(version)


def per_model_service(model: str) -> str:
    return f"{SHARED_SERVICE}-{model}"


@dataclass
class Serving:
    """The prediction service(s) of the loop's models."""

    platform: PlatformSettings
    models: Sequence[str]
    headers: dict[str, str]
    how: str | None = None  # decided by start()
    urls: dict[str, str] = field(default_factory=dict)

    def start(self, platform_steps, model_steps: dict[str, Any]) -> None:
        """Serve every model's champion: one service if it can, else one per model."""
        forced = forced_mode()
        if forced != PER_MODEL and self._start_shared(platform_steps):
            self.how = ONE_SERVICE
            return
        if forced == ONE_SERVICE:
            raise Unavailable(
                f"{MODE_VARIABLE}=one-service, but the prediction service does not serve "
                f"{', '.join(self.models)} in one process"
            )
        self.how = PER_MODEL

        def own(model: str) -> None:
            steps = model_steps[model]
            steps.total += 1  # its own service is one more step
            steps.client(
                "serve the champion (a service of its own)", lambda: self._start_own(model)
            )
            steps.note(f"{per_model_service(model)} at {self.urls[model]}")

        with ThreadPoolExecutor(max_workers=max(len(self.models), 1)) as pool:
            list(pool.map(own, self.models))

    def client(self, model: str) -> PredictionClient:
        """A client of `model`'s predictions, feedback and served version."""
        if self.how == ONE_SERVICE:
            return ModelClient(self.urls[model], model, self.headers)
        return PredictionClient(self.urls[model], self.headers)

    def predict_url(self, model: str) -> str:
        base = self.urls[model]
        if self.how == ONE_SERVICE:
            return f"{base}/v1/models/{model}/predict"
        return f"{base}/v1/predict"

    def log_of(self, model: str) -> str:
        """The log file of the service that serves `model`."""
        name = SHARED_SERVICE if self.how == ONE_SERVICE else per_model_service(model)
        return str(self.platform.run_dir / f"{name}.log")

    def background_traffic(self, model: str, records) -> BackgroundTraffic:
        """Single requests in a loop for `model` (a promotion under load)."""
        traffic = BackgroundTraffic(self.urls[model], records, self.headers)
        if self.how == ONE_SERVICE:
            traffic.client.close()
            traffic.client = self.client(model)
        return traffic

    # one service for every model

    def _start_shared(self, steps) -> bool:
        from mlops_core.services import ServiceManager

        manager = ServiceManager(self.platform.run_dir)
        current = manager.get(SHARED_SERVICE)
        if current and current.alive and not self._serves_all(current.url):
            manager.stop(SHARED_SERVICE)  # it serves another set of models: restart it
        up = steps.stage(
            f"serve the champions of {', '.join(self.models)} (one service)",
            ["up"],
            env={"MLOPS_SERVE_MODEL": ",".join(self.models)},
        )
        entry = next((s for s in up.get("services", []) if s.get("service") == SHARED_SERVICE), {})
        url = entry.get("url")
        if url and self._serves_all(url):
            steps.note(f"{SHARED_SERVICE} at {url} serves {', '.join(self.models)}")
            self.urls = {m: url for m in self.models}
            return True
        if url:  # it serves one model only: leave the port to the per-model services
            manager.stop(SHARED_SERVICE)
        why = entry.get("skipped") or f"{url} does not list every model"
        steps.note(f"no service for all models ({why}): one service per model")
        return False

    def _serves_all(self, url: str | None) -> bool:
        if not url:
            return False
        try:
            response = httpx.get(f"{url}/v1/models", headers=self.headers, timeout=5.0)
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return False
        entries = body.get("models", []) if isinstance(body, dict) else body
        names = {e.get("name") if isinstance(e, dict) else e for e in entries or []}
        return set(self.models) <= names

    # one service per model

    def _start_own(self, model: str) -> dict[str, Any]:
        import shutil
        import sys

        from mlops_core.embedded import venv_env
        from mlops_core.mlflow_utils import request_env
        from mlops_core.services import ServiceManager

        name = per_model_service(model)
        manager = ServiceManager(self.platform.run_dir)
        current = manager.get(name)
        if current and current.alive and current.url:
            self.urls[model] = current.url
            return {"service": name, "url": current.url, "started": False}
        offset = sorted(self.models).index(model) + 1
        port, _note = manager.claim_port(name, self.platform.serve_port + offset)
        url = f"http://127.0.0.1:{port}"
        env = {
            **venv_env(),
            **request_env(max_retries=0),
            "MLOPS_MODEL": model,
            # follow the alias: a promotion is served without a restart
            "MLOPS_SERVE_POLL_INTERVAL": os.environ.get("MLOPS_SERVE_POLL_INTERVAL", "5"),
        }
        exe = shutil.which("mlops", path=env["PATH"])
        argv = [exe] if exe else [sys.executable, "-m", "mlops_core.cli"]
        argv += ["serve", "--model", f"models:/{model}@champion", "--port", str(port)]
        manager.start(
            name, argv, url=url, health_url=url + HEALTH_PATH, env=env, timeout=240, port=port
        )
        self.urls[model] = url
        return {"service": name, "url": url, "started": True}
