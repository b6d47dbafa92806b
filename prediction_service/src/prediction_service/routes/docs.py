"""GET / (a link to the documentation)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> HTMLResponse:
    return HTMLResponse('<a href="/docs">API documentation</a>')
