"""Model management: the served model, loaded beside the current one and swapped
atomically (admin reload, alias poll); requests in flight finish on the model they started on.
The same swap loads, replaces and unloads a shadow or canary candidate (rollout.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool

from mlops_core.errors import BadInput, MlopsError
from mlops_core.schema import DatasetSchema
from prediction_service.metrics import Metrics
from prediction_service.model import (
    LoadedModel,
    ModelSpec,
    Predictor,
    load_model,
    parse_ref,
    resolve_version,
)
from prediction_service.rollout import Candidate, registry_candidate

log = logging.getLogger("prediction_service.api")


def freeze_heap(collect: bool = True) -> None:
    """Move what start-up (or a model load) allocated out of the garbage collector's sight.

    The loaded libraries and the model are a million long-lived objects; without this, each
    full collection walked them all: 19 pauses of up to 300 ms in 12 s of batch traffic.
    After a swap there is no collection first (a full one pauses the event loop for about
    150 ms): the old model is freed by reference counting when its last request ends.
    """
    if collect:
        gc.collect()
    gc.freeze()


def example_record(schema: DatasetSchema) -> dict[str, Any]:
    """A valid record (each feature at its minimum or first category), to warm a pipeline."""
    out: dict[str, Any] = {}
    for c in schema.features:
        if c.dtype == "category":
            out[c.name] = c.categories[0]
        else:
            v = c.min if c.min is not None else 0
            out[c.name] = int(v) if c.dtype == "int" else float(v)
    return out


class ModelManager:
    """Holds the served model (`current`) and the reference it was loaded from (`spec`)."""

    def __init__(
        self,
        *,
        model: LoadedModel,
        spec: ModelSpec,
        tracking_uri: str,
        schema: DatasetSchema,
        predictor: Predictor,
        metrics: Metrics,
    ) -> None:
        self.current = model
        self.spec = spec
        # The served model's name (its folder's): a reload never turns it into another.
        self.name = spec.name or model.name
        self.tracking_uri = tracking_uri
        self.predictor = predictor
        self.metrics = metrics
        self.example = example_record(schema)
        self._lock = asyncio.Lock()
        # The shadow or canary beside `current` (one reference, replaced whole), and
        # whether it follows the registry's `canary`/`shadow` aliases: a model served by
        # its champion alias with no candidate pinned in the settings.
        self.candidate: Candidate | None = None
        self.follows_candidates = spec.follows_alias and spec.alias in (None, "champion")
        predictor.prepare(model)
        metrics.set_model(model)

    def pin_candidate(self, candidate: Candidate) -> None:
        """A candidate given by the settings (MLOPS_SERVE_CANDIDATE): no alias to follow."""
        self.predictor.prepare(candidate.model)
        self.warm(candidate.model)
        self.candidate = candidate
        self.follows_candidates = False
        self.metrics.set_candidate(self.name, candidate)

    async def follow_candidate(self) -> Candidate | None:
        """Load, replace or unload the candidate the registry's aliases name now (loaded
        beside the champion before it takes traffic; a removal is one assignment)."""
        found = await run_in_threadpool(registry_candidate, self.tracking_uri, self.name)
        async with self._lock:
            previous = self.candidate
            if found is None:
                if previous is not None:
                    self.candidate = None
                    self.metrics.set_candidate(self.name, None, previous)
                    log.info(
                        "candidate unloaded",
                        extra={"model_version": previous.model.version, "mode": previous.mode},
                    )
                return None
            mode, version, weight = found
            if previous is not None and previous.model.version == version:
                if (previous.mode, previous.weight) == (mode, weight):
                    return previous
                model = previous.model
            else:
                spec = ModelSpec(f"models:/{self.name}/{version}", name=self.name, version=version)
                try:
                    model = await run_in_threadpool(
                        load_model, spec, self.tracking_uri, registry_timeout=0.0
                    )
                except MlopsError:
                    self.metrics.model_loads.labels("failed").inc()
                    raise
                await run_in_threadpool(self.predictor.prepare, model)
                model.alias = mode
                self.warm(model)  # before it takes traffic
            self.candidate = Candidate(model, mode, weight)
            freeze_heap(collect=False)
            self.metrics.set_candidate(self.name, self.candidate, previous)
            log.info(
                "candidate loaded",
                extra={"model_version": version, "mode": mode, "weight": weight},
            )
            return self.candidate

    def warm(self, model: LoadedModel | None = None) -> None:
        """One prediction, so the first request a pipeline answers is not the slow one."""
        with contextlib.suppress(Exception):
            self.predictor.predict(model or self.current, [self.example])

    async def reload(self, ref: str | None = None) -> tuple[LoadedModel, LoadedModel]:
        """Load the configured reference again (or `ref`) and switch; BadInput for a
        reference that does not parse or name a model, MlopsError when the registry fails."""
        spec = parse_ref(ref, self.name) if ref else self.spec
        if spec.path is not None:
            import dataclasses

            spec = dataclasses.replace(spec, name=self.name)
        elif spec.name != self.name:
            raise BadInput(
                f"reference {ref!r} names model {spec.name!r}; this route reloads {self.name!r}"
            )
        return await self.swap(spec, force=True)

    async def swap(self, spec: ModelSpec, force: bool = False) -> tuple[LoadedModel, LoadedModel]:
        """Load the model `spec` names beside the current one, then switch atomically."""
        async with self._lock:
            previous = self.current
            if not force and spec.path is None:
                _, version, _ = await run_in_threadpool(resolve_version, spec, self.tracking_uri)
                if version == previous.version and spec.name == previous.name:
                    return previous, previous
            try:
                new = await run_in_threadpool(
                    load_model, spec, self.tracking_uri, registry_timeout=0.0
                )
            except MlopsError:
                self.metrics.model_loads.labels("failed").inc()
                raise
            await run_in_threadpool(self.predictor.prepare, new)
            if new.version == previous.version and new.name == previous.name and not force:
                return previous, previous
            self.warm(new)  # before it takes traffic
            self.current = new  # one reference assignment: atomic for every request after it
            freeze_heap(collect=False)
            self.spec = spec
            self.metrics.set_model(new, previous)
            self.metrics.model_loads.labels("swapped").inc()
            log.info(
                "model swapped",
                extra={"from_version": previous.version, "to_version": new.version},
            )
            return previous, new

    async def poll(self, interval: float) -> None:
        """Follow the alias: every `interval` seconds, swap when it names another version."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.swap(self.spec)
            except Exception as exc:
                log.warning("model alias poll failed", extra={"error": str(exc)[:300]})
            if self.follows_candidates:
                try:
                    await self.follow_candidate()
                except Exception as exc:
                    log.warning("candidate alias poll failed", extra={"error": str(exc)[:300]})
