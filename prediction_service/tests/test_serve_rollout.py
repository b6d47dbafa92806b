"""Shadow and canary (prediction_service.rollout) against real `mlops serve` processes:
a candidate that predicts differently from the champion (the champion's pipeline with its
output square-rooted, registered as version 2 of a model of this module's own).

- shadow: every answer is the champion-only service's, byte for byte, and every request
  has its shadow row (`<rid>:shadow`, role shadow, the candidate's version and prediction);
- canary: the answering model is the one crc32(key) picks, the share within a binomial
  bound of the weight, one key one model, the headers and log rows saying which; V2 infer
  routes the same way;
- registry mode: setting the `canary` alias is picked up on the next poll and removing it
  unloads the candidate, under load, with no failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import uuid
import zlib

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlops_core import predlog


@pytest.fixture(scope="module")
def rollout_model(trained_model, tmp_path_factory, make_model_folder):
    """Model `rollout-<hex>`: version 1 a copy of the session's model (alias champion),
    version 2 the same pipeline with its output square-rooted (a candidate whose every
    prediction differs)."""
    import mlflow
    import skops.io as sio
    from mlflow import MlflowClient
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import FunctionTransformer

    uri = trained_model.tracking_uri
    client = MlflowClient(uri, uri)
    name = f"rollout-{uuid.uuid4().hex[:8]}"
    v1 = str(client.copy_model_version(trained_model.model_uri, name).version)
    client.set_model_version_tag(name, v1, "data_version", trained_model.data_version)
    client.set_registered_model_alias(name, "champion", v1)

    mlflow.set_tracking_uri(uri)
    pipe = mlflow.sklearn.load_model(trained_model.model_uri)
    wrapped = TransformedTargetRegressor(regressor=pipe)
    wrapped.regressor_ = pipe
    wrapped.transformer_ = FunctionTransformer(inverse_func=np.sqrt, check_inverse=False).fit(
        np.ones((2, 1))
    )
    wrapped._training_dim = 1
    mlflow.set_experiment(f"{name}-candidate")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            wrapped,
            name="model",
            registered_model_name=name,
            serialization_format="skops",  # as `mlops train` logs (no pickle)
            skops_trusted_types=sorted(sio.get_untrusted_types(data=sio.dumps(wrapped))),
            pip_requirements=["scikit-learn"],
        )
    v2 = str(info.registered_model_version)
    client.set_model_version_tag(name, v2, "data_version", trained_model.data_version)
    models_dir = tmp_path_factory.mktemp("rollout-models")
    make_model_folder(models_dir, name)
    return {"name": name, "v1": v1, "v2": v2, "client": client, "dir": models_dir, "uri": uri}


@pytest.fixture(scope="module")
def serve(start_server, rollout_model):
    def start(env: dict[str, str] | None = None, args: list[str] | None = None):
        return start_server(
            {"MLOPS_MODELS_DIR": str(rollout_model["dir"]), "MLOPS_MODEL": rollout_model["name"]}
            | (env or {}),
            args,
        )

    return start


def _pinned(m, version: str) -> list[str]:
    return ["--model", f"models:/{m['name']}/{version}"]


@pytest.fixture(scope="module")
def champion_only(serve, rollout_model):
    return serve(args=_pinned(rollout_model, rollout_model["v1"]))


@pytest.fixture(scope="module")
def shadow_server(serve, rollout_model):
    m = rollout_model
    env = {"MLOPS_SERVE_CANDIDATE": f"models:/{m['name']}/{m['v2']}"}
    return serve(env | {"MLOPS_SERVE_CANDIDATE_MODE": "shadow"}, _pinned(m, m["v1"]))


WEIGHT = 30.0


@pytest.fixture(scope="module")
def canary_server(serve, rollout_model):
    m = rollout_model
    env = {
        "MLOPS_SERVE_CANDIDATE": f"models:/{m['name']}/{m['v2']}",
        "MLOPS_SERVE_CANDIDATE_MODE": "canary",
        "MLOPS_SERVE_CANARY_WEIGHT": str(WEIGHT),
    }
    return serve(env, _pinned(m, m["v1"]))


def series(server) -> dict[tuple[str, tuple], float]:
    """The server's /metrics: {(name, sorted label pairs): value}."""
    import re

    out = {}
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        found = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if found:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', found.group(2) or "")))
            out[(found.group(1), labels)] = float(found.group(3))
    return out


def log_url(server) -> str:
    return f"sqlite:///{server.home / 'predictions.db'}"


