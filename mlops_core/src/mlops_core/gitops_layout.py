"""Where the GitOps tree pins each model: one file per model per environment,
`gitops/envs/<env>/models/<name>.yaml`, written by `mlops promote` / `mlops rollback` only.

Its content is the prediction-service chart's per-model values:

    model:
      name: house-price
      version: "7"        # a string; "" = not promoted in this environment
      dataVersion: data-v3
    candidate:            # optional: a shadow or canary beside the champion
      version: "8"
      dataVersion: data-v4
      mode: canary        # shadow | canary
      weight: 10          # canary only: percent of requests, 0 < weight < 100

Argo CD generates one prediction-service application per file (an ApplicationSet with a
git files generator over `gitops/envs/<env>/models/*.yaml`). The readers here are shared by
promotion, `mlops models list`, the loop runner and the monitoring history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mlops_core.errors import BadInput
from mlops_core.modelspec import validate_model_name

GITOPS_DIR = "gitops"
MODELS_SUBDIR = "models"
HEADER = "# Written by `mlops promote` / `mlops rollback` only.\n"
# The single-model layout this replaces (one file per environment).
LEGACY_VALUES_FILE = "model-values.yaml"


def env_dir(env: str, gitops_dir: str = GITOPS_DIR) -> str:
    return f"{gitops_dir}/envs/{env}"


def model_values_path(env: str, name: str, gitops_dir: str = GITOPS_DIR) -> str:
    """`gitops/envs/<env>/models/<name>.yaml`, relative to the repository root."""
    validate_model_name(name)
    if not env or "/" in env or env.startswith("."):
        raise BadInput(f"environment {env!r}: a folder name under {gitops_dir}/envs/")
    return f"{env_dir(env, gitops_dir)}/{MODELS_SUBDIR}/{name}.yaml"


def legacy_values_path(env: str, gitops_dir: str = GITOPS_DIR) -> str:
    """The old single-model file `gitops/envs/<env>/model-values.yaml`."""
    return f"{env_dir(env, gitops_dir)}/{LEGACY_VALUES_FILE}"


CANDIDATE_MODES = ("shadow", "canary")


@dataclass(frozen=True)
class CandidatePin:
    """The `candidate:` block: a version served beside the champion (shadow or canary)."""

    version: str
    data_version: str | None
    mode: str  # shadow | canary
    weight: float | None = None  # canary only: percent of requests

    def to_values(self) -> dict:
        body: dict = {
            "version": self.version,
            "dataVersion": self.data_version or "",
            "mode": self.mode,
        }
        if self.mode == "canary":
            body["weight"] = format_weight(self.weight)
        return body


def format_weight(weight: float | None) -> int | float | None:
    """10.0 -> 10 (what a person writes), 12.5 stays."""
    if weight is None:
        return None
    return int(weight) if float(weight).is_integer() else float(weight)


def check_weight(weight: object, field: str = "weight") -> float:
    """A canary weight: a percent strictly between 0 and 100 (BadInput naming `field`)."""
    try:
        value = float(weight)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInput(
            f"{field}: {weight!r} is not a number (a percent, 0 < weight < 100)"
        ) from None
    if isinstance(weight, bool) or not 0 < value < 100:
        raise BadInput(f"{field}: {weight!r} is outside (0, 100) (a percent of requests)")
    return value


@dataclass(frozen=True)
class ModelPin:
    """What one environment's file pins for one model."""

    env: str
    name: str
    version: str | None  # None: the file exists but pins no version (not promoted there)
    data_version: str | None
    path: str  # relative to the repository root
    candidate: CandidatePin | None = None

    @property
    def promoted(self) -> bool:
        return bool(self.version)


def render_model_values(
    name: str,
    version: str | None,
    data_version: str | None,
    candidate: CandidatePin | None = None,
) -> str:
    """The file's text; versions are quoted so Helm never reads them as numbers."""
    validate_model_name(name)
    version = "" if version is None else str(version)
    body: dict = {"model": {"name": name, "version": version, "dataVersion": data_version or ""}}
    if candidate is not None:
        body["candidate"] = candidate.to_values()
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    for v in {version, candidate.version if candidate else version}:
        text = text.replace(f"version: '{v}'", f'version: "{v}"')
    text = text.replace("dataVersion: ''", 'dataVersion: ""')
    return HEADER + text


