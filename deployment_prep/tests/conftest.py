"""Fixtures of the deployment-prep tests: registered model versions in the session's MLflow
server, their data version's splits, and real git repositories (a bare remote + a clone)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from deploy_helpers import DATA_VERSION, git, house_schema


@pytest.fixture(autouse=True)
def _quick_checks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer latency samples and a generous budget: the tests share two busy cores."""
    if "mlops_home" in request.fixturenames:
        request.getfixturevalue("mlops_home")  # it clears MLOPS_*: set ours after it
    monkeypatch.setenv("MLOPS_PROMOTE_LATENCY_SAMPLES", "30")
    monkeypatch.setenv("MLOPS_PROMOTE_LATENCY_BUDGET_MS", "5000")
    monkeypatch.setenv("MLOPS_PROMOTE_CHECK_ROWS", "200")


@pytest.fixture(scope="session")
def split_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train/val/test Parquet files of one synthetic data version."""
    from mlops_core.synthetic import generate

    schema = house_schema()
    frame = generate(schema, 1500, seed=7)
    folder = tmp_path_factory.mktemp("splits")
    parts = {"train": frame.iloc[:1000], "val": frame.iloc[1000:1200], "test": frame.iloc[1200:]}
    paths = {}
    for split, part in parts.items():
        paths[split] = folder / f"{split}.parquet"
        part.reset_index(drop=True).to_parquet(paths[split])
    return paths


@pytest.fixture
def data_registry(mlops, mlops_home) -> str:
    """A real data registry under the test's MLOPS_HOME holding DATA_VERSION: what the
    deployable checks of a version registered by `register` read its test rows from."""
    result = mlops("ingest", "--synthetic", "1500", "--seed", "7", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["data_version"] == DATA_VERSION
    return DATA_VERSION


@pytest.fixture
def register(tracking_uri: str, unique_model_name: str, split_files) -> Callable[..., str]:
    """register(kind="good"|"huge"|"narrow", alias=..., tags=...) -> new version number."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeRegressor

    schema = house_schema()
    train = pd.read_parquet(split_files["train"])
    client = MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{unique_model_name}-training")

    def make(
        kind: str = "good",
        alias: str | None = "challenger",
        data_version: str | None = DATA_VERSION,
        tags: dict | None = None,
    ) -> str:
        features = list(schema.feature_names)
        if kind == "narrow":
            features = features[:-1]
        y = train[schema.label.name] * (1000 if kind == "huge" else 1)
        categorical = [f for f in features if f in schema.categorical_features]
        pipe = Pipeline(
            [
                (
                    "prep",
                    ColumnTransformer(
                        [("cat", OneHotEncoder(handle_unknown="ignore"), categorical)],
                        remainder="passthrough",
                    ),
                ),
                ("model", DecisionTreeRegressor(max_depth=6, random_state=0)),
            ]
        )
        pipe.fit(train[features], y)
        with warnings.catch_warnings():  # MLflow's hint about integer columns
            warnings.simplefilter("ignore", UserWarning)
            signature = infer_signature(train[features], pipe.predict(train[features]))
        with mlflow.start_run() as run:
            if data_version:
                mlflow.set_tag("data_version", data_version)
            mlflow.log_metrics({"test_rmse": 123.0, "test_r2": 0.8, "val_rmse": 120.0})
            info = mlflow.sklearn.log_model(
                pipe,
                name="model",
                signature=signature,
                input_example=train[features].head(2),
                pip_requirements=["scikit-learn", "pandas", "numpy"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
                registered_model_name=unique_model_name,
            )
        version = str(info.registered_model_version)
        for key, value in {
            **({"data_version": data_version} if data_version else {}),
            "validation_status": "passed",
            **(tags or {}),
        }.items():
            client.set_model_version_tag(unique_model_name, version, key, value)
        if alias:
            client.set_registered_model_alias(unique_model_name, alias, version)
        assert run.info.run_id
        return version

    return make


@pytest.fixture
def client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare GitOps remote holding a seeded gitops/ tree on main."""
    bare = tmp_path / "gitops-remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    (seed / "gitops" / "envs" / "kind").mkdir(parents=True)
    (seed / "gitops" / "README.md").write_text("GitOps tree\n")
    git(seed, "checkout", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", "origin", "main")
    shutil.rmtree(seed)
    return bare


@pytest.fixture
def clone(tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch, mlops_home) -> Path:
    """A working clone of the remote, configured as the GitOps repository."""
    path = tmp_path / "gitops-checkout"
    git(tmp_path, "clone", "-q", str(remote), str(path))
    monkeypatch.setenv("MLOPS_PROMOTE_GITOPS_REPO", str(path))
    return path
