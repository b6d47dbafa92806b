"""The shape of each DAG: task ids, dependencies, branches, retries, tags, schedules, params,
and the stage commands their templates render to, identical with both task runners."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import DAG_IDS, MODELS, dag_id, load_dagbag

STAGE_TASKS = {
    "mlops_training_pipeline": {"ingest", "train", "live_candidate", "promote"},
    "mlops_monitoring": {"monitor", "rollback"},
    "mlops_rollback": {"rollback"},
    "mlops_rollout": {"live_candidate", "compare", "promote", "abort"},
}


def kind(dag_id: str) -> str:
    return dag_id.split(".", 1)[0]


def edges(dag) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


def test_training_pipeline_shape(local_dagbag):
    dag = local_dagbag.dags[dag_id("mlops_training_pipeline")]
    assert set(dag.task_ids) == {
        "ingest",
        "train",
        "live_candidate",
        "quality_gate",
        "promote",
        "gate_refused",
        "candidate_live",
        "summary",
    }
    assert edges(dag) == {
        ("ingest", "train"),
        ("train", "live_candidate"),
        ("live_candidate", "quality_gate"),
        ("quality_gate", "promote"),
        ("quality_gate", "gate_refused"),
        ("quality_gate", "candidate_live"),
        ("promote", "summary"),
        ("gate_refused", "summary"),
        ("candidate_live", "summary"),
    }
    assert dag.schedule is None
    assert dag.get_task("summary").trigger_rule == "none_failed_min_one_success"
    assert type(dag.get_task("quality_gate")).__name__.startswith("_BranchPython")
    params = dag.params.dump()
    assert params == {"source": "", "synthetic_rows": 5000, "seed": 42, "reason": "manual run"}


def test_monitoring_shape(local_dagbag):
    dag = local_dagbag.dags[dag_id("mlops_monitoring")]
    assert set(dag.task_ids) == {
        "monitor",
        "assess",
        "trigger_retraining",
        "no_retraining",
        "assess_rollback",
        "rollback",
        "no_rollback",
    }
    assert edges(dag) == {
        ("monitor", "assess"),
        ("assess", "trigger_retraining"),
        ("assess", "no_retraining"),
        # the rollback branch, beside retraining (a degraded champion may get both)
        ("monitor", "assess_rollback"),
        ("assess_rollback", "rollback"),
        ("assess_rollback", "no_rollback"),
    }
    rollback = dag.get_task("rollback")
    assert rollback.retries == 0  # each run steps back once: never retried
    assert rollback.op_kwargs["accept"] == [0]  # a refused rollback fails the task
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    trigger = dag.get_task("trigger_retraining")
    assert trigger.trigger_dag_id == "mlops_training_pipeline.house-price"  # its own model's
    assert trigger.trigger_dag_id in local_dagbag.dag_ids
    assert "{{ run_id }}" in trigger.trigger_run_id  # a retry never starts a second run
    assert trigger.skip_when_already_exists is True
    assert "reason" in trigger.conf and "xcom_pull" in trigger.conf["reason"]
    assert "note" in trigger.template_fields and "xcom_pull" in trigger.note
    # the training pipeline accepts what the trigger passes
    training_params = local_dagbag.dags[dag_id("mlops_training_pipeline")].params.dump()
    assert set(trigger.conf) <= set(training_params)
    assert dag.params.dump() == {"last": 0, "model_version": "", "source": ""}


def test_rollback_shape(local_dagbag):
    dag = local_dagbag.dags[dag_id("mlops_rollback")]
    assert dag.task_ids == ["rollback"]
    assert dag.schedule is None
    assert dag.get_task("rollback").retries == 0  # see the DAG's doc: not idempotent
    assert dag.params.dump() == {"to_version": ""}


def test_rollout_shape(local_dagbag):
    dag = local_dagbag.dags[dag_id("mlops_rollout")]
    assert edges(dag) == {
        ("live_candidate", "assess_candidate"),
        ("assess_candidate", "compare"),
        ("assess_candidate", "no_candidate"),
        ("compare", "decide"),
        ("decide", "promote"),
        ("decide", "abort"),
        ("decide", "wait"),
        ("promote", "outcome"),
        ("abort", "outcome"),
        ("wait", "outcome"),
        ("no_candidate", "outcome"),
    }
    assert dag.schedule == "@hourly"
    assert dag.get_task("outcome").trigger_rule == "none_failed_min_one_success"
    for branch in ("assess_candidate", "decide"):
        assert type(dag.get_task(branch)).__name__.startswith("_BranchPython")
    # fail (3) and insufficient data (7) are verdicts; a refused live gate fails promote
    assert dag.get_task("compare").op_kwargs["accept"] == [0, 3, 7]
    assert dag.get_task("promote").op_kwargs["accept"] == [0]
    assert dag.get_task("abort").op_kwargs["accept"] == [0]
    assert dag.params.dump() == {}


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_every_dag_is_documented_tagged_and_bounded(local_dagbag, dag_id):
    dag = local_dagbag.dags[dag_id]
    model = dag_id.split(".", 1)[1]
    assert "mlops" in dag.tags and f"model:{model}" in dag.tags and len(dag.tags) >= 3
    assert dag.doc_md and dag.doc_md.strip().startswith("### ")
    assert f"`{model}`" in dag.doc_md.splitlines()[0] and dag.description.startswith(model)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date is not None and dag.start_date.tzinfo is not None
    assert dag.owner == "mlops"


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_stage_tasks_retry_with_exponential_backoff(local_dagbag, dag_id):
    dag = local_dagbag.dags[dag_id]
    for task_id in STAGE_TASKS[kind(dag_id)]:
        task = dag.get_task(task_id)
        assert task.execution_timeout == timedelta(hours=2)
        if task_id == "rollback":
            continue
        assert task.retries == 2, task_id
        assert task.retry_exponential_backoff, task_id
        assert task.retry_delay == timedelta(seconds=30)
        assert task.max_retry_delay == timedelta(minutes=10)


def test_both_runners_build_the_same_dags(monkeypatch, dag_models_dir):
    local = load_dagbag("local", monkeypatch, dag_models_dir)
    k8s = load_dagbag("kubernetes", monkeypatch, dag_models_dir)
    for each in DAG_IDS:
        a, b = local.dags[each], k8s.dags[each]
        assert edges(a) == edges(b)
        for task_id in STAGE_TASKS[kind(each)]:
            assert type(a.get_task(task_id)).__name__ == "PythonOperator"
            pod_task = b.get_task(task_id)
            assert type(pod_task).__name__ == "KubernetesPodOperator"
            # the same mlops command: the local task's argv is the pod's arguments
            assert a.get_task(task_id).op_kwargs["argv"] == pod_task.arguments
            assert a.get_task(task_id).op_kwargs["accept"] == [
                int(c) for c in pod_task.cmds[pod_task.cmds.index("--accept") + 1].split(",")
            ]


class FakeTI:
    """Just enough of a task instance for rendering templates that pull XComs."""

    def __init__(self, xcoms: dict[str, dict]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str, key: str = "return_value"):
        return self.xcoms.get(task_ids)


def render(task, params: dict, xcoms: dict | None = None) -> list[str]:
    context = {"params": params, "ti": FakeTI(xcoms or {}), "run_id": "manual__1"}
    argv = task.render_template(task.op_kwargs["argv"], context)
    return [a for a in argv if a]  # mlops_core.taskrun drops empty arguments


def test_commands_render_to_the_cli_contract(local_dagbag):
    training = local_dagbag.dags[dag_id("mlops_training_pipeline")]
    defaults = training.params.dump()
    ingest = training.get_task("ingest")
    assert render(ingest, defaults) == [
        "mlops",
        "ingest",
        "--model=house-price",
        "--synthetic=5000",
        "--seed=42",
        "--json",
    ]
    assert render(ingest, {**defaults, "source": "s3://bucket/houses.csv"})[3] == (
        "--source=s3://bucket/houses.csv"
    )
    train = training.get_task("train")
    assert training.get_task("train").op_kwargs["accept"] == [0, 3]
    assert render(train, defaults, {"ingest": {"data_version": "data-v7"}}) == [
        "mlops",
        "train",
        "--model=house-price",
        "--data-version=data-v7",
        "--json",
    ]
    promote = training.get_task("promote")
    assert render(promote, defaults, {"train": {"model_version": "4"}}) == [
        "mlops",
        "promote",
        "--model=house-price",
        "--version=4",
        "--json",
    ]

    monitoring = local_dagbag.dags[dag_id("mlops_monitoring")]
    monitor = monitoring.get_task("monitor")
    assert monitor.op_kwargs["accept"] == [0, 6, 7]
    assert render(monitor, monitoring.params.dump()) == [
        "mlops",
        "monitor",
        "--model=house-price",
        "--json",
    ]
    assert render(monitor, {"last": 500, "model_version": "3", "source": ""}) == [
        "mlops",
        "monitor",
        "--model=house-price",
        "--last=500",
        "--model-version=3",
        "--json",
    ]

    auto = monitoring.get_task("rollback")
    reason = "rmse 9e+04 (95% CI [8e+04, 1e+05]) beyond limit 5e+04 on 300 labelled rows"
    assert render(auto, monitoring.params.dump(), {"assess_rollback": reason}) == [
        "mlops",
        "rollback",
        "--model=house-price",
        f"--reason={reason}",  # one argument: no shell between the task and the command
        "--json",
    ]

    rollout = local_dagbag.dags[dag_id("mlops_rollout")]
    for dag in (training, rollout):
        assert render(dag.get_task("live_candidate"), {}) == [
            "mlops",
            "models",
            "list",
            "--model=house-price",
            "--json",
        ]
    assert render(rollout.get_task("compare"), {}) == [
        "mlops",
        "monitor",
        "compare",
        "--model=house-price",
        "--json",
    ]
    why = "live comparison pass (run abc): pass: rmse better; Airflow mlops_rollout run r1"
    decided = {"assess_candidate": {"version": "5", "mode": "canary"}, "decide": why}
    assert render(rollout.get_task("promote"), {}, decided) == [
        "mlops",
        "promote",
        "--model=house-price",
        "--version=5",
        "--require-live",
        f"--reason={why}",
        "--json",
    ]
    assert render(rollout.get_task("abort"), {}, decided) == [
        "mlops",
        "rollback",
        "--model=house-price",
        "--candidate",
        f"--reason={why}",
        "--json",
    ]

    rollback = local_dagbag.dags[dag_id("mlops_rollback")].get_task("rollback")
    assert render(rollback, {"to_version": ""}) == [
        "mlops",
        "rollback",
        "--model=house-price",
        "--json",
    ]
    assert render(rollback, {"to_version": "2"}) == [
        "mlops",
        "rollback",
        "--model=house-price",
        "--to=2",
        "--json",
    ]


@pytest.mark.parametrize("model", MODELS)
def test_every_stage_task_passes_its_own_model(local_dagbag, model):
    """Each model's DAGs run their stage commands with `--model <that model>`, and its
    monitoring DAG starts its own training DAG, never another model's."""
    for kind_ in STAGE_TASKS:
        dag = local_dagbag.dags[dag_id(kind_, model)]
        for task_id in STAGE_TASKS[kind_]:
            argv = dag.get_task(task_id).op_kwargs["argv"]
            assert argv[0] == "mlops" and f"--model={model}" in argv[2:4], argv
            assert sum(a.startswith("--model=") for a in argv) == 1
    trigger = local_dagbag.dags[dag_id("mlops_monitoring", model)].get_task("trigger_retraining")
    assert trigger.trigger_dag_id == dag_id("mlops_training_pipeline", model)


