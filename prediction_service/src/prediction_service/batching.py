"""Micro-batching: single records that arrive together are predicted in one pipeline call."""

from __future__ import annotations

import asyncio

from prediction_service.model import LoadedModel, Predictor


class MicroBatcher:
    """Predicts single records that arrive together in one pipeline call.

    A request appends its record and, if no flush is pending, schedules one with
    call_soon: every request parsed in the same event-loop turn joins the batch, and a
    lone request waits for nothing. Each item carries the model it started with, so a
    swap never changes the model of a request in flight.
    """

    def __init__(self, predictor: Predictor, max_size: int = 256) -> None:
        self.predictor = predictor
        self.max_size = max_size
        self._pending: list[tuple[LoadedModel, dict, asyncio.Future]] = []
        self._scheduled = False

    def submit(self, model: LoadedModel, record: dict) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((model, record, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        items, self._pending = self._pending, []
        by_model: dict[int, list[tuple[LoadedModel, dict, asyncio.Future]]] = {}
        for item in items:
            by_model.setdefault(id(item[0]), []).append(item)
        for group in by_model.values():
            for start in range(0, len(group), self.max_size):
                chunk = group[start : start + self.max_size]
                try:
                    values = self.predictor.predict(chunk[0][0], [r for _, r, _ in chunk])
                except Exception as exc:
                    for _, _, fut in chunk:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, _, fut), value in zip(chunk, values, strict=True):
                    if not fut.done():
                        fut.set_result(value)
