"""The Session against the real chat server: sign-in, resume, exactly-once delivery, sign-out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_app import protocol as p
from agent_app.cache import ClientCache
from agent_app.errors import AuthenticationFailed, CommandError
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, agent_url
from agent_app.store import Delivery, Store
from tests.client.conftest import EMAIL, PASSWORD, Client, Recorder, Visitor, new_client, until


def drop_agent_connections(server: Any) -> None:
    """Cut the TCP connection abruptly (no close frame), as a network failure would."""
    for ws in list(server.hub.agent_conns.get(server.test_agent.id, ())):
        ws.transport.abort()


async def go_offline(client: Client, server: Any) -> None:
    client.gate.close()  # the reconnect waits until the test opens the gate
    drop_agent_connections(server)
    await until(lambda: client.session.state is ConnectionState.RECONNECTING, what="RECONNECTING")


def agent_url_cases() -> None:
    assert agent_url("ws://h:1") == "ws://h:1/agent"
    assert agent_url("ws://h:1/") == "ws://h:1/agent"
    assert agent_url("http://h:1/chat/agent") == "ws://h:1/chat/agent"
    assert agent_url("https://h") == "wss://h/agent"


def test_agent_url() -> None:
    agent_url_cases()


async def test_sign_in_with_password_issues_token(server: Any, tmp_path: Path) -> None:
    client = new_client(server.url, tmp_path)
    tokens: list[str] = []
    states: list[ConnectionState] = []
    client.session.add_token_listener(tokens.append)
    client.session.add_state_listener(lambda state, detail: states.append(state))
    agent = await client.session.sign_in(EMAIL, PASSWORD)
    assert agent.email == EMAIL
    assert len(tokens) == 1 and tokens[0] and client.session.token == tokens[0]
    client.start()
    await client.online()
    assert client.session.attempts == 1  # run() served the sign-in connection, no second one
    assert "Sam SDR" in client.session.detail
    await client.stop()
    assert states[-1] is ConnectionState.OFFLINE


async def test_wrong_password_raises_and_signs_out(server: Any, tmp_path: Path) -> None:
    client = new_client(server.url, tmp_path)
    with pytest.raises(AuthenticationFailed) as info:
        await client.session.sign_in(EMAIL, "wrong password")
    assert info.value.close_code == p.CloseCode.AUTH_FAILED
    assert client.session.state is ConnectionState.SIGNED_OUT
    assert client.session.token == ""


async def test_silent_sign_in_with_token(server: Any, tmp_path: Path, signed_in: Client) -> None:
    token = signed_in.session.token
    other = new_client(server.url, tmp_path, token=token, name="other.sqlite3")
    other.start()
    await other.online()
    assert other.store.me is not None and other.store.me.email == EMAIL
    assert other.session.token == token  # no new token for a token sign-in
    await other.stop()


async def test_bad_token_signs_out_without_retrying(server: Any, tmp_path: Path) -> None:
    client = new_client(server.url, tmp_path, token="not-a-token")
    tokens: list[str] = []
    client.session.add_token_listener(tokens.append)
    client.start()
    assert client.task is not None
    await until(client.task.done, what="run() to return")
    assert client.session.state is ConnectionState.SIGNED_OUT
    assert client.session.attempts == 1
    assert client.gate.delays == []  # never even waited for a retry
    assert tokens == [""]  # the keychain copy gets deleted


async def test_disabled_agent_is_signed_out(server: Any, signed_in: Client) -> None:
    server.admin.set_disabled(EMAIL)
    assert signed_in.task is not None
    await until(signed_in.task.done, what="run() to return")
    assert signed_in.session.state is ConnectionState.SIGNED_OUT
    assert signed_in.session.attempts == 1


async def test_resume_replays_each_missed_event_once_in_order(server: Any, signed_in: Client) -> None:
    store, recorder = signed_in.store, signed_in.recorder
    async with Visitor(server.url) as visitor:
        await visitor.say("first")
        cid = visitor.conversation_id
        await until(lambda: len(store.transcripts.get(cid, [])) == 1, what="first message")
        resets = recorder.resets
        await go_offline(signed_in, server)
        for n in range(5):
            await visitor.say(f"missed {n}")
        signed_in.gate.open()
        await signed_in.online()
        await visitor.say("live")
        await until(lambda: len(store.transcripts.get(cid, [])) == 7, what="all 7 messages")
    texts = [i.message.text for i in store.transcripts[cid]]
    assert texts == ["first", "missed 0", "missed 1", "missed 2", "missed 3", "missed 4", "live"]
    keys = [key for c, key in recorder.added if c == cid]
    assert len(keys) == len(set(keys)) == 7  # each announced exactly once
    assert recorder.resets == resets  # resumed by replay, not by a snapshot
    assert signed_in.session.attempts == 2
    assert store.unread[cid] == 7


async def test_offline_send_is_pending_then_delivered_once(server: Any, signed_in: Client) -> None:
    store, session = signed_in.store, signed_in.session
    async with Visitor(server.url) as visitor:
        await visitor.say("hello?")
        cid = visitor.conversation_id
        await until(lambda: cid in store.conversations, what="conversation")
        await go_offline(signed_in, server)
        item = session.send_message(cid, "Hi, I am here")
        assert item.delivery is Delivery.PENDING and item.message.id == ""
        assert store.transcripts[cid][-1] is item
        assert len(signed_in.outbox) == 1
        signed_in.gate.open()
        await until(lambda: item.message.id != "", what="server copy")
    assert item.delivery is Delivery.SENT
    assert len(signed_in.outbox) == 0
    history = await session.get_transcript(cid)
    assert [m.text for m in history].count("Hi, I am here") == 1
    assert sum(1 for i in store.transcripts[cid] if i.message.text == "Hi, I am here") == 1


async def test_resent_command_is_not_delivered_twice(server: Any, tmp_path: Path, signed_in: Client) -> None:
    """An ack lost with the connection: the outbox re-sends the same id, the server keeps one copy."""
    store, session = signed_in.store, signed_in.session
    async with Visitor(server.url) as visitor:
        await visitor.say("hello?")
        cid = visitor.conversation_id
        await until(lambda: cid in store.conversations, what="conversation")
        item = session.send_message(cid, "only once")
        await until(lambda: item.message.id != "", what="delivered")
        command = p.SendMessage(id=item.key, conversation_id=cid, text="only once")
        signed_in.outbox.add(command, author=store.me)  # as if the ack had been lost
        await go_offline(signed_in, server)
        signed_in.gate.open()
        await signed_in.online()
        await until(lambda: len(signed_in.outbox) == 0, what="the re-send acked")
    history = await session.get_transcript(cid)
    assert [m.text for m in history].count("only once") == 1


async def test_outbox_and_cache_survive_a_restart(server: Any, tmp_path: Path, signed_in: Client) -> None:
    cache = ClientCache(tmp_path / "cache.sqlite3")
    cache.attach(signed_in.store)
    async with Visitor(server.url) as visitor:
        await visitor.say("anyone there?")
        cid = visitor.conversation_id
        await until(lambda: cid in signed_in.store.conversations, what="conversation")
        await go_offline(signed_in, server)
        signed_in.session.send_message(cid, "typed while offline")
        await signed_in.stop()  # the app quits before the network came back
        cache.close()
        signed_in.outbox.close()
        await visitor.say("hello??")  # happened while the app was closed

        store = Store()
        restart_cache = ClientCache(tmp_path / "cache.sqlite3")
        restart_cache.load_into(store)
        restart_cache.close()
        recorder = Recorder()
        store.add_listener(recorder)
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        restarted = new_client(server.url, tmp_path, token=signed_in.session.token)
        restarted.store, restarted.outbox = store, outbox
        restarted.session = type(restarted.session)(
            server.url, store, outbox, token=signed_in.session.token, backoff=restarted.session.backoff
        )
        # Before any connection: the queue, the transcript and my pending send are on screen.
        assert cid in store.conversations
        assert [i.message.text for i in store.transcripts[cid]] == ["anyone there?", "typed while offline"]
        assert store.transcripts[cid][-1].delivery is Delivery.PENDING
        restarted.start()
        await until(lambda: len(store.transcripts[cid]) == 3, what="the missed visitor message")
        await until(lambda: store.transcripts[cid][1].message.id != "", what="the pending send delivered")
        assert len(outbox) == 0
        assert recorder.resets == 0  # resumed from the cached seq by replay, no snapshot needed
        keys = [i.key for i in store.transcripts[cid]]
        assert [k for c, k in recorder.added if c == cid] == [keys[1], keys[2]]  # pending row, missed msg
        history = await restarted.session.get_transcript(cid)
        await restarted.stop()
        outbox.close()
    assert [m.text for m in history].count("typed while offline") == 1


async def test_resync_on_epoch_mismatch(server: Any, tmp_path: Path, signed_in: Client) -> None:
    async with Visitor(server.url) as visitor:
        await visitor.say("real conversation")
        cid = visitor.conversation_id
    stale = Store(epoch="an-old-server", seq=10**6)
    stale.upsert_conversation(p.Conversation(id="ghost", visitor=p.Visitor(id="v")))
    client = new_client(server.url, tmp_path, token=signed_in.session.token, name="o2.sqlite3")
    client.store = stale
    client.session = type(client.session)(server.url, stale, client.outbox, token=signed_in.session.token)
    client.start()
    await until(lambda: cid in stale.conversations, what="snapshot")
    assert "ghost" not in stale.conversations
    assert stale.epoch == signed_in.store.epoch and stale.seq < 10**6
    await client.stop()


async def test_command_error_marks_send_failed_and_retry_resends(server: Any, signed_in: Client) -> None:
    item = signed_in.session.send_message("no-such-conversation", "hello")
    await until(lambda: item.delivery is Delivery.FAILED, what="FAILED")
    assert item.error and len(signed_in.outbox) == 0
    signed_in.session.retry("no-such-conversation", item.key)
    assert item.delivery is Delivery.PENDING and len(signed_in.outbox) == 1
    await until(lambda: item.delivery is Delivery.FAILED, what="FAILED again")


async def test_requests_resolve_with_ack_or_command_error(signed_in: Client) -> None:
    await signed_in.session.set_presence(p.Presence.AVAILABLE)
    await until(
        lambda: signed_in.store.me is not None and signed_in.store.me.presence is p.Presence.AVAILABLE,
        what="presence event",
    )
    with pytest.raises(CommandError) as info:
        await signed_in.session.close_conversation("no-such-conversation")
    assert info.value.code == p.ErrorCode.NOT_FOUND
    agents = await signed_in.session.list_agents()
    assert [a.email for a in agents] == [EMAIL]


async def test_sign_out_revokes_the_token(server: Any, tmp_path: Path, signed_in: Client) -> None:
    token = signed_in.session.token
    tokens: list[str] = []
    signed_in.session.add_token_listener(tokens.append)
    await signed_in.session.sign_out()
    assert signed_in.task is not None
    await until(signed_in.task.done, what="run() to return")
    assert signed_in.session.state is ConnectionState.SIGNED_OUT and tokens == [""]
    again = new_client(server.url, tmp_path, token=token, name="o3.sqlite3")
    again.start()
    assert again.task is not None
    await until(again.task.done, what="the revoked token to be refused")
    assert again.session.state is ConnectionState.SIGNED_OUT
