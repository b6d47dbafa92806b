"""
### MLOps training pipeline

One DAG per model folder, `mlops_training_pipeline.<model>` (see `mlops_models.py`); every
stage task passes `--model <model>`.

`ingest -> train -> quality_gate -> promote | gate_refused -> summary`

- **ingest** runs `mlops ingest --json` on the `source` param (a file, URL or `s3://` URI),
  or on `synthetic_rows` seeded synthetic rows when `source` is empty. Ingesting data the
  registry already holds makes no new version; the result names the data version.
- **train** runs `mlops train --data-version <from ingest> --json`. Exit code 3 (the quality
  gate refused the model) is an outcome, not a failure: the task succeeds and its XCom says
  `"gate": "failed"` with the reason.
- **quality_gate** branches: `promote` when the gate passed, `gate_refused` otherwise.
- **promote** runs `mlops promote --version <from train> --json`: alias `champion` and a
  GitOps commit pinning the version. Promoting the same version again changes nothing.
- **gate_refused** logs why; the run ends as a success with no promotion (`promote` shows
  as skipped).
- **summary** returns what happened: data version, model version, promoted or not, why.

Each stage task runs as a local subprocess or as a pod of the stage's image, chosen by
`MLOPS_TASK_RUNNER` (see `mlops_tasks.py`). The model's monitoring DAG triggers this one with
a `reason` when it finds drift.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, TriggerRule, task
from mlops_models import wanted
from mlops_tasks import contract, field, model_dag, stage_result, stage_task

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

        @task.branch(task_id="quality_gate", retries=0)
        def quality_gate(ti=None) -> str:
            """Promote when the gate passed; otherwise end visibly without promotion."""
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
            return "promote" if passed else "gate_refused"

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

        @task(task_id="summary", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, retries=0)
        def summary(params=None, ti=None) -> dict:
            """What this run did, in one XCom: data version, model version, promotion, reason."""
            ingested = stage_result(ti, "ingest", contract("ingest", "IngestResult"))
            trained = stage_result(ti, "train", contract("train", "TrainResult"))
            promoted = stage_result(ti, "promote", contract("deploy", "PromoteResult"))
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
            }
            print(f"training pipeline summary: {result}")
            return result

        branch = quality_gate()
        refused = gate_refused()
        ingest >> train >> branch >> [promote, refused]
        [promote, refused] >> summary()
    return dag


for _model in wanted(DAG_ID):
    build(_model)
