from __future__ import annotations

import pytest

from mlops_core.errors import BadInput
from model_monitoring.policy import Policy, load_policy


def test_packaged_default_policy_is_the_documented_default():
    policy = load_policy()
    assert "packaged default" in policy.source
    # The packaged file and the model's defaults (both documented) say the same.
    assert policy == Policy(source=policy.source)
    assert (policy.min_rows, policy.drift.share, policy.performance.max_increase) == (
        200,
        0.15,
        0.25,
    )


def test_policy_file_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("drift:\n  share: 2\n")
    with pytest.raises(BadInput, match=r"policy.yaml: drift.share"):
        load_policy(bad)
    bad.write_text("min_rows: [\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        load_policy(bad)
    bad.write_text("drift:\n  colums: {}\n")
    with pytest.raises(BadInput, match=r"drift\.colums"):
        load_policy(bad)
    with pytest.raises(BadInput, match="cannot be read"):
        load_policy(tmp_path / "missing.yaml")


def test_policy_from_file(tmp_path, schema):
    path = tmp_path / "p.yaml"
    name = schema.feature_names[0]
    path.write_text(
        f"min_rows: 10\ndrift:\n  share: 0.5\n  columns:\n    {name}: {{threshold: 0.3}}\n"
    )
    policy = load_policy(path)
    assert policy.min_rows == 10 and policy.drift.columns[name].threshold == 0.3
    policy.check_columns(schema)
