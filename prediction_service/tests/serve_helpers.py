"""Helpers of the prediction service's tests: load bursts, prediction log queries and V2
inference requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx
import sqlalchemy as sa

from mlops_core import predlog

# The admin key of the test servers (never a real secret).
API_KEY = "test-key-" + "0123456789abcdef"


async def _burst(url: str, records: Sequence[dict], prefix: str, concurrency: int) -> list:
    results: list = [None] * len(records)
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(len(records)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                try:
                    r = await client.post(
                        "/v1/predict",
                        json=records[i],
                        headers={"X-Request-ID": f"{prefix}-{i}"},
                    )
                    results[i] = (r.status_code, r.json())
                except httpx.HTTPError as exc:
                    results[i] = (None, repr(exc))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def burst(url: str, records: Sequence[dict], prefix: str, concurrency: int = 16) -> list:
    """POST every record to /v1/predict with X-Request-ID prefix-i; (status, body) each."""
    return asyncio.run(_burst(url, records, prefix, concurrency))


def count_ids(url: str, prefix: str, table: sa.Table = predlog.predictions) -> int:
    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.request_id.like(f"{prefix}-%"))
            ).scalar_one()
    finally:
        engine.dispose()


def wait_for_rows(url: str, prefix: str, expected: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        try:
            n = count_ids(url, prefix)
        except sa.exc.OperationalError:
            n = -1
        if n >= expected:
            return n
        time.sleep(0.2)
    return n


def metric(url: str, name: str) -> float:
    """The value of an unlabelled series on the server's /metrics."""
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not exported")


# -- the hot path (hotpath.py) built in process ------------------------------------------
def in_process(trained_model, home, **serve):
    """(service, app, the paths of the requests that reached the full app) of a service
    built in process on the session's trained model (ServeSettings `serve`)."""
    from mlops_core.settings import PlatformSettings
    from prediction_service.runtime import build_service
    from prediction_service.settings import ServeSettings

    platform = PlatformSettings(
        home=home,
        models_dir=trained_model.models_dir,
        mlflow_tracking_uri=trained_model.tracking_uri,
    )
    service, app = build_service(
        model=trained_model.model_name, poll=0, platform=platform, settings=ServeSettings(**serve)
    )
    # Which requests reach the full app: the hot path hands it everything it does not answer.
    reached: list[str] = []
    full = app.hot.app

    async def recording(scope, receive, send):
        if scope["type"] == "http":
            reached.append(scope["path"])
        await full(scope, receive, send)

    app.hot.app = recording
    return service, app, reached


def loosely_spelt(record: dict, schema) -> dict:
    """The record with every category spelt as a client might (padded, upper case): valid,
    but only after the detailed path normalises it."""
    out = dict(record)
    for name in schema.categorical_features:
        out[name] = f" {out[name].upper()} "
    return out


def raw_headers(response) -> list[tuple[str, str]]:
    """The response's headers as sent, in order, but its date."""
    return [(k, v) for k, v in response.headers.multi_items() if k != "date"]


def sample(text: str, name: str, **labels) -> float:
    """The value of the series `name` with `labels` in a /metrics text (0: not there)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- V2 (Open Inference Protocol) requests ---------------------------------------------
DATATYPE = {"int": "INT64", "float": "FP64", "category": "BYTES"}


def per_feature(schema, records, *, column=False, nested=False, **extra) -> dict:
    """An inference request with one input per feature: shape [N] (or [N, 1] with
    `column`, its data flat or, with `nested`, one list per row)."""
    n = len(records)
    inputs = []
    for c in schema.features:
        values = [r[c.name] for r in records]
        inputs.append(
            {
                "name": c.name,
                "shape": [n, 1] if column else [n],
                "datatype": DATATYPE[c.dtype],
                "data": [[v] for v in values] if nested else values,
            }
        )
    return {"inputs": inputs, **extra}


def table(schema, records, *, nested=True, text=False, name="input-0") -> dict:
    """An inference request with one 2-D input [N, n_features] in schema order; `text`:
    every element a string, as KServe's client writes an object array."""
    rows = [[r[c] for c in schema.feature_names] for r in records]
    if text:
        rows = [[str(v) for v in row] for row in rows]
    data = rows if nested else [v for row in rows for v in row]
    shape = [len(records), len(schema.feature_names)]
    return {"inputs": [{"name": name, "shape": shape, "datatype": "BYTES", "data": data}]}


