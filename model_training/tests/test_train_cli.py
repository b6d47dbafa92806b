"""`mlops train` end to end: bad input refused before anything is tracked or registered."""

from __future__ import annotations

from pathlib import Path

CONFIGS = Path(__file__).parent / "configs"


def nothing_tracked(tracking_uri: str, model_name: str) -> bool:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    models = client.search_registered_models(f"name = '{model_name}'")
    experiment = client.get_experiment_by_name(f"{model_name}-training")
    return not models and experiment is None


def one_line_error(result) -> str:
    error = result.json["error"]
    assert "\n" not in error
    assert "Traceback" not in result.stderr
    return error


def test_help_has_an_example(mlops):
    result = mlops("train", "--help")
    assert result.exit_code == 0
    assert "Example: mlops train" in result.stdout


def test_unknown_regressor_is_refused_before_anything_is_registered(
    mlops, tracking_uri, unique_model_name, tmp_path
):
    config = tmp_path / "bad.yaml"
    config.write_text("candidates: [{name: x, regressor: MagicForest}]\n")
    result = mlops("train", "--config", config, "--json")
    assert result.exit_code == 2
    error = one_line_error(result)
    assert str(config) in error and "unknown regressor 'MagicForest'" in error
    assert nothing_tracked(tracking_uri, unique_model_name)


def test_invalid_parameter_from_the_environment_config(
    mlops, tracking_uri, unique_model_name, tmp_path, monkeypatch
):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "candidates: [{name: rf, regressor: RandomForestRegressor,"
        " search: {n_estimators: [10, -1]}}]\n"
    )
    monkeypatch.setenv("MLOPS_TRAIN_CONFIG", str(config))
    result = mlops("train", "--json")
    assert result.exit_code == 2
    error = one_line_error(result)
    assert "candidates.0 (rf)" in error and "n_estimators" in error
    assert nothing_tracked(tracking_uri, unique_model_name)


def test_unreachable_tracking_server(mlops, mlops_home, monkeypatch):
    from mlops_core.services import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", uri)
    result = mlops("train", "--config", CONFIGS / "fast.yaml", "--json")
    assert result.exit_code == 5
    error = one_line_error(result)
    assert uri in error and "not reachable" in error
