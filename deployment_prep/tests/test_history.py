"""`mlops history`: a model's audit trail from the GitOps repository's git log, joined with
the session's real MLflow server, against real git repositories (a bare remote + a clone)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from deploy_helpers import DATA_VERSION, git

from mlops_core.contracts import Tag
from mlops_core.contracts.deploy import HistoryResult
from mlops_core.gitops_layout import render_model_values


def _commit_file(clone: Path, rel: str, text: str, message: str) -> str:
    """A commit made outside `mlops promote` (by hand, or by an older release), pushed."""
    path = clone / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(clone, "add", rel)
    git(clone, "commit", "-q", "-m", message)
    git(clone, "push", "-q", "origin", "HEAD:main")
    return git(clone, "rev-parse", "HEAD")


def _parsed_trailers(repo: Path, rev: str) -> list[str]:
    """What git itself reads as the commit's trailer block."""
    message = git(repo, "log", "-1", "--format=%B", rev)
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


@pytest.mark.slow  # two promotions run the real deployable checks in a clean process
def test_history_of_promotions_a_rollback_and_hand_made_commits(
    mlops, register, data_registry, client, unique_model_name, clone, remote, mlops_home
):
    name = unique_model_name
    kind = f"gitops/envs/kind/models/{name}.yaml"
    prod = f"gitops/envs/prod/models/{name}.yaml"
    v1 = register()
    # A promotion committed by an older release: "Key: value" lines git reads as no trailers.
    legacy = _commit_file(
        clone,
        prod,
        render_model_values(name, v1, DATA_VERSION),
        f"Promote {name} v{v1} (data {DATA_VERSION}) to prod\n\nModel: {name}\n"
        f"Version: {v1}\nData version: {DATA_VERSION}\nPrevious champion: none\nRun: old\n"
        "Metrics: test_rmse=123\nChecks: p99 latency 3.1 ms (budget 200 ms), artifact 9 bytes\n",
    )
    # Another model's promotion in the same repository never shows up.
    _commit_file(
        clone,
        "gitops/envs/kind/models/other-model.yaml",
        render_model_values("other-model", "9", "data-v4"),
        "Promote other-model v9 (data data-v4) to kind\n\nAction: promote\nModel: other-model\n"
        "Version: 9\nEnvironment: kind\n",
    )
    assert mlops("promote", "--json").exit_code == 0
    v2 = register()
    assert mlops("promote", "--env", "kind", "--env", "prod", "--json").exit_code == 0
    back = mlops("rollback", "--reason", "p99 above budget since the deploy", "--json")
    assert back.exit_code == 0, back.stderr
    assert back.json["reason"] == "p99 above budget since the deploy"
    # An edit by hand (no trailers) pinning a version deleted from the registry since.
    v3 = register(alias=None)
    manual = _commit_file(
        clone, kind, render_model_values(name, v3, DATA_VERSION), "hotfix: pin by hand"
    )
    client.delete_model_version(name, v3)
    report = mlops_home / "reports" / name / f"20261201T100000000000Z-v{v1}"
    report.parent.mkdir(parents=True)
    report.with_suffix(".html").write_text("<html>drift report</html>")
    report.with_suffix(".json").write_text(
        json.dumps({"status": "drift", "drift_share": 0.5, "created": "2026-12-01T10:00:00Z"})
    )

    # git itself reads the promotion's and the rollback's trailer blocks.
    trailers = _parsed_trailers(remote, "main~1")
    assert "Action: rollback" in trailers and f"Version: {v1}" in trailers
    assert "Reason: p99 above budget since the deploy" in trailers
    assert "Environment: kind, prod" in trailers and f"Previous-champion: {v2}" in trailers
    promoted = _parsed_trailers(remote, "main~2")
    assert "Action: promote" in promoted and f"Data-version: {DATA_VERSION}" in promoted
    assert any(t.startswith("Check: latency passed: single-record p99") for t in promoted)

    result = mlops("history", "--model", name, "--json")
    assert result.exit_code == 0, result.stderr
    out = HistoryResult.model_validate_json(result.stdout.strip().splitlines()[-1])
    entries = out.entries
    assert [(e.action, e.model_version) for e in entries] == [
        ("manual", v3),
        ("rollback", v1),
        ("promote", v2),
        ("promote", v1),
        ("promote", v1),
    ]
    assert entries[0].commit == manual and entries[-1].commit == legacy
    assert all("other-model" not in e.title for e in entries) and out.total == 5

    hand, rollback, second, first, old = entries
    assert hand.envs == ["kind"] and hand.reason is None
    [change] = hand.changes
    assert (change.path, change.version_before, change.version_after) == (kind, v1, v3)
    assert any("by hand" in n for n in hand.notes)
    assert hand.registry.in_registry is False and any("deleted" in n for n in hand.notes)

    assert rollback.reason == "p99 above budget since the deploy"
    assert rollback.envs == ["kind", "prod"] and rollback.previous_version == v2
    assert second.envs == ["kind", "prod"] and second.previous_version == v1
    assert {c.name for c in second.checks} == {"gate", "loads", "signature", "predictions"} | {
        "latency"
    }
    assert all(c.ok for c in second.checks) and second.metrics["test_rmse"] == 123
    assert first.envs == ["kind"] and first.previous_version is None
    for e in (rollback, second, first):
        assert e.data_version == DATA_VERSION and e.data.exists is True
        assert e.data.rows and e.data.git_tag == f"{name}/{DATA_VERSION}"
        assert e.registry.in_registry and e.run_id == e.registry.run_id
        assert e.registry.run_url.startswith(out.tracking_uri) and e.run_id in e.registry.run_url
    assert "champion" in first.registry.aliases  # v1 is the champion again

    assert old.legacy is True and old.envs == ["prod"] and old.data_version == DATA_VERSION
    assert old.trailers["data-version"] == [DATA_VERSION] and old.run_id == "old"
    assert [c.name for c in old.checks] == ["checks"]

    [run] = first.reports
    assert first.reports_total == 1 and run.status == "drift" and run.drift_share == 0.5

    page = Path(out.html)
    assert page == mlops_home / "reports" / name / "history.html"
    html = page.read_text()
    for version in (v1, v2, v3):
        assert f">v{version}<" in html
    assert html.count("<table") == 1 and f'href="{report.name}.html"' in html
    assert "p99 above budget since the deploy" in html
    # Self-contained: nothing is fetched; the only absolute links are MLflow's pages.
    for marker in ("<script", "<link", "src=", "@import", "cdn"):
        assert marker not in html
    links = re.findall(r"https?://[^\"'\s<>]+", html)
    assert links and all(link.startswith(out.tracking_uri) for link in links)

    prod_only = mlops("history", "--model", name, "--env", "prod", "--limit", "2", "--json")
    assert prod_only.exit_code == 0, prod_only.stderr
    filtered = prod_only.json
    assert [e["action"] for e in filtered["entries"]] == ["rollback", "promote"]
    assert filtered["total"] == 3  # the rollback, the second promotion, the old one