def rows_like(server, pattern: str) -> dict[str, dict]:
    engine = predlog.create_engine(log_url(server))
    try:
        with engine.connect() as conn:
            p = predlog.predictions
            found = conn.execute(sa.select(p).where(p.c.request_id.like(pattern))).all()
    finally:
        engine.dispose()
    return {r.request_id: dict(r._mapping) for r in found}


def wait_rows(server, pattern: str, n: int, timeout: float = 60.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = rows_like(server, pattern)
        except sa.exc.OperationalError:
            found = {}
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


async def _send(url, path, bodies, headers, concurrency=8):
    out: list = [None] * len(bodies)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one(i):
            async with sem:
                out[i] = await client.post(path, json=bodies[i], headers=headers[i])

        await asyncio.gather(*(one(i) for i in range(len(bodies))))
    return out


def send(server, path, bodies, headers, concurrency=8):
    """POST each body with its headers; the responses in order."""
    return asyncio.run(_send(server.url, path, bodies, headers, concurrency))


def predict(m, version, records, schema) -> list[float]:
    import mlflow

    mlflow.set_tracking_uri(m["uri"])
    model = mlflow.sklearn.load_model(f"models:/{m['name']}/{version}")
    return model.predict(pd.DataFrame(records)[schema.feature_names]).tolist()


@pytest.mark.slow
def test_shadow_answers_are_the_champions_and_every_request_has_a_shadow_row(
    shadow_server, champion_only, rollout_model, records, schema
):
    m = rollout_model
    n = 120
    prefix = f"sh-{uuid.uuid4().hex[:8]}"
    ids = [f"{prefix}-{i}" for i in range(n)]
    headers = [{"X-Request-ID": rid} for rid in ids]
    # One at a time: rows predicted together in one micro-batch may differ in the last
    # digit from the same rows alone (the summation order), on any service.
    got = send(shadow_server, "/v1/predict", records[:n], headers, concurrency=1)
    want = send(champion_only, "/v1/predict", records[:n], headers, concurrency=1)
    assert all(r.status_code == 200 for r in got + want)
    # Byte for byte the champion-only service's answers (same request ids, same rows).
    assert [r.content for r in got] == [r.content for r in want]
    assert {(r.headers["x-model-version"], r.headers["x-model-role"]) for r in got} == {
        (m["v1"], "champion")
    }
    # A batch too: answered by the champion, each of its rows shadowed.
    batch = {"records": records[n : n + 20]}
    rb = httpx.post(
        shadow_server.url + "/v1/predict/batch", json=batch, headers={"X-Request-ID": f"{prefix}-b"}
    )
    wb = httpx.post(
        champion_only.url + "/v1/predict/batch", json=batch, headers={"X-Request-ID": f"{prefix}-b"}
    )
    assert rb.status_code == 200 and rb.content == wb.content

    found = wait_rows(shadow_server, f"{prefix}-%", 2 * (n + 20))
    shadows = {k: v for k, v in found.items() if k.endswith(":shadow")}
    champions = {k: v for k, v in found.items() if not k.endswith(":shadow")}
    batch_ids = [f"{prefix}-b-{i}" for i in range(20)]
    assert set(shadows) == {f"{rid}:shadow" for rid in ids + batch_ids}
    assert set(champions) == set(ids + batch_ids)
    assert {(r["role"], r["model_version"]) for r in shadows.values()} == {("shadow", m["v2"])}
    assert {(r["role"], r["model_version"]) for r in champions.values()} == {("champion", m["v1"])}
    # The shadow rows hold the candidate's predictions of the same features.
    expected = predict(m, m["v2"], records[: n + 20], schema)
    for i, rid in enumerate(ids + batch_ids):
        row = shadows[f"{rid}:shadow"]
        assert row["features"] == champions[rid]["features"]
        assert row["prediction"] == pytest.approx(expected[i]), rid
        assert row["prediction"] != pytest.approx(champions[rid]["prediction"])
    metrics = series(shadow_server)
    name, v2 = m["name"], m["v2"]
    info = ("mode", "shadow"), ("model_name", name), ("model_version", v2)
    assert metrics[("mlops_candidate_info", info)] == 1.0
    shadowed = ("kind", "single"), ("model_name", name), ("model_version", v2), ("role", "shadow")
    assert metrics[("mlops_predictions_total", shadowed)] == n
    assert metrics.get(("mlops_shadow_dropped_rows_total", (("model_name", name),)), 0) == 0


def _is_canary(key: str) -> bool:
    return zlib.crc32(key.encode()) % 10_000 < WEIGHT * 100


@pytest.mark.slow
def test_canary_answers_its_share_by_key_and_one_key_gets_one_model(
    canary_server, rollout_model, records, schema
):
    m = rollout_model
    n = 400
    prefix = f"ca-{uuid.uuid4().hex[:8]}"
    keys = [f"client-{uuid.uuid4().hex[:6]}-{i}" for i in range(n)]
    ids = [f"{prefix}-{i}" for i in range(n)]
    bodies = [records[i % 200] for i in range(n)]
    headers = [{"X-Request-ID": rid, "X-Routing-Key": k} for rid, k in zip(ids, keys, strict=True)]
    got = send(canary_server, "/v1/predict", bodies, headers)
    assert all(r.status_code == 200 for r in got)
    versions = [r.headers["x-model-version"] for r in got]
    roles = [r.headers["x-model-role"] for r in got]
    assert versions == [m["v2"] if _is_canary(k) else m["v1"] for k in keys]
    assert roles == ["canary" if v == m["v2"] else "champion" for v in versions]
    assert [r.json()["model_version"] for r in got] == versions
    share = versions.count(m["v2"])
    p = WEIGHT / 100
    assert abs(share - n * p) <= 4 * math.sqrt(n * p * (1 - p)), share
    # The answers are the answering version's predictions.
    champion = predict(m, m["v1"], records[:200], schema)
    canary = predict(m, m["v2"], records[:200], schema)
    for i in range(0, n, 7):
        expected = (canary if versions[i] == m["v2"] else champion)[i % 200]
        assert got[i].json()["prediction"] == pytest.approx(expected)

    # One key, one model: the same keys again (new request ids) get the same versions,
    # on /v1 and on V2 infer alike.
    again = send(
        canary_server,
        "/v1/predict",
        bodies[:60],
        [{"X-Routing-Key": k} for k in keys[:60]],
    )
    assert [r.headers["x-model-version"] for r in again] == versions[:60]
    v2_bodies = [
        {
            "inputs": [
                {
                    "name": c.name,
                    "shape": [1],
                    "datatype": {"int": "INT64", "float": "FP64", "category": "BYTES"}[c.dtype],
                    "data": [r[c.name]],
                }
                for c in schema.features
            ]
        }
        for r in bodies[:60]
    ]
    v2 = send(
        canary_server,
        f"/v2/models/{m['name']}/infer",
        v2_bodies,
        [{"X-Routing-Key": k} for k in keys[:60]],
    )
    assert all(r.status_code == 200 for r in v2), v2[0].text
    assert [r.json()["model_version"] for r in v2] == versions[:60]
    assert [r.headers["x-model-role"] for r in v2] == roles[:60]
    # Without a routing key the request id is the key; a batch goes whole by its key.
    plain = [f"{prefix}-p{i}" for i in range(40)]
    by_id = send(canary_server, "/v1/predict", bodies[:40], [{"X-Request-ID": r} for r in plain])
    assert [r.headers["x-model-version"] for r in by_id] == [
        m["v2"] if _is_canary(r) else m["v1"] for r in plain
    ]
    canary_key = next(k for k in keys if _is_canary(k))
    rb = httpx.post(
        canary_server.url + "/v1/predict/batch",
        json={"records": records[:10]},
        headers={"X-Routing-Key": canary_key, "X-Request-ID": f"{prefix}-batch"},
    )
    assert rb.status_code == 200 and rb.json()["model_version"] == m["v2"]
    assert rb.json()["predictions"] == pytest.approx(canary[:10])

    # The log says which model and role answered each request (plain request ids).
    found = wait_rows(canary_server, f"{prefix}-%", n + 40 + 10)
    for rid, version in zip(ids, versions, strict=True):
        row = found[rid]
        assert (row["model_version"], row["role"]) == (
            version,
            "canary" if version == m["v2"] else "champion",
        )
    assert {found[f"{prefix}-batch-{i}"]["role"] for i in range(10)} == {"canary"}
    assert not any(k.endswith(":shadow") for k in found)
    metrics = series(canary_server)
    assert metrics[("mlops_canary_weight_percent", (("model_name", m["name"]),))] == WEIGHT
    answered = ("kind", "single"), ("model_name", m["name"]), ("model_version", m["v2"])
    assert metrics[("mlops_predictions_total", (*answered, ("role", "canary")))] >= share


def _documented(doc: dict, component: str):
    """A validator of the OpenAPI document's component `component` (its $refs resolved)."""
    from jsonschema import Draft202012Validator

    ref = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
    return Draft202012Validator(ref)


def _v2_row(schema, record) -> dict:
    datatype = {"int": "INT64", "float": "FP64", "category": "BYTES"}
    return {
        "inputs": [
            {"name": c.name, "shape": [1], "datatype": datatype[c.dtype], "data": [record[c.name]]}
            for c in schema.features
        ]
    }


@pytest.mark.slow
def test_the_candidate_is_listed_beside_the_champion_and_answers_its_version_routes(
    shadow_server, canary_server, champion_only, rollout_model, records, schema
):
    from prediction_service.schemas import component_prefix

    m = rollout_model
    name, v1, v2 = m["name"], m["v1"], m["v2"]
    uri = f"models:/{name}/{v2}"
    p = component_prefix(name)
    for server, mode, weight in (
        (shadow_server, "shadow", None),
        (canary_server, "canary", WEIGHT),
    ):
        doc = httpx.get(server.url + "/openapi.json").json()
        listed = httpx.get(server.url + "/v1/models").json()
        _documented(doc, "ModelList").validate(listed)
        [entry] = listed["models"]
        assert (entry["model_version"], entry["role"]) == (v1, "champion")
        assert entry["candidate"] == {
            "model_version": v2,
            "mode": mode,
            "weight": weight,
            "fast_path": entry["candidate"]["fast_path"],
        }
        for path, component in (
            (f"/v1/models/{name}", f"{p}ModelInfo"),
            ("/v1/model", "ModelInfo"),
        ):
            info = httpx.get(server.url + path).json()
            _documented(doc, component).validate(info)
            assert info["model_version"] == v1
            cand = info["candidate"]
            assert (cand["model_version"], cand["mode"], cand["weight"]) == (v2, mode, weight)
            assert cand["model_uri"] == uri and cand["flavor"] == "sklearn"
            assert (
                cand["data_version"] == m["client"].get_model_version(name, v2).tags["data_version"]
            )
            assert cand["run_id"] == m["client"].get_model_version(name, v2).run_id

        # V2: the metadata lists both versions, and the candidate's version routes answer.
        meta = httpx.get(f"{server.url}/v2/models/{name}")
        assert meta.status_code == 200 and meta.json()["versions"] == [v1, v2]
        _documented(doc, "V2ModelMetadata").validate(meta.json())
        for version, role in ((v1, "champion"), (v2, mode)):
            r = httpx.get(f"{server.url}/v2/models/{name}/versions/{version}")
            assert r.status_code == 200 and r.json() == meta.json(), r.text
            assert (r.headers["x-model-version"], r.headers["x-model-role"]) == (version, role)
            ready = httpx.get(f"{server.url}/v2/models/{name}/versions/{version}/ready")
            assert ready.status_code == 200 and ready.json() == {"name": name, "ready": True}
            assert ready.headers["x-model-version"] == version
        missing = httpx.get(f"{server.url}/v2/models/{name}/versions/999")
        assert missing.status_code == 404
        assert f"it serves versions {v1} and {v2}" in missing.json()["error"], missing.text

        # The candidate's version answers its infer route, whatever the routing key (a key
        # the canary would not get), with role canary (a candidate answering a client);
        # never a shadow row (those pair with the champion's). The champion's version
        # route is answered by the champion (and shadowed in shadow mode).
        key = next(f"k{i}" for i in range(100) if not _is_canary(f"k{i}"))
        prefix = f"ver-{mode}-{uuid.uuid4().hex[:6]}"
        body = _v2_row(schema, records[0])
        expected = {v: predict(m, v, records[:1], schema)[0] for v in (v1, v2)}
        for version, role in ((v2, "canary"), (v1, "champion")):
            r = httpx.post(
                f"{server.url}/v2/models/{name}/versions/{version}/infer",
                json=body,
                headers={"X-Routing-Key": key, "X-Request-ID": f"{prefix}-{version}"},
            )
            assert r.status_code == 200, r.text
            _documented(doc, "V2InferenceResponse").validate(r.json())
            assert r.json()["model_version"] == version
            assert r.headers["x-model-role"] == role
            assert r.json()["outputs"][0]["data"] == [pytest.approx(expected[version])]
        shadowed = 2 if mode == "shadow" else 1
        found = wait_rows(server, f"{prefix}-%", shadowed + 1)
        roles = {rid: (row["model_version"], row["role"]) for rid, row in found.items()}
        want = {f"{prefix}-{v2}": (v2, "canary"), f"{prefix}-{v1}": (v1, "champion")}
        if mode == "shadow":
            want[f"{prefix}-{v1}:shadow"] = (v2, "shadow")
        assert roles == want

    # No candidate: null on /v1, one version on V2, the candidate's version a 404.
    [alone] = httpx.get(champion_only.url + "/v1/models").json()["models"]
    assert alone["candidate"] is None
    assert httpx.get(f"{champion_only.url}/v1/models/{name}").json()["candidate"] is None
    assert httpx.get(f"{champion_only.url}/v2/models/{name}").json()["versions"] == [v1]
    gone = httpx.get(f"{champion_only.url}/v2/models/{name}/versions/{v2}/ready")
    assert gone.status_code == 404 and f"it serves version {v1})" in gone.json()["error"]


class Load:
    """Requests in a loop on 8 connections until stopped: (status, version) of each."""

    def __init__(self, url: str, records: list[dict]) -> None:
        self.url, self.records = url, records
        self.results: list[tuple[int | None, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:

            async def worker(w: int) -> None:
                i = w
                while not self._stop.is_set():
                    try:
                        r = await client.post(
                            "/v1/predict", json=self.records[i % len(self.records)]
                        )
                        self.results.append((r.status_code, r.headers.get("x-model-version")))
                    except httpx.HTTPError:
                        self.results.append((None, None))
                    i += 8

            await asyncio.gather(*(worker(w) for w in range(8)))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)


def _weight(server, name: str) -> float | None:
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(f'mlops_canary_weight_percent{{model_name="{name}"}} '):
            return float(line.split()[1])
    return None


def _until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


@pytest.mark.slow
def test_the_canary_alias_is_followed_on_the_poll_with_no_failed_request(
    serve, rollout_model, records
):
    m, client = rollout_model, rollout_model["client"]
    # Served by name: its champion alias, and its canary/shadow aliases, followed.
    server = serve({"MLOPS_SERVE_POLL_INTERVAL": "1"}, ["--model", m["name"]])
    assert _weight(server, m["name"]) in (None, 0.0)
    try:
        with Load(server.url, records[:300]) as load:
            time.sleep(1.0)
            client.set_model_version_tag(m["name"], m["v2"], "canary_weight", "50")
            client.set_registered_model_alias(m["name"], "canary", m["v2"])
            _until(lambda: _weight(server, m["name"]) == 50.0, "the canary was not loaded")
            _until(
                lambda: sum(v == m["v2"] for _, v in load.results[-50:]) > 5,
                "the canary answers nothing",
            )
            client.delete_registered_model_alias(m["name"], "canary")
            _until(lambda: _weight(server, m["name"]) == 0.0, "the canary was not unloaded")
            unloaded = len(load.results)
            time.sleep(1.0)
        results = load.results
        assert all(status == 200 for status, _ in results), [x for x in results if x[0] != 200][:3]
        assert {v for _, v in results} == {m["v1"], m["v2"]}
        # After the unload (and the requests in flight then), only the champion answers.
        assert {v for _, v in results[unloaded + 16 :]} == {m["v1"]}
    finally:
        with contextlib.suppress(Exception):  # removed already when the test got that far
            client.delete_registered_model_alias(m["name"], "canary")


def test_a_bad_candidate_setting_is_refused_naming_the_variable():
    from mlops_core.errors import BadInput
    from prediction_service.runtime import _with_candidate
    from prediction_service.settings import ServeSettings

    cases = [
        ({"candidate": "models:/x/2", "candidate_mode": "mirror"}, "MLOPS_SERVE_CANDIDATE_MODE"),
        ({"candidate": "models:/x/2", "candidate_mode": "canary"}, "MLOPS_SERVE_CANARY_WEIGHT"),
        (
            {"candidate": "models:/x/2", "candidate_mode": "canary", "canary_weight": 100},
            "MLOPS_SERVE_CANARY_WEIGHT",
        ),
        ({"candidate_mode": "shadow"}, "MLOPS_SERVE_CANDIDATE"),
        (
            {"candidate": "models:/x/2", "candidate_mode": "shadow", "canary_weight": 5},
            "MLOPS_SERVE_CANARY_WEIGHT",
        ),
    ]
    for values, named in cases:
        with pytest.raises(BadInput, match=named):
            _with_candidate(None, ServeSettings(**values), [])
