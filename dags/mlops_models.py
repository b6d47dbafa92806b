"""The model folders the DAG files generate their DAGs from (a helper, not a DAG file).

Every folder under the models directory is a model: `models/<name>/schema.yaml` (with
train.yaml and monitor.yaml beside it). The training, monitoring and rollback DAG files
each build one DAG per model folder (`mlops_training_pipeline.<name>`, ...), so adding a
folder in git is all it takes to get its DAGs; no DAG file names a model.

Where the folders are: MLOPS_MODELS_DIR when set (an environment variable of the DAG
processor, never an Airflow Variable), else the `models/` folder of the repository this
`dags/` folder belongs to (the same git revision git-sync checked out), else
mlops_core.modelspec's default. Listing them is cheap, as parsing must be: a directory
listing and a name check (mlops_core.modelspec's rules), no schema is parsed, nothing heavy
is imported. A folder that is not a model (a bad name, no schema.yaml) is left out of the
DAGs and reported by `mlops_model_folders.py`, whose import error names it, so one broken
folder never takes the other models' DAGs down.

While a task runs, Airflow parses the DAG file again for that one DAG only: `wanted()` then
builds just that model's DAG (Airflow's parsing context), not every model's.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR_VARIABLE = "MLOPS_MODELS_DIR"
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BrokenFolder:
    """A folder under the models directory that is not a usable model folder."""

    name: str
    path: Path
    reason: str

    def describe(self) -> str:
        return f"{self.path}: {self.reason}"


def _modelspec():
    """mlops_core.modelspec, from the installed package or, in an Airflow image without the
    platform's packages, from the repository's mlops_core/src (it needs only pydantic and
    PyYAML, which Airflow ships)."""
    import importlib

    try:
        return importlib.import_module("mlops_core.modelspec")
    except ImportError:
        src = REPO / "mlops_core" / "src"
        if str(src) not in sys.path:
            sys.path.append(str(src))
        # From the repository's root, `mlops_core` may have resolved to its folder.
        sys.modules.pop("mlops_core", None)
        return importlib.import_module("mlops_core.modelspec")


def models_dir() -> Path:
    """MLOPS_MODELS_DIR, else this repository's models/, else modelspec's default."""
    configured = os.environ.get(MODELS_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    beside = REPO / "models"
    if beside.is_dir():
        return beside
    return _modelspec().default_models_dir()


def scan(folder: Path | None = None) -> tuple[list[str], list[BrokenFolder]]:
    """(model names, broken folders) under the models directory, both sorted by name.

    A model folder has a valid name and a schema.yaml. Hidden folders and ones starting
    with `_` (caches) are ignored. A missing models directory is one broken entry."""
    spec = _modelspec()
    root = folder or models_dir()
    if not root.is_dir():
        return [], [BrokenFolder(root.name, root, "the models folder does not exist")]
    names: list[str] = []
    broken: list[BrokenFolder] = []
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith((".", "_")):
            continue
        try:
            spec.validate_model_name(child.name)
        except Exception as exc:  # BadInput: the message names the rule
            broken.append(BrokenFolder(child.name, child, getattr(exc, "message", str(exc))))
            continue
        if not (child / spec.SCHEMA_FILE).is_file():
            broken.append(
                BrokenFolder(
                    child.name,
                    child,
                    f"no {spec.SCHEMA_FILE} (a model folder holds {', '.join(spec.MODEL_FILES)})",
                )
            )
            continue
        names.append(child.name)
    return names, broken


def dag_id(prefix: str, model: str) -> str:
    """The DAG id of `model`'s DAG of a kind: `<prefix>.<model>`."""
    return f"{prefix}.{model}"


def wanted(prefix: str) -> list[str]:
    """The models whose `<prefix>.<model>` DAG this parse should build: every model, or
    only the one whose task Airflow is about to run."""
    from airflow.sdk import get_parsing_context

    current = get_parsing_context().dag_id
    names, _ = scan()
    if current is None:
        return names
    return [m for m in names if dag_id(prefix, m) == current]


def model_doc(doc: str, model: str) -> str:
    """A DAG file's documentation (its `### title` first) with the model it was built for."""
    title, _, rest = doc.strip().partition("\n")
    where = models_dir() / model
    return f"{title}: `{model}`\n\nGenerated from the model folder `{where}`.\n{rest}"
