"""Shadow and canary: a candidate version served beside the champion.

- canary (with a weight in percent): a request is answered by the candidate when
  crc32(key) % 10000 < weight * 100, the key being the `x-routing-key` header, else the
  request id; the same key always gets the same model. A batch request is routed whole by
  its key (its rows are never split between two models).
- shadow: the champion answers; afterwards the candidate predicts the same rows on a
  background thread (`ShadowRunner`), off the response path. Its rows are logged with
  role `shadow` under request id `<rid>:shadow`. A shadow that falls behind has rows
  dropped (counted), never a slower answer; a shadow that fails is counted, never an error
  to the client.

Where the candidate comes from: MLOPS_SERVE_CANDIDATE (+ _MODE, _CANARY_WEIGHT; a cluster,
rendered from the GitOps file), else the registry aliases `canary`/`shadow` of a model
served by its champion alias, followed on the same poll as the champion
(`ModelManager.follow_candidate`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_core.contracts.constants import Role
from mlops_core.errors import BadInput
from mlops_core.predlog import utcnow
from prediction_service.model import LoadedModel

if TYPE_CHECKING:  # pragma: no cover
    from prediction_service.service import ServedModel

log = logging.getLogger("prediction_service.rollout")

CHAMPION, SHADOW, CANARY = Role.CHAMPION.value, Role.SHADOW.value, Role.CANARY.value
MODES = (SHADOW, CANARY)
BUCKETS = 10_000  # routing resolution: a weight has two decimals
WEIGHT_TAG = "canary_weight"
ROUTING_HEADER = b"x-routing-key"
SHADOW_SUFFIX = ":shadow"


def parse_weight(value: Any, where: str) -> float:
    """A canary weight in percent, 0 < w < 100; BadInput naming `where` otherwise."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{where}: {value!r} is not a number (a percentage, 0 < w < 100)") from None
    if not math.isfinite(weight) or not 0 < weight < 100:
        raise BadInput(f"{where}: {value!r} is not a percentage between 0 and 100 (exclusive)")
    return weight


def bucket(key: str) -> int:
    """The routing bucket (0..9999) of a key: stable across processes and restarts."""
    return zlib.crc32(key.encode()) % BUCKETS


@dataclass(frozen=True)
class Candidate:
    """The version served beside the champion: its model, mode and (canary) weight.
    Replaced as a whole (one reference assignment), never changed in place."""

    model: LoadedModel
    mode: str
    weight: float = 0.0
    threshold: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", round(self.weight * 100))

    def answers(self, key: str) -> bool:
        """Whether the canary answers the request with this routing key."""
        return self.mode == CANARY and bucket(key) < self.threshold


def routing_key(scope) -> str:
    """The `x-routing-key` header, else the request id."""
    for name, value in scope["headers"]:
        if name == ROUTING_HEADER:
            return value.decode("latin-1")
    return scope["request_id"]


def pick(
    served: ServedModel, scope, wanted: str | None = None
) -> tuple[LoadedModel, str, Candidate | None]:
    """(the model that answers, its role, the shadow to run after) of one request.

    `wanted`: a version the request names (V2's /versions/{v}/ routes). The candidate's,
    shadow or canary, answers it with role canary (a candidate's answer to a client: never
    a shadow row, which pairs with a champion's); any other version gets the champion
    (the caller answers 404 when it is not the champion's)."""
    model = served.manager.current  # read once: whatever swaps meanwhile
    cand = served.manager.candidate
    if cand is None:
        return model, served.role, None
    if wanted is not None and wanted == cand.model.version and wanted != model.version:
        return cand.model, CANARY, None
    if cand.mode == SHADOW:
        return model, served.role, cand
    if wanted is not None:
        return model, served.role, None
    if cand.answers(routing_key(scope)):
        return cand.model, CANARY, None
    return model, served.role, None


