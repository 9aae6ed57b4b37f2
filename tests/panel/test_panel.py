"""The visitor panel against the real sandbox Salesforce and enrichment over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
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
from ui.visitor_panel.dialogs import ChangeOwnerDialog, CreateLeadDialog, DuplicatesDialog

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
    lead = next(r for r in panel.records.rows.rows() if r.title.startswith("Lead: Jane Doe"))
    assert lead.warning == "owned by Sam Chen, talk to them before creating a lead"
    assert "Owner Sam Chen" in lead.detail
    instance = run(loop, integrations.salesforce.session()).instance_url
    assert all(r.url.startswith(instance) for r in panel.records.rows.rows())
    assert panel.salesforce.title.text() == "Salesforce" and panel.sf_state.property("warning") is True
    assert "owned by a colleague" in panel.sf_state.text()


def test_duplicates_never_repeat_what_the_salesforce_card_shows(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    """Defect 9: a record on the Salesforce card (this visitor's own Lead/Contact, their Account) is never
    also a "possible duplicate" of the visitor, and the duplicates headline counts exactly what is listed."""
    store.upsert_conversation(visitor_conv("c1", "Peter Gibbons", "peter.gibbons@initech.com", "Initech"))
    store.upsert_conversation(visitor_conv("c2", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    for cid in ("c1", "c2"):
        panel.show_conversation(cid)
        shown(loop, panel, cid)
        own = {r.key for r in panel.records.rows.rows()}
        dups = panel.dup_list.rows.rows()
        assert own and not own & {r.key for r in dups}, (cid, titles(panel.records), titles(panel.dup_list))
        text = panel.dup_state.text()
        if dups:
            colleagues = sum(1 for r in dups if r.warning)
            assert text.startswith(f"{len(dups)} other possible duplicate"), text
            assert (f"{colleagues} owned by a colleague" in text) == (colleagues > 0), text
        else:
            assert text == "No other possible duplicates.", text


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
    assert integrations.enrichment is not None
    clock = [1_790_000_000.0]
    integrations.enrichment.clock = lambda: clock[0]
    sf.inject(503, "SERVER_UNAVAILABLE", "maintenance", times=500)
    enrich.rate_limit = 0
    store.upsert_conversation(visitor_conv("c2", "Gavin", "gavin@hooli.com", "Hooli"))
    panel.show_conversation("c2")
    shown(loop, panel, "c2")
    # Rate limited: the provider is paused until Retry-After, said plainly, with no Retry to hammer it.
    assert "Company research paused until" in panel.company.message.text()
    assert not panel.company.retry.isVisibleTo(panel)
    assert "SERVER_UNAVAILABLE" in panel.sf_state.text() and panel.retry_button.isVisibleTo(panel)
    sf.faults.clear()
    enrich.rate_limit = 600
    clock[0] += 3600
    run(loop, asyncio.sleep(0))
    for _ in range(3):
        if "SERVER_UNAVAILABLE" not in panel.sf_state.text():
            break
        panel.retry_button.click()
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
    assert titles(panel.records) == ["Lead: Peter Gibbons (Initech)", "Account: Initech, Inc."]
    assert len(hits) >= 2 and all("Initech" in h.title for h in hits)
    assert not {h.key for h in hits} & {r.key for r in panel.records.rows.rows()}


def aligned(agent_id: str | None, rule: str = "us-east", line: int = 6) -> p.Routing:
    return p.Routing(aligned_agent_id=agent_id, rule=rule, line=line, basis="visitor answers")


def test_territory_card_reads_the_servers_aligned_sdr(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    """Defect 1: the card says what the server's territory table decided (routing.aligned_agent_id, with
    rule and line), never a second guess from a client-side table: this visitor is in CA (Alex's state by
    the demo CSV), but the server aligned them to Sam (e.g. from their answers)."""
    store.upsert_conversation(visitor_conv("ca", "A", country="US", region="CA", routing=aligned("a-sam")))
    store.upsert_conversation(visitor_conv("mine", "B", routing=aligned("a-alex", "us-west", 4)))
    store.upsert_conversation(visitor_conv("nobody", "C", routing=aligned(None, "fallback", 14)))
    store.upsert_conversation(visitor_conv("new", "D", country="US", region="NY"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("ca")
    assert panel.territory.text.text() == "Sam Chen owns this territory"
    assert panel.territory.detail.text() == "rule 'us-east', line 6, from visitor answers"
    assert panel.territory.text.property("mine") is False
    panel.show_conversation("mine")
    assert panel.territory.text.text() == "You own this territory"
    assert panel.territory.detail.text() == "rule 'us-west', line 4, from visitor answers"
    assert panel.territory.text.property("mine") is True
    panel.show_conversation("nobody")
    assert panel.territory.text.text() == "No aligned SDR is known for this visitor"
    assert panel.territory.detail.text() == "rule 'fallback', line 14, from visitor answers"
    panel.show_conversation("new")
    assert panel.territory.text.text() == "No aligned SDR is known for this visitor yet"
    # The server re-aligns when it learns more (CRM, enrichment): the card follows the conversation.
    conv = store.conversations["new"]
    routing = p.Routing(aligned_agent_id="a-jordan", rule="emea", line=10, basis="Salesforce lead")
    store.upsert_conversation(msgspec.structs.replace(conv, routing=routing))
    assert panel.territory.text.text() == "Jordan Patel owns this territory"
    assert panel.territory.detail.text() == "rule 'emea', line 10, from Salesforce lead"
    # ... and so does the owner-change dialog's preselection (Salesforce users are matched by email).
    panel.show_conversation("ca")
    panel.service.use_existing("ca", "00Q5e000000000YEAQ", "Lead")
    panel._on_users_loaded(
        "ca",
        [
            {"Id": "0055e0000000001AAA", "Name": "Alex Rivera", "Email": "alex@demo.sdr"},
            {"Id": "0055e0000000002AAA", "Name": "Sam Chen", "Email": "sam@demo.sdr"},
        ],
    )
    owner = panel.dialog
    assert isinstance(owner, ChangeOwnerDialog) and owner.owner.currentText() == "Sam Chen (sam@demo.sdr)"


def test_scroll_position_resets_when_another_chat_opens(
    qtbot: QtBot,
    store: Store,
    bridge: StoreBridge,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    """Defect 9: scrolled down in one chat, the next chat's panel starts at the top (same chat: kept)."""
    pages = [p.PageView(url=f"https://x.test/{i}", title=f"Page {i}") for i in range(12)]
    store.upsert_conversation(visitor_conv("c1", "Ann", pages=pages))
    store.upsert_conversation(visitor_conv("c2", "Bob", pages=pages))
    panel = make_panel(qtbot, bridge, None, runner, session, tmp_path)
    panel.resize(380, 300)
    panel.show_conversation("c1")
    bar = panel.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 300)
    bar.setValue(bar.maximum())
    store.upsert_conversation(msgspec.structs.replace(store.conversations["c1"], message_count=3))
    assert bar.value() == bar.maximum()  # an update of the open chat keeps the place
    panel.show_conversation("c2")
    assert bar.value() == 0
    bar.setValue(200)
    panel.set_conversation(store.conversations["c1"])  # MainWindow's path
    assert bar.value() == 0


