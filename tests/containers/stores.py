"""The platform's stores on one machine, wired as the cluster wires them, for the stage
images: PostgreSQL as MLflow's backend store, an S3 endpoint (moto's server) with the
buckets the platform-stores chart's job creates, an MLflow server with proxied artifact
storage in that S3 bucket (the mlflow application's settings), and the data registry's git
server run from the pipeline-runtime chart's own StatefulSet with the stage image.

Everything listens on 127.0.0.1; the containers reach it with `--network host`. What the
cluster's DNS names would be (mlflow.mlflow.svc..., object-store.mlops-data.svc...) is given
to the pipeline-runtime chart as an environment's values (`endpoint_values`), so the
ConfigMap the stage containers read is the chart's own rendering."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .podrun import Cluster, docker_run_args

# The buckets the platform-stores chart's PostSync job creates (charts/platform-stores).
BUCKETS = ("mlflow", "dvc", "reports")
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGISTRY_REPO = "data-registry.git"
GITOPS_REPO = "gitops.git"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, what: str, alive=lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not alive():
            break
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} in {timeout:.0f} s")


def make_buckets(endpoint: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_aws_kwargs())
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in BUCKETS:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)


def _aws_kwargs() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@dataclass
class MlflowServer:
    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_mlflow(backend_url: str, s3_endpoint: str, folder: Path) -> MlflowServer:
    """`mlflow server` as the mlflow application runs it: PostgreSQL backend, proxied
    artifacts in s3://mlflow/artifacts on the S3 endpoint, one worker."""
    exe = Path(sys.executable).parent / "mlflow"
    port = free_port()
    log = folder / "mlflow.log"
    env = {
        **os.environ,
        **S3_CREDENTIALS,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ALLOWED_HOSTS": "*",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(exe),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                backend_url,
                "--artifacts-destination",
                "s3://mlflow/artifacts",
                "--workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MlflowServer(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"mlflow server did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)


@dataclass
class GitServer:
    """The data registry's git daemon (pipeline-runtime's StatefulSet) in the stage image."""

    port: int
    container: str
    repos: Path  # the host folder of its claim (the repositories it serves)
    docker: str

    def url(self, repo: str) -> str:
        return f"git://127.0.0.1:{self.port}/{repo}"

    def stop(self) -> None:
        subprocess.run([self.docker, "rm", "--force", self.container], capture_output=True)


def localise_port(container: dict, port: int) -> dict:
    """The container with the git port swapped for a free one (host network: no clash)."""
    args = [a.replace("--port=9418", f"--port={port}") for a in container["args"]]
    assert args != container["args"], "the git daemon's --port=9418 argument changed"
    return {**container, "args": args}


def start_data_registry(
    docker: str, statefulset: dict, cluster: Cluster, root: Path, seed_gitops: Path
) -> GitServer:
    """The chart's data registry: its init container, then its git daemon, on a free port;
    a second bare repository `gitops.git` in the same volume, seeded with the repository's
    gitops/ tree, for `mlops promote` to push to (in a cluster: the GitOps remote)."""
    spec = dict(statefulset["spec"]["template"]["spec"])
    # What the StatefulSet controller adds: one claim per volumeClaimTemplate.
    spec["volumes"] = [
        *spec.get("volumes", []),
        *(
            {"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}}
            for t in statefulset["spec"].get("volumeClaimTemplates", [])
            for claim in [f"{t['metadata']['name']}-data-registry-0"]
        ),
    ]
    port = free_port()
    spec["containers"] = [localise_port(c, port) for c in spec["containers"]]
    claims = root / "claims"
    for init in spec.get("initContainers", []):
        args = docker_run_args(spec, init["name"], cluster, root, network="host", claim_root=claims)
        proc = subprocess.run(
            [docker, "run", "--rm", *args], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"init container {init['name']}: {proc.stderr}"
    (daemon,) = spec["containers"]
    args = docker_run_args(spec, daemon["name"], cluster, root, network="host", claim_root=claims)
    proc = subprocess.run(
        [docker, "run", "--detach", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    repos = claims / "repos-data-registry-0"
    server = GitServer(port, proc.stdout.strip(), repos, docker)
    try:
        wait_for_port(port, 60, "the data registry's git daemon")
        _seed_gitops(repos / GITOPS_REPO, seed_gitops, root / "gitops-seed")
    except BaseException:
        logs = subprocess.run([docker, "logs", server.container], capture_output=True, text=True)
        server.stop()
        raise RuntimeError(f"data registry: {logs.stdout}{logs.stderr}") from None
    return server


def _git(*args: str, cwd: Path | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@localhost",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@localhost",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _seed_gitops(bare: Path, gitops: Path, work: Path) -> None:
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    _git("init", "--quiet", "--initial-branch=main", str(work))
    shutil.copytree(gitops, work / "gitops")
    _git("add", "-A", cwd=work)
    _git("commit", "--quiet", "-m", "seed", cwd=work)
    _git("push", "--quiet", str(bare), "main", cwd=work)
    # The daemon runs as uid 10001 (the pod's securityContext) and writes pushes there.
    subprocess.run(["chown", "-R", "10001:10001", str(bare)], check=True)


def git_log(bare: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), "-c", "safe.directory=*", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
