"""mlops_core.mlflow_utils.failures on what a real MLflow server and a closed port raise."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlops_core.errors import BadInput, ExitCode, Unavailable
from mlops_core.mlflow_utils import (
    Failure,
    Unreachable,
    classify,
    client,
    is_transient,
    registry_error,
)
from mlops_core.services import free_port


def _raised(call) -> MlflowException:
    with pytest.raises(MlflowException) as caught:
        call()
    return caught.value


def test_unknown_model_is_not_found(mlflow_server):
    exc = _raised(lambda: client(mlflow_server).get_registered_model("no-such-model-x1"))
    assert exc.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert classify(exc) is Failure.NOT_FOUND and not is_transient(exc)


def test_unknown_version_is_not_found(trained_model):
    c = client(trained_model.tracking_uri)
    exc = _raised(lambda: c.get_model_version(trained_model.model_name, "99"))
    assert exc.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert classify(exc) is Failure.NOT_FOUND


def test_unknown_alias_is_invalid(trained_model):
    c = client(trained_model.tracking_uri)
    exc = _raised(lambda: c.get_model_version_by_alias(trained_model.model_name, "nope"))
    assert exc.error_code == "INVALID_PARAMETER_VALUE"
    assert classify(exc) is Failure.INVALID and not is_transient(exc)


def test_closed_port_through_mlflow_is_unreachable(monkeypatch):
    # MLflow's own retries would take minutes here; the child-process setting turns them off.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{free_port()}"
    exc = _raised(lambda: client(uri, check=False).search_registered_models())
    assert exc.error_code == "INTERNAL_ERROR"  # MLflow's wrapper says nothing more itself
    assert classify(exc) is Failure.UNREACHABLE and is_transient(exc)
    error = registry_error(exc, uri)
    assert isinstance(error, Unreachable) and error.exit_code == ExitCode.UNAVAILABLE
    assert uri in error.message


def test_message_text_is_never_read():
    looks_down = MlflowException("HTTP 502: Connection refused, model not found")
    assert classify(looks_down) is Failure.OTHER
    says_invalid = MlflowException("503 not found", error_code=INVALID_PARAMETER_VALUE)
    assert classify(says_invalid) is Failure.INVALID


def test_our_own_decisions_end_the_chain():
    try:
        try:
            raise ConnectionError("refused")
        except ConnectionError as exc:
            raise Unavailable("the model cannot be loaded") from exc
    except Unavailable as outer:
        assert classify(outer) is Failure.OTHER  # decided: not worth retrying
    assert classify(BadInput("bad")) is Failure.INVALID
    assert classify(Unreachable("down")) is Failure.UNREACHABLE


def test_other_failures_end_a_command_with_exit_5():
    error = registry_error(MlflowException("boom"), "http://x")
    assert type(error) is Unavailable and "boom" in error.message