def test_change_owner_button_says_what_it_does_and_why_it_is_disabled(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    """Defect 9: the panel's button changes the Salesforce owner (it is named so), and it is disabled with a
    tooltip saying why whenever no Salesforce connection and linked lead allow it."""
    store.upsert_conversation(visitor_conv("lead", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics"))
    store.upsert_conversation(visitor_conv("none", "Nobody", "someone@unknown-company-xyz.com"))
    off = make_panel(qtbot, bridge, None, runner, session, tmp_path)
    off.show_conversation("lead")
    button = off.owner_button
    assert button.text() == "Change Salesforce owner…"
    assert not button.isEnabled() and "Salesforce is not configured" in button.toolTip()
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("none")
    shown(loop, panel, "none")
    button = panel.owner_button
    assert not button.isEnabled() and "No Salesforce lead is linked" in button.toolTip()
    panel.show_conversation("lead")
    assert not button.isEnabled()  # not before the lookup said which lead this is
    shown(loop, panel, "lead")
    assert button.isEnabled()
    assert button.toolTip() == "Make another Salesforce user the owner of Lead Jane Doe"
    panel.show_conversation("none")
    assert not button.isEnabled() and "No Salesforce lead is linked" in button.toolTip()


def test_change_owner_is_disabled_until_salesforce_is_connected(
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
) -> None:
    it = make_integrations(loop, sf, enrich, http, secrets, tmp_path, sign_in=False)  # type: ignore[arg-type]
    try:
        store.upsert_conversation(
            visitor_conv("lead", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics")
        )
        panel = make_panel(qtbot, bridge, it, runner, session, tmp_path)
        panel.service.use_existing("lead", "00Q5e000000000YEAQ", "Lead", "Jane Doe")  # linked earlier
        panel.show_conversation("lead")
        shown(loop, panel, "lead")
        button = panel.owner_button
        assert not button.isEnabled()
        assert button.toolTip() == "Connect Salesforce first (you are not signed in)."
    finally:
        it.close()


def test_the_visitors_name_follows_the_lead(
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
    """Defect 9: creating (or matching) a lead reports the CRM's name, email and company to the chat server
    (UpdateVisitor), which stores them and broadcasts: "Visitor from Globex" becomes "Dana Lopez"."""
    store.upsert_conversation(visitor_conv("c1", company="Globex"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    assert panel.visitor.name.text() == "Visitor from Globex"
    shown(loop, panel, "c1")
    panel.create_button.click()
    dialog = panel.dialog
    assert isinstance(dialog, CreateLeadDialog)
    dialog.edits["FirstName"].setText("Dana")
    dialog.edits["LastName"].setText("Lopez")
    dialog.edits["Email"].setText("dana.lopez@globex.io")
    created: list[str] = []
    panel.lead_created.connect(lambda cid, lid: created.append(lid))
    dialog.create_button.click()
    run(loop, wait_until(lambda: created or isinstance(panel.dialog, DuplicatesDialog), what="lead"))
    if isinstance(panel.dialog, DuplicatesDialog):
        panel.dialog.save_anyway.click()
    sent = lambda: any(isinstance(c, p.UpdateVisitor) for c in session.requests)  # noqa: E731
    run(loop, wait_until(lambda: created and sent(), what="lead created and reported"))
    assert panel.owner_button.isEnabled() and panel.owner_button.toolTip().endswith("Lead Dana Lopez")
    update = next(c for c in session.requests if isinstance(c, p.UpdateVisitor))
    assert (update.conversation_id, update.name, update.email, update.company) == (
        "c1",
        "Dana Lopez",
        "dana.lopez@globex.io",
        "Globex",
    )
    assert update.source == "Salesforce lead"


def test_an_unnamed_visitor_takes_the_name_of_the_lead_their_email_matched(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    """Defect 9 (matching): the Lead found by email names an unnamed visitor, once; a name the visitor gave
    is kept."""
    store.upsert_conversation(visitor_conv("c2", email="jane.doe@acme-robotics.com"))
    store.upsert_conversation(visitor_conv("c3", "JD", email="jane.doe@acme-robotics.com"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c2")
    shown(loop, panel, "c2")
    updates = [c for c in session.requests if isinstance(c, p.UpdateVisitor)]
    assert [(u.conversation_id, u.name, u.source) for u in updates] == [("c2", "Jane Doe", "Salesforce lead")]
    panel.show_conversation("c3")
    shown(loop, panel, "c3")
    panel.show_conversation("c2")
    shown(loop, panel, "c2")
    assert len([c for c in session.requests if isinstance(c, p.UpdateVisitor)]) == 1


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
    # change the Salesforce owner
    panel.owner_button.click()
    run(loop, wait_until(lambda: isinstance(panel.dialog, ChangeOwnerDialog), what="owner dialog"))
    handoff = panel.dialog
    assert isinstance(handoff, ChangeOwnerDialog) and handoff.windowTitle() == "Change Salesforce owner"
    handoff.owner.setCurrentIndex([u["Email"] for u in handoff.users].index("sam@demo.sdr"))
    handoff.note.setText("East coast HQ")
    handoff.change_button.click()
    run(loop, wait_until(lambda: "owner is now" in panel.action_note.text()))
    assert sf.org.records["Lead"][created[0]]["OwnerId"] == "0055e0000000002AAA"
    cmd = next(c for c in session.requests if isinstance(c, p.RecordHandoff))
    assert cmd.to_agent_id == "a-sam" and cmd.note == "East coast HQ" and not cmd.reassign
    # the chat server refusing the note is shown
    session.error = CommandError("forbidden", "this conversation is not visible to you")
    panel._change_owner("c1", {"Id": "0055e0000000002AAA", "Email": "sam@demo.sdr", "Name": "Sam Chen"}, "")
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
    it.close()


def test_nothing_is_clipped_at_the_panels_narrowest_width(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    """The panel has no sideways scrollbar, so its content must fit the narrowest panel the window allows
    (the action buttons in one row were wider and cut the Salesforce warning and buttons off)."""
    from ui.main_window import SIDE_MIN_WIDTH

    store.upsert_conversation(visitor_conv("lead", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("lead")
    shown(loop, panel, "lead")
    panel.resize(SIDE_MIN_WIDTH, 800)
    panel.show()
    body = panel.widget()
    assert body.minimumSizeHint().width() <= panel.viewport().width(), (
        body.minimumSizeHint().width(),
        panel.viewport().width(),
    )
    assert body.width() <= panel.viewport().width()


def test_salesforce_and_duplicates_shown_while_enrichment_is_still_queued(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    enrich: FakeEnrichment,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    # The provider answers 202 (queued) and waits between polls; the wait is a gate this test opens.
    assert integrations.enrichment is not None
    provider = integrations.enrichment.provider
    gate, polls = asyncio.Event(), []

    async def gated_sleep(seconds: float) -> None:
        polls.append(seconds)
        await gate.wait()

    provider._sleep = gated_sleep  # type: ignore[attr-defined]
    enrich.queued["acme-robotics.com"] = 2
    store.upsert_conversation(visitor_conv("c1", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    done: list[str] = []
    panel.results_shown.connect(done.append)
    panel.show_conversation("c1")
    run(loop, wait_until(lambda: bool(titles(panel.records)), what="Salesforce card before enrichment"))
    assert any(t.startswith("Lead: Jane Doe") for t in titles(panel.records))
    assert "Checking for duplicates" not in panel.dup_state.text() and panel.dup_state.text()
    assert polls and panel.company.state == "loading" and done == []
    gate.set()
    run(loop, wait_until(lambda: "c1" in done, what="company data after the queue"))
    assert panel.company.state == "data" and "Acme Robotics" in panel.company.company_name.text()


def test_rate_limited_enrichment_shows_the_pause(
    qtbot: QtBot,
    loop: asyncio.AbstractEventLoop,
    store: Store,
    bridge: StoreBridge,
    enrich: FakeEnrichment,
    integrations: Integrations,
    runner: TaskRunner,
    session: FakeSession,
    tmp_path: Path,
) -> None:
    assert integrations.enrichment is not None
    clock = [1_790_000_000.0]  # 2026-09-21 14:13:20 UTC
    integrations.enrichment.clock = lambda: clock[0]
    enrich.rate_limit = 0
    enrich.window_s = 120  # Retry-After 120 s -> paused until 14:15 UTC
    store.upsert_conversation(visitor_conv("c1", "Gavin", "gavin@hooli.com", "Hooli"))
    panel = make_panel(qtbot, bridge, integrations, runner, session, tmp_path)
    panel.show_conversation("c1")
    shown(loop, panel, "c1")
    text = panel.company.message.text()
    assert text.startswith("Company research paused until ") and text.endswith("(rate limit)")
    assert not panel.company.retry.isVisibleTo(panel) and any("Gavin" in t for t in titles(panel.records))
    # The card is as tall as its message, not as the (hidden) company details page.
    run(loop, wait_until(lambda: panel.company.stack.height() > 0, what="layout"))
    assert panel.company.stack.height() < panel.company.data.sizeHint().height()
