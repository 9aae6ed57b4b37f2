"""Conversation view: transcript model, delivery states and retry, plain text, composer, typing."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkRequest

from agent_app import protocol as p
from agent_app.store import Delivery, Store
from tests.ui.conftest import FakeClock
from tests.ui.fakes import ME, TEAMMATE, RecordingSession, fill_transcript, message
from ui.bridge import StoreBridge
from ui.conversation import Composer, ConversationView, MessageKind, TranscriptModel, TranscriptRole
from ui.conversation.transcript_delegate import text_layout
from ui.conversation.typing import TypingThrottle
from ui.tasks import TaskRunner

CID = "c-00003"


def make_view(
    qtbot: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner
) -> ConversationView:
    view = ConversationView(bridge, session, runner)  # type: ignore[arg-type]
    qtbot.addWidget(view)
    view.resize(800, 700)
    view.show()
    return view


def test_transcript_model_passes_qtmodeltester(
    qtmodeltester: Any, bridge: StoreBridge, store: Store, now: float
) -> None:
    fill_transcript(store, CID, now)
    model = TranscriptModel(bridge)
    model.set_conversation(CID)
    qtmodeltester.check(model)
    kinds = {model.index(r).data(TranscriptRole.KIND) for r in range(model.rowCount())}
    assert kinds == set(MessageKind)
    assert model.index(0).data(TranscriptRole.DAY_BREAK) is True  # first row; yesterday's message
    assert model.index(1).data(TranscriptRole.DAY_BREAK) is True  # today starts
    assert model.index(2).data(TranscriptRole.DAY_BREAK) is False


def test_message_burst_and_history_are_batched_in_order(
    qtbot: Any, bridge: StoreBridge, store: Store, now: float
) -> None:
    model = TranscriptModel(bridge)
    model.set_conversation(CID)
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, a, b: inserts.append((a, b)))
    for i in range(1000):
        store.add_message(message(CID, p.AuthorKind.VISITOR, f"m{i}", now + i))
    store.add_message(message("c-00009", p.AuthorKind.VISITOR, "elsewhere", now))
    qtbot.waitUntil(lambda: model.rowCount() == 1000)
    assert inserts == [(0, 999)]
    older = [message(CID, p.AuthorKind.VISITOR, f"old{i}", now - 100 + i) for i in range(5)]
    store.load_transcript(CID, older)
    qtbot.waitUntil(lambda: model.rowCount() == 1005)
    assert [model.index(r).data() for r in range(6)] == ["old0", "old1", "old2", "old3", "old4", "m0"]
    assert [model.item_at(r) for r in range(1005)] == store.transcripts[CID]


def test_delivery_states_and_retry_click(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner, now: float
) -> None:
    fill_transcript(store, CID, now)
    view = make_view(qtbot, bridge, session, runner)
    view.open(CID)
    model = view.model
    states = [model.index(r).data(TranscriptRole.DELIVERY) for r in range(model.rowCount())]
    assert Delivery.PENDING in states and Delivery.FAILED in states and Delivery.SENT in states
    failed_row = states.index(Delivery.FAILED)
    failed_key = model.index(failed_row).data(TranscriptRole.KEY)
    transcript = view.transcript
    transcript.scrollTo(model.index(failed_row))
    qtbot.waitUntil(lambda: transcript.visualRect(model.index(failed_row)).isValid())
    rect = transcript.visualRect(model.index(failed_row))
    from PySide6.QtWidgets import QStyleOptionViewItem

    option = QStyleOptionViewItem()
    transcript.initViewItemOption(option)
    option.rect = rect  # type: ignore[attr-defined]
    geo, _ = transcript.delegate.geometry(option, model.index(failed_row))
    assert geo.retry is not None
    qtbot.mouseClick(transcript.viewport(), Qt.MouseButton.LeftButton, pos=geo.retry.center())
    assert session.named("retry") == [("retry", CID, failed_key)]
    assert model.index(failed_row).data(TranscriptRole.DELIVERY) == Delivery.PENDING
    # the keyboard path: Ctrl+Shift+R in the window calls retry_failed
    store.set_delivery(CID, failed_key, Delivery.FAILED, "nope")
    view.retry_failed()
    assert len(session.named("retry")) == 2


class CountingServer(ThreadingHTTPServer):
    """A local HTTP server that records every request path (a visitor's image/link URL points here)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


def test_visitor_text_renders_literally_and_loads_nothing(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner, now: float
) -> None:
    server = CountingServer()
    try:
        url = server.url
        evil = f'<img src="{url}/x.png"> <b>bold</b> <a href="{url}/link">link</a>'
        conv = store.conversations[CID]
        conv.visitor.name = f'<b>x</b><img src="{url}/name.png">'
        conv.visitor.current_page = f"{url}/<i>page</i>"
        store.transcripts[CID] = []
        store.add_message(message(CID, p.AuthorKind.VISITOR, evil, now, author_name="<b>x</b>"))
        view = make_view(qtbot, bridge, session, runner)
        view.open(CID)
        assert view.header.name.text() == conv.visitor.name
        assert view.header.name.textFormat() == Qt.TextFormat.PlainText
        assert view.model.index(0).data() == evil
        layout, _, _ = text_layout(evil, view.font(), 300)
        assert layout.text() == evil
        store.apply_typing(
            p.TypingFrame(
                conversation_id=CID,
                author_kind=p.AuthorKind.VISITOR,
                author_name="<b>x</b>",
                preview=f'<img src="{url}/typing.png">',
            )
        )
        assert view.typing_label.textFormat() == Qt.TextFormat.PlainText
        assert "<b>x</b> is typing" in view.typing_label.text() and "typing.png" in view.typing_label.text()
        view.grab()  # paint everything once
        # A control request, made the way Qt would fetch a resource, after the painting: once the server
        # has seen it, any request the rendering had started before it would have arrived too.
        manager = QNetworkAccessManager()
        reply = manager.get(QNetworkRequest(QUrl(f"{url}/control")))
        qtbot.waitUntil(lambda: reply.isFinished() and "/control" in server.paths, timeout=5000)
        assert server.paths == ["/control"], "rendering visitor text made a network request"
    finally:
        server.stop()


def test_composer_enter_sends_shift_enter_breaks_line(qtbot: Any) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    sent: list[tuple[str, bool]] = []
    composer.message_submitted.connect(lambda t, priv: sent.append((t, priv)))
    composer.edit.setFocus()
    qtbot.keyClicks(composer.edit, "hello")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(composer.edit, "world")
    assert composer.text() == "hello\nworld"
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert sent == [("hello\nworld", False)] and composer.text() == ""
    qtbot.keyClicks(composer.edit, "   ")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert len(sent) == 1  # whitespace only: nothing sent
    composer.set_private(True)
    composer.set_text("note")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Enter)
    assert sent[-1] == ("note", True)


