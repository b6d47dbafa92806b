"""Prometheus metrics of one service instance (own registry, so tests can build many apps)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mlops_http_requests",
            "HTTP requests by endpoint, method and status code.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mlops_http_request_duration_seconds",
            "HTTP request latency by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "mlops_predictions",
            "Rows predicted, by model version, endpoint kind (single or batch) and role "
            "(champion, canary, shadow).",
            ["model_name", "model_version", "kind", "role"],
            registry=r,
        )
        self.model_info = Gauge(
            "mlops_model_info",
            "The served model (value 1 for the version that answers).",
            ["model_name", "model_version", "data_version"],
            registry=r,
        )
        self.model_created = Gauge(
            "mlops_model_created_timestamp_seconds",
            "When the served model version was registered (Unix seconds): the age alerts' clock.",
            ["model_name", "model_version"],
            registry=r,
        )
        self.candidate_info = Gauge(
            "mlops_candidate_info",
            "The shadow or canary served beside the champion (1 for its version).",
            ["model_name", "model_version", "mode"],
            registry=r,
        )
        self.canary_weight = Gauge(
            "mlops_canary_weight_percent",
            "The share of requests (percent) the canary answers; 0 without one.",
            ["model_name"],
            registry=r,
        )
        self.shadow_dropped = Counter(
            "mlops_shadow_dropped_rows",
            "Shadow rows not predicted because the shadow fell behind (the queue was full).",
            ["model_name"],
            registry=r,
        )
        self.shadow_errors = Counter(
            "mlops_shadow_errors",
            "Shadow rows whose prediction failed (the client's answer is unaffected).",
            ["model_name"],
            registry=r,
        )
        self.model_loads = Counter(
            "mlops_model_loads", "Model loads and swaps by outcome.", ["outcome"], registry=r
        )
        self.log_queue_depth = Gauge(
            "mlops_prediction_log_queue_depth",
            "Log rows waiting for the background writer.",
            registry=r,
        )
        self.spool_rows = Gauge(
            "mlops_prediction_log_spool_rows",
            "Log rows waiting in the journal for the database (down, or the queue full).",
            registry=r,
        )
        self.spool_bytes = Gauge(
            "mlops_prediction_log_spool_bytes",
            "Journal bytes waiting for the database (down, or the queue full).",
            registry=r,
        )
        self.log_db_up = Gauge(
            "mlops_prediction_log_database_up",
            "1 when the last write to the prediction log database succeeded.",
            registry=r,
        )
        self.journal_rows = Gauge(
            "mlops_prediction_log_journal_rows",
            "Log rows in the local journal not yet in the database.",
            registry=r,
        )
        self.journal_bytes = Gauge(
            "mlops_prediction_log_journal_bytes",
            "Size of the journal's segments on disk.",
            registry=r,
        )
        self.log_written = Gauge(
            "mlops_prediction_log_rows_written",
            "Log rows written to the database since start (replays excluded).",
            registry=r,
        )

    def bind_writer(self, writer) -> None:
        def fn(get: Callable[[], float]) -> Callable[[], float]:
            return get

        self.log_queue_depth.set_function(fn(lambda: writer.queue_depth))
        self.spool_rows.set_function(fn(lambda: writer.spool_rows))
        self.spool_bytes.set_function(fn(lambda: writer.spool_bytes))
        self.log_db_up.set_function(fn(lambda: 1.0 if writer.db_ok else 0.0))
        self.log_written.set_function(fn(lambda: writer.stats.written))
        self.journal_rows.set_function(fn(lambda: writer.journal_rows))
        self.journal_bytes.set_function(fn(lambda: writer.journal_bytes))

    def set_model(self, model, previous=None) -> None:
        if previous is not None:
            with contextlib.suppress(KeyError):
                self.model_info.remove(previous.name, previous.version, previous.data_version or "")
            with contextlib.suppress(KeyError):
                self.model_created.remove(previous.name, previous.version)
        self.model_info.labels(model.name, model.version, model.data_version or "").set(1)
        if getattr(model, "created_at", None) is not None:
            self.model_created.labels(model.name, model.version).set(model.created_at)

    def set_candidate(self, name: str, candidate, previous=None) -> None:
        if previous is not None:
            with contextlib.suppress(KeyError):
                self.candidate_info.remove(name, previous.model.version, previous.mode)
        if candidate is not None:
            self.candidate_info.labels(name, candidate.model.version, candidate.mode).set(1)
        weight = candidate.weight if candidate is not None and candidate.mode == "canary" else 0
        self.canary_weight.labels(name).set(weight)
