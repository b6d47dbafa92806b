"""API-key auth as a FastAPI security dependency (`APIKeyHeader`): the keys come from
mlops_core.apikeys; keys are compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Security
from fastapi.security import APIKeyHeader

from prediction_service.errors import ApiError

NO_KEYS = (
    "admin endpoints need an API key; none is configured "
    "(set MLOPS_SERVE_API_KEYS or MLOPS_SERVE_API_KEY_FILE)"
)


class ApiKeyAuth:
    """The configured keys, the header that carries them, and the dependencies that check it."""

    def __init__(self, keys: list[str], header: str, require: bool) -> None:
        self.keys = [k.encode() for k in keys]
        self.header = header
        # With keys configured, every /v1 endpoint but health needs one, unless `require`
        # is off: then only admin endpoints do.
        self.required = bool(keys) and require
        self.scheme = APIKeyHeader(name=header, scheme_name="ApiKey", auto_error=False)

    def check(self, given: str | None, admin: bool) -> None:
        if not self.keys:
            if admin:
                raise ApiError(403, NO_KEYS)
            return
        if given is None:
            raise ApiError(
                401,
                f"missing API key (header {self.header})",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        raw = given.encode("latin-1")  # the header's bytes, as Starlette decoded them
        if not any(hmac.compare_digest(raw, k) for k in self.keys):
            raise ApiError(403, "invalid API key")

    def dependency(self, *, admin: bool = False) -> Callable[..., Awaitable[None]]:
        """A dependency for a router's `dependencies=[Security(...)]`: it also puts the
        scheme into the OpenAPI document of the operations it guards."""

        async def api_key(key: str | None = Security(self.scheme)) -> None:
            self.check(key, admin)

        return api_key