def test_rollback_reason_lands_in_the_commit_trailer(
    mlops, register, client, unique_model_name, mlops_home, tmp_path
):
    """Two versions with a champion history (as promotions leave it): a rollback to the
    previous champion runs no checks, so this test needs no check process."""
    name = unique_model_name
    v1, v2 = register(alias=None), register(alias=None)
    client.set_registered_model_alias(name, "champion", v2)
    stack = json.dumps({"stack": [v1, v2]})
    client.set_registered_model_tag(name, Tag.CHAMPION_HISTORY.value, stack)
    reason = "drift alert: rmse 41% above the policy limit"
    result = mlops("rollback", "--reason", reason, "--json")
    assert result.exit_code == 0, result.stderr
    repo = mlops_home / "gitops"
    assert git(repo, "log", "-1", "--format=%(trailers:key=Reason,valueonly)") == reason
    trailers = _parsed_trailers(repo, "HEAD")
    assert trailers[:3] == ["Action: rollback", f"Model: {name}", f"Version: {v1}"]
    assert f"Reason: {reason}" in trailers

    shown = mlops("history", "--no-html")
    assert shown.exit_code == 0, shown.stderr
    assert "rollback" in shown.stdout and reason in shown.stdout
    assert not (mlops_home / "reports" / name / "history.html").exists()


def test_unknown_model_is_named(mlops, tracking_uri, mlops_home):
    result = mlops("history", "--model", "no-such-model", "--json")
    assert result.exit_code == 2
    error = result.json["error"]
    assert "no-such-model" in error and "no registered model" in error
