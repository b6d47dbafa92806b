"""Property-based fuzzing of the OpenAPI document (schemathesis): no input gives a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

FUZZ_EXAMPLES = 40


@pytest.mark.slow
def test_no_input_gives_a_server_error(server):
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

            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case) -> None:
                nonlocal calls
                calls += 1
                response = case.call(timeout=30)
                if response.status_code >= 500 or not response.headers.get("x-request-id"):
                    failures.append(
                        f"{case.method} {case.path} {case.body!r:.300} -> "
                        f"{response.status_code} {response.text[:300]}"
                    )

            try:
                check()
            except Unsatisfiable:
                # Nothing to vary (e.g. negative bodies of an operation that takes none).
                assert mode == schemathesis.GenerationMode.NEGATIVE
    assert calls >= len(operations) * 4
    assert not failures, "\n".join(failures[:10])