class ShadowRunner:
    """Runs the shadow's predictions on one background thread, in batches.

    The request side only appends to a deque (no lock, no wake-up: the thread looks every
    `interval` seconds), so a shadow costs the event loop next to nothing; everything the
    thread drained in one look is predicted in one call per model (25 ms of traffic in one
    pipeline call: its per-call overhead paid once for tens of rows). At most `max_rows`
    rows wait: beyond that a request's rows are dropped and counted
    (mlops_shadow_dropped_rows), so a slow shadow never slows the champion.
    """

    def __init__(self, writer, metrics, *, max_rows: int = 10_000, interval: float = 0.025):
        self.writer = writer
        self.metrics = metrics
        self.max_rows = max_rows
        self.interval = interval
        self._items: deque = deque()
        # Two counters with one writer each (the event loop, the thread): no lock needed.
        self._submitted = 0
        self._finished = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = 0.0

    @property
    def pending(self) -> int:
        return self._submitted - self._finished

    def submit(
        self,
        served: ServedModel,
        cand: Candidate,
        ids: list[str],
        records: list[dict],
        kind: str,
    ) -> None:
        n = len(records)
        if self.pending + n > self.max_rows or self._thread is None:
            self.metrics.shadow_dropped.labels(served.name).inc(n)
            return
        self._submitted += n
        self._items.append((served, cand.model, ids, records, kind))

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Predict what waits, then stop (before the log writer closes)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted row is predicted (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self.pending > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.pending <= 0

    def _run(self) -> None:
        items = self._items
        while True:
            if not items:
                if self._stop.is_set():
                    return
                time.sleep(self.interval)
                continue
            taken = []
            while items:
                taken.append(items.popleft())
            self._predict(taken)

    def _predict(self, taken: list) -> None:
        groups: dict[tuple[str, int], list] = {}
        for item in taken:
            groups.setdefault((item[0].name, id(item[1])), []).append(item)
        for group in groups.values():
            served, model = group[0][0], group[0][1]
            records = [r for item in group for r in item[3]]
            try:
                t0 = time.perf_counter()
                values = served.predictor.predict(model, records)
                ms = (time.perf_counter() - t0) * 1000.0
                now = utcnow()
                rows = []
                i = 0
                for _, _, ids, recs, _ in group:
                    for rid, rec in zip(ids, recs, strict=True):
                        rows.append(
                            served.row(rid + SHADOW_SUFFIX, now, model, rec, values[i], ms, SHADOW)
                        )
                        i += 1
                self.writer.log_predictions(rows)
                by_kind: dict[str, int] = {}
                for item in group:
                    by_kind[item[4]] = by_kind.get(item[4], 0) + len(item[3])
                for kind, n in by_kind.items():
                    self.metrics.predictions.labels(model.name, model.version, kind, SHADOW).inc(n)
            except Exception as exc:
                self.metrics.shadow_errors.labels(served.name).inc(len(records))
                now_s = time.monotonic()
                if now_s - self._last_error > 10:  # said loudly, at most every 10 s
                    self._last_error = now_s
                    log.warning(
                        "shadow prediction failed (the champion's answers are unaffected)",
                        extra={"model_version": model.version, "error": str(exc)[:300]},
                    )
            finally:
                self._finished += len(records)


def registry_candidate(tracking_uri: str, name: str) -> tuple[str, str, float] | None:
    """(mode, version, weight) of the version holding alias `canary` or `shadow` of model
    `name`, None when neither is set. A canary without a valid `canary_weight` tag is a
    BadInput naming it (the candidate in service stays as it was)."""
    from mlflow.exceptions import MlflowException

    from mlops_core.mlflow_utils import Failure, classify, client

    mlflow_client = client(tracking_uri)
    found = []
    for mode in (CANARY, SHADOW):
        try:
            mv = mlflow_client.get_model_version_by_alias(name, mode)
        except MlflowException as exc:
            if classify(exc) in (Failure.NOT_FOUND, Failure.INVALID):
                continue
            raise
        found.append((mode, mv))
    if not found:
        return None
    if len(found) > 1:
        log.warning(
            "model has both a canary and a shadow alias; serving the canary",
            extra={"model_name": name},
        )
    mode, mv = found[0]
    weight = 0.0
    if mode == CANARY:
        where = f"model {name!r} version {mv.version} tag {WEIGHT_TAG!r}"
        weight = parse_weight((mv.tags or {}).get(WEIGHT_TAG), where)
    return mode, str(mv.version), weight
