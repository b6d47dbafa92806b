"""The prediction-service chart renders a shadow/canary candidate from the model's GitOps
file (the file `mlops promote --shadow/--canary` writes is the release's values file), and
its values schema refuses a bad `candidate:` block."""

from __future__ import annotations

import pytest
import yaml
from k8s_support import CHARTS, KUBE_VERSION, deep_merge, load_all, release_name, values_cases

from mlops_core.gitops_layout import CandidatePin, render_model_values

CANDIDATE_VARS = (
    "MLOPS_SERVE_CANDIDATE",
    "MLOPS_SERVE_CANDIDATE_MODE",
    "MLOPS_SERVE_CANARY_WEIGHT",
)


def _base() -> dict:
    return next(v for c, lab, v in values_cases() if (c, lab) == ("prediction-service", "kind"))


def _render(values: dict) -> list[dict]:
    import helm_python

    out = helm_python.Chart.load(str(CHARTS / "prediction-service")).render(
        values, name=release_name("prediction-service", values), namespace="mlops", is_install=True
    )
    return [d for text in out.values() for d in load_all(text)]


def _server_env(docs: list[dict]) -> dict[str, str]:
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def _file(candidate: CandidatePin | None) -> dict:
    """The values the model's GitOps file holds, as promote writes it."""
    return yaml.safe_load(render_model_values("house-price", "7", "data-v3", candidate))


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (None, {}),
        (
            CandidatePin("8", "data-v4", "shadow"),
            {
                "MLOPS_SERVE_CANDIDATE": "models:/house-price/8",
                "MLOPS_SERVE_CANDIDATE_MODE": "shadow",
            },
        ),
        (
            CandidatePin("8", "data-v4", "canary", 12.5),
            {
                "MLOPS_SERVE_CANDIDATE": "models:/house-price/8",
                "MLOPS_SERVE_CANDIDATE_MODE": "canary",
                "MLOPS_SERVE_CANARY_WEIGHT": "12.5",
            },
        ),
        (
            CandidatePin("8", "data-v4", "canary", 10),
            {
                "MLOPS_SERVE_CANDIDATE": "models:/house-price/8",
                "MLOPS_SERVE_CANDIDATE_MODE": "canary",
                "MLOPS_SERVE_CANARY_WEIGHT": "10",
            },
        ),
    ],
    ids=["none", "shadow", "canary-decimal", "canary"],
)
def test_the_candidate_renders_from_the_model_file(candidate, expected):
    import kubernetes_validate

    docs = _render(deep_merge(_base(), _file(candidate)))
    env = _server_env(docs)
    assert {k: v for k, v in env.items() if k in CANDIDATE_VARS} == expected
    assert env["MLOPS_SERVE_MODEL"] == "models:/house-price/7"  # the champion stays
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    annotations = deploy["metadata"]["annotations"]
    assert annotations.get("mlops.platform/candidate") == expected.get("MLOPS_SERVE_CANDIDATE")
    kubernetes_validate.validate(deploy, KUBE_VERSION, strict=True)
    # The migration job runs with the champion only.
    for doc in docs:
        if doc["kind"] == "Job":
            job_env = doc["spec"]["template"]["spec"]["containers"][0].get("env", [])
            assert not {e["name"] for e in job_env} & set(CANDIDATE_VARS)


@pytest.mark.parametrize(
    "block",
    [
        {"version": "8", "mode": "blue"},
        {"version": "8", "mode": "canary", "weight": 0},
        {"version": "8", "mode": "canary", "weight": 100},
        {"version": "8", "mode": "canary"},
        {"version": "8", "mode": "shadow", "weight": 10},
        {"version": 8, "mode": "shadow"},
        {"mode": "shadow"},
        {"version": "8", "mode": "shadow", "traffic": 3},
    ],
    ids=[
        "mode",
        "weight-0",
        "weight-100",
        "no-weight",
        "shadow-weight",
        "int-version",
        "no-version",
        "unknown-key",
    ],
)
def test_the_values_schema_refuses_a_bad_candidate(block):
    import helm_python

    with pytest.raises(helm_python.HelmError, match="candidate"):
        _render(deep_merge(deep_merge(_base(), _file(None)), {"candidate": block}))
