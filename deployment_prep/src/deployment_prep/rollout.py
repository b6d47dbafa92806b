"""Shadow and canary rollouts: a candidate version beside the champion, as git commits.

`mlops promote --shadow` / `--canary PERCENT` put the challenger (or --version N) beside
the champion: the same deployable checks as a promotion, then alias `shadow` or `canary`
(a canary's weight in the version tag `canary_weight`) and one GitOps commit writing the
`candidate:` block of the model's file. `mlops rollback --candidate` removes both (one
commit, Action: abort). `mlops promote` of the candidate completes it (promote.py).

The registry and the files move together with promote.py's undo discipline: the commit is
made locally, the aliases move, the push happens; a failure undoes every step before it.
At most one candidate per model: a second one is refused naming the live one, unless
`--replace-candidate` is given (then the one commit swaps them).
"""

from __future__ import annotations

import logging

from deployment_prep import gitops, models
from deployment_prep import promote as p
from mlops_core import gitops_layout as layout
from mlops_core.contracts import Alias, Tag
from mlops_core.contracts.deploy import PromoteResult, RollbackResult
from mlops_core.errors import BadInput, Conflict, GateRefused

log = logging.getLogger("mlops.promote")


def check_request(shadow: bool, canary: float | None) -> tuple[str, float | None]:
    """(mode, weight) of `--shadow` / `--canary PERCENT`; BadInput naming the option."""
    if shadow and canary is not None:
        raise BadInput("--shadow and --canary: choose one (a candidate is a shadow or a canary)")
    if canary is not None:
        return "canary", layout.check_weight(canary, "--canary")
    return "shadow", None


def stage(
    mode: str,
    weight: float | None,
    version: str | None = None,
    envs: list[str] | None = None,
    model: str | None = None,
    reason: str | None = None,
    replace: bool = False,
) -> PromoteResult:
    """Put the challenger (or `version`) beside the champion as a shadow or a canary."""
    platform, folder, settings, envs, c = p._context(envs, model)
    name = folder.name
    given = version
    live = models.live_candidate(c, name)
    if version is None and live is not None:
        version = live.version  # `--canary 25` changes the live candidate's weight
    cand = models.candidate(c, name, version)
    if cand.tags.get(Tag.VALIDATION_STATUS) == "failed":
        raise GateRefused(
            f"model {name} version {cand.version} failed the quality gate: "
            f"{cand.tags.get(Tag.VALIDATION_REASON) or 'no reason recorded'}",
            details={"model_version": cand.version},
        )
    checkout = gitops.open_checkout(settings, platform.home)
    p._preflight(settings, checkout)
    with gitops.locked(checkout):
        checkout.ensure_clean_and_current()
        migrated = p._migrate_layout(settings, checkout)
        current = models.alias_version(c, name, Alias.CHAMPION)
        option = "--version" if given else "the challenger"
        if current is None:
            raise BadInput(
                f"model {name} has no champion for a {mode} to run beside; promote one first "
                "(`mlops promote`)"
            )
        if cand.version == current:
            raise BadInput(
                f"{option}: v{cand.version} of {name} is the champion; a {mode} candidate "
                "must be another version"
            )
        states = {env: checkout.read_values(env, name) for env in envs}
        unpinned = [env for env, state in states.items() if not (state and state["version"])]
        if unpinned:
            files = ", ".join(gitops.values_path(e, name, checkout.gitops_dir) for e in unpinned)
            raise BadInput(
                f"--env {', '.join(unpinned)}: {files} pins no champion of {name}; "
                "promote one into it first"
            )
        live = models.live_candidate(c, name)  # again, under the lock
        if live is not None and live.version != cand.version and not replace:
            raise Conflict(
                f"model {name} has a live {p._describe_live(live)} candidate v{live.version}; "
                f"abort it (`mlops rollback --model {name} --candidate`), promote it, or pass "
                f"--replace-candidate to put v{cand.version} in its place",
                details={"candidate_version": live.version, "candidate_mode": live.mode},
            )
        new = models.LiveCandidate(cand.version, mode, weight)
        block = layout.CandidatePin(cand.version, cand.data_version, mode, weight)
        existing = p.candidate_blocks(checkout, name)
        # Every file naming a candidate names this one: the environments asked for, and
        # those that had a block (a weight change reaches wherever the canary runs).
        files = {
            env: (state["version"], state["data_version"], block)
            for env, state in {**existing, **states}.items()
        }
        result = p._summary(cand, sorted(files), current, checkout, migrated)
        result.update({"action": "promote", "mode": mode, "weight": weight})
        in_place = live == new and all(
            (existing.get(env) or {}).get("candidate") == block for env in files
        )
        if in_place:
            result.update(
                {
                    "changed": False,
                    "commit": checkout.head(),
                    "pushed": False,
                    "candidate": p._info(new, name=name, data_version=cand.data_version),
                }
            )
            return PromoteResult.model_validate(result)
        checked = None
        if live is None or live.version != cand.version:
            # A new candidate is checked as a deployable; the live one changing its mode or
            # weight was checked when it became the candidate.
            checked = _check(platform, folder, settings, c, cand, result)
        reason = p._one_line(reason) or _default_reason(mode, live, new)
        replaced = live if live is not None and live.version != cand.version else None
        extra: list[tuple[str, object]] = [(p.CANDIDATE, cand.version)]
        if weight is not None:
            extra.append((p.WEIGHT, f"{weight:g}"))
        if replaced is not None:
            extra.append(("Replaced-candidate", replaced.version))
        message = p._message(
            mode,
            cand,
            sorted(files),
            current,
            reason,
            checked,
            title=_title(mode, cand, weight, current, sorted(files)),
            extra=extra,
        )
        steps = [p._candidate_step(c, name, new, live)]
        hist = models.history(c, name)
        result.update(
            p._apply(c, settings, checkout, cand, envs, current, hist, hist, message, files, steps)
        )
        result.update(
            {
                "changed": True,
                "reason": reason,
                "checks": checked.checks if checked else None,
                "candidate": p._info(new, name=name, data_version=cand.data_version),
                "removed_candidate": p._info(replaced, c, name),
            }
        )
    return PromoteResult.model_validate(result)


