"""The file promote commits is what the prediction-service chart reads: render the chart
with it (Helm's own engine) and find the promoted model in the Deployment."""

from __future__ import annotations

import copy
from pathlib import Path

import helm_python
import pytest
import yaml

from deployment_prep.settings import repo_root

CHART = repo_root() / "charts" / "prediction-service"


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.mark.slow  # real deployable checks in a clean process
def test_promoted_values_render_the_pinned_model(
    mlops, register, data_registry, unique_model_name, mlops_home
):
    version = register()
    result = mlops("promote", "--env", "kind", "--env", "prod", "--json")
    assert result.exit_code == 0, result.stderr
    repo = Path(result.json["gitops_repo"])
    for env in ("kind", "prod"):
        values: dict = {}
        for path in (
            repo / "gitops" / "images.yaml",
            repo / "gitops" / "envs" / env / "prediction-service.yaml",
            repo / "gitops" / "envs" / env / "models" / f"{unique_model_name}.yaml",
        ):
            values = _merge(values, yaml.safe_load(path.read_text()) or {})
        rendered = helm_python.Chart.load(str(CHART)).render(
            values, name="prediction-service", namespace="mlops", is_install=True
        )
        docs = [d for text in rendered.values() for d in yaml.safe_load_all(text) if d]
        [deployment] = [d for d in docs if d.get("kind") == "Deployment"]
        uri = f"models:/{unique_model_name}/{version}"
        assert deployment["metadata"]["annotations"]["mlops.platform/model"] == uri
        assert deployment["metadata"]["annotations"]["mlops.platform/data-version"] == "data-v1"
        env_vars = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "MLOPS_SERVE_MODEL", "value": uri} in env_vars
