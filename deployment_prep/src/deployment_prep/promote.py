"""Promotion and rollback: the `champion` alias and the GitOps tree, moved together.

Order of operations (each step undone when a later one fails, so the alias and the
committed state never disagree):
  1. refuse a dirty or diverged GitOps checkout (nothing has moved yet);
  2. run the deployable checks in a clean process (promotion only);
  3. write the model's envs/<env>/models/<name>.yaml (no other model's file) and commit
     locally;
  4. move the alias (and the promotion history stored next to it);
  5. push the commit, or push a branch and open a pull request.
A failure in 4 resets the local commit; a failure in 5 also moves the alias back.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployment_prep import gitops, models
from deployment_prep.reload import reload_service
from deployment_prep.settings import PromoteSettings, check_envs, get_promote_settings
from mlops_core import gitops_layout as layout
from mlops_core.contracts import Alias, Tag
from mlops_core.contracts.deploy import CheckReport, PromoteResult, RollbackResult
from mlops_core.errors import BadInput, Conflict, GateRefused, MlopsError, Unavailable
from mlops_core.settings import PlatformSettings, get_settings

log = logging.getLogger("mlops.promote")


# The trailer keys of a promotion or rollback commit (`mlops history` reads them back).
# Keys follow git's trailer rule (no spaces): the first releases wrote "Data version:" and
# "Previous champion:" lines git does not read as trailers; history still parses those.
ACTION, MODEL, VERSION, DATA_VERSION = "Action", "Model", "Version", "Data-version"
PREVIOUS, ENVIRONMENT, RUN, METRICS = "Previous-champion", "Environment", "Run", "Metrics"
GATE, CHECK, ARTIFACT, REASON = "Gate", "Check", "Artifact-bytes", "Reason"
# A shadow or canary beside the champion (Action: shadow|canary|abort), or the candidate a
# promotion completed / a rollback removed (Candidate-mode says which it was).
CANDIDATE, CANDIDATE_MODE, WEIGHT = "Candidate-version", "Candidate-mode", "Weight"


def _message(
    action: str,
    cand,
    envs: list[str],
    previous: str | None,
    reason: str,
    checked: CheckReport | None = None,
    title: str | None = None,
    extra: list[tuple[str, object]] | None = None,
) -> str:
    """The commit message: a title, then a git trailer block (git interpret-trailers
    format) holding what justified the change: the gate, each check, the metrics, why;
    `extra` (the candidate's trailers) goes before the reason."""
    from mlops_core.git import trailer_block

    metrics = models.headline_metrics(cand.metrics)
    test_metrics = {k: v for k, v in metrics.items() if k.startswith("test_")} or metrics
    metric_text = ", ".join(f"{k}={v:g}" for k, v in test_metrics.items()) or "none recorded"
    title = title or (
        f"Roll back {cand.name} to v{cand.version} (data {cand.data_version}) in {', '.join(envs)}"
        if action != "promote"
        else f"Promote {cand.name} v{cand.version} (data {cand.data_version}) to {', '.join(envs)}"
    )
    trailers: list[tuple[str, object]] = [
        (ACTION, action),
        (MODEL, cand.name),
        (VERSION, cand.version),
        (DATA_VERSION, cand.data_version or "none"),
        (PREVIOUS, previous or "none"),
        (ENVIRONMENT, ", ".join(envs)),
        (RUN, cand.run_id or "none"),
        (METRICS, metric_text),
    ]
    status = cand.tags.get(Tag.VALIDATION_STATUS)
    if status:
        gate_reason = cand.tags.get(Tag.VALIDATION_REASON)
        trailers.append((GATE, f"{status}: {gate_reason}" if gate_reason else status))
    for check in checked.checks if checked else []:
        trailers.append(
            (CHECK, f"{check.name} {'passed' if check.ok else 'failed'}: {check.detail}")
        )
    if checked and checked.artifact_size_bytes is not None:
        trailers.append((ARTIFACT, checked.artifact_size_bytes))
    trailers += extra or []
    trailers.append((REASON, reason))
    return f"{title}\n\n{trailer_block(trailers)}\n"


def _promote_reason(cand) -> str:
    """Why a promotion with no --reason happened: the gate's verdict when it gave one."""
    if cand.tags.get(Tag.VALIDATION_STATUS) == "passed":
        return "passed the quality gate and the deployable checks"
    return "promoted by hand; passed the deployable checks"


@dataclass
class _Step:
    """One registry change of a commit: `do`, and `undo` with what it says when undone."""

    do: Callable[[], None]
    undo: Callable[[], None]
    undone: str


def _champion_step(c, name: str, version: str, current: str | None, old_hist, new_hist):
    return _Step(
        lambda: models.set_champion(c, name, version, new_hist),
        lambda: models.set_champion(c, name, current, old_hist),
        f"alias champion moved back to {current or '(none)'}",
    )


def _candidate_step(c, name: str, new, old):
    if old is None:
        undone = "candidate alias removed again"
    else:
        weight = f" at {old.weight:g}%" if old.weight is not None else ""
        undone = f"alias {old.mode} back on v{old.version}{weight}"
    return _Step(
        lambda: models.set_candidate(c, name, new, old),
        lambda: models.set_candidate(c, name, old, new),
        undone,
    )


def _apply(
    c,
    settings: PromoteSettings,
    checkout: gitops.Checkout,
    cand,
    envs: list[str],
    current: str | None,
    old_hist: models.History,
    new_hist: models.History,
    message: str,
    files: dict | None = None,
    steps: list[_Step] | None = None,
) -> dict:
    """Steps 3-5 with their undo; returns what happened. `files` (env -> (version, data
    version, candidate block)) defaults to the champion `cand` in `envs`; `steps` (the
    registry changes) defaults to moving alias champion to it."""
    base = checkout.head()
    if files is None:
        files = {env: (cand.version, cand.data_version, None) for env in envs}
    if steps is None:
        steps = [_champion_step(c, cand.name, cand.version, current, old_hist, new_hist)]
    commit = checkout.commit_files(cand.name, files, message)
    started: list[_Step] = []
    outcome: dict = {"commit": commit, "pushed": False, "pull_request": None}
    pr_branch = None
    try:
        for step in steps:
            started.append(step)  # from here on, its undo is the undo (harmless if it did not)
            step.do()
        if commit and checkout.remote and settings.push:
            token = settings.github_token.get_secret_value() if settings.github_token else None
            if token:
                pr_branch = f"mlops/{cand.name}-v{cand.version}-{datetime.now(UTC):%Y%m%d%H%M%S}"
                outcome["pull_request"] = _pull_request(
                    settings, checkout, token, pr_branch, message
                )
                outcome["pr_branch"] = pr_branch
                checkout.reset_to(base)  # the commit lives on the pull request's branch
            else:
                checkout.push(f"HEAD:refs/heads/{checkout.branch}")
                outcome["pushed"] = True
    except BaseException as exc:
        undo = []
        for step in reversed(started):
            try:
                step.undo()
                undo.append(step.undone)
            except Exception as undo_exc:  # pragma: no cover - both stores failing at once
                undo.append(f"could NOT undo ({step.undone}): {undo_exc}")
        if pr_branch:
            checkout.delete_remote_branch(pr_branch, _auth(settings, checkout))
        if commit:
            checkout.reset_to(base)
            undo.append("local commit discarded")
        if isinstance(exc, MlopsError) and undo:
            exc.message += f" (nothing changed: {'; '.join(undo)})"
            exc.details.setdefault("rolled_back", undo)
        elif isinstance(exc, Exception):
            raise Unavailable(
                f"the change of {cand.uri} failed ({type(exc).__name__}: {exc}); "
                f"nothing changed: {'; '.join(undo) or 'no state had moved'}",
                details={"rolled_back": undo},
            ) from exc
        raise
    return outcome


def _auth(settings: PromoteSettings, checkout: gitops.Checkout) -> list[str]:
    from deployment_prep import github

    if not settings.github_token:
        return []
    return github.push_auth_config(checkout.remote_url(), settings.github_token.get_secret_value())


def _preflight(settings: PromoteSettings, checkout: gitops.Checkout) -> None:
    """Refuse settings that cannot work before anything moves."""
    if settings.github_token and not (checkout.remote and settings.push):
        raise BadInput(
            f"MLOPS_PROMOTE_GITHUB_TOKEN is set but the GitOps checkout {checkout.path} has no "
            f"remote {settings.remote!r} to push a pull-request branch to (or "
            "MLOPS_PROMOTE_PUSH is false)"
        )


def _pull_request(settings, checkout, token: str, branch: str, message: str) -> dict:
    from deployment_prep import github

    remote_url = checkout.remote_url()
    repo = settings.github_repo or github.repo_from_url(remote_url)
    if not repo:
        raise BadInput(
            "MLOPS_PROMOTE_GITHUB_TOKEN is set but the GitHub repository is unknown: set "
            f"MLOPS_PROMOTE_GITHUB_REPO=owner/name (remote {remote_url} is not on github.com)"
        )
    checkout.push(f"HEAD:refs/heads/{branch}", extra_config=_auth(settings, checkout))
    title, _, body = message.partition("\n")
    return github.open_pull_request(
        settings.github_api_url,
        repo,
        token,
        head=branch,
        base=checkout.branch,
        title=title,
        body=body.strip() + "\n\nOpened by `mlops promote`.",
    )


def _context(envs: list[str] | None, model: str | None):
    platform = get_settings()
    folder = platform.model_folder(model)
    settings = get_promote_settings()
    envs = check_envs(envs or settings.envs)
    c = models.client(platform.tracking_uri)
    return platform, folder, settings, envs, c


def _migrate_layout(settings: PromoteSettings, checkout: gitops.Checkout) -> list[str]:
    """A checkout still in the single-model layout (envs/<env>/model-values.yaml) is moved
    to one file per model by a commit of its own (pushed like a promotion), before the
    promotion touches it; with pull requests (MLOPS_PROMOTE_GITHUB_TOKEN) it is refused
    with the commands that do it, since nothing may reach the branch but a pull request."""
    legacy = checkout.legacy_files()
    if not legacy:
        return []
    if settings.github_token:
        moves = " && ".join(
            f"git mv {old} {old.rsplit('/', 1)[0]}/models/<model>.yaml" for old in legacy
        )
        raise BadInput(
            f"the GitOps repository {checkout.remote_url() or checkout.path} still has the "
            f"single-model layout ({', '.join(legacy)}); promotions open pull requests "
            "(MLOPS_PROMOTE_GITHUB_TOKEN), so migrate it by one: "
            f"{moves} (<model> is the name in the file), commit, merge it, then promote again"
        )
    base = checkout.head()
    commit, moved = checkout.migrate_legacy()
    if commit and checkout.remote and settings.push:
        try:
            checkout.push(f"HEAD:refs/heads/{checkout.branch}")
        except BaseException:
            checkout.reset_to(base)
            raise
    log.info("migrated %s to one values file per model (%s)", ", ".join(legacy), commit)
    return moved


def promote(
    version: str | None = None,
    envs: list[str] | None = None,
    build_context: Path | None = None,
    model: str | None = None,
    reason: str | None = None,
) -> PromoteResult:
    # The check process starts first: its imports overlap with the work below.
    worker = _start_worker(get_settings())
    try:
        return _promote(worker, version, envs, build_context, model, reason)
    finally:
        if worker is not None:
            worker.close()


def _promote(
    worker,
    version: str | None,
    envs: list[str] | None,
    build_context,
    model: str | None,
    reason: str | None = None,
) -> PromoteResult:
    platform, folder, settings, envs, c = _context(envs, model)
    name = folder.name
    if version is None:
        # A live shadow or canary is what a plain promote completes, whichever version
        # holds the challenger alias (it may have been staged with --version).
        live = models.live_candidate(c, name)
        if live is not None:
            version = live.version
    cand = models.candidate(c, name, version)
    if cand.tags.get(Tag.VALIDATION_STATUS) == "failed":
        raise GateRefused(
            f"model {name} version {cand.version} failed the quality gate: "
            f"{cand.tags.get(Tag.VALIDATION_REASON) or 'no reason recorded'}",
            details={"model_version": cand.version},
        )
    checkout = gitops.open_checkout(settings, platform.home)
    _preflight(settings, checkout)
    with gitops.locked(checkout):
        checkout.ensure_clean_and_current()
        migrated = _migrate_layout(settings, checkout)
        current = models.alias_version(c, name, Alias.CHAMPION)
        live = models.live_candidate(c, name)
        if live is not None and live.version != cand.version:
            raise Conflict(
                f"model {name} has a live {_describe_live(live)} (v{live.version}); promote "
                f"it (`mlops promote --model {name} --version {live.version}`) or abort it "
                f"(`mlops rollback --model {name} --candidate`) before promoting "
                f"v{cand.version}",
                details={"candidate_version": live.version, "candidate_mode": live.mode},
            )
        state = {env: checkout.read_values(env, name) for env in envs}
        in_place = all(
            s and s["name"] == name and s["version"] == cand.version for s in state.values()
        )
        if current == cand.version and in_place and build_context is None:
            result = _summary(cand, envs, current, checkout, migrated)
            result.update(
                {
                    "action": "promote",
                    "changed": False,
                    "commit": checkout.head(),
                    "pushed": False,
                    "pull_request": None,
                    "reload": None,
                    "checks": [],
                    "build_context": None,
                }
            )
            return PromoteResult.model_validate(result)
        if live is not None and build_context is None and _checked_as_candidate(cand):
            # Completing a rollout: the candidate passed these checks when it became the
            # candidate (the same immutable version), and has been served since.
            return _complete(
                c, platform, settings, checkout, cand, envs, current, live, migrated, reason
            )
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="promote-", dir=_work_dir(platform)) as work:
            log.info("checking %s as a deployable", cand.uri)
            try:
                checked = _run_checks(platform, folder, settings, cand, Path(work), worker)
            except GateRefused as exc:
                _tag_check(c, cand, "failed", exc.message)
                raise
            _tag_check(c, cand, "passed", "", checked)
            context = None
            if build_context is not None:
                from deployment_prep import build_context as bc

                context = bc.write(build_context, Path(str(checked.model_dir)), cand)
        check_seconds = round(time.perf_counter() - started, 2)
        result = _summary(cand, envs, current, checkout, migrated)
        result.update(
            {
                "action": "promote",
                "checks": checked.checks,
                "latency_ms": checked.latency,
                "predictions": checked.predictions,
                "artifact_size_bytes": checked.artifact_size_bytes,
                "check_seconds": check_seconds,
                "timings_s": _timings(checked),
                "build_context": context,
            }
        )
        if current == cand.version and in_place:
            result.update(
                {
                    "changed": False,
                    "commit": checkout.head(),
                    "pushed": False,
                    "pull_request": None,
                    "reload": None,
                }
            )
            return PromoteResult.model_validate(result)
        old_hist = models.history(c, name)
        new_hist = models.History(list(old_hist.stack), list(old_hist.events))
        if current and (not new_hist.stack or new_hist.stack[-1] != current):
            new_hist.stack.append(current)
        if not new_hist.stack or new_hist.stack[-1] != cand.version:
            new_hist.stack.append(cand.version)
        reason = _one_line(reason) or _promote_reason(cand)
        new_hist.record("promote", cand.version, current, envs=envs, reason=_short(reason))
        files, steps = _champion_move(c, checkout, cand, envs, current, old_hist, new_hist, live)
        message = _message(
            "promote", cand, envs, current, reason, checked, extra=_removed_trailers(live)
        )
        result.update(
            _apply(
                c,
                settings,
                checkout,
                cand,
                envs,
                current,
                old_hist,
                new_hist,
                message,
                files,
                steps,
            )
        )
        result.update(
            {"changed": True, "reason": reason, "removed_candidate": _info(live, c, name)}
        )
    result["reload"] = reload_service(platform, settings, cand)
    return PromoteResult.model_validate(result)