def _check(platform, folder, settings, c, cand, result: dict):
    import tempfile
    import time
    from pathlib import Path

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="promote-", dir=p._work_dir(platform)) as work:
        log.info("checking %s as a deployable", cand.uri)
        try:
            checked = p._run_checks(platform, folder, settings, cand, Path(work))
        except GateRefused as exc:
            p._tag_check(c, cand, "failed", exc.message)
            raise
    p._tag_check(c, cand, "passed", "", checked)
    result.update(
        {
            "latency_ms": checked.latency,
            "predictions": checked.predictions,
            "artifact_size_bytes": checked.artifact_size_bytes,
            "check_seconds": round(time.perf_counter() - started, 2),
            "timings_s": p._timings(checked),
        }
    )
    return checked


def _title(mode: str, cand, weight: float | None, champion: str, envs: list[str]) -> str:
    where = ", ".join(envs)
    if mode == "canary":
        return f"Canary {cand.name} v{cand.version} at {weight:g}% beside v{champion} in {where}"
    return f"Shadow {cand.name} v{cand.version} beside v{champion} in {where}"


def _default_reason(mode: str, live, new) -> str:
    if live is not None and live.version == new.version:
        if live.mode == new.mode:
            return f"canary weight {live.weight:g}% -> {new.weight:g}%"
        return f"{p._describe_live(live)} -> {p._describe_live(new)}"
    return f"{mode} candidate; passed the deployable checks"


def abort(
    envs: list[str] | None = None, model: str | None = None, reason: str | None = None
) -> RollbackResult:
    """Remove the model's candidate: its alias (and weight tag) and every `candidate:`
    block, one commit (Action: abort). The champion does not move."""
    platform, folder, settings, envs, c = p._context(envs, model)
    name = folder.name
    models.registered_model(c, name)
    checkout = gitops.open_checkout(settings, platform.home)
    p._preflight(settings, checkout)
    with gitops.locked(checkout):
        checkout.ensure_clean_and_current()
        migrated = p._migrate_layout(settings, checkout)
        live = models.live_candidate(c, name)
        blocks = p.candidate_blocks(checkout, name)
        if live is None and not blocks:
            raise BadInput(f"model {name} has no shadow or canary candidate to abort (--candidate)")
        if live is None:  # a block with no alias (written by hand): the file still goes
            pin = next(iter(blocks.values()))["candidate"]
            live = models.LiveCandidate(pin.version, pin.mode, pin.weight)
            steps = []
        else:
            steps = [p._candidate_step(c, name, None, live)]
        current = models.alias_version(c, name, Alias.CHAMPION)
        cand = models.candidate(c, name, live.version)
        touched = sorted(blocks)
        files = {env: (s["version"], s["data_version"], None) for env, s in blocks.items()}
        reason = p._one_line(reason) or "candidate aborted by hand (no --reason given)"
        extra: list[tuple[str, object]] = [(p.CANDIDATE, live.version)]
        if live.weight is not None:
            extra.append((p.WEIGHT, f"{live.weight:g}"))
        title = f"Abort the {live.mode} {name} v{live.version} beside v{current or 'none'}" + (
            f" in {', '.join(touched)}" if touched else ""
        )
        message = p._message(
            "abort", cand, touched or envs, current, reason, title=title, extra=extra
        )
        # The result names the champion (it stays); the trailers name the candidate.
        champion = models.candidate(c, name, current) if current else cand
        result = p._summary(champion, touched, current, checkout, migrated)
        hist = models.history(c, name)
        result.update(
            p._apply(c, settings, checkout, cand, envs, current, hist, hist, message, files, steps)
        )
        result.update(
            {
                "action": "abort",
                "changed": True,
                "reason": reason,
                "removed_candidate": p._info(live, name=name, data_version=cand.data_version),
            }
        )
    return RollbackResult.model_validate(result)
