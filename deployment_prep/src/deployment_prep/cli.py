"""`mlops promote` and `mlops rollback` (import-light: the work happens in promote.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_core.output import JsonOption, emit

EnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        help="Environment whose gitops/envs/<env>/model-values.yaml is written (kind, prod); "
        "repeat for several. Default: MLOPS_PROMOTE_ENVS (kind).",
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
    as_json: JsonOption = False,
) -> None:
    """Check the challenger (or --version N) as a deployable and make it the champion.

    Loads the version in a clean process, checks its signature against the dataset schema,
    its predictions on its data version's test split, its single-record p99 latency and its
    size; then moves alias `champion` and commits gitops/envs/<env>/model-values.yaml to the
    GitOps repository (pushed, or a pull request with MLOPS_PROMOTE_GITHUB_TOKEN).

    Example: mlops promote --env kind --env prod --json
    """
    from deployment_prep.promote import promote as run

    result = run(str(version) if version else None, env, build_context)
    emit(result, as_json, lambda console: _human(console, result))


def rollback(
    to: Annotated[
        int | None,
        typer.Option("--to", min=1, help="Version to roll back to (default: previous champion)."),
    ] = None,
    env: EnvOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move `champion` back to the previous champion (or --to N) and commit the change.

    The GitOps change is a new commit (history is never rewritten).

    Example: mlops rollback --json
    """
    from deployment_prep.promote import rollback as run

    result = run(str(to) if to else None, env)
    emit(result, as_json, lambda console: _human(console, result))


def _human(console, r: dict) -> None:
    name, version = r["model_name"], r["model_version"]
    if not r.get("changed"):
        console.print(f"{name} v{version} is already the champion in {', '.join(r['envs'])}")
    else:
        verb = "promoted" if r["action"] == "promote" else "rolled back to"
        console.print(
            f"[bold green]{name} {verb} v{version}[/] (data {r['data_version']}; "
            f"previous champion: {r['previous_version'] or 'none'})"
        )
    for check in r.get("checks") or []:
        mark = "[green]ok[/]" if check["ok"] else "[red]failed[/]"
        console.print(f"  check {check['name']}: {mark} {check['detail']}")
    if r.get("artifact_size_bytes") is not None:
        console.print(f"  artifact size: {r['artifact_size_bytes'] / 1e6:.2f} MB")
    if r.get("metrics"):
        console.print("  metrics: " + ", ".join(f"{k}={v:g}" for k, v in r["metrics"].items()))
    console.print(f"  gitops: {r['gitops_repo']} ({', '.join(r['values_files'])})")
    if r.get("commit"):
        console.print(f"  commit: {r['commit'][:12]} on {r['branch']}")
    if r.get("pushed"):
        console.print(f"  pushed to {r['remote']}")
    if r.get("pull_request"):
        console.print(f"  pull request: {r['pull_request']['url']}")
    if r.get("build_context"):
        console.print(f"  build context: {r['build_context']['path']}")
    reload = r.get("reload")
    if reload:
        state = "[green]reloaded[/]" if reload["ok"] else f"[yellow]not reloaded[/] ({reload})"
        console.print(f"  prediction service: {state}")


pipeline_app = typer.Typer(
    help="The whole loop on the embedded runtime, stage by stage.", no_args_is_help=True
)


@pipeline_app.command("run")
def pipeline_run(
    rows: Annotated[int, typer.Option(help="Synthetic rows per ingested data version.")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the data and the traffic.")] = 42,
    traffic: Annotated[
        int, typer.Option(help="Requests per traffic phase (normal, then drifted).")
    ] = 1200,
    feedback_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of predictions given a true label.")
    ] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Run the whole loop: ingest, train, promote, serve, traffic, monitor, drift, retrain.

    Starts the embedded services (`mlops up`), then runs each stage as a subprocess through
    this command line: ingest data-v1 -> train -> promote -> serve -> realistic traffic with
    feedback -> monitor (no drift) -> drifted traffic -> monitor (drift) -> ingest data-v2
    -> retrain -> promote -> the service answers with the new version. Ends with a summary
    (versions, metrics, reports, URLs). The services keep running: stop them with
    `mlops down`.

    Example: mlops pipeline run --rows 5000 --traffic 1200
    """
    from deployment_prep.pipeline import Options, human, run

    result = run(
        Options(rows=rows, seed=seed, traffic=traffic, feedback_share=feedback_share),
        quiet=as_json,
    )
    emit(result, as_json, lambda console: human(console, result))


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.add_typer(pipeline_app, name="pipeline")
