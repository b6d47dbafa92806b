"""Which models `mlops serve` serves: each --model value (a model name, a models:/ URI, a
version or alias of the default model, NAME=FOLDER), the GitOps pin of a name, and the bad
inputs, each named (no registry needed for these)."""

from __future__ import annotations

import classifier_helpers as ch
import pytest

from mlops_core.errors import BadInput
from mlops_core.settings import PlatformSettings
from prediction_service.runtime import resolve_models
from prediction_service.settings import ServeSettings


@pytest.fixture
def platform(tmp_path, make_model_folder, monkeypatch):
    for name in ("MLOPS_MODEL", "MLOPS_SERVE_MODEL", "MLOPS_SERVE_GITOPS_ENV"):
        monkeypatch.delenv(name, raising=False)
    models = tmp_path / "models"
    make_model_folder(models, "house-price")
    ch.write_folder(models, "churn")
    return PlatformSettings(home=tmp_path / "home", models_dir=models, model=None)


def _specs(platform, refs, **settings):
    return [(f.name, s) for f, s in resolve_models(platform, ServeSettings(**settings), refs)]


def test_names_and_uris(platform):
    (name, spec), (other, pinned) = _specs(platform, ["house-price", "models:/churn/3"])
    assert (name, spec.name, spec.version, spec.alias) == ("house-price", "house-price", None, None)
    assert spec.follows_alias  # its champion (else challenger)
    assert (other, pinned.version) == ("churn", "3")
    assert _specs(platform, "churn,models:/house-price@canary")[1][1].alias == "canary"
    assert _specs(platform, None, model="churn")[0][0] == "churn"  # MLOPS_SERVE_MODEL


def test_a_name_serves_the_version_its_gitops_file_pins(platform, tmp_path):
    folder = tmp_path / "gitops" / "envs" / "staging" / "models"
    folder.mkdir(parents=True)
    (folder / "churn.yaml").write_text(
        'model:\n  name: churn\n  version: "7"\n  dataVersion: data-v2\n'
    )
    settings = {"gitops_env": "staging", "gitops_root": tmp_path}
    [(name, spec)] = _specs(platform, ["churn"], **settings)
    assert (name, spec.version, spec.raw) == ("churn", "7", "models:/churn/7")
    # No file for house-price in that environment: its champion.
    [(_, spec)] = _specs(platform, ["house-price"], **settings)
    assert spec.version is None and spec.follows_alias


def test_a_local_folder_is_named_for_its_model(platform, tmp_path):
    folder = tmp_path / "downloaded"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    [(name, spec)] = _specs(platform, [f"churn={folder}"])
    assert (name, spec.name, spec.path) == ("churn", "churn", folder.resolve())
    with pytest.raises(BadInput, match="which model\\? several models"):
        _specs(platform, [str(folder)])
    single = platform.model_copy(update={"model": "house-price"})
    [(name, spec)] = _specs(single, [str(folder)])
    assert (name, spec.path) == ("house-price", folder.resolve())


def test_bad_inputs_are_named(platform):
    with pytest.raises(BadInput, match=r"unknown model 'nope' .*models: churn, house-price"):
        _specs(platform, ["models:/nope/1"])
    with pytest.raises(BadInput, match="'churn' is given twice"):
        _specs(platform, ["churn", "models:/churn/2"])
    with pytest.raises(BadInput, match="which model\\?"):
        _specs(platform, ["3"])  # a version, but of which model?
    with pytest.raises(BadInput, match="models:/<name>/<version>"):
        _specs(platform, ["models:/only-a-name"])
    # A version of the default model (MLOPS_MODEL).
    single = platform.model_copy(update={"model": "churn"})
    [(name, spec)] = _specs(single, ["3"])
    assert (name, spec.version) == ("churn", "3")
