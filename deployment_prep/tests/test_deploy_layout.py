"""mlops_core.gitops_layout: where the GitOps tree pins each model, and its readers."""

from __future__ import annotations

import pytest
import yaml

from mlops_core import gitops_layout as layout
from mlops_core.errors import BadInput


def test_one_file_per_model_per_environment():
    assert layout.model_values_path("kind", "house-price") == (
        "gitops/envs/kind/models/house-price.yaml"
    )
    assert (
        layout.model_values_path("prod", "churn", "deploy") == "deploy/envs/prod/models/churn.yaml"
    )
    assert layout.legacy_values_path("kind") == "gitops/envs/kind/model-values.yaml"


@pytest.mark.parametrize("name", ["House", "a_b", "-x", "x" * 64, ""])
def test_a_bad_model_name_is_refused(name):
    with pytest.raises(BadInput, match="model name"):
        layout.model_values_path("kind", name)


@pytest.mark.parametrize("env", ["", "a/b", ".hidden"])
def test_a_bad_environment_is_refused(env):
    with pytest.raises(BadInput, match="environment"):
        layout.model_values_path(env, "churn")


def test_the_file_round_trips_with_a_quoted_version():
    text = layout.render_model_values("churn", "12", "data-v3")
    assert 'version: "12"' in text and text.startswith(layout.HEADER)
    assert yaml.safe_load(text)["model"]["version"] == "12"
    assert layout.parse_model_values(text) == {
        "name": "churn",
        "version": "12",
        "data_version": "data-v3",
    }
    unpinned = layout.render_model_values("churn", None, None)
    assert layout.parse_model_values(unpinned)["version"] is None


def test_pins_across_environments(tmp_path):
    for env, name, version in (("kind", "churn", "2"), ("prod", "churn", ""), ("kind", "a", "1")):
        path = tmp_path / layout.model_values_path(env, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(layout.render_model_values(name, version, None))
    (tmp_path / "gitops/envs/staging").mkdir()
    assert layout.environments(tmp_path) == ["kind", "prod", "staging"]
    assert layout.models_in_env(tmp_path, "kind") == ["a", "churn"]
    assert layout.models_in_env(tmp_path, "staging") == []
    pins = layout.read_pins(tmp_path, "churn")
    assert set(pins) == {"kind", "prod"} and not pins["prod"].promoted
    assert layout.promoted_versions(tmp_path, "churn") == {"kind": "2"}
    assert layout.promoted_versions(tmp_path, "churn", envs=["prod"]) == {}
    assert layout.read_pins(tmp_path / "nowhere", "churn") == {}
    assert layout.legacy_files(tmp_path) == []
