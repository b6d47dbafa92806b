"""Typed dependencies of the routes. They are `async` on purpose: FastAPI runs a plain
`def` dependency in the thread pool, which would cost every request a thread hop."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from prediction_service.model import LoadedModel
from prediction_service.service import Service


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_model(request: Request) -> LoadedModel:
    """The model this request runs on, whatever swaps meanwhile."""
    return request.app.state.service.manager.current


ModelDep = Annotated[LoadedModel, Depends(get_model)]
