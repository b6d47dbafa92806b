"""Models are folders: `models/<name>/` holds schema.yaml, train.yaml and monitor.yaml.

A model's name is its folder's name and its registered model's name. Adding a folder is
all it takes to give a model the whole loop; nothing outside the folder names its columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mlops_core.contracts.constants import Task
from mlops_core.errors import BadInput
from mlops_core.schema import DatasetSchema, load_schema

SCHEMA_FILE = "schema.yaml"
TRAIN_FILE = "train.yaml"
MONITOR_FILE = "monitor.yaml"
MODEL_FILES = (SCHEMA_FILE, TRAIN_FILE, MONITOR_FILE)

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_model_name(name: str) -> str:
    """A model name: lower-case letters, digits and inner dashes, at most 63 characters
    (it becomes a Kubernetes name, a DAG id and a registered model name)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInput(
            f"model name {name!r}: use lower-case letters, digits and dashes "
            "(not first or last), at most 63 characters"
        )
    return name


@dataclass(frozen=True)
class ModelFolder:
    name: str
    path: Path

    @classmethod
    def of_schema(cls, schema: DatasetSchema, origin: Path) -> ModelFolder:
        """A model known by its schema alone (the one its training run logged), where no
        model folder is mounted: a serving pod."""
        folder = cls(schema.name, origin)
        folder.__dict__["schema"] = schema  # what the cached property would have read
        return folder

    @property
    def schema_path(self) -> Path:
        return self.path / SCHEMA_FILE

    @property
    def train_path(self) -> Path:
        return self.path / TRAIN_FILE

    @property
    def monitor_path(self) -> Path:
        return self.path / MONITOR_FILE

    @cached_property
    def schema(self) -> DatasetSchema:
        schema = load_schema(self.schema_path)
        if schema.name != self.name:
            raise BadInput(
                f"schema file {self.schema_path}: name {schema.name!r} differs from its "
                f"folder's name {self.name!r} (the folder name is the model's name)"
            )
        return schema

    @property
    def task(self) -> Task:
        return self.schema.task


def discover_models(models_dir: Path) -> list[ModelFolder]:
    """Every model folder (a folder with a schema.yaml) under `models_dir`, by name."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise BadInput(
            f"models folder {models_dir} does not exist "
            "(set MLOPS_MODELS_DIR, or create models/<name>/ with `mlops models new`)"
        )
    found = []
    for child in sorted(models_dir.iterdir()):
        if child.is_dir() and (child / SCHEMA_FILE).is_file():
            found.append(ModelFolder(validate_model_name(child.name), child.resolve()))
    return found


def select_model(models: list[ModelFolder], name: str | None, models_dir: Path) -> ModelFolder:
    """The model called `name`; without a name, the only one (else say which exist)."""
    names = [m.name for m in models]
    if name is not None:
        validate_model_name(name)
        for m in models:
            if m.name == name:
                return m
        known = ", ".join(names) or "none"
        raise BadInput(f"unknown model {name!r} in {models_dir} (models: {known})")
    if len(models) == 1:
        return models[0]
    if not models:
        raise BadInput(
            f"no model folder in {models_dir} (a folder with schema.yaml); "
            "draft one with `mlops models new NAME --from-csv FILE --label COLUMN`"
        )
    raise BadInput(
        f"several models in {models_dir}: {', '.join(names)}; "
        "pass --model NAME (or set MLOPS_MODEL)"
    )


def default_models_dir(start: Path | None = None) -> Path:
    """The nearest `models/` folder holding a model, walking up from `start` (the current
    folder); else the repository's `models/` beside this installed source; else ./models."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "models"
        if candidate.is_dir() and any(candidate.glob(f"*/{SCHEMA_FILE}")):
            return candidate
    source_repo = Path(__file__).resolve().parents[3] / "models"
    if source_repo.is_dir():
        return source_repo
    return here / "models"
