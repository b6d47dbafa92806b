"""How the loop serves its models: the one place that knows.

- `one service` (the platform's design): a single prediction service serves every model of
  the loop (`mlops serve --model a --model b`, started by `mlops up` with
  MLOPS_SERVE_MODEL=a,b) and a client addresses a model by name
  (`/v1/models/{name}/predict`, `PredictionClient(url, model=name)`).
- `one service per model`: while the prediction service serves one model per process,
  each model gets its own background service (`mlops serve --model models:/<m>@champion`,
  service `prediction-service-<m>` under MLOPS_HOME, stopped by `mlops down`) on a port of
  its own, and its client uses the single-model routes.

`mode()` picks the first when the platform's traffic client can address a model by name
(the prediction service and its client change together), else the second; MLOPS_PIPELINE_
SERVING=one-service|per-model forces one. Switching is this module only: the loop asks for
`start()` and `client(model)`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_core.errors import Unavailable
from mlops_core.settings import PlatformSettings
from mlops_core.traffic import PredictionClient

SHARED_SERVICE = "prediction-service"
HEALTH_PATH = "/v1/health/ready"
ONE_SERVICE = "one service"
PER_MODEL = "one service per model"
MODE_VARIABLE = "MLOPS_PIPELINE_SERVING"


def client_takes_a_model() -> bool:
    """Whether PredictionClient addresses one model of a multi-model service by name."""
    return "model" in inspect.signature(PredictionClient).parameters


def mode() -> str:
    forced = os.environ.get(MODE_VARIABLE, "").strip().lower()
    if forced in ("one-service", "one_service", "shared"):
        return ONE_SERVICE
    if forced in ("per-model", "per_model"):
        return PER_MODEL
    return ONE_SERVICE if client_takes_a_model() else PER_MODEL


def per_model_service(model: str) -> str:
    return f"{SHARED_SERVICE}-{model}"


@dataclass
class Serving:
    """The prediction service(s) of the loop's models."""

    platform: PlatformSettings
    models: Sequence[str]
    headers: dict[str, str]
    how: str = field(default_factory=mode)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        """One service for every model: it starts once every model has a champion."""
        return self.how == ONE_SERVICE

    def start_all(self, platform_steps) -> None:
        """One service: start it on every model's champion (a step of the platform)."""
        if self.shared:
            self._start_shared(platform_steps)

    def start_for(self, model: str, steps) -> None:
        """One service per model: start `model`'s own (a step of that model's loop)."""
        if self.shared:
            return
        steps.client("serve the champion (a service of its own)", lambda: self._start_own(model))
        steps.note(f"{per_model_service(model)} at {self.urls[model]}")

    def client(self, model: str) -> PredictionClient:
        """A client of `model`'s predictions, feedback and metadata."""
        if self.how == ONE_SERVICE:
            return PredictionClient(self.urls[model], self.headers, model=model)
        return PredictionClient(self.urls[model], self.headers)

    def predict_url(self, model: str) -> str:
        base = self.urls[model]
        if self.how == ONE_SERVICE:
            return f"{base}/v1/models/{model}/predict"
        return f"{base}/v1/predict"

    def background_traffic(self, model: str, records, factory: Callable[..., Any]):
        """BackgroundTraffic (or the like) for `model`'s predictions."""
        if self.how == ONE_SERVICE:
            return factory(self.urls[model], records, self.headers, model=model)
        return factory(self.urls[model], records, self.headers)

    # one service for every model

    def _start_shared(self, steps) -> None:
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
        url = next(
            (
                s["url"]
                for s in up.get("services", [])
                if s.get("service") == SHARED_SERVICE and s.get("url")
            ),
            None,
        )
        if not url:
            raise Unavailable(f"the prediction service did not start: {up}")
        steps.note(f"{SHARED_SERVICE} at {url} serves {', '.join(self.models)}")
        self.urls = {m: url for m in self.models}

    def _serves_all(self, url: str | None) -> bool:
        import httpx

        if not url:
            return False
        try:
            response = httpx.get(f"{url}/v1/models", headers=self.headers, timeout=5.0)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return False
        entries = body.get("models", body) if isinstance(body, dict) else body
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
