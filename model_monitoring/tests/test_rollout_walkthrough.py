"""The safe-rollout walkthrough of docs/deployment_prep.md, end to end on the embedded
runtime: a champion served by `mlops up` (following the registry's aliases), a challenger
put in shadow, `mlops pipeline traffic` with feedback labels, `mlops monitor compare`, a
10% canary whose share is checked, `mlops promote --require-live`, then `mlops rollback`;
each step one commit in the home's GitOps repository, and no request failed by any switch
(a client sends requests all along)."""

from __future__ import annotations

import math
import subprocess
import time
import uuid
import zlib

import httpx
import pytest
import sqlalchemy as sa
from registered import register, unique

from mlops_core import predlog
from mlops_core.synthetic import generate
from mlops_core.traffic import BackgroundTraffic


def _git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def _served(url: str, name: str) -> tuple[str, dict | None]:
    body = httpx.get(f"{url}/v1/models/{name}", timeout=10).json()
    return body["model_version"], body["candidate"]


def _until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def _logged(url: str, name: str, role: str) -> tuple[int, int]:
    """(rows of `role`, labelled champion rows) of model `name` in the prediction log."""
    p, f = predlog.predictions, predlog.feedback
    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            mine = (p.c.model_name == name) & (p.c.role == role)
            rows = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
            labels = conn.execute(
                sa.select(sa.func.count())
                .select_from(f.join(p, f.c.request_id == p.c.request_id))
                .where(p.c.model_name == name)
            ).scalar_one()
    except sa.exc.OperationalError:  # no table yet
        return 0, 0
    finally:
        engine.dispose()
    return rows, labels


@pytest.mark.slow
def test_shadow_compare_canary_promote_and_rollback_as_commits_while_serving(
    tracking_uri, mlops_home, tmp_path, monkeypatch, mlops, make_model_folder
):
    from mlops_core.settings import get_settings

    name = unique("walk")
    folder = make_model_folder(tmp_path / "own-models", name)
    for variable, value in {
        "MLOPS_MODELS_DIR": str(folder.parent),
        "MLOPS_MODEL": name,
        "MLOPS_SERVE_POLL_INTERVAL": "1",  # the embedded service follows the aliases
        # Deployable checks sized for two busy cores (as the deployment tests do).
        "MLOPS_PROMOTE_LATENCY_SAMPLES": "30",
        "MLOPS_PROMOTE_LATENCY_BUDGET_MS": "5000",
        "MLOPS_PROMOTE_CHECK_ROWS": "200",
    }.items():
        monkeypatch.setenv(variable, value)
    settings = get_settings()
    v1 = register(settings, folder, tracking_uri, seed=1, alias=None, signed=True).version
    # The challenger (alias challenger, as `mlops train` leaves it): the same kind of model on
    # twice the rows (no worse than the champion).
    v2 = register(
        settings, folder, tracking_uri, rows=2400, seed=2, alias="challenger", signed=True
    )
    v2 = v2.version
    promoted = mlops("promote", "--version", v1, "--json")
    assert promoted.exit_code == 0, promoted.stdout + promoted.stderr
    gitops = mlops_home / "gitops"
    before = _git(gitops, "rev-parse", "HEAD")

    up = mlops("up", "--json")
    assert up.exit_code == 0, up.stdout + up.stderr
    [service] = [s for s in up.json["services"] if s["service"] == "prediction-service"]
    url = service["url"]
    frame = generate(folder_schema := settings.model_folder(name).schema, 200, seed=5)
    records = frame[folder_schema.feature_names].to_dict("records")
    try:
        with BackgroundTraffic(url, records, model=name, pause=0.01) as load:
            # 1. The challenger in shadow: a commit, then served beside the champion.
            shadow = mlops("promote", "--shadow", "--json")
            assert shadow.exit_code == 0, shadow.stdout + shadow.stderr
            _until(lambda: _served(url, name)[1] is not None, "the shadow was not loaded")
            champion, cand = _served(url, name)
            assert (champion, cand["model_version"], cand["mode"], cand["weight"]) == (
                v1, v2, "shadow", None
            )  # fmt: skip

            # 2. Traffic with a label for every answer, until the log holds it all.
            sent = mlops(
                "pipeline", "traffic", "--model", name, "--rows", "400",
                "--feedback-share", "1", "--json",
            )  # fmt: skip
            assert sent.exit_code == 0, sent.stdout + sent.stderr
            assert sent.json["failed_requests"] == 0 and sent.json["feedback"] == 400
            assert sent.json["model_versions"] == [v1]  # a shadow never answers
            _until(
                lambda: (
                    _logged(settings.prediction_log, name, "shadow")[0] >= 400
                    and _logged(settings.prediction_log, name, "champion")[1] >= 400
                ),
                "the shadow rows and labels did not reach the log",
            )

            # 3. The live comparison: a verdict on the candidate version.
            compared = mlops("monitor", "compare", "--model", name, "--json")
            assert compared.exit_code == 0, compared.stdout + compared.stderr
            out = compared.json
            assert (out["mode"], out["verdict"]) == ("shadow", "pass"), out["reasons"]
            assert out["candidate"]["version"] == v2 and out["champion"]["version"] == v1
            assert out["candidate"]["labelled_rows"] >= 400

            # 4. A 10% canary, and its share: one key one model, crc32 picks.
            canary = mlops("promote", "--canary", "10", "--json")
            assert canary.exit_code == 0, canary.stdout + canary.stderr
            _until(
                lambda: (_served(url, name)[1] or {}).get("mode") == "canary",
                "the canary was not loaded",
            )
            assert _served(url, name)[1]["weight"] == 10.0
            keys = [f"user-{uuid.uuid4().hex[:8]}" for _ in range(400)]
            with httpx.Client(base_url=url, timeout=30) as client:
                answered = [
                    client.post(
                        f"/v1/models/{name}/predict",
                        json=records[i % len(records)],
                        headers={"X-Routing-Key": key},
                    ).json()["model_version"]
                    for i, key in enumerate(keys)
                ]
            assert answered == [v2 if zlib.crc32(k.encode()) % 10_000 < 1000 else v1 for k in keys]
            share = answered.count(v2)
            assert abs(share - 40) <= 4 * math.sqrt(400 * 0.1 * 0.9), share

            # 5. Promoted on the live verdict: the champion moves, the canary goes.
            done = mlops("promote", "--require-live", "--json")
            assert done.exit_code == 0, done.stdout + done.stderr
            assert done.json["model_version"] == v2
            _until(lambda: _served(url, name) == (v2, None), "the promotion was not served")

            # 6. And rolled back, under the same load.
            back = mlops("rollback", "--reason", "walkthrough", "--json")
            assert back.exit_code == 0, back.stdout + back.stderr
            _until(lambda: _served(url, name) == (v1, None), "the rollback was not served")
            time.sleep(0.5)
        assert load.sent > 100 and load.failed == 0, load.errors[:5]
        assert set(load.versions) == {v1, v2}, load.versions
    finally:
        mlops("down", "--json")

    actions = _git(
        gitops, "log", "--format=%(trailers:key=Action,valueonly)", f"{before}..HEAD"
    ).split()
    assert actions == ["rollback", "promote", "canary", "shadow"]
    assert _git(gitops, "status", "--porcelain") == ""
