"""Managers set each rep's chat limit from the desk ("Chat limits…" in the account menu), against a real
server; reps don't get the action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from chat_server.app import run_server
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import PASSWORD, make_config
from ui.settings.chat_limits import LIMIT, NAME, OPEN, ROLE, ChatLimitsFeature, limit_text


async def test_a_manager_sets_a_reps_chat_limit_from_the_desk(qtbot: Any, tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path)) as server:
        server.admin.add_agent("maria@example.com", "Maria Manager", PASSWORD, "", "manager")
        sam = server.admin.add_agent("sam@example.com", "Sam Chen", PASSWORD, "", "sdr")
        async with signed_in_desk(qtbot, server.url, tmp_path, "maria@example.com", PASSWORD) as desk:
            assert desk.features is not None
            feature: ChatLimitsFeature = desk.features.chat_limits
            await until(lambda: feature.action.isVisible(), "the manager's menu has Chat limits…")
            assert feature.action in desk.window.presence_button.menu_.actions()
            dialog = feature.open()
            model = feature.model
            names = [model.data(model.index(r, NAME)) for r in range(model.rowCount())]
            assert names == ["Maria Manager", "Sam Chen"]
            row = names.index("Sam Chen")
            assert model.data(model.index(row, LIMIT)) == "No limit"
            assert model.data(model.index(row, OPEN)) == "0"
            assert model.data(model.index(row, ROLE)) == "SDR"
            assert model.flags(model.index(row, LIMIT)) & Qt.ItemFlag.ItemIsEditable
            assert not model.flags(model.index(row, NAME)) & Qt.ItemFlag.ItemIsEditable
            model.setData(model.index(row, LIMIT), 3, Qt.ItemDataRole.EditRole)

            def stored() -> int:
                agent = server.storage.get_agent(sam.id)
                return -1 if agent is None else agent.max_chats

            await until(lambda: stored() == 3, "the limit stored on the server")
            await until(
                lambda: model.data(model.index(row, LIMIT)) == "3", "the row shows the server's answer"
            )
            assert desk.store.agents[sam.id].max_chats == 3
            assert not dialog.grab().isNull()
            dialog.close()


async def test_a_rep_has_no_chat_limits_action(qtbot: Any, tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path)) as server:
        server.admin.add_agent("sam@example.com", "Sam Chen", PASSWORD, "", "sdr")
        async with signed_in_desk(qtbot, server.url, tmp_path, "sam@example.com", PASSWORD) as desk:
            assert desk.features is not None
            await until(lambda: desk.store.me is not None, "signed in")
            assert not desk.features.chat_limits.action.isVisible()


def test_limit_text() -> None:
    assert (limit_text(0), limit_text(4)) == ("No limit", "4")
