"""Start-up of the service: settings, model, prediction log, uvicorn; and the background
start used by `mlops up`."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from mlops_core.errors import BadInput, MlopsError, Unavailable
from mlops_core.mlflow_utils import retrying
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


def _split(refs: list[str] | str | None) -> list[str]:
    if refs is None:
        return []
    if isinstance(refs, str):
        refs = [refs]
    return [part.strip() for ref in refs for part in ref.split(",") if part.strip()]


def gitops_pin(platform: PlatformSettings, settings: ServeSettings, name: str) -> str | None:
    """The version `gitops/envs/<env>/models/<name>.yaml` pins (MLOPS_SERVE_GITOPS_ENV), or
    None: no environment set, no file, or a file that pins no version."""
    env = settings.gitops_env
    if not env:
        return None
    root = settings.gitops_root or platform.models_root.parent
    try:
        from mlops_core.gitops_layout import read_pin
    except ImportError:  # the deployment helper's layout module (one file per model)
        read_pin = None
    if read_pin is not None:
        pin = read_pin(root, env, name)
        return pin.version if pin is not None else None
    import yaml

    file = root / "gitops" / "envs" / env / "models" / f"{name}.yaml"
    if not file.is_file():
        return None
    data = yaml.safe_load(file.read_text()) or {}
    version = (data.get("model") or {}).get("version") if isinstance(data, dict) else None
    return None if version in (None, "") else str(version)


def _by_name(platform: PlatformSettings, settings: ServeSettings, folder):
    """A model name: the version its GitOps file pins, else its champion (else challenger)."""
    from prediction_service.model import ModelSpec

    pinned = gitops_pin(platform, settings, folder.name)
    if pinned:
        return ModelSpec(f"models:/{folder.name}/{pinned}", name=folder.name, version=pinned)
    return ModelSpec(folder.name, name=folder.name)


def _trained_with(platform: PlatformSettings, settings: ServeSettings, ref: str):
    """No model folder here (a serving pod mounts none): the schema the version was
    trained with, from its training run."""
    from mlops_core.mlflow_utils import logged_schema
    from mlops_core.modelspec import ModelFolder

    schema = retrying(budget=settings.registry_timeout)(logged_schema, ref, platform.tracking_uri)
    return ModelFolder.of_schema(schema, Path(ref))


def resolve_one(platform: PlatformSettings, settings: ServeSettings, ref: str):
    """(model folder, reference) of one --model value: a model name, a models:/ URI, a
    version or alias of the default model, a local model folder, or NAME=FOLDER."""
    import dataclasses

    from mlops_core.mlflow_utils import model_folder_schema
    from mlops_core.modelspec import ModelFolder
    from prediction_service.model import parse_ref

    if ref.startswith("models:/"):
        spec = parse_ref(ref, "")
        if not platform.models_root.is_dir() or not platform.models():
            return _trained_with(platform, settings, ref), spec
        return platform.model_folder(spec.name), spec
    folders = {m.name: m for m in platform.models()} if platform.models_root.is_dir() else {}
    if ref in folders:
        return folders[ref], _by_name(platform, settings, folders[ref])
    name, sep, rest = ref.partition("=")
    if sep and name in folders:
        spec = parse_ref(rest, name)
        if spec.path is None and spec.name != name:
            raise BadInput(f"--model {ref!r}: {rest!r} names model {spec.name!r}, not {name!r}")
        return folders[name], dataclasses.replace(spec, name=name)
    try:
        default = platform.model_folder(None)
    except BadInput as exc:
        default, why = None, exc
    if default is None:
        spec = parse_ref(ref, "unnamed")  # a bad folder or reference: its own error first
        carried = model_folder_schema(spec.path) if spec.path is not None else None
        if carried is not None:  # a model folder that says what it was trained on
            folder = ModelFolder.of_schema(carried, spec.path)
            return folder, dataclasses.replace(spec, name=carried.name)
        raise BadInput(
            f"--model {ref!r}: which model? {why.message} "
            "(or pass a model name, models:/<name>/<version>, or NAME=FOLDER)"
        )
    spec = parse_ref(ref, default.name)  # BadInput for a bad folder/URI
    if spec.path is not None:
        spec = dataclasses.replace(spec, name=default.name)
    return default, spec


def resolve_models(
    platform: PlatformSettings, settings: ServeSettings, refs: list[str] | str | None = None
):
    """What to serve: each --model (else MLOPS_SERVE_MODEL, comma-separated), else
    MLOPS_MODEL, else the only model folder, else every model folder with a champion."""
    from prediction_service.model import resolve_ref

    given = _split(refs) or _split(settings.model)
    if not given and platform.model:
        given = [platform.model]
    if given:
        out = [resolve_one(platform, settings, ref) for ref in given]
    else:
        folders = platform.models()
        if len(folders) <= 1:
            folder = platform.model_folder(None)  # none: BadInput saying how to add one
            out = [(folder, _by_name(platform, settings, folder))]
        else:
            out = []
            for folder in folders:
                spec = _by_name(platform, settings, folder)
                if spec.version is None:
                    from prediction_service.model import ModelSpec

                    spec = ModelSpec(
                        f"models:/{folder.name}@champion", name=folder.name, alias="champion"
                    )
                    try:
                        retrying(budget=settings.registry_timeout)(
                            resolve_ref, spec, platform.tracking_uri
                        )
                    except BadInput:
                        continue  # no champion: not served by default
                    except Exception as exc:
                        raise Unavailable(
                            f"model registry at {platform.tracking_uri} is unreachable: {exc}"
                        ) from exc
                out.append((folder, spec))
            if not out:
                raise BadInput(
                    f"no model has a champion (models: {', '.join(f.name for f in folders)}); "
                    "train and promote one (`mlops train`, `mlops promote`) or pass "
                    "--model NAME / --model models:/<name>/<version>"
                )
    seen: set[str] = set()
    for folder, _ in out:
        if folder.name in seen:
            raise BadInput(f"model {folder.name!r} is given twice: one service serves it once")
        seen.add(folder.name)
    return out


def build_service(
    *,
    model: list[str] | str | None = None,
    poll: float | None = None,
    platform: PlatformSettings | None = None,
    settings: ServeSettings | None = None,
):
    """Everything but the HTTP server: the loaded models, the log writer, the app."""
    from prediction_service.app import create_app
    from prediction_service.db import migrate
    from prediction_service.logwriter import PredictionLogWriter
    from prediction_service.model import load_model
    from prediction_service.service import Served, Service

    platform = platform or get_settings()
    settings = settings or ServeSettings()
    if poll is not None:
        settings = settings.model_copy(update={"poll_interval": poll})
    api_keys = settings.keys()
    resolved = resolve_models(platform, settings, model)
    _limit_threads()
    served = []
    for folder, spec in resolved:
        schema = folder.schema
        loaded = load_model(spec, platform.tracking_uri, registry_timeout=settings.registry_timeout)
        if spec.path is None and loaded.name != folder.name:
            raise BadInput(f"model {loaded.uri}: is not model {folder.name!r}")
        _check_features(loaded, schema)
        served.append(Served(folder, spec, loaded))
    served = _with_candidate(platform, settings, served)
    url = platform.prediction_log
    if settings.migrate:
        try:
            migrate(url)
        except Unavailable as exc:
            # Rows wait in the journal until the database is back; serving does not wait.
            log.warning("prediction log migrations not run", extra={"error": exc.message})
    spool = settings.spool_dir or (platform.home / "prediction-spool")
    writer = PredictionLogWriter(
        url,
        settings.journal_dir or (spool.parent / "prediction-journal"),
        batch_size=settings.log_batch_size,
        flush_interval=settings.log_flush_interval,
        retry_interval=settings.log_retry_interval,
        queue_max=settings.log_queue_max,
        fsync=settings.journal_fsync,
        segment_bytes=settings.journal_segment_bytes,
        legacy_spool_dir=spool,
        process=settings.log_writer_process,
    )
    service = Service(
        settings=settings,
        served=served,
        tracking_uri=platform.tracking_uri,
        writer=writer,
        api_keys=api_keys,
    )
    return service, create_app(service)


def _with_candidate(platform: PlatformSettings, settings: ServeSettings, served: list) -> list:
    """The served models, the one MLOPS_SERVE_CANDIDATE names carrying it (loaded now)."""
    import dataclasses

    from prediction_service.model import load_model, parse_ref
    from prediction_service.rollout import CANARY, MODES, Candidate, parse_weight

    ref, mode, weight = settings.candidate, settings.candidate_mode, settings.canary_weight
    if not ref:
        if mode or weight is not None:
            raise BadInput(
                "MLOPS_SERVE_CANDIDATE_MODE / MLOPS_SERVE_CANARY_WEIGHT are set but "
                "MLOPS_SERVE_CANDIDATE (the candidate's model URI) is not"
            )
        return _gitops_candidates(platform, settings, served)
    if mode not in MODES:
        raise BadInput(
            f"MLOPS_SERVE_CANDIDATE_MODE: {mode!r} is not one of {', '.join(MODES)} "
            f"(MLOPS_SERVE_CANDIDATE is {ref!r})"
        )
    if mode == CANARY:
        weight = parse_weight(weight, "MLOPS_SERVE_CANARY_WEIGHT")
    elif weight is not None:
        raise BadInput("MLOPS_SERVE_CANARY_WEIGHT: only a canary has a weight (mode is shadow)")
    else:
        weight = 0.0
    names = [s.folder.name for s in served]
    spec = parse_ref(ref, names[0])
    target = spec.name if spec.path is None else (names[0] if len(names) == 1 else None)
    if target not in names:
        raise BadInput(
            f"MLOPS_SERVE_CANDIDATE {ref!r}: names model {target!r}, which this service does "
            f"not serve ({', '.join(names)})"
        )
    if spec.path is not None:
        spec = dataclasses.replace(spec, name=target)
    i = names.index(target)
    loaded = load_model(spec, platform.tracking_uri, registry_timeout=settings.registry_timeout)
    _check_features(loaded, served[i].folder.schema)
    loaded.alias = mode
    candidate = Candidate(loaded, mode, weight)
    return [*served[:i], dataclasses.replace(served[i], candidate=candidate), *served[i + 1 :]]


def _gitops_candidates(platform: PlatformSettings, settings: ServeSettings, served: list):
    """Each served model whose GitOps file (MLOPS_SERVE_GITOPS_ENV) pins its version and
    names a `candidate:` carrying it, as the chart renders it in a cluster."""
    import dataclasses

    if not settings.gitops_env or not served:
        return served
    try:
        from mlops_core.gitops_layout import read_pin
    except ImportError:  # pragma: no cover - the layout module ships with mlops_core
        return served
    from prediction_service.model import load_model, parse_ref
    from prediction_service.rollout import Candidate

    root = settings.gitops_root or platform.models_root.parent
    out = []
    for s in served:
        pin = read_pin(root, settings.gitops_env, s.folder.name)
        cand = getattr(pin, "candidate", None)
        if s.spec.version is None or cand is None:  # only beside a version the file pins
            out.append(s)
            continue
        spec = parse_ref(f"models:/{s.folder.name}/{cand.version}", s.folder.name)
        loaded = load_model(spec, platform.tracking_uri, registry_timeout=settings.registry_timeout)
        _check_features(loaded, s.folder.schema)
        loaded.alias = cand.mode
        weight = float(cand.weight or 0.0) if cand.mode == "canary" else 0.0
        out.append(dataclasses.replace(s, candidate=Candidate(loaded, cand.mode, weight)))
    return out


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
    model: list[str] | str | None = None,
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
    for served in service.served.values():
        m = served.current
        log.info(
            "serving model",
            extra={
                "model_name": m.name,
                "model_version": m.version,
                "task": served.task,
                "fast_path": m.fast is not None,
                "fast_path_reason": m.fast_reason,
                "url": f"http://{host}:{port}{served.paths['predict']}",
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
    from prediction_service.model import resolve_version

    settings = ServeSettings()
    manager = ServiceManager(platform.run_dir)
    current = manager.get(SERVICE)
    if current and current.alive:
        return {"service": SERVICE, "url": current.url, "started": False}
    # Never another home's service: a held port makes this home's service use a free one.
    port, note = manager.claim_port(SERVICE, settings.port or platform.serve_port)
    url = f"http://127.0.0.1:{port}"
    try:
        resolved = resolve_models(platform, settings.model_copy(update={"registry_timeout": 0}))
        models = []
        for _, spec in resolved:
            if spec.path is None:
                name, version, alias = resolve_version(spec, platform.tracking_uri)
                models.append(f"models:/{name}/{version}" + (f" (alias {alias})" if alias else ""))
            else:
                models.append(str(spec.path))
        model = ", ".join(models)
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
    follows = any(spec.follows_alias for _, spec in resolved)
    if follows and "MLOPS_SERVE_POLL_INTERVAL" not in os.environ:
        # Embedded runtime: follow the alias, so a promotion is picked up without a restart.
        env["MLOPS_SERVE_POLL_INTERVAL"] = "10"
    manager.start(
        SERVICE, argv, url=url, health_url=url + HEALTH_PATH, env=env, timeout=180, port=port
    )
    started = {"service": SERVICE, "url": url, "started": True, "model": model}
    return {**started, "docs": url + "/docs", **({"note": note} if note else {})}
