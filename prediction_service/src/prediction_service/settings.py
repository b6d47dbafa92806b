"""Settings of the prediction service (MLOPS_SERVE_*), read when `mlops serve` starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mlops_core.apikeys import ApiKeySettings


class ServeSettings(ApiKeySettings):
    """MLOPS_SERVE_*; the API key settings (api_keys, api_key_file, api_key_header) are
    mlops_core's, shared with the clients of the admin API."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_SERVE_")

    model: str | None = Field(
        default=None,
        description="Models to serve, comma-separated, each a model name (its champion, or "
        "the version its GitOps file pins), models:/<name>/<version>, models:/<name>@<alias>, "
        "a version number or alias of the default model, or a local MLflow model folder "
        "(NAME=FOLDER names its model). Default: MLOPS_MODEL, else every model folder with a "
        "champion.",
    )
    role: str = Field(
        default="champion",
        min_length=1,
        max_length=16,
        description="The role logged with every prediction (champion, canary, shadow, ...).",
    )
    candidate: str | None = Field(
        default=None,
        description="A candidate served beside the champion (models:/<name>/<version>, or a "
        "model folder): MLOPS_SERVE_CANDIDATE_MODE says how. Unset: a model served by its "
        "champion alias follows its `shadow`/`canary` aliases instead.",
    )
    candidate_mode: str | None = Field(
        default=None,
        description="shadow (predicts every request off the response path, never answers) "
        "or canary (answers MLOPS_SERVE_CANARY_WEIGHT percent of requests).",
    )
    canary_weight: float | None = Field(
        default=None,
        description="Percent of requests (0 < w < 100, by a stable hash of x-routing-key, "
        "else the request id) the canary answers.",
    )
    shadow_queue_max: int = Field(
        default=10_000,
        ge=1,
        description="Most shadow rows waiting for the shadow; beyond it rows are dropped "
        "(mlops_shadow_dropped_rows), never the champion slowed.",
    )
    gitops_env: str | None = Field(
        default=None,
        description="Environment whose GitOps files (gitops/envs/<env>/models/<name>.yaml) "
        "pin the version a model name serves; unset: its champion alias.",
    )
    gitops_root: Path | None = Field(
        default=None,
        description="Repository root holding gitops/; the parent of the models folder when unset.",
    )
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535, description="MLOPS_SERVE_PORT.")
    max_batch: int = Field(default=10_000, ge=1, description="Most records in one batch.")
    require_key: bool = Field(
        default=True,
        description="When keys are configured, every /v1 endpoint but health needs one; "
        "false: only admin endpoints do.",
    )
    poll_interval: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds between polls of the model alias for a new version (0: off).",
    )
    registry_timeout: float = Field(
        default=120.0,
        ge=0.0,
        description="How long start-up retries (with backoff) while the registry is unreachable.",
    )
    log_batch_size: int = Field(default=500, ge=1)
    log_flush_interval: float = Field(default=0.2, gt=0.0)
    log_queue_max: int = Field(default=200_000, ge=1)
    log_retry_interval: float = Field(default=2.0, gt=0.0)
    log_writer_process: bool = Field(
        default=True,
        description="Write the prediction log to the database from a process of its own "
        "(one more process of about 60 MB): the writes then take no turns with the requests "
        "for the interpreter lock. false: from a thread of the service.",
    )
    spool_dir: Path | None = Field(
        default=None,
        description="Spool folder of earlier versions (default $MLOPS_HOME/prediction-spool): "
        "spool files left there are moved into the journal at start.",
    )
    journal_dir: Path | None = Field(
        default=None,
        description="The prediction log journal (every answered row, on disk before the "
        "answer; also the spool while the database is down). Default: prediction-journal "
        "beside the spool folder.",
    )
    journal_fsync: bool = Field(
        default=False,
        description="fdatasync every journal record before answering: rows survive a power "
        "loss too, not only a killed process (costs a disk flush a request).",
    )
    journal_segment_bytes: int = Field(
        default=1 << 20,
        ge=4096,
        description="Journal segment size: a full segment is closed, and deleted once its "
        "rows are in the database.",
    )
    migrate: bool = Field(
        default=True,
        description="Run the prediction log's migrations on start-up (the embedded default; "
        "a cluster runs `mlops serve migrate` as a Job and sets this false).",
    )
    access_log: bool = False
