"""The client address behind a proxy: X-Forwarded-For believed from trusted proxies only, never made up."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent_app import protocol as p
from chat_server import load_config, run_server
from chat_server.forwarded import forwarded_client, parse_trusted
from tests.server.conftest import PASSWORD, Client, cid, make_config, open_ws

NGINX = parse_trusted(["127.0.0.1", "::1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "chain", "client"),
    [
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),  # nginx on this host names the visitor
        ("127.0.0.1", ["198.51.100.1, 203.0.113.7"], "203.0.113.7"),  # the client's own claim is ignored
        ("127.0.0.1", ["198.51.100.1", "203.0.113.7, 10.1.2.3"], "203.0.113.7"),  # two proxies, two headers
        ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),  # only proxies: the farthest one
        ("127.0.0.1", [], "127.0.0.1"),  # no header: the proxy itself (a health check)
        ("127.0.0.1", ["unknown"], "127.0.0.1"),  # garbage never becomes an address
        ("127.0.0.1", ["203.0.113.7, junk"], "127.0.0.1"),  # a bad nearest hop stops the walk
        ("127.0.0.1", ["[2001:db8::1]:4711"], "2001:db8::1"),
        ("127.0.0.1", ["203.0.113.7:4711"], "203.0.113.7"),
        ("::ffff:127.0.0.1", ["203.0.113.7"], "203.0.113.7"),  # dual-stack socket, IPv4 proxy
        ("198.51.100.9", ["203.0.113.7"], "198.51.100.9"),  # not a proxy: its header means nothing
    ],
)
def test_forwarded_client(peer: str, chain: list[str], client: str) -> None:
    assert forwarded_client(peer, chain, NGINX) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert forwarded_client("127.0.0.1", ["203.0.113.7"], ()) == "127.0.0.1"


def test_config_rejects_a_bad_proxy_entry(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trusted_proxies: 'nginx' is not an IP address"):
        load_config(env={"SDR_SERVER_TRUSTED_PROXIES": "127.0.0.1,nginx"})
    config = load_config(env={"SDR_SERVER_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert config.trusted_proxies == ["127.0.0.1", "::1"]


async def visitor(url: str, forwarded_for: str) -> Client:
    headers = Headers([("X-Forwarded-For", forwarded_for)])
    client = await open_ws(url, "/visitor", additional_headers=headers)
    await client.send(p.VisitorHello(id=cid("vh")))
    assert isinstance(await client.recv(), p.VisitorWelcome)
    return client


async def test_trusted_proxy_names_the_client_for_per_ip_limits(tmp_path: Path) -> None:
    config = make_config(tmp_path, visitor_connections_per_ip=1, trusted_proxies=["127.0.0.1"])
    async with run_server(config) as server:
        a = await visitor(server.url, "203.0.113.7")
        b = await visitor(server.url, "203.0.113.8")  # another visitor behind the same proxy
        try:
            with pytest.raises(InvalidStatus) as refused:
                await visitor(server.url, "203.0.113.7")
            assert refused.value.response.status_code == 429
        finally:
            await a.close()
            await b.close()


async def test_x_forwarded_for_from_anyone_else_is_ignored(tmp_path: Path) -> None:
    # The peer (127.0.0.1) is not a trusted proxy: a client cannot dodge its limit by naming other addresses.
    config = make_config(tmp_path, visitor_connections_per_ip=1, trusted_proxies=["10.0.0.0/8"])
    async with run_server(config) as server:
        a = await visitor(server.url, "203.0.113.7")
        try:
            with pytest.raises(InvalidStatus) as refused:
                await visitor(server.url, "203.0.113.8")
            assert refused.value.response.status_code == 429
        finally:
            await a.close()


async def hello_via_proxy(url: str, forwarded_for: str, email: str, password: str) -> int | None:
    """A password sign-in as nginx forwards it; the close code (None: welcomed, then closed by us)."""
    client = await open_ws(url, "/agent", additional_headers=Headers([("X-Forwarded-For", forwarded_for)]))
    await client.send(p.Hello(id=cid("h"), email=email, password=password))
    try:
        welcome = await client.recv()
    except ConnectionClosed:
        return client.ws.close_code
    assert isinstance(welcome, p.Welcome), welcome
    await client.close()
    return None


async def test_password_guessing_is_throttled_per_client_not_per_proxy(tmp_path: Path) -> None:
    # 20 failures from one address throttle that address (per-IP rule). Behind a proxy without
    # trusted_proxies, that address would be the proxy: one guesser would lock every rep out.
    config = make_config(tmp_path, trusted_proxies=["127.0.0.1"])
    async with run_server(config) as server:
        server.admin.add_agent("sam@example.com", "Sam Sdr", PASSWORD, "US-West", "sdr")
        guesser = "203.0.113.66"
        for n in range(20):
            assert await hello_via_proxy(server.url, guesser, f"a{n}@example.com", "guess") == 4001
        assert await hello_via_proxy(server.url, guesser, "a99@example.com", "guess") == 4008  # throttled
        assert await hello_via_proxy(server.url, "203.0.113.7", "sam@example.com", PASSWORD) is None
