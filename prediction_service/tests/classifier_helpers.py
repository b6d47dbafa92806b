"""A small classification model of the tests' own: its model folder (schema.yaml with a
classification label), rows drawn from a known logistic rule, and schema-built scikit-learn
pipelines fitted on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mlops_core.schema import DatasetSchema, load_schema


def schema_dict(name: str, classes: tuple[str, ...] = ("yes", "no")) -> dict:
    return {
        "name": name,
        "task": "classification",
        "description": "Customers who cancel, from their tenure, bill and contract.",
        "label": {
            "name": "churned",
            "dtype": "category",
            "categories": list(classes),
            "description": "Whether the customer left.",
        },
        "features": [
            {"name": "tenure", "dtype": "int", "min": 0, "max": 72, "description": "Months."},
            {"name": "monthly", "dtype": "float", "min": 0, "max": 200, "description": "Bill."},
            {
                "name": "contract",
                "dtype": "category",
                "categories": ["month", "year", "two-year"],
                "description": "Contract length.",
            },
        ],
    }


def write_folder(models_dir: Path, name: str, classes: tuple[str, ...] = ("yes", "no")) -> Path:
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.yaml").write_text(yaml.safe_dump(schema_dict(name, classes), sort_keys=False))
    return folder


def schema_of(name: str = "churn", classes: tuple[str, ...] = ("yes", "no")) -> DatasetSchema:
    return DatasetSchema.model_validate(schema_dict(name, classes))


def load(folder: Path) -> DatasetSchema:
    return load_schema(folder / "schema.yaml")


def frame(schema: DatasetSchema, n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, n)
    monthly = rng.uniform(10, 150, n).round(2)
    contract = rng.choice(["month", "year", "two-year"], n, p=[0.5, 0.3, 0.2])
    score = 1.5 - 0.06 * tenure + 0.015 * monthly - 1.2 * (contract != "month")
    classes = schema.classes
    if len(classes) == 2:
        p = 1 / (1 + np.exp(-score))
        y = np.where(rng.random(n) < p, classes[0], classes[1])
    else:
        cut = np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1])
        y = np.array(classes)[np.searchsorted(cut, score + rng.normal(0, 0.5, n))]
    X = pd.DataFrame({"tenure": tenure, "monthly": monthly, "contract": contract})
    return X, pd.Series(y, name=schema.label.name)


def pipeline(schema: DatasetSchema, estimator):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    prep = ColumnTransformer(
        [
            ("num", numeric, schema.numeric_features),
            ("cat", categorical, schema.categorical_features),
        ]
    )
    return Pipeline([("prep", prep), ("clf", estimator)])


def register(tracking_uri: str, schema: DatasetSchema, estimator, rows: int = 600) -> tuple:
    """Fit the pipeline on `rows` rows and register it as `schema.name` (real MLflow:
    mlflow.sklearn.log_model with registered_model_name), alias champion; (version, pipe)."""
    import mlflow
    import skops.io as sio
    from mlflow import MlflowClient

    X, y = frame(schema, rows, seed=1)
    pipe = pipeline(schema, estimator).fit(X, y)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{schema.name}-tests")
    with mlflow.start_run():
        mlflow.set_tag("data_version", "data-v1")
        info = mlflow.sklearn.log_model(
            pipe,
            name="model",
            registered_model_name=schema.name,
            serialization_format="skops",
            skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(pipe)),
        )
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.set_registered_model_alias(schema.name, "champion", version)
    client.set_model_version_tag(schema.name, version, "data_version", "data-v1")
    return version, pipe
