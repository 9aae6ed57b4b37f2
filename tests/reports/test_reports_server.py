"""The `report` command against a real server: chats driven through routing, the SLA clock and replies on
a clock the test moves, so every figure is known exactly; who may read which rows."""

from __future__ import annotations

from typing import Any

from agent_app import protocol as p
from tests.reports.conftest import START, Desk
from tests.server.conftest import Client, agent_login, cid, visitor_login

SAM = {"name": "Dana Lee", "country": "US", "region": "CA"}  # the us-west rule: Sam
TINA = {"name": "Ray Kim", "country": "US", "region": "NY"}  # the us-east rule: Tina


async def _reply(desk: Desk, agent: Client, conversation_id: str, after: float) -> None:
    await desk.scheduler.advance(after)  # the SLA timers due meanwhile fire, in order
    await agent.ok(p.SendMessage(id=cid(), conversation_id=conversation_id, text="Hi! How can I help?"))


async def _cql(agent: Client, conversation_id: str, level: int) -> None:
    await agent.ok(p.SetCql(id=cid(), conversation_id=conversation_id, level=level))


async def _report(agent: Client, **kw: Any) -> p.Report:
    result = await agent.ok(p.GetReport(id=cid(), **kw))
    return p.convert(result["report"], p.Report)


async def _five_chats(desk: Desk) -> tuple[Client, Client, Client, dict[str, str]]:
    """Sam answers in 12 s (3 bolts) and 40 s (1 bolt, late) and closes one unanswered; Tina answers in
    5 s (red line) and misses one (the meeting offer at 60 s comes first); a meeting is booked from
    Sam's first chat."""
    sam = await desk.available("sam@example.com")
    tina = await desk.available("tina@example.com")
    boss, _ = await agent_login_manager(desk)
    chats: dict[str, str] = {}
    chats["a"] = await desk.visitor_says("Pricing for 40 seats?", **SAM)
    await _reply(desk, sam, chats["a"], 12)
    await _cql(sam, chats["a"], 3)
    chats["b"] = await desk.visitor_says("Do you integrate with Salesforce?", **SAM)
    await _reply(desk, sam, chats["b"], 40)  # warned at 20, breached at 30
    await _cql(sam, chats["b"], 1)
    chats["c"] = await desk.visitor_says("Just browsing", **TINA)
    await _reply(desk, tina, chats["c"], 5)
    await _cql(tina, chats["c"], 0)
    chats["d"] = await desk.visitor_says("Anyone there?", **TINA)
    await desk.scheduler.advance(61)  # nobody answers: the meeting offer at 60 s
    chats["e"] = await desk.visitor_says("Wrong website, sorry", **SAM)
    await desk.scheduler.advance(3)
    await sam.ok(p.CloseConversation(id=cid(), conversation_id=chats["e"]))
    await _book(desk, sam, chats["a"])
    return sam, tina, boss, chats


async def agent_login_manager(desk: Desk) -> tuple[Client, p.Welcome]:
    return await agent_login(desk.server, "maria@example.com")


async def _book(desk: Desk, agent: Client, conversation_id: str) -> None:
    """The visitor of the chat books the first open slot of the rep's calendar, as the widget does."""
    result = await agent.ok(p.GetOpenSlots(id=cid()))
    card = p.convert(result["card"], p.BookingCard)
    visitor, _ = await visitor_login(desk.server, token=desk.tokens[conversation_id])
    booked = await visitor.ok(
        p.BookSlot(id=cid(), agent_id=card.agent_id, start=card.slots[0].start, email="dana@acme.test")
    )
    assert booked["meeting"]["conversation_id"] == conversation_id
    await visitor.close()


async def _bye(*clients: Client) -> None:
    """Reads what each client was sent (a round trip) before closing: a full receive queue would hold
    the close handshake up for its whole timeout."""
    for client in clients:
        await client.ok(p.ListAgents(id=cid()))
        await client.close()


def _figures(row: p.ReportRow) -> tuple[Any, ...]:
    return (row.chats, row.answered, row.median_seconds, row.p90_seconds, row.within_target,
            row.within_target_pct, row.missed, row.meetings, row.cql)  # fmt: skip


