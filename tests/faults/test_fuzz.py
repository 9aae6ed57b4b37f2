"""Fuzzer over both endpoints: any frame (random bytes, text, JSON, command-shaped JSON, deep nesting) gets an
Ack or a documented Error, never a 1011 close or an unhandled exception, and the server keeps serving."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from agent_app import protocol as p
from tests.faults.conftest import FULL, ThreadedServer, report
from tests.server.conftest import PASSWORD

EXAMPLES = 3000 if FULL else 100
AGENT_TAGS = sorted(str(t.__struct_config__.tag) for t in p.AgentCommand.__args__)
VISITOR_TAGS = sorted(str(t.__struct_config__.tag) for t in p.VisitorCommand.__args__)
FIELDS = ["conversation_id", "text", "agent_id", "level", "presence", "visitor_id", "note", "active", "url",
          "title", "name", "email", "company", "start", "slot", "reply_id", "shortcut", "team", "preview",
          "token", "version", "last_seq", "epoch", "password", "private", "utm", "page_url"]  # fmt: skip

_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    _scalars,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
    max_leaves=25,
)


def command_like(tags: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped like commands: a real or bogus ``type``, an id of any JSON type, real field names
    with values of any JSON type."""
    return st.fixed_dictionaries(
        {"type": st.sampled_from(tags) | json_values, "id": st.text(max_size=20) | json_values},
        optional={name: json_values for name in FIELDS},
    )


def frames(tags: list[str]) -> st.SearchStrategy[str | bytes]:
    text = st.text(st.characters(exclude_categories=["Cs"]), max_size=3000)
    return st.one_of(
        st.binary(max_size=3000),  # binary frames
        text,
        json_values.map(json.dumps),
        command_like(tags).map(json.dumps),
        st.integers(1, 15000).map(lambda n: "[" * n),
        st.integers(1, 5000).map(lambda n: '{"type":' * n),
        st.tuples(command_like(tags), st.integers(1, 12000)).map(
            lambda t: json.dumps(t[0])[:-1] + ',"deep":' + "[" * t[1]
        ),
    )


def _reply(ws: ClientConnection) -> p.Ack | p.Error:
    """Frames until the answer to the last frame (events and typing frames in between are skipped)."""
    while True:
        frame = p.decode_server_frame(ws.recv(timeout=10))
        if isinstance(frame, p.Ack | p.Error):
            return frame


def _open(url: str, path: str) -> ClientConnection:
    return connect(url + path, subprotocols=[p.SUBPROTOCOL], open_timeout=5, max_size=None).__enter__()  # type: ignore[list-item]


@pytest.fixture
def fuzz_server(
    threaded_server: ThreadedServer, caplog: pytest.LogCaptureFixture
) -> Iterator[ThreadedServer]:
    caplog.set_level(logging.WARNING)
    yield threaded_server
    # Nothing the fuzzer sent may have been an unhandled exception on the server side.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("chat_server")]
    assert errors == [], [r.getMessage() for r in errors]
    # ... and a legitimate client is still served.
    with connect(threaded_server.server.url + "/visitor", subprotocols=[p.SUBPROTOCOL], open_timeout=5) as ws:  # type: ignore[list-item]
        ws.send(p.encode(p.VisitorHello(id="legit")))
        assert isinstance(p.decode_server_frame(ws.recv(timeout=10)), p.VisitorWelcome)
        ws.send(p.encode(p.VisitorSendMessage(id="legit-1", text="still served")))
        assert isinstance(_reply(ws), p.Ack)


def _fuzz(ws: ClientConnection, frame: str | bytes, limit: int, seen: dict[str, int]) -> None:
    size = len(frame.encode()) if isinstance(frame, str) else len(frame)
    if size > limit:
        return  # 1009 is the documented answer to oversized frames (tests/server/test_protocol.py)
    try:
        ws.send(frame)
        answer = _reply(ws)
    except ConnectionClosed as exc:
        pytest.fail(f"closed {exc.rcvd.code if exc.rcvd else None} after {frame[:80]!r}")
    key = "ack" if isinstance(answer, p.Ack) else answer.code.value
    seen[key] = seen.get(key, 0) + 1


# The server runs on a thread of this process and draws from `random` (websockets' keepalive ping payloads)
# while hypothesis generates inputs; hypothesis takes that for a strategy using `random` and warns.
QUIET = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@QUIET
@SETTINGS
@given(frame=frames([t for t in AGENT_TAGS if t != "sign_out"]))
def test_fuzz_signed_in_agent(fuzz_server: ThreadedServer, frame: str | bytes) -> None:
    state = _state(fuzz_server, "agent")
    _fuzz(state["ws"], frame, p.MAX_AGENT_FRAME, state["seen"])


@QUIET
@SETTINGS
@given(frame=frames([t for t in AGENT_TAGS if t != "hello"]))
def test_fuzz_agent_before_hello(fuzz_server: ThreadedServer, frame: str | bytes) -> None:
    state = _state(fuzz_server, "anonymous")
    _fuzz(state["ws"], frame, p.MAX_AGENT_FRAME, state["seen"])


@QUIET
@SETTINGS
@given(frame=frames(VISITOR_TAGS))
def test_fuzz_visitor(fuzz_server: ThreadedServer, frame: str | bytes) -> None:
    state = _state(fuzz_server, "visitor")
    _fuzz(state["ws"], frame, p.MAX_VISITOR_FRAME, state["seen"])


_STATES: dict[int, dict[str, Any]] = {}


def _state(server: ThreadedServer, who: str) -> dict[str, Any]:
    """One connection per test (hypothesis calls the test once per input; the fixture lives across them)."""
    state = _STATES.get(id(server))
    if state is None:
        url = server.server.url
        if who == "visitor":
            ws = _open(url, "/visitor")
            ws.send(p.encode(p.VisitorHello(id="vh")))
            assert isinstance(p.decode_server_frame(ws.recv(timeout=10)), p.VisitorWelcome)
        else:
            ws = _open(url, "/agent")
            if who == "agent":
                ws.send(p.encode(p.Hello(id="h", email="maria@example.com", password=PASSWORD)))
                assert isinstance(p.decode_server_frame(ws.recv(timeout=10)), p.Welcome)
        state = _STATES[id(server)] = {"ws": ws, "seen": {}, "who": who}
    return state


@pytest.fixture(autouse=True)
def _report_and_close() -> Iterator[None]:
    yield
    for state in _STATES.values():
        report(f"fuzz {state['who']}: {sum(state['seen'].values())} frames, answers {state['seen']}")
        state["ws"].close()
    _STATES.clear()
