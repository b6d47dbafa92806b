"""Helpers of the training stage's tests: real classification data as a model folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# ------------------------------------------------------------------ real classification data


def breast_cancer_frame() -> pd.DataFrame:
    """scikit-learn's breast cancer table (569 rows, 30 numeric features), read from the
    CSV scikit-learn ships in its wheel (no download); the label `diagnosis` as the strings
    "malignant" / "benign"."""
    import re

    import numpy as np
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [re.sub(r"\W+", "_", n.strip()) for n in data.feature_names]
    frame = pd.DataFrame(data.data, columns=names)
    return frame.assign(diagnosis=np.asarray(data.target_names)[data.target])


def breast_cancer_schema(frame: pd.DataFrame, name: str = "breast-cancer") -> dict:
    """A classification schema for the table (written as a model folder would hold it)."""
    features = [c for c in frame.columns if c != "diagnosis"]
    return {
        "name": name,
        "task": "classification",
        "description": "Breast tumours (Wisconsin diagnostic): malignant or benign.",
        "label": {"name": "diagnosis", "dtype": "category", "categories": ["malignant", "benign"]},
        "features": [{"name": c, "dtype": "float", "min": 0} for c in features],
    }


def write_model_folder(root: Path, schema: dict, train_yaml: str) -> Path:
    import yaml

    folder = root / schema["name"]
    folder.mkdir(parents=True)
    (folder / "schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    (folder / "train.yaml").write_text(train_yaml)
    return folder


def classification_template() -> str:
    from importlib import resources

    return (
        resources.files("mlops_core").joinpath("templates", "train-classification.yaml").read_text()
    )


def split_frame(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """70/15/15 in row order, like a data version's splits."""
    n = len(frame)
    a, b = int(n * 0.7), int(n * 0.85)
    return {
        "train": frame.iloc[:a].reset_index(drop=True),
        "val": frame.iloc[a:b].reset_index(drop=True),
        "test": frame.iloc[b:].reset_index(drop=True),
    }
