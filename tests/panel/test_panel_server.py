"""The panel in the main window against the real chat server and the sandbox Salesforce over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.display import display_name
from agent_app.integrations import Integrations
from agent_app.outbox import Outbox
from agent_app.secrets import SecretStore
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from chat_server import run_server
from sandbox.enrichment import DEFAULT_CLEARBIT_KEY, FakeEnrichment
from sandbox.salesforce import FakeSalesforce
from tests.client.conftest import Visitor
from tests.server.conftest import PASSWORD, make_config
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.participants.model import AlignedRole
from ui.shell.features import install_features
from ui.tasks import TaskRunner
from ui.visitor_panel import VisitorPanel
from ui.visitor_panel.dialogs import CreateLeadDialog, DuplicatesDialog

from .conftest import run, wait_until

TERRITORIES = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "territories.csv"


def test_the_name_of_a_created_lead_follows_everywhere(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    sf: FakeSalesforce,
    enrich: FakeEnrichment,
    http: httpx.AsyncClient,
    secrets: SecretStore,
    integrations: Integrations,
    tmp_path: Path,
) -> None:
    """Defect 9: an anonymous visitor becomes "Dana Lopez" in the queue row, the header and the panel once
    the SDR created that lead (the client sends UpdateVisitor; the server stores it and broadcasts).

    Needs the server side of issue 9 (``update_visitor``)."""

    async def scenario() -> None:
        async with run_server(make_config(tmp_path)) as server:
            server.admin.add_agent("alex@demo.sdr", "Alex Rivera", PASSWORD)
            store, outbox = Store(), Outbox(tmp_path / "outbox.sqlite3")
            session = Session(server.url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
            bridge, runner = StoreBridge(store), TaskRunner()
            window = MainWindow(bridge, session, runner, settings=None)  # type: ignore[arg-type]
            qtbot.addWidget(window)
            installed = install_features(window, integrations)  # the shell's one install path
            panel = installed.panel
            assert isinstance(panel, VisitorPanel)
            window.show()
            await session.sign_in("alex@demo.sdr", PASSWORD)
            task = asyncio.create_task(session.run())
            try:
                await wait_until(lambda: session.state is ConnectionState.ONLINE, what="online")
                async with Visitor(server.url) as visitor:
                    await visitor.say("Hi, do you integrate with Salesforce?")
                    cid = visitor.conversation_id
                    await wait_until(lambda: window.queue.proxy.row_of(cid) >= 0, what="the chat queued")
                    window.open_conversation(cid)
                    await wait_until(lambda: panel.cid == cid, what="the panel follows")
                    panel.create_button.click()
                    dialog = panel.dialog
                    assert isinstance(dialog, CreateLeadDialog)
                    for name, value in (
                        ("FirstName", "Dana"),
                        ("LastName", "Lopez"),
                        ("Email", "dana.lopez@globex.io"),
                        ("Company", "Globex"),
                    ):
                        dialog.edits[name].setText(value)
                    dialog.create_button.click()
                    await wait_until(
                        lambda: (
                            isinstance(panel.dialog, DuplicatesDialog)
                            or "created" in panel.action_note.text()
                        ),
                        what="the lead saved or a duplicate rule",
                    )
                    if isinstance(panel.dialog, DuplicatesDialog):
                        panel.dialog.save_anyway.click()

                    def row_text() -> str:
                        row = window.queue.proxy.row_of(cid)
                        index = window.queue.proxy.index(row, 0)
                        return str(index.data(Qt.ItemDataRole.DisplayRole) or "")

                    await wait_until(lambda: row_text() == "Dana Lopez", what="the queue row renamed")
                    conv = store.conversations[cid]
                    assert display_name(conv) == "Dana Lopez" and conv.visitor.company == "Globex"
                    assert window.conversation.header.name.text() == "Dana Lopez"
                    assert panel.visitor.name.text() == "Dana Lopez"
                    assert panel.visitor.values["Email"].text() == "dana.lopez@globex.io"
            finally:
                await session.stop()
                await asyncio.wait_for(task, 10)
                runner.cancel_all()
                outbox.close()

    run(loop, scenario(), timeout=60)


def test_card_dialog_and_hand_off_follow_the_servers_aligned_sdr(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    sf: FakeSalesforce,
    enrich: FakeEnrichment,
    http: httpx.AsyncClient,
    secrets: SecretStore,
    integrations: Integrations,
    tmp_path: Path,
) -> None:
    """Defect 1 end to end: the chat server's territory table (with its own enrichment) decides the aligned
    SDR; the panel card and the participants dialog show exactly that, never the fallback manager; "Hand off
    to X" works for whoever is chosen and makes them the assignee."""
    config = make_config(
        tmp_path,
        playbook="",
        territories_csv=str(TERRITORIES),
        enrichment_url=enrich.base_url,
        enrichment_key=DEFAULT_CLEARBIT_KEY,
    )

    async def scenario() -> None:
        async with run_server(config) as server:
            add = server.admin.add_agent
            sam = add("sam@demo.sdr", "Sam Chen", PASSWORD, "US-East", "sdr")
            alex = add("alex@demo.sdr", "Alex Rivera", PASSWORD, "US-West", "sdr")
            casey = add("casey@demo.sdr", "Casey Morgan", PASSWORD, "global-queue", "manager")
            store, outbox = Store(), Outbox(tmp_path / "outbox.sqlite3")
            session = Session(server.url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
            bridge, runner = StoreBridge(store), TaskRunner()
            window = MainWindow(bridge, session, runner, settings=None)  # type: ignore[arg-type]
            qtbot.addWidget(window)
            installed = install_features(window, integrations)  # the shell's one install path
            panel = installed.panel
            assert isinstance(panel, VisitorPanel)
            window.show()
            await session.sign_in("sam@demo.sdr", PASSWORD)
            task = asyncio.create_task(session.run())
            try:
                await wait_until(lambda: session.state is ConnectionState.ONLINE, what="online")
                async with Visitor(server.url) as visitor:
                    await visitor.say("Hi, do you integrate with Salesforce?")
                    cid = visitor.conversation_id
                    await wait_until(lambda: cid in store.conversations, what="the chat in the store")
                    await session.request(
                        p.AssignConversation(id="take-1", conversation_id=cid, agent_id=sam.id)
                    )
                    window.open_conversation(cid)
                    await wait_until(lambda: panel.cid == cid, what="the panel follows")
                    card = panel.territory
                    # Nothing known yet: only the catch-all row matches, and its owner (a manager) is no
                    # aligned SDR.
                    await wait_until(lambda: store.conversations[cid].routing is not None, what="aligned")
                    assert card.text.text().startswith("No aligned SDR is known for this visitor")
                    # The SDR creates the lead; the server learns the work email, looks the company up
                    # (Globex: Oregon, 1,800 people) and re-aligns: rule us-west, Alex.
                    panel._create_lead(
                        cid,
                        {"FirstName": "Dana", "LastName": "Lopez", "Email": "dana.lopez@globex.io",
                         "Company": "Globex"},
                        True,
                    )  # fmt: skip
                    await wait_until(
                        lambda: card.text.text() == "Alex Rivera owns this territory", what="realigned card"
                    )
                    routing = store.conversations[cid].routing
                    assert routing is not None and routing.aligned_agent_id == alex.id
                    assert card.detail.text().startswith(f"rule 'us-west', line {routing.line}, from ")
                    assert routing.line == 4
                    # The participants dialog reads the same field.
                    features = installed.qualify
                    features.participants.add_requested.emit(cid)
                    dialog = features.dialog
                    assert dialog is not None
                    rows = [dialog.proxy.index(r, 0) for r in range(dialog.proxy.rowCount())]
                    assert [i.data() for i in rows if i.data(AlignedRole)] == ["Alex Rivera"]
                    assert dialog.notice.text().startswith("Alex Rivera")
                    assert dialog.handoff_button.text() == "Hand off to Alex Rivera"
                    casey_row = next(i for i in rows if i.data() == "Casey Morgan")
                    dialog.list.setCurrentIndex(casey_row)
                    assert dialog.handoff_button.text() == "Hand off to Casey Morgan"
                    dialog.list.setCurrentIndex(rows[0])
                    dialog.note.setPlainText("Globex, 1,800 people, wants the Salesforce sync")
                    dialog.handoff_button.click()
                    await wait_until(
                        lambda: store.conversations[cid].assignee_id == alex.id, what="handed to Alex"
                    )
                    conv = store.conversations[cid]
                    assert conv.assigned_via == "handoff" and conv.assigned_by == sam.id
                    assert casey.id not in conv.participant_ids
            finally:
                await session.stop()
                await asyncio.wait_for(task, 10)
                runner.cancel_all()
                outbox.close()

    run(loop, scenario(), timeout=60)