def test_a_task_run_builds_only_its_own_dag(monkeypatch, dag_models_dir):
    """While a task runs, Airflow re-parses the file for that one DAG: only that model's
    DAG is built (the parsing context), not every model's."""
    from airflow.sdk.definitions.context import _AIRFLOW_PARSING_CONTEXT_DAG_ID

    monkeypatch.setenv(_AIRFLOW_PARSING_CONTEXT_DAG_ID, "mlops_monitoring.churn")
    bag = load_dagbag("local", monkeypatch, dag_models_dir)
    assert bag.import_errors == {}
    assert bag.dag_ids == ["mlops_monitoring.churn"]


def test_branches_read_the_stage_results_through_their_contracts(local_dagbag):
    """The gate's refusal (exit code 3, an error result) ends at gate_refused; monitoring's
    verdict is read from the MonitorResult; a result off its contract fails the task."""
    gate = (
        local_dagbag.dags[dag_id("mlops_training_pipeline")]
        .get_task("quality_gate")
        .python_callable
    )
    refused = {"ok": False, "exit_code": 3, "error": "rmse above the gate", "gate": "failed"}
    assert gate(ti=FakeTI({"train": refused})) == "gate_refused"
    with pytest.raises(ValueError, match="model_version"):
        gate(ti=FakeTI({"train": {"ok": True, "exit_code": 0, "gate": "passed"}}))

    assess = local_dagbag.dags[dag_id("mlops_monitoring")].get_task("assess").python_callable
    with pytest.raises(ValueError, match="status"):
        assess(ti=FakeTI({"monitor": {"ok": True, "exit_code": 0, "drift": True}}))


