"""Hand a new champion to the running embedded prediction service (when it runs)."""

from __future__ import annotations

import logging
import time

from deployment_prep.settings import PromoteSettings
from mlops_core.settings import PlatformSettings

log = logging.getLogger("mlops.promote")

SERVICE = "prediction-service"


def reload_service(platform: PlatformSettings, settings: PromoteSettings, cand) -> dict | None:
    """Make the embedded prediction service (when it runs) serve the new champion: its admin
    reload endpoint when an API key is configured; otherwise it follows the alias by polling,
    and this waits until GET /v1/models/<name> shows the new version."""
    from mlops_core.apikeys import ApiKeySettings
    from mlops_core.services import ServiceManager

    if not settings.reload:
        return None
    info = ServiceManager(platform.run_dir).get(SERVICE)
    if info is None or not info.alive:
        return None
    import httpx

    headers = ApiKeySettings().headers()
    base = info.url.rstrip("/")
    started = time.perf_counter()
    entry: dict = {"url": base, "model": cand.uri}
    if headers:
        try:
            response = httpx.post(
                f"{base}/v1/admin/reload",
                json={"model": cand.uri},
                headers=headers,
                timeout=settings.reload_timeout,
            )
            entry["status_code"] = response.status_code
            if response.status_code < 300:
                entry.update(ok=True, how="admin reload", response=response.json())
                entry["seconds"] = round(time.perf_counter() - started, 3)
                return entry
            entry["reload_error"] = response.text[:300]
        except httpx.HTTPError as exc:
            entry["reload_error"] = f"{type(exc).__name__}: {exc}"
    # No key (or the reload failed): the service follows the alias; wait until it serves it.
    # The model's own route answers on a one-model and a several-model service alike
    # (GET /v1/model is 404 on a service of several models: waiting on it timed out).
    deadline = time.monotonic() + settings.reload_timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base}/v1/models/{cand.name}", headers=headers, timeout=5.0)
            if response.status_code == 404:
                entry.update(
                    ok=False,
                    error=f"the prediction service at {base} does not serve model {cand.name}",
                )
                return entry
            if response.status_code < 300:
                seen = str(response.json().get("model_version"))
                if seen == cand.version:
                    entry.update(ok=True, how="followed the alias")
                    entry["seconds"] = round(time.perf_counter() - started, 3)
                    return entry
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    entry.update(
        ok=False,
        serving=seen,
        error=f"the prediction service still serves version {seen} after "
        f"{settings.reload_timeout:g} s; set MLOPS_SERVE_API_KEYS for its admin reload, "
        "or restart it (mlops down && mlops up)",
    )
    log.warning("prediction service not reloaded", extra={"error": entry["error"]})
    return entry
