"""Deployable checks, run in a clean process: `python -m deployment_prep.check_worker`.

Reads a JSON spec on stdin, downloads the model version from the registry, loads it from
those files only, and prints one JSON object with the result of every check on stdout
(the CheckReport contract of mlops_core.contracts.deploy).
A clean process proves the artifact stands on its own (no state of the caller's process).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

INT_TYPES = {"long", "integer"}
FLOAT_TYPES = {"double", "float"}
NUMERIC = INT_TYPES | FLOAT_TYPES
EXPECTED = {"int": INT_TYPES, "float": FLOAT_TYPES | INT_TYPES, "category": {"string"}}


def _type_name(t: Any) -> str:
    name = getattr(t, "name", None) or str(t)
    return str(name).lower()


def check_signature(signature, schema) -> dict:
    if signature is None or signature.inputs is None:
        return {
            "name": "signature",
            "ok": False,
            "detail": "the model was logged without a signature",
        }
    if signature.inputs.is_tensor_spec():
        return {
            "name": "signature",
            "ok": False,
            "detail": "the model takes a tensor, not the schema's named feature columns",
        }
    names = signature.inputs.input_names()
    types = {n: _type_name(t) for n, t in zip(names, signature.inputs.input_types(), strict=False)}
    expected = schema.feature_names
    problems = []
    missing = [n for n in expected if n not in types]
    extra = [n for n in names if n not in expected]
    if missing:
        problems.append(f"missing inputs {missing}")
    if extra:
        problems.append(f"inputs not in the dataset schema {extra}")
    for column in schema.features:
        got = types.get(column.name)
        if got is not None and got not in EXPECTED[column.dtype]:
            problems.append(f"input {column.name!r} is {got}, the schema says {column.dtype}")
    outputs = signature.outputs
    if outputs is not None and schema.is_classification:
        problems += _classifier_output_problems(outputs)
    elif outputs is not None:
        if outputs.is_tensor_spec():
            import numpy as np

            specs = outputs.inputs
            numeric = len(specs) == 1 and np.dtype(specs[0].type).kind in "fiu"
            shape = tuple(specs[0].shape or ()) if specs else ()
            if not numeric or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                problems.append(f"output must be one number per row, got {outputs}")
        else:
            out_types = [_type_name(t) for t in outputs.input_types()]
            if len(out_types) != 1 or out_types[0] not in NUMERIC:
                problems.append(f"output must be one number, got {out_types}")
    return {
        "name": "signature",
        "ok": not problems,
        "detail": "; ".join(problems) or f"{len(expected)} inputs match the dataset schema",
    }


def _classifier_output_problems(outputs) -> list[str]:
    """A classifier's pyfunc answers one class per row (a column, or a 1-d tensor)."""
    if outputs.is_tensor_spec():
        specs = outputs.inputs
        shape = tuple(specs[0].shape or ()) if specs else ()
        if len(specs) != 1 or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            return [f"output must be one class per row, got {outputs}"]
        return []
    names = outputs.input_names()
    if len(names) != 1 and "prediction" not in names:
        return [f"output must be one class per row (one column, or `prediction`), got {names}"]
    return []


def _class_column(predictions):
    """The predicted classes of a pyfunc answer: a column `prediction` of a frame, its only
    column, or the array itself."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        column = "prediction" if "prediction" in predictions.columns else predictions.columns[0]
        predictions = predictions[column]
    return np.asarray(predictions, dtype=object).reshape(-1)


def check_class_predictions(model, spec: dict, schema) -> tuple[dict, dict]:
    """A classifier: one prediction per row, each one of the schema's classes."""
    import numpy as np
    import pandas as pd

    test = pd.read_parquet(spec["test"])
    rows = test.head(spec["check_rows"])
    features = rows[schema.feature_names]
    predictions = _class_column(model.predict(features))
    classes = [str(c) for c in schema.classes]
    problems = []
    if predictions.shape[0] != len(features):
        problems.append(f"{predictions.shape[0]} predictions for {len(features)} rows")
    as_text = np.array(["" if p is None else str(p) for p in predictions], dtype=object)
    unknown = ~np.isin(as_text, classes)
    share = float(unknown.mean()) if len(as_text) else 0.0
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        problems.append(
            f"{int(unknown.sum())} predictions are not one of the classes {classes} "
            f"(first: {as_text[first]!r} at test row {first})"
        )
    stats: dict[str, Any] = {
        "rows": len(features),
        "out_of_range_share": share,
        "classes": classes,
        "predicted_classes": {c: int((as_text == c).sum()) for c in classes},
    }
    if not problems and len(as_text):
        truth = rows[schema.label.name].astype(str).to_numpy(dtype=object)
        stats["accuracy"] = float((truth == as_text).mean())
    detail = "; ".join(problems) or (
        f"{len(features)} test rows: every prediction one of {', '.join(classes)}"
    )
    return {"name": "predictions", "ok": not problems, "detail": detail}, stats


