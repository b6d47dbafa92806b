"""YAML config files (schema, training config, monitoring policy): read, parse and validate
with errors that name the file and the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mlops_core.errors import BadInput

Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(
    model: type[Model],
    path: str | Path | None,
    *,
    what: str,
    package: str | None = None,
    default: str | None = None,
    empty_ok: bool = False,
    extra: dict[str, Any] | None = None,
) -> tuple[Model, str, str]:
    """Validate the YAML file at `path` (the packaged `package/default` without one) into
    `model`; returns (instance, source, text). `extra` adds keys built from the source."""
    if path is None:
        if package is None or default is None:
            raise BadInput(f"{what}: no file given")
        text = resources.files(package).joinpath(default).read_text()
        source = f"{package.replace('.', '/')}/{default} (packaged default)"
    else:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise BadInput(f"{what} {p}: cannot be read ({exc.strerror})") from exc
        except UnicodeDecodeError:
            raise BadInput(f"{what} {p}: not a text file") from None
        source = str(p)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise BadInput(f"{what} {source}: not valid YAML ({first})") from exc
    if raw is None and empty_ok:
        raw = {}
    if not isinstance(raw, dict):
        raise BadInput(f"{what} {source}: expected a mapping at the top level")
    try:
        return model.model_validate({**raw, **(extra or {})}), source, text
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BadInput(f"{what} {source}: {where}: {first['msg']}") from exc
