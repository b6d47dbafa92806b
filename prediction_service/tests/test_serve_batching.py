"""The micro-batcher: which records share a pipeline call, and when a batch is flushed."""

from __future__ import annotations

import asyncio

import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_core.synthetic import generate
from prediction_service.batching import MAX_TURNS, MicroBatcher
from prediction_service.model import LoadedModel, Predictor


class CountingPredictor(Predictor):
    """The real predictor, with the size of every call it made (and a fault on demand)."""

    def __init__(self, schema) -> None:
        super().__init__(schema)
        self.calls: list[int] = []
        self.fail = False

    def predict(self, model, records):
        self.calls.append(len(records))
        if self.fail:
            raise RuntimeError("the model broke")
        return super().predict(model, records)


@pytest.fixture(scope="module")
def fitted(schema):
    frame = generate(schema, 400, seed=11)
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), schema.numeric_features),
            ("cat", OneHotEncoder(handle_unknown="ignore"), schema.categorical_features),
        ]
    )
    pipe = Pipeline([("prep", prep), ("reg", Ridge())])
    pipe.fit(frame[schema.feature_names], frame[schema.label.name])
    return pipe


@pytest.fixture
def setup(schema, fitted):
    predictor = CountingPredictor(schema)
    model = predictor.prepare(LoadedModel("m", "1", "u", fitted))
    return predictor, model, predictor.samples(600)


def _one_by_one(predictor, model, records) -> list[float]:
    return [predictor.predict(model, [r])[0] for r in records]


def test_records_submitted_in_one_turn_share_one_call(setup):
    predictor, model, records = setup
    expected = _one_by_one(predictor, model, records[:20])
    predictor.calls.clear()

    async def run():
        batcher = MicroBatcher(predictor)
        return await asyncio.gather(*(batcher.submit(model, r) for r in records[:20]))

    assert asyncio.run(run()) == pytest.approx(expected, rel=1e-12)
    assert predictor.calls == [20]


def test_records_arriving_over_the_next_turns_join_the_batch_that_is_forming(setup):
    predictor, model, records = setup

    async def run():
        loop = asyncio.get_running_loop()
        batcher = MicroBatcher(predictor)
        # Two in one turn (a batch forms), then one a turn, as requests trickle in.
        futures = [batcher.submit(model, records[0]), batcher.submit(model, records[1])]

        def arrive(i: int) -> None:
            futures.append(batcher.submit(model, records[i]))
            if i < 4:
                loop.call_soon(arrive, i + 1)

        loop.call_soon(arrive, 2)
        while len(futures) < 5:
            await asyncio.sleep(0)
        return await asyncio.gather(*futures)

    assert len(asyncio.run(run())) == 5
    assert predictor.calls == [5]


def test_a_lone_record_is_predicted_on_the_next_turn_without_waiting_for_more(setup):
    predictor, model, records = setup

    async def run():
        batcher = MicroBatcher(predictor)
        fut = batcher.submit(model, records[0])
        await asyncio.sleep(0)
        return fut.done()

    assert asyncio.run(run()) is True
    assert predictor.calls == [1]


def test_a_steady_stream_waits_at_most_max_turns(setup):
    predictor, model, records = setup

    async def run():
        loop = asyncio.get_running_loop()
        batcher = MicroBatcher(predictor)
        futures = []

        def arrive(i: int) -> None:  # a record every turn, never a quiet one
            futures.append(batcher.submit(model, records[i]))
            if i < 3 * MAX_TURNS:
                loop.call_soon(arrive, i + 1)

        futures.append(batcher.submit(model, records[0]))
        arrive(1)
        while len(futures) <= 3 * MAX_TURNS:
            await asyncio.sleep(0)
        await asyncio.gather(*futures)

    asyncio.run(run())
    assert sum(predictor.calls) == 3 * MAX_TURNS + 1
    # The two of the first turn and one from each of the MAX_TURNS turns it waited.
    assert predictor.calls[0] == MAX_TURNS + 2, predictor.calls


def test_a_large_burst_is_cut_at_max_size_and_two_models_never_share_a_call(setup, fitted):
    predictor, model, records = setup
    other = predictor.prepare(LoadedModel("m", "2", "u", fitted))

    async def run():
        batcher = MicroBatcher(predictor, max_size=256)
        futures = [batcher.submit(model, r) for r in records[:600]]
        futures += [batcher.submit(other, r) for r in records[:5]]
        return await asyncio.gather(*futures)

    assert len(asyncio.run(run())) == 605
    assert predictor.calls == [256, 256, 88, 5]


def test_a_failing_call_fails_every_record_of_it_and_the_next_batch_recovers(setup):
    predictor, model, records = setup

    async def run():
        batcher = MicroBatcher(predictor)
        predictor.fail = True
        failed = await asyncio.gather(
            *(batcher.submit(model, r) for r in records[:3]), return_exceptions=True
        )
        predictor.fail = False
        ok = await asyncio.gather(*(batcher.submit(model, r) for r in records[:3]))
        return failed, ok

    failed, ok = asyncio.run(run())
    assert [str(e) for e in failed] == ["the model broke"] * 3
    assert len(ok) == 3 and all(isinstance(v, float) for v in ok)
