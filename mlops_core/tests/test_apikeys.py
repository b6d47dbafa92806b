"""The one reader of the prediction service's API keys (variable and file)."""

from __future__ import annotations

import pytest

from mlops_core.apikeys import ApiKeySettings, parse_keys
from mlops_core.errors import BadInput


@pytest.fixture(autouse=True)
def _no_key_settings(monkeypatch):
    for name in ("MLOPS_SERVE_API_KEYS", "MLOPS_SERVE_API_KEY_FILE", "MLOPS_SERVE_API_KEY_HEADER"):
        monkeypatch.delenv(name, raising=False)


def test_parse_keys_drops_blanks_comments_and_spaces():
    assert parse_keys(" a \n\n# old key\nb\n  #x\n") == ["a", "b"]
    assert parse_keys(" a, ,b ,", sep=",") == ["a", "b"]


def test_variable_then_file(monkeypatch, tmp_path):
    secret = tmp_path / "keys"
    secret.write_text("from-file-1\n# rotated out\nfrom-file-2\n")
    monkeypatch.setenv("MLOPS_SERVE_API_KEYS", "env-1, env-2")
    monkeypatch.setenv("MLOPS_SERVE_API_KEY_FILE", str(secret))
    settings = ApiKeySettings()
    assert settings.keys() == ["env-1", "env-2", "from-file-1", "from-file-2"]
    assert settings.headers() == {"X-API-Key": "env-1"}


def test_a_client_sends_the_file_key_under_the_configured_header(monkeypatch, tmp_path):
    secret = tmp_path / "keys"
    secret.write_text("only-key\n")
    monkeypatch.setenv("MLOPS_SERVE_API_KEY_FILE", str(secret))
    monkeypatch.setenv("MLOPS_SERVE_API_KEY_HEADER", "X-Admin-Key")
    assert ApiKeySettings().headers() == {"X-Admin-Key": "only-key"}


def test_no_keys_no_header():
    assert ApiKeySettings().keys() == []
    assert ApiKeySettings().headers() == {}


def test_an_unreadable_file_is_bad_input_naming_it(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-secret"
    monkeypatch.setenv("MLOPS_SERVE_API_KEY_FILE", str(missing))
    with pytest.raises(BadInput, match="no-such-secret"):
        ApiKeySettings().keys()
