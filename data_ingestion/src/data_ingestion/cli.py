"""Commands of the ingestion stage: `mlops ingest`, `mlops data list|pull|migrate` and
`mlops models new`.

Every command works on one model (`--model NAME`, MLOPS_MODEL, or the only model folder)
and only ever sees that model's data versions. Import-light on purpose: pandas, pandera and
DVC are imported inside the commands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops_core.cli_options import ModelOption
from mlops_core.errors import BadInput
from mlops_core.output import JsonOption, emit

if TYPE_CHECKING:
    from mlops_core.contracts.ingest import IngestResult

data_app = typer.Typer(
    help="The data registry: list a model's versions, pull one anywhere, migrate a "
    "single-model registry.",
    no_args_is_help=True,
)

SYNTHETIC_MIN = 100
SYNTHETIC_MAX = 10_000_000


def ingest(
    model: ModelOption = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            "-s",
            help="A CSV or Parquet file: a path, an http(s):// URL or an s3://bucket/key URI.",
        ),
    ] = None,
    synthetic: Annotated[
        int | None,
        typer.Option(
            "--synthetic",
            help=f"Generate N seeded rows ({SYNTHETIC_MIN:,} to {SYNTHETIC_MAX:,}) instead.",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the generator and of the split [MLOPS_INGEST_SEED: 42]."),
    ] = None,
    val_fraction: Annotated[
        float | None, typer.Option(help="Share of rows in val [MLOPS_INGEST_VAL_FRACTION: 0.15].")
    ] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(help="Share of rows in test [MLOPS_INGEST_TEST_FRACTION: 0.15]."),
    ] = None,
    strata: Annotated[
        int | None,
        typer.Option(help="Label quantile bins to stratify on [MLOPS_INGEST_STRATA: 10]."),
    ] = None,
    max_invalid_fraction: Annotated[
        float | None,
        typer.Option(
            help="Fail when more rows than this share are invalid "
            "[MLOPS_INGEST_MAX_INVALID_FRACTION: 0.05]."
        ),
    ] = None,
    shift: Annotated[
        list[str] | None,
        typer.Option(
            "--shift",
            help="Synthetic drift: multiply a numeric column, COLUMN=FACTOR (repeatable).",
        ),
    ] = None,
    category_weights: Annotated[
        list[str] | None,
        typer.Option(
            "--category-weights",
            help="Synthetic drift: category mix, COLUMN=CAT:W,CAT:W (repeatable).",
        ),
    ] = None,
    missing_rate: Annotated[
        float, typer.Option(help="Synthetic: share of feature cells left empty.")
    ] = 0.0,
    duplicate_rate: Annotated[
        float, typer.Option(help="Synthetic: share of rows repeated exactly.")
    ] = 0.0,
    invalid_rate: Annotated[
        float, typer.Option(help="Synthetic: share of rows made invalid.")
    ] = 0.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Clean, validate and split, but create no version.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest a dataset: clean, validate, split and version it as a model's data version.

    Rows are checked against the model's schema (models/NAME/schema.yaml); invalid rows go
    to a quarantine file under MLOPS_HOME/quarantine. Identical data makes no new version.
    A classifier's split is stratified on the class.

    Examples:

      mlops ingest --model house-price --synthetic 5000 --seed 42

      mlops ingest --model churn --source customers.csv --json

      mlops ingest --source s3://bucket/houses.parquet

      mlops ingest --synthetic 20000 --seed 7 --shift COLUMN=1.3 --missing-rate 0.02

      mlops ingest --synthetic 20000 --category-weights COLUMN=CAT:1,OTHER:3
    """
    from data_ingestion.settings import IngestSettings
    from mlops_core.output import progress
    from mlops_core.settings import get_settings

    if (source is None) == (synthetic is None):
        raise BadInput("give exactly one of --source SOURCE or --synthetic N")
    has_drift = bool(shift or category_weights or missing_rate or duplicate_rate or invalid_rate)
    if source is not None and has_drift:
        raise BadInput("drift options (--shift, --category-weights, --*-rate) need --synthetic")
    settings = get_settings()
    try:
        stage = IngestSettings()
    except Exception as exc:
        raise BadInput(f"invalid ingestion settings: {exc}") from exc
    folder = settings.model_folder(model)
    schema = folder.schema
    seed = stage.seed if seed is None else seed

    import pandas  # noqa: F401  (import cost outside the timed steps)

    from data_ingestion.pipeline import IngestOptions, ingest_frame
    from data_ingestion.split import SplitOptions
    from mlops_core.registry import DataRegistry

    split = SplitOptions(
        val_fraction=stage.val_fraction if val_fraction is None else val_fraction,
        test_fraction=stage.test_fraction if test_fraction is None else test_fraction,
        seed=seed,
        strata=stage.strata if strata is None else strata,
    )
    split.check()
    threshold = stage.max_invalid_fraction if max_invalid_fraction is None else max_invalid_fraction
    if not 0 <= threshold <= 1:
        raise BadInput(f"--max-invalid-fraction must be in [0, 1], got {threshold}")
    options = IngestOptions(
        split=split,
        max_invalid_fraction=threshold,
        quarantine_dir=stage.quarantine_dir or settings.home / "quarantine",
        dry_run=dry_run,
    )
    registry = DataRegistry.from_settings(settings, model=folder.name)
    work_dir = settings.home / "tmp"
    started = time.perf_counter()

    with progress(enabled=not as_json) as bar:
        task = bar.add_task("read", total=4)
        download: list[Any] = []

        def step(name: str) -> None:
            bar.update(task, description=name, advance=1)

        def on_bytes(done: int, total: int | None) -> None:
            if not download:
                download.append(bar.add_task("download", total=total))
            bar.update(download[0], completed=done)

        if synthetic is not None:
            bar.update(task, description="generate")
            raw, source_info = _generate(
                schema,
                synthetic,
                seed,
                shift,
                category_weights,
                missing_rate,
                duplicate_rate,
                invalid_rate,
            )
        else:
            from data_ingestion.sources import read_source

            raw, info = read_source(
                source,
                work_dir=work_dir,
                timeout=stage.http_timeout,
                s3_endpoint_url=settings.s3_endpoint_url,
                progress=on_bytes,
            )
            source_info = info.as_dict()
        result = ingest_frame(
            raw, schema, source_info, registry, options, work_dir=work_dir, step=step
        )
        bar.update(task, description="done", completed=4)
    result.seconds = round(time.perf_counter() - started, 3)
    emit(result, as_json, lambda console: _human_ingest(console, result))