def parse_candidate(block: object, where: str = "values file") -> CandidatePin | None:
    """The `candidate:` block (None when absent or empty); BadInput naming the field."""
    if block in (None, {}):
        return None
    if not isinstance(block, dict):
        raise BadInput(f"{where}: `candidate:` must be a mapping (version, mode, weight)")
    version = block.get("version")
    if version in (None, "") or not str(version).isdigit():
        raise BadInput(f"{where}: candidate.version {version!r} is not a version number")
    mode = block.get("mode")
    if mode not in CANDIDATE_MODES:
        raise BadInput(f"{where}: candidate.mode {mode!r} is not one of shadow, canary")
    weight = block.get("weight")
    if mode == "canary":
        weight = check_weight(weight, f"{where}: candidate.weight")
    elif weight is not None:
        raise BadInput(f"{where}: candidate.weight is set but the mode is shadow")
    return CandidatePin(str(version), block.get("dataVersion") or None, str(mode), weight)


def parse_model_values(text: str, where: str = "values file", with_candidate: bool = False) -> dict:
    """{name, version, data_version} (and `candidate`, a CandidatePin or None, when
    with_candidate) of a values file; BadInput naming the file when it is not one (no
    `model:` mapping, a missing name, a bad `candidate:` block)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{where}: not YAML ({str(exc).splitlines()[0]})") from exc
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or not model.get("name"):
        raise BadInput(f"{where}: no `model:` mapping with a name (the GitOps values contract)")
    version = model.get("version")
    out = {
        "name": str(model["name"]),
        "version": None if version in (None, "") else str(version),
        "data_version": model.get("dataVersion") or None,
    }
    candidate = parse_candidate(data.get("candidate"), where)
    if with_candidate:
        out["candidate"] = candidate
    return out


def environments(root: Path, gitops_dir: str = GITOPS_DIR) -> list[str]:
    """The environment folders of the tree (gitops/envs/<env>/), by name."""
    envs = Path(root) / gitops_dir / "envs"
    if not envs.is_dir():
        return []
    return sorted(p.name for p in envs.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_pin(root: Path, env: str, name: str, gitops_dir: str = GITOPS_DIR) -> ModelPin | None:
    """The pin of `name` in `env`, None when its file does not exist. A file naming another
    model is refused (the file name is the model's name)."""
    rel = model_values_path(env, name, gitops_dir)
    file = Path(root) / rel
    if not file.is_file():
        return None
    values = parse_model_values(file.read_text(), rel, with_candidate=True)
    if values["name"] != name:
        raise BadInput(f"{rel}: pins model {values['name']!r}, but the file is named for {name!r}")
    return ModelPin(env, name, values["version"], values["data_version"], rel, values["candidate"])


def read_pins(
    root: Path, name: str, envs: list[str] | None = None, gitops_dir: str = GITOPS_DIR
) -> dict[str, ModelPin]:
    """env -> pin of one model, over `envs` (default: every environment folder); only the
    environments that have a file for it."""
    out: dict[str, ModelPin] = {}
    for env in envs if envs is not None else environments(root, gitops_dir):
        pin = read_pin(root, env, name, gitops_dir)
        if pin is not None:
            out[env] = pin
    return out


def promoted_versions(
    root: Path, name: str, envs: list[str] | None = None, gitops_dir: str = GITOPS_DIR
) -> dict[str, str]:
    """env -> version for the environments where `name` is pinned to a version."""
    return {
        env: pin.version
        for env, pin in read_pins(root, name, envs, gitops_dir).items()
        if pin.version
    }


def models_in_env(root: Path, env: str, gitops_dir: str = GITOPS_DIR) -> list[str]:
    """The models that have a file in `env` (by file name)."""
    folder = Path(root) / env_dir(env, gitops_dir) / MODELS_SUBDIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())


def legacy_files(root: Path, gitops_dir: str = GITOPS_DIR) -> list[str]:
    """The old single-model files still in the tree (envs/<env>/model-values.yaml)."""
    return [
        legacy_values_path(env, gitops_dir)
        for env in environments(root, gitops_dir)
        if (Path(root) / legacy_values_path(env, gitops_dir)).is_file()
    ]
