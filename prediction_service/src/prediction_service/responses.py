"""Success responses, serialised with orjson (numpy values included); the version that
answered goes to the X-Model-Version header, its role to X-Model-Role
(middleware.RequestContext)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from prediction_service.errors import JSON
from prediction_service.model import LoadedModel


def respond(
    request: Request,
    payload: dict[str, Any],
    model: LoadedModel | None,
    status: int = 200,
    role: str | None = None,
) -> Response:
    """`model`: the one that answered (None: the answer names no single model); `role`:
    its role (X-Model-Role), when not the served role (a canary)."""
    if model is not None:
        request.scope["model_version"] = model.version
        request.scope["model_name"] = model.name
        if role is not None:
            request.scope["model_role"] = role
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=JSON,
    )
