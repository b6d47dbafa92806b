"""
### MLOps training pipeline

One DAG per model folder, `mlops_training_pipeline.<model>` (see `mlops_models.py`); every
stage task passes `--model <model>`.

`ingest -> train -> live_candidate -> quality_gate -> promote | gate_refused | candidate_live
-> summary`

- **ingest** runs `mlops ingest --json` on the `source` param (a file, URL or `s3://` URI),
  or on `synthetic_rows` seeded synthetic rows when `source` is empty. Ingesting data the
  registry already holds makes no new version; the result names the data version.
- **train** runs `mlops train --data-version <from ingest> --json`. Exit code 3 (the quality
  gate refused the model) is an outcome, not a failure: the task succeeds and its XCom says
  `"gate": "failed"` with the reason.
- **live_candidate** runs `mlops models list --model <model> --json`: whether a shadow or
  canary candidate is live beside the champion.
- **quality_gate** branches: `promote` when the gate passed and no candidate is live,
  `candidate_live` when one is, `gate_refused` when the gate refused.
- **promote** runs `mlops promote --version <from train> --json`: alias `champion` and a
  GitOps commit pinning the version. Promoting the same version again changes nothing.
- **gate_refused** logs why; the run ends as a success with no promotion (`promote` shows
  as skipped).
- **candidate_live** logs that a candidate is live and the promotion is left to the model's
  rollout DAG (`mlops_rollout.<model>`, which completes or aborts it): `mlops promote` would
  refuse another version while one is live (exit 8). The new version stays `challenger`;
  the run ends as a success with no promotion.
- **summary** returns what happened: data version, model version, promoted or not, why.

Each stage task runs as a local subprocess or as a pod of the stage's image, chosen by
`MLOPS_TASK_RUNNER` (see `mlops_tasks.py`). The model's monitoring DAG triggers this one with
a `reason` when it finds drift.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, TriggerRule, task
from mlops_models import wanted
from mlops_tasks import (
    candidate_task,
    contract,
    field,
    live_candidate,
    model_dag,
    stage_result,
    stage_task,
)

DAG_ID = "mlops_training_pipeline"


def build(model: str) -> DAG:
    """The training pipeline of one model folder."""
    with model_dag(
        DAG_ID,
        model,
        __doc__,
        description="ingest a data version, train, gate and promote the model",
        tags=["training"],
        is_paused_upon_creation=False,
        params={
            "source": Param(
                "",
                type="string",
                title="Data source",
                description="A CSV/Parquet file, an http(s) URL or an s3:// URI. "
                "Empty: seeded synthetic rows.",
            ),
            "synthetic_rows": Param(
                5000,
                type="integer",
                minimum=100,
                maximum=10_000_000,
                title="Synthetic rows",
                description="Rows of synthetic data when no source is given.",
            ),
            "seed": Param(42, type="integer", minimum=0, title="Seed"),
            "reason": Param(
                "manual run",
                type="string",
                title="Reason",
                description="Why this run was started (the monitoring DAG passes its finding).",
            ),
        },
    ) as dag:
        ingest = stage_task(
            "ingest",
            "ingest",
            [
                "mlops",
                "ingest",
                f"--model={model}",
                "{{ '--source=' ~ params.source if params.source "
                "else '--synthetic=' ~ params.synthetic_rows }}",
                "--seed={{ params.seed }}",
                "--json",
            ],
            doc_md="`mlops ingest --json`: a data version in the registry (idempotent).",
        )

        train = stage_task(
            "train",
            "train",
            [
                "mlops",
                "train",
                f"--model={model}",
                "--data-version={{ ti.xcom_pull(task_ids='ingest')['data_version'] }}",
                "--json",
            ],
            accept=(0, 3),
            doc_md="`mlops train --json`; exit code 3 (gate refused) is an accepted outcome.",
        )

        candidate = candidate_task(model)

        @task.branch(task_id="quality_gate", retries=0)
        def quality_gate(ti=None) -> str:
            """Promote when the gate passed and no candidate is live; otherwise end visibly
            without promotion."""
            train_result = contract("train", "TrainResult")
            result = stage_result(ti, "train", train_result)
            passed = (
                isinstance(result, train_result)
                and result.exit_code == 0
                and result.gate == "passed"
            )
            print(
                f"model version {field(result, 'model_version')}: gate {field(result, 'gate')}"
                f" ({field(result, 'reason') or field(result, 'error') or 'no reason given'})"
            )
            if not passed:
                return "gate_refused"
            live = live_candidate(ti, model)
            if live is not None:
                ti.xcom_push(key="candidate", value=live)
                return "candidate_live"
            return "promote"

        promote = stage_task(
            "promote",
            "promote",
            [
                "mlops",
                "promote",
                f"--model={model}",
                "--version={{ ti.xcom_pull(task_ids='train')['model_version'] }}",
                "--json",
            ],
            doc_md="`mlops promote --version N --json`: alias champion + GitOps commit.",
        )

        @task(task_id="gate_refused", retries=0)
        def gate_refused(ti=None) -> dict:
            """The quality gate refused the model: nothing is promoted, the run still succeeds."""
            import logging

            result = stage_result(ti, "train", contract("train", "TrainResult"))
            reason = (
                field(result, "reason")
                or field(result, "error")
                or "the quality gate refused the model"
            )
            version = field(result, "model_version")
            logging.getLogger("mlops.task").warning(
                "NOT PROMOTED: model %s version %s: %s",
                field(result, "model_name"),
                version,
                reason,
            )
            return {"promoted": False, "model_version": version, "reason": reason}

        @task(task_id="candidate_live", retries=0)
        def candidate_live(ti=None) -> dict:
            """A candidate is live: this version stays challenger; the rollout DAG decides."""
            import logging

            live = ti.xcom_pull(task_ids="quality_gate", key="candidate")
            version = field(
                stage_result(ti, "train", contract("train", "TrainResult")), "model_version"
            )
            reason = (
                f"candidate live: {live['mode']} v{live['version']} of {model} is beside the "
                f"champion, so v{version} stays challenger; promotion left to the rollout DAG "
                f"mlops_rollout.{model} (it promotes or aborts the candidate)"
            )
            logging.getLogger("mlops.task").warning("NOT PROMOTED: %s", reason)
            return {
                "promoted": False,
                "model_version": version,
                "reason": reason,
                "candidate": live,
            }

        @task(task_id="summary", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, retries=0)
        def summary(params=None, ti=None) -> dict:
            """What this run did, in one XCom: data version, model version, promotion, reason."""
            ingested = stage_result(ti, "ingest", contract("ingest", "IngestResult"))
            trained = stage_result(ti, "train", contract("train", "TrainResult"))
            promoted = stage_result(ti, "promote", contract("deploy", "PromoteResult"))
            waiting = ti.xcom_pull(task_ids="candidate_live")
            result = {
                "model": model,
                "reason": params.get("reason"),
                "data_version": field(ingested, "data_version"),
                "new_data_version": field(ingested, "created"),
                "model_name": field(trained, "model_name"),
                "model_version": field(trained, "model_version"),
                "gate": field(trained, "gate"),
                "gate_reason": field(trained, "reason"),
                "metrics": field(trained, "metrics"),
                "promoted": bool(promoted is not None and promoted.ok and promoted.exit_code == 0),
                "left_to_rollout": waiting["reason"] if waiting else None,
            }
            print(f"training pipeline summary: {result}")
            return result

        branch = quality_gate()
        refused = gate_refused()
        waiting = candidate_live()
        ingest >> train >> candidate >> branch >> [promote, refused, waiting]
        [promote, refused, waiting] >> summary()
    return dag


for _model in wanted(DAG_ID):
    build(_model)
