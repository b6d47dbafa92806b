"""`mlops models list`: every model folder with its task, data, aliases and promotions."""

from __future__ import annotations

from deployment_prep.listing import list_models
from mlops_core import gitops_layout


def test_models_mlflow_has_never_seen_show_none(
    mlops, tracking_uri, mlops_home, make_model_folder, tmp_path
):
    make_model_folder(tmp_path / "models", "churn-like")
    result = mlops("models", "list", "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json
    assert out["tracking_uri"] == tracking_uri and out["gitops_repo"] is None
    assert [m["name"] for m in out["models"]] == ["churn-like", "house-price"]
    for m in out["models"]:
        assert m["task"] == "regression"
        assert m["registered"] is False
        assert m["champion"] is None and m["challenger"] is None
        assert m["latest_data_version"] is None
        assert m["promoted"] == {} and m["pins"] == {}
        assert m["error"] is None
    human = mlops("models", "list")
    assert human.exit_code == 0, human.stderr
    assert "churn-like" in human.stdout and "not registered in MLflow yet" in human.stdout
    # --model: that model only (what the rollout DAG asks); an unknown one names the known
    one = mlops("models", "list", "--model", "churn-like", "--json")
    assert one.exit_code == 0, one.stderr
    assert [m["name"] for m in one.json["models"]] == ["churn-like"]
    unknown = mlops("models", "list", "--model", "nope", "--json")
    assert unknown.exit_code == 2 and "house-price" in unknown.json["error"]


def test_pins_are_read_from_the_gitops_files_of_every_environment(
    tracking_uri, mlops_home, make_model_folder, tmp_path
):
    """The home's GitOps checkout: one file per model per env; a file of the old
    single-model layout still counts for the model it names until it is migrated."""
    make_model_folder(tmp_path / "models", "churn-like")
    root = mlops_home / "gitops"
    for env, name, version in (
        ("kind", "house-price", "3"),
        ("prod", "house-price", "2"),
        ("kind", "churn-like", ""),
    ):
        path = root / gitops_layout.model_values_path(env, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(gitops_layout.render_model_values(name, version, "data-v1"))
    legacy = root / gitops_layout.legacy_values_path("staging")
    legacy.parent.mkdir(parents=True)
    legacy.write_text(gitops_layout.render_model_values("churn-like", "5", "data-v4"))
    result = list_models()
    by_name = {m.name: m for m in result.models}
    assert by_name["house-price"].promoted == {"kind": "3", "prod": "2"}
    assert by_name["house-price"].pins["kind"].file == "gitops/envs/kind/models/house-price.yaml"
    churn = by_name["churn-like"]
    assert churn.promoted == {"staging": "5"}  # kind's file pins no version
    assert churn.pins["kind"].version is None
    assert churn.pins["staging"].file == "gitops/envs/staging/model-values.yaml"
    assert result.gitops_repo == str(root)


def test_a_bad_gitops_file_is_named_on_its_model_only(
    tracking_uri, mlops_home, make_model_folder, tmp_path
):
    make_model_folder(tmp_path / "models", "churn-like")
    path = mlops_home / "gitops" / gitops_layout.model_values_path("kind", "churn-like")
    path.parent.mkdir(parents=True)
    path.write_text(gitops_layout.render_model_values("house-price", "1", None))
    by_name = {m.name: m for m in list_models().models}
    assert "pins model 'house-price'" in by_name["churn-like"].error
    assert by_name["house-price"].error is None


def test_an_unreachable_tracking_server_is_exit_5(mlops, mlops_home, monkeypatch):
    from mlops_core.services import free_port

    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    result = mlops("models", "list", "--json")
    assert result.exit_code == 5
    assert "not reachable" in result.json["error"]


def test_a_missing_or_bad_models_folder_is_bad_input(mlops, mlops_home, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "nowhere"))
    missing = mlops("models", "list", "--json")
    assert missing.exit_code == 2 and "nowhere" in missing.json["error"]

    bad = tmp_path / "bad-models" / "Bad_Name"
    bad.mkdir(parents=True)
    (bad / "schema.yaml").write_text("name: Bad_Name\n")
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(tmp_path / "bad-models"))
    named = mlops("models", "list", "--json")
    assert named.exit_code == 2 and "Bad_Name" in named.json["error"]
