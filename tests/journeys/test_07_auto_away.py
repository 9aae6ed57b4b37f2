"""Journey 7: I lock my screen -> the desk says "Away · screen locked" (status button, tray tooltip) and a
teammate sees me Away with that reason -> I unlock -> Available again everywhere. The same when the laptop
goes to sleep: Away ("asleep") reaches the server before the machine may sleep, Available on waking. With
"Away when the screen locks" off in Preferences, a lock leaves me Available."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox

from agent_app import protocol as p
from sandbox.workspace import AgentLink
from tests.auto_away.fake_desktop import serve_desktop
from tests.journeys.conftest import Journey
from tests.qt_loop import run, wait_until
from ui.settings.preferences import PreferencesDialog

AVAILABLE = "Alex Rivera · Available"
LOCKED_NOTICE, BACK_NOTICE = "You're Away · screen locked", "You're Available again"


class Teammate(AgentLink):
    """Sam Chen signed in over the real agent websocket: the team's presence as his desk would show it."""

    def __init__(self) -> None:
        super().__init__()
        self.agents: dict[str, p.Agent] = {}

    def _on_frame(self, frame: p.ServerFrame) -> None:
        if isinstance(frame, p.Snapshot):
            self.agents = {a.id: a for a in frame.agents}
        elif isinstance(frame, p.EventFrame) and isinstance(frame.event, p.PresenceChanged):
            self.agents[frame.event.agent.id] = frame.event.agent
        super()._on_frame(frame)

    def sees(self, agent_id: str) -> tuple[str, str]:
        agent = self.agents.get(agent_id)
        return (str(agent.presence), agent.presence_reason) if agent is not None else ("", "")


