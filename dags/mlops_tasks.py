"""Task factory shared by the DAG files: how one pipeline stage runs as an Airflow task.

One setting, the environment variable MLOPS_TASK_RUNNER, read when a DAG file is parsed,
chooses for every stage task:

- `local` (the default): the stage's `mlops ... --json` command as a subprocess of the Airflow
  worker (the embedded runtime, `mlops up --airflow`);
- `kubernetes`: a KubernetesPodOperator running the stage's image (gitops/images.yaml) with
  the same command, configuration from a ConfigMap, credentials from Secret references, the
  pipeline's service account, resources, logs collected and the `--json` result pushed as XCom.

In both, the command goes through `python -m mlops_core.taskrun`, which maps exit codes: the
codes a task accepts (the gate refused: 3, drift: 6, too little data: 7) end the task as a
success whose XCom carries the command's JSON result plus `exit_code`, so a branch task
decides what happens next; other codes fail the task (bad input, data quality: no retry).

The DAG files are identical for both runners. Nothing here reads an Airflow Variable or
Connection, and nothing heavy is imported at module level: the Kubernetes classes are
imported only when the kubernetes runner builds a pod task.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

RUNNER_VARIABLE = "MLOPS_TASK_RUNNER"
RUNNERS = ("local", "kubernetes")
XCOM_FILE = "/airflow/xcom/return.json"

# The image of each stage (CONTRACTS section 7; the list of record is gitops/images.yaml).
STAGE_IMAGES: dict[str, str] = {
    "ingest": "mlops-data-ingestion",
    "train": "mlops-model-training",
    "promote": "mlops-deployment-prep",
    "rollback": "mlops-deployment-prep",
    "monitor": "mlops-model-monitoring",
}

# Stage package of each image (the key gitops/images.yaml may use instead of the image name).
IMAGE_STAGES: dict[str, str] = {
    "mlops-data-ingestion": "data_ingestion",
    "mlops-model-training": "model_training",
    "mlops-deployment-prep": "deployment_prep",
    "mlops-model-monitoring": "model_monitoring",
}

# Retries with exponential backoff for every task (a stage command is safe to run again:
# ingesting the same data makes no new version, promoting a version twice changes nothing).
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mlops",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=2),
}


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


# Pod resources per stage (requests sized for the embedded demo's data, limits for 1M rows).
STAGE_RESOURCES: dict[str, Resources] = {
    "ingest": Resources("500m", "1Gi", "2", "3Gi"),
    "train": Resources("1", "2Gi", "2", "4Gi"),
    "promote": Resources("250m", "512Mi", "1", "2Gi"),
    "rollback": Resources("100m", "256Mi", "500m", "1Gi"),
    "monitor": Resources("500m", "2Gi", "2", "4Gi"),
}


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable of a stage pod read from a Kubernetes Secret."""

    env: str
    secret: str
    key: str
    stages: tuple[str, ...] = tuple(STAGE_IMAGES)
    optional: bool = False


@dataclass(frozen=True)
class Mount:
    """A volume of a stage pod: a PersistentVolumeClaim or a ConfigMap."""

    name: str
    path: str
    claim: str | None = None
    configmap: str | None = None
    stages: tuple[str, ...] = tuple(STAGE_IMAGES)
    read_only: bool = False


