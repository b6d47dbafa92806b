"""`mlops promote` and `mlops rollback` (import-light: the work happens in promote.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_core.cli_options import ModelOption
from mlops_core.contracts.deploy import ChampionChange, HistoryResult, PromoteResult
from mlops_core.output import JsonOption, emit

EnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        help="Environment whose gitops/envs/<env>/models/<model>.yaml is written (kind, "
        "prod); repeat for several. Default: MLOPS_PROMOTE_ENVS (kind).",
    ),
]


def _reason_option(default_text: str):
    return Annotated[
        str | None,
        typer.Option(
            "--reason",
            help=f"Why, recorded in the GitOps commit's `Reason:` trailer (and shown by "
            f"`mlops history`). Default: {default_text}.",
        ),
    ]


def promote(
    version: Annotated[
        int | None,
        typer.Option(
            "--version", min=1, help="Model version to promote (default: the challenger)."
        ),
    ] = None,
    env: EnvOption = None,
    build_context: Annotated[
        Path | None,
        typer.Option(
            "--build-context",
            help="Also write a self-contained image build context (Dockerfile, model files, "
            "pinned requirements) into this new folder.",
        ),
    ] = None,
    model: ModelOption = None,
    reason: _reason_option("what the quality gate and the checks decided") = None,
    shadow: Annotated[
        bool,
        typer.Option(
            "--shadow",
            help="Put the version beside the champion as a shadow (predicts on every "
            "request, never answers): alias `shadow` and the file's `candidate:` block.",
        ),
    ] = False,
    canary: Annotated[
        float | None,
        typer.Option(
            "--canary",
            metavar="PERCENT",
            help="Put the version beside the champion as a canary answering PERCENT of "
            "requests (0 < PERCENT < 100; again to change the weight): alias `canary`, "
            "tag `canary_weight` and the file's `candidate:` block.",
        ),
    ] = None,
    replace_candidate: Annotated[
        bool,
        typer.Option(
            "--replace-candidate",
            help="With --shadow/--canary: replace a live candidate of another version in "
            "the same commit (without it, that is refused).",
        ),
    ] = False,
    require_live: Annotated[
        bool,
        typer.Option(
            "--require-live",
            help="Refuse (exit 3) unless the version carries a passing live verdict of "
            "`mlops monitor compare` against the current champion, younger than monitor.yaml "
            "live.max_verdict_age_hours.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the challenger (or --version N) as a deployable and make it the champion.

    Loads the version in a clean process, checks its signature against the dataset schema,
    its predictions on its data version's test split, its single-record p99 latency and its
    size; then moves alias `champion` and commits that model's
    gitops/envs/<env>/models/<model>.yaml (no other model's file) to the GitOps repository
    (pushed, or a pull request with MLOPS_PROMOTE_GITHUB_TOKEN).

    With --shadow or --canary PERCENT the checked version becomes the candidate beside the
    champion instead (the champion stays); promoting the candidate completes the rollout.

    Example: mlops promote --model house-price --env kind --env prod --json
    Example: mlops promote --model house-price --canary 10 --json
    """
    ver = str(version) if version else None
    if shadow or canary is not None:
        from deployment_prep import rollout

        mode, weight = rollout.check_request(shadow, canary)
        if build_context is not None:
            from mlops_core.errors import BadInput

            raise BadInput(
                "--build-context: only with a promotion to champion (no --shadow/--canary)"
            )
        result = rollout.stage(mode, weight, ver, env, model, reason, replace_candidate)
    else:
        if replace_candidate:
            from mlops_core.errors import BadInput

            raise BadInput("--replace-candidate: only with --shadow or --canary")
        if require_live:  # before anything moves (monitoring writes the verdict)
            from mlops_core.live_verdict import require_live_for_promotion

            require_live_for_promotion(model, ver)
        from deployment_prep.promote import promote as run

        result = run(ver, env, build_context, model, reason)
    emit(result, as_json, lambda console: _human(console, result))