def test_composer_refuses_too_long_text_inline(qtbot: Any) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    composer.show()
    sent: list[str] = []
    composer.message_submitted.connect(lambda t, _p: sent.append(t))
    composer.set_text("x" * (p.MAX_MESSAGE_TEXT + 1))
    composer.submit()
    assert sent == [] and composer.text() == "x" * (p.MAX_MESSAGE_TEXT + 1)
    assert composer.error.isVisible() and "limit is 4,000" in composer.error.text()
    assert composer.counter.isVisible() and composer.counter.property("over") is True
    composer.set_text("x" * p.MAX_MESSAGE_TEXT)
    assert not composer.error.isVisible()
    composer.submit()
    assert len(sent) == 1


def test_typing_throttle() -> None:
    clock = FakeClock(0)
    emitted: list[bool] = []
    t = TypingThrottle(emitted.append, clock)
    t.keystroke()
    t.keystroke()
    clock.advance(2)
    t.keystroke()
    assert emitted == [True]
    clock.advance(1.5)
    t.keystroke()
    assert emitted == [True, True]  # refreshed every 3 s while typing
    t.idle()
    t.stop()
    assert emitted == [True, True, False]


def test_view_sends_types_and_keeps_drafts(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    view = make_view(qtbot, bridge, session, runner)
    view.open(CID)
    qtbot.keyClicks(view.composer.edit, "Hi Aiko")
    assert session.named("typing") == [("typing", CID, True)]
    view.open("c-00009")  # leaving: typing stops for the old conversation, the draft is kept
    assert session.named("typing")[-1] == ("typing", CID, False)
    assert view.composer.text() == ""
    view.open(CID)
    assert view.composer.text() == "Hi Aiko"
    qtbot.keyClick(view.composer.edit, Qt.Key.Key_Return)
    assert session.named("send_message") == [("send_message", CID, "Hi Aiko", False)]
    qtbot.waitUntil(lambda: view.model.rowCount() == len(store.transcripts[CID]))
    last = view.model.index(view.model.rowCount() - 1)
    assert (
        last.data(TranscriptRole.DELIVERY) == Delivery.PENDING
        and last.data(TranscriptRole.KIND) == MessageKind.MINE
    )


def test_closed_conversation_disables_composer_and_offers_reopen(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    closed = next(c for c in store.conversations.values() if c.status is p.ConversationStatus.CLOSED)
    view = make_view(qtbot, bridge, session, runner)
    view.open(closed.id)
    assert not view.composer.edit.isEnabled() and view.composer.closed_bar.isVisible()
    assert view.header.status_button.text() == "Reopen"
    closed.status = p.ConversationStatus.OPEN
    store.upsert_conversation(closed)
    assert view.composer.edit.isEnabled() and view.header.status_button.text() == "Close"


async def test_close_reopen_and_history_go_through_the_runner(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, now: float
) -> None:
    import asyncio

    runner = TaskRunner()

    store.conversations[CID].message_count = 50  # more than we hold: opening fetches older history
    session.transcript_pages = [[message(CID, p.AuthorKind.VISITOR, "from the server", now - 5000)]]
    view = make_view(qtbot, bridge, session, runner)
    view.open(CID)
    view.header.status_button.click()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if runner.running == 0:
            break
    assert ("close_conversation", CID) in session.calls
    assert session.named("get_transcript") == [("get_transcript", CID, None)]
    assert store.transcripts[CID][0].message.text == "from the server"


def test_new_messages_pill_when_scrolled_up(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner, now: float
) -> None:
    for i in range(60):
        store.add_message(message(CID, p.AuthorKind.VISITOR, f"line {i}", now - 1000 + i))
    view = make_view(qtbot, bridge, session, runner)
    view.open(CID)
    bar = view.transcript.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and view.transcript.at_bottom())
    qtbot.wait(20)
    bar.setValue(0)
    store.add_message(message(CID, p.AuthorKind.VISITOR, "new one", now))
    store.add_message(message(CID, p.AuthorKind.VISITOR, "new two", now + 1))
    qtbot.waitUntil(lambda: view.transcript.pill.isVisible())
    assert view.transcript.pill.text() == "2 new messages"
    qtbot.mouseClick(view.transcript.pill, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert not view.transcript.pill.isVisible() and view.transcript.at_bottom()
    store.add_message(message(CID, p.AuthorKind.VISITOR, "while at bottom", now + 2))
    qtbot.waitUntil(lambda: view.model.rowCount() == 63)
    qtbot.waitUntil(view.transcript.at_bottom)
    assert not view.transcript.pill.isVisible()


def test_opening_marks_read_and_my_messages_are_mine(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner, now: float
) -> None:
    unread_id = next(cid for cid, n in store.unread.items() if n)
    view = make_view(qtbot, bridge, session, runner)
    view.open(unread_id)
    assert store.unread.get(unread_id, 0) == 0
    # Messages I sent (from any device) are drawn as mine; a teammate's are not.
    for text, agent in (("from me", ME), ("from Marcus", TEAMMATE)):
        store.add_message(
            message(unread_id, p.AuthorKind.AGENT, text, now + 5, author_id=agent.id, author_name=agent.name)
        )

    def kinds() -> dict[str, str]:
        model = view.model
        return {
            model.index(r).data(): model.index(r).data(TranscriptRole.KIND) for r in range(model.rowCount())
        }

    qtbot.waitUntil(lambda: {"from me", "from Marcus"} <= kinds().keys())
    assert kinds()["from me"] == MessageKind.MINE and kinds()["from Marcus"] == MessageKind.AGENT
