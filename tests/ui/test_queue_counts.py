"""The queue's view tabs count what arrives live: a visitor's new chat shows as "Waiting 1" and "All 1"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.client.conftest import Visitor
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from ui.queue.model import VIEW_ALL, VIEW_MINE
from ui.queue.proxy import QueueView

EMAIL, PASSWORD = "sam@example.com", "correct horse battery"


def _tab_texts(window: Any) -> dict[QueueView, str]:
    tabs = window.queue.tabs
    return {view: " ".join(tabs.tabText(int(view)).split()) for view in QueueView}


async def test_a_visitors_new_chat_is_counted_in_waiting_and_all(qtbot: Any, tmp_path: Path) -> None:
    from chat_server.app import run_server
    from chat_server.config import Config

    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "server.sqlite3"))
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Sam SDR", PASSWORD)
        async with signed_in_desk(qtbot, server.url, tmp_path, EMAIL, PASSWORD) as desk:
            window = desk.window
            assert _tab_texts(window)[QueueView.WAITING] == "Waiting"  # nothing yet: no "0"
            async with Visitor(server.url) as visitor:
                await visitor.say("Hi! Do you integrate with Salesforce?")
                cid = visitor.conversation_id
                model = window.queue.model
                # As the SDR sees it: the moment the row is in the list, the tabs count it (a screenshot
                # taken then showed "All" and "Waiting" without numbers: the counts came 100 ms later).
                await until(lambda: model.find(cid) >= 0 and window.queue.proxy.rowCount() == 1, "the row")
                expected = {
                    QueueView.MINE: "Mine",
                    QueueView.WAITING: "Waiting 1",
                    QueueView.PARTICIPATING: "Participating",
                    QueueView.ALL: "All 1",
                    QueueView.CLOSED: "Closed",
                }
                assert _tab_texts(window) == expected
                me = desk.store.me
                assert me is not None
                await desk.session.assign(cid, me.id)  # taken: "Mine 1", and no longer waiting
                await until(lambda: model.masks().get(cid) == VIEW_ALL | VIEW_MINE, "the row is mine")
                mine = {**expected, QueueView.MINE: "Mine 1", QueueView.WAITING: "Waiting"}
                assert _tab_texts(window) == mine