class BranchTI(FakeTI):
    dag_id, run_id = "mlops_monitoring.house-price", "scheduled__1"

    def __init__(self, xcoms: dict[str, dict]) -> None:
        super().__init__(xcoms)
        self.pushed: dict[str, str] = {}

    def xcom_push(self, key: str, value: str) -> None:
        self.pushed[key] = value


def test_the_rollback_branch_follows_the_monitor_results_decision(local_dagbag):
    """rollback_advised (policy, bound, champion: decided by `mlops monitor`) starts the
    rollback with the decision's reason and this DAG run; anything else ends at no_rollback."""
    dag = local_dagbag.dags[dag_id("mlops_monitoring")]
    branch = dag.get_task("assess_rollback").python_callable
    result = {"ok": True, "exit_code": 6, "status": "drift", "model_name": "house-price",
              "policy": "monitor.yaml", "degraded": True}  # fmt: skip
    reason = "rmse 9e+04 (95% CI [8e+04, 1e+05]) beyond limit 5e+04 on 300 labelled rows"
    advised = {**result, "rollback_advised": True,
               "rollback": {"advised": True, "reason": reason, "from_version": "2"}}  # fmt: skip
    ti = BranchTI({"monitor": advised})
    assert branch(ti=ti) == "rollback"
    assert ti.pushed["reason"] == f"{reason}, Airflow {ti.dag_id} run {ti.run_id}"
    not_due = {**result, "rollback": {"advised": False, "reason": "no rollback: noise"}}
    for monitored in (result, not_due, {**result, "status": "insufficient_data"}):
        ti = BranchTI({"monitor": monitored})
        assert branch(ti=ti) == "no_rollback" and ti.pushed == {}


