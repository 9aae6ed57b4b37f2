"""Territory table parsing and alignment."""

from __future__ import annotations

import pytest

from agent_app.territory import TerritoryError, TerritoryTable

HEADER = "rule,country,region,segment,sdr_email,pool\n"


def test_demo_table_aligns_demo_sdrs() -> None:
    t = TerritoryTable.load("sandbox/data/territories.csv")
    assert t.align("US", "CA", 420).sdr_email == "alex@demo.sdr"  # type: ignore[union-attr]
    assert t.align("us", "ny", 50).sdr_email == "sam@demo.sdr"  # type: ignore[union-attr]
    assert t.align("DE", None, 310).sdr_email == "jordan@demo.sdr"  # type: ignore[union-attr]
    assert t.align("JP", "13", 7600).sdr_email == "maria@demo.sdr"  # type: ignore[union-attr]
    assert t.align("BR", "SP", 1300).sdr_email == "maria@demo.sdr"  # type: ignore[union-attr]
    us_unknown = t.align("US", None, None)
    assert us_unknown and us_unknown.pool == "us-round-robin" and us_unknown.sdr_email is None
    fallback = t.align("ZZ", None, None)
    assert fallback and fallback.rule == "fallback" and fallback.pool == "global-queue"


def test_first_match_wins_and_segments() -> None:
    t = TerritoryTable.parse(
        HEADER + "big,US,TX,ent,sam@demo.sdr,\nmid,US,TX,100-999,alex@demo.sdr,\n"
        "any,US,*,*,maria@demo.sdr,\nrest,*,*,*,,pool-a\n"
    )
    assert t.align("US", "TX", 1000).rule == "big"  # type: ignore[union-attr]
    assert t.align("US", "TX", 999).rule == "mid"  # type: ignore[union-attr]
    assert t.align("US", "TX", 5).rule == "any"  # type: ignore[union-attr]
    assert t.align("US", "TX", None).rule == "any"  # type: ignore[union-attr]  # unknown size: only wildcards
    m = t.align("FR", None, 10)
    assert m and (m.rule, m.pool, m.line) == ("rest", "pool-a", 5)


def test_no_fallback_gives_none() -> None:
    t = TerritoryTable.parse(HEADER + "only,US,*,*,sam@demo.sdr,\n")
    assert t.align("DE", None, 5) is None


def test_malformed_rows_all_reported_with_line_numbers() -> None:
    text = (
        "# comment line\n"
        + HEADER
        + "ok,US,CA,smb,alex@demo.sdr,\n"  # line 3
        + "bad-seg,US,CA,huge,alex@demo.sdr,\n"  # line 4
        + "no-target,US,CA,*,,\n"  # line 5
        + "\n"  # line 6 (blank, skipped)
        + "short,US\n"  # line 7
        + "ok,US,NY,*,sam@demo.sdr,\n"  # line 8: duplicate name
        + "bad-mail,US,NY,*,sam-at-demo,\n"  # line 9
        + "bad-country,USA,*,*,sam@demo.sdr,\n"  # line 10
        + "backwards,US,*,500-100,sam@demo.sdr,\n"  # line 11
    )
    with pytest.raises(TerritoryError) as info:
        TerritoryTable.parse(text)
    assert info.value.errors == [
        "line 4: unknown segment 'huge' (use *, smb, mid, ent, N-M or N+)",
        "line 5: needs an sdr_email or a pool",
        "line 7: expected 6 columns, found 2",
        "line 8: rule 'ok' already defined on line 3",
        "line 9: invalid sdr_email 'sam-at-demo'",
        "line 10: country must be ISO codes like US, DE or *, not 'USA'",
        "line 11: segment range '500-100' is backwards",
    ]


def test_missing_columns_and_empty() -> None:
    with pytest.raises(TerritoryError, match="line 1: missing column"):
        TerritoryTable.parse("rule,country\nx,US\n")
    with pytest.raises(TerritoryError, match="empty table"):
        TerritoryTable.parse("")


def test_quoted_multiline_cell_keeps_physical_line_numbers() -> None:
    text = HEADER + 'a,US,"CA,\nWA",*,alex@demo.sdr,\nb,US,*,gigantic,sam@demo.sdr,\n'
    with pytest.raises(TerritoryError, match="line 4: unknown segment 'gigantic'"):
        TerritoryTable.parse(text)


def test_integrations_import_without_qt() -> None:
    import subprocess
    import sys

    code = "import sys, agent_app.integrations, agent_app.territory; assert 'PySide6' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_client_only_words_the_servers_alignment() -> None:
    """agent_app.alignment reads Conversation.routing (the server's table); it never matches territories."""
    from agent_app import protocol as p
    from agent_app.alignment import alignment

    sam = p.Agent(id="s", name="Sam Chen", email="sam@demo.sdr", territory="US-East")
    boss = p.Agent(id="b", name="Casey", email="casey@demo.sdr", territory="CA", role=p.Role.MANAGER)
    agents = {a.id: a for a in (sam, boss)}
    visitor = p.Visitor(id="v", country="US", region="CA")  # Casey's "territory": irrelevant here
    fresh = alignment(p.Conversation(id="c", visitor=visitor), agents, "me")
    assert (fresh.agent_id, fresh.known, fresh.headline()) == (
        "",
        False,
        "No aligned SDR is known for this visitor yet",
    )
    routing = p.Routing(aligned_agent_id="s", rule="us-east", line=7, basis="Salesforce lead")
    a = alignment(p.Conversation(id="c", visitor=visitor, routing=routing), agents, "me")
    assert (a.agent, a.mine, a.headline()) == (sam, False, "Sam Chen owns this territory")
    assert a.provenance == "rule 'us-east', line 7, from Salesforce lead"
    assert alignment(p.Conversation(id="c", visitor=visitor, routing=routing), agents, "s").headline() == (
        "You own this territory"
    )
    nobody = p.Routing(aligned_agent_id=None, rule="fallback", line=14)
    n = alignment(p.Conversation(id="c", visitor=visitor, routing=nobody), agents, "me")
    assert (n.agent, n.known, n.headline(), n.provenance) == (
        None,
        True,
        "No aligned SDR is known for this visitor",
        "rule 'fallback', line 14",
    )


def test_possible_duplicates_never_repeat_the_visitors_own_records() -> None:
    from agent_app.integrations import DuplicateHit, DuplicateReport, other_duplicates

    def hit(record_id: str) -> DuplicateHit:
        return DuplicateHit("Lead", record_id, record_id, ("same email",), 100.0, "u", "U", "", False)

    report = DuplicateReport([hit("own-lead"), hit("other"), hit("own-account")])
    left = other_duplicates(report, ["own-lead", "own-account"])
    assert left is not None and [h.record_id for h in left.hits] == ["other"]
    assert [h.record_id for h in report.hits] == ["own-lead", "other", "own-account"]  # not mutated
    assert other_duplicates(None, ["x"]) is None