def _generate(
    schema,
    rows: int,
    seed: int,
    shift: list[str] | None,
    category_weights: list[str] | None,
    missing_rate: float,
    duplicate_rate: float,
    invalid_rate: float,
) -> tuple[Any, dict[str, Any]]:
    from mlops_core.synthetic import Drift, generate, parse_assignments

    if not SYNTHETIC_MIN <= rows <= SYNTHETIC_MAX:
        raise BadInput(
            f"--synthetic must be between {SYNTHETIC_MIN:,} and {SYNTHETIC_MAX:,}, got {rows:,}"
        )
    shifts: dict[str, float] = {}
    for name, value in parse_assignments(shift or [], "--shift").items():
        try:
            shifts[name] = float(value)
        except ValueError:
            raise BadInput(f"--shift {name}={value}: the factor must be a number") from None
    weights: dict[str, dict[str, float]] = {}
    for name, value in parse_assignments(category_weights or [], "--category-weights").items():
        mix: dict[str, float] = {}
        for part in value.split(","):
            category, sep, weight = part.rpartition(":")
            try:
                if not sep or not category.strip():
                    raise ValueError
                mix[category.strip()] = float(weight)
            except ValueError:
                raise BadInput(
                    f"--category-weights {name}={value}: expected CATEGORY:WEIGHT,... "
                    f"(got {part!r})"
                ) from None
        weights[name] = mix
    drift = Drift(
        shift=shifts,
        category_weights=weights,
        missing_rate=missing_rate,
        duplicate_rate=duplicate_rate,
        invalid_rate=invalid_rate,
    )
    frame = generate(schema, rows, seed=seed, drift=drift)
    info: dict[str, Any] = {
        "uri": f"synthetic:{rows}",
        "kind": "synthetic",
        "rows": rows,
        "seed": seed,
    }
    if not drift.is_empty:
        info["drift"] = {
            "shift": shifts,
            "category_weights": weights,
            "missing_rate": missing_rate,
            "duplicate_rate": duplicate_rate,
            "invalid_rate": invalid_rate,
        }
    return frame, info


def _human_ingest(console, result: IngestResult) -> None:
    # soft_wrap: into a pipe, rich would break a long path at 80 columns.
    rows = result.rows
    console.print(f"model {result.model} ({result.task})", highlight=False, soft_wrap=True)
    line = (
        f"{rows.in_:,} rows read: {rows.duplicates:,} duplicates and "
        f"{rows.missing_label:,} without label dropped, {rows.quarantined:,} quarantined, "
        f"{rows.out:,} kept (train {rows.train:,}, val {rows.val:,}, test {rows.test:,})"
    )
    console.print(line, highlight=False, soft_wrap=True)
    if result.class_distribution:
        for split, counts in result.class_distribution.items():
            shown = ", ".join(f"{c} {n:,}" for c, n in counts.items())
            console.print(f"classes in {split}: {shown}", highlight=False, soft_wrap=True)
    if result.quarantine:
        console.print(f"quarantine: {result.quarantine}", highlight=False, soft_wrap=True)
    if result.dry_run:
        console.print("dry run: no version created", highlight=False, soft_wrap=True)
    elif result.created:
        console.print(
            f"[green]created {result.data_version}[/] of {result.model} in {result.registry}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"no change: the data is identical to {result.data_version} of {result.model}",
            highlight=False,
            soft_wrap=True,
        )


def _registry(model: str | None):
    from mlops_core.registry import DataRegistry
    from mlops_core.settings import get_settings

    settings = get_settings()
    return DataRegistry.from_settings(settings, model=settings.model_folder(model).name)


@data_app.command("list")
def data_list(model: ModelOption = None, as_json: JsonOption = False) -> None:
    """List a model's data versions with their row counts and dates.

    Example: mlops data list --model house-price --json
    """
    from mlops_core.contracts.ingest import DataListResult, DataVersionEntry

    registry = _registry(model)
    versions = registry.versions()
    entries = [
        DataVersionEntry(
            **v.as_dict(),
            source=(v.manifest.get("source") or {}).get("uri"),
            quarantined=(v.manifest.get("rows") or {}).get("quarantined"),
        )
        for v in versions
    ]
    result = DataListResult(
        model=registry.model,
        registry=registry.url,
        latest=versions[-1].tag if versions else None,
        versions=entries,
    )
    emit(result, as_json, lambda console: _human_list(console, result))


def _human_list(console, result) -> None:
    from rich.table import Table

    if not result.versions:
        console.print(
            f"model {result.model} has no data version yet in {result.registry}",
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(f"data versions of {result.model}", highlight=False, soft_wrap=True)
    table = Table("version", "created", "train", "val", "test", "quarantined", "source", "hash")
    for column in table.columns:
        column.overflow = "fold"  # a terminal too narrow wraps a value, never cuts it
    for v in result.versions:
        table.add_row(
            v.data_version,
            v.created,
            f"{v.rows['train']:,}",
            f"{v.rows['val']:,}",
            f"{v.rows['test']:,}",
            str(v.quarantined if v.quarantined is not None else ""),
            v.source or "",
            v.content_hash[:12],
        )
    print_whole(console, table)


def print_whole(console, table) -> None:
    """Print a table; into a pipe or a file at its natural width, so that no URL or date is
    cut or wrapped (rich would fit it into 80 columns)."""
    from rich.console import Console
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    width = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    wide = Console(file=console.file, width=max(width, console.width), no_color=True)
    wide.print(table)


@data_app.command("pull")
def data_pull(
    version: Annotated[str, typer.Argument(help="A data version (data-vN) or 'latest'.")],
    dest: Annotated[Path, typer.Argument(help="Folder to write train/val/test.parquet into.")],
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Materialise a model's data version (its splits and manifest.json) in a folder.

    Example: mlops data pull data-v1 ./data --model house-price
    """
    from mlops_core.contracts.ingest import DataPullResult

    registry = _registry(model)
    if version == "latest":
        latest = registry.latest()
        if latest is None:
            raise BadInput(f"model {registry.model!r} has no data version yet in {registry.url}")
        version = latest
    files = registry.pull(version, dest)
    line = f"{registry.model} {version} pulled into {dest}: " + ", ".join(
        p.name for p in files.values()
    )
    emit(
        DataPullResult(
            model=registry.model,
            data_version=version,
            files={k: str(v) for k, v in files.items()},
        ),
        as_json,
        lambda console: console.print(line, highlight=False, soft_wrap=True),
    )


@data_app.command("migrate")
def data_migrate(model: ModelOption = None, as_json: JsonOption = False) -> None:
    """Make a single-model registry's versions (tags data-vN that name no model) a model's.

    Each tag data-vN becomes the model's data-vN on the same commit (same manifest, same
    data; the old tag is kept under refs/migrated/), in one atomic push. Running it again
    does nothing. Other commands refuse such a registry until it has run.

    Example: mlops data migrate --model house-price
    """
    from mlops_core.contracts.ingest import DataMigrateResult

    registry = _registry(model)
    done = registry.migrate()
    result = DataMigrateResult(
        model=done.model,
        registry=registry.url,
        migrated=done.migrated,
        versions=done.versions,
        datasets=done.datasets,
    )

    def human(console) -> None:
        if not result.migrated:
            console.print(
                f"nothing to migrate: {registry.url} holds no single-model version "
                f"({result.model}: {', '.join(result.versions) or 'no version'})",
                highlight=False,
                soft_wrap=True,
            )
            return
        console.print(
            f"[green]migrated {', '.join(result.migrated)}[/] to model {result.model} "
            f"in {result.registry}",
            highlight=False,
            soft_wrap=True,
        )
        others = [d for d in result.datasets if d != result.model]
        if others:
            console.print(
                f"note: their manifests name the dataset {', '.join(others)}",
                highlight=False,
                soft_wrap=True,
            )

    emit(result, as_json, human)


def register(app: typer.Typer) -> None:
    from data_ingestion.draft_cli import models_new
    from mlops_core.cli import models_app

    app.command("ingest")(ingest)
    app.add_typer(data_app, name="data")
    models_app.command("new")(models_new)