def _checked_as_candidate(cand) -> bool:
    return cand.tags.get("deploy_check") == "passed"


def _complete(c, platform, settings, checkout, cand, envs, current, live, migrated, reason):
    """Promote the live candidate: champion moves, the candidate (alias, block) goes."""
    name = cand.name
    old_hist = models.history(c, name)
    new_hist = models.History(list(old_hist.stack), list(old_hist.events))
    if current and (not new_hist.stack or new_hist.stack[-1] != current):
        new_hist.stack.append(current)
    new_hist.stack.append(cand.version)
    reason = _one_line(reason) or f"the {_describe_live(live)} candidate completed"
    new_hist.record("promote", cand.version, current, envs=envs, reason=_short(reason))
    files, steps = _champion_move(c, checkout, cand, envs, current, old_hist, new_hist, live)
    checked_note = "candidate passed: the deployable checks, when it became the candidate"
    extra = [*_removed_trailers(live), (CHECK, checked_note)]
    message = _message("promote", cand, envs, current, reason, extra=extra)
    result = _summary(cand, envs, current, checkout, migrated)
    result.update({"action": "promote", "checks": None})
    applied = _apply(
        c, settings, checkout, cand, envs, current, old_hist, new_hist, message, files, steps
    )
    result.update(applied)
    result.update({"changed": True, "reason": reason, "removed_candidate": _info(live, c, name)})
    result["reload"] = reload_service(platform, settings, cand)
    return PromoteResult.model_validate(result)


