"""Refusals: authentication close codes, visitor isolation, origin allow-list, per-IP and rate limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from tests.server.conftest import (
    PASSWORD,
    Team,
    agent_login,
    cid,
    make_config,
    open_ws,
    visitor_login,
)


async def _hello_close_code(server: ChatServer, hello: p.Hello) -> int | None:
    client = await open_ws(server.url, "/agent")
    await client.send(hello)
    return await client.closed_code()


async def test_commands_before_hello_are_refused_and_silence_closes(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path, hello_timeout=0.5)) as server:
        client = await open_ws(server.url, "/agent")
        answer = await client.call(p.ListAgents(id="early"))
        assert (
            isinstance(answer, p.Error)
            and answer.code == p.ErrorCode.NOT_AUTHENTICATED
            and answer.ref == "early"
        )
        assert await client.closed_code() == p.CloseCode.POLICY


async def test_bad_credentials_close_4001(server: ChatServer, team: Team) -> None:
    bad_password = p.Hello(id=cid(), email=team.sdr1.email, password="wrong password")
    assert await _hello_close_code(server, bad_password) == p.CloseCode.AUTH_FAILED
    unknown = p.Hello(id=cid(), email="nobody@example.com", password=PASSWORD)
    assert await _hello_close_code(server, unknown) == p.CloseCode.AUTH_FAILED
    assert await _hello_close_code(server, p.Hello(id=cid(), token="forged")) == p.CloseCode.AUTH_FAILED
    assert await _hello_close_code(server, p.Hello(id=cid())) == p.CloseCode.AUTH_FAILED
    wrong_version = p.Hello(id=cid(), version=99, email=team.sdr1.email, password=PASSWORD)
    assert await _hello_close_code(server, wrong_version) == p.CloseCode.UNSUPPORTED_VERSION


async def test_revoked_tokens_close_4001(server: ChatServer, team: Team) -> None:
    client, welcome = await agent_login(server, team.sdr1.email)
    await client.ok(p.SignOut(id=cid()))
    assert await client.closed_code() == p.CloseCode.NORMAL
    assert await _hello_close_code(server, p.Hello(id=cid(), token=welcome.token)) == p.CloseCode.AUTH_FAILED
    _, second = await agent_login(server, team.sdr1.email)
    assert server.admin.revoke_tokens(team.sdr1.email) == 1  # what `tokens revoke --email` does
    assert await _hello_close_code(server, p.Hello(id=cid(), token=second.token)) == p.CloseCode.AUTH_FAILED


async def test_revoking_a_token_cuts_off_its_live_session(server: ChatServer, team: Team) -> None:
    connected, welcome = await agent_login(server, team.sdr1.email)
    other_device, _ = await agent_login(server, team.sdr1.email)
    assert server.admin.revoke_token(welcome.token)
    assert await connected.closed_code() == p.CloseCode.AUTH_FAILED
    # The agent's other device signed in with its own token and stays connected.
    assert (await other_device.ok(p.ListAgents(id=cid())))["agents"]


async def test_disabled_agent_is_refused_and_cut_off(server: ChatServer, team: Team) -> None:
    connected, _ = await agent_login(server, team.sdr2.email)
    server.admin.set_disabled(team.sdr2.email)
    assert await connected.closed_code() == p.CloseCode.AGENT_DISABLED
    hello = p.Hello(id=cid(), email=team.sdr2.email, password=PASSWORD)
    assert await _hello_close_code(server, hello) == p.CloseCode.AGENT_DISABLED


async def test_visitor_cannot_reach_another_visitors_conversation(server: ChatServer, team: Team) -> None:
    alice, alice_welcome = await visitor_login(server, page_url="https://example.com/")
    await alice.ok(p.VisitorSendMessage(id=cid(), text="alice's secret"))
    # A forged token is just a new visitor with nothing in it.
    mallory, welcome = await visitor_login(server, token="forged-" + alice_welcome.visitor_token[:10])
    assert welcome.conversation is None and welcome.messages == []
    assert welcome.visitor.id != alice_welcome.visitor.id
    result = await mallory.ok(p.VisitorSendMessage(id=cid(), text="mallory here"))
    reloaded, again = await visitor_login(server, token=alice_welcome.visitor_token)
    assert again.conversation is not None and again.conversation.id != result["conversation_id"]
    assert [m.text for m in again.messages] == ["alice's secret"]
    assert again.conversation.cql is None and again.conversation.assignee_id is None
    # Agent's note and reply: the visitor sees only the reply.
    sdr, _ = await agent_login(server, team.sdr1.email)
    await sdr.ok(
        p.SendMessage(id=cid(), conversation_id=again.conversation.id, text="internal", private=True)
    )
    await sdr.ok(p.SendMessage(id=cid(), conversation_id=again.conversation.id, text="Hi Alice"))
    assert (await reloaded.event(p.MessageCreated)).event.message.text == "Hi Alice"
    _, third = await visitor_login(server, token=alice_welcome.visitor_token)
    assert [m.text for m in third.messages] == ["alice's secret", "Hi Alice"]
    # Mallory got nothing of Alice's.
    assert all(
        getattr(f.event, "message", None) is None
        or f.event.message.conversation_id == result["conversation_id"]
        for f in mallory.events
    )


async def test_origin_allow_list(tmp_path: Path) -> None:
    config = make_config(tmp_path, allowed_origins=["https://www.example.com"])
    async with run_server(config) as server:
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(server.url, "/visitor", origin="https://evil.example")
        assert refused.value.response.status_code == 403
        client, _ = await visitor_login(server)  # no Origin header: not a browser
        allowed = await open_ws(server.url, "/visitor", origin="https://www.example.com")
        await allowed.close()
        await client.close()


async def test_per_ip_visitor_connection_limit(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path, visitor_connections_per_ip=3)) as server:
        clients = [(await visitor_login(server))[0] for _ in range(3)]
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(server.url, "/visitor")
        assert refused.value.response.status_code == 429
        await clients[0].close()
        await clients[0].closed_code()
        again, _ = await visitor_login(server)  # a slot is free again
        await again.close()


async def test_visitor_message_rate_limit(server: ChatServer) -> None:
    visitor, _ = await visitor_login(server)
    for i in range(10):
        await visitor.ok(p.VisitorSendMessage(id=cid(), text=f"msg {i}"))
    answer = await visitor.call(p.VisitorSendMessage(id=cid(), text="one too many"))
    assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.RATE_LIMITED


async def test_unknown_path_and_healthz(server: ChatServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(server.url, "/nope")
    assert refused.value.response.status_code == 404
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    writer.close()