async def test_manager_report_has_exact_figures_per_rep_territory_and_team(desk: Desk) -> None:
    sam, tina, boss, chats = await _five_chats(desk)
    report = await _report(boss, period="today", timezone="America/New_York")
    assert report.scope == "team" and report.target_seconds == 30
    assert report.timezone == "America/New_York"
    assert report.since == START - 10 * 3600 + 5 * 3600  # midnight in New York (UTC-5)
    assert report.until == report.since + 86400
    rows = {r.name: r for r in report.reps}
    assert set(rows) == {"Sam Sdr", "Tina Sdr"}  # every SDR has a row; the manager took no chat
    #                                 chats answered median p90 within  %     missed meet  CQL 0 1 2 3 unrated
    assert _figures(rows["Sam Sdr"]) == (3, 2, 26.0, 40.0, 1, 50.0, 1, 1, [0, 1, 0, 1, 1])
    assert _figures(rows["Tina Sdr"]) == (2, 1, 5.0, 5.0, 1, 100.0, 1, 0, [1, 0, 0, 0, 1])
    assert report.team is not None
    assert _figures(report.team) == (5, 3, 12.0, 40.0, 2, 66.7, 2, 1, [1, 1, 0, 1, 2])
    territories = {r.key: r for r in report.territories}
    assert set(territories) == {"US-East", "US-West"}
    assert _figures(territories["US-West"]) == _figures(rows["Sam Sdr"])
    assert _figures(territories["US-East"]) == _figures(rows["Tina Sdr"])
    # The chats behind the figures, newest first: what the manager can open from the report.
    assert [c.conversation_id for c in report.chats] == [chats[k] for k in "edcba"] and not report.more_chats
    first = report.chats[-1]
    sam_id = rows["Sam Sdr"].key
    assert (first.owner_id, first.responder_id, first.visitor_name, first.first_response_seconds) == (
        sam_id, sam_id, "Dana Lee", 12.0)  # fmt: skip
    assert (first.cql, first.meeting, first.missed) == (3, True, False)
    assert [(c.missed, c.responder_id) for c in report.chats[:2]] == [(True, ""), (True, "")]
    await _bye(sam, tina, boss)


async def test_an_sdr_reads_their_own_row_and_the_team_totals_only(desk: Desk) -> None:
    sam, tina, boss, chats = await _five_chats(desk)
    mine = await _report(tina, period="7d")
    assert mine.scope == "own" and mine.timezone == "America/New_York"  # her profile's zone (US-East)
    assert [r.name for r in mine.reps] == ["Tina Sdr"]
    assert _figures(mine.reps[0]) == (2, 1, 5.0, 5.0, 1, 100.0, 1, 0, [1, 0, 0, 0, 1])
    assert [r.key for r in mine.territories] == ["US-East"]
    assert mine.team is not None and mine.team.chats == 5 and mine.team.answered == 3
    # Listed: only the chats she may see (hers); Sam's are counted in the totals, never shown to her.
    assert {c.conversation_id for c in mine.chats} == {chats["c"], chats["d"]}
    await _bye(sam, tina, boss)


async def test_periods_and_bad_input(desk: Desk) -> None:
    sam, tina, boss, _ = await _five_chats(desk)
    later = await _report(boss, period="custom", since=START + 3600, until=START + 7200)
    assert later.team is not None and later.team.chats == 0 and later.team.median_seconds is None
    assert all(r.chats == 0 for r in later.reps)
    month = await _report(boss, period="30d")
    assert month.team is not None and month.team.chats == 5
    assert month.until - month.since == 30 * 86400
    for bad, code in (
        (p.GetReport(id=cid(), period="custom", since=START, until=START - 1), p.ErrorCode.INVALID),
        (p.GetReport(id=cid(), period="custom", since=0, until=START), p.ErrorCode.TOO_LONG),
        (p.GetReport(id=cid(), period="custom"), p.ErrorCode.INVALID),
        (p.GetReport(id=cid(), period="yesterday"), p.ErrorCode.INVALID),
        (p.GetReport(id=cid(), timezone="Mars/Olympus"), p.ErrorCode.INVALID),
    ):
        answer = await boss.call(bad)
        assert isinstance(answer, p.Error) and answer.code is code, (bad, answer)
    await _bye(sam, tina, boss)


async def test_a_calendar_offered_at_once_to_an_away_reps_visitor_is_not_a_miss(desk: Desk) -> None:
    """Away: the bot offers Sam's calendar at once (the playbook working). Sam answers 10 s later: a
    first response of 10 s and no miss. A chat that closes unanswered after such an offer is a miss,
    unless the visitor booked a meeting from it."""
    sam = await desk.available("sam@example.com")
    await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AWAY))
    boss, _ = await agent_login_manager(desk)
    answered = await desk.visitor_says("Pricing?", **SAM)
    await _reply(desk, sam, answered, 10)
    booked = await desk.visitor_says("Can we talk tomorrow?", **SAM)
    await _book(desk, sam, booked)
    unanswered = await desk.visitor_says("Hello?", **SAM)
    for cid_ in (booked, unanswered):
        await sam.ok(p.CloseConversation(id=cid(), conversation_id=cid_))
    report = await _report(boss, period="today")
    [row] = [r for r in report.reps if r.name == "Sam Sdr"]
    assert (row.chats, row.answered, row.median_seconds, row.missed, row.meetings) == (3, 1, 10.0, 1, 1)
    await _bye(sam, boss)
