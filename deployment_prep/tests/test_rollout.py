"""Shadow and canary rollouts as GitOps commits, against the session's real MLflow server
and real git repositories (a bare remote + a clone). One model walks the whole rollout in
one test: the deployable checks (a clean process each) are the slow part, so each step
reuses the state the previous one left."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from deploy_helpers import DATA_VERSION, champion, git

from mlops_core.gitops_layout import render_model_values


def _alias(client, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def _trailers(repo: Path, rev: str = "main") -> list[str]:
    """The commit's trailer block as git itself reads it."""
    text = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", rev)
    return [line for line in text.splitlines() if line]


def _values(repo: Path, name: str, rev: str = "main") -> dict:
    return yaml.safe_load(git(repo, "show", f"{rev}:gitops/envs/kind/models/{name}.yaml"))


@pytest.mark.slow  # three deployable checks in a clean process
def test_shadow_canary_promote_abort_and_rollback_as_commits(
    mlops, register, data_registry, client, unique_model_name, clone, remote, git_refs
):
    name = unique_model_name
    # The champion v1 as a promotion leaves it (alias + pushed commit), without its checks.
    v1 = register(alias="champion")
    path = clone / f"gitops/envs/kind/models/{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_values(name, v1, DATA_VERSION))
    git(clone, "add", "-A")
    trailers = f"Action: promote\nModel: {name}\nVersion: {v1}\nEnvironment: kind"
    git(clone, "commit", "-q", "-m", f"Promote {name} v{v1}\n\n{trailers}\n")
    git(clone, "push", "-q", "origin", "HEAD:main")
    v2 = register()

    # Bad input: refused naming the option, before anything moves.
    before = git_refs(remote)
    for args, words in (
        (["--shadow", "--canary", "10"], "--shadow and --canary"),
        (["--canary", "0"], "--canary"),
        (["--canary", "100"], "outside (0, 100)"),
        (["--shadow", "--version", v1], "is the champion"),
        (["--replace-candidate"], "only with --shadow or --canary"),
    ):
        bad = mlops("promote", *args, "--json")
        assert bad.exit_code == 2, (args, bad.stdout)
        assert words in bad.json["error"], bad.json["error"]
    assert git_refs(remote) == before
    assert _alias(client, name, "shadow") is None and _alias(client, name, "canary") is None

    # Shadow: checked like a promotion, alias + block + one commit; the champion stays.
    shadow = mlops("promote", "--shadow", "--json")
    assert shadow.exit_code == 0, shadow.stderr
    out = shadow.json
    assert (out["mode"], out["model_version"], out["previous_version"]) == ("shadow", v2, v1)
    assert out["candidate"] == {
        "version": v2,
        "mode": "shadow",
        "weight": None,
        "data_version": DATA_VERSION,
        "uri": f"models:/{name}/{v2}",
    }
    assert [c["name"] for c in out["checks"]] == ["loads", "signature", "predictions", "latency"]
    assert out["pushed"] and git(remote, "rev-parse", "main") == out["commit"]
    assert champion(client, name) == v1 and _alias(client, name, "shadow") == v2
    values = _values(remote, name)
    assert values["model"]["version"] == v1
    assert values["candidate"] == {
        "version": v2,
        "dataVersion": DATA_VERSION,
        "mode": "shadow",
    }
    trailers = _trailers(remote)
    assert "Action: shadow" in trailers and f"Candidate-version: {v2}" in trailers
    assert f"Previous-champion: {v1}" in trailers
    assert git(remote, "show", "--name-only", "--format=", "main") == (
        f"gitops/envs/kind/models/{name}.yaml"
    )

    # Canary 10 then 25: two commits, the alias moves from shadow to canary, tag updated;
    # the live candidate is not checked again.
    for weight in ("10", "25"):
        step = mlops("promote", "--canary", weight, "--json")
        assert step.exit_code == 0, step.stderr
        assert step.json["mode"] == "canary" and step.json["weight"] == float(weight)
        assert step.json["checks"] is None
        assert _alias(client, name, "canary") == v2 and _alias(client, name, "shadow") is None
        assert client.get_model_version(name, v2).tags["canary_weight"] == weight
        assert _values(remote, name)["candidate"]["weight"] == int(weight)
        trailers = _trailers(remote)
        assert "Action: canary" in trailers and f"Weight: {weight}" in trailers
    same = mlops("promote", "--canary", "25", "--json")
    assert same.exit_code == 0 and same.json["changed"] is False
    assert git(remote, "rev-parse", "main") == step.json["commit"]

    # A second candidate is refused naming the live one.
    v3 = register(alias=None)
    before = git_refs(remote)
    second = mlops("promote", "--shadow", "--version", v3, "--json")
    assert second.exit_code == 8
    assert f"canary at 25% candidate v{v2}" in second.json["error"]
    assert "--replace-candidate" in second.json["error"]
    assert git_refs(remote) == before and _alias(client, name, "shadow") is None
    other = mlops("promote", "--version", v3, "--json")  # nor is another champion promoted
    assert other.exit_code == 8 and f"v{v2}" in other.json["error"]

    listed = mlops("models", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    [summary] = [m for m in listed.json["models"] if m["name"] == name]
    assert summary["candidate"]["version"] == v2 and summary["candidate"]["weight"] == 25
    assert summary["candidate_envs"] == ["kind"]
    assert summary["pins"]["kind"]["candidate"]["mode"] == "canary"

    # Promoting the candidate completes it: champion moves, alias, tag and block gone.
    done = mlops("promote", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json["mode"] == "champion" and done.json["model_version"] == v2
    assert done.json["removed_candidate"]["version"] == v2
    assert done.json["checks"] is None  # checked when it became the candidate
    assert champion(client, name) == v2 and _alias(client, name, "canary") is None
    assert "canary_weight" not in client.get_model_version(name, v2).tags
    assert _values(remote, name) == {
        "model": {"name": name, "version": v2, "dataVersion": DATA_VERSION}
    }
    trailers = _trailers(remote)
    assert "Action: promote" in trailers and f"Candidate-version: {v2}" in trailers

    # A refused push leaves alias, tag and file as they were (canary v3 at 10 first).
    assert mlops("promote", "--canary", "10", "--version", v3, "--json").exit_code == 0
    pushed = git(remote, "rev-parse", "main")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'rollouts are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    for args in (["promote", "--canary", "30"], ["rollback", "--candidate"]):
        refused = mlops(*args, "--json")
        assert refused.exit_code == 8, refused.stdout
        assert "rollouts are frozen" in refused.json["error"]
        assert "alias canary back on" in refused.json["error"]
        assert _alias(client, name, "canary") == v3
        assert client.get_model_version(name, v3).tags["canary_weight"] == "10"
        assert git(remote, "rev-parse", "main") == pushed == git(clone, "rev-parse", "HEAD")
        assert git(clone, "status", "--porcelain") == ""
        assert _values(remote, name)["candidate"]["weight"] == 10
    hook.unlink()

    # Abort: alias, tag and block removed by one commit; the champion stays.
    abort = mlops("rollback", "--candidate", "--reason", "canary p99 too high", "--json")
    assert abort.exit_code == 0, abort.stderr
    assert abort.json["action"] == "abort" and abort.json["model_version"] == v2
    assert abort.json["removed_candidate"]["version"] == v3
    assert champion(client, name) == v2 and _alias(client, name, "canary") is None
    assert "candidate" not in _values(remote, name)
    trailers = _trailers(remote)
    assert "Action: abort" in trailers and "Reason: canary p99 too high" in trailers
    nothing = mlops("rollback", "--candidate", "--json")
    assert nothing.exit_code == 2 and "no shadow or canary" in nothing.json["error"]

    # A plain rollback takes a live candidate with it.
    assert mlops("promote", "--shadow", "--version", v3, "--json").exit_code == 0
    back = mlops("rollback", "--json")
    assert back.exit_code == 0, back.stderr
    assert back.json["model_version"] == v1 and back.json["removed_candidate"]["version"] == v3
    assert champion(client, name) == v1 and _alias(client, name, "shadow") is None
    assert _values(remote, name) == {
        "model": {"name": name, "version": v1, "dataVersion": DATA_VERSION}
    }

    # The history lists every step, newest first, with the canary's weight.
    history = mlops("history", "--json", "--no-html")
    assert history.exit_code == 0, history.stderr
    steps = [
        (e["action"], e["model_version"], e["candidate_version"], e["weight"])
        for e in history.json["entries"]
    ]
    assert steps == [
        ("rollback", v1, v3, None),
        ("shadow", v3, v3, None),
        ("abort", v3, v3, 10.0),
        ("canary", v3, v3, 10.0),
        ("promote", v2, v2, 25.0),
        ("canary", v2, v2, 25.0),
        ("canary", v2, v2, 10.0),
        ("shadow", v2, v2, None),
        ("promote", v1, None, None),
    ]

    # A candidate staged with --version (not the challenger) is what a plain promote
    # completes.
    assert mlops("promote", "--shadow", "--version", v3, "--json").exit_code == 0
    completed = mlops("promote", "--json")
    assert completed.exit_code == 0, completed.stdout
    assert completed.json["model_version"] == v3 and champion(client, name) == v3
    assert completed.json["removed_candidate"]["version"] == v3
