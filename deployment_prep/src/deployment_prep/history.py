"""`mlops history`: a model's audit trail, read from the GitOps repository's git log and
joined with the MLflow registry, its data versions and its monitoring reports.

Nothing is kept on the side: every entry is a commit of the model's GitOps files (the
trailers `mlops promote` / `mlops rollback` write, or what a commit made by hand changed),
and what is said about its version is asked of the registry when the command runs. So the
trail cannot disagree with git or with MLflow; where they disagree with each other (a
version deleted since, another data version), the entry says so.

Reading only: the checkout is not locked, switched or merged (a remote is fetched, and
its branch read, when the checkout has one); the monitoring reports are listed, never
written; the one thing written is the HTML page beside them.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployment_prep import gitops, models
from deployment_prep.settings import PromoteSettings, check_envs, get_promote_settings
from mlops_core import gitops_layout as layout
from mlops_core import storage
from mlops_core.contracts.deploy import (
    DataVersionLink,
    HistoryCheck,
    HistoryEntry,
    HistoryFileChange,
    HistoryResult,
    MonitoringReportLink,
    RegistryVersion,
)
from mlops_core.errors import BadInput, MlopsError, Unavailable
from mlops_core.git import Commit, Git, GitError
from mlops_core.modelspec import validate_model_name
from mlops_core.settings import PlatformSettings, get_settings

log = logging.getLogger("mlops.history")

HTML_NAME = "history.html"
REPORTS_PER_VERSION = 5
# Titles of the commits made before the trailer block (still read from them).
_LEGACY_TITLES = (
    ("promote", re.compile(r"^Promote (\S+) v(\S+) \(data ([^)]*)\) to (.+)$")),
    ("rollback", re.compile(r"^Roll back (\S+) to v(\S+) \(data ([^)]*)\) in (.+)$")),
)
_LEGACY_LINE = re.compile(r"^([A-Za-z][A-Za-z -]*?):\s*(.*)$")
_MIGRATE_TITLE = "Migrate the GitOps tree to one values file per model"
_CHECK = re.compile(r"^(\S+) (passed|failed)(?::\s*(.*))?$")
# The report store's layout (model_monitoring/store.py owns it): <store>/<model>/
# <YYYYmmddTHHMMSSffffffZ>-v<version>.{html,json}, complete once the JSON exists.
_REPORT = re.compile(r"^(?P<stamp>\d{8}T\d{12}Z)-v(?P<version>[^/]+)\.json$")


@dataclass
class _Source:
    """The GitOps checkout read, and the branch in it."""

    path: Path | None
    ref: str | None
    gitops_dir: str


def history(
    model: str | None = None,
    envs: list[str] | None = None,
    limit: int | None = None,
    write_html: bool = True,
) -> HistoryResult:
    platform = get_settings()
    settings = get_promote_settings()
    envs = check_envs(envs) if envs else []
    name = _model_name(platform, model)
    warnings: list[str] = []
    source = _source(platform, settings, warnings)
    paths = [
        f":(glob){settings.gitops_dir}/envs/*/{layout.MODELS_SUBDIR}/{name}.yaml",
        f":(glob){settings.gitops_dir}/envs/*/{layout.LEGACY_VALUES_FILE}",
    ]
    entries = _entries(source, name, paths) if source.ref else []

    c = models.client(platform.tracking_uri)  # Unavailable (exit 5) when nobody answers
    registered = _registered(c, name)
    if not entries and not registered and model is not None and not _is_folder(platform, name):
        raise BadInput(
            f"unknown model {name!r}: no model folder in {platform.models_root}, no "
            f"registered model in MLflow ({platform.tracking_uri}) and no commit of "
            f"{settings.gitops_dir}/envs/<env>/models/{name}.yaml in the GitOps repository "
            f"({source.path or 'none yet'})"
        )
    if envs:
        entries = [e for e in entries if set(e.envs) & set(envs)]
    total = len(entries)
    entries = entries[:limit] if limit else entries

    versions = {e.model_version for e in entries if e.model_version}
    uri = platform.tracking_uri
    registry = {v: _registry_version(c, uri, name, v, registered) for v in versions}
    for entry in entries:
        _join_registry(entry, registry)
    data = _data_versions(
        platform, name, {e.data_version for e in entries if e.data_version}, warnings
    )
    reports = _reports(platform, name, versions, warnings)
    for entry in entries:
        if entry.data_version:
            entry.data = data.get(entry.data_version)
        if entry.model_version:
            runs, links = reports.get(entry.model_version, (0, []))
            entry.reports, entry.reports_total = links, runs

    result = HistoryResult(
        model_name=name,
        gitops_repo=str(source.path) if source.path else None,
        ref=source.ref,
        paths=paths,
        tracking_uri=platform.tracking_uri,
        envs=envs,
        limit=limit,
        total=total,
        entries=entries,
        report_store=storage.join(platform.reports, name),
        monitoring_experiment_url=_monitoring_experiment(c, platform.tracking_uri, name),
        warnings=warnings,
    )
    if write_html:
        from deployment_prep.history_html import render

        target = storage.join(platform.reports, name, HTML_NAME)
        result.html = target
        try:
            storage.write_text(target, render(result), endpoint_url=platform.s3_endpoint_url)
        except OSError as exc:  # a StorageError (exit 5) names the store itself
            raise Unavailable(f"cannot write the history page {target}: {exc}") from exc
    return result


# -- which model, which checkout -----------------------------------------------------------


def _model_name(platform: PlatformSettings, model: str | None) -> str:
    """--model, else MLOPS_MODEL, else the only model folder. A name with no folder is
    accepted (a retired model's history is still in git); the caller refuses it when
    nothing at all knows it."""
    if model is None:
        return platform.model_folder(None).name
    return validate_model_name(model)


def _is_folder(platform: PlatformSettings, name: str) -> bool:
    return any(m.name == name for m in platform.models())


def _source(platform: PlatformSettings, settings: PromoteSettings, warnings: list[str]) -> _Source:
    """The checkout `mlops promote` writes to, without creating the embedded one; its
    remote's branch when it has a remote (what Argo CD reads), fetched first."""
    if not settings.gitops_repo and not (platform.home / "gitops").is_dir():
        return _Source(None, None, settings.gitops_dir)
    checkout = gitops.open_checkout(settings, platform.home)
    git = checkout.git
    ref = settings.branch
    if checkout.remote:
        try:
            git("fetch", "-q", checkout.remote)
        except GitError as exc:  # read the last fetched state rather than fail
            warnings.append(f"could not fetch {checkout.remote_url()}: {exc.output}")
        tracking = f"refs/remotes/{checkout.remote}/{settings.branch}"
        if git("rev-parse", "--verify", "-q", tracking, check=False):
            ref = tracking
    return _Source(checkout.path, ref, settings.gitops_dir)


# -- the git side ---------------------------------------------------------------------------


def _entries(source: _Source, name: str, paths: list[str]) -> list[HistoryEntry]:
    git = Git(source.path)
    commits = git.log(source.ref, paths)
    # Every file version a diff summary needs, read by one cat-file process.
    specs: list[str] = []
    for commit in commits:
        for change in commit.changes:
            specs.append(f"{commit.sha}:{change.path}")
            specs.append(f"{commit.parents[0]}:{change.path}" if commit.parents else "")
    blobs = dict(zip(specs, _blobs(git, specs), strict=True))
    entries = []
    for commit in commits:
        entry = _entry(commit, name, source.gitops_dir, blobs)
        if entry is not None:
            entries.append(entry)
    return entries


def _blobs(git: Git, specs: list[str]) -> list[str | None]:
    wanted = [s for s in specs if s]
    found = iter(git.read_blobs(wanted))
    return [next(found) if s else None for s in specs]


def _pin(text: str | None, where: str) -> dict | None:
    if text is None:
        return None
    try:
        return layout.parse_model_values(text, where)
    except BadInput:
        return None


def _env_of(path: str, gitops_dir: str) -> str | None:
    prefix = f"{gitops_dir}/envs/"
    if not path.startswith(prefix):
        return None
    return path[len(prefix) :].split("/", 1)[0] or None


def _entry(commit: Commit, name: str, gitops_dir: str, blobs: dict) -> HistoryEntry | None:
    model_file = f"/{layout.MODELS_SUBDIR}/{name}.yaml"
    changes, ours = [], False
    for change in commit.changes:
        after = _pin(blobs.get(f"{commit.sha}:{change.path}"), change.path)
        before = _pin(
            blobs.get(f"{commit.parents[0]}:{change.path}") if commit.parents else None,
            change.path,
        )
        is_model_file = change.path.endswith(model_file)
        # A single-model file of the old layout is this model's when it names it.
        named = (after or before or {}).get("name")
        if not is_model_file and named != name:
            continue
        ours = True
        changes.append(
            HistoryFileChange(
                path=change.path,
                env=_env_of(change.path, gitops_dir),
                added=change.added,
                deleted=change.deleted,
                version_before=(before or {}).get("version"),
                version_after=(after or {}).get("version"),
            )
        )
    if not ours:
        return None

    trailers = _trailers(commit)
    legacy = False
    notes: list[str] = []
    if "action" in trailers:
        action = trailers["action"][-1].lower()
        envs = _split(_last(trailers, "environment"))
    else:
        legacy_title = _legacy_title(commit.subject)
        if legacy_title:
            action, title_envs = legacy_title
            legacy = True
            trailers = _legacy_pairs(commit.message)
            envs = title_envs
        elif commit.subject.startswith(_MIGRATE_TITLE):
            action, envs = "migrate", []
        else:
            action, envs = "manual", []
            notes.append(
                "a change made by hand (no trailers): " + "; ".join(_describe(ch) for ch in changes)
            )
    for change in changes:
        if change.env and change.env not in envs:
            envs.append(change.env)

    pinned = {ch.version_after for ch in changes if ch.version_after}
    data_pinned = {
        (_pin(blobs.get(f"{commit.sha}:{ch.path}"), ch.path) or {}).get("data_version")
        for ch in changes
    } - {None}
    version = _strip_v(_last(trailers, "version")) or (pinned.pop() if len(pinned) == 1 else None)
    data_version = _none(_last(trailers, "data-version")) or (
        data_pinned.pop() if len(data_pinned) == 1 else None
    )
    named_model = _last(trailers, "model")
    if named_model and named_model != name:
        notes.append(f"its Model trailer names {named_model!r}, but it changed {name}'s file")
    return HistoryEntry(
        commit=commit.sha,
        time=commit.committed,
        author=commit.author_name,
        author_email=commit.author_email,
        title=commit.subject,
        action=action,
        legacy=legacy,
        model_version=version,
        previous_version=_strip_v(_none(_last(trailers, "previous-champion"))),
        data_version=data_version,
        envs=envs,
        reason=_last(trailers, "reason"),
        run_id=_none(_last(trailers, "run")),
        metrics=_metrics(_last(trailers, "metrics")),
        candidate_version=_strip_v(_none(_last(trailers, "candidate-version"))),
        weight=_weight(_last(trailers, "weight")),
        checks=_checks(trailers),
        trailers={k: v for k, v in trailers.items()},
        changes=changes,
        notes=notes,
    )


def _trailers(commit: Commit) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in commit.trailers:
        out.setdefault(_key(key), []).append(value)
    return out


def _key(key: str) -> str:
    """One spelling per key: git matches keys case-insensitively, the first releases wrote
    spaces ("Data version") where trailers have dashes."""
    return "-".join(key.strip().lower().split())


def _legacy_title(subject: str) -> tuple[str, list[str]] | None:
    for action, pattern in _LEGACY_TITLES:
        match = pattern.match(subject)
        if match:
            return action, _split(match.group(4))
    return None


def _legacy_pairs(message: str) -> dict[str, list[str]]:
    """The `Key: value` lines of a commit made before the trailer block."""
    out: dict[str, list[str]] = {}
    for line in message.splitlines()[1:]:
        match = _LEGACY_LINE.match(line.strip())
        if match:
            out.setdefault(_key(match.group(1)), []).append(match.group(2).strip())
    return out


def _last(trailers: dict[str, list[str]], key: str) -> str | None:
    values = trailers.get(key)
    return values[-1] if values else None


def _none(value: str | None) -> str | None:
    return None if value is None or value.strip().lower() in ("", "none") else value.strip()


def _strip_v(value: str | None) -> str | None:
    return value[1:] if value and value[0] == "v" and value[1:].isdigit() else value


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _weight(text: str | None) -> float | None:
    try:
        return float(text.strip().rstrip("%")) if text else None
    except ValueError:
        return None


def _metrics(text: str | None) -> dict[str, float]:
    out = {}
    for part in _split(text):
        key, sep, value = part.partition("=")
        try:
            if sep:
                out[key.strip()] = float(value)
        except ValueError:
            continue
    return out


def _checks(trailers: dict[str, list[str]]) -> list[HistoryCheck]:
    out = []
    for gate in trailers.get("gate", []):
        status, _, detail = gate.partition(":")
        out.append(HistoryCheck(name="gate", ok=status.strip() == "passed", detail=detail.strip()))
    for value in trailers.get("check", []):
        match = _CHECK.match(value)
        if match:
            out.append(
                HistoryCheck(
                    name=match.group(1), ok=match.group(2) == "passed", detail=match.group(3) or ""
                )
            )
        else:
            out.append(HistoryCheck(name="check", ok=True, detail=value))
    for value in trailers.get("checks", []):  # before the trailer block: one summary line
        out.append(HistoryCheck(name="checks", ok=True, detail=value))
    return out


def _describe(change: HistoryFileChange) -> str:
    where = change.env or change.path
    before = f"v{change.version_before}" if change.version_before else "nothing"
    after = f"v{change.version_after}" if change.version_after else "nothing"
    lines = f"+{change.added if change.added is not None else '?'}"
    lines += f"/-{change.deleted if change.deleted is not None else '?'}"
    return f"{change.path} ({where}: {before} -> {after}, {lines} lines)"


# -- the registry, the data registry and the report store ------------------------------------


def _registered(c, name: str) -> bool:
    try:
        models.registered_model(c, name)
    except BadInput:
        return False
    return True


def _registry_version(c, tracking_uri: str, name: str, version: str, registered: bool):
    from mlops_core.mlflow_utils import Reference, resolve, retrying
    from mlops_core.mlflow_utils.experiments import model_version_url, run_url

    if not registered:
        return RegistryVersion(
            version=version,
            in_registry=False,
            note=f"registered model {name!r} is not in MLflow ({tracking_uri}) any more",
        )
    try:
        ref = retrying()(resolve, c, Reference(name, version=version))
    except BadInput:
        return RegistryVersion(
            version=version,
            in_registry=False,
            note=f"version {version} is no longer in the registry (deleted); shown from git",
        )
    created = (
        datetime.fromtimestamp(ref.created_ms / 1000, UTC).isoformat(timespec="seconds")
        if ref.created_ms
        else None
    )
    return RegistryVersion(
        version=version,
        in_registry=True,
        run_id=ref.run_id,
        created=created,
        aliases=sorted(ref.aliases),
        data_version=ref.data_version,
        metrics=models.headline_metrics(ref.metrics),
        run_url=run_url(tracking_uri, ref.experiment_id, ref.run_id)
        if ref.run_id and ref.experiment_id
        else None,
        version_url=model_version_url(tracking_uri, name, version),
        note=None if ref.experiment_id or not ref.run_id else "its training run is deleted",
    )


def _data_versions(
    platform: PlatformSettings, name: str, wanted: set[str], warnings: list[str]
) -> dict[str, DataVersionLink]:
    from deployment_prep.checks import data_registry

    if not wanted:
        return {}
    try:
        registry = data_registry(platform, name)
        found = {v.tag: v for v in registry.versions()}
    except MlopsError as exc:
        warnings.append(f"data registry {platform.data_registry_url}: {exc.message}")
        return {
            dv: DataVersionLink(data_version=dv, registry=platform.data_registry_url)
            for dv in wanted
        }
    out = {}
    for dv in wanted:
        info = found.get(dv)
        out[dv] = DataVersionLink(
            data_version=dv,
            registry=platform.data_registry_url,
            git_tag=registry.git_tag(dv) if info else None,
            exists=info is not None,
            created=info.created if info else None,
            rows=dict(info.rows) if info else {},
            content_hash=info.content_hash if info else None,
        )
    return out


def _reports(
    platform: PlatformSettings, name: str, versions: set[str], warnings: list[str]
) -> dict[str, tuple[int, list[MonitoringReportLink]]]:
    """version -> (runs in the store, its newest runs) from the report store's listing."""
    folder = storage.join(platform.reports, name)
    endpoint = platform.s3_endpoint_url
    try:
        names = storage.list_names(folder, endpoint_url=endpoint)
    except FileNotFoundError:
        return {}
    except (OSError, storage.StorageError) as exc:
        warnings.append(f"report store {folder}: cannot list ({exc})")
        return {}
    by_version: dict[str, list[str]] = {}
    for file in sorted(names, reverse=True):
        match = _REPORT.match(file)
        if match and match["version"] in versions:
            by_version.setdefault(match["version"], []).append(file)
    out = {}
    listed = set(names)
    for version, files in by_version.items():
        links = []
        for file in files[:REPORTS_PER_VERSION]:
            uri = storage.join(folder, file)
            try:
                data = json.loads(storage.read_text(uri, endpoint_url=endpoint))
            except (OSError, ValueError, storage.StorageError) as exc:
                warnings.append(f"monitoring result {uri}: cannot read ({exc})")
                data = {}
            html = file.removesuffix(".json") + ".html"
            links.append(
                MonitoringReportLink(
                    created=data.get("created") or _stamp_time(file),
                    status=data.get("status"),
                    drift_share=data.get("drift_share"),
                    degraded=data.get("degraded"),
                    html=storage.join(folder, html) if html in listed else None,
                    json_uri=uri,
                )
            )
        out[version] = (len(files), links)
    return out


def _stamp_time(file: str) -> str | None:
    try:
        when = datetime.strptime(file[:23], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return when.isoformat(timespec="seconds")


def _monitoring_experiment(c, tracking_uri: str, name: str) -> str | None:
    from mlops_core.mlflow_utils.experiments import experiment_url

    try:
        experiment = c.get_experiment_by_name(f"{name}-monitoring")
    except Exception:  # a link only: never the reason the history fails
        log.warning("could not look up the %s-monitoring experiment", name, exc_info=True)
        return None
    return experiment_url(tracking_uri, experiment.experiment_id) if experiment else None


def _join_registry(entry: HistoryEntry, registry: dict[str, RegistryVersion]) -> None:
    """The version's registry record on the entry, and what does not line up with git."""
    entry.registry = registry.get(entry.model_version) if entry.model_version else None
    if entry.registry is None:
        return
    if entry.registry.note:
        entry.notes.append(entry.registry.note)
    known = entry.registry.data_version
    if entry.data_version is None:
        entry.data_version = known
    elif known and known != entry.data_version:
        entry.notes.append(
            f"the commit names data {entry.data_version}, but the registry's version "
            f"{entry.model_version} was trained on {known}"
        )
    if entry.run_id is None:
        entry.run_id = entry.registry.run_id
    elif entry.registry.run_id and entry.registry.run_id != entry.run_id:
        entry.notes.append(
            f"the commit names run {entry.run_id}, the registry's version "
            f"{entry.model_version} run {entry.registry.run_id}"
        )
