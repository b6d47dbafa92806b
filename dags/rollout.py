"""
### MLOps rollout

One DAG per model folder, `mlops_rollout.<model>`: while a shadow or canary candidate of
that model is live, it compares the candidate with the champion on live traffic and
completes or aborts the rollout, each by one GitOps commit.

`live_candidate -> assess_candidate -> compare -> decide -> promote | abort | wait`
`live_candidate -> assess_candidate -> no_candidate`, then `outcome`

- **live_candidate** runs `mlops models list --model <model> --json`: the candidate the
  registry (alias `shadow`/`canary`) and the model's GitOps files (`candidate:` block)
  name.
- **assess_candidate** ends the run at `no_candidate` when there is none (no commit, no
  comparison): most hourly runs stop here.
- **compare** runs `mlops monitor compare --model <model> --json`: the champion against the
  candidate over the whole time it has been live (agreement, prediction drift, latency,
  and the metric with its confidence interval on feedback labels), judged by the model's
  monitor.yaml `live:` block. Its verdict is also recorded as tags on the candidate version.
  Exit codes 3 (fail) and 7 (insufficient data) are outcomes, not failures.
- **decide** branches on the verdict: `pass` -> promote, `fail` -> abort,
  `insufficient_data` (too few rows or labels yet, or an interval across the limit) -> wait.
- **promote** runs `mlops promote --version <candidate> --require-live --reason ...`: the
  live gate checks the verdict just recorded, the candidate becomes the champion and its
  `candidate:` block goes, one commit.
- **abort** runs `mlops rollback --candidate --reason "<the verdict and why>"`: the
  candidate's alias and block go, the champion stays, one commit.
- **wait** commits nothing; the next scheduled run compares again with more traffic.
- **outcome** returns what this run did: `no_candidate`, `promoted`, `aborted` or `waiting`.

Runs hourly (the `schedule` below; paused when Airflow first sees it, like the monitoring
DAG); trigger it by hand to decide now. Every commit's reason names the comparison's MLflow
run and this DAG run. Running it again is safe: once the candidate is promoted or aborted,
the next run finds none.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TriggerRule, task
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

DAG_ID = "mlops_rollout"
SCHEDULE = "@hourly"
# The verdict of `mlops monitor compare` -> the branch that acts on it.
ACTIONS = {"pass": "promote", "fail": "abort", "insufficient_data": "wait"}
OUTCOMES = {"promote": "promoted", "abort": "aborted", "wait": "waiting"}


def verdict_reason(result, dag_id: str, run_id: str) -> str:
    """One line for the commit's Reason: trailer: the verdict, why, and where it came from."""
    return (
        f"live comparison {result.verdict} (run {result.mlflow_run_id or 'unrecorded'}): "
        f"{result.message}; Airflow {dag_id} run {run_id}"
    )


def build(model: str) -> DAG:
    """The rollout DAG of one model folder: it compares and decides that model's candidate."""
    with model_dag(
        DAG_ID,
        model,
        __doc__,
        description="compare the live shadow/canary candidate with the champion; promote "
        "or abort it",
        tags=["deployment"],
        schedule=SCHEDULE,
        params={},
    ) as dag:
        detect = candidate_task(model)

        @task.branch(task_id="assess_candidate", retries=0)
        def assess_candidate(ti=None) -> str:
            """Compare when a candidate is live; otherwise end the run without a commit."""
            found = live_candidate(ti, model)
            if found is None:
                print(f"no candidate: model {model} has no live shadow or canary")
                return "no_candidate"
            ti.xcom_push(key="candidate", value=found)
            print(f"live candidate of {model}: {found}")
            return "compare"

        compare = stage_task(
            "compare",
            "monitor",
            ["mlops", "monitor", "compare", f"--model={model}", "--json"],
            accept=(0, 3, 7),
            doc_md="`mlops monitor compare --json`; exit codes 3 (fail) and 7 (insufficient "
            "data) accepted.",
        )

        @task.branch(task_id="decide", retries=0)
        def decide(ti=None) -> str:
            """pass -> promote, fail -> abort, insufficient_data -> wait."""
            result = stage_result(ti, "compare", contract("monitor", "CompareResult"))
            verdict = field(result, "verdict")
            if verdict not in ACTIONS:
                raise ValueError(f"compare: no verdict in its result ({result!r})")
            cand = ti.xcom_pull(task_ids="assess_candidate", key="candidate")
            if str(result.candidate.version) != str(cand["version"]):
                raise ValueError(
                    f"compare judged version {result.candidate.version}, but the live "
                    f"candidate was version {cand['version']}: the candidate changed "
                    "during this run; the next run compares the new one"
                )
            reason = verdict_reason(result, ti.dag_id, ti.run_id)
            ti.xcom_push(key="reason", value=reason)
            print(reason)
            return ACTIONS[verdict]

        promote = stage_task(
            "promote",
            "promote",
            [
                "mlops",
                "promote",
                f"--model={model}",
                "--version={{ ti.xcom_pull(task_ids='assess_candidate', key='candidate')"
                "['version'] }}",
                "--require-live",
                "--reason={{ ti.xcom_pull(task_ids='decide', key='reason') }}",
                "--json",
            ],
            doc_md="`mlops promote --version <candidate> --require-live --json`: the "
            "candidate becomes the champion (one commit).",
        )
        abort = stage_task(
            "abort",
            "rollback",
            [
                "mlops",
                "rollback",
                f"--model={model}",
                "--candidate",
                "--reason={{ ti.xcom_pull(task_ids='decide', key='reason') }}",
                "--json",
            ],
            doc_md="`mlops rollback --candidate --reason ... --json`: the candidate goes, "
            "the champion stays (one commit).",
        )
        wait = EmptyOperator(task_id="wait", doc_md="Too little evidence yet: no commit.")
        no_candidate = EmptyOperator(task_id="no_candidate", doc_md="Nothing live: no commit.")

        @task(task_id="outcome", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, retries=0)
        def outcome(ti=None) -> dict:
            """What this run did, in one XCom."""
            cand = ti.xcom_pull(task_ids="assess_candidate", key="candidate")
            if cand is None:
                return {"model": model, "outcome": "no_candidate", "candidate": None}
            compared = stage_result(ti, "compare", contract("monitor", "CompareResult"))
            action = ACTIONS[compared.verdict]
            change = None
            if action != "wait":
                kind = "PromoteResult" if action == "promote" else "RollbackResult"
                change = stage_result(ti, action, contract("deploy", kind))
            result = {
                "model": model,
                "outcome": OUTCOMES[action],
                "candidate": cand,
                "verdict": compared.verdict,
                "message": compared.message,
                "compare_run": compared.mlflow_run_id,
                "report_html": compared.report_html,
                "commit": field(change, "commit"),
                "champion": field(change, "model_version"),
            }
            print(f"rollout outcome: {result}")
            return result

        decided = decide()
        detect >> assess_candidate() >> [compare, no_candidate]
        compare >> decided >> [promote, abort, wait]
        [promote, abort, wait, no_candidate] >> outcome()
    return dag


for _model in wanted(DAG_ID):
    build(_model)
