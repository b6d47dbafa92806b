"""
### MLOps rollback (manual)

`rollback`: runs `mlops rollback --json`, which moves the `champion` alias back and commits
the matching change to the GitOps tree (a new commit, never a history rewrite); Argo CD, or
the embedded prediction service, then serves that version.

- `to_version` set: roll back to that model version (`mlops rollback --to N`); running it
  again changes nothing.
- `to_version` empty: roll back to the previous champion; each run steps back once.

Because of the second case the task is the one stage task that is never retried
automatically (`retries=0`): read its result and trigger again if needed.

One DAG per model folder, `mlops_rollback.<model>`: it runs `mlops rollback --model <model>`
and moves that model's champion and GitOps file only. Trigger it from the UI ("Trigger DAG
w/ config") or `airflow dags trigger mlops_rollback.house-price --conf '{"to_version": "3"}'`.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param
from mlops_models import wanted
from mlops_tasks import model_dag, stage_task

DAG_ID = "mlops_rollback"


def build(model: str) -> DAG:
    """The rollback DAG of one model folder: it moves that model's champion only."""
    with model_dag(
        DAG_ID,
        model,
        __doc__,
        description="roll the served model back to an earlier version (manual)",
        tags=["deployment"],
        is_paused_upon_creation=False,
        params={
            "to_version": Param(
                "",
                type="string",
                pattern="^[0-9]*$",
                title="Model version",
                description="Roll back to this version; empty: the previous champion.",
            ),
        },
    ) as dag:
        stage_task(
            "rollback",
            "rollback",
            [
                "mlops",
                "rollback",
                f"--model={model}",
                "{{ '--to=' ~ params.to_version if params.to_version else '' }}",
                "--json",
            ],
            retries=0,
            doc_md="`mlops rollback [--to N] --json`; not retried (see the DAG's notes).",
        )
    return dag


for _model in wanted(DAG_ID):
    build(_model)