def test_the_contracts_load_from_the_checkout_without_an_installed_mlops_core(tmp_path):
    """An Airflow image holds Airflow only; git-sync checks out the repository, and the
    DAGs' branch tasks read the contracts from its mlops_core/src."""
    import subprocess
    import sys
    from pathlib import Path

    dags = Path(__file__).resolve().parents[2] / "dags"
    script = (
        "import sys; "
        "sys.path = [p for p in sys.path if not p.endswith('mlops_core/src')]; "
        "import importlib.util; assert importlib.util.find_spec('mlops_core') is None; "
        f"sys.path.insert(0, {str(dags)!r}); import mlops_tasks; "
        "print(mlops_tasks.contract('train', 'TrainResult').command)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "`mlops train`"


class KeyedTI:
    """A task instance whose XComs are keyed by (task id, key), recording what it pushes."""

    dag_id, run_id = "mlops_rollout.house-price", "scheduled__1"

    def __init__(self, xcoms: dict[str, object]) -> None:
        self.xcoms = {k if isinstance(k, tuple) else (k, "return_value"): v
                      for k, v in xcoms.items()}  # fmt: skip
        self.pushed: dict[str, object] = {}

    def xcom_pull(self, task_ids: str, key: str = "return_value"):
        return self.xcoms.get((task_ids, key))

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def listed(candidate: dict | None = None, file_names_it: bool = True) -> dict:
    """`mlops models list --model house-price --json` with or without a live candidate."""
    block = dict(candidate) if candidate and file_names_it else None
    pin = {"version": "3", "data_version": "data-v1", "candidate": block,
           "file": "gitops/envs/kind/models/house-price.yaml"}  # fmt: skip
    error = None
    if block and not candidate.get("registered", True):
        error = "GitOps: kind name a candidate the registry has no shadow/canary alias for"
    summary = {"name": "house-price", "task": "regression", "folder": "models/house-price",
               "registered": True, "champion": "3", "pins": {"kind": pin}, "error": error,
               "candidate": None, "candidate_envs": []}  # fmt: skip
    if candidate and candidate.get("registered", True):
        summary["candidate"] = {k: v for k, v in candidate.items() if k != "registered"}
        summary["candidate_envs"] = ["kind"] if block else []
    if block:
        block.pop("registered", None)
    return {"ok": True, "exit_code": 0, "models_dir": "models", "tracking_uri": "http://x",
            "models": [summary]}  # fmt: skip


def compared(verdict: str, version: str = "5", code: int = 0) -> dict:
    side = {"role": "champion", "rows": 400}
    return {"ok": True, "exit_code": code, "model_name": "house-price", "task": "regression",
            "mode": "shadow", "verdict": verdict, "message": f"{verdict}: rmse -20% [-25%, -15%]",
            "policy": "monitor.yaml", "window": {"until": "2026-12-02T12:00:00+00:00"},
            "champion": {**side, "version": "3"},
            "candidate": {**side, "version": version, "role": "shadow"},
            "mlflow_run_id": "run42"}  # fmt: skip


def test_the_rollout_branches_follow_the_live_candidate_and_the_verdict(local_dagbag):
    """No candidate ends at no_candidate; a live one is compared; pass promotes, fail
    aborts, insufficient data waits, each with a reason naming the verdict and this run."""
    dag = local_dagbag.dags[dag_id("mlops_rollout")]
    assess = dag.get_task("assess_candidate").python_callable
    decide = dag.get_task("decide").python_callable

    ti = KeyedTI({"live_candidate": listed()})
    assert assess(ti=ti) == "no_candidate" and ti.pushed == {}
    live = {"version": "5", "mode": "shadow", "weight": None, "data_version": "data-v1"}
    ti = KeyedTI({"live_candidate": listed(live)})
    assert assess(ti=ti) == "compare"
    assert ti.pushed["candidate"] == {"version": "5", "mode": "shadow", "weight": None,
                                      "envs": ["kind"]}  # fmt: skip
    # A file naming a candidate the registry does not know: an error saying so, no guess.
    with pytest.raises(ValueError, match="no shadow/canary alias"):
        assess(ti=KeyedTI({"live_candidate": listed({**live, "registered": False})}))

    for verdict, code, branch in (("pass", 0, "promote"), ("fail", 3, "abort"),
                                  ("insufficient_data", 7, "wait")):  # fmt: skip
        ti = KeyedTI({"compare": compared(verdict, code=code),
                      ("assess_candidate", "candidate"): {"version": "5"}})  # fmt: skip
        assert decide(ti=ti) == branch
        assert ti.pushed["reason"] == (
            f"live comparison {verdict} (run run42): {verdict}: rmse -20% [-25%, -15%]; "
            "Airflow mlops_rollout.house-price run scheduled__1"
        )
    # The candidate changed between the look-up and the comparison: decide nothing.
    ti = KeyedTI({"compare": compared("fail", version="6", code=3),
                  ("assess_candidate", "candidate"): {"version": "5"}})  # fmt: skip
    with pytest.raises(ValueError, match="the candidate changed"):
        decide(ti=ti)


def trained_payload(gate: str = "passed") -> dict:
    return {"ok": True, "exit_code": 0, "model_name": "house-price", "model_version": "7",
            "model_uri": "models:/house-price/7", "run_id": "r", "experiment_id": "1",
            "data_version": "data-v1", "data_hash": None, "gate": gate, "reason": "ok",
            "champion_version": "3", "champion_metrics": None, "alias": "challenger",
            "candidate": "ridge", "estimator": "Ridge", "params": {}, "metrics": {},
            "candidates": [], "tracking_uri": "http://x", "seconds": 1.0}  # fmt: skip


def test_a_training_run_leaves_a_live_candidate_to_the_rollout_dag(local_dagbag):
    """A passed gate with a shadow/canary live: no `mlops promote` (it would refuse with exit
    8 and be retried into a red run); the run ends at candidate_live saying why."""
    dag = local_dagbag.dags[dag_id("mlops_training_pipeline")]
    gate = dag.get_task("quality_gate").python_callable
    live = {"version": "5", "mode": "canary", "weight": 10.0, "data_version": "data-v1"}

    assert gate(ti=KeyedTI({"train": trained_payload(), "live_candidate": listed()})) == "promote"
    ti = KeyedTI({"train": trained_payload(), "live_candidate": listed(live)})
    assert gate(ti=ti) == "candidate_live"
    assert ti.pushed["candidate"]["version"] == "5"
    refused = KeyedTI({"train": trained_payload("failed"), "live_candidate": listed(live)})
    assert gate(ti=refused) == "gate_refused"  # the gate first: a refused model never waits

    waiting = dag.get_task("candidate_live").python_callable
    done = waiting(ti=KeyedTI({"train": trained_payload(),
                               ("quality_gate", "candidate"): ti.pushed["candidate"]}))  # fmt: skip
    assert done["promoted"] is False and done["model_version"] == "7"
    assert done["reason"] == (
        "candidate live: canary v5 of house-price is beside the champion, so v7 stays "
        "challenger; promotion left to the rollout DAG mlops_rollout.house-price (it promotes "
        "or aborts the candidate)"
    )
