"""`mlops alerts rules`: the models' alert rules as a Prometheus rules file or PrometheusRules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mlops_core.errors import BadInput
from mlops_core.output import JsonOption, emit

alerts_app = typer.Typer(
    help="Alert rules of the models (Prometheus), generated from each model's monitor.yaml.",
    no_args_is_help=True,
)


@alerts_app.command("rules")
def rules(
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Only this model; default: every model folder."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file; default: print the YAML.")
    ] = None,
    as_prometheus_rule: Annotated[
        bool,
        typer.Option(
            "--prometheus-rule",
            help="A PrometheusRule resource (Prometheus Operator) instead of a rules file.",
        ),
    ] = False,
    gitops_dir: Annotated[
        Path | None,
        typer.Option(
            "--gitops-dir",
            help="Write every model's PrometheusRule into each environment of this GitOps "
            "folder (envs/<env>/alerts/<model>.yaml) and remove those of deleted models.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Alert rules of every model (one rule group each): serving latency, errors and
    traffic, the prediction log's backlog and spool, drift, degraded performance, stale
    monitoring and an old champion; thresholds from monitor.yaml's `alerts:` block.

    Example: mlops alerts rules --out rules.yaml && promtool check rules rules.yaml
    """
    from mlops_core.alerting.rules import (
        prometheus_rule,
        render,
        rule_groups,
        rules_header,
        write_gitops_alerts,
    )
    from mlops_core.contracts.alerts import AlertRulesResult
    from mlops_core.settings import get_settings

    settings = get_settings()
    if gitops_dir is not None and (model is not None or out is not None):
        raise BadInput("--gitops-dir writes every model's file: leave out --model and --out")
    models = [settings.model_folder(model)] if model is not None else settings.models()
    if not models:
        raise BadInput(f"no model folder in {settings.models_root} to write alert rules for")
    groups = rule_groups(models)
    alerts = {
        g["name"].removeprefix("mlops-model-"): [r["alert"] for r in g["rules"]]
        for g in groups["groups"]
    }
    names = [m.name for m in models]
    if gitops_dir is not None:
        written = write_gitops_alerts(gitops_dir, models)
        result = AlertRulesResult(
            format="prometheus_rule", models=names, alerts=alerts, files=[str(p) for p in written]
        )
        emit(result, as_json, f"wrote {len(written)} PrometheusRule file(s) under {gitops_dir}")
        return
    document = prometheus_rule(models) if as_prometheus_rule else groups
    fmt = "prometheus_rule" if as_prometheus_rule else "rules"
    text = render(document, rules_header(models))
    if out is None:
        if as_json:
            emit(AlertRulesResult(format=fmt, models=names, alerts=alerts, document=document),
                 True, "")  # fmt: skip
        else:
            sys.stdout.write(text)
        return
    from mlops_core.storage import write_text

    path = out.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(str(path), text)
    count = sum(len(v) for v in alerts.values())
    emit(
        AlertRulesResult(format=fmt, models=names, alerts=alerts, path=str(path)),
        as_json,
        f"wrote {count} alert rule(s) of {', '.join(names)} to {path}",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
