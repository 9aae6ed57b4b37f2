"""Who is viewing / typing on the desk: the window signed in to a real server, a teammate on the real
protocol; the header names them, the composer warns while they type, and the desk says what it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_app import protocol as p
from agent_app.presence_in_chat import ChatPresence, ViewingReporter
from chat_server.app import run_server
from chat_server.config import Config
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import PASSWORD, Client, agent_login, cid, visitor_login


async def _chat(server: Any) -> tuple[Client, str]:
    visitor, _ = await visitor_login(server, page_url="https://example.com/pricing")
    result = await visitor.ok(p.VisitorSendMessage(id=cid(), text="Hi, pricing?"))
    return visitor, str(result["conversation_id"])


async def _viewers_become(client: Client, conversation: str, expected: list[str]) -> None:
    """Reads viewers frames (with frame_of's timeout) until the conversation's viewers are ``expected``."""
    while True:
        frame = await client.frame_of(p.ViewersFrame)
        if frame.conversation_id == conversation and sorted(frame.agent_ids) == sorted(expected):
            return


async def test_header_and_composer_show_the_teammate_who_views_and_types(qtbot: Any, tmp_path: Path) -> None:
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "server.sqlite3"), playbook="off")
    async with run_server(config) as server:
        server.admin.add_agent("sam@example.com", "Sam Chen", PASSWORD, "US-West", "sdr")
        tina_agent = server.admin.add_agent("tina@example.com", "Tina Ortiz", PASSWORD, "US-East", "sdr")
        visitor, conversation = await _chat(server)
        tina, _ = await agent_login(server, "tina@example.com")
        async with signed_in_desk(qtbot, server.url, tmp_path, "sam@example.com", PASSWORD) as desk:
            window = desk.window
            header, composer = window.conversation.header, window.conversation.composer
            await until(lambda: conversation in desk.store.conversations, "the chat in the store")
            window.open_conversation(conversation)
            # The desk told the server: Tina hears that Sam views it.
            frame = await tina.frame_of(p.ViewersFrame)
            sam_id = desk.store.me.id if desk.store.me else ""
            assert (frame.conversation_id, frame.agent_ids) == (conversation, [sam_id])
            assert not header.teammates.isVisible()  # only Sam himself is there

            await tina.ok(p.SetViewing(id=cid(), conversation_id=conversation))
            await until(lambda: header.teammates.text() == "Tina Ortiz is viewing", "Tina viewing")
            assert header.teammates.isVisible() and not composer.teammate_note.isVisible()

            # Sam switches to the Reports view: he no longer views the chat; back again, he does.
            reports = desk.features.reports if desk.features else None
            assert reports is not None
            reports.action.trigger()
            await _viewers_become(tina, conversation, [tina_agent.id])
            window.open_conversation(conversation)
            await _viewers_become(tina, conversation, [sam_id, tina_agent.id])
            viewing = desk.features.viewing if desk.features else None
            assert viewing is not None
            window.hide()  # to the tray: nobody is looking any more
            await until(lambda: viewing.reporter.target is None, "the desk noticed it is hidden")
            await _viewers_become(tina, conversation, [tina_agent.id])
            window.show()
            await until(lambda: viewing.reporter.target == conversation, "the desk noticed it is back")
            await _viewers_become(tina, conversation, [sam_id, tina_agent.id])

            await tina.ok(p.SetTyping(id=cid(), conversation_id=conversation, active=True))
            await until(lambda: header.teammates.text() == "Tina Ortiz is typing…", "Tina typing")
            assert composer.teammate_note.isVisible()
            assert composer.teammate_note.text() == "Tina is typing a reply: check before you answer too."
            assert not window.conversation.typing_label.isVisible()  # that line is the visitor's
            window.conversation.grab()  # paints with both lines shown

            # Her note is in (a private one: a reply would make the chat hers, and Sam's desk lose it).
            note = p.SendMessage(
                id=cid(), conversation_id=conversation, text="I've got this one", private=True
            )
            await tina.ok(note)
            await until(lambda: not composer.teammate_note.isVisible(), "the note gone with her message")
            assert header.teammates.text() == "Tina Ortiz is viewing"

            await tina.close()  # Tina's desk goes away: so does her name
            await until(lambda: not header.teammates.isVisible(), "Tina gone from the header")
        await visitor.close()


def test_presence_texts_and_stale_typing() -> None:
    now = [100.0]
    presence = ChatPresence(clock=lambda: now[0])
    agents = {
        "sam": p.Agent(id="sam", name="Sam Chen", email="s@x"),
        "tina": p.Agent(id="tina", name="Tina Ortiz", email="t@x"),
        "jo": p.Agent(id="jo", name="Jo Park", email="j@x"),
    }
    changed: list[str] = []
    presence.listeners.append(changed.append)
    presence.apply_viewers("c1", ["sam", "tina", "jo"])
    assert presence.header_text("c1", "sam", agents) == "Tina Ortiz and Jo Park are viewing"
    typing = p.TypingFrame(conversation_id="c1", author_kind=p.AuthorKind.AGENT, author_id="jo", active=True)
    presence.on_typing_changed(typing)
    assert presence.header_text("c1", "sam", agents) == "Jo Park is typing… · Tina Ortiz is viewing"
    assert (
        presence.composer_warning("c1", "sam", agents) == "Jo is typing a reply: check before you answer too."
    )
    assert presence.next_expiry() == 8.0
    now[0] += 8.5  # no refresh from Jo's desk: it stopped (quit, or the "stopped" frame was lost)
    assert presence.composer_warning("c1", "sam", agents) == ""
    visitor = p.TypingFrame(conversation_id="c1", author_kind=p.AuthorKind.VISITOR, active=True)
    presence.on_typing_changed(visitor)  # the visitor's typing is not a teammate's
    assert presence.others_typing("c1", "sam") == []
    assert changed == ["c1", "c1"]


def test_reporter_sends_each_change_once_and_again_after_a_reconnect() -> None:
    sent: list[str | None] = []
    reporter = ViewingReporter(sent.append)
    reporter.show("c1")  # offline: nothing yet
    reporter.set_online(True)
    reporter.show("c1")
    reporter.show("c2")
    reporter.show(None)
    reporter.set_online(False)
    reporter.show("c3")
    reporter.set_online(True)  # a new connection: the server knows nothing of us
    assert sent == ["c1", "c2", None, "c3"]
