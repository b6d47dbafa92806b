"""The one client that sends records to the prediction API as a client application does.

Used by the whole-loop runner (`mlops pipeline run`) and the benchmarks: single records
(`POST /v1/predict`), batches (`POST /v1/predict/batch`), ground truth reported later
(`POST /v1/feedback`), and a background loop of single requests (a promotion under load).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from mlops_core.apikeys import ApiKeySettings

PREDICT = "/v1/predict"
PREDICT_BATCH = "/v1/predict/batch"
FEEDBACK = "/v1/feedback"
MODEL = "/v1/model"
MODELS = "/v1/models"


def model_paths(model: str | None) -> dict[str, str]:
    """The routes of one model: /v1/models/<model>/... (a service may serve several), or
    the single-model routes when `model` is None (a service serving exactly one)."""
    if model is None:
        return {"predict": PREDICT, "batch": PREDICT_BATCH, "feedback": FEEDBACK, "info": MODEL}
    base = f"{MODELS}/{model}"
    return {
        "predict": f"{base}/predict",
        "batch": f"{base}/predict/batch",
        "feedback": f"{base}/feedback",
        "info": base,
    }


@dataclass
class TrafficReport:
    """What a burst of traffic got back."""

    predictions: int = 0
    failed_requests: int = 0
    feedback: int = 0
    model_versions: list[str] = field(default_factory=list)
    seconds: float = 0.0
    request_ids: list[str | None] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "failed_requests": self.failed_requests,
            "feedback": self.feedback,
            "model_versions": self.model_versions,
            "seconds": self.seconds,
        }


class PredictionClient:
    """A keep-alive client of one model of a prediction service (closes with `with` or
    close()): `model` names it (its /v1/models/<model>/... routes); None uses the
    single-model routes of a service that serves one model."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        workers: int = 4,
        model: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.workers = workers
        self.model = model
        self.paths = model_paths(model)
        headers = ApiKeySettings().headers() if headers is None else headers
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> PredictionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def predict(self, record: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.paths["predict"], json=record)

    def predict_batch(self, records: Sequence[dict[str, Any]]) -> httpx.Response:
        return self.http.post(self.paths["batch"], json={"records": list(records)})

    def feedback(self, request_id: str, label: Any) -> httpx.Response:
        """The true label: a number for a regressor, one of the classes for a classifier."""
        return self.http.post(
            self.paths["feedback"], json={"request_id": request_id, "label": label}
        )

    def models(self) -> list[dict[str, Any]]:
        """GET /v1/models: every model the service serves (name, task, version, ...)."""
        response = self.http.get(MODELS, timeout=5.0)
        response.raise_for_status()
        return list(response.json()["models"])

    def served_version(self) -> str | None:
        """The model version the service answers with now (None when it does not answer)."""
        try:
            response = self.http.get(self.paths["info"], timeout=5.0)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            return str(response.json().get("model_version"))
        except ValueError:
            return None

    def wait_for_version(self, version: str, timeout: float = 60.0) -> str | None:
        """Poll the model's metadata route until it serves `version`; returns the last
        version seen."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.served_version()
            if seen == version:
                break
            time.sleep(0.5)
        return seen

    def predict_each(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """One request per record, `workers` at a time; each answer's body (None: failed)."""

        def one(record: dict[str, Any]) -> dict[str, Any] | None:
            try:
                response = self.predict(record)
            except httpx.HTTPError:
                return None
            return response.json() if response.status_code == 200 else None

        if self.workers <= 1:
            return [one(r) for r in records]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(one, records))

    def send(
        self,
        records: Sequence[dict[str, Any]],
        labels: Sequence[Any] | None = None,
        *,
        single: int = 0,
        batch_size: int = 200,
        feedback_share: float = 0.0,
        seed: int = 0,
    ) -> TrafficReport:
        """Predict every record (the first `single` one by one, the rest in batches), then
        report the true label of a random `feedback_share` of the answered ones."""
        import numpy as np

        rows = len(records)
        started = time.perf_counter()
        report = TrafficReport(request_ids=[None] * rows)
        versions: set[str] = set()
        single = min(single, rows)
        for i, body in enumerate(self.predict_each(records[:single])):
            if body is None:
                report.failed_requests += 1
                continue
            report.request_ids[i] = body["request_id"]
            versions.add(str(body["model_version"]))
        for start in range(single, rows, batch_size):
            chunk = records[start : start + batch_size]
            try:
                response = self.predict_batch(chunk)
            except httpx.HTTPError:
                response = None
            if response is None or response.status_code != 200:
                report.failed_requests += len(chunk)
                continue
            body = response.json()
            versions.add(str(body["model_version"]))
            for offset, request_id in enumerate(body["request_ids"]):
                report.request_ids[start + offset] = request_id
        ids = report.request_ids
        if labels is not None and feedback_share > 0:
            rng = np.random.default_rng(seed)
            chosen = [i for i in range(rows) if ids[i] and rng.random() < feedback_share]

            def feedback(i: int) -> bool:
                try:
                    return self.feedback(str(ids[i]), labels[i]).status_code < 300
                except httpx.HTTPError:
                    return False

            with ThreadPoolExecutor(max_workers=max(self.workers, 1)) as pool:
                report.feedback = sum(pool.map(feedback, chosen))
        report.predictions = sum(1 for i in ids if i)
        report.model_versions = sorted(versions)
        report.seconds = round(time.perf_counter() - started, 2)
        return report


class BackgroundTraffic:
    """Single requests in a loop on a thread of its own (`with` starts and stops it): what a
    swap of the served model does to clients while it happens."""

    def __init__(
        self,
        url: str,
        records: Sequence[dict[str, Any]],
        headers: dict[str, str] | None = None,
        pause: float = 0.02,
        model: str | None = None,
    ) -> None:
        if not records:
            raise ValueError("background traffic needs at least one record")
        self.client = PredictionClient(url, headers, model=model)
        self.records = list(records)
        self.pause = pause
        self.sent = self.failed = 0
        self.versions: dict[str, int] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        i = 0
        while not self._stop.is_set():
            try:
                response = self.client.predict(self.records[i % len(self.records)])
                ok = response.status_code == 200
                if ok:
                    version = str(response.json()["model_version"])
                    self.versions[version] = self.versions.get(version, 0) + 1
                else:
                    self.errors.append(f"HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                ok = False
                self.errors.append(type(exc).__name__)
            self.sent += 1
            self.failed += not ok
            i += 1
            self._stop.wait(self.pause)

    def __enter__(self) -> BackgroundTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.client.close()

    def summary(self) -> str:
        by_version = ", ".join(f"v{v}: {n}" for v, n in sorted(self.versions.items()))
        return f"{self.sent} requests during the swap ({by_version}), {self.failed} failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.sent,
            "failed": self.failed,
            "by_version": dict(self.versions),
            "errors": self.errors[:5],
        }
