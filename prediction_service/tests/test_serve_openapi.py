"""The OpenAPI document: generated from the dataset schema, and true. Schemathesis fuzzes
every operation (valid and invalid bodies) and checks each response against the document
with all its built-in checks: the status is documented, the body matches that status's
schema, the content type and headers are the documented ones, invalid data is refused with
a 4xx, valid data is accepted, auth is not ignored; and no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup

FUZZ_EXAMPLES = 40


def test_openapi_document_is_generated_from_the_schema(server, schema):
    import httpx

    doc = httpx.get(server.url + "/openapi.json").json()
    features = doc["components"]["schemas"]["Features"]
    assert features["required"] == schema.feature_names
    for column in schema.features:
        prop = features["properties"][column.name]
        assert column.description in prop["description"]
        if column.dtype == "category":
            assert prop["enum"] == list(column.categories)
        else:
            assert prop["type"] == ("integer" if column.dtype == "int" else "number")
            if column.min is not None:
                assert prop["minimum"] == column.min
            if column.max is not None:
                assert prop["maximum"] == column.max
    # Every operation that reads a body documents what its body can be refused with.
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/feedback"):
        assert {"400", "413", "422"} <= set(doc["paths"][path]["post"]["responses"]), path
    batch = doc["paths"]["/v1/predict/batch"]["post"]
    assert batch["summary"] == "Predict a batch (up to 2000 records)"
    assert {"200", "400", "413", "422"} <= set(batch["responses"])
    admin = doc["paths"]["/v1/admin/reload"]["post"]
    assert admin["security"] == [{"ApiKey": []}]
    assert {"401", "403"} <= set(admin["responses"])
    # Predictions need no key on this server (MLOPS_SERVE_REQUIRE_KEY=false).
    assert "security" not in doc["paths"]["/v1/predict"]["post"]
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }


@pytest.mark.slow
def test_every_response_is_the_documented_one(server):
    api = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/predict", "/v1/predict/batch", "/v1/feedback"}
    failures: list[str] = []
    calls = 0
    for operation in operations:
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.method.upper() == "POST":
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            # Derandomized: the same examples every run, so a failure here is the code's,
            # reproducible, never the luck of one CI run.
            @settings(
                max_examples=FUZZ_EXAMPLES,
                derandomize=True,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case) -> None:
                nonlocal calls
                calls += 1
                try:
                    # No `checks=`: every built-in check schemathesis has runs.
                    response = case.call_and_validate(timeout=30)
                except FailureGroup as exc:
                    failures.append(f"{case.method} {case.path}: {exc}"[:1500])
                    return
                if not response.headers.get("x-request-id"):
                    failures.append(f"{case.method} {case.path}: no X-Request-ID")

            try:
                check()
            except Unsatisfiable:
                # Nothing to vary (e.g. negative bodies of an operation that takes none).
                assert mode == schemathesis.GenerationMode.NEGATIVE
    assert calls >= len(operations) * 4
    assert not failures, "\n\n".join(failures[:8])
