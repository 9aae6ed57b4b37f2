"""Plain-HTTP routes for the visitor widget: /widget.js, /widget.css, /demo and /widget/config.json.

Files are read once at start (chat_server/widget/); the config says what the widget shows before the
visitor writes (title, prompt) for the page it is on, taken from the playbook."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from chat_server.playbook import Playbook

WIDGET_DIR = Path(__file__).with_name("widget")
Route = Callable[[ServerConnection, Request], Response]

_TYPES = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "demo.html": "text/html; charset=utf-8",
}


def _response(body: bytes, content_type: str, *, cors: bool, cache: str = "no-cache") -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache),
            ("X-Content-Type-Options", "nosniff"),
        ]
    )
    if cors:  # the widget runs on other sites' pages: its script, styles and config are public
        headers["Access-Control-Allow-Origin"] = "*"
    return Response(200, HTTPStatus(200).phrase, headers, body)


def _static(name: str, *, cors: bool) -> Route:
    body = (WIDGET_DIR / name).read_bytes()

    def handler(ws: ServerConnection, request: Request) -> Response:
        return _response(body, _TYPES[name], cors=cors)

    return handler


def widget_config(playbook: Playbook, page: str) -> dict[str, str]:
    runs = playbook.runs_on(page) if page else False
    return {
        "title": "Chat with Sales",
        "prompt": playbook.widget_prompt if runs else "Hi there! 👋 How can we help?",
        "bot": playbook.bot_name if runs else "",
        "footer": "We reply in under a minute during business hours",
    }


def widget_routes(playbook: Playbook) -> dict[str, Route]:
    """path -> handler, for ChatServer.routes."""

    def config(ws: ServerConnection, request: Request) -> Response:
        query = parse_qs(urlsplit(request.path).query)
        page = (query.get("page") or [""])[0][:2000]
        body = json.dumps(widget_config(playbook, page)).encode()
        return _response(body, "application/json", cors=True)

    return {
        "/widget.js": _static("widget.js", cors=True),
        "/widget.css": _static("widget.css", cors=True),
        "/demo": _static("demo.html", cors=False),
        "/widget/config.json": config,
    }
