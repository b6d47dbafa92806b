"""The result base model and the one parser of a command's `--json` output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field

R = TypeVar("R", bound="Result")


class Result(BaseModel):
    """What a command prints with `--json`: one object, on one line of stdout."""

    model_config = ConfigDict(extra="forbid")

    # The command (`mlops ...`) that prints this result, for the generated reference.
    command: ClassVar[str] = ""

    ok: bool = Field(True, description="false when the command failed or refused")
    exit_code: int | None = Field(
        None, description="the command's exit code, added by the task runner (XCom)"
    )

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)


class ErrorResult(Result):
    """What any command prints with `--json` when it ends with an error."""

    model_config = ConfigDict(extra="allow")
    command: ClassVar[str] = "any command, on error"

    ok: bool = False
    exit_code: int | None = Field(..., description="the documented exit code")
    error: str = Field(..., description="the message, naming the file, field, row or option")


class ResultNotFound(ValueError):
    """A command's output holds no JSON result object."""


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


@overload
def read_result(text: str, model: None = None) -> dict[str, Any]: ...
@overload
def read_result(text: str, model: type[R]) -> R: ...
def read_result(text: str, model: type[R] | None = None) -> R | dict[str, Any]:
    """The result a command printed on stdout: its last line that is a JSON object.

    Without a model, the raw object ({} when there is none). With a model, the object
    validated as that model (an error result, `ok: false`, as `ErrorResult`), and
    ResultNotFound when the output holds none.
    """
    found = next(_json_objects(text), None)
    if model is None:
        return found or {}
    if found is None:
        raise ResultNotFound(f"no JSON result in the output of a command ({model.__name__})")
    return parse_payload(found, model)


def parse_payload(payload: dict[str, Any], model: type[R]) -> R:
    """A result object (from stdout or an XCom) as `model`; an error result as ErrorResult."""
    if payload.get("ok") is False and "error" in payload and not _has_field(model, "error"):
        return ErrorResult.model_validate(payload)  # type: ignore[return-value]
    return model.model_validate(payload)


def _has_field(model: type[BaseModel], name: str) -> bool:
    return name in model.model_fields


def all_result_models() -> list[type[Result]]:
    """Every result model of every stage, for the generated reference."""
    from mlops_core.contracts import MODULES  # noqa: F401  (imports each stage's module)

    seen: list[type[Result]] = []

    def walk(cls: type[Result]) -> None:
        for sub in cls.__subclasses__():
            if sub not in seen and sub.__module__.startswith("mlops_core.contracts"):
                seen.append(sub)
            walk(sub)

    walk(Result)
    return sorted(seen, key=lambda m: (m.__module__, m.__name__))