@dataclass(frozen=True)
class ClusterConfig:
    """Names of the cluster objects a stage pod uses (charts/pipeline-runtime creates them;
    docs/platform-engineering.md lists them)."""

    namespace: str = "mlops"
    service_account: str = "mlops-pipeline"
    configmap: str = "mlops-pipeline-config"
    # Credentials: Secret references only, each for the stages that need it.
    secret_env: tuple[SecretEnv, ...] = (
        SecretEnv("AWS_ACCESS_KEY_ID", "mlops-s3-credentials", "AWS_ACCESS_KEY_ID"),
        SecretEnv("AWS_SECRET_ACCESS_KEY", "mlops-s3-credentials", "AWS_SECRET_ACCESS_KEY"),
        SecretEnv("MLOPS_PREDICTION_LOG_URL", "mlops-prediction-log", "url", ("monitor",)),
        SecretEnv(
            "MLOPS_PROMOTE_GITHUB_TOKEN",
            "mlops-gitops-credentials",
            "token",
            ("promote", "rollback"),
            optional=True,
        ),
    )
    mounts: tuple[Mount, ...] = (
        # MLOPS_HOME of the stage pods (the ConfigMap sets MLOPS_HOME=/var/lib/mlops).
        Mount("state", "/var/lib/mlops", claim="mlops-state"),
        Mount(
            "stage-configs", "/etc/mlops/config", configmap="mlops-stage-configs", read_only=True
        ),
        Mount("workspace", "/workspace", claim="mlops-evidently-workspace", stages=("monitor",)),
    )
    stage_env: tuple[tuple[str, str, tuple[str, ...]], ...] = (
        ("MLOPS_MONITOR_WORKSPACE", "/workspace", ("monitor",)),
    )
    image_registry: str = ""
    image_tag: str = "0.1.0"
    pull_policy: str = "IfNotPresent"
    # stage package -> image name, as gitops/images.yaml lists them
    image_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, images_file: Path | None = None) -> ClusterConfig:
        """Names from MLOPS_K8S_* variables of the Airflow deployment, the image registry
        and tag from gitops/images.yaml (MLOPS_IMAGE_REGISTRY / MLOPS_IMAGE_TAG override)."""
        images = read_images_file(images_file or images_yaml_path())
        env = os.environ
        return cls(
            namespace=env.get("MLOPS_K8S_NAMESPACE", cls.namespace),
            service_account=env.get("MLOPS_K8S_SERVICE_ACCOUNT", cls.service_account),
            configmap=env.get("MLOPS_K8S_CONFIGMAP", cls.configmap),
            image_registry=env.get("MLOPS_IMAGE_REGISTRY", images.get("registry", "")),
            image_tag=env.get("MLOPS_IMAGE_TAG", str(images.get("tag", cls.image_tag))),
            pull_policy=str(images.get("pullPolicy", cls.pull_policy)),
            image_names={
                str(k): str(v)
                for k, v in (images.get("images") or {}).items()
                if isinstance(v, str)
            }
            if isinstance(images.get("images"), dict)
            else {},
        )

    def image(self, stage: str) -> str:
        default = STAGE_IMAGES[stage]
        name = self.image_names.get(IMAGE_STAGES[default], default)
        prefix = f"{self.image_registry.rstrip('/')}/" if self.image_registry else ""
        return f"{prefix}{name}:{self.image_tag}"


def images_yaml_path() -> Path:
    """gitops/images.yaml of the repository this dags/ folder belongs to (git-sync checks out
    the whole repository; MLOPS_IMAGES_FILE names another file)."""
    override = os.environ.get("MLOPS_IMAGES_FILE")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "gitops" / "images.yaml"


def read_images_file(path: Path) -> dict:
    """The images list as a dict ({} when the file is absent: the defaults above apply)."""
    if not path.is_file():
        return {}
    import yaml  # PyYAML ships with Airflow; imported only when the file exists

    data = yaml.safe_load(path.read_text()) or {}
    return data if isinstance(data, dict) else {}


def image_names(images: dict) -> set[str]:
    """The image names an images.yaml declares, whatever shape its `images` entry has
    (a mapping stage -> name or -> {name: ...}, or a list of names or of {name: ...})."""
    entries = images.get("images", {})
    values = entries.values() if isinstance(entries, dict) else entries
    names = set()
    for item in values or []:
        if isinstance(item, str):
            names.add(item)
        elif isinstance(item, dict) and item.get("name"):
            names.add(str(item["name"]))
    return names


def pod_images() -> dict[str, str]:
    """{stage task: image reference} of the pods the DAGs start (for consistency checks
    against the charts and `make up`'s build list)."""
    cluster = ClusterConfig.from_environment()
    return {stage: cluster.image(stage) for stage in STAGE_IMAGES}


def runner() -> str:
    value = os.environ.get(RUNNER_VARIABLE, "local").strip().lower() or "local"
    if value not in RUNNERS:
        raise ValueError(f"{RUNNER_VARIABLE}={value!r}: expected one of {', '.join(RUNNERS)}")
    return value


def taskrun_prefix(accept: Iterable[int], xcom_file: str | None = None) -> list[str]:
    """The wrapper in front of the stage command (see mlops_core.taskrun)."""
    prefix = ["python", "-m", "mlops_core.taskrun"]
    if xcom_file:
        prefix += ["--xcom-file", xcom_file]
    return [*prefix, "--accept", ",".join(str(c) for c in sorted(set(accept))), "--"]


def stage_task(
    task_id: str,
    stage: str,
    command: Sequence[str],
    *,
    accept: Iterable[int] = (0,),
    doc_md: str | None = None,
    **kwargs: Any,
):
    """An operator running `command` (an `mlops ... --json` argv whose items may be Jinja
    templates; items rendering to "" are dropped) for `stage` with the configured runner."""
    if stage not in STAGE_IMAGES:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGE_IMAGES)}")
    if list(command[:1]) != ["mlops"] or "--json" not in command:
        raise ValueError(f"a stage command is `mlops ... --json`, got {list(command)}")
    accept = tuple(accept)
    if runner() == "kubernetes":
        return _pod_task(task_id, stage, list(command), accept, doc_md=doc_md, **kwargs)
    return _local_task(task_id, stage, list(command), accept, doc_md=doc_md, **kwargs)


