"""Registered models and their logged traffic for the monitoring tests, built with the real
stores: a model folder, a data version published to the data registry (git + DVC), a
scikit-learn pipeline logged with mlflow.sklearn.log_model on the session's MLflow server
(alias champion, lineage tags, test metrics), and prediction-log rows.

Classification traffic: `predicted_class`, `probabilities` ({class: p}) and feedback
`label_class`, as the prediction service logs them. Until the prediction log's own write
functions hold those columns (the serving stage's migration 0002), the rows are written
into tables of that agreed shape here; once they do, through predlog.write_rows.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
import yaml

from mlops_core import predlog
from mlops_core.schema import DatasetSchema, load_schema

CLASSES = ("no", "yes")
MULTI = ("basic", "plus", "pro")


def classifier_folder(models_dir: Path, name: str, classes=CLASSES, min_rows=100) -> Path:
    """A classification model folder: a label with `classes`, three features, and a
    monitor.yaml from the template (fewer rows needed: small test windows)."""
    folder = models_dir / name
    folder.mkdir(parents=True)
    schema = {
        "name": name,
        "task": "classification",
        "description": "Synthetic customers who churn or stay.",
        "label": {"name": "churned", "dtype": "category", "categories": list(classes)},
        "features": [
            {"name": "tenure", "dtype": "float", "min": 0, "max": 200},
            {"name": "monthly", "dtype": "float", "min": 0, "max": 1000},
            {"name": "plan", "dtype": "category", "categories": ["annual", "monthly"]},
        ],
    }
    (folder / "schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    template = Path(__file__).resolve().parents[2] / "mlops_core/src/mlops_core/templates"
    text = (template / "monitor.yaml").read_text()
    (folder / "monitor.yaml").write_text(text.replace("min_rows: 200", f"min_rows: {min_rows}"))
    return folder


def customers(schema: DatasetSchema, rows: int, seed: int, *, shift: float = 0.0):
    """Rows whose class follows the features (a logistic model learns it well); `shift`
    moves tenure down (more churn: the predicted class distribution moves)."""
    rng = np.random.default_rng(seed)
    tenure = np.clip(rng.gamma(2.0, 15.0, rows) - shift, 0, 200)
    monthly = np.clip(rng.normal(70, 20, rows), 0, 1000)
    plan = np.where(rng.random(rows) < 0.4, "annual", "monthly")
    score = 1.5 - 0.08 * tenure + 0.02 * (monthly - 70) + np.where(plan == "monthly", 0.8, -0.8)
    classes = schema.classes
    if len(classes) == 2:
        p_yes = 1 / (1 + np.exp(-score))
        label = np.where(rng.random(rows) < p_yes, classes[1], classes[0])
    else:
        cuts = np.quantile(score, [1 / 3, 2 / 3])
        noisy = score + rng.normal(0, 0.3, rows)
        label = np.array(classes, dtype=object)[np.digitize(noisy, cuts)]
    return pd.DataFrame(
        {"tenure": tenure.round(1), "monthly": monthly.round(2), "plan": plan,
         schema.label.name: label}
    )  # fmt: skip


@dataclass
class Registered:
    name: str
    version: str
    data_version: str
    schema: DatasetSchema
    estimator: object
    metrics: dict[str, float]


def register(
    settings, folder: Path, tracking_uri: str, *, rows: int = 1200, seed: int = 1,
    alias: str | None = "champion", signed: bool = False,
):  # fmt: skip
    """Publish a data version of the folder's model, fit and log its pipeline (regression:
    the house-price-like synthetic rows; classification: `customers`), with `alias` (None:
    none, e.g. for `mlops promote` to set); `signed`: with the signature `mlops promote`
    checks."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from model_monitoring.performance import classification_metrics, regression_metrics
    from model_monitoring.sources import data_registry

    schema = load_schema(folder / "schema.yaml")
    name = schema.name
    if schema.is_classification:
        frame = customers(schema, rows, seed)
    else:
        from mlops_core.synthetic import generate

        frame = generate(schema, rows, seed=seed)
    a, b = int(rows * 0.7), int(rows * 0.85)
    splits = {"train": frame.iloc[:a], "val": frame.iloc[a:b], "test": frame.iloc[b:]}
    registry = data_registry(settings, name)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for split, part in splits.items():
            paths[split] = Path(tmp, f"{split}.parquet")
            part.to_parquet(paths[split], index=False)
        published = registry.publish(paths, {"schema": schema.as_dict(), "source": "test"})
    data_version = published.tag

    pre = ColumnTransformer(
        [("num", StandardScaler(), schema.numeric_features),
         ("cat", OneHotEncoder(handle_unknown="ignore"), schema.categorical_features)]
    )  # fmt: skip
    head = LogisticRegression(max_iter=500) if schema.is_classification else Ridge()
    model = Pipeline([("pre", pre), ("model", head)])
    train, test = splits["train"], splits["test"]
    model.fit(train[schema.feature_names], train[schema.label.name])
    if schema.is_classification:
        proba = pd.DataFrame(
            model.predict_proba(test[schema.feature_names]), columns=list(model.classes_)
        )
        scores, _ = classification_metrics(
            test[schema.label.name].tolist(),
            list(model.predict(test[schema.feature_names])),
            schema.classes,
            proba,
        )
    else:
        scores = regression_metrics(
            test[schema.label.name].to_numpy(float), model.predict(test[schema.feature_names])
        )
    metrics = {f"test_{k}": float(v) for k, v in scores.items() if v is not None}

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(f"{name}-training")
    signature = None
    if signed:
        import warnings

        from mlflow.models import infer_signature

        with warnings.catch_warnings():  # MLflow's hint about integer columns
            warnings.simplefilter("ignore", UserWarning)
            features = train[schema.feature_names]
            signature = infer_signature(features, model.predict(features))
    with mlflow.start_run() as run:
        mlflow.set_tag("data_version", data_version)
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name,
            serialization_format="cloudpickle", pip_requirements=["scikit-learn"],
            input_example=train[schema.feature_names].head(3), signature=signature,
        )  # fmt: skip
    client = MlflowClient(tracking_uri)
    version = str(info.registered_model_version)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    assert run.info.run_id
    return Registered(name, version, data_version, schema, model, metrics)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# -- the prediction log --------------------------------------------------------------------
