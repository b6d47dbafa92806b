"""The `trained_model` session fixture other stages rely on keeps its promises."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_trained_model_has_lineage_aliases_and_loads(trained_model, mlops_home, monkeypatch):
    from mlops_core.mlflow_utils import load_model, resolve_model
    from mlops_core.registry import DataRegistry
    from mlops_core.settings import get_settings

    trained_model.use(monkeypatch)
    for alias in ("champion", "challenger", trained_model.version):
        ref = resolve_model(trained_model.model_name, alias)
        assert ref.version == trained_model.version
        assert ref.run_id == trained_model.run_id
        assert ref.data_version == trained_model.data_version
        assert {"champion", "challenger"} <= set(ref.aliases)
    settings = get_settings()
    assert settings.home == mlops_home  # the test's own home, the shared stores
    registry = DataRegistry.from_settings(settings)
    assert registry.latest() == trained_model.data_version
    paths = registry.pull(trained_model.data_version, mlops_home / "pulled")

    import pandas as pd

    schema = settings.load_schema()
    rows = pd.read_parquet(paths["test"])[schema.feature_names].head(10)
    model = load_model(resolve_model(trained_model.model_name, "champion"))
    assert np.isfinite(np.asarray(model.predict(rows), dtype=float)).all()
    assert trained_model.model_uri == f"models:/{trained_model.model_name}/1"


def test_resolve_model_names_what_is_missing(trained_model, mlops_home, monkeypatch):
    from mlops_core.errors import BadInput
    from mlops_core.mlflow_utils import find_alias, resolve_model

    trained_model.use(monkeypatch)
    with pytest.raises(BadInput, match="has no version 99"):
        resolve_model(trained_model.model_name, 99)
    with pytest.raises(BadInput, match="has no alias 'nope'"):
        resolve_model(trained_model.model_name, "nope")
    with pytest.raises(BadInput, match="'no-such-model'"):
        resolve_model("no-such-model", "champion")
    assert find_alias(trained_model.model_name, "nope") is None
