"""The model registry side of a training: score the champion, tag the new version, alias it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops_core.contracts import Alias, Tag
from mlops_core.mlflow_utils import find_alias, load_model
from mlops_core.mlflow_utils.quiet import quiet_warnings
from mlops_core.schema import DatasetSchema
from model_training.core import evaluate, metrics, xy
from model_training.gate import Champion, GateDecision

# MLflow's limit on a tag value is 8000 characters; a reason is a summary, not a log.
MAX_REASON = 5000


def score_champion(
    model_name: str, test: pd.DataFrame, schema: DatasetSchema, tracking_uri: str
) -> Champion | None:
    """The current champion scored on the new data version's test split (None: no champion)."""
    ref = find_alias(model_name, Alias.CHAMPION, tracking_uri)
    if ref is None:
        return None
    x, y = xy(test, schema)
    try:
        with quiet_warnings():
            if schema.is_classification:
                # The sklearn flavour: probabilities (roc_auc, log_loss, brier) need it.
                model = load_model(ref, "sklearn")
                return Champion(ref.version, evaluate(model, x, y, schema))
            model = load_model(ref)
            predicted = np.asarray(model.predict(x), dtype=float).ravel()
        return Champion(ref.version, metrics(y, predicted))
    except Exception as exc:  # a champion that cannot score the new data must not pass
        message = " ".join(str(exc).split())[:300]
        return Champion(ref.version, None, f"{type(exc).__name__}: {message}")


def record_decision(
    client: Any,
    model_name: str,
    version: str,
    decision: GateDecision,
    tags: dict[str, str],
) -> None:
    """Tag the new version with its lineage and the gate's decision; alias it when it passed."""
    for key, value in {
        **tags,
        Tag.VALIDATION_STATUS: decision.status,
        Tag.VALIDATION_REASON: decision.reason[:MAX_REASON],
    }.items():
        client.set_model_version_tag(model_name, version, str(key), value)
    if decision.passed:
        client.set_registered_model_alias(model_name, Alias.CHALLENGER.value, version)
