"""The picker and the editor in the real main window, signed in to a real chat server (port 0)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from agent_app import protocol as p
from agent_app import saved_replies as sr
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Delivery, Store
from chat_server import ChatServer
from tests.qt_loop import pump_until as until
from tests.server.conftest import PASSWORD, Client, Team, agent_login, cid, visitor_login
from ui.bridge import StoreBridge
from ui.conversation.saved_replies import SavedRepliesFeature, SavedRepliesModel
from ui.main_window import MainWindow
from ui.settings.saved_replies_dialog import SavedRepliesDialog
from ui.shell.features import install_features
from ui.tasks import TaskRunner

GREETING = "Hi {visitor_first_name}, thanks for stopping by! I'm {my_first_name} from the sales team."


@dataclass
class Desk:
    server: ChatServer
    team: Team
    window: MainWindow
    session: Session
    store: Store
    maria: Client  # a manager on another client
    visitor: Client
    conversation_id: str

    @property
    def feature(self) -> Any:
        return self.window.findChild(SavedRepliesFeature)  # put in by install_features (the shell's path)

    def replies(self, shortcut: str) -> list[p.SavedReply]:
        return [r for r in self.store.saved_replies.values() if r.shortcut == shortcut]


@pytest.fixture
async def desk(server: ChatServer, team: Team, qtbot: Any, tmp_path: Path) -> AsyncIterator[Desk]:
    maria, _ = await agent_login(server, "maria@example.com")
    await maria.ok(p.CreateSavedReply(id=cid(), shortcut="greet", title="Greeting", text=GREETING, team=True))
    visitor, _ = await visitor_login(server)
    await visitor.ok(p.VisitorUpdateProfile(id=cid("vp"), name="Ann Lee", company="Acme Corp"))
    conversation_id = (await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="Hi, pricing?")))[
        "conversation_id"
    ]
    store, outbox = Store(), Outbox(tmp_path / "outbox.sqlite3")
    session = Session(server.url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
    runner = TaskRunner()
    window = MainWindow(StoreBridge(store), session, runner, settings=None)  # type: ignore[arg-type]
    install_features(window)  # the production install path (the shell calls it)
    window.resize(1300, 800)
    window.show()
    await session.sign_in("sam@example.com", PASSWORD)
    task = asyncio.create_task(session.run())
    try:
        await until(lambda: session.state is ConnectionState.ONLINE, "online")
        await until(lambda: conversation_id in store.conversations, "the chat")
        window.findChild(SavedRepliesFeature).ensure_loaded()  # as the first "/" does
        await until(lambda: any(r.shortcut == "greet" for r in store.saved_replies.values()), "team replies")
        window.open_conversation(conversation_id)
        window.conversation.composer.edit.setFocus()
        yield Desk(server, team, window, session, store, maria, visitor, conversation_id)
    finally:
        await session.stop()
        # Closed here, not by qtbot: closing stops "typing", which must find the session offline (pytest-qt
        # closes its widgets before async fixtures end, while the session would still be online).
        window.close()
        window.deleteLater()
        await asyncio.wait_for(task, 10)
        runner.cancel_all()
        outbox.close()
        await maria.close()
        await visitor.close()


async def test_slash_filters_and_enter_inserts_the_greeting_with_the_visitors_first_name(
    desk: Desk, qtbot: Any
) -> None:
    composer, feature = desk.window.conversation.composer, desk.feature
    await desk.maria.ok(
        p.CreateSavedReply(id=cid(), shortcut="pricing", title="Pricing", text="Plans start…", team=True)
    )
    await until(lambda: desk.replies("pricing"), "the second reply")
    qtbot.keyClicks(composer.edit, "/")
    assert feature.is_open() and feature.picker.proxy.rowCount() == 2
    qtbot.keyClicks(composer.edit, "gre")
    assert feature.picker.proxy.rowCount() == 1 and feature.picker.current().shortcut == "greet"
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == "Hi Ann, thanks for stopping by! I'm Sam from the sales team."
    assert not feature.is_open()
    # Inserted, not sent: the SDR reviews it first.
    assert not [
        i
        for i in desk.store.transcripts.get(desk.conversation_id, [])
        if i.message.author_kind is p.AuthorKind.AGENT
    ]
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    await until(
        lambda: any(
            i.message.text.startswith("Hi Ann,") and i.delivery is Delivery.SENT
            for i in desk.store.transcripts[desk.conversation_id]
        ),
        "the greeting sent",
    )


async def test_escape_closes_and_ctrl_semicolon_inserts_at_the_cursor_keyboard_only(
    desk: Desk, qtbot: Any
) -> None:
    composer, feature = desk.window.conversation.composer, desk.feature
    qtbot.keyClicks(composer.edit, "/gr")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Escape)
    assert not feature.is_open() and composer.text() == "/gr"  # Esc leaves what was typed
    composer.set_text("")
    qtbot.keyClicks(composer.edit, "Sure! ")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Semicolon, Qt.KeyboardModifier.ControlModifier)
    assert feature.is_open()
    qtbot.keyClicks(composer.edit, "greeting")  # matches the title too
    qtbot.keyClick(composer.edit, Qt.Key.Key_Down)  # one match: stays on it
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == "Sure! Hi Ann, thanks for stopping by! I'm Sam from the sales team."
    qtbot.keyClick(composer.edit, Qt.Key.Key_Semicolon, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(composer.edit, Qt.Key.Key_Semicolon, Qt.KeyboardModifier.ControlModifier)
    assert not feature.is_open()  # Ctrl+; again closes it
    # A message that merely starts with "/" once the composer has text does not open the picker.
    composer.set_text("x")
    qtbot.keyClicks(composer.edit, "/")
    assert not feature.is_open()


async def test_an_unknown_variable_stays_visible_and_blocks_sending_until_fixed(
    desk: Desk, qtbot: Any
) -> None:
    composer, feature = desk.window.conversation.composer, desk.feature
    await desk.session.request(
        p.CreateSavedReply(id=cid(), shortcut="oops", title="Typo", text="Hi {first_name}!")
    )
    await until(lambda: desk.replies("oops"), "my reply")
    qtbot.keyClicks(composer.edit, "/oops")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == "Hi {first_name}!"
    assert composer.error.isVisible() and "{first_name}" in composer.error.text()
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)  # refused: stays in the box, with the reason
    assert composer.text() == "Hi {first_name}!" and "{first_name}" in composer.error.text()
    assert feature is desk.feature
    composer.set_text("Hi Ann!")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == ""


async def test_a_reply_created_elsewhere_shows_up_in_the_open_picker(desk: Desk, qtbot: Any) -> None:
    composer, feature = desk.window.conversation.composer, desk.feature
    qtbot.keyClicks(composer.edit, "/fol")
    assert feature.is_open() and feature.picker.proxy.rowCount() == 0
    assert "No saved reply matches" in feature.picker.empty.text()
    await desk.maria.ok(
        p.CreateSavedReply(id=cid(), shortcut="follow-up", title="Follow up", text="Following up!", team=True)
    )
    await until(lambda: feature.picker.proxy.rowCount() == 1, "the new team reply in the picker")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == "Following up!"


async def test_calendar_link_brings_the_booking_card_after_the_message(desk: Desk, qtbot: Any) -> None:
    composer, feature = desk.window.conversation.composer, desk.feature
    always = [p.Weekly(weekday=d, start="00:00", end="24:00") for d in range(7)]
    settings = p.CalendarSettings(agent_id=desk.team.sdr1.id, min_notice_minutes=0, availability=always)
    await desk.session.request(p.UpdateCalendarSettings(id=cid(), settings=settings))
    text = "Happy to walk you through it, {visitor_first_name}: {calendar_link}"
    await desk.session.request(p.CreateSavedReply(id=cid(), shortcut="book", title="Book a call", text=text))
    await until(lambda: desk.replies("book"), "my reply")
    qtbot.keyClicks(composer.edit, "/book")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == f"Happy to walk you through it, Ann: {sr.CALENDAR_TEXT}"
    assert feature.calendar_chip.isVisible()
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert not feature.calendar_chip.isVisible()

    def agent_lines() -> list[p.Message]:
        return [
            i.message
            for i in desk.store.transcripts.get(desk.conversation_id, [])
            if i.message.author_kind in (p.AuthorKind.AGENT, p.AuthorKind.BOT) and i.message.id
        ]

    await until(lambda: any(m.card for m in agent_lines()), "the booking card")
    lines = agent_lines()
    assert lines[0].text.startswith("Happy to walk you through it, Ann") and lines[1].card is not None
    assert lines[1].card.agent_id == desk.team.sdr1.id


async def test_the_editor_creates_validates_and_deletes_against_the_server(desk: Desk, qtbot: Any) -> None:
    sam_elsewhere, _ = await agent_login(desk.server, "sam@example.com")
    try:
        desk.window.presence_button.saved_replies_action.trigger()
        dialog = desk.feature.dialog
        assert isinstance(dialog, SavedRepliesDialog) and dialog.isVisible()
        assert not dialog.new_team_button.isVisible()  # Sam is an SDR
        # The team reply is listed but read-only for an SDR.
        dialog.select(desk.replies("greet")[0].id)
        assert (
            dialog.shortcut.text() == "greet"
            and not dialog.text.isEnabled()
            and not dialog.save_button.isEnabled()
        )
        assert "only managers" in dialog.scope.text()

        dialog.new_personal.click()
        qtbot.keyClicks(dialog.shortcut, "Intro Me")
        qtbot.keyClicks(dialog.title, "Intro")
        dialog.text.setPlainText("I'm {my_name}, hi {visitor_first_nam}")
        assert "{visitor_first_nam}" in dialog.problems.text()
        assert dialog.preview.text().startswith("I'm Sam Sdr, hi ")
        dialog.save_button.click()
        assert "no spaces" in dialog.problems.text() and "{visitor_first_nam}" in dialog.problems.text()
        dialog.shortcut.setText("intro")
        dialog.text.setPlainText("I'm {my_name}, hi {visitor_first_name}!")
        assert dialog.preview.text() == "I'm Sam Sdr, hi Ann!"
        dialog.save_button.click()
        await until(lambda: desk.replies("intro"), "the new reply in the store")
        await until(lambda: dialog.status.text() == "Saved /intro.", "the saved status")
        listed = await sam_elsewhere.ok(p.ListSavedReplies(id=cid()))
        assert [r["text"] for r in listed["replies"] if r["shortcut"] == "intro"] == [
            "I'm {my_name}, hi {visitor_first_name}!"
        ]

        # A duplicate shortcut: the server's reason is shown inline, nothing is lost.
        dialog.new_personal.click()
        dialog.shortcut.setText("intro")
        dialog.title.setText("Again")
        dialog.text.setPlainText("Again")
        dialog.save_button.click()
        await until(lambda: "already used" in dialog.problems.text(), "the conflict message")
        assert dialog.text.toPlainText() == "Again"

        # Leaving unsaved changes asks first; "no" keeps them.
        intro = desk.replies("intro")[0]
        asked: list[bool] = []
        dialog.confirm_discard = lambda parent: asked.append(False) or False
        dialog.select(intro.id)
        assert asked and dialog.text.toPlainText() == "Again" and dialog.editing is None
        dialog.new_personal.click()
        assert len(asked) == 2 and dialog.text.toPlainText() == "Again"
        dialog.confirm_discard = lambda parent: True

        # Edited on another device: the open editor follows (no local changes to lose).
        dialog.select(intro.id)
        assert dialog.text.toPlainText() == "I'm {my_name}, hi {visitor_first_name}!"
        await sam_elsewhere.ok(
            p.UpdateSavedReply(id=cid(), reply_id=intro.id, shortcut="intro", title="Intro v2", text="v2")
        )
        await until(lambda: dialog.title.text() == "Intro v2", "the edit from the other device")

        dialog.confirm_delete = lambda parent, reply: True
        dialog.delete_button.click()
        await until(lambda: not desk.replies("intro"), "the reply deleted")
        listed = await sam_elsewhere.ok(p.ListSavedReplies(id=cid()))
        assert "intro" not in [r["shortcut"] for r in listed["replies"]]
    finally:
        await sam_elsewhere.close()


async def test_the_list_is_loaded_when_first_needed_and_again_after_a_reconnect(
    desk: Desk, qtbot: Any
) -> None:
    composer, feature = desk.window.conversation.composer, desk.feature
    assert feature.loaded
    # Written behind the server's back (no event): only a fresh list can show it.
    hidden = p.SavedReply(id="hidden", shortcut="hidden", title="Hidden", text="Psst", owner_id=None)
    desk.server.storage.save_saved_reply(hidden)  # type: ignore[attr-defined]
    desk.server.storage.commit_now()
    qtbot.keyClicks(composer.edit, "/hid")
    assert feature.picker.proxy.rowCount() == 0  # loaded once per connection: no request now
    qtbot.keyClick(composer.edit, Qt.Key.Key_Escape)
    composer.set_text("")
    feature.on_session_state(ConnectionState.RECONNECTING, "")  # as the session reports a lost link
    assert not feature.loaded
    feature.on_session_state(ConnectionState.ONLINE, "")  # picker closed: nothing is requested yet
    assert not feature.loaded
    qtbot.keyClicks(composer.edit, "/hid")
    assert feature.loaded
    await until(lambda: feature.picker.proxy.rowCount() == 1, "the list reloaded by the picker")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == "Psst"


async def test_a_manager_writes_team_replies_in_the_editor_and_sdrs_get_them_live(
    desk: Desk, qtbot: Any, tmp_path: Path
) -> None:
    store, outbox = Store(), Outbox(tmp_path / "maria-outbox.sqlite3")
    session = Session(desk.server.url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
    runner, bridge = TaskRunner(), StoreBridge(store)
    await session.sign_in("maria@example.com", PASSWORD)
    task = asyncio.create_task(session.run())
    try:
        await until(lambda: session.state is ConnectionState.ONLINE, "Maria online")
        await sr.refresh(session)
        dialog = SavedRepliesDialog(bridge, session, runner, SavedRepliesModel(bridge))
        qtbot.addWidget(dialog)
        dialog.confirm_discard = lambda parent: True  # qtbot closes it at the end: never a modal question
        dialog.show()
        assert dialog.new_team_button.isVisible()
        dialog.select(next(r.id for r in store.saved_replies.values() if r.shortcut == "greet"))
        assert dialog.text.isEnabled() and dialog.save_button.isEnabled()  # managers edit team replies
        dialog.new_team_button.click()
        assert dialog.scope.text().startswith("New team reply")
        dialog.shortcut.setText("/Demo-Ask")  # a leading "/" and capitals are forgiven by the server
        dialog.title.setText("Ask for a demo")
        dialog.text.setPlainText("Would a live demo help, {visitor_first_name}?")
        dialog.save_button.click()
        await until(lambda: desk.replies("demo-ask"), "the team reply at Sam's, live")
        assert desk.replies("demo-ask")[0].owner_id is None
    finally:
        await session.stop()
        await asyncio.wait_for(task, 10)
        runner.cancel_all()
        outbox.close()