def _timings(checked: CheckReport) -> dict[str, float]:
    """Seconds of each phase of the check process, by phase name."""
    return {
        name.removesuffix("_s"): value
        for name, value in checked.model_dump().items()
        if name.endswith("_s") and value is not None
    }


def rollback(
    to: str | None = None,
    envs: list[str] | None = None,
    model: str | None = None,
    reason: str | None = None,
) -> RollbackResult:
    given = envs
    reason = _one_line(reason) or "rolled back by hand (no --reason given)"
    platform, folder, settings, envs, c = _context(envs, model)
    name = folder.name
    models.registered_model(c, name)
    checkout = gitops.open_checkout(settings, platform.home)
    _preflight(settings, checkout)
    with gitops.locked(checkout):
        checkout.ensure_clean_and_current()
        migrated = _migrate_layout(settings, checkout)
        current = models.alias_version(c, name, Alias.CHAMPION)
        old_hist = models.history(c, name)
        if not given:
            # Every environment the current champion was put into goes back with it.
            envs = _champion_envs(name, old_hist, current, checkout) or envs
        stack = list(old_hist.stack)
        if current and (not stack or stack[-1] != current):
            stack.append(current)
        if to is None:
            if len(stack) < 2:
                raise BadInput(
                    f"model {name} has no previous champion to roll back to"
                    + (f" (champion is v{current})" if current else " (no champion yet)")
                    + "; pass --to N"
                )
            target = stack[-2]
            new_stack = stack[:-1]
        else:
            target = str(to)
            if target == current:
                raise BadInput(f"version {target} of {name} is already the champion")
            if target in stack:
                new_stack = stack[: len(stack) - stack[::-1].index(target)]
            else:
                new_stack = [*stack, target]
        cand = models.candidate(c, name, target)
        checked = None
        if target not in stack:
            # Never champion before: check it like a promotion would.
            with tempfile.TemporaryDirectory(prefix="rollback-", dir=_work_dir(platform)) as work:
                checked = _run_checks(platform, folder, settings, cand, Path(work))
        new_hist = models.History(new_stack, list(old_hist.events))
        new_hist.record("rollback", target, current, envs=envs, reason=_short(reason))
        # The champion moving back takes any candidate with it (it was compared against
        # the champion that is leaving).
        live = models.live_candidate(c, name)
        files, steps = _champion_move(c, checkout, cand, envs, current, old_hist, new_hist, live)
        message = _message(
            "rollback", cand, envs, current, reason, checked, extra=_removed_trailers(live)
        )
        result = _summary(cand, envs, current, checkout, migrated)
        result.update(
            {
                "action": "rollback",
                "checks": checked.checks if checked else None,
                "reason": reason,
                "removed_candidate": _info(live, c, name),
            }
        )
        result.update(
            _apply(
                c,
                settings,
                checkout,
                cand,
                envs,
                current,
                old_hist,
                new_hist,
                message,
                files,
                steps,
            )
        )
        result["changed"] = True
    result["reload"] = reload_service(platform, settings, cand)
    return RollbackResult.model_validate(result)


