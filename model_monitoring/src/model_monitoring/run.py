"""`mlops monitor`: one monitoring run from the stores to a verdict, a report and a record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_core.contracts.monitor import MonitorResult, MonitorWindow, RetrainOutcome
from mlops_core.errors import BadInput
from mlops_core.settings import get_settings
from model_monitoring.settings import get_monitor_settings

log = logging.getLogger("mlops.monitor")


@dataclass
class Options:
    model: str | None = None
    model_version: str | None = None
    since: str | None = None
    until: str | None = None
    last: int | None = None
    policy: str | None = None
    trigger_retrain: bool = False
    source: str | None = None
    synthetic: int | None = None
    seed: int | None = None


def monitor(opts: Options) -> MonitorResult:
    """One run, then its series pushed to the Pushgateway when one is set (every run, also
    one with too few rows: its time tells the monitoring-stale alert it ran)."""
    from mlops_core.observability import pushgateway_url
    from model_monitoring.push import publish

    msettings = get_monitor_settings()
    result = _judge(opts)
    # Unset: this home's Pushgateway when `mlops up --observability` runs one.
    url = msettings.pushgateway_url or pushgateway_url(get_settings())
    return publish(result, url, budget=msettings.pushgateway_timeout)


def _judge(opts: Options) -> MonitorResult:
    from model_monitoring import sources
    from model_monitoring.analysis import analyse, prediction_column, probability_columns
    from model_monitoring.policy import policy_for
    from model_monitoring.report_html import ReportLabel, describe_window, label_html
    from model_monitoring.store import ReportStore, run_stem

    started = time.monotonic()
    settings = get_settings()
    msettings = get_monitor_settings()
    folder = settings.model_folder(opts.model)
    schema = folder.schema
    policy = policy_for(folder, opts.policy or msettings.policy)
    if opts.last is not None and opts.since is not None:
        raise BadInput("--last and --since exclude each other: give a count or a time window")
    if opts.last is not None and opts.last < 1:
        raise BadInput(f"--last must be at least 1, got {opts.last}")
    if (opts.source or opts.synthetic) and not opts.trigger_retrain:
        raise BadInput("--source/--synthetic only apply with --trigger-retrain")
    now = datetime.now(UTC)
    since = sources.parse_time(opts.since, "--since")
    until = sources.parse_time(opts.until, "--until") or now
    if since is not None and since >= until:
        raise BadInput(f"--since {since.isoformat()} is not before --until {until.isoformat()}")

    store = ReportStore(settings.reports, settings.s3_endpoint_url)
    store.check()
    model_name = folder.name
    pred = prediction_column(schema)
    probas = probability_columns(schema) or None

    ref_arg = opts.model_version or sources.latest_served_version(settings, model_name)
    base: dict[str, Any] = {"model_name": model_name, "task": schema.task, "policy": policy.source}
    if ref_arg is None:
        return MonitorResult(
            **base,
            status="insufficient_data",
            message=f"the prediction log holds no prediction of model {model_name!r}",
        )
    model = sources.resolve(model_name, str(ref_arg), settings.tracking_uri)
    base.update(model_version=str(model.version), data_version=model.data_version)

    window = sources.Window(since=since, until=until, last=opts.last)
    if since is None and opts.last is None:
        previous = store.last_window_end(model_name)
        if previous:
            window.since = sources.parse_time(previous, "previous run")
            window.default_since = True
    current = sources.read_current(
        settings, schema, model_name, model.version, window, pred, probas
    )
    judged = MonitorWindow(**window.as_dict())
    if len(current) < policy.min_rows:
        what = "no prediction" if current.empty else f"only {len(current)} prediction(s)"
        return MonitorResult(
            **base,
            window=judged,
            status="insufficient_data",
            rows=len(current),
            message=f"{what} of model {model_name!r} version {model.version} in the window "
            f"{_describe(window)}; the policy needs at least {policy.min_rows}",
        )
    judged.first = _iso(current["created_at"].min())
    judged.last_prediction = _iso(current["created_at"].max())

    reference = sources.load_reference(settings, schema, model, pred, probas)
    window_text = describe_window(window.since, window.until, window.last)
    analysis = analyse(
        reference.frame,
        current,
        schema,
        policy,
        baseline_metrics=model.metrics,
        sample_rows=msettings.sample_rows,
        seed=msettings.seed,
        metadata={
            "model_name": model_name,
            "model_version": str(model.version),
            "data_version": model.data_version,
            "window": window_text,
        },
        tags=[f"v{model.version}"],
    )
    result = MonitorResult(**base, window=judged, **analysis.fields())
    if analysis.snapshot is None:  # insufficient (reference too small)
        return result

    stem = run_stem(now, model.version)
    result.report_html = store.uri(model_name, f"{stem}.html")
    result.report_json = store.uri(model_name, f"{stem}.json")
    result.created = now.isoformat()
    result.seconds = round(time.monotonic() - started, 2)
    label = ReportLabel(
        model_name=model_name,
        model_version=str(model.version),
        window=window_text,
        rows=result.rows,
        reference_rows=result.reference_rows or 0,
        labelled_rows=result.labelled_rows,
        rows_compared=result.rows_compared,
        reference_rows_compared=result.reference_rows_compared,
        data_version=model.data_version,
        status=result.status,
    )
    html = label_html(analysis.snapshot.get_html_str(as_iframe=False), label)
    store.write_run(model_name, stem, html, result.model_dump(mode="json"))

    warnings_: list[str] = []
    try:
        from model_monitoring.workspace import add_snapshot

        result.evidently_project, result.evidently_snapshot = add_snapshot(
            msettings.workspace_path(settings),
            model_name,
            analysis.snapshot,
            label.title,
            task=schema.task,
        )
    except Exception as exc:  # the report is stored; the dashboard copy is secondary
        warnings_.append(f"Evidently workspace not updated: {exc}")
    try:
        from mlops_core.mlflow_utils.quiet import quiet_mlflow
        from model_monitoring.tracking import log_run

        with quiet_mlflow():  # MLflow prints its run URL on stdout: --json holds the result
            result.mlflow_run_id = log_run(
                settings.tracking_uri,
                msettings.experiment_name(model_name),
                model,
                result.model_dump(mode="json"),
                run_name=f"monitor-v{model.version}-{stem[:15]}",
            )
    except Exception as exc:
        warnings_.append(f"MLflow not updated: {exc}")

    if opts.trigger_retrain:
        if analysis.retrain_advised:
            from model_monitoring.retrain import retrain

            outcome = retrain(
                model_name, opts.source, opts.synthetic, opts.seed, reason=result.message
            )
        else:
            outcome = {"triggered": False, "reason": "the policy does not advise it"}
        result.retrain = RetrainOutcome.model_validate(outcome)
    if warnings_:
        result.warnings = warnings_
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _describe(window) -> str:
    if window.last:
        return f"(last {window.last} up to {window.until.isoformat()})"
    start = window.since.isoformat() if window.since else "the beginning"
    return f"({start} .. {window.until.isoformat()}]"


def _iso(value) -> str | None:
    try:
        return value.isoformat()
    except AttributeError:
        return None if value is None else str(value)
