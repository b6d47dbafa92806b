"""Generate docs/contracts.md from the result models: `python -m mlops_core.contracts.docs`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mlops_core.contracts.base import all_result_models
from mlops_core.contracts.constants import Alias, ExitCode, Role, Service, Split, Tag

HEADER = """# Stage contracts

Generated from `mlops_core.contracts` by `python -m mlops_core.contracts.docs --write`;
a test fails when this page and the models disagree. Every command prints one of these
objects, on one line of stdout, with `--json`; `mlops_core.contracts.read_result` parses it.
"""


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " or ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return f"map of {_type(extra) if isinstance(extra, dict) else 'any'}"
    return str(kind)


def _table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| field | type | required | meaning |", "| --- | --- | --- | --- |"]
    for name, prop in schema.get("properties", {}).items():
        meaning = (prop.get("description") or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else 'no'} | {meaning} |"
        )
    return rows


def render() -> str:
    lines = [HEADER]
    nested: dict[str, dict[str, Any]] = {}
    for model in all_result_models():
        schema = model.model_json_schema()
        nested.update(schema.get("$defs", {}))
        lines += [f"## {model.__name__}", ""]
        if model.command:
            lines += [f"Printed by: {model.command}.", ""]
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            lines += [doc[0], ""]
        lines += [*_table(schema), ""]
    if nested:
        lines += ["## Nested objects", ""]
        for name in sorted(nested):
            lines += [f"### {name}", ""]
            doc = (nested[name].get("description") or "").strip().splitlines()
            if doc:
                lines += [doc[0], ""]
            if "properties" in nested[name]:
                lines += [*_table(nested[name]), ""]
            else:
                lines += [f"One of: {_type(nested[name])}.", ""]
    lines += ["## Shared names", ""]
    for enum in (Split, Alias, Role, Tag, Service):
        lines.append(f"- {enum.__name__}: " + ", ".join(f"`{m.value}`" for m in enum))
    lines += ["", "## Exit codes", "", "| code | name |", "| --- | --- |"]
    lines += [f"| {int(c)} | {c.name} |" for c in ExitCode]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--write" in args:
        target = Path(__file__).resolve().parents[4] / "docs" / "contracts.md"
        target.write_text(text)
        print(f"wrote {target}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