def check_predictions(model, spec: dict, schema) -> tuple[dict, dict]:
    import numpy as np
    import pandas as pd

    if schema.is_classification:
        return check_class_predictions(model, spec, schema)

    train = pd.read_parquet(spec["train"], columns=[schema.label.name])
    test = pd.read_parquet(spec["test"])
    rows = test.head(spec["check_rows"])
    features = rows[schema.feature_names]
    y_true = rows[schema.label.name].to_numpy(dtype=float)
    lo, hi = float(train[schema.label.name].min()), float(train[schema.label.name].max())
    span = max(hi - lo, abs(hi) * 1e-6, 1e-9)
    low = lo - spec["range_margin"] * span
    high = hi + spec["range_margin"] * span
    if schema.label.min is not None:
        low = max(low, float(schema.label.min))
    if schema.label.max is not None:
        high = min(high, float(schema.label.max))
    predictions = np.asarray(model.predict(features), dtype=float).reshape(-1)
    problems = []
    if predictions.shape[0] != len(features):
        problems.append(f"{predictions.shape[0]} predictions for {len(features)} rows")
    finite = np.isfinite(predictions)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        problems.append(
            f"{int((~finite).sum())} predictions are not finite (first at test row {bad})"
        )
    outside = finite & ((predictions < low) | (predictions > high))
    share = float(outside.mean()) if len(predictions) else 0.0
    if share > spec["max_out_of_range"]:
        first = int(np.flatnonzero(outside)[0])
        problems.append(
            f"{share:.1%} of predictions are outside the plausible range "
            f"[{low:.6g}, {high:.6g}] (first: {predictions[first]:.6g} at test row {first})"
        )
    stats: dict[str, Any] = {
        "rows": len(features),
        "plausible_range": [low, high],
        "out_of_range_share": share,
        "min": float(np.nanmin(predictions)) if finite.any() else None,
        "max": float(np.nanmax(predictions)) if finite.any() else None,
    }
    if finite.all() and len(predictions):
        stats["rmse"] = float(np.sqrt(np.mean((predictions - y_true) ** 2)))
    detail = "; ".join(problems) or (
        f"{len(features)} test rows: finite, within [{low:.6g}, {high:.6g}]"
    )
    return {"name": "predictions", "ok": not problems, "detail": detail}, stats


def check_latency(model, spec: dict, schema) -> tuple[dict, dict]:
    import numpy as np
    import pandas as pd

    test = pd.read_parquet(spec["test"]).head(64)[schema.feature_names]
    records = [test.iloc[[i]] for i in range(len(test))]
    for record in records[:5]:
        model.predict(record)
    timings = []
    for i in range(spec["latency_samples"]):
        record = records[i % len(records)]
        start = time.perf_counter()
        model.predict(record)
        timings.append((time.perf_counter() - start) * 1000.0)
    p50, p99 = (float(v) for v in np.percentile(timings, [50, 99]))
    budget = float(spec["latency_budget_ms"])
    ok = p99 <= budget
    stats = {
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "budget_ms": budget,
        "samples": len(timings),
    }
    detail = f"single-record p99 {p99:.2f} ms {'<=' if ok else '>'} budget {budget:g} ms"
    return {"name": "latency", "ok": ok, "detail": detail}, stats


def run(spec: dict) -> dict:
    started = time.perf_counter()
    import mlflow
    from mlflow.models import Model

    from mlops_core.schema import DatasetSchema

    schema = DatasetSchema.model_validate(spec["schema"])
    dest = Path(spec["model_dir"])
    import_s = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=spec["model_uri"], dst_path=str(dest), tracking_uri=spec["tracking_uri"]
        )
    except Exception as exc:
        return {"ok": False, "error_kind": "download", "error": f"{type(exc).__name__}: {exc}"}
    local_path = Path(local)
    size = sum(p.stat().st_size for p in local_path.rglob("*") if p.is_file())
    result: dict[str, Any] = {
        "model_dir": str(local_path),
        "artifact_size_bytes": size,
        "import_s": import_s,
        "download_s": round(time.perf_counter() - started, 3),
    }
    checks = []
    try:
        model_meta = Model.load(str(local_path))
        started = time.perf_counter()
        model = mlflow.pyfunc.load_model(str(local_path))
        result["load_s"] = round(time.perf_counter() - started, 3)
        checks.append({"name": "loads", "ok": True, "detail": "loads from its own files"})
    except Exception as exc:
        checks.append({"name": "loads", "ok": False, "detail": f"{type(exc).__name__}: {exc}"})
        result["checks"] = checks
        return result
    checks.append(check_signature(model_meta.signature, schema))
    try:
        started = time.perf_counter()
        check, stats = check_predictions(model, spec, schema)
        result["predictions"] = stats
        result["predict_s"] = round(time.perf_counter() - started, 3)
        checks.append(check)
        if check["ok"]:
            started = time.perf_counter()
            check, stats = check_latency(model, spec, schema)
            result["latency"] = stats
            result["latency_s"] = round(time.perf_counter() - started, 3)
            checks.append(check)
    except Exception as exc:
        checks.append(
            {
                "name": "predictions",
                "ok": False,
                "detail": f"predict failed: {type(exc).__name__}: {exc}",
            }
        )
    result["checks"] = checks
    return result


def preload() -> float:
    """The heavy imports, done while the caller is still preparing the spec (it starts this
    process early and writes the spec to stdin when the data is pulled)."""
    started = time.perf_counter()
    import mlflow.pyfunc  # noqa: F401
    import pandas  # noqa: F401

    with contextlib.suppress(ImportError):  # a model of another flavour has no sklearn
        import sklearn.pipeline  # noqa: F401
    return round(time.perf_counter() - started, 3)


def main() -> None:
    preload_s = preload()
    spec = json.load(sys.stdin)
    try:
        result = run(spec)
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "error_kind": "unexpected", "error": f"{type(exc).__name__}: {exc}"}
    result["preload_s"] = preload_s
    from mlops_core.contracts.deploy import CheckReport

    sys.stdout.write("\n" + CheckReport.model_validate(result).to_json() + "\n")


if __name__ == "__main__":
    main()
