"""Settings of the deployment-prep stage (MLOPS_PROMOTE_*), read when a command starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from mlops_core.settings import StageSettings

ENVIRONMENTS = ("kind", "prod")


class PromoteSettings(StageSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_PROMOTE_")

    gitops_repo: str | None = Field(
        default=None,
        description="GitOps repository: a working tree (committed in place, pushed to its "
        "remote when it has one), a bare repository or a URL (cloned under MLOPS_HOME and "
        "pushed to). Unset: a local repository under MLOPS_HOME seeded from gitops/.",
    )
    branch: str = Field(default="main", description="Branch the promoted state is committed on.")
    remote: str = Field(default="origin", description="Remote pushed to, when it exists.")
    push: bool = Field(default=True, description="Push the commit when a remote is configured.")
    gitops_dir: str = Field(
        default="gitops", description="Folder of the GitOps tree inside the repository."
    )
    envs: list[str] = Field(
        default_factory=lambda: ["kind"],
        description="Environments written when --env is not given (kind, prod).",
    )
    latency_budget_ms: float = Field(
        default=200.0, gt=0, description="Budget of the in-process single-record p99 latency."
    )
    latency_samples: int = Field(default=200, ge=10, le=100_000)
    check_rows: int = Field(
        default=2000, ge=1, description="Rows of the test split the predictions are checked on."
    )
    range_margin: float = Field(
        default=0.5,
        ge=0,
        description="Plausible predictions: the training label range widened on each side by "
        "this share of its span.",
    )
    max_out_of_range: float = Field(
        default=0.01, ge=0, le=1, description="Share of predictions allowed outside the range."
    )
    check_timeout: float = Field(default=300.0, gt=0, description="Seconds for the checks.")
    reload: bool = Field(
        default=True, description="Reload the embedded prediction service after a change."
    )
    reload_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds to wait for the embedded prediction service to serve the change.",
    )
    github_token: SecretStr | None = Field(
        default=None,
        description="GitHub token: open a pull request instead of pushing to the branch.",
    )
    github_repo: str | None = Field(
        default=None, description="owner/name on GitHub; derived from the remote URL when unset."
    )
    github_api_url: str = Field(default="https://api.github.com")
    author_name: str = Field(default="mlops-promote")
    author_email: str = Field(default="mlops-promote@localhost")

    @field_validator("envs", mode="after")
    @classmethod
    def _known_envs(cls, value: list[str]) -> list[str]:
        check_envs(value)
        return value


def check_envs(envs: list[str]) -> list[str]:
    from mlops_core.errors import BadInput

    unknown = [e for e in envs if e not in ENVIRONMENTS]
    if unknown or not envs:
        raise BadInput(
            f"unknown environment(s) {unknown or envs}: choose from {', '.join(ENVIRONMENTS)}"
        )
    return list(dict.fromkeys(envs))


def get_promote_settings() -> PromoteSettings:
    return PromoteSettings()


def repo_root() -> Path | None:
    """This repository's root when the package runs from a checkout (editable install)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "deployment_prep" / "pyproject.toml").exists() and (
            parent / "mlops_core"
        ).is_dir():
            return parent
    return None
