"""The shipped nginx site, run for real on loopback in front of a real chat server: wss, widget, limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from tests.deploy.nginx import WIDGET_DIR, Nginx, running_nginx
from tests.server.conftest import PASSWORD, Client, cid, make_config, open_ws
from tests.server.test_tls_config import Cert, make_cert

EMAIL = "maria@example.com"
WEBSITE = "https://www.example.com"  # a customer's website that embeds the widget


@contextlib.asynccontextmanager
async def deployment(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[ChatServer, Nginx, Cert]]:
    """A chat server on 127.0.0.1:0 set up as packaging/server/server.toml says (nginx trusted, the
    website's origin allowed), behind the shipped nginx site with a self-signed certificate."""
    cert = make_cert(tmp_path)
    values: dict[str, Any] = {"trusted_proxies": ["127.0.0.1"], "allowed_origins": [WEBSITE]} | overrides
    async with run_server(make_config(tmp_path, **values)) as server:
        server.admin.add_agent(EMAIL, "Maria Manager", PASSWORD, "US", "manager")
        with running_nginx(tmp_path / "nginx", [server.port], cert.cert, cert.key) as nginx:
            yield server, nginx, cert


async def visitor_via(nginx: Nginx, cert: Cert, source: str = "127.0.0.1", **kwargs: Any) -> Client:
    """A browser's widget on the website, connecting from ``source`` (any 127/8 address is loopback)."""
    client = await open_ws(
        nginx.wss, "/visitor", ssl=cert.client_context(), origin=Origin(WEBSITE), local_addr=(source, 0),
        **kwargs,
    )  # fmt: skip
    await client.send(p.VisitorHello(id=cid("vh"), page_url=f"{WEBSITE}/pricing"))
    assert isinstance(await client.recv(), p.VisitorWelcome)
    return client


async def test_agent_and_visitor_round_trip_over_wss_through_nginx(tmp_path: Path) -> None:
    async with deployment(tmp_path) as (_server, nginx, cert):
        agent = await open_ws(nginx.wss, "/agent", ssl=cert.client_context())
        await agent.send(p.Hello(id=cid("h"), email=EMAIL, password=PASSWORD))
        welcome = await agent.recv()
        assert isinstance(welcome, p.Welcome) and welcome.agent.email == EMAIL
        visitor = await visitor_via(nginx, cert)
        try:
            result = await visitor.ok(p.VisitorSendMessage(id=cid(), text="Hello through nginx?"))
            seen = await agent.event(p.MessageCreated)
            assert seen.event.message.text == "Hello through nginx?"
            conversation_id = result["conversation_id"]
            await agent.ok(p.SendMessage(id=cid(), conversation_id=conversation_id, text="Loud and clear!"))
            reply = await visitor.event(p.MessageCreated)
            assert reply.event.message.text == "Loud and clear!"
        finally:
            await visitor.close()
            await agent.close()
        # A token sign-in (what the desk does on every reconnect) works through the proxy as well.
        again = await open_ws(nginx.wss, "/agent", ssl=cert.client_context())
        await again.send(p.Hello(id=cid("h"), email="", password="", token=welcome.token))
        assert isinstance(await again.recv(), p.Welcome)
        await again.close()
    assert "[error]" not in nginx.log(), nginx.log()


async def test_widget_files_demo_and_redirect_over_https(tmp_path: Path) -> None:
    async with (
        deployment(tmp_path, playbook="") as (_server, nginx, cert),  # the playbook serves the widget routes
        httpx.AsyncClient(verify=cert.client_context(), timeout=10) as http,
    ):
        for name, kind in (("widget.js", "javascript"), ("widget.css", "text/css")):
            response = await http.get(f"{nginx.https}/{name}")
            assert response.status_code == 200, response.text
            assert response.content == (WIDGET_DIR / name).read_bytes()  # served by nginx from the package
            assert kind in response.headers["content-type"]
            assert response.headers["access-control-allow-origin"] == "*"
            assert response.headers["cache-control"] == "no-cache" and response.headers["etag"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "max-age" in response.headers["strict-transport-security"]
            assert "server" not in response.headers or "/" not in response.headers["server"]  # no version
        config = await http.get(f"{nginx.https}/widget/config.json", params={"page": f"{WEBSITE}/pricing"})
        assert config.status_code == 200 and config.json()["title"]  # proxied to the chat server
        assert (await http.get(f"{nginx.https}/healthz")).json() == {"status": "ok"}
        demo = await http.get(f"{nginx.https}/demo")
        assert demo.status_code == 200 and "widget.js" in demo.text
        assert (await http.get(f"{nginx.https}/nope")).status_code == 404
        assert (await http.post(f"{nginx.https}/widget.js", content=b"x")).status_code == 403
        assert (await http.post(f"{nginx.https}/visitor", content=b"x" * 1024)).status_code == 403
        plain = await http.get(f"http://127.0.0.1:{nginx.http_port}/demo?x=1")
        assert plain.status_code == 301
        assert plain.headers["location"] == "https://127.0.0.1/demo?x=1"  # the real site listens on 443


async def test_origins_are_checked_behind_the_proxy(tmp_path: Path) -> None:
    async with deployment(tmp_path) as (_server, nginx, cert):
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(
                nginx.wss, "/visitor", ssl=cert.client_context(), origin=Origin("https://evil.example")
            )
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as refused:  # a web page may not open /agent
            await open_ws(nginx.wss, "/agent", ssl=cert.client_context(), origin=Origin(WEBSITE))
        assert refused.value.response.status_code == 403


async def test_per_ip_limits_count_visitors_not_the_proxy(tmp_path: Path) -> None:
    # One open widget per address: behind nginx every connection comes from 127.0.0.1, so without the
    # trusted X-Forwarded-For two visitors on different addresses would be one address over its limit.
    async with deployment(tmp_path, visitor_connections_per_ip=1) as (_server, nginx, cert):
        first = await visitor_via(nginx, cert, "127.0.0.2")
        second = await visitor_via(nginx, cert, "127.0.0.3")
        try:
            # The same address again is over the limit, even claiming another address: nginx appends the
            # real one to X-Forwarded-For, and the server takes the nearest untrusted hop.
            spoofed = Headers([("X-Forwarded-For", "198.51.100.7")])
            with pytest.raises(InvalidStatus) as refused:
                await visitor_via(nginx, cert, "127.0.0.2", additional_headers=spoofed)
            assert refused.value.response.status_code == 429
        finally:
            await first.close()
            await second.close()


async def test_frame_size_limit_holds_through_the_proxy(tmp_path: Path) -> None:
    # nginx tunnels websocket frames untouched: the server's own limit (16 KiB from visitors) applies.
    async with deployment(tmp_path) as (_server, nginx, cert):
        visitor = await visitor_via(nginx, cert)
        await visitor.send(p.VisitorSendMessage(id=cid(), text="x" * (p.MAX_VISITOR_FRAME + 1)))
        assert await visitor.closed_code() == 1009  # message too big
