"""The Evidently UI server, titled for this platform: `python -m model_monitoring.evidently_ui`.

Evidently's UI page has a fixed <title> ("Evidently - ML Monitoring Demo", from the index.html
it ships in evidently/ui/service/assets). This runs the same server (`evidently ui`'s
`get_config` and `run`) with its service component swapped for one that serves that page
under our title; every API route and static file stays Evidently's own.
"""

from __future__ import annotations

import argparse
import re
from html import escape
from pathlib import Path

import litestar
from litestar import MediaType, Response
from litestar.router import Router
from litestar.static_files import create_static_files_router

DEFAULT_TITLE = "MLOps model monitoring (Evidently)"


def titled_index(title: str, assets: Path) -> str:
    """Evidently's index.html with `title` as the page title and description."""
    page = (assets / "index.html").read_text(encoding="utf-8")
    page, count = re.subn(
        r"<title>.*?</title>", f"<title>{escape(title)}</title>", page, count=1, flags=re.S
    )
    if count != 1:
        raise RuntimeError(f"{assets / 'index.html'} has no <title> to replace")
    return re.sub(
        r'(<meta\s+name="description"\s+content=")[^"]*(")',
        lambda m: m.group(1) + escape(title) + m.group(2),
        page,
        count=1,
    )


def config(host: str, port: int, workspace: str, title: str):
    """Evidently's local UI config, with the titled page."""
    from evidently.ui.service.api.static import BASE_PATH
    from evidently.ui.service.app import get_config
    from evidently.ui.service.local_service import LocalServiceComponent

    page = titled_index(title, Path(BASE_PATH))

    class TitledService(LocalServiceComponent):
        def get_route_handlers(self, ctx):
            @litestar.get(["/", "/projects/{path:path}"], include_in_schema=False)
            async def index() -> Response:
                return Response(content=page, media_type=MediaType.HTML)

            static = create_static_files_router("/", directories=[BASE_PATH])
            return [Router(path="", route_handlers=[index, static])]

    conf = get_config(host=host, port=port, workspace=workspace)
    service = conf.service
    conf.service = TitledService(host=service.host, port=service.port, debug=service.debug)
    return conf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workspace", default="workspace")
    parser.add_argument("--title", default=DEFAULT_TITLE)
    args = parser.parse_args(argv)
    from evidently.ui.service.app import run

    run(config(args.host, args.port, args.workspace, args.title))


if __name__ == "__main__":
    main()