def contract(module: str, name: str) -> type:
    """A result model of mlops_core.contracts (e.g. contract("train", "TrainResult")).

    The embedded runtime has mlops_core installed; an Airflow image without the platform's
    packages reads it from the repository git-sync checked out (the contracts need only
    pydantic, which Airflow ships).
    """
    import importlib
    import sys

    try:
        importlib.import_module("mlops_core.contracts")
    except ImportError:
        src = Path(__file__).resolve().parent.parent / "mlops_core" / "src"
        if str(src) not in sys.path:
            sys.path.append(str(src))
        # From the repository's root, `mlops_core` resolved to its folder (a namespace).
        sys.modules.pop("mlops_core", None)
    return getattr(importlib.import_module(f"mlops_core.contracts.{module}"), name)


def stage_result(ti: Any, task_id: str, model: type) -> Any:
    """The XCom of stage task task_id parsed as its contract model; None when the task
    pushed none (it was skipped). An outcome the task accepted with an error result (the
    gate refused: exit code 3) comes back as ErrorResult, its fields kept."""
    from mlops_core.contracts import parse_payload

    payload = ti.xcom_pull(task_ids=task_id)
    return parse_payload(payload, model) if payload else None


def field(result: Any, name: str) -> Any:
    """A field of a result, of an ErrorResult's extra fields, or None."""
    return getattr(result, name, None) if result is not None else None


def run_stage_locally(argv: list[str], accept: list[int]) -> dict:
    """Callable of a local stage task: run the command, return its JSON result as XCom."""
    import logging

    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from mlops_core import taskrun

    log = logging.getLogger("mlops.task")
    try:
        outcome = taskrun.run(argv, accept=accept, sink=lambda _stream, line: log.info(line))
    except taskrun.TaskFailed as exc:
        if exc.retryable:
            raise AirflowException(str(exc)) from exc
        raise AirflowFailException(str(exc)) from exc
    if outcome.exit_code:
        log.warning("exit code %s accepted as an outcome", outcome.exit_code)
    return outcome.payload()


def _local_task(task_id, stage, command, accept, **kwargs):
    from airflow.providers.standard.operators.python import PythonOperator

    return PythonOperator(
        task_id=task_id,
        python_callable=run_stage_locally,
        op_kwargs={"argv": command, "accept": list(accept)},
        **kwargs,
    )


def _pod_task(task_id, stage, command, accept, **kwargs):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    cluster = ClusterConfig.from_environment()
    res = STAGE_RESOURCES[stage]
    container_security = k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        run_as_non_root=True,
    )
    env = [
        k8s.V1EnvVar(name="MLOPS_LOG_FORMAT", value="json"),
        *(k8s.V1EnvVar(name=n, value=v) for n, v, stages in cluster.stage_env if stage in stages),
        *(
            k8s.V1EnvVar(
                name=s.env,
                value_from=k8s.V1EnvVarSource(
                    secret_key_ref=k8s.V1SecretKeySelector(
                        name=s.secret, key=s.key, optional=s.optional or None
                    )
                ),
            )
            for s in cluster.secret_env
            if stage in s.stages
        ),
    ]
    mounts = [m for m in cluster.mounts if stage in m.stages]
    volumes = [
        k8s.V1Volume(
            name=m.name,
            persistent_volume_claim=(
                k8s.V1PersistentVolumeClaimVolumeSource(claim_name=m.claim) if m.claim else None
            ),
            config_map=k8s.V1ConfigMapVolumeSource(name=m.configmap) if m.configmap else None,
        )
        for m in mounts
    ]
    return KubernetesPodOperator(
        task_id=task_id,
        name=f"mlops-{task_id.replace('_', '-')}",
        namespace=cluster.namespace,
        image=cluster.image(stage),
        image_pull_policy=cluster.pull_policy,
        cmds=taskrun_prefix(accept, XCOM_FILE),
        arguments=command,
        env_from=[
            k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=cluster.configmap))
        ],
        env_vars=env,
        volumes=volumes,
        volume_mounts=[
            k8s.V1VolumeMount(name=m.name, mount_path=m.path, read_only=m.read_only or None)
            for m in mounts
        ],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": res.cpu_request, "memory": res.memory_request},
            limits={"cpu": res.cpu_limit, "memory": res.memory_limit},
        ),
        service_account_name=cluster.service_account,
        automount_service_account_token=False,
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=10001,
            run_as_group=10001,
            fs_group=10001,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        container_security_context=container_security,
        xcom_sidecar_container_security_context=container_security,
        labels={
            "app.kubernetes.io/part-of": "mlops-platform",
            "app.kubernetes.io/component": stage,
        },
        get_logs=True,
        log_events_on_failure=True,
        do_xcom_push=True,
        on_finish_action="delete_succeeded_pod",
        startup_timeout_seconds=600,
        **kwargs,
    )
