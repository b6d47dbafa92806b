"""The `candidate:` block of a model's GitOps file and the shadow/canary options, read and
written without a server (the rollout itself is test_rollout.py)."""

from __future__ import annotations

import pytest
import yaml

from mlops_core.errors import BadInput
from mlops_core.gitops_layout import (
    CandidatePin,
    parse_model_values,
    read_pin,
    render_model_values,
)


@pytest.mark.parametrize(
    ("pin", "block"),
    [
        (
            CandidatePin("4", "data-v3", "shadow"),
            {"version": "4", "dataVersion": "data-v3", "mode": "shadow"},
        ),
        (
            CandidatePin("4", "data-v3", "canary", 10.0),
            {"version": "4", "dataVersion": "data-v3", "mode": "canary", "weight": 10},
        ),
        (
            CandidatePin("12", None, "canary", 12.5),
            {"version": "12", "dataVersion": "", "mode": "canary", "weight": 12.5},
        ),
    ],
)
def test_the_block_round_trips_with_quoted_versions(pin, block, tmp_path):
    text = render_model_values("house-price", "3", "data-v1", pin)
    assert f'version: "{pin.version}"' in text and 'version: "3"' in text
    assert yaml.safe_load(text)["candidate"] == block
    assert parse_model_values(text, "f.yaml", with_candidate=True)["candidate"] == pin
    # The plain reading keeps its shape (callers before the candidate existed).
    assert set(parse_model_values(text, "f.yaml")) == {"name", "version", "data_version"}
    rel = tmp_path / "gitops/envs/kind/models/house-price.yaml"
    rel.parent.mkdir(parents=True)
    rel.write_text(text)
    assert read_pin(tmp_path, "kind", "house-price").candidate == pin


def test_no_block_renders_as_before():
    text = render_model_values("house-price", "3", "data-v1")
    assert "candidate" not in text
    assert parse_model_values(text, with_candidate=True)["candidate"] is None


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ("[4]", "must be a mapping"),
        ("{version: '4', mode: blue}", "candidate.mode 'blue'"),
        ("{version: '4', mode: canary}", "candidate.weight"),
        ("{version: '4', mode: canary, weight: 100}", "outside (0, 100)"),
        ("{version: '4', mode: canary, weight: lots}", "is not a number"),
        ("{version: '4', mode: shadow, weight: 5}", "the mode is shadow"),
        ("{version: v4, mode: shadow}", "candidate.version"),
    ],
)
def test_a_bad_block_is_refused_naming_the_file_and_field(block, words):
    text = render_model_values("house-price", "3", "data-v1") + f"candidate: {block}\n"
    with pytest.raises(BadInput) as info:
        parse_model_values(text, "gitops/envs/kind/models/house-price.yaml")
    assert words in info.value.message
    assert "gitops/envs/kind/models/house-price.yaml" in info.value.message


def test_the_options_are_checked_before_anything_runs():
    from deployment_prep.rollout import check_request

    assert check_request(True, None) == ("shadow", None)
    assert check_request(False, 12.5) == ("canary", 12.5)
    for shadow, canary, words in (
        (True, 10.0, "--shadow and --canary"),
        (False, 0.0, "--canary"),
        (False, 100.0, "--canary"),
        (False, float("nan"), "--canary"),
    ):
        with pytest.raises(BadInput, match=words):
            check_request(shadow, canary)
