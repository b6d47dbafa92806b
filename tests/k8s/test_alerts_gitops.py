"""The alert rules in the GitOps tree: gitops/envs/<env>/alerts/<model>.yaml are the
generator's output for the repository's models (like docs/contracts.md, a test keeps the
checked-in copy current), and each environment's model-alerts application applies its own
folder, after the monitoring stack."""

from __future__ import annotations

import pytest
from k8s_support import ENVS, GITOPS, ROOT, applications

from mlops_core.alerting import PROMETHEUS_RELEASE, gitops_alert_files
from mlops_core.modelspec import discover_models

REGENERATE = "run `mlops alerts rules --gitops-dir gitops` and commit the result"


def test_checked_in_alert_files_equal_the_generator_output():
    models = discover_models(ROOT / "models")
    assert {m.name for m in models} >= {"house-price", "churn"}
    expected = gitops_alert_files(models, ENVS)
    found = {
        p.relative_to(GITOPS).as_posix(): p.read_text()
        for env in ENVS
        for p in sorted((GITOPS / "envs" / env / "alerts").glob("*"))
    }
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    stale = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    assert not (missing or extra or stale), (
        f"gitops alert files: missing {missing}, of no model {extra}, stale {stale}: {REGENERATE}"
    )
    for text in expected.values():
        assert f"release: {PROMETHEUS_RELEASE}" in text


@pytest.mark.parametrize("env", ENVS)
def test_the_model_alerts_application_applies_this_environments_folder(env):
    apps = {a["metadata"]["name"]: a for a in applications(env)}
    app = apps["model-alerts"]
    assert app["spec"]["source"]["path"] == f"gitops/envs/{env}/alerts"
    assert app["spec"]["destination"]["namespace"] == "mlops"
    assert "SkipDryRunOnMissingResource=true" in app["spec"]["syncPolicy"]["syncOptions"]
    waves = {
        name: int(a["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0))
        for name, a in apps.items()
    }
    # After the platform's stores and services; and after the monitoring stack, which
    # brings the PrometheusRule resource definition, wherever an environment installs it.
    assert waves["model-alerts"] > max(waves["mlflow"], waves["monitoring-ui"])
    stack = [n for n in apps if "prometheus" in n and n != "model-alerts"]
    for name in stack:
        assert waves["model-alerts"] > waves[name], name
