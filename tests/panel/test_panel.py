"""The visitor panel against the real sandbox Salesforce and enrichment over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from agent_app import protocol as p
from agent_app.errors import CommandError
from agent_app.integrations import Integrations
from agent_app.settings import Settings
from agent_app.store import Store
from sandbox.enrichment import FakeEnrichment
from sandbox.salesforce import FakeSalesforce
from ui.bridge import StoreBridge
from ui.tasks import TaskRunner
from ui.visitor_panel import VisitorPanel
from ui.visitor_panel.cards import RowsView
from ui.visitor_panel.dialogs import CreateLeadDialog, DuplicatesDialog, HandoffDialog

from .conftest import FakeSession, make_integrations, run, visitor_conv, wait_until


def make_panel(
    qtbot: QtBot,
    bridge: StoreBridge,
    it: Integrations | None,
    runner: TaskRunner,
    session: FakeSession,
    tmp: Path,
) -> VisitorPanel:
    settings = Settings(tmp / "settings.json")
    settings.load()
    panel = VisitorPanel(bridge, it, runner, session, settings)
    qtbot.addWidget(panel)
    panel.resize(380, 900)
    panel.show()
    return panel


def titles(view: RowsView) -> list[str]:
    return [r.title for r in view.rows.rows()]


def shown(loop: asyncio.AbstractEventLoop, panel: VisitorPanel, cid: str) -> None:
    got: list[str] = []
    panel.results_shown.connect(got.append)
    run(loop, wait_until(lambda: cid in got, what=f"results for {cid}"))


def test_duplicate_persona_loading_then_data(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    store.upsert_conversation(visitor_conv("c1", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    assert panel.company.state == "loading"
    shown(loop, panel, "c1")
    assert panel.company.state == "data" and "Acme Robotics" in panel.company.company_name.text()
    assert any(t.startswith("Lead: Jane Doe") for t in titles(panel.records))
    assert any(t.startswith("Contact: Jane Doe") for t in titles(panel.records))
    assert any(t.startswith("Account: Acme Robotics") for t in titles(panel.records))
    warnings = [r for r in panel.dup_list.rows.rows() if r.warning]
    assert warnings and "owned by Sam Chen, talk to them before creating a lead" in warnings[0].warning
    assert (
        "same email" in warnings[0].detail
        and "100%" in warnings[0].detail
        and "Sam Chen" in warnings[0].detail
    )
    assert panel.dup_state.property("warning") is True
    assert all(
        r.url.startswith(integrations.salesforce.auth.config.login_url) or r.url
        for r in panel.records.rows.rows()
    )


def test_models_pass_qtmodeltester(
    qtbot: QtBot,
    qtmodeltester: object,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    store.upsert_conversation(visitor_conv("c1", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    shown(loop, panel, "c1")
    for view in (panel.records, panel.dup_list, panel.visitor.pages):
        qtmodeltester.check(view.rows)  # type: ignore[attr-defined]


def test_no_data_and_error_with_retry(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    sf: FakeSalesforce,
    enrich: FakeEnrichment,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    store.upsert_conversation(visitor_conv("c1", "Nobody", "someone@unknown-company-xyz.com"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    shown(loop, panel, "c1")
    assert panel.company.state == "empty" and "No company data" in panel.company.message.text()
    assert "No lead, contact or account" in panel.sf_state.text()
    # Salesforce down (after retries) and enrichment rate limited: readable errors, Retry recovers.
    integrations.salesforce.retry.sleep = lambda s: asyncio.sleep(0)  # type: ignore[method-assign]
    sf.inject(503, "SERVER_UNAVAILABLE", "maintenance", times=500)
    enrich.rate_limit = 0
    store.upsert_conversation(visitor_conv("c2", "Gavin", "gavin@hooli.com", "Hooli"))
    panel.show_conversation("c2")
    shown(loop, panel, "c2")
    assert panel.company.state == "error" and panel.company.retry.isVisibleTo(panel)
    assert "SERVER_UNAVAILABLE" in panel.sf_state.text() and panel.retry_button.isVisibleTo(panel)
    sf.faults.clear()
    enrich.rate_limit = 600
    run(loop, asyncio.sleep(0))
    for _ in range(3):
        if "SERVER_UNAVAILABLE" not in panel.sf_state.text():
            break
        panel.company.retry.click()
        shown(loop, panel, "c2")
    assert panel.company.state == "data" and any("Gavin" in t for t in titles(panel.records))


def test_switching_cancels_old_lookup(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    sf: FakeSalesforce,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    store.upsert_conversation(visitor_conv("slow", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics"))
    store.upsert_conversation(visitor_conv("fast", "Nobody"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    sf.latency_ms = 300
    panel.show_conversation("slow")
    task = panel._lookup
    run(loop, asyncio.sleep(0.05))
    panel.show_conversation("fast")
    run(loop, asyncio.sleep(0.8))
    assert task is not None and task.cancelled()
    assert panel.cid == "fast" and titles(panel.records) == [] and titles(panel.dup_list) == []
    assert "Waiting for an email" in panel.sf_state.text()


def test_email_given_later_reruns_duplicate_check(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    conv = visitor_conv("c1", "Peter", pages=[p.PageView(url="https://x.test/", title="Home")])
    store.upsert_conversation(conv)
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    v = p.Visitor(
        id=conv.visitor.id,
        name="Peter Gibbons",
        email="peter.gibbons@initech.com",
        company="Initech",
        current_page="https://x.test/pricing",
        pages=[
            p.PageView(url="https://x.test/", title="Home"),
            p.PageView(url="https://x.test/pricing", title="Pricing"),
        ],
    )
    store.apply_event(p.VisitorUpdated(conversation_id="c1", visitor=v))
    assert titles(panel.visitor.pages)[0] == "Pricing (current)"
    shown(loop, panel, "c1")
    hits = panel.dup_list.rows.rows()
    assert len(hits) >= 3 and any("Initech" in h.title for h in hits)
    assert sum(1 for h in hits if h.warning) >= 2


def test_territory_me_not_me_and_bad_table(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    sf: FakeSalesforce,
    enrich: FakeEnrichment,
    http: object,
    secrets: object,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    store.upsert_conversation(visitor_conv("west", "A", country="US", region="CA"))
    store.upsert_conversation(visitor_conv("east", "B", country="US", region="NY"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("west")
    assert panel.territory.text.text() == "You own this territory"
    panel.show_conversation("east")
    assert panel.territory.text.text() == "Aligned SDR: Sam Chen (US-East) — add them or hand off"
    bad = tmp_path / "bad.csv"
    bad.write_text("rule,country,region,segment,sdr_email,pool\nok,US,*,*,alex@demo.sdr,\nx,US,*,huge,,\n")
    it2 = make_integrations(loop, sf, enrich, http, secrets, tmp_path, territory=bad, sign_in=False)  # type: ignore[arg-type]
    other = make_panel(qtbot, bridge, it2, runner, session, tmp_path)
    other.show_conversation("east")
    assert "problems" in other.territory.text.text() and "line 3" in other.territory.detail.text()


def test_create_lead_blocked_then_save_anyway_and_hand_off(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    sf: FakeSalesforce,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    store.upsert_conversation(visitor_conv("c1", "Gavin Belson", "gavin@hooli.com", "Hooli", phone="+1 555"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    shown(loop, panel, "c1")
    panel.create_button.click()
    dialog = panel.dialog
    assert isinstance(dialog, CreateLeadDialog)
    assert dialog.values() == {
        "FirstName": "Gavin",
        "LastName": "Belson",
        "Email": "gavin@hooli.com",
        "Company": "Hooli",
        "Phone": "+1 555",
        "LeadSource": "Chat",
    }
    dialog.create_button.click()
    run(loop, wait_until(lambda: isinstance(panel.dialog, DuplicatesDialog), what="duplicates dialog"))
    dups = panel.dialog
    assert isinstance(dups, DuplicatesDialog) and dups.save_anyway.isEnabled() and dups.list.rows.rows()
    created: list[str] = []
    panel.lead_created.connect(lambda cid, lid: created.append(lid))
    again: list[str] = []
    panel.results_shown.connect(again.append)
    dups.save_anyway.click()
    run(loop, wait_until(lambda: created and again, what="lead created and looked up again"))
    assert any(created[0] == r.key for r in panel.records.rows.rows())
    lead = sf.org.records["Lead"][created[0]]
    assert lead["OwnerId"] == "0055e0000000001AAA" and lead["LeadSource"] == "Chat"
    # hand-off to the aligned SDR
    panel.handoff_button.click()
    run(loop, wait_until(lambda: isinstance(panel.dialog, HandoffDialog), what="hand-off dialog"))
    handoff = panel.dialog
    assert isinstance(handoff, HandoffDialog)
    handoff.owner.setCurrentIndex([u["Email"] for u in handoff.users].index("sam@demo.sdr"))
    handoff.note.setText("East coast HQ")
    handoff.hand_off.click()
    run(loop, wait_until(lambda: session.requests, what="record_handoff"))
    run(loop, wait_until(lambda: "owner is now" in panel.action_note.text()))
    assert sf.org.records["Lead"][created[0]]["OwnerId"] == "0055e0000000002AAA"
    cmd = session.requests[0]
    assert isinstance(cmd, p.RecordHandoff) and cmd.to_agent_id == "a-sam" and cmd.note == "East coast HQ"
    # the chat server refusing the note is shown
    session.error = CommandError("forbidden", "this conversation is not visible to you")
    panel._hand_off("c1", {"Id": "0055e0000000002AAA", "Email": "sam@demo.sdr", "Name": "Sam Chen"}, "")
    run(loop, wait_until(lambda: "not visible" in panel.action_note.text()))
    assert panel.action_note.property("error") is True


def test_block_rule_offers_use_existing_only(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    sf: FakeSalesforce,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    sf.org.duplicate_rule_action = "block"
    store.upsert_conversation(visitor_conv("c1", "Gavin Belson", "gavin@hooli.com", "Hooli"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    panel._create_lead("c1", {"LastName": "Belson", "Company": "Hooli", "Email": "gavin@hooli.com"}, False)
    run(loop, wait_until(lambda: isinstance(panel.dialog, DuplicatesDialog)))
    dups = panel.dialog
    assert isinstance(dups, DuplicatesDialog) and not dups.save_anyway.isEnabled()
    dups.use_existing.click()
    assert panel.service.links["c1"].lead_id == "00Q5e000000000YEAQ"


def test_transcript_logged_once_on_close_and_cql_written(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    sf: FakeSalesforce,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    conv = visitor_conv("c1", "Gavin Belson", "gavin@hooli.com", "Hooli")
    store.upsert_conversation(conv)
    store.load_transcript(
        "c1",
        [
            p.Message(
                id="m1",
                conversation_id="c1",
                author_kind=p.AuthorKind.VISITOR,
                text="<b>hi</b>",
                created_at=1.7e9,
            ),
            p.Message(
                id="m2",
                conversation_id="c1",
                author_kind=p.AuthorKind.AGENT,
                text="Hello!",
                created_at=1.7e9 + 5,
                author_name="Alex Rivera",
            ),
            p.Message(
                id="m3",
                conversation_id="c1",
                author_kind=p.AuthorKind.AGENT,
                text="secret note",
                created_at=1.7e9 + 6,
                private=True,
            ),
        ],
    )
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    shown(loop, panel, "c1")
    closed = conv.model_copy() if hasattr(conv, "model_copy") else None
    import msgspec

    closed = msgspec.structs.replace(conv, status=p.ConversationStatus.CLOSED, closed_at=1.7e9 + 60, cql=2)
    logged: list[str] = []
    panel.transcript_logged.connect(lambda cid, tid: logged.append(tid))
    store.upsert_conversation(closed)
    run(loop, wait_until(lambda: logged, what="transcript logged"))
    store.upsert_conversation(msgspec.structs.replace(closed, status=p.ConversationStatus.OPEN))
    store.upsert_conversation(msgspec.structs.replace(closed, status=p.ConversationStatus.CLOSED))
    panel.log_button.click()
    run(loop, asyncio.sleep(0.5))
    tasks = [t for t in sf.org.records["Task"].values() if "[chat:c1]" in str(t.get("Subject"))]
    assert len(tasks) == 1 and len(set(logged)) == 1
    body = tasks[0]["Description"]
    assert "<b>hi</b>" in body and "Alex Rivera: Hello!" in body and "secret note" not in body
    run(loop, wait_until(lambda: sf.org.records["Lead"]["00Q5e000000000YEAQ"].get("CQL_Level__c") == 2))


def test_visitor_text_is_plain(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    evil = "<img src=x onerror=alert(1)><b>Bold</b>"
    store.upsert_conversation(
        visitor_conv(
            "c1", evil, "", evil, location=evil, referrer=evil, current_page=evil, utm={"utm_source": evil}
        )
    )
    panel = make_panel(qtbot, bridge, None, runner, session, tmp_path)
    panel.show_conversation("c1")
    labels = panel.findChildren(QLabel)
    assert labels and all(label.textFormat() == Qt.TextFormat.PlainText for label in labels if label.text())
    assert panel.visitor.name.text() == evil and panel.visitor.values["Company"].text() == evil
    assert "not configured" in panel.sf_state.text()


def test_connect_salesforce_when_signed_out(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    sf: FakeSalesforce,
    enrich: FakeEnrichment,
    http: object,
    secrets: object,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    it = make_integrations(loop, sf, enrich, http, secrets, tmp_path, sign_in=False)  # type: ignore[arg-type]
    store.upsert_conversation(visitor_conv("c1", "Jane", "jane.doe@acme-robotics.com"))
    panel = make_panel(qtbot, bridge, it, runner, session, tmp_path)
    panel.show_conversation("c1")
    shown(loop, panel, "c1")
    assert panel.connect_button.isVisibleTo(panel) and "Not signed in" in panel.sf_state.text()
    opened: list[str] = []

    def fake_open(url: object) -> bool:
        opened.append(url.toString())  # type: ignore[attr-defined]
        asyncio.get_event_loop().create_task(http.get(url.toString(), follow_redirects=True))  # type: ignore[attr-defined]
        return True

    monkeypatch.setattr("ui.visitor_panel.actions.QDesktopServices.openUrl", fake_open)
    panel.connect_button.click()
    shown(loop, panel, "c1")
    assert opened and "/services/oauth2/authorize" in opened[0]
    assert any("Jane Doe" in t for t in titles(panel.records))