def rollback(
    to: Annotated[
        int | None,
        typer.Option("--to", min=1, help="Version to roll back to (default: previous champion)."),
    ] = None,
    env: EnvOption = None,
    model: ModelOption = None,
    reason: _reason_option("'rolled back by hand'") = None,
    candidate: Annotated[
        bool,
        typer.Option(
            "--candidate",
            help="Abort the shadow/canary candidate instead: its alias and every "
            "`candidate:` block removed, the champion stays (Action: abort).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Move `champion` back to the previous champion (or --to N) and commit the change.

    The GitOps change is a new commit touching only that model's files (history is never
    rewritten); --reason is recorded in its `Reason:` trailer. A live shadow/canary
    candidate is removed with it; --candidate removes only the candidate.

    Example: mlops rollback --model house-price --reason "p99 above budget since v7" --json
    Example: mlops rollback --model house-price --candidate --reason "canary p99 too high"
    """
    if candidate:
        if to:
            from mlops_core.errors import BadInput

            raise BadInput("--to: not with --candidate (aborting a candidate moves no champion)")
        from deployment_prep.rollout import abort

        result = abort(env, model, reason)
    else:
        from deployment_prep.promote import rollback as run

        result = run(str(to) if to else None, env, model, reason)
    emit(result, as_json, lambda console: _human(console, result))


def history(
    model: ModelOption = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Only changes of this environment; repeat for several."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the newest N changes.")
    ] = None,
    html: Annotated[
        bool,
        typer.Option(
            "--html/--no-html",
            help="Write the page history.html beside the model's monitoring reports.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """A model's audit trail: every promotion and rollback, newest first, from git.

    Read from the git log of the GitOps repository promote writes to (commits touching
    gitops/envs/<env>/models/<model>.yaml, their trailers: action, environments, version,
    data version, checks, metrics, reason), joined with the MLflow registry (the version's
    run, aliases, data version and metrics now), the data registry and the model's
    monitoring reports. A commit made by hand is listed as `manual` with what it changed.

    Example: mlops history --model house-price --env prod --limit 10 --json
    """
    from deployment_prep.history import history as run

    result = run(model, env, limit, html)
    emit(result, as_json, lambda console: _human_history(console, result))


def _human_history(console, r: HistoryResult) -> None:
    from rich.table import Table

    table = Table(title=f"history of {r.model_name} ({r.total} change(s))")
    for column in ("time", "action", "env", "version", "previous", "data", "reason", "commit"):
        table.add_column(column)
    for e in r.entries:
        table.add_row(
            e.time,
            e.action + (f" {e.weight:g}%" if e.weight is not None else ""),
            ", ".join(e.envs) or "-",
            f"v{e.model_version}" if e.model_version else "-",
            f"v{e.previous_version}" if e.previous_version else "-",
            e.data_version or "-",
            e.reason or ("; ".join(e.notes) if e.action == "manual" else "-"),
            e.commit[:12],
        )
    if r.entries:
        console.print(table)
    else:
        console.print(f"no promotion or rollback of {r.model_name} in {r.gitops_repo or '-'}")
    for e in r.entries:
        notes = [n for n in e.notes if e.action != "manual"]
        if notes:
            console.print(f"  [yellow]{e.commit[:12]}: {'; '.join(notes)}[/]")
    for warning in r.warnings:
        console.print(f"  [yellow]{warning}[/]")
    if r.html:
        console.print(f"  page: {r.html}")


def _human(console, r: ChampionChange) -> None:
    mode = getattr(r, "mode", "champion")
    if r.action == "abort":
        gone = r.removed_candidate
        console.print(
            f"[bold green]{r.model_name}: {gone.mode} v{gone.version} aborted[/] "
            f"(champion stays v{r.model_version})"
            if gone
            else f"{r.model_name}: candidate aborted"
        )
    elif mode != "champion":
        share = f" at {r.weight:g}%" if r.weight is not None else ""
        state = "is already" if not r.changed else "is now"
        console.print(
            f"[bold green]{r.model_name} v{r.model_version} {state} the {mode}{share}[/] "
            f"beside champion v{r.previous_version}"
        )
    elif not r.changed:
        console.print(
            f"{r.model_name} v{r.model_version} is already the champion in {', '.join(r.envs)}"
        )
    else:
        verb = "promoted" if r.action == "promote" else "rolled back to"
        console.print(
            f"[bold green]{r.model_name} {verb} v{r.model_version}[/] (data {r.data_version}; "
            f"previous champion: {r.previous_version or 'none'})"
        )
    for check in r.checks or []:
        mark = "[green]ok[/]" if check.ok else "[red]failed[/]"
        console.print(f"  check {check.name}: {mark} {check.detail}")
    if isinstance(r, PromoteResult) and r.artifact_size_bytes is not None:
        console.print(f"  artifact size: {r.artifact_size_bytes / 1e6:.2f} MB")
    if r.metrics:
        console.print("  metrics: " + ", ".join(f"{k}={v:g}" for k, v in r.metrics.items()))
    if r.changed and r.reason:
        console.print(f"  reason: {r.reason}")
    if r.removed_candidate and r.action != "abort":
        gone = r.removed_candidate
        console.print(f"  candidate removed: {gone.mode} v{gone.version}")
    if r.migrated_files:
        console.print(f"  migrated to one file per model: {', '.join(r.migrated_files)}")
    console.print(f"  gitops: {r.gitops_repo} ({', '.join(r.values_files)})")
    if r.commit:
        console.print(f"  commit: {r.commit[:12]} on {r.branch}")
    if r.pushed:
        console.print(f"  pushed to {r.remote}")
    if r.pull_request:
        console.print(f"  pull request: {r.pull_request.url}")
    if isinstance(r, PromoteResult) and r.build_context:
        console.print(f"  build context: {r.build_context.path}")
    if r.reload:
        state = (
            "[green]reloaded[/]"
            if r.reload.ok
            else f"[yellow]not reloaded[/] ({r.reload.error or r.reload.reload_error})"
        )
        console.print(f"  prediction service: {state}")


def list_models(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="List only this model (its candidate, pins, ...); default: every model.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List every model: task, latest data version, champion, challenger, promotions.

    Where each is promoted comes from the GitOps files (env -> version of
    gitops/envs/<env>/models/<model>.yaml), with the shadow/canary candidate a file names.

    A model MLflow has no registered model of yet shows none; an unreachable tracking
    server is exit 5.

    Example: mlops models list --json
    Example: mlops models list --model house-price --json
    """
    from deployment_prep.listing import list_models as run

    result = run(model)
    emit(result, as_json, lambda console: _human_list(console, result))


def _human_list(console, r) -> None:
    from rich.table import Table

    if not r.models:
        console.print(
            f"no model folder in {r.models_dir}; draft one with "
            "`mlops models new NAME --from-csv FILE --label COLUMN`"
        )
        return
    table = Table(title=f"models in {r.models_dir}")
    for column in ("model", "task", "data", "champion", "challenger", "candidate", "promoted"):
        table.add_column(column)
    for m in r.models:
        promoted = ", ".join(f"{env}: v{v}" for env, v in m.promoted.items()) or "-"
        cand = m.candidate
        candidate = (
            f"v{cand.version} {cand.mode}"
            + (f" {cand.weight:g}%" if cand.weight is not None else "")
            + (f" ({', '.join(m.candidate_envs)})" if m.candidate_envs else "")
            if cand
            else "-"
        )
        table.add_row(
            m.name,
            m.task,
            m.latest_data_version or "-",
            f"v{m.champion}" if m.champion else "-",
            f"v{m.challenger}" if m.challenger else "-",
            candidate,
            promoted,
        )
    console.print(table)
    for m in r.models:
        if not m.registered:
            console.print(f"  {m.name}: not registered in MLflow yet (run `mlops train`)")
        if m.error:
            console.print(f"  [yellow]{m.name}: {m.error}[/]")


def register(app: typer.Typer) -> None:
    from mlops_core.cli import models_app

    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("history")(history)
    models_app.command("list")(list_models)
