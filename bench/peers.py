"""The serving peers bench/serve.py measures beside the service, each in its own virtual
environment (bench/.peers/<name>, made with uv on first use), serving the same fitted
pipeline (exported with joblib from the registered MLflow model, loaded with the same
scikit-learn, numpy, scipy, pandas and joblib versions as the workspace):

- kserve:   KServe's Python ModelServer with the sklearn runtime's model class, one worker,
            answering the Open Inference Protocol (V2) with a pandas table input;
- mlserver: MLServer with mlserver-sklearn, adaptive batching on, V2 with a pandas table;
- bentoml:  a BentoML service (one worker) taking a list of records;
- ceiling:  a bare ASGI app under the workspace's own uvicorn answering a constant body the
            size of the service's single-record answer (no framework, no model, no log).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVERS = HERE / "peer_servers"
VENVS = HERE / ".peers"

# What each peer's own docs install; the numeric stack is pinned to the workspace's so the
# joblib pipeline loads and predicts the same numbers.
PACKAGES = {
    "kserve": ["kserve==0.21.0"],
    # MLServer 1.7 workers call asyncio.get_event_loop() outside a loop, which uvloop 0.22+
    # refuses.
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22"],
    "bentoml": ["bentoml==1.4.40"],
}
SHARED = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")
PEERS = ("kserve", "mlserver", "bentoml")

# MLServer does not batch unless told to; these are the sizes its adaptive-batching guide
# describes (a batch of up to 32 requests, waiting at most 5 ms for it to fill).
MLSERVER_BATCH = {"max_batch_size": 32, "max_batch_time": 0.005}

# What each peer logs per request, for the report (the service writes one prediction-log
# row per predicted row to SQLite).
LOGS = {
    "kserve": "an access-log line and a latency log line per request (its defaults)",
    "mlserver": "an access-log line per request (its default); no prediction payloads",
    "bentoml": "an access-log line per request (its default); no prediction payloads",
    "mlflow": "nothing per request (gunicorn/uvicorn access log off by default)",
    "ceiling": "nothing",
}


def uv() -> str:
    found = shutil.which("uv") or str(HERE.parent / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        raise SystemExit("uv is needed to make the peers' environments: `make install` first")
    return found


def ensure_venv(name: str, log) -> Path:
    """bench/.peers/<name>, made (once) with the peer's packages and the shared pins."""
    venv = VENVS / name
    pins = [f"{p}=={md.version(p)}" for p in SHARED]
    stamp = venv / ".bench-packages"
    wanted = "\n".join(PACKAGES[name] + pins)
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    log(f"making {venv} ({', '.join(PACKAGES[name])}) ...")
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([uv(), "venv", "-q", "--clear", "-p", py, str(venv)], check=True)
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            *PACKAGES[name],
            *pins,
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return venv


def v2_table(records: list[dict]) -> dict:
    """An Open Inference Protocol request with one tensor per column and the pandas content
    type, the shape KServe's and MLServer's docs show for tabular models."""
    inputs = []
    for col in records[0]:
        values = [r[col] for r in records]
        if all(isinstance(v, bool) for v in values):
            dtype, params = "BOOL", None
        elif all(isinstance(v, int) for v in values):
            dtype, params = "INT64", None
        elif all(isinstance(v, (int, float)) for v in values):
            dtype, params = "FP64", None
        else:
            dtype, params = "BYTES", {"content_type": "str"}
        tensor = {"name": col, "shape": [len(values)], "datatype": dtype, "data": values}
        if params:
            tensor["parameters"] = params
        inputs.append(tensor)
    return {"inputs": inputs, "parameters": {"content_type": "pd"}}


@dataclass
class Peer:
    """One running peer: where to send a single record and a batch, and the bodies."""

    name: str
    single_url: str
    batch_url: str
    one: bytes
    many: bytes
    argv: list[str]
    env: dict
    ready_url: str
    cwd: Path | None = None
    first: list = field(default_factory=list)

    @staticmethod
    def answer(name: str, body: dict):
        """The first prediction in a peer's answer."""
        if name in ("kserve", "mlserver"):
            return body["outputs"][0]["data"][0]
        return body[0]


def setup(
    name: str,
    model_name: str,
    model_file: Path,
    record: dict,
    batch: list[dict],
    port: int,
    work: Path,
    env: dict,
    free_port,
    ceiling_body: bytes | None = None,
) -> Peer:
    """The command line, environment and request bodies of one peer serving one model."""
    if name == "ceiling":
        body_file = work / "ceiling-body.json"
        body_file.write_bytes(ceiling_body or b"{}")
        url = f"http://127.0.0.1:{port}/"
        one = json.dumps(record).encode()
        return Peer(
            name,
            url,
            url,
            one,
            json.dumps({"records": batch}).encode(),
            [sys.executable, str(SERVERS / "ceiling.py"), str(port), str(body_file)],
            env,
            url,
        )
    python = str(VENVS / name / "bin" / "python")
    peer_env = {k: v for k, v in env.items() if not k.startswith(("MLFLOW_", "MLOPS_"))}
    base = f"http://127.0.0.1:{port}"
    if name == "kserve":
        url = f"{base}/v2/models/{model_name}/infer"
        return Peer(
            name,
            url,
            url,
            json.dumps(v2_table([record])).encode(),
            json.dumps(v2_table(batch)).encode(),
            [
                python,
                str(SERVERS / "kserve_sklearn.py"),
                "--model_name",
                model_name,
                "--model_path",
                str(model_file),
                "--http_port",
                str(port),
                "--workers",
                "1",
            ],
            peer_env,
            f"{base}/v2/health/ready",
        )
    if name == "mlserver":
        folder = work / f"mlserver-{model_name}"
        (folder / model_name).mkdir(parents=True, exist_ok=True)
        (folder / "settings.json").write_text(
            json.dumps(
                {
                    "http_port": port,
                    "grpc_port": free_port(),
                    "metrics_port": free_port(),
                    "host": "127.0.0.1",
                }
            )
        )
        (folder / model_name / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": model_name,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": str(model_file)},
                    **MLSERVER_BATCH,
                }
            )
        )
        url = f"{base}/v2/models/{model_name}/infer"
        return Peer(
            name,
            url,
            url,
            json.dumps(v2_table([record])).encode(),
            json.dumps(v2_table(batch)).encode(),
            [str(VENVS / name / "bin" / "mlserver"), "start", str(folder)],
            peer_env,
            f"{base}/v2/models/{model_name}/ready",
        )
    if name == "bentoml":
        url = f"{base}/predict"
        return Peer(
            name,
            url,
            url,
            json.dumps({"records": [record]}).encode(),
            json.dumps({"records": batch}).encode(),
            [
                str(VENVS / name / "bin" / "bentoml"),
                "serve",
                "bento_service:Predictor",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            {
                **peer_env,
                "MODEL_PATH": str(model_file),
                "BENTOML_DO_NOT_TRACK": "True",
                "BENTOML_HOME": str(work / "bentoml-home"),
            },
            f"{base}/readyz",
            cwd=SERVERS,
        )
    raise ValueError(f"unknown peer {name!r}: one of {', '.join(PEERS)}, ceiling")


def export_pipeline(model_uri: str, tracking_uri: str, path: Path) -> Path:
    """The registered model's fitted pipeline as one joblib file the peers load."""
    import joblib
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(mlflow.sklearn.load_model(model_uri), path)
    return path


def clean_env(env: dict) -> dict:
    return {**env, "PATH": os.environ.get("PATH", "")}
