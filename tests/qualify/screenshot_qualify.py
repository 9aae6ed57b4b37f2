"""Screenshot helper (not collected): the window with CQL bolts, a dialog or a view, on sample data.

Usage: desktop-session --shot /tmp/q.png -- .venv/bin/python tests/qualify/screenshot_qualify.py [what]
what: window (default), history, participants, away, calendar, meetings
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import msgspec
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.store import Store
from ui.bridge import StoreBridge
from ui.style import stylesheet

NOW = time.time()
AV, AW = p.Presence.AVAILABLE, p.Presence.AWAY
TEAM = [
    p.Agent(id="me", name="Sam Rivera", email="sam@acme.test", territory="CA", presence=AV),
    p.Agent(id="a1", name="Alex Avery", email="alex@acme.test", territory="NY, NJ", presence=AV),
    p.Agent(id="a2", name="Kim Lee", email="kim@acme.test", territory="TX", presence=AV),
    p.Agent(id="a3", name="Bo Brown", email="bo@acme.test", territory="WA, OR", presence=AW),
    p.Agent(id="a4", name="Priya Shah", email="priya@acme.test", territory="FL, GA", presence=AV),
]


def conversations() -> list[p.Conversation]:
    names = [
        "Jane Cole",
        "Omar Diaz",
        "Lena Park",
        "Tom Hart",
        "Ava Moss",
        "Raj Iyer",
        "Eve Stone",
        "Nia Bell",
    ]
    out = []
    for i in range(40):
        level = [3, 2, None, 1, 0, 2, 1, 3][i % 8]
        history = [
            p.CqlChange(
                level=1, previous=None, by_kind=p.AuthorKind.BOT, by_name="LeadBot", at=NOW - i * 20000
            ),
            p.CqlChange(
                level=level,
                previous=1,
                by_kind=p.AuthorKind.AGENT,
                by_id="me",
                by_name="Sam Rivera",
                at=NOW - i * 20000 + 600,
            ),
        ]
        visitor = p.Visitor(
            id=f"v{i}",
            name=names[i % 8],
            company=["Acme", "Globex", "Initech"][i % 3],
            region="TX",
            country="US",
            email=f"{names[i % 8].split()[0].lower()}@example.com",
        )
        out.append(
            p.Conversation(
                id=f"c{i}",
                visitor=visitor,
                assignee_id=TEAM[i % 4].id,
                created_at=NOW - i * 31000,
                cql=level,
                cql_history=history if level is not None else [],
                participant_ids=[],
                last_message_preview="Can I get a demo next week?",
                last_message_at=NOW - i * 31000,
            )
        )
    return out


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "window"
    app = QApplication(sys.argv)
    app.setStyleSheet(stylesheet("light"))
    convs = conversations()
    if what in ("participants", "away"):
        from ui.participants.dialog import AddParticipantDialog

        team = [
            p.Agent(
                id=a.id,
                name=a.name,
                email=a.email,
                territory=a.territory,
                presence=AW if (what == "away" and a.id == "a2") else a.presence,
            )
            for a in TEAM
        ]
        # The aligned SDR is the server's decision (Conversation.routing), never the dialog's.
        routing = p.Routing(aligned_agent_id="a2", rule="us-central", line=6, basis="visitor answers")
        w = AddParticipantDialog(msgspec.structs.replace(convs[0], routing=routing), team, "me")
    elif what == "calendar":
        from ui.calendar.settings_dialog import CalendarSettingsDialog

        w = CalendarSettingsDialog(
            p.CalendarSettings(
                agent_id="me",
                timezone="America/Los_Angeles",
                availability=[p.Weekly(weekday=d, start="09:00", end="17:00") for d in range(5)],
            ),
            connection={
                "connected": True,
                "url": "https://caldav.fastmail.com/",
                "username": "alex@demo.sdr",
                "calendar": "Work",
                "busy_count": 4,
                "error": "",
            },
        )
    elif what == "meetings":
        from ui.meetings.model import MeetingsModel
        from ui.meetings.view import MeetingsView

        cmap = {c.id: c for c in convs}
        model = MeetingsModel(cmap.get)
        model.set_meetings(
            [
                p.Meeting(
                    id=f"m{i}",
                    conversation_id=f"c{i}",
                    agent_id="me",
                    visitor_id=f"v{i}",
                    start=NOW + 3600 * (2 + i * 7),
                    end=NOW + 3600 * (2 + i * 7) + 1800,
                    timezone="America/New_York",
                    visitor_name=convs[i].visitor.name,
                    company=convs[i].visitor.company,
                    ics_url="/meetings/x.ics?token=t",
                )
                for i in range(6)
            ]
        )
        w = MeetingsView(model, "http://127.0.0.1:8080")
        w.resize(900, 420)
    else:
        from ui.main_window import MainWindow
        from ui.qualify.install import install_qualify_features
        from ui.tasks import TaskRunner

        store = Store()
        store.apply_welcome(p.Welcome(ref="h", agent=TEAM[0], epoch="e", seq=0, resume="resync"))
        store.apply_snapshot(p.Snapshot(epoch="e", seq=0, agents=TEAM, conversations=convs[:8], messages=[]))
        w = MainWindow(StoreBridge(store), None, TaskRunner(), None)  # type: ignore[arg-type]
        f = install_qualify_features(w)
        w.open_conversation("c0")
        if what == "history":
            f.cql.on_history_button_clicked()
    w.show()
    QTimer.singleShot(6500, app.quit)  # desktop-session waits for the app to exit
    sys.exit(app.exec())


if __name__ == "__main__":
    main()
