"""`mlops models list`: every model folder with its task, latest data version, champion and
challenger, and where each is promoted (the GitOps files of every environment)."""

from __future__ import annotations

import logging
from pathlib import Path

from mlops_core import gitops_layout as layout
from mlops_core.contracts.deploy import CandidateInfo, ModelPin, ModelsListResult, ModelSummary
from mlops_core.errors import BadInput, MlopsError

log = logging.getLogger("mlops.models")


def gitops_root(platform, settings) -> Path | None:
    """The GitOps checkout promotion writes to, read without creating one: the configured
    repository (a bare one or a URL: its clone under MLOPS_HOME, brought up to date when it
    can be), else the home's own repository; None when nothing was ever promoted here."""
    from deployment_prep import gitops
    from mlops_core.git import Git

    if not settings.gitops_repo:
        path = platform.home / "gitops"
        return path if path.is_dir() else None
    checkout = gitops.open_checkout(settings, platform.home)
    if checkout.remote and checkout.managed:
        git = Git(checkout.path)
        try:  # best effort: a list never fails on a slow remote, it reads the last clone
            git("fetch", "-q", checkout.remote)
            git("merge", "-q", "--ff-only", f"{checkout.remote}/{checkout.branch}")
        except Exception as exc:
            log.warning("could not update %s from its remote: %s", checkout.path, exc)
    return checkout.path


def _pins(root: Path | None, name: str, gitops_dir: str) -> dict[str, ModelPin]:
    if root is None:
        return {}
    out = {
        env: ModelPin(
            version=pin.version,
            data_version=pin.data_version,
            file=pin.path,
            candidate=_candidate_info(name, pin.candidate),
        )
        for env, pin in layout.read_pins(root, name, gitops_dir=gitops_dir).items()
    }
    # A checkout not yet migrated: its single-model file still says where the model is.
    for rel in layout.legacy_files(root, gitops_dir):
        env = rel.split("/")[-2]
        if env in out:
            continue
        try:
            values = layout.parse_model_values((root / rel).read_text(), rel)
        except BadInput:
            continue
        if values["name"] == name:
            out[env] = ModelPin(
                version=values["version"], data_version=values["data_version"], file=rel
            )
    return out


def _candidate_info(name: str, block) -> CandidateInfo | None:
    if block is None:
        return None
    return CandidateInfo(
        version=block.version,
        mode=block.mode,
        weight=block.weight,
        data_version=block.data_version,
        uri=f"models:/{name}/{block.version}",
    )


def _live(c, name: str, pins: dict[str, ModelPin]) -> CandidateInfo | None:
    """The registry's candidate (alias shadow/canary), with the file's data version."""
    from deployment_prep import models

    live = models.live_candidate(c, name)
    if live is None:
        return None
    named = [
        p.candidate for p in pins.values() if p.candidate and p.candidate.version == live.version
    ]
    return CandidateInfo(
        version=live.version,
        mode=live.mode,
        weight=live.weight if live.weight is not None else (named[0].weight if named else None),
        data_version=named[0].data_version if named else None,
        uri=f"models:/{name}/{live.version}",
    )


def _latest_data_version(platform, name: str) -> str | None:
    from deployment_prep.checks import data_registry

    return data_registry(platform, name).latest()


def list_models(model: str | None = None) -> ModelsListResult:
    """Every model folder, or only `model` (BadInput naming the known ones when unknown)."""
    from deployment_prep import models
    from deployment_prep.settings import get_promote_settings
    from mlops_core.settings import get_settings

    platform = get_settings()
    settings = get_promote_settings()
    folders = [platform.model_folder(model)] if model else platform.models()
    tracking_uri = platform.tracking_uri
    c = models.client(tracking_uri)  # Unavailable (exit 5) when the server does not answer
    root = gitops_root(platform, settings)
    found = []
    for folder in folders:
        errors = []
        try:
            task = str(folder.task)
        except MlopsError as exc:
            task, errors = "unknown", [*errors, exc.message]
        try:
            latest = _latest_data_version(platform, folder.name)
        except MlopsError as exc:
            latest, errors = None, [*errors, f"data registry: {exc.message}"]
        registered = _registered(c, folder.name)
        champion = models.alias_version(c, folder.name, models.CHAMPION) if registered else None
        challenger = models.alias_version(c, folder.name, models.CHALLENGER) if registered else None
        try:
            pins = _pins(root, folder.name, settings.gitops_dir)
        except BadInput as exc:
            pins, errors = {}, [*errors, f"GitOps: {exc.message}"]
        promoted = {env: pin.version for env, pin in pins.items() if pin.version}
        candidate = _live(c, folder.name, pins) if registered else None
        named = {env for env, pin in pins.items() if pin.candidate}
        if candidate is None and named:
            errors.append(
                f"GitOps: {', '.join(sorted(named))} name a candidate the registry has no "
                "shadow/canary alias for (abort it: `mlops rollback --candidate`)"
            )
        found.append(
            ModelSummary(
                name=folder.name,
                task=task,
                folder=str(folder.path),
                latest_data_version=latest,
                registered=registered,
                champion=champion,
                challenger=challenger,
                promoted=promoted,
                champion_envs=[e for e, v in promoted.items() if champion and v == champion],
                challenger_envs=[e for e, v in promoted.items() if challenger and v == challenger],
                candidate=candidate,
                candidate_envs=sorted(
                    e
                    for e, pin in pins.items()
                    if candidate and pin.candidate and pin.candidate.version == candidate.version
                ),
                pins=pins,
                error="; ".join(errors) or None,
            )
        )
    return ModelsListResult(
        models_dir=str(platform.models_root),
        tracking_uri=tracking_uri,
        gitops_repo=str(root) if root else None,
        models=found,
    )


def _registered(c, name: str) -> bool:
    from deployment_prep import models

    try:
        models.registered_model(c, name)
    except BadInput:
        return False
    return True
