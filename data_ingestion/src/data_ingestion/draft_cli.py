"""`mlops models new NAME --from-csv FILE --label COLUMN`: draft a model folder from a CSV.

The schema is inferred from the table (data_ingestion.draft); train.yaml and monitor.yaml
are the platform's templates (mlops_core/templates: train-<task>.yaml, monitor.yaml), with
the primary metric set for two classes or more. The folder is written whole in a temporary
sibling, then renamed: it appears complete or not at all.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_core.errors import BadInput, MlopsError
from mlops_core.output import JsonOption, emit

if TYPE_CHECKING:
    from data_ingestion.draft import Draft
    from mlops_core.contracts.ingest import ModelDraftResult

_PRIMARY = re.compile(
    r"^(?P<key>\s*primary_metric:\s*)(?P<value>[\w-]+)(?P<rest>.*#\s*primary metric.*)$", re.M
)


def models_new(
    name: Annotated[
        str, typer.Argument(help="The model's name: lower-case letters, digits and dashes.")
    ],
    from_csv: Annotated[
        str, typer.Option("--from-csv", help="The CSV file (a path or URL) to infer it from.")
    ],
    label: Annotated[str, typer.Option("--label", help="The label column of the CSV.")],
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="regression or classification; inferred from the label when not given.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Draft a model folder (schema.yaml, train.yaml, monitor.yaml) from a real CSV.

    Types, ranges (with a margin), allowed categories (normalised spellings) and the task
    are inferred from the table; identifiers, constants, dates and free text are left out.
    It prints what a person should review. It refuses an existing folder.

    Example: mlops models new penguins --from-csv penguins.csv --label species
    """
    from data_ingestion.draft import draft_schema
    from data_ingestion.sources import read_source
    from mlops_core.contracts.constants import Task
    from mlops_core.modelspec import validate_model_name
    from mlops_core.settings import get_settings

    validate_model_name(name)
    chosen: Task | None = None
    if task is not None:
        try:
            chosen = Task(task.strip().lower())
        except ValueError:
            raise BadInput(f"--task: {task!r} is not regression or classification") from None
    settings = get_settings()
    root = settings.models_root
    target = root / name
    if target.exists():
        raise BadInput(
            f"model folder {target} exists already: choose another name, or remove it first"
        )
    frame, info = read_source(
        from_csv, work_dir=settings.home / "tmp", s3_endpoint_url=settings.s3_endpoint_url
    )
    frame.columns = [str(c).strip() for c in frame.columns]
    draft = draft_schema(frame, name=name, label=label.strip(), task=chosen, source=info.uri)
    files, templates = _render(draft)
    _write_folder(root, target, files)
    result = _result(draft, target, files, templates)
    emit(result, as_json, lambda console: _human(console, result))


def _render(draft: Draft) -> tuple[dict[str, str], dict[str, str]]:
    """{file name: text} of the folder, and which template each of train/monitor came from."""
    import yaml

    from mlops_core.schema import DatasetSchema

    schema = draft.schema_dict()
    try:
        DatasetSchema.model_validate(schema)
    except Exception as exc:  # a bug of the draft, or a CSV the schema cannot describe
        raise BadInput(f"{draft.source}: the drafted schema is not valid: {exc}") from exc
    today = datetime.now(UTC).date().isoformat()
    header = [
        f"# Schema of the {draft.name} model, drafted by `mlops models new` on {today}",
        f"# from {draft.source} ({draft.rows:,} rows). Task: {draft.task} ({draft.task_reason}).",
        "# Review before use:",
        *[f"#  - {line}" for line in draft.review],
    ]
    text = "\n".join(header) + "\n" + yaml.safe_dump(schema, sort_keys=False, allow_unicode=True)

    train = _template(f"train-{draft.task}.yaml")
    classes = draft.classes or []
    if classes:
        metric = "roc_auc" if len(classes) == 2 else "f1_macro"
        train = _PRIMARY.sub(lambda m: f"{m['key']}{metric}{m['rest']}", train, count=1)
    elif draft.label.observed_min is not None and draft.label.observed_min <= 0:
        # log(label) needs a positive label.
        train = re.sub(r"^target_transform:\s*log\b", "target_transform: none", train,
                       count=1, flags=re.M)  # fmt: skip
        train = re.sub(r"target_transform:\s*\[log,\s*none\]", "target_transform: [none]",
                       train)  # fmt: skip
    monitor = _template("monitor.yaml")
    templates = {
        "train.yaml": f"mlops_core/templates/train-{draft.task}.yaml",
        "monitor.yaml": "mlops_core/templates/monitor.yaml",
    }
    return {"schema.yaml": text, "train.yaml": train, "monitor.yaml": monitor}, templates


def _template(name: str) -> str:
    """mlops_core's template `name` (package data: always installed with it)."""
    entry = resources.files("mlops_core") / "templates" / name
    try:
        return entry.read_text(encoding="utf-8")
    except OSError as exc:
        raise MlopsError(
            f"mlops_core's template {name} cannot be read ({exc}): reinstall mlops-core"
        ) from exc


def _write_folder(root: Path, target: Path, files: dict[str, str]) -> None:
    """Write the files into a temporary sibling of `target`, then rename it: the folder
    appears complete or not at all (and an existing one is never overwritten)."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.draft-", dir=root))
    try:
        for file_name, text in files.items():
            (tmp / file_name).write_text(text, encoding="utf-8")
        try:
            os.rename(tmp, target)  # refused when target exists and is not empty
        except OSError as exc:
            raise BadInput(f"model folder {target} cannot be created: {exc.strerror}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _result(draft: Draft, target: Path, files: dict[str, str],
            templates: dict[str, str]) -> ModelDraftResult:  # fmt: skip
    from mlops_core.contracts.ingest import DraftColumn, DroppedColumn, ModelDraftResult

    def column(c, role: str) -> DraftColumn:
        return DraftColumn(
            name=c.name,
            dtype=c.dtype,
            role=role,
            min=c.min if c.dtype != "category" else None,
            max=c.max if c.dtype != "category" else None,
            observed_min=c.observed_min,
            observed_max=c.observed_max,
            categories=c.categories if c.dtype == "category" else None,
            missing=c.missing,
        )

    return ModelDraftResult(
        model=draft.name,
        path=str(target),
        files=sorted(files),
        source=draft.source,
        rows=draft.rows,
        task=draft.task,
        task_reason=draft.task_reason,
        label=draft.label.name,
        classes=draft.classes,
        columns=[column(draft.label, "label"), *(column(c, "feature") for c in draft.features)],
        dropped=[DroppedColumn(name=n, reason=why) for n, why in draft.dropped],
        templates=templates,
        review=draft.review,
    )


def _human(console, result: ModelDraftResult) -> None:
    def say(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True, markup=False)

    say(f"drafted model {result.model} in {result.path}: {', '.join(result.files)}")
    say(f"task: {result.task} ({result.task_reason})")
    if result.classes:
        say(f"classes: {', '.join(result.classes)}")
    features = [c for c in result.columns if c.role == "feature"]
    say(
        f"label {result.label}; {len(features)} features from {result.rows:,} rows: "
        + ", ".join(f"{c.name} ({c.dtype})" for c in features)
    )
    say("review before use:")
    for line in result.review:
        say(f"  - {line}")
    say(f"then: mlops ingest --model {result.model} --source {result.source}")