def test_locking_the_screen_makes_me_away_with_the_reason_and_unlocking_available(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    env = journey.desktop.env
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        # The desktop's screen saver (as KDE serves it) and logind, before the app starts: it looks once.
        fake = await serve_desktop(env["DBUS_SESSION_BUS_ADDRESS"], env["DBUS_SYSTEM_BUS_ADDRESS"])
        try:
            async with journey.desk(AVAILABLE) as desk:
                app, account, window = desk.app, desk.account, desk.window
                assert app.shell.glue is not None and app.shell.glue.tray is not None
                tray = app.shell.glue.tray.icon
                button = window.presence_button
                # The desk took logind's "delay" sleep lock: it may say Away before the machine sleeps.
                await wait_until(lambda: fake.manager.inhibit_calls, 10, "the sleep inhibitor")
                what, _who, _why, mode = fake.manager.inhibit_calls[0]
                assert (what, mode) == ("sleep", "delay")

                async with Teammate.connect(desk.url, "sam@demo.sdr") as sam:
                    assert isinstance(sam, Teammate)
                    me = account.store.me
                    assert me is not None
                    await sam.wait_for(lambda: sam.sees(me.id)[0] == "available")

                    # 1. The screen locks: Away, with the reason, in the window, the tray and for Sam.
                    fake.screensaver.set_active(True)
                    await wait_until(
                        lambda: button.text() == "Alex Rivera · Away · screen locked",
                        10,
                        f"'Away · screen locked' on the status button (it says {button.text()!r})",
                    )
                    await wait_until(lambda: "Away · screen locked" in tray.toolTip(), 5, "the tray tooltip")
                    seen["tray_locked"] = tray.toolTip()
                    # The status bar says it once the server took it (the button follows its event).
                    status = window.statusBar()
                    await wait_until(lambda: status.currentMessage() == LOCKED_NOTICE, 5, "the notice")
                    seen["sam_locked"] = await sam.wait_for(
                        lambda: sam.sees(me.id) if sam.sees(me.id)[0] == "away" else None
                    )
                    await journey.shot("journey7-screen-locked")

                    # 2. Unlocked: Available again, and Sam sees it (no reason left behind).
                    fake.screensaver.set_active(False)
                    await wait_until(lambda: button.text() == AVAILABLE, 10, "Available again")
                    await wait_until(lambda: "Available" in tray.toolTip(), 5, "the tray tooltip to follow")
                    seen["tray_back"] = tray.toolTip()
                    await wait_until(lambda: status.currentMessage() == BACK_NOTICE, 5, "the notice")
                    seen["sam_back"] = await sam.wait_for(
                        lambda: sam.sees(me.id) if sam.sees(me.id)[0] == "available" else None
                    )

                    # 3. The lid closes: logind asks; Away ("asleep") is on the server before the desk lets
                    #    the machine sleep (it closes its inhibitor only then).
                    fake.manager.PrepareForSleep(True)
                    await wait_until(lambda: fake.manager.released(0), 10, "the sleep inhibitor released")
                    agents = {a.id: a for a in await account.session.list_agents()}
                    seen["server_asleep"] = (str(agents[me.id].presence), agents[me.id].presence_reason)
                    await wait_until(
                        lambda: button.text() == "Alex Rivera · Away · asleep", 10, "'Away · asleep'"
                    )
                    seen["sam_asleep"] = await sam.wait_for(
                        lambda: sam.sees(me.id) if sam.sees(me.id)[1] == "asleep" else None
                    )

                    # 4. It wakes up: Available again, and a new inhibitor for the next sleep.
                    fake.manager.PrepareForSleep(False)
                    await wait_until(lambda: button.text() == AVAILABLE, 10, "Available on wake")
                    await wait_until(lambda: len(fake.manager.inhibit_calls) == 2, 10, "a new inhibitor")
                    seen["sam_awake"] = await sam.wait_for(
                        lambda: sam.sees(me.id) if sam.sees(me.id)[0] == "available" else None
                    )

                    # 5. Preferences… (status menu): "Away when the screen locks" off -> a lock keeps me
                    #    Available; on again while locked -> Away at once; unlocked -> Available.
                    prefs = next(a for a in button.menu_.actions() if a.objectName() == "preferencesAction")
                    assert prefs.text() == "Preferences…" and prefs.isVisible() and prefs.isEnabled()
                    prefs.trigger()
                    await wait_until(lambda: _dialog(window) is not None, 5, "the Preferences dialog")
                    dialog = _dialog(window)
                    assert dialog is not None
                    lock_check = dialog.findChild(QCheckBox, "autoAwayLockCheck")
                    assert lock_check is not None and lock_check.isVisible() and lock_check.isChecked()
                    _click_box(lock_check)
                    assert not lock_check.isChecked()
                    reads = fake.screensaver.idle_reads
                    fake.screensaver.set_active(True)
                    # The desk took the lock in (it re-reads the idle time on every lock change), and stayed.
                    await wait_until(lambda: fake.screensaver.idle_reads > reads, 10, "the lock handled")
                    agents = {a.id: a for a in await account.session.list_agents()}
                    seen["lock_off"] = (button.text(), str(agents[me.id].presence))
                    _click_box(lock_check)
                    await wait_until(
                        lambda: button.text() == "Alex Rivera · Away · screen locked", 10, "Away once it's on"
                    )
                    dialog.close()
                    fake.screensaver.set_active(False)
                    await wait_until(lambda: button.text() == AVAILABLE, 10, "Available at last")
        finally:
            await fake.close()

    run(loop, scenario(), timeout=60)
    assert seen["tray_locked"] == "SDR Agent Desk — Away · screen locked — No unread messages"
    assert seen["sam_locked"] == ("away", "screen locked")
    assert seen["tray_back"] == "SDR Agent Desk — Available — No unread messages"
    assert seen["sam_back"] == ("available", "")
    assert seen["server_asleep"] == ("away", "asleep")
    assert seen["sam_asleep"] == ("away", "asleep")
    assert seen["sam_awake"] == ("available", "")
    assert seen["lock_off"] == (AVAILABLE, "available")


def _click_box(box: QCheckBox) -> None:
    """A click on the check box's square, as a person ticks it."""
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def _dialog(window: Any) -> PreferencesDialog | None:
    found = window.findChild(PreferencesDialog, "preferencesDialog")
    return found if found is not None and found.isVisible() else None
