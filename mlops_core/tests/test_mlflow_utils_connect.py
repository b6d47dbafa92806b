"""mlops_core.mlflow_utils.connect: the /health check, the client factory, request_env."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mlops_core.errors import ExitCode, Unavailable
from mlops_core.mlflow_utils import (
    Unreachable,
    check_tracking_server,
    client,
    load_model,
    request_env,
    resolve_model,
)
from mlops_core.services import free_port


def test_closed_port_is_unavailable_fast_naming_uri_and_how_to_start():
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        client(uri)
    assert time.monotonic() - started < 3
    assert isinstance(caught.value, Unavailable)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE == 5
    message = caught.value.message
    assert uri in message and "not reachable" in message and "mlops mlflow up" in message


def test_non_http_tracking_uris_are_not_probed(tmp_path):
    check_tracking_server(f"sqlite:///{tmp_path / 'x.db'}")


def test_a_running_server_passes_the_check(mlflow_server):
    check_tracking_server(mlflow_server)
    assert client(mlflow_server).search_registered_models(max_results=1) is not None


def test_os_environ_is_unchanged_by_the_layer(trained_model, monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    mlflow_client = client(trained_model.tracking_uri)
    mlflow_client.search_registered_models(max_results=1)
    ref = resolve_model(trained_model.model_name, "@champion", trained_model.tracking_uri)
    model = load_model(ref, flavor="sklearn")
    assert hasattr(model, "predict")  # the layer really did talk to the server
    assert dict(os.environ) == before


def test_request_env_is_what_mlflow_reads_in_a_child():
    env = {**os.environ, **request_env(max_retries=2, timeout=7)}
    code = (
        "from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES as r, "
        "MLFLOW_HTTP_REQUEST_TIMEOUT as t; print(r.get(), t.get())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["2", "7"]


def test_loads_in_a_process_with_no_mlflow_setting(trained_model, tmp_path):
    # As a stage or the service runs: only the URI passed in, no MLFLOW_* variable, no
    # global set earlier by another test of this session.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_"))}
    code = (
        "import sys\n"
        "from mlops_core.mlflow_utils import load_estimator, load_model, resolve_model\n"
        "ref = resolve_model(sys.argv[1], '@champion', sys.argv[2])\n"
        "print(load_estimator(ref)[1], type(load_model(ref)).__name__)\n"
        "print(load_estimator(f'models:/{sys.argv[1]}/1', sys.argv[2])[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, trained_model.model_name, trained_model.tracking_uri],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["sklearn", "PyFuncModel", "sklearn"]
    assert not list(tmp_path.iterdir())  # no mlflow.db or mlruns/ of a default store
