"""Task factory shared by the DAG files: how one pipeline stage runs as an Airflow task.

One setting, the environment variable MLOPS_TASK_RUNNER, read when a DAG file is parsed,
chooses for every stage task:

- `local` (the default): the stage's `mlops ... --json` command as a subprocess of the Airflow
  worker (the embedded runtime, `mlops up --airflow`);
- `kubernetes`: a KubernetesPodOperator running the stage's image (gitops/images.yaml) with
  the same command, configuration from a ConfigMap, credentials from Secret references, the
  pipeline's service account, resources, logs collected and the `--json` result pushed as XCom;
- `docker`: a DockerOperator running the same image with the same command on one Docker host
  (no Kubernetes): the settings the ConfigMap holds from an env file (MLOPS_DOCKER_ENV_FILE),
  each stage's credentials, the ones its pod gets from Secrets, from a second file
  (MLOPS_DOCKER_SECRETS_FILE), the state and workspace volumes as Docker volumes, the
  model folders mounted read-only, and the `--json` result file copied out of the container
  as XCom (see DockerHost).

In all three, the command goes through `python -m mlops_core.taskrun`, which maps exit codes: the
codes a task accepts (the gate refused: 3, drift: 6, too little data: 7) end the task as a
success whose XCom carries the command's JSON result plus `exit_code`, so a branch task
decides what happens next; other codes fail the task (bad input, data quality: no retry).

The DAG files are identical for every runner. Nothing here reads an Airflow Variable or
Connection, and nothing heavy is imported at module level: the Kubernetes and Docker classes
are imported only when their runner builds a task.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

RUNNER_VARIABLE = "MLOPS_TASK_RUNNER"
RUNNERS = ("local", "kubernetes", "docker")
XCOM_FILE = "/airflow/xcom/return.json"
# The docker runner's result file: /tmp is writable by the image's user (uid 10001).
DOCKER_XCOM_FILE = "/tmp/mlops-xcom/return.json"
# Where a stage container finds the model folders (MLOPS_MODELS_DIR): read-only.
MODELS_MOUNT = "/opt/mlops/models"
# Exit codes that fail a task without a retry: retrying cannot change the answer (the same
# set as mlops_core.taskrun.NOT_RETRYABLE, which an Airflow image may not have installed).
NOT_RETRYABLE = frozenset({2, 3, 4, 6, 7})

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


def model_dag(
    kind: str,
    model: str,
    doc: str,
    *,
    description: str,
    tags: list[str],
    params: dict[str, Any],
    schedule: str | None = None,
    **options: Any,
):
    """The `<kind>.<model>` DAG of one model folder, with the settings every platform DAG
    shares (no catch-up, one run at a time, DEFAULT_ARGS, the model in its doc and tags)."""
    from datetime import UTC, datetime

    from airflow.sdk import DAG
    from mlops_models import dag_id, model_doc

    return DAG(
        dag_id=dag_id(kind, model),
        description=f"{model}: {description}",
        doc_md=model_doc(doc, model),
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["mlops", *tags, f"model:{model}"],
        params=params,
        **options,
    )


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
    # The git-sync image of the model folders' init container (images.yaml: upstream.gitSync)
    git_sync_image: str | None = None

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
            git_sync_image=(images.get("upstream") or {}).get("gitSync") or None,
        )

    def image(self, stage: str) -> str:
        default = STAGE_IMAGES[stage]
        name = self.image_names.get(IMAGE_STAGES[default], default)
        prefix = f"{self.image_registry.rstrip('/')}/" if self.image_registry else ""
        return f"{prefix}{name}:{self.image_tag}"


# Where the stage container of a pod reads the model folders: the git-sync init container
# checks the repository out into an emptyDir (`--root`), under the link name `checkout`.
GIT_SYNC_ROOT = "/opt/mlops/git"
GIT_SYNC_LINK = "checkout"
_WORKTREE = re.compile(r"/\.worktrees/([0-9a-f]{40})(?:/|$)")


@dataclass(frozen=True)
class ModelsSource:
    """The repository and revision a stage pod reads the model folders (models/<name>/)
    from: the revision of the DAG files that run, so a pod never trains or checks a model
    folder other than the one its DAG was parsed with.

    MLOPS_MODELS_REPO: the repository's git URL (the URL Airflow's git-sync reads; in the
    cluster, the airflow application sets it); unset, the DAG checkout's `origin` remote;
    set empty, or neither: None (the stage image's own default model folders are used).
    MLOPS_MODELS_REVISION: a commit or ref; without it, the commit of the DAG checkout
    (git-sync's `.worktrees/<commit>` folder, or `git rev-parse HEAD`)."""

    repo: str
    revision: str

    @classmethod
    def from_environment(cls, checkout: Path | None = None) -> ModelsSource | None:
        root = checkout or Path(__file__).resolve().parent.parent
        repo = os.environ.get("MLOPS_MODELS_REPO")
        if repo is None:
            repo = _git_output(root, "remote", "get-url", "origin")
        if not repo:
            return None
        revision = os.environ.get("MLOPS_MODELS_REVISION") or checkout_revision(root)
        if not revision:
            raise ValueError(
                f"MLOPS_MODELS_REPO={repo}: the revision of the DAG files is unknown ({root} "
                "is not a git checkout); set MLOPS_MODELS_REVISION to a commit"
            )
        return cls(repo=repo, revision=revision)


def checkout_revision(folder: Path) -> str | None:
    """The commit a DAG folder was checked out at: git-sync's worktree folder names it."""
    found = _WORKTREE.search(str(folder.resolve()) + "/")
    return found.group(1) if found else _git_output(folder, "rev-parse", "HEAD")


def _git_output(folder: Path, *args: str) -> str | None:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


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


@dataclass(frozen=True)
class DockerHost:
    """How the docker runner wires a stage container on one Docker host: the same contract
    as the stage pods (ClusterConfig), with a Docker host's means.

    | pod (kubernetes runner)                    | container (docker runner)                    |
    | ------------------------------------------ | -------------------------------------------- |
    | image from gitops/images.yaml              | the same image reference                     |
    | envFrom ConfigMap mlops-pipeline-config    | MLOPS_DOCKER_ENV_FILE (KEY=VALUE lines)      |
    | env from Secrets, per stage (secret_env)   | the same names, per stage, from              |
    |                                            | MLOPS_DOCKER_SECRETS_FILE (hidden in the UI) |
    | PVC mlops-state at /var/lib/mlops          | volume MLOPS_DOCKER_STATE_VOLUME (a name, or |
    |                                            | an absolute host path), default mlops-state  |
    | PVC mlops-evidently-workspace (monitor)    | volume MLOPS_DOCKER_WORKSPACE_VOLUME         |
    | model folders (git-sync, read-only)        | MLOPS_DOCKER_MODELS_DIR (default: models/ of |
    |                                            | this repository) bind-mounted read-only      |
    | ConfigMap mlops-stage-configs              | MLOPS_DOCKER_CONFIG_DIR, when set (read-only)|
    | uid 10001, resources                       | user 10001:10001, the same memory and CPU    |
    | XCom sidecar reads /airflow/xcom           | the result file copied out of the container  |

    MLOPS_DOCKER_NETWORK names the Docker network (`host` for services on the host's
    loopback); DOCKER_HOST the engine (default: the local socket). Files and folders are
    paths on the Docker host, which is where the worker runs (a remote engine needs the
    same paths there). The two files are read when a task runs, never when a DAG parses.
    """

    env_file: str | None = None
    secrets_file: str | None = None
    network: str | None = None
    state_volume: str = "mlops-state"
    workspace_volume: str = "mlops-evidently-workspace"
    models_dir: str | None = None
    config_dir: str | None = None
    docker_url: str | None = None

    @classmethod
    def from_environment(cls) -> DockerHost:
        env = os.environ
        models = env.get("MLOPS_DOCKER_MODELS_DIR")
        if models is None:
            default = Path(__file__).resolve().parent.parent / "models"
            models = str(default) if default.is_dir() else None
        return cls(
            env_file=env.get("MLOPS_DOCKER_ENV_FILE") or None,
            secrets_file=env.get("MLOPS_DOCKER_SECRETS_FILE") or None,
            network=env.get("MLOPS_DOCKER_NETWORK") or None,
            state_volume=env.get("MLOPS_DOCKER_STATE_VOLUME") or cls.state_volume,
            workspace_volume=env.get("MLOPS_DOCKER_WORKSPACE_VOLUME") or cls.workspace_volume,
            models_dir=models or None,
            config_dir=env.get("MLOPS_DOCKER_CONFIG_DIR") or None,
            docker_url=env.get("DOCKER_HOST") or None,
        )

    def mounts(self, stage: str, cluster: ClusterConfig) -> list[dict]:
        """Docker mounts (docker.types.Mount's fields) of the stage's container: its pod's
        volumes, each by its Docker counterpart, and the model folders."""
        out = []
        for m in cluster.mounts:
            if stage not in m.stages:
                continue
            if m.configmap:
                if self.config_dir:
                    out.append(_bind(self.config_dir, m.path, "MLOPS_DOCKER_CONFIG_DIR"))
                continue
            source = self.state_volume if m.name == "state" else self.workspace_volume
            if source.startswith("/"):
                out.append(_bind(source, m.path, f"the {m.name} volume", read_only=False))
            else:
                out.append({"target": m.path, "source": source, "type": "volume"})
        if self.models_dir:
            out.append(_bind(self.models_dir, MODELS_MOUNT, "MLOPS_DOCKER_MODELS_DIR"))
        return out

    def environment(self, stage: str, cluster: ClusterConfig) -> tuple[dict, dict]:
        """(settings, credentials) of the stage's container, read from the two files now.

        Settings: the env file, then what every pod sets itself (JSON logs, stage_env,
        MLOPS_MODELS_DIR). Credentials: only the names this stage's pod gets from Secrets;
        a credential in the settings file is refused (it would reach every stage)."""
        settings = read_env_file(self.env_file, "MLOPS_DOCKER_ENV_FILE") if self.env_file else {}
        credential_names = {s.env for s in cluster.secret_env}
        misplaced = sorted(credential_names & set(settings))
        if misplaced:
            raise ValueError(
                f"MLOPS_DOCKER_ENV_FILE={self.env_file} sets {', '.join(misplaced)}: "
                "credentials go in MLOPS_DOCKER_SECRETS_FILE (each stage gets only its own)"
            )
        settings["MLOPS_LOG_FORMAT"] = "json"
        settings.update({n: v for n, v, stages in cluster.stage_env if stage in stages})
        if self.models_dir:
            settings["MLOPS_MODELS_DIR"] = MODELS_MOUNT
        secrets = (
            read_env_file(self.secrets_file, "MLOPS_DOCKER_SECRETS_FILE")
            if self.secrets_file
            else {}
        )
        credentials = {}
        for ref in cluster.secret_env:
            if stage not in ref.stages:
                continue
            if ref.env in secrets:
                credentials[ref.env] = secrets[ref.env]
            elif not ref.optional:
                where = self.secrets_file or "(MLOPS_DOCKER_SECRETS_FILE is not set)"
                raise ValueError(
                    f"the {stage} stage needs {ref.env} (in a cluster: Secret "
                    f"{ref.secret}, key {ref.key}); it is not in {where}"
                )
        return settings, credentials


def _bind(source: str, target: str, what: str, read_only: bool = True) -> dict:
    if not source.startswith("/"):
        raise ValueError(f"{what}: {source!r} is not an absolute path on the Docker host")
    return {"target": target, "source": source, "type": "bind", "read_only": read_only}


def read_env_file(path: str, what: str) -> dict[str, str]:
    """KEY=VALUE lines (docker's --env-file format: `#` comments and blank lines skipped,
    the value taken as it is); a missing file or a malformed line is a clear error."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{what}={path}: no such file")
    values: dict[str, str] = {}
    for number, raw in enumerate(file.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"{what}={path}, line {number}: expected NAME=VALUE, got {raw!r}")
        values[name] = value
    return values


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
    chosen = runner()
    if chosen == "kubernetes":
        return _pod_task(task_id, stage, list(command), accept, doc_md=doc_md, **kwargs)
    if chosen == "docker":
        return _docker_task(task_id, stage, list(command), accept, doc_md=doc_md, **kwargs)
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


def candidate_task(model: str, task_id: str = "live_candidate", **kwargs: Any):
    """The stage task asking which shadow/canary candidate of `model` is live: `mlops models
    list --model <model> --json` (deployment_prep reads the registry's alias and the
    `candidate:` block of the model's GitOps files, the ones the deploy stage writes)."""
    return stage_task(
        task_id,
        "promote",
        ["mlops", "models", "list", f"--model={model}", "--json"],
        doc_md="`mlops models list --model <model> --json`: the live candidate, if any.",
        **kwargs,
    )


def live_candidate(ti: Any, model: str, task_id: str = "live_candidate") -> dict | None:
    """The live candidate of `model` from candidate_task's XCom: {version, mode, weight,
    envs}, or None when neither the registry nor a GitOps file names one. A file naming a
    candidate the registry has no alias for (written by hand) is an error naming the fix."""
    listed = stage_result(ti, task_id, contract("deploy", "ModelsListResult"))
    summary = next((m for m in field(listed, "models") or [] if m.name == model), None)
    if summary is None:
        raise ValueError(f"{task_id}: `mlops models list` returned no entry for model {model}")
    named = sorted(env for env, pin in summary.pins.items() if pin.candidate is not None)
    if summary.candidate is None:
        if named:
            raise ValueError(f"model {model}: {summary.error}")
        return None
    found = summary.candidate
    return {
        "version": found.version,
        "mode": found.mode,
        "weight": found.weight,
        "envs": summary.candidate_envs or named,
    }


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
    volume_mounts = [
        k8s.V1VolumeMount(name=m.name, mount_path=m.path, read_only=m.read_only or None)
        for m in mounts
    ]
    init_containers = []
    source = ModelsSource.from_environment()
    if source is not None:
        init, extra_volumes = _git_sync_init(source, cluster, k8s)
        init_containers.append(init)
        volumes += extra_volumes
        volume_mounts.append(
            k8s.V1VolumeMount(name="models", mount_path=GIT_SYNC_ROOT, read_only=True)
        )
        env.append(
            k8s.V1EnvVar(name="MLOPS_MODELS_DIR", value=f"{GIT_SYNC_ROOT}/{GIT_SYNC_LINK}/models")
        )
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
        volume_mounts=volume_mounts,
        init_containers=init_containers,
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


def _git_sync_init(source: ModelsSource, cluster: ClusterConfig, k8s: Any):
    """The init container that checks the repository out at the DAG's revision, once
    (`--one-time`), into the emptyDir the stage container mounts read-only."""
    if not cluster.git_sync_image:
        raise ValueError(
            "the model folders come from git (MLOPS_MODELS_REPO) but gitops/images.yaml "
            "names no upstream.gitSync image"
        )
    init = k8s.V1Container(
        name="git-sync",
        image=cluster.git_sync_image,
        image_pull_policy=cluster.pull_policy,
        args=[
            f"--repo={source.repo}",
            f"--ref={source.revision}",
            f"--root={GIT_SYNC_ROOT}",
            f"--link={GIT_SYNC_LINK}",
            "--depth=1",
            "--one-time",
        ],
        env=[k8s.V1EnvVar(name="HOME", value="/tmp")],
        volume_mounts=[
            k8s.V1VolumeMount(name="models", mount_path=GIT_SYNC_ROOT),
            k8s.V1VolumeMount(name="git-sync-tmp", mount_path="/tmp"),
        ],
        resources=k8s.V1ResourceRequirements(
            requests={"cpu": "50m", "memory": "64Mi"},
            limits={"cpu": "500m", "memory": "256Mi"},
        ),
        security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
            run_as_non_root=True,
            read_only_root_filesystem=True,
        ),
    )
    volumes = [
        k8s.V1Volume(name="models", empty_dir=k8s.V1EmptyDirVolumeSource()),
        k8s.V1Volume(name="git-sync-tmp", empty_dir=k8s.V1EmptyDirVolumeSource()),
    ]
    return init, volumes


_DOCKER_OPERATOR: type | None = None


def _memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return int(float(quantity[: -len(unit)]) * factor)
    return int(quantity)


def _cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def stage_docker_operator() -> type:
    """The DockerOperator of a stage task (made once, when the docker runner first needs it,
    so that parsing a DAG with another runner never imports the Docker provider)."""
    global _DOCKER_OPERATOR
    if _DOCKER_OPERATOR is not None:
        return _DOCKER_OPERATOR
    import json
    import re

    from airflow.providers.docker.exceptions import DockerContainerFailedException
    from airflow.providers.docker.operators.docker import DockerOperator
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    class StageDockerOperator(DockerOperator):
        """A stage command in its image: the environment read when the task runs (the env
        and secrets files), the `--json` result file copied out of the container as XCom,
        and an exit code that retrying cannot change failing the task without a retry."""

        # The result file is JSON (mlops_core.taskrun), which the provider would unpickle.
        pickling_library = json

        def __init__(self, *, stage: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.stage = stage

        def execute(self, context: Any) -> Any:
            host = DockerHost.from_environment()
            try:
                settings, credentials = host.environment(
                    self.stage, ClusterConfig.from_environment()
                )
            except ValueError as exc:
                raise AirflowFailException(str(exc)) from exc
            self.environment = {**settings, **(self.environment or {})}
            self._private_environment = {**credentials, **(self._private_environment or {})}
            try:
                result = super().execute(context)
            except DockerContainerFailedException as exc:
                found = re.search(r"'StatusCode': (\d+)", str(exc))
                code = int(found.group(1)) if found else None
                if code in NOT_RETRYABLE:
                    raise AirflowFailException(
                        f"the {self.stage} stage exited with code {code} (not retried)"
                    ) from exc
                raise
            finally:
                container = getattr(self, "container", None)
                if container:
                    self.cli.remove_container(container["Id"], force=True)
            if not isinstance(result, dict):
                raise AirflowException(
                    f"the {self.stage} container wrote no result to {DOCKER_XCOM_FILE}"
                )
            return result

    StageDockerOperator.__module__ = __name__
    StageDockerOperator.__qualname__ = "StageDockerOperator"
    _DOCKER_OPERATOR = StageDockerOperator
    return StageDockerOperator


def _docker_task(task_id, stage, command, accept, **kwargs):
    cluster = ClusterConfig.from_environment()
    host = DockerHost.from_environment()
    res = STAGE_RESOURCES[stage]
    return stage_docker_operator()(
        task_id=task_id,
        stage=stage,
        image=cluster.image(stage),
        # The pods' command: the image's entrypoint (mlops) is replaced by the wrapper.
        entrypoint=taskrun_prefix(accept, DOCKER_XCOM_FILE),
        command=command,
        user="10001:10001",
        mounts=host.mounts(stage, cluster),
        network_mode=host.network,
        docker_url=host.docker_url,
        mem_limit=_memory_bytes(res.memory_limit),
        # Docker's relative CPU weight (cpu_shares = cpus * 1024), not a hard limit.
        cpus=_cpus(res.cpu_limit),
        mount_tmp_dir=False,
        retrieve_output=True,
        retrieve_output_path=DOCKER_XCOM_FILE,
        auto_remove="never",  # removed by the operator once the result is copied out
        labels={
            "app.kubernetes.io/part-of": "mlops-platform",
            "app.kubernetes.io/component": stage,
        },
        do_xcom_push=True,
        **kwargs,
    )
