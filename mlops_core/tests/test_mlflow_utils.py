"""mlops_core.mlflow_utils without a server (the rest is tested in model_training/tests)."""

from __future__ import annotations

import pytest

from mlops_core.errors import BadInput, Unavailable
from mlops_core.mlflow_utils import ModelRef, check_tracking_server, model_uri
from mlops_core.services import free_port


@pytest.mark.parametrize(
    ("ref", "uri"),
    [
        (3, "models:/m/3"),
        ("3", "models:/m/3"),
        ("champion", "models:/m@champion"),
        ("@challenger", "models:/m@challenger"),
        ("models:/other/7", "models:/other/7"),
    ],
)
def test_model_uri(ref, uri):
    assert model_uri("m", ref) == uri


def test_empty_reference_is_bad_input():
    with pytest.raises(BadInput, match="empty model reference"):
        model_uri("m", " ")


def test_model_ref_uri_is_pinned_to_the_version():
    ref = ModelRef("m", "4", "run", "data-v2", {"test_rmse": 1.0}, ("champion",))
    assert ref.uri == "models:/m/4"
    assert ref.as_dict()["data_version"] == "data-v2"


def test_unreachable_tracking_server_is_unavailable():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Unavailable, match="not reachable"):
        check_tracking_server(uri, timeout=2)


def test_non_http_tracking_uris_are_not_probed(tmp_path):
    check_tracking_server(f"sqlite:///{tmp_path / 'x.db'}")
