"""`mlops monitor compare`: the champion against the live candidate on the same window of
the prediction log, judged by the `live:` block of the model's monitor.yaml.

Which rows: the candidate is the version with alias `shadow` or `canary`, the champion the
version with alias `champion`. Champion rows are that version's rows with role champion
(a log without a role column: by version alone); candidate rows are the candidate
version's rows (role shadow or canary where the log records roles). A shadow row's request
id is `<rid>:shadow` beside the champion's `<rid>`: the two pair up, and the feedback label
reported for `<rid>` labels both. Canary rows are disjoint requests: sides are compared as
distributions, and metrics per side.

The verdict (pass | fail | insufficient_data) and its reasons: too few rows or labels on a
side -> insufficient_data; fail on too much disagreement (shadow), a p95 latency increase
beyond the limit, or a metric degradation whose whole confidence interval is beyond
max_degradation; pass only when that interval is within it (an interval across the limit:
insufficient_data - more labels are needed to tell), so noise can neither pass a worse
model nor fail an equal one.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.contracts.monitor import (
    CompareResult,
    LiveAgreement,
    LiveDegradation,
    LiveSide,
    MonitorWindow,
)
from mlops_core.errors import BadInput, Conflict, Unavailable
from mlops_core.live_verdict import CANDIDATE_ALIASES, LiveConfig, verdict_tags
from mlops_core.settings import get_settings
from model_monitoring import bounds
from model_monitoring.policy import LOWER_IS_BETTER
from model_monitoring.report_html import ReportLabel
from model_monitoring.settings import get_monitor_settings

log = logging.getLogger("mlops.monitor")

SHADOW_SUFFIX = ":shadow"
ERROR_RATE_NOTE = (
    "error rate: not measured here - the prediction log holds answered predictions only; "
    "failed requests are counted by the service's Prometheus series "
    "(mlops_http_requests by status)"
)


@dataclass
class Options:
    model: str | None = None
    since: str | None = None
    until: str | None = None
    policy: str | None = None


@dataclass
class Candidate:
    mode: str  # shadow | canary
    version: str
    champion: str


def find_candidate(client, model_name: str) -> Candidate:
    """The live candidate (alias shadow or canary) and the champion of a model."""
    from mlops_core.mlflow_utils import alias_version
    from mlops_core.mlflow_utils.refs import registered_model

    registered_model(client, model_name)
    found = {a: v for a in CANDIDATE_ALIASES if (v := alias_version(client, model_name, a))}
    champion = alias_version(client, model_name, "champion")
    if not found:
        raise BadInput(
            f"model {model_name!r} has no live candidate: no version has alias shadow or "
            f"canary (put one live with `mlops promote --model {model_name} --shadow`)"
        )
    if len(found) > 1:
        raise Conflict(
            f"model {model_name!r} has two candidates ({', '.join(f'{a}: version {v}' for a, v in found.items())}); "  # noqa: E501
            "at most one may be live: remove one with `mlops rollback --candidate`"
        )
    if champion is None:
        raise BadInput(f"model {model_name!r} has no champion to compare its candidate with")
    ((mode, version),) = found.items()
    if version == champion:
        raise BadInput(
            f"model {model_name!r}: version {version} is both champion and {mode}: "
            "nothing to compare"
        )
    return Candidate(mode=mode, version=version, champion=champion)


# -- the log ---------------------------------------------------------------------------------
def read_sides(settings, schema, model_name: str, cand: Candidate, since, until):
    """(champion frame, candidate frame, champion latencies, candidate latencies, whether
    the log records latency, the window's start when `since` is None: the candidate's
    first logged row, so the champion's older rows stay out). Frames as
    sources.log_frame builds them."""
    import sqlalchemy as sa

    from model_monitoring import sources
    from model_monitoring.analysis import prediction_column, probability_columns

    engine = sources._engine(settings)
    try:
        p, f = sources._tables(engine)
        wanted = [p.c.request_id, p.c.created_at, p.c.features, p.c.model_version]
        names = [*sources._PREDICTION_FIELDS, "latency_ms", "role"]
        wanted += [p.c[n] for n in names if n in p.c]
        wanted += [f.c[n] for n in sources._FEEDBACK_FIELDS if n in f.c]
        query = (
            sa.select(*wanted)
            .select_from(p.outerjoin(f, f.c.request_id == p.c.request_id))
            .where(
                p.c.model_name == model_name,
                p.c.model_version.in_([cand.champion, cand.version]),
                p.c.created_at <= until,
            )
        )
        if since is not None:
            query = query.where(p.c.created_at > since)
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        has_latency = "latency_ms" in p.c
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(
            f"prediction log {sources._safe(settings.prediction_log)}: {exc}"
        ) from None
    finally:
        engine.dispose()

    other = "canary" if cand.mode == "shadow" else "shadow"
    champion_rows, candidate_rows = [], []
    for row in rows:
        role = row.get("role") or "champion"
        if str(row["model_version"]) == cand.champion and role == "champion":
            champion_rows.append(row)
        elif str(row["model_version"]) == cand.version and role != other:
            candidate_rows.append(row)
    start = None
    if since is None and candidate_rows:  # the same window: from the candidate's first row
        start = min(r["created_at"] for r in candidate_rows)
        if cand.mode == "shadow":  # a shadow logs its row just after its champion's
            paired = {str(r["request_id"]).removesuffix(SHADOW_SUFFIX) for r in candidate_rows}
            firsts = [r["created_at"] for r in champion_rows if r["request_id"] in paired]
            start = min([start, *firsts])
        champion_rows = [r for r in champion_rows if r["created_at"] >= start]
    if cand.mode == "shadow":  # feedback comes for <rid>: it labels <rid>:shadow too
        labels = {r["request_id"]: r for r in champion_rows}
        for row in candidate_rows:
            rid = str(row["request_id"])
            base = labels.get(rid[: -len(SHADOW_SUFFIX)]) if rid.endswith(SHADOW_SUFFIX) else None
            for name in sources._FEEDBACK_FIELDS:
                if name in row:
                    row[name] = base.get(name) if base is not None else None
    pred, probas = prediction_column(schema), probability_columns(schema) or None

    def latencies(side):
        values = [r.get("latency_ms") for r in side]
        return np.asarray([v for v in values if v is not None], dtype=float)

    return (
        sources.log_frame(champion_rows, schema, pred, probas),
        sources.log_frame(candidate_rows, schema, pred, probas),
        latencies(champion_rows),
        latencies(candidate_rows),
        has_latency,
        start,
    )


# -- the figures -----------------------------------------------------------------------------
def agreement(champion: pd.DataFrame, candidate: pd.DataFrame, schema, pred: str,
              tolerance: float) -> tuple[LiveAgreement, pd.DataFrame]:  # fmt: skip
    """The paired answers of shadow mode, and the pairs (champion's and candidate's
    prediction and the label, by request id)."""
    label = schema.label.name
    shadow = candidate.assign(
        request_id=candidate["request_id"].astype(str).str.removesuffix(SHADOW_SUFFIX)
    )
    pairs = champion.merge(shadow, on="request_id", suffixes=("_champion", "_candidate"))
    out = LiveAgreement(pairs=len(pairs))
    if pairs.empty:
        return out, pairs
    a, b = pairs[f"{pred}_champion"], pairs[f"{pred}_candidate"]
    if schema.is_classification:
        out.agreement = float((a.astype(object) == b.astype(object)).mean())
    else:
        a, b = a.to_numpy(float), b.to_numpy(float)
        diff = np.abs(b - a)
        scale = np.maximum(np.abs(a), np.finfo(float).tiny)
        out.agreement = float(np.mean(diff <= tolerance * scale))
        out.tolerance = tolerance
        out.mean_abs_diff = float(np.mean(diff))
        out.median_abs_diff = float(np.median(diff))
    pairs = pairs.rename(columns={f"{label}_champion": label})
    return out, pairs


def statistic(schema, metric: str, frame: pd.DataFrame, pred: str, probas: dict[str, str]):
    """The metric of the labelled rows of `frame` as a bounds statistic, and every metric
    of the task on them (scikit-learn, as `mlops monitor` computes them)."""
    from model_monitoring import performance

    label = schema.label.name
    if schema.is_classification:
        proba = None
        if probas and all(c in frame and frame[c].notna().all() for c in probas.values()):
            proba = frame[list(probas.values())].set_axis(list(probas), axis=1)
            proba = proba.reset_index(drop=True)
        y, p = frame[label].tolist(), frame[pred].tolist()
        metrics, _ = performance.classification_metrics(y, p, schema.classes, proba)
        return bounds.classification_statistic(metric, y, p, schema.classes, proba), metrics
    y, p = frame[label].to_numpy(float), frame[pred].to_numpy(float)
    return bounds.regression_statistic(metric, y, p), performance.regression_metrics(y, p)


def relative_degradation(metric: str, candidate, champion):
    """How much worse the candidate is, as a fraction of the champion's value (negative:
    better); equal values are 0 even at 0."""
    candidate, champion = np.asarray(candidate, float), np.asarray(champion, float)
    worse = candidate - champion if metric in LOWER_IS_BETTER else champion - candidate
    with np.errstate(divide="ignore", invalid="ignore"):
        out = worse / np.abs(champion)
    return np.where(worse == 0, 0.0, out)


def degradation_interval(
    metric: str, champion, candidate, confidence: float, *, paired: bool, seed: int = 0,
    resamples: int = bounds.DEFAULT_RESAMPLES, max_rows: int = bounds.DEFAULT_MAX_ROWS,
) -> tuple[float, float] | None:  # fmt: skip
    """The percentile bootstrap interval of the relative degradation, resampling with the
    bounds module's vectorised statistics: paired (shadow: the same requests drawn on both
    sides) or independent (canary). Above max_rows a side runs on a subsample and the
    spread is scaled by sqrt(m / n), as bounds.bootstrap does."""
    if champion is None or candidate is None or min(champion.rows, candidate.rows) < 2:
        return None
    rng = np.random.default_rng(seed)

    def point(stat):
        return float(bounds._evaluate(stat, np.ones((1, stat.rows)), stat.rows)[0])

    def shrink(stat, rows=None):
        n = stat.rows
        if n <= max_rows:
            return stat, n
        rows = rows if rows is not None else np.sort(rng.choice(n, size=max_rows, replace=False))
        return stat.take(rows), n

    full = float(relative_degradation(metric, point(candidate), point(champion)))
    if not np.isfinite(full):
        return None
    sub_c, n_c = shrink(champion)
    if paired:
        rows = np.sort(rng.choice(n_c, size=max_rows, replace=False)) if n_c > max_rows else None
        sub_c, n_c = shrink(champion, rows)
        sub_k, n_k = shrink(candidate, rows)
    else:
        sub_k, n_k = shrink(candidate)
    center = float(relative_degradation(metric, point(sub_k), point(sub_c)))
    m_c, m_k = sub_c.rows, sub_k.rows
    chunk = max(1, min(resamples, bounds._CHUNK_CELLS // max(m_c, m_k)))

    def draw(b: int, m: int) -> np.ndarray:
        drawn = rng.integers(0, m, size=(b, m)) + np.arange(b)[:, None] * m
        return np.bincount(drawn.ravel(), minlength=b * m).reshape(b, m).astype(float)

    found = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        w_c = draw(b, m_c)
        w_k = w_c if paired else draw(b, m_k)
        found.append(relative_degradation(
            metric, bounds._evaluate(sub_k, w_k, m_k), bounds._evaluate(sub_c, w_c, m_c)
        ))  # fmt: skip
    values = np.concatenate(found)
    defined = values[np.isfinite(values)]
    if len(defined) < (1 - bounds.MAX_UNDEFINED) * resamples:
        return None
    alpha = 1 - confidence
    lo, hi = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    scale = np.sqrt(max(m_c, m_k) / max(n_c, n_k))
    return float(full + (lo - center) * scale), float(full + (hi - center) * scale)


def _side(version: str, role: str, frame: pd.DataFrame, latency: np.ndarray, label: str):
    return LiveSide(
        version=version,
        role=role,
        rows=len(frame),
        labelled_rows=int(frame[label].notna().sum()) if len(frame) else 0,
        latency_p50_ms=float(np.percentile(latency, 50)) if len(latency) else None,
        latency_p95_ms=float(np.percentile(latency, 95)) if len(latency) else None,
    )


# -- the run ---------------------------------------------------------------------------------
def compare(opts: Options) -> CompareResult:
    """One comparison: the figures, the verdict, the stored report and the version's tags."""
    from mlops_core.mlflow_utils import client as mlflow_client
    from model_monitoring import sources
    from model_monitoring.analysis import prediction_column, probability_columns
    from model_monitoring.policy import policy_for
    from model_monitoring.report_html import describe_window
    from model_monitoring.store import ReportStore

    started = time.monotonic()
    settings, msettings = get_settings(), get_monitor_settings()
    folder = settings.model_folder(opts.model)
    schema = folder.schema
    policy = policy_for(folder, opts.policy or msettings.policy)
    live: LiveConfig = policy.live
    metric = live.metric or policy.performance.metric_for(schema)
    now = datetime.now(UTC)
    since = sources.parse_time(opts.since, "--since")
    until = sources.parse_time(opts.until, "--until") or now
    if since is not None and since >= until:
        raise BadInput(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    store = ReportStore(settings.reports, settings.s3_endpoint_url)
    store.check()
    client = mlflow_client(settings.tracking_uri)
    name = folder.name
    cand = find_candidate(client, name)

    pred, label = prediction_column(schema), schema.label.name
    probas = probability_columns(schema)
    champ, candf, lat_c, lat_k, has_latency, start = read_sides(
        settings, schema, name, cand, since, until
    )
    champion = _side(cand.champion, "champion", champ, lat_c, label)
    candidate = _side(cand.version, cand.mode, candf, lat_k, label)
    window = MonitorWindow(since=since.isoformat() if since else None, until=until.isoformat())
    if start is not None:  # inclusive here: the candidate's first row is in the window
        window.since = _iso(start)
    both = pd.concat([champ["created_at"], candf["created_at"]])
    if len(both):
        window.first, window.last_prediction = _iso(both.min()), _iso(both.max())

    fails: list[str] = []
    unsure: list[str] = []
    measured = [
        f"rows: the prediction log's rows of versions {cand.champion} (champion) and "
        f"{cand.version} ({cand.mode}) in the window",
        ERROR_RATE_NOTE,
    ]
    for side in (champion, candidate):
        if side.rows < live.min_rows:
            unsure.append(
                f"{side.role} version {side.version}: {side.rows} prediction(s) in the window, "
                f"the policy needs {live.min_rows} (live.min_rows)"
            )

    # Shadow: the two answers to each request.
    pairs = None
    shared = None
    if cand.mode == "shadow":
        shared, pairs = agreement(champ, candf, schema, pred, live.tolerance)
        measured.append("agreement: pairs <rid> / <rid>:shadow of the log")
        if shared.pairs and live.max_disagreement is not None and shared.agreement is not None:
            disagreement = 1 - shared.agreement
            if disagreement > live.max_disagreement:
                fails.append(
                    f"disagreement: {disagreement:.1%} of {shared.pairs} paired requests "
                    f"differ, more than live.max_disagreement {live.max_disagreement:.0%}"
                )

    # Latency, from the log's latency_ms.
    latency_increase = None
    if has_latency:
        measured.append("latency: the log's latency_ms (p50/p95 per side)")
        if cand.mode == "shadow":
            measured.append("a shadow's latency is its own prediction, off the response path")
        c95, k95 = champion.latency_p95_ms, candidate.latency_p95_ms
        if c95 and k95 is not None:
            latency_increase = k95 / c95 - 1
            limit = live.max_latency_increase
            if limit is not None and latency_increase > limit:
                fails.append(
                    f"latency: p95 {k95:.2f} ms against the champion's {c95:.2f} ms "
                    f"(+{latency_increase:.0%}, more than live.max_latency_increase {limit:.0%})"
                )
    else:
        measured.append("latency: not measured - the log has no latency_ms column")

    # Metrics on the labelled rows, with a confidence interval each and of the difference.
    degradation = None
    labelled = {
        "champion": champ.loc[champ[label].notna()] if len(champ) else champ,
        "candidate": candf.loc[candf[label].notna()] if len(candf) else candf,
    }
    if pairs is not None:  # shadow: judged on the labelled pairs, both sides the same rows
        lab = pairs.loc[pairs[label].notna()] if len(pairs) else pairs

        def side_frame(suffix):
            keep = {f"{pred}_{suffix}": pred}
            keep.update({f"{c}_{suffix}": c for c in probas.values() if f"{c}_{suffix}" in lab})
            return lab[[label, *keep]].rename(columns=keep)

        labelled = {"champion": side_frame("champion"), "candidate": side_frame("candidate")}
    needed = max(live.min_labelled_rows, 2)
    enough = all(len(f) >= needed for f in labelled.values())
    if live.min_labelled_rows and not enough:
        unsure.append(
            f"labels: {len(labelled['champion'])} / {len(labelled['candidate'])} labelled "
            f"rows (champion / candidate), the policy needs {live.min_labelled_rows} "
            "(live.min_labelled_rows)"
        )
    if enough:
        stats = {}
        for key, side in (("champion", champion), ("candidate", candidate)):
            stat, metrics = statistic(schema, metric, labelled[key], pred, probas)
            stats[key] = stat
            side.metric, side.metrics = metric, metrics
            side.value = metrics.get(metric)
            found = bounds.bootstrap(stat, live.confidence, seed=msettings.seed)
            side.interval = [found.lo, found.hi] if found else None
        if champion.value is not None and candidate.value is not None:
            paired = pairs is not None
            interval = degradation_interval(
                metric, stats["champion"], stats["candidate"], live.confidence,
                paired=paired, seed=msettings.seed,
            )  # fmt: skip
            value = float(relative_degradation(metric, candidate.value, champion.value))
            degradation = LiveDegradation(
                metric=metric, value=value, interval=list(interval) if interval else None,
                confidence=live.confidence, max_degradation=live.max_degradation,
                paired=paired,
            )  # fmt: skip
            measured.append(
                f"{metric}: on the labelled rows, bootstrap interval at {live.confidence:.0%} "
                f"({'paired over the same requests' if paired else 'independent per side'})"
            )
            text = (
                f"{metric}: candidate {candidate.value:.4g} against the champion's "
                f"{champion.value:.4g} ({value:+.1%})"
            )
            if interval is None:
                unsure.append(f"{text}: its confidence interval could not be computed")
            elif interval[0] > live.max_degradation:
                fails.append(
                    f"degradation: {text}, worse by at least {interval[0]:.1%} (interval "
                    f"[{interval[0]:+.1%}, {interval[1]:+.1%}] at {live.confidence:.0%}), "
                    f"beyond live.max_degradation {live.max_degradation:.0%}"
                )
            elif interval[1] > live.max_degradation:
                unsure.append(
                    f"{text}: the interval [{interval[0]:+.1%}, {interval[1]:+.1%}] at "
                    f"{live.confidence:.0%} reaches past live.max_degradation "
                    f"{live.max_degradation:.0%}: more labels are needed to tell"
                )
        else:
            unsure.append(f"{metric}: cannot be computed on these labels")

    # Evidently: the candidate's traffic against the champion's (predictions, features,
    # and quality on the labels), and the prediction distribution distance from it.
    prediction_drift = None
    snapshot = None
    if min(len(champ), len(candf)) >= live.min_rows:
        prediction_drift, snapshot = _evidently(
            champ, candf, schema, policy, pred, label, probas, metric, enough, msettings
        )
        if prediction_drift is not None:
            measured.append(
                f"prediction distribution: Evidently's drift test ({prediction_drift.method}) "
                "of the candidate's predictions against the champion's"
            )

    verdict = "fail" if fails else ("insufficient_data" if unsure else "pass")
    reasons = fails + unsure
    head = {"pass": "pass", "fail": "fail", "insufficient_data": "insufficient data"}[verdict]
    message = f"{head}: {cand.mode} version {cand.version} against champion {cand.champion}"
    message += f": {'; '.join(reasons)}" if reasons else ": within the live policy"
    result = CompareResult(
        model_name=name, task=schema.task, mode=cand.mode, verdict=verdict, reasons=reasons,
        message=message, policy=policy.source, window=window, champion=champion,
        candidate=candidate, agreement=shared, prediction_drift=prediction_drift,
        degradation=degradation, latency_increase=latency_increase, measured=measured,
        created=now.isoformat(),
    )  # fmt: skip
    _record(result, store, client, settings, msettings, snapshot, cand, now,
            describe_window(since, until))  # fmt: skip
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _evidently(champ, candf, schema, policy, pred, label, probas, metric, with_labels, msettings):
    """Evidently's report of the candidate's rows (current) against the champion's
    (reference), and its drift test of the prediction column."""
    from model_monitoring import sampling
    from model_monitoring.analysis import _coerce, _probabilities_logged
    from model_monitoring.evidently_run import run_report
    from model_monitoring.readings import read_drift

    ref, cur = _coerce(champ, schema, "champion"), _coerce(candf, schema, "candidate")
    logged = _probabilities_logged(ref, cur, schema)
    with_labels = with_labels and ref[label].notna().all() and cur[label].notna().all()
    keep = [*schema.feature_names, pred, *logged.values()] + ([label] if with_labels else [])
    ref = sampling.sample(ref[keep], msettings.sample_rows, msettings.seed)
    cur = sampling.sample(cur[keep], msettings.sample_rows, msettings.seed + 1)
    columns = [c for c in schema.feature_names if c not in policy.ignored_columns()]
    run = run_report(
        ref, cur, schema, policy, columns, pred, label if with_labels else None,
        limit=None, metric=metric, probability_columns=logged or None, summary=False,
    )  # fmt: skip
    return read_drift(run).prediction, run.snapshot


@dataclass(frozen=True)
class _CompareLabel(ReportLabel):
    candidate: str = ""
    mode: str = ""

    @property
    def title(self) -> str:
        return (
            f"{self.model_name}: {self.mode} v{self.candidate} against champion "
            f"v{self.model_version}, {self.window}"
        )

    def details(self) -> list[str]:
        return [
            f"Reference: the champion's (version {self.model_version}) {self.reference_rows:,} "
            f"logged predictions; current: the {self.mode}'s (version {self.candidate}) "
            f"{self.rows:,}",
            f"Verdict: {(self.status or '').replace('_', ' ')}",
        ]


def _record(result: CompareResult, store, client, settings, msettings, snapshot, cand, now,
            window_text: str) -> None:  # fmt: skip
    """The MLflow run, then the report store (HTML, then the JSON naming the run), then the
    candidate version's tags: a verdict tag always points at a stored result."""
    import json

    from mlops_core.mlflow_utils.experiments import ensure_experiment
    from mlops_core.mlflow_utils.quiet import quiet_mlflow
    from model_monitoring.report_html import label_html
    from model_monitoring.store import run_stem

    name = result.model_name
    stem = f"compare/{run_stem(now, cand.version)}"
    html_uri, json_uri = store.uri(name, f"{stem}.html"), store.uri(name, f"{stem}.json")
    with quiet_mlflow():
        experiment_id = ensure_experiment(client, msettings.experiment_name(name)).experiment_id
        run = client.create_run(
            experiment_id,
            tags={
                "mlflow.runName": f"compare-v{cand.version}-vs-v{cand.champion}",
                "kind": "live-compare",
                "model_name": name,
                "model_version": cand.version,
                "champion_version": cand.champion,
                "mode": cand.mode,
                "live_verdict": result.verdict,
                "report_json": json_uri,
            },
        )
    run_id = run.info.run_id
    result.mlflow_run_id = run_id
    try:
        result.tags = verdict_tags(result.verdict, run_id, now, cand.champion, json_uri)
        if snapshot is not None:
            label = _CompareLabel(
                model_name=name, model_version=cand.champion, window=window_text,
                rows=result.candidate.rows, reference_rows=result.champion.rows,
                status=result.verdict, candidate=cand.version, mode=cand.mode,
            )  # fmt: skip
            html = label_html(snapshot.get_html_str(as_iframe=False), label)
            result.report_html = html_uri
        else:  # too few rows for Evidently: the JSON says why
            html = f"<html><body><p>{result.message}</p></body></html>"
        result.report_json = json_uri
        store.write_run(name, stem, html, result.model_dump(mode="json"))
        metrics = {
            "champion_rows": result.champion.rows,
            "candidate_rows": result.candidate.rows,
            "champion_labelled_rows": result.champion.labelled_rows,
            "candidate_labelled_rows": result.candidate.labelled_rows,
            "agreement": result.agreement.agreement if result.agreement else None,
            "latency_increase": result.latency_increase,
            "prediction_drift_score": (result.prediction_drift.score
                                       if result.prediction_drift else None),
            "degradation": result.degradation.value if result.degradation else None,
            "champion_metric": result.champion.value,
            "candidate_metric": result.candidate.value,
        }  # fmt: skip
        from mlflow.entities import Metric

        stamp = int(now.timestamp() * 1000)
        with quiet_mlflow():
            client.log_batch(
                run_id,
                metrics=[
                    Metric(k, float(v), stamp, 0) for k, v in metrics.items() if v is not None
                ],
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp, "compare_result.json")
                path.write_text(json.dumps(result.model_dump(mode="json"), indent=2))
                client.log_artifact(run_id, str(path))
            client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    for key, value in result.tags.items():
        client.set_model_version_tag(name, cand.version, key, value)


def _iso(value: Any) -> str | None:
    try:
        return value.isoformat()
    except AttributeError:
        return None if value is None else str(value)
