"""The prediction service's API keys: the one reader of MLOPS_SERVE_API_KEYS and
MLOPS_SERVE_API_KEY_FILE, for the service that checks them and for a client (promote's
reload call, the whole-loop runner) that sends one.

    keys = ApiKeySettings().keys()           # every configured key (the service)
    headers = ApiKeySettings().headers()     # {"X-API-Key": first key}, or {} (a client)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from mlops_core.errors import BadInput
from mlops_core.settings import StageSettings

DEFAULT_HEADER = "X-API-Key"


def parse_keys(text: str, *, sep: str | None = None) -> list[str]:
    """Keys in a text: one a line (a file), or separated by `sep` (a variable); blank
    entries and `#` comments are dropped, surrounding spaces trimmed."""
    parts = text.split(sep) if sep else text.splitlines()
    return [p.strip() for p in parts if p.strip() and not p.strip().startswith("#")]


class ApiKeySettings(StageSettings):
    """The key settings of the prediction service (MLOPS_SERVE_*), read when a command starts."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_SERVE_")

    api_keys: SecretStr | None = Field(
        default=None, description="Comma-separated API keys; never logged."
    )
    api_key_file: Path | None = Field(
        default=None,
        description="File with API keys, one a line (a mounted Kubernetes secret).",
    )
    api_key_header: str = Field(default=DEFAULT_HEADER, description="Header that carries the key.")

    def keys(self) -> list[str]:
        """Every configured key: the variable's, then the file's. An unreadable file is
        bad input naming it (a service must not start without the keys it was given)."""
        keys: list[str] = []
        if self.api_keys is not None:
            keys += parse_keys(self.api_keys.get_secret_value(), sep=",")
        if self.api_key_file is not None:
            try:
                text = Path(self.api_key_file).read_text()
            except OSError as exc:
                raise BadInput(
                    f"API key file {self.api_key_file}: cannot be read ({exc.strerror})"
                ) from exc
            keys += parse_keys(text)
        return keys

    def headers(self) -> dict[str, str]:
        """The request header of a client: the first key, or {} when none is configured."""
        keys = self.keys()
        return {self.api_key_header: keys[0]} if keys else {}
