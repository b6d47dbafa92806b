"""
### MLOps monitoring

One DAG per model folder, `mlops_monitoring.<model>`; it judges that model's traffic only
(`mlops monitor --model <model>`), triggers that model's training DAG and, when its policy
says so, rolls that model back.

`monitor -> assess -> trigger_retraining | no_retraining`
`monitor -> assess_rollback -> rollback | no_rollback`

- **monitor** runs `mlops monitor --json`: Evidently drift and performance reports of the
  served traffic against the champion's training data. Exit codes 6 (drift) and 7 (too few
  rows to judge) are outcomes, not failures: the task succeeds and its XCom carries the
  result (`status`, `drift_share`, `drifted_columns`, `rmse`, the report paths).
- **assess** branches on the policy's verdict: `drift` starts retraining, anything else ends
  the run at `no_retraining`.
- **trigger_retraining** starts `mlops_training_pipeline.<model>` with a `reason` naming the drift
  share and the drifted columns (and the `source` param, when given, as the data to ingest).
  Its run id derives from this run's, so a retry never starts a second training run.
- **assess_rollback** branches on the result's `rollback_advised`: the model's monitor.yaml
  says `performance.on_degradation: rollback`, the champion's metric is beyond the limit
  over its whole confidence interval on enough labelled rows, and the judged version is
  still the champion. Anything else ends at `no_rollback` (the log says why).
- **rollback** runs `mlops rollback --model <model> --reason "..." --json` (the stage
  command, with the runner of every stage task): the champion goes back to the previous
  one by a GitOps commit whose message and trailer record the reason (metric, interval,
  limit, labelled rows, the monitoring run and this DAG run). Never retried: a second
  attempt would step back once more. A refused rollback (no previous champion, a rejected
  push) fails the task.

Runs daily by default (the `schedule` below); trigger it by hand with a `last` window to
check the most recent predictions only.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, task
from mlops_models import dag_id, wanted
from mlops_tasks import contract, field, model_dag, stage_result, stage_task

DAG_ID = "mlops_monitoring"
TRAINING_DAG_ID = "mlops_training_pipeline"


class TriggerWithNote(TriggerDagRunOperator):
    """TriggerDagRunOperator whose run note is templated too (the reason)."""

    template_fields = (*TriggerDagRunOperator.template_fields, "note")


def build(model: str) -> DAG:
    """The monitoring DAG of one model folder; it triggers that model's training DAG."""
    with model_dag(
        DAG_ID,
        model,
        __doc__,
        description="drift and performance monitoring of the served model; retrains on drift",
        tags=["monitoring"],
        schedule="@daily",
        params={
            "last": Param(
                0,
                type="integer",
                minimum=0,
                title="Last N predictions",
                description="Judge only the last N predictions; 0: everything since the "
                "previous monitoring run.",
            ),
            "model_version": Param(
                "",
                type="string",
                title="Model version",
                description="The model version whose traffic to judge; empty: the champion.",
            ),
            "source": Param(
                "",
                type="string",
                title="Retraining data source",
                description="Passed to the training pipeline when drift starts it; "
                "empty: its default.",
            ),
        },
    ) as dag:
        monitor = stage_task(
            "monitor",
            "monitor",
            [
                "mlops",
                "monitor",
                f"--model={model}",
                "{{ '--last=' ~ params.last if params.last else '' }}",
                "{{ '--model-version=' ~ params.model_version if params.model_version else '' }}",
                "--json",
            ],
            accept=(0, 6, 7),
            doc_md="`mlops monitor --json`; exit codes 6 (drift) and 7 (too few rows) accepted.",
        )

        @task.branch(task_id="assess", retries=0)
        def assess(ti=None) -> str:
            """Retrain when the policy found drift; the reason goes to the training run."""
            result = stage_result(ti, "monitor", contract("monitor", "MonitorResult"))
            status = field(result, "status")
            if status == "drift":
                columns = ", ".join(field(result, "drifted_columns") or []) or "none listed"
                share = field(result, "drift_share")
                reason = (
                    f"drift found by {ti.dag_id} run {ti.run_id}: model version "
                    f"{field(result, 'model_version')}, drift share {share}, drifted columns: "
                    f"{columns}"
                )
                ti.xcom_push(key="reason", value=reason)
                print(reason)
                return "trigger_retraining"
            print(f"no retraining: status {status} ({field(result, 'rows')} rows)")
            return "no_retraining"

        trigger = TriggerWithNote(
            task_id="trigger_retraining",
            trigger_dag_id=dag_id(TRAINING_DAG_ID, model),
            trigger_run_id="retrain__{{ run_id }}",
            conf={
                "reason": "{{ ti.xcom_pull(task_ids='assess', key='reason') }}",
                "source": "{{ params.source }}",
            },
            note="{{ ti.xcom_pull(task_ids='assess', key='reason') }}",
            skip_when_already_exists=True,
            wait_for_completion=False,
        )

        no_retraining = EmptyOperator(task_id="no_retraining")

        monitor >> assess() >> [trigger, no_retraining]

        @task.branch(task_id="assess_rollback", retries=0)
        def assess_rollback(ti=None) -> str:
            """Roll back when the monitor result says the policy calls for it now."""
            result = stage_result(ti, "monitor", contract("monitor", "MonitorResult"))
            decision = field(result, "rollback")
            if field(result, "rollback_advised") and decision is not None:
                reason = f"{decision.reason}, Airflow {ti.dag_id} run {ti.run_id}"
                ti.xcom_push(key="reason", value=reason)
                print(f"rolling back: {reason}")
                return "rollback"
            why = decision.reason if decision is not None else "the policy only alerts"
            print(f"no rollback: {why}")
            return "no_rollback"

        rollback = stage_task(
            "rollback",
            "rollback",
            [
                "mlops",
                "rollback",
                f"--model={model}",
                "--reason={{ ti.xcom_pull(task_ids='assess_rollback', key='reason') }}",
                "--json",
            ],
            retries=0,
            doc_md="`mlops rollback --reason ... --json` to the previous champion; not "
            "retried (each run steps back once).",
        )
        no_rollback = EmptyOperator(task_id="no_rollback")

        monitor >> assess_rollback() >> [rollback, no_rollback]
    return dag


for _model in wanted(DAG_ID):
    build(_model)
