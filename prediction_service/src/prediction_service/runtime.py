"""Start-up of the service: settings, model, prediction log, uvicorn; and the background
start used by `mlops up`."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
from typing import Any

from mlops_core.errors import BadInput, MlopsError, Unavailable
from mlops_core.settings import PlatformSettings, get_settings
from prediction_service.settings import ServeSettings

log = logging.getLogger("prediction_service")

SERVICE = "prediction-service"
HEALTH_PATH = "/v1/health/ready"


def _limit_threads() -> None:
    """One BLAS/OpenMP thread: small batches are faster, and the event loop owns a core."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    try:
        import sklearn

        # Records are validated (finite, in range) before they reach the model.
        sklearn.set_config(assume_finite=True)
    except ImportError:  # pragma: no cover
        pass


def _check_port(host: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise Unavailable(
                f"port {port} on {host} is in use or not available ({exc.strerror}); "
                "pick another with --port or MLOPS_SERVE_PORT"
            ) from exc


def build_service(
    *,
    model: str | None = None,
    poll: float | None = None,
    platform: PlatformSettings | None = None,
    settings: ServeSettings | None = None,
):
    """Everything but the HTTP server: the loaded model, the log writer, the app."""
    from prediction_service.app import create_app
    from prediction_service.db import migrate
    from prediction_service.logwriter import PredictionLogWriter
    from prediction_service.model import load_model, parse_ref
    from prediction_service.service import Service

    platform = platform or get_settings()
    settings = settings or ServeSettings()
    if poll is not None:
        settings = settings.model_copy(update={"poll_interval": poll})
    schema = platform.load_schema()
    api_keys = settings.keys()
    spec = parse_ref(model or settings.model, platform.registered_model)
    _limit_threads()
    loaded = load_model(spec, platform.tracking_uri, registry_timeout=settings.registry_timeout)
    _check_features(loaded, schema)
    url = platform.prediction_log
    if settings.migrate:
        try:
            migrate(url)
        except Unavailable as exc:
            # The log spools until the database is back; serving does not wait for it.
            log.warning("prediction log migrations not run", extra={"error": exc.message})
    writer = PredictionLogWriter(
        url,
        settings.spool_dir or (platform.home / "prediction-spool"),
        batch_size=settings.log_batch_size,
        flush_interval=settings.log_flush_interval,
        retry_interval=settings.log_retry_interval,
        queue_max=settings.log_queue_max,
    )
    service = Service(
        settings=settings,
        schema=schema,
        model=loaded,
        spec=spec,
        tracking_uri=platform.tracking_uri,
        writer=writer,
        api_keys=api_keys,
    )
    return service, create_app(service)


def _check_features(loaded, schema) -> None:
    """Refuse a model trained on other columns than the schema's features."""
    names = getattr(loaded.estimator, "feature_names_in_", None)
    if names is None:
        return
    missing = sorted(set(names) - set(schema.feature_names))
    if missing:
        raise BadInput(
            f"model {loaded.uri} expects columns the schema does not declare: "
            f"{', '.join(missing)} (schema {schema.name!r})"
        )


def run_server(
    *,
    model: str | None = None,
    port: int | None = None,
    host: str | None = None,
    poll: float | None = None,
) -> None:
    import uvicorn

    platform = get_settings()
    settings = ServeSettings()
    host = host or settings.host
    port = port or settings.port or platform.serve_port
    _check_port(host, port)
    service, app = build_service(model=model, poll=poll, platform=platform, settings=settings)
    m = service.model
    log.info(
        "serving model",
        extra={
            "model_name": m.name,
            "model_version": m.version,
            "url": f"http://{host}:{port}",
            "api_keys": len(service.api_keys),  # how many, never which
        },
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        access_log=settings.access_log,
        log_config=None,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise Unavailable(f"the prediction service could not start on {host}:{port}")


def start_background(platform: PlatformSettings) -> dict[str, Any]:
    """Start `mlops serve` in the background (the `mlops up` hook), or say why not."""
    from mlops_core.embedded import venv_env
    from mlops_core.mlflow_utils import request_env
    from mlops_core.services import ServiceManager
    from prediction_service.model import parse_ref, resolve_version

    settings = ServeSettings()
    manager = ServiceManager(platform.run_dir)
    current = manager.get(SERVICE)
    if current and current.alive:
        return {"service": SERVICE, "url": current.url, "started": False}
    # Never another home's service: a held port makes this home's service use a free one.
    port, note = manager.claim_port(SERVICE, settings.port or platform.serve_port)
    url = f"http://127.0.0.1:{port}"
    try:
        spec = parse_ref(settings.model, platform.registered_model)
        if spec.path is None:
            name, version, alias = resolve_version(spec, platform.tracking_uri)
            model = f"models:/{name}/{version}" + (f" (alias {alias})" if alias else "")
        else:
            model = str(spec.path)
    except MlopsError as exc:
        return {"service": SERVICE, "url": None, "started": False, "skipped": exc.message}
    except Exception as exc:
        return {
            "service": SERVICE,
            "url": None,
            "started": False,
            "skipped": f"the model registry cannot be asked for a model: {exc}",
        }
    # The service's own start-up wait is its only retry of the registry.
    env = {**venv_env(), **request_env(max_retries=0)}
    exe = shutil.which("mlops", path=env["PATH"])
    argv = [exe] if exe else [sys.executable, "-m", "mlops_core.cli"]
    argv += ["serve", "--port", str(port)]
    if spec.follows_alias and "MLOPS_SERVE_POLL_INTERVAL" not in os.environ:
        # Embedded runtime: follow the alias, so a promotion is picked up without a restart.
        env["MLOPS_SERVE_POLL_INTERVAL"] = "10"
    manager.start(
        SERVICE, argv, url=url, health_url=url + HEALTH_PATH, env=env, timeout=180, port=port
    )
    started = {"service": SERVICE, "url": url, "started": True, "model": model}
    return {**started, "docs": url + "/docs", **({"note": note} if note else {})}
