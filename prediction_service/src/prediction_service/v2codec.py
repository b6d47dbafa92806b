"""The Open Inference Protocol's tensors as the records /v1 validates, and predictions as
its output tensors.

A request holds the rows either as one input per feature (shape [N] or [N, 1], the
DataFrame codec's form: KServe's `content_type: "pd"`, MLServer's pandas codec) or as one
table input of shape [N, n_features] in the schema's feature order (a client's 2-D array).
Here the envelope is checked (names, datatypes, shapes, element counts, a tensor's data
flat or nested as its shape); each value is then checked by the model's own request
models (inputs.py, schemas.py), the very rules of /v1, so both endpoints accept and refuse
the same values. Every fault is a 400 naming the input (the protocol's status for a bad
request).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from mlops_core.schema import Column, DatasetSchema
from prediction_service.errors import ApiError, item
from prediction_service.v2schemas import envelope

INTEGER = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
FLOAT = ("FP32", "FP64")
# Every datatype the protocol names (FP16 cannot be written in JSON faithfully, BOOL fits
# no feature: both are refused as not fitting rather than as unknown).
DATATYPES = ("BOOL", *INTEGER, "FP16", *FLOAT, "BYTES")

PREDICT = "predict"
PROBA = "predict_proba"


def accepted(column: Column) -> tuple[str, ...]:
    """The datatypes an input of `column` may declare. A number column takes any numeric
    type (an integer column's values must then be whole, a float column's INT tensor holds
    whole numbers by its type); a category column takes BYTES (strings)."""
    if column.dtype == "category":
        return ("BYTES",)
    if column.dtype == "int":
        return (*INTEGER, *FLOAT)
    return (*FLOAT, *INTEGER)


def metadata_datatype(column: Column) -> str:
    """The datatype the model metadata names for `column` (what the training data holds)."""
    return {"int": "INT64", "float": "FP64", "category": "BYTES"}[column.dtype]


def _listed(names: Sequence[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _whole(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())


def _number(text: str, integer: bool) -> Any:
    """A BYTES element of a number column: the number it spells, or the text unchanged (then
    the request models refuse it, naming the field)."""
    try:
        return int(text) if integer else float(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if integer and value.is_integer() else value


class Codec:
    """One served model's tensors <-> records and predictions -> output tensors."""

    def __init__(self, schema: DatasetSchema, max_batch: int) -> None:
        self.schema = schema
        self.max_batch = max_batch
        self.names = list(schema.feature_names)
        self.name_set = frozenset(self.names)
        self.width = len(self.names)
        self.columns = {c.name: c for c in schema.features}
        self.accepts = {c.name: accepted(c) for c in schema.features}
        # Float columns: an integer-typed tensor of one must hold whole numbers (an int
        # column is held to that by its request model already).
        self.floats = frozenset(c.name for c in schema.features if c.dtype == "float")
        self.has_categories = any(c.dtype == "category" for c in schema.features)
        # The table input: one datatype for every column. Mixed columns travel as BYTES
        # (a client's object array); all-number columns as a numeric type.
        self.table_types: tuple[str, ...] = (
            ("BYTES",) if self.has_categories else (*FLOAT, *INTEGER)
        )
        self.number_columns = [
            (j, c.dtype == "int")
            for j, c in enumerate(schema.features)
            if c.dtype in ("int", "float")
        ]
        self.classifier = schema.is_classification
        self.classes = list(schema.classes) if self.classifier else []
        self.output_names = (PREDICT, PROBA) if self.classifier else (PREDICT,)
        # A parameter value is a string, a number or a boolean (the protocol): the class
        # order of the probabilities travels as a JSON array in a string.
        self.classes_param = orjson.dumps(self.classes).decode() if self.classifier else ""
        self.forms = (
            f"one input per feature ({_listed(self.names)}) of shape [N] or [N, 1], or one "
            f"table input of shape [N, {self.width}] in that order"
        )

    # -- request ---------------------------------------------------------------------------
    def request(self, body: Any) -> dict:
        """The inference request envelope checked: a 400 naming the field otherwise."""
        try:
            return envelope.validate_python(body)
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            loc = list(err["loc"])
            where = self._where(body, loc)
            more = exc.error_count() - 1
            tail = f" ({more} more {'faults' if more > 1 else 'fault'})" if more > 0 else ""
            detail = [
                item(
                    next((str(p) for p in reversed(e["loc"]) if isinstance(p, str)), None),
                    ["body", *e["loc"]],
                    e["type"],
                    e["msg"],
                )
                for e in exc.errors(include_url=False, include_input=False)
            ]
            raise ApiError(
                400, f"invalid inference request: {where}: {err['msg']}{tail}", detail
            ) from None

    @staticmethod
    def _where(body: Any, loc: list) -> str:
        """`inputs[2] ('area').shape[0]` for a location in the body."""
        if not loc:
            return "body"
        out = str(loc[0])
        for i, part in enumerate(loc[1:], start=1):
            if isinstance(part, int):
                out += f"[{part}]"
                if i == 1 and loc[0] in ("inputs", "outputs"):
                    with_name = body.get(loc[0]) if isinstance(body, dict) else None
                    try:
                        name = with_name[part].get("name")  # type: ignore[index]
                    except (AttributeError, IndexError, KeyError, TypeError):
                        name = None
                    if isinstance(name, str):
                        out += f" ({name!r})"
            else:
                out += f".{part}"
        return out

    def _data(self, k: int, tensor: dict, shape: list[int]) -> list:
        """The tensor's elements in row-major order: `data` flat, or nested as its shape."""
        data = tensor["data"]
        size = math.prod(shape)
        if len(shape) == 2 and data and type(data[0]) is list:
            if len(data) == shape[0] and all(
                type(row) is list and len(row) == shape[1] for row in data
            ):
                return [v for row in data for v in row]
        elif len(data) == size:
            return data
        raise ApiError(
            400,
            f"invalid input: input {tensor['name']!r}: shape {shape} holds {size} "
            f"element{'s' if size != 1 else ''}, its data has {len(data)} "
            "(flat, or nested as the shape)",
            [item(tensor["name"], ["body", "inputs", k, "data"], "shape_mismatch", "")],
        )

    def _rows(self, k: int, tensor: dict, n: int) -> None:
        if n <= 0 or min(tensor["shape"]) < 0:
            raise ApiError(
                400,
                f"invalid input: input {tensor['name']!r}: shape {tensor['shape']} holds no "
                "rows; at least one is needed (and no dimension is negative)",
                [item(tensor["name"], ["body", "inputs", k, "shape"], "too_short", "")],
            )
        if n > self.max_batch:
            raise ApiError(
                413,
                f"batch of {n} rows is larger than the maximum {self.max_batch} "
                "(MLOPS_SERVE_MAX_BATCH)",
            )

    def _datatype(self, k: int, tensor: dict, allowed: Sequence[str], what: str) -> ApiError:
        """The 400 of a datatype `allowed` does not hold."""
        datatype = tensor["datatype"]
        if datatype not in DATATYPES:
            reason = f"unknown datatype {datatype!r} (the protocol's: {', '.join(DATATYPES)})"
        else:
            reason = f"datatype {datatype} does not fit {what}, which takes {', '.join(allowed)}"
        return ApiError(
            400,
            f"invalid input: input {tensor['name']!r}: {reason}",
            [item(tensor["name"], ["body", "inputs", k, "datatype"], "datatype", reason)],
        )

    def _names(self, tensors: list[dict], by_name: dict[str, int]) -> ApiError:
        """The 400 of inputs that are not one per feature: a name twice, unknown, missing."""
        seen: dict[str, int] = {}
        for k, tensor in enumerate(tensors):
            name = tensor["name"]
            if name in seen:
                return ApiError(
                    400,
                    f"invalid input: input {name!r} is given twice (inputs {seen[name]} and {k})",
                    [item(name, ["body", "inputs", k, "name"], "duplicate", "")],
                )
            seen[name] = k
        unknown = [n for n in by_name if n not in self.columns]
        if unknown:
            return ApiError(
                400,
                f"invalid input: {'inputs' if len(unknown) > 1 else 'input'} "
                f"{', '.join(map(repr, unknown))}: not "
                f"{'features' if len(unknown) > 1 else 'a feature'} of model "
                f"{self.schema.name!r}; it takes {self.forms}",
                [
                    item(n, ["body", "inputs", by_name[n], "name"], "extra_forbidden", "")
                    for n in unknown
                ],
            )
        missing = [n for n in self.names if n not in by_name]
        return ApiError(
            400,
            f"invalid input: missing {'inputs' if len(missing) > 1 else 'input'} "
            f"{_listed([repr(m) for m in missing])}; model {self.schema.name!r} takes "
            f"{self.forms}",
            [item(m, ["body", "inputs"], "missing", "") for m in missing],
        )

    def rows(self, req: dict) -> tuple[list[dict], list[tuple[int, str, int]]]:
        """The request's rows as records {feature: value} (not yet validated), and where
        each column came from: (input index, input name, stride) per feature, in schema
        order (stride: a table's width, 1 for an input per feature).

        On the hot path: each check is a lookup, a message is only built for a fault."""
        tensors = req["inputs"]
        by_name = {t["name"]: k for k, t in enumerate(tensors)}
        if len(tensors) == 1 and tensors[0]["name"] not in self.columns:
            return self._table(0, tensors[0])
        if len(by_name) != len(tensors) or by_name.keys() != self.name_set:
            raise self._names(tensors, by_name)
        columns: list[list] = []
        n: int | None = None
        for name in self.names:
            k = by_name[name]
            tensor = tensors[k]
            shape = tensor["shape"]
            rank = len(shape)
            if not (rank == 1 or (rank == 2 and shape[1] == 1)):
                raise ApiError(
                    400,
                    f"invalid input: input {name!r}: shape {shape}; an input per feature "
                    "has shape [N] or [N, 1]",
                    [item(name, ["body", "inputs", k, "shape"], "shape", "")],
                )
            if shape[0] != n:
                if n is not None:
                    first = self.names[0]
                    raise ApiError(
                        400,
                        f"invalid input: input {name!r} has {shape[0]} rows, input {first!r} "
                        f"has {n}: every input holds the same rows",
                        [item(name, ["body", "inputs", k, "shape"], "shape", "")],
                    )
                n = shape[0]
                self._rows(k, tensor, n)
            datatype = tensor["datatype"]
            if datatype not in self.accepts[name]:
                what = f"feature {name!r} ({self.columns[name].dtype})"
                raise self._datatype(k, tensor, self.accepts[name], what)
            values = tensor["data"]
            if len(values) != n or (rank == 2 and type(values[0]) is list):
                values = self._data(k, tensor, shape)
            if name in self.floats and datatype in INTEGER:
                self._integers(k, name, values, 1, 0)
            columns.append(values)
        names = self.names
        if n == 1:
            records = [{name: col[0] for name, col in zip(names, columns, strict=True)}]
        else:
            records = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        return records, [(by_name[name], name, 1) for name in names]

    def _table(self, k: int, tensor: dict) -> tuple[list[dict], list[tuple[int, str, int]]]:
        name, shape = tensor["name"], tensor["shape"]
        if len(shape) != 2 or shape[1] != self.width:
            raise ApiError(
                400,
                f"invalid input: input {name!r}: not a feature of model {self.schema.name!r}, "
                f"and shape {shape} is not a table's [N, {self.width}]; the model takes "
                f"{self.forms}",
                [item(name, ["body", "inputs", k, "shape"], "shape", "")],
            )
        n = shape[0]
        self._rows(k, tensor, n)
        datatype = tensor["datatype"]
        if datatype not in self.table_types:
            raise self._datatype(k, tensor, self.table_types, f"a table of {self.schema.name!r}")
        values = self._data(k, tensor, shape)
        width = self.width
        if datatype == "BYTES" and all(type(v) is str for v in values):
            # A client's object array written as text (KServe's client writes str(value) of
            # each element): a number column's text is read as the number it spells. Only
            # when every element is text: a table of JSON values is taken as its values.
            values = list(values)
            for j, integer in self.number_columns:
                for i in range(j, len(values), width):
                    v = values[i]
                    if type(v) is str:
                        values[i] = _number(v, integer)
        elif datatype in INTEGER:
            for j, column in enumerate(self.schema.features):
                if column.dtype == "float":
                    self._integers(k, name, values, width, j)
        names = self.names
        records = [
            dict(zip(names, values[i : i + width], strict=True)) for i in range(0, n * width, width)
        ]
        return records, [(k, name, width) for _ in names]

    def _integers(self, k: int, name: str, values: list, stride: int, offset: int) -> None:
        for i in range(offset, len(values), stride):
            v = values[i]
            if not _whole(v):
                column = self.names[offset] if stride > 1 else name
                raise ApiError(
                    400,
                    f"invalid input: input {name!r}, row {i // stride}"
                    + (f", column {column!r}" if stride > 1 else "")
                    + f": {v!r} is not an integer, as the input's integer datatype says",
                    [item(column, ["body", "inputs", k, "data", i], "int_type", "")],
                )

    def invalid(self, exc: ValidationError, where: list[tuple[int, str, int]], n: int) -> ApiError:
        """A 400 naming the input (and row, column) of each value the request models refuse."""
        index = {c: j for j, c in enumerate(self.names)}
        detail = []
        messages = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = err["loc"]
            row = loc[0] if loc and isinstance(loc[0], int) else 0
            field = next((p for p in reversed(loc) if isinstance(p, str)), None)
            j = index.get(field, 0) if field is not None else 0
            k, tensor, stride = where[j]
            element = row * stride + (j if stride > 1 else 0)
            detail.append(
                item(field, ["body", "inputs", k, "data", element], err["type"], err["msg"])
            )
            place = f"input {tensor!r}"
            if n > 1:
                place += f", row {row}"
            if stride > 1:
                place += f", column {field!r}"
            messages.append(f"{place}: {err['msg']}")
        first = messages[0] if messages else "invalid value"
        more = len(messages) - 1
        tail = f" ({more} more {'values are' if more > 1 else 'value is'} wrong)" if more else ""
        return ApiError(400, f"invalid input: {first}{tail}", detail)

    def wanted(self, req: dict) -> tuple[str, ...]:
        """The outputs the request asks for (all when it names none); a 400 naming an
        output the model does not have."""
        asked = req.get("outputs")
        if not asked:
            return self.output_names
        names = [o["name"] for o in asked]
        unknown = [n for n in names if n not in self.output_names]
        if unknown:
            raise ApiError(
                400,
                f"invalid inference request: unknown output {unknown[0]!r}; model "
                f"{self.schema.name!r} has {', '.join(self.output_names)}",
                [item("name", ["body", "outputs", names.index(unknown[0]), "name"], "enum", "")],
            )
        return tuple(n for n in self.output_names if n in names)

    # -- response --------------------------------------------------------------------------
    def outputs(self, values: Sequence[Any], wanted: tuple[str, ...]) -> list[dict]:
        """The output tensors: the prediction first (FP64 for a regressor, BYTES for a
        class), then a classifier's probabilities (FP64 [N, classes], schema order)."""
        n = len(values)
        out: list[dict] = []
        if not self.classifier:
            out.append({"name": PREDICT, "datatype": "FP64", "shape": [n], "data": values})
            return out
        if PREDICT in wanted:
            out.append(
                {"name": PREDICT, "datatype": "BYTES", "shape": [n], "data": [v[0] for v in values]}
            )
        if PROBA in wanted:
            out.append(
                {
                    "name": PROBA,
                    "datatype": "FP64",
                    "shape": [n, len(self.classes)],
                    "data": [p for v in values for p in v[1].values()],
                    "parameters": {"classes": self.classes_param},
                }
            )
        return out