def _one_line(text: str | None) -> str:
    """A --reason as the one line a trailer value is."""
    return " ".join((text or "").split())


def _short(reason: str) -> str:
    """The reason as kept in the registry's event list: 20 events share one tag value (of
    bounded length), the commit's trailer keeps it whole."""
    return reason if len(reason) <= 200 else reason[:199] + "…"


def _champion_envs(name: str, hist: models.History, current: str | None, checkout) -> list[str]:
    from deployment_prep.settings import ENVIRONMENTS

    found: list[str] = []
    for event in reversed(hist.events):
        if event.get("version") != current:
            break
        found += [e for e in event.get("envs") or [] if e in ENVIRONMENTS and e not in found]
    # And any environment whose committed file pins the current champion.
    for env in ENVIRONMENTS:
        values = checkout.read_values(env, name)
        if values and values["version"] == current and env not in found:
            found.append(env)
    return found


def _run_checks(platform, folder, settings, cand, work: Path, worker=None) -> CheckReport:
    from deployment_prep.checks import run_checks

    return run_checks(platform, folder, settings, cand, work, worker)


def _start_worker(platform: PlatformSettings):
    from deployment_prep.checks import start_worker

    return start_worker(platform.tracking_uri)


def _work_dir(platform: PlatformSettings) -> str:
    path = platform.home / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _tag_check(c, cand, status: str, reason: str, checked: CheckReport | None = None) -> None:
    """Record the deployable check on the model version (an audit trail, not state)."""
    try:
        c.set_model_version_tag(cand.name, cand.version, "deploy_check", status)
        c.set_model_version_tag(cand.name, cand.version, "deploy_check_reason", reason[:4000])
        if checked:
            c.set_model_version_tag(
                cand.name, cand.version, "artifact_size_bytes", str(checked.artifact_size_bytes)
            )
            if checked.latency is not None:
                p99 = str(checked.latency.p99_ms)
                c.set_model_version_tag(cand.name, cand.version, "p99_latency_ms", p99)
    except Exception:  # the audit tags must not decide the promotion
        log.warning("could not record the check result on %s", cand.uri, exc_info=True)