def _tables() -> tuple[sa.MetaData, sa.Table, sa.Table]:
    """predlog's tables when they hold the classification columns; else tables of the
    agreed shape (migration 0002: prediction nullable, predicted_class, probabilities,
    role; feedback label nullable, label_class)."""
    if "predicted_class" in predlog.predictions.c:
        return predlog.metadata, predlog.predictions, predlog.feedback
    meta = sa.MetaData()
    predictions = sa.Table(
        "predictions",
        meta,
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("prediction", sa.Float, nullable=True),
        sa.Column("predicted_class", sa.String(255), nullable=True),
        sa.Column("probabilities", sa.JSON, nullable=True),
        sa.Column("role", sa.String(16), nullable=False, server_default="champion"),
        sa.Column("latency_ms", sa.Float, nullable=False),
    )
    feedback = sa.Table(
        "feedback",
        meta,
        sa.Column("request_id", sa.String(64), sa.ForeignKey("predictions.request_id"),
                  primary_key=True),
        sa.Column("label", sa.Float, nullable=True),
        sa.Column("label_class", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    return meta, predictions, feedback


def log_traffic(
    url: str,
    reg: Registered,
    frame: pd.DataFrame,
    *,
    labels: list | None = None,
    start: datetime | None = None,
    role: str = "champion",
) -> list[str]:
    """Predict `frame` with the registered pipeline (one batch) and log one row per
    prediction, then feedback `labels` (None: none; a list aligned with the rows)."""
    schema = reg.schema
    features = frame[schema.feature_names]
    records = json.loads(features.to_json(orient="records"))
    start = start or datetime.now(UTC)
    ids = [f"{reg.name}-{uuid.uuid4().hex[:12]}" for _ in records]
    rows = []
    if schema.is_classification:
        predicted = list(reg.estimator.predict(features))
        proba = reg.estimator.predict_proba(features)
        classes = list(reg.estimator.classes_)
    else:
        values = reg.estimator.predict(features)
    for i, record in enumerate(records):
        row = {"request_id": ids[i], "created_at": start + timedelta(microseconds=i),
               "model_name": reg.name, "model_version": reg.version, "features": record,
               "latency_ms": 1.0}  # fmt: skip
        if schema.is_classification:
            row.update(
                prediction=None,
                predicted_class=str(predicted[i]),
                probabilities={c: float(p) for c, p in zip(classes, proba[i], strict=True)},
                role=role,
            )
        else:
            row.update(prediction=float(values[i]))
            if "predicted_class" in predlog.predictions.c:
                row.update(predicted_class=None, probabilities=None, role=role)
        rows.append(row)
    feedback = []
    for request_id, label in zip(ids, labels or [], strict=False):
        entry = {"request_id": request_id, "created_at": datetime.now(UTC)}
        if schema.is_classification:
            entry.update(label=None, label_class=str(label))
        else:
            entry.update(label=float(label))
        feedback.append(entry)
    engine = predlog.create_engine(url)
    meta, predictions, feedback_table = _tables()
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            if meta is predlog.metadata:
                predlog.write_rows(conn, rows, feedback)
            else:
                if schema.is_classification or "role" in predictions.c:
                    rows = [{"role": role, "predicted_class": None, "probabilities": None,
                             **r} for r in rows]  # fmt: skip
                conn.execute(predictions.insert(), rows)
                if feedback:
                    feedback = [{"label": None, "label_class": None, **f} for f in feedback]
                    conn.execute(feedback_table.insert(), feedback)
    finally:
        engine.dispose()
    return ids
