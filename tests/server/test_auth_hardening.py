"""Sign-in hardening (issue 10): throttling, Origin rules, scrypt cost and rehash, token idle expiry, expiry
of anonymous visitors, and the admin CLI's refusals (tokens, data directory, time zones)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.clock import FakeClock
from chat_server.security import token_hash
from tests.server.conftest import (
    PASSWORD,
    Client,
    agent_login,
    cid,
    make_config,
    open_ws,
    storage_env,
    visitor_login,
)
from tests.server.test_tls_config import ROOT, clean_env, cli

EMAIL = "sam@example.com"


async def _hello(server: ChatServer, password: str, ip: str = "127.0.0.1", email: str = EMAIL) -> Client:
    """Sends a password hello from ``ip`` (any 127.x address is this machine); returns the client."""
    client = await open_ws(server.url, "/agent", local_addr=(ip, 0))
    await client.send(p.Hello(id=cid(), email=email, password=password))
    return client


async def _attempt(server: ChatServer, password: str, ip: str = "127.0.0.1", email: str = EMAIL) -> str:
    """'ok' for a welcome, else the close code and reason."""
    client = await _hello(server, password, ip, email)
    try:
        frame = await client.recv()
    except Exception:
        frame = None
    if isinstance(frame, p.Welcome):
        await client.close()
        return "ok"
    await client.closed_code()
    return f"{client.ws.close_code} {client.ws.close_reason}"


@pytest.fixture
async def throttled(tmp_path: Path) -> Any:
    clock = FakeClock(1_800_000_000.0)
    async with run_server(make_config(tmp_path), clock) as server:
        server.admin.add_agent(EMAIL, "Sam Sdr", PASSWORD)
        yield server, clock


# ---------------------------------------------------------------- throttling (defect 4)


async def test_password_guessing_is_slowed_down_exponentially(throttled: Any) -> None:
    server, clock = throttled
    answers = [await _attempt(server, f"guess {n}") for n in range(30)]  # a burst, as fast as we can
    assert answers[:5] == ["4001 bad credentials"] * 5  # a few typos cost nothing
    assert all(a.startswith("4008 too many sign-in attempts; try again in") for a in answers[5:]), answers
    # even the right password is not tried while the delay runs: a guesser learns nothing from it
    assert (await _attempt(server, PASSWORD)).startswith("4008")
    clock.advance(1.1)  # the first delay is 1 s, then 2, 4, 8 ... at most 60 s
    assert await _attempt(server, "guess again") == "4001 bad credentials"
    assert (await _attempt(server, PASSWORD)).startswith("4008 too many sign-in attempts; try again in 2 s")
    clock.advance(2.1)
    assert await _attempt(server, PASSWORD) == "ok"
    # a success starts the account's count from this address afresh
    assert await _attempt(server, "typo") == "4001 bad credentials"


async def test_a_flood_from_elsewhere_never_locks_the_owner_out(throttled: Any) -> None:
    server, clock = throttled
    assert await _attempt(server, PASSWORD, "127.0.0.1") == "ok"  # the owner's usual address
    tried = 0
    for host in range(2, 14):  # a distributed guesser: 12 addresses, 5 free guesses each
        for n in range(8):
            answer = await _attempt(server, f"guess {n}", f"127.0.0.{host}")
            tried += answer.startswith("4001")
    assert tried <= 55  # 50 for the account from unknown addresses, then every new address waits too
    assert (await _attempt(server, PASSWORD, "127.0.0.99")).startswith("4008")
    assert await _attempt(server, PASSWORD, "127.0.0.1") == "ok"  # the owner: at once, no delay
    clock.advance(61)  # bounded: never a lockout, at most a minute between tries
    assert await _attempt(server, PASSWORD, "127.0.0.99") == "ok"


async def test_token_sign_ins_are_not_throttled_by_password_guessing(throttled: Any) -> None:
    server, _ = throttled
    _, welcome = await agent_login(server, EMAIL)
    for n in range(10):
        await _attempt(server, f"guess {n}")
    client, again = await agent_login(server, EMAIL, token=welcome.token)
    assert again.agent.email == EMAIL
    await client.close()


def test_throttle_unit_rules_are_bounded_and_per_address() -> None:
    from chat_server.security import SignInThrottle, ip_key

    now = [0.0]
    throttle = SignInThrottle(lambda: now[0])
    for _ in range(25):
        throttle.failed("a@x.com", "10.0.0.1")
    assert throttle.wait("A@X.com ", "10.0.0.2") == 0  # another address: its own count (account < 50 here)
    assert throttle.wait("b@x.com", "10.0.0.1") > 0  # the guessing address, also for other accounts
    for _ in range(200):
        throttle.failed("a@x.com", "10.0.0.1")
    assert 0 < throttle.wait("a@x.com", "10.0.0.1") <= 60  # capped
    assert 0 < throttle.wait("a@x.com", "10.0.0.3") <= 60  # 50+ from unknown addresses: the account waits
    assert not throttle.known("a@x.com", "10.0.0.4")
    throttle.succeeded("a@x.com", "10.0.0.4")
    assert throttle.known("A@x.com", "10.0.0.4")  # its own hashing slot (chat_server.sign_in)
    assert throttle.wait("a@x.com", "10.0.0.4") == 0  # ... but never where the owner signed in before
    now[0] += 3601
    assert throttle.wait("a@x.com", "10.0.0.1") == 0  # forgotten after an hour
    assert ip_key("2001:db8::1") == ip_key("2001:db8::ffff") == "2001:db8::/64"
    assert ip_key("::ffff:10.0.0.1") == "10.0.0.1"


# ---------------------------------------------------------------- origins (defects 4 and 8)


async def test_agent_endpoint_refuses_browser_origins_not_listed(tmp_path: Path) -> None:
    config = make_config(tmp_path, agent_allowed_origins=["https://desk.example.com"])
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Sam Sdr", PASSWORD)
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(server.url, "/agent", origin="https://evil.example")
        assert refused.value.response.status_code == 403
        port = server.port
        with pytest.raises(InvalidStatus):  # not even the server's own pages: they have no use for /agent
            await open_ws(server.url, "/agent", origin=f"http://127.0.0.1:{port}")
        client, _ = await agent_login(server, EMAIL)  # the desk client sends no Origin
        await client.close()
        listed = await open_ws(server.url, "/agent", origin="https://desk.example.com")
        await listed.close()


async def test_own_origin_comes_from_configuration_not_the_host_header(tmp_path: Path) -> None:
    config = make_config(tmp_path, public_origins=["https://chat.example.com"])
    async with run_server(config) as server:
        port = server.port
        # DNS rebinding: evil.example resolves to this server, so Origin and Host both say evil.example
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(
                f"ws://evil.example:{port}", "/visitor", origin=f"http://evil.example:{port}",
                host="127.0.0.1", port=port,
            )  # fmt: skip
        assert refused.value.response.status_code == 403
        for own in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", "https://chat.example.com"):
            client = await open_ws(server.url, "/visitor", origin=own)
            await client.close()


# ---------------------------------------------------------------- scrypt (defect 4)


def test_production_password_hashing_meets_owasp_minimum() -> None:
    """Without the test suite's SDR_SERVER_SCRYPT_N: a fresh process, the shipped defaults, a real hash."""
    code = (
        "import json; from chat_server.config import Config; from chat_server.security import hash_password\n"
        "c = Config(); n, r, p_ = hash_password('pw', c.scrypt_params).split('$')[1:4]\n"
        "print(json.dumps([c.scrypt_n, c.scrypt_r, c.scrypt_p, int(n), int(r), int(p_)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    config_n, config_r, config_p, n, r, p_ = json.loads(done.stdout)
    assert (config_n, config_r, config_p) == (n, r, p_)
    assert n >= 2**17 and r >= 8 and p_ >= 1  # OWASP Password Storage Cheat Sheet: N=2^17, r=8, p=1


async def test_cheap_old_hashes_are_upgraded_at_sign_in(tmp_path: Path) -> None:
    from chat_server.security import ScryptParams, hash_password

    async with run_server(make_config(tmp_path, scrypt_n=2**11)) as server:
        agent = server.admin.add_agent(EMAIL, "Sam Sdr", PASSWORD)
        with server.storage.savepoint():  # as if stored by an older release with a lower cost
            server.storage.set_password(agent.id, hash_password(PASSWORD, ScryptParams(2**4, 8, 1)))
        server.storage.commit_now()
        client, _ = await agent_login(server, EMAIL)
        await client.close()
        record = server.storage.agent_by_email(EMAIL)
        assert record is not None and record.password_hash.startswith("scrypt$2048$8$1$")
        client, _ = await agent_login(server, EMAIL)  # and the new hash works
        await client.close()


# ---------------------------------------------------------------- token idle expiry (defect 8)


async def test_tokens_expire_after_being_idle(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    async with run_server(make_config(tmp_path, token_idle_days=2), clock) as server:
        server.admin.add_agent(EMAIL, "Sam Sdr", PASSWORD)
        client, welcome = await agent_login(server, EMAIL)
        await client.close()
        for _ in range(3):  # used every 1.5 days: stays valid well past 2 days after it was made
            clock.advance(1.5 * 86400)
            client, _ = await agent_login(server, EMAIL, token=welcome.token)
            await client.close()
        clock.advance(2.1 * 86400)
        stale = await open_ws(server.url, "/agent")
        await stale.send(p.Hello(id=cid(), token=welcome.token))
        assert await stale.closed_code() == p.CloseCode.AUTH_FAILED
        assert "expired" in stale.ws.close_reason
        # the periodic clean-up revokes idle tokens too (a live connection counts as use)
        gone, other = await agent_login(server, EMAIL)
        await gone.close()
        live, third = await agent_login(server, EMAIL)
        clock.advance(3 * 86400)
        server.prune()
        assert server.storage.token_last_used(token_hash(other.token)) is None  # revoked
        await live.ok(p.ListAgents(id=cid()))  # still connected, still working
        await live.close()
        again, _ = await agent_login(server, EMAIL, token=third.token)
        await again.close()


# ---------------------------------------------------------------- anonymous visitors expire (defect 8)


async def test_visitors_who_never_chat_are_forgotten(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    async with run_server(make_config(tmp_path, visitor_expiry_hours=24), clock) as server:
        idle, idle_welcome = await visitor_login(server)
        await idle.close()
        chatty, chatty_welcome = await visitor_login(server)
        await chatty.ok(p.VisitorSendMessage(id=cid(), text="hello"))
        await chatty.close()
        connected, connected_welcome = await visitor_login(server)
        clock.advance(23 * 3600)
        server.prune()
        assert server.storage.get_visitor(idle_welcome.visitor.id) is not None  # not yet
        clock.advance(2 * 3600)
        server.prune()
        assert server.storage.get_visitor(idle_welcome.visitor.id) is None
        assert server.storage.get_visitor(chatty_welcome.visitor.id) is not None
        assert server.storage.get_visitor(connected_welcome.visitor.id) is not None  # on the page now
        await connected.ok(p.VisitorSendMessage(id=cid(), text="still here"))
        await connected.close()
        # a forgotten visitor's token just starts a new visitor
        back, welcome = await visitor_login(server, idle_welcome.visitor_token)
        assert welcome.visitor.id != idle_welcome.visitor.id
        await back.close()


# ---------------------------------------------------------------- calendar time zones (defect 8)


@pytest.mark.parametrize("zone", ["America", "x" * 300, "../../etc/passwd", "America/"])
async def test_bad_calendar_time_zone_is_invalid_not_internal(tmp_path: Path, zone: str) -> None:
    async with run_server(make_config(tmp_path)) as server:
        agent = server.admin.add_agent(EMAIL, "Sam Sdr", PASSWORD)
        client, _ = await agent_login(server, EMAIL)
        settings = p.CalendarSettings(agent_id=agent.id, timezone=zone)
        answer = await client.call(p.UpdateCalendarSettings(id=cid(), settings=settings))
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.INVALID, answer
        assert len(answer.message) < 300
        await client.close()


# ---------------------------------------------------------------- the admin CLI (defect 8)


def test_cli_revokes_tokens_starting_with_a_dash_and_fails_for_unknown_ones(tmp_path: Path) -> None:
    from chat_server.storage import open_storage
    from chat_server.storage.base import AgentRecord

    config = make_config(tmp_path)  # SQLite file or PostgreSQL database: the CLI is pointed at the same
    db, env = config.db_path, clean_env(**storage_env())
    storage = open_storage(config)
    with storage.savepoint():
        storage.add_agent(AgentRecord(p.Agent(id="a1", name="Sam", email=EMAIL), "x"))
        storage.add_token(token_hash("-abc"), "a1", "", 0.0)
    storage.commit_now()
    storage.close()
    done = cli("tokens", "revoke", "--token", "-abc", "--db", db, env=env)
    assert done.returncode == 0 and "revoked" in done.stdout, done.stderr
    again = cli("tokens", "revoke", "--token", "-abc", "--db", db, env=env)
    assert again.returncode == 1 and "no such active token" in again.stderr
    unknown = cli("tokens", "revoke", "--token", "never-issued", "--db", db, env=env)
    assert unknown.returncode == 1 and "no such active token" in unknown.stderr
    listed = cli("agents", "list", "--db", db, env=env)
    assert listed.returncode == 0 and EMAIL in listed.stdout, listed.stderr
    report = cli("report", "sla", "--db", db, env=env)
    assert report.returncode == 0 and "no routed conversations" in report.stdout, report.stderr


COMMANDS = [["serve", "--port", "0"], ["agents", "list"], ["tokens", "revoke", "--email", "a@b.c"]]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.one_storage  # SQLite's data directory; the PostgreSQL counterpart is the test below
def test_cli_missing_data_directory_is_one_clear_line(tmp_path: Path, command: list[str]) -> None:
    db = str(tmp_path / "no" / "such" / "dir" / "chat.sqlite3")
    done = cli(*command, "--db", db)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert f"cannot use the database {db!r}" in done.stderr and "directory exists" in done.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.one_storage
def test_cli_unreachable_postgres_is_one_clear_line_without_the_password(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"postgresql://sdr:s3cret-pw@/sdr?host={tmp_path}&connect_timeout=3"  # no server at that socket
    done = cli(*command, env=clean_env(SDR_SERVER_STORAGE="postgres", SDR_SERVER_DATABASE_URL=url))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot use the database PostgreSQL" in done.stderr and "SDR_SERVER_DATABASE_URL" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout


# ---------------------------------------------------------------- what the desk client makes of it


async def test_desk_client_asks_to_sign_in_again_when_its_token_expired(tmp_path: Path) -> None:
    from agent_app.backoff import Backoff
    from agent_app.errors import NotConnected
    from agent_app.outbox import Outbox
    from agent_app.session import ConnectionState, Session
    from agent_app.store import Store

    clock = FakeClock(1_800_000_000.0)
    async with run_server(make_config(tmp_path, token_idle_days=1), clock) as server:
        server.admin.add_agent(EMAIL, "Sam Sdr", PASSWORD)
        _, welcome = await agent_login(server, EMAIL)
        clock.advance(2 * 86400)
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        tokens: list[str] = []
        backoff = Backoff(base=0.01, cap=0.05)
        session = Session(server.url, Store(), outbox, token=welcome.token, backoff=backoff)
        session.add_token_listener(tokens.append)
        await asyncio.wait_for(session.run(), 10)  # ends by itself: no reconnect loop on a dead token
        assert session.state is ConnectionState.SIGNED_OUT and "expired" in session.detail
        assert tokens == [""]  # the keychain copy is dropped
        # a throttled password sign-in is a message to show, not "bad password"
        for n in range(6):
            await _attempt(server, f"guess {n}")
        with pytest.raises(NotConnected, match="try again in"):
            await session.sign_in(EMAIL, PASSWORD)
        outbox.close()


async def test_a_second_hello_is_refused_without_effect(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path)) as server:
        server.admin.add_agent(EMAIL, "Sam Sdr", PASSWORD)
        agent, _ = await agent_login(server, EMAIL)
        answer = await agent.call(p.Hello(id=cid(), email="other@example.com", password="x"))
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.INVALID
        assert (await agent.ok(p.ListAgents(id=cid())))["agents"][0]["email"] == EMAIL  # still Sam
        visitor, _ = await visitor_login(server)
        answer = await visitor.call(p.VisitorHello(id=cid(), visitor_token="someone-else"))
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.INVALID
        await agent.close()
        await visitor.close()