def v2_faults(schema, records):
    """(description, request, input named in the error, text in the error) of each kind of
    bad request."""
    one = records[:1]
    first = schema.features[0].name  # the first input read: its shape sets the rows
    number = next(c.name for c in schema.features if c.dtype == "float")
    integer = next(c.name for c in schema.features if c.dtype == "int")
    category = next(c.name for c in schema.features if c.dtype == "category")
    last = schema.features[-1].name
    low = next(c for c in schema.features if c.dtype != "category" and c.min is not None)

    def with_input(name, rows=one, **change):
        body = per_feature(schema, rows)
        for tensor in body["inputs"]:
            if tensor["name"] == name:
                tensor.update(change)
        return body

    def every_input(**change):
        body = per_feature(schema, one)
        for tensor in body["inputs"]:
            tensor.update(change)
        return body

    missing = per_feature(schema, one)
    missing["inputs"] = [t for t in missing["inputs"] if t["name"] != category]
    extra = per_feature(schema, one)
    extra["inputs"].append({"name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"]})
    twice = per_feature(schema, one)
    twice["inputs"].append(dict(twice["inputs"][0]))
    uneven = per_feature(schema, records[:2])
    uneven["inputs"][-1].update(shape=[1], data=uneven["inputs"][-1]["data"][:1])
    narrow = table(schema, one)
    narrow["inputs"][0]["shape"] = [1, len(schema.features) - 1]
    narrow["inputs"][0]["data"] = [narrow["inputs"][0]["data"][0][:-1]]
    numeric_table = table(schema, one)
    numeric_table["inputs"][0]["datatype"] = "FP64"
    bad_value = with_input(low.name, data=[low.min - 1])
    bad_row = per_feature(schema, records[:3])
    for tensor in bad_row["inputs"]:
        if tensor["name"] == low.name:
            tensor["data"][2] = low.min - 1
    return [
        (
            "numeric as BYTES",
            with_input(number, datatype="BYTES", data=["1"]),
            number,
            "datatype BYTES",
        ),
        (
            "category as FP64",
            with_input(category, datatype="FP64", data=[1.0]),
            category,
            "datatype FP64",
        ),
        (
            "unknown datatype",
            with_input(integer, datatype="LONG"),
            integer,
            "unknown datatype 'LONG'",
        ),
        ("BOOL", with_input(integer, datatype="BOOL", data=[True]), integer, "datatype BOOL"),
        (
            "INT64 holding a fraction",
            with_input(number, datatype="INT64", data=[2.5]),
            number,
            "not an integer",
        ),
        ("boolean in FP64", with_input(number, data=[True]), number, "valid number"),
        ("string in INT64", with_input(integer, data=["3"]), integer, "valid integer"),
        ("shape of rank 3", with_input(first, shape=[1, 1, 1]), first, "shape [1, 1, 1]"),
        ("shape [1, 2]", with_input(first, shape=[1, 2]), first, "shape [1, 2]"),
        (
            "data shorter than shape",
            every_input(shape=[2]),
            first,
            "holds 2 elements, its data has 1",
        ),
        ("nested data of a 1-D shape", with_input(number, data=[[1.0]]), number, "valid number"),
        ("rows differ between inputs", uneven, last, "has 1 rows"),
        ("zero rows", every_input(shape=[0], data=[]), first, "holds no rows"),
        ("negative rows", every_input(shape=[-1]), first, "holds no rows"),
        ("missing input", missing, category, "missing input"),
        ("extra input", extra, "colour", "not a feature"),
        ("input given twice", twice, schema.features[0].name, "given twice"),
        ("table of the wrong width", narrow, "input-0", f"[N, {len(schema.features)}]"),
        ("numeric table of a mixed schema", numeric_table, "input-0", "datatype FP64"),
        ("value out of range", bad_value, low.name, "greater than or equal"),
        ("value out of range in row 2", bad_row, low.name, "row 2"),
        (
            "unknown output",
            {**per_feature(schema, one), "outputs": [{"name": "output0"}]},
            "output0",
            "unknown output",
        ),
        ("shape of strings", with_input(first, shape=["1"]), first, "shape[0]"),
        ("id a number", {**per_feature(schema, one), "id": 42}, "id", "id"),
        ("no inputs", {"inputs": []}, "inputs", "at least 1"),
        ("not an object", [], "body", "valid dictionary"),
    ]


def assert_fresh_uuid7(rid: str, before: float, after: float) -> None:
    """`rid` is a canonical hex UUIDv7 whose timestamp lies between the two `time.time()`s."""
    import uuid

    parsed = uuid.UUID(hex=rid)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and parsed.hex == rid
    assert int(before * 1000) <= parsed.int >> 80 <= int(after * 1000) + 1


def log_row(i: int, prefix: str = "r") -> dict:
    """A prediction log row of a regressor, request id `{prefix}-{i}`."""
    return {
        "request_id": f"{prefix}-{i}",
        "created_at": predlog.utcnow(),
        "model_name": "m",
        "model_version": "1",
        "features": {"x": i, "c": "yes"},
        "prediction": float(i),
        "latency_ms": 1.5,
    }