def _summary(
    cand,
    envs: list[str],
    previous: str | None,
    checkout: gitops.Checkout,
    migrated: list[str] | None = None,
) -> dict:
    return {
        "ok": True,
        "model_name": cand.name,
        "model_version": cand.version,
        "previous_version": previous,
        "data_version": cand.data_version,
        "run_id": cand.run_id,
        "metrics": models.headline_metrics(cand.metrics),
        "envs": envs,
        "values_files": [gitops.values_path(e, cand.name, checkout.gitops_dir) for e in envs],
        "migrated_files": migrated or [],
        "gitops_repo": str(checkout.path),
        "remote": checkout.remote_url(),
        "branch": checkout.branch,
    }


# -- the candidate a champion move takes with it (rollout.py stages and aborts one) ---------


def candidate_blocks(checkout: gitops.Checkout, name: str) -> dict[str, dict]:
    """env -> the model's file state, for every environment whose file has a `candidate:`
    block (the alias is one per model, so each of them names the same candidate)."""
    found = {}
    for env in layout.environments(checkout.path, checkout.gitops_dir):
        state = checkout.read_values(env, name)
        if state and state.get("candidate") is not None:
            found[env] = state
    return found


def _champion_move(c, checkout, cand, envs, current, old_hist, new_hist, live):
    """The files and registry steps of a champion move: `cand` pinned in `envs`, and every
    candidate (alias and block, in every environment) removed."""
    files = {
        env: (state["version"], state["data_version"], None)
        for env, state in candidate_blocks(checkout, cand.name).items()
    }
    files.update({env: (cand.version, cand.data_version, None) for env in envs})
    steps = [_champion_step(c, cand.name, cand.version, current, old_hist, new_hist)]
    if live is not None:
        steps.append(_candidate_step(c, cand.name, None, live))
    return files, steps


def _describe_live(live) -> str:
    return f"canary at {live.weight:g}%" if live.weight is not None else live.mode


def _removed_trailers(live) -> list[tuple[str, object]]:
    if live is None:
        return []
    out: list[tuple[str, object]] = [(CANDIDATE, live.version), (CANDIDATE_MODE, live.mode)]
    if live.weight is not None:
        out.append((WEIGHT, f"{live.weight:g}"))
    return out


def _info(live, c=None, name: str | None = None, data_version: str | None = None):
    """The contract's view of a candidate (None: none)."""
    from mlops_core.contracts.deploy import CandidateInfo

    if live is None:
        return None
    if data_version is None and c is not None and name:
        try:
            data_version = models.candidate(c, name, live.version).data_version
        except MlopsError:  # a version deleted since: the rest still says what it was
            data_version = None
    return CandidateInfo(
        version=live.version,
        mode=live.mode,
        weight=live.weight,
        data_version=data_version,
        uri=f"models:/{name}/{live.version}" if name else None,
    )
