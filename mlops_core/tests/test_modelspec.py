from pathlib import Path

import pytest

from mlops_core.errors import BadInput
from mlops_core.modelspec import default_models_dir, discover_models, validate_model_name
from mlops_core.settings import PlatformSettings

SCHEMA = "name: {name}\nlabel: {{name: y, dtype: float}}\nfeatures: [{{name: a, dtype: int}}]\n"


def make_models(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "schema.yaml").write_text(SCHEMA.format(name=name))
    return root


@pytest.mark.parametrize("name", ["house-price", "churn", "m1", "a" * 63])
def test_valid_model_names(name):
    assert validate_model_name(name) == name


@pytest.mark.parametrize("name", ["House", "-a", "a-", "a_b", "a.b", "", "a" * 64, "a b"])
def test_invalid_model_names_are_refused(name):
    with pytest.raises(BadInput, match="lower-case letters, digits and dashes"):
        validate_model_name(name)


def test_discovery_lists_folders_with_a_schema(tmp_path):
    root = make_models(tmp_path / "models", "b-model", "a-model")
    (root / "notes").mkdir()  # no schema.yaml: not a model
    (root / "README.md").write_text("x")
    assert [m.name for m in discover_models(root)] == ["a-model", "b-model"]


def test_one_model_is_the_default(tmp_path):
    settings = PlatformSettings(models_dir=make_models(tmp_path / "m", "only"), model=None)
    assert settings.model_folder().name == "only"
    assert settings.registered_model_for() == "only"


def test_several_models_and_none_chosen_names_them(tmp_path):
    settings = PlatformSettings(models_dir=make_models(tmp_path / "m", "a", "b"), model=None)
    with pytest.raises(BadInput, match=r"several models in .*: a, b; pass --model NAME"):
        settings.model_folder()
    assert settings.model_folder("b").name == "b"
    assert PlatformSettings(models_dir=settings.models_root, model="a").model_folder().name == "a"


def test_an_unknown_model_names_the_known_ones(tmp_path):
    settings = PlatformSettings(models_dir=make_models(tmp_path / "m", "a", "b"), model=None)
    with pytest.raises(BadInput, match=r"unknown model 'c' .*\(models: a, b\)"):
        settings.model_folder("c")


def test_no_models_folder_says_how_to_make_one(tmp_path):
    settings = PlatformSettings(models_dir=tmp_path / "absent", model=None)
    with pytest.raises(BadInput, match="MLOPS_MODELS_DIR"):
        settings.model_folder()
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="mlops models new"):
        PlatformSettings(models_dir=tmp_path / "empty", model=None).model_folder()


def test_a_schema_named_unlike_its_folder_is_refused(tmp_path):
    root = make_models(tmp_path / "m", "a")
    (root / "a" / "schema.yaml").write_text(SCHEMA.format(name="other"))
    with pytest.raises(BadInput, match="differs from its folder's name 'a'"):
        _ = discover_models(root)[0].schema


def test_the_default_models_folder_is_found_walking_up(tmp_path):
    root = make_models(tmp_path / "repo" / "models", "a")
    deep = tmp_path / "repo" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert default_models_dir(deep) == root.resolve()
