"""mlops_core.mlflow_utils.retry: transient failures are retried within the budget, the
rest are not, and a server that comes up late is waited for."""

from __future__ import annotations

import threading
import time

import pytest

from mlops_core.errors import BadInput
from mlops_core.mlflow_utils import Unreachable, client, resolve, retrying
from mlops_core.services import free_port


def test_unreachable_is_retried_until_the_budget_is_spent():
    uri = f"http://127.0.0.1:{free_port()}"
    policy = retrying(budget=2.0, first_wait=0.2)
    started = time.monotonic()
    with pytest.raises(Unreachable, match=uri):
        policy(client, uri)
    elapsed = time.monotonic() - started
    # waits 0.2, 0.4, 0.8 (1.4 s): up to four attempts, fewer on a loaded machine; none
    # starts after the budget, so the last one ends within a check's time of it.
    assert 2 <= policy.statistics["attempt_number"] <= 4
    assert policy.statistics["idle_for"] < 2.0
    assert elapsed < 2.0 + 5.0


def test_not_found_is_not_retried(mlflow_server):
    policy = retrying(budget=30.0)
    with pytest.raises(BadInput, match="does not exist"):
        policy(resolve, client(mlflow_server), "models:/no-such-model-z4/1")
    assert policy.statistics["attempt_number"] == 1


@pytest.mark.slow
def test_a_server_that_comes_up_late_is_waited_for(tmp_path):
    from mlops_core.embedded import start_mlflow
    from mlops_core.services import ServiceManager
    from mlops_core.settings import PlatformSettings

    settings = PlatformSettings(home=tmp_path, mlflow_port=free_port(), mlflow_tracking_uri=None)
    uri = f"http://127.0.0.1:{settings.mlflow_port}"
    attempts: list[float] = []
    starter = threading.Thread(target=start_mlflow, args=(settings,), kwargs={"timeout": 240})

    def ask():
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            starter.start()  # only after the first attempt found nothing there
            raise_now = True
        else:
            raise_now = False
        c = client(uri)
        assert not raise_now, "the server answered before it was started"
        return c.search_registered_models(max_results=1)

    policy = retrying(budget=240.0, max_wait=2.0)
    try:
        assert policy(ask) == []
    finally:
        starter.join(timeout=240)
        ServiceManager(settings.run_dir).stop("mlflow")
    assert policy.statistics["attempt_number"] == len(attempts) >= 2
