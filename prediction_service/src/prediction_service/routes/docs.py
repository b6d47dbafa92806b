"""GET / (a link to the documentation), /docs (Swagger UI) and /redoc (ReDoc), with their
scripts and styles served from the fastapi-offline package: the pages work without
internet (FastAPI's own pages load them from a CDN)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
OPENAPI = "/openapi.json"

router = APIRouter(include_in_schema=False)
router.mount(
    ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets"
)


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/")
async def root() -> HTMLResponse:
    return HTMLResponse('<a href="/docs">API documentation</a>')


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    base = _base(request)
    return get_swagger_ui_html(
        openapi_url=base + OPENAPI,
        title=request.app.title + " - Swagger UI",
        oauth2_redirect_url=base + "/docs/oauth2-redirect",
        swagger_js_url=f"{base}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{base}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{base}{ASSETS}/favicon.png",
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    base = _base(request)
    return get_redoc_html(
        openapi_url=base + OPENAPI,
        title=request.app.title + " - ReDoc",
        redoc_js_url=f"{base}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{base}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )
