"""Loading and validating the playbook file: the default loads; bad files fail with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_server.playbook import (
    PagePattern,
    PlaybookError,
    load_playbook,
    loads_playbook,
    normalize_email,
    parse_team_size,
)

MINIMAL = 'pages = ["/pricing"]\n'


def test_default_playbook_loads_with_the_handbook_pages() -> None:
    pb = load_playbook()
    for page in ("/pricing", "/sales", "/free-trial", "/features", "/comparison"):
        assert pb.runs_on(f"https://www.acme.test{page}?utm_source=x"), page
    assert not pb.runs_on("https://www.acme.test/blog/pricing-tips")
    assert [q.key for q in pb.questions] == ["reason", "email", "company", "team_size"]
    assert pb.sla.first_response_seconds == 30 and pb.sla.warning_seconds == 20
    assert pb.sla.offer_meeting_seconds == 60
    assert pb.territories_path() is not None and pb.territories_path().exists()  # type: ignore[union-attr]


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pb.toml"
    path.write_text('pages = ["/pricing"]\ngreeting = "unterminated\n')
    with pytest.raises(PlaybookError) as err:
        load_playbook(path)
    assert str(path) in str(err.value)
    assert "line 2" in str(err.value)
    assert "not valid TOML" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="can't read the file"):
        load_playbook(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("pricing", "starting with '/'"),
        ("re:/(pricing", "not a valid regular expression"),
        ("", "non-empty"),
        ("/pri cing", "spaces"),
        ("ftp://x.com/pricing", "http(s)://host/path"),
    ],
)
def test_bad_page_patterns_are_reported(pattern: str, message: str) -> None:
    with pytest.raises(PlaybookError) as err:
        loads_playbook(f'pages = ["/sales", {pattern!r}]\n'.replace("'", '"'))
    assert "pages:" in str(err.value)
    assert message in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    text = (
        MINIMAL
        + """
colour = "blue"
[[questions]]
key = "email"
kind = "telepathy"
text = "Email?"
[[questions]]
key = "email"
text = "Again?"
[[rules]]
name = "Huge"
when = { team_size_at_least = -5, planet = "Mars" }
cql = 7
[sla]
first_response_seconds = 30
warning_seconds = 45
"""
    )
    with pytest.raises(PlaybookError) as err:
        loads_playbook(text)
    problems = err.value.problems
    joined = "\n".join(problems)
    assert "unknown key 'colour'" in joined
    assert "questions[0]: kind 'telepathy'" in joined
    assert "questions[1]: key 'email' is used by an earlier question" in joined
    assert "rules[0] (Huge): 'cql' must be one of 0, 1, 2, 3" in joined
    assert "unknown key 'planet'" in joined
    assert "team_size_at_least' must be a whole number" in joined
    assert "warning_seconds (45) must be less than first_response_seconds (30)" in joined
    assert len(problems) >= 7


def test_rule_on_an_answer_nobody_asks_for() -> None:
    text = MINIMAL + '[[rules]]\nname = "x"\nwhen = { answer_contains = { budget = "big" } }\ncql = 3\n'
    with pytest.raises(PlaybookError, match="budget"):
        loads_playbook(text)


def test_page_patterns() -> None:
    plain = PagePattern.parse("/pricing")
    assert (
        plain.matches("https://a.test/pricing")
        and plain.matches("/pricing/")
        and plain.matches("/pricing/teams")
    )
    assert not plain.matches("/pricing-old") and not plain.matches("/en/pricing")
    glob = PagePattern.parse("/*/pricing")
    assert glob.matches("https://a.test/en/pricing?x=1") and not glob.matches("/pricing")
    regex = PagePattern.parse("re:^/(en|de)/sales$")
    assert regex.matches("/de/sales") and not regex.matches("/fr/sales")
    hosted = PagePattern.parse("https://*.acme.test/features")
    assert hosted.matches("https://www.acme.test/features") and not hosted.matches(
        "https://evil.test/features"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120", (120, 120)),
        ("50-200", (50, 200)),
        ("50 - 200 people", (50, 200)),
        ("200 to 50", (50, 200)),
        ("1,500", (1500, 1500)),
        ("500+", (500, None)),
        ("2k", (2000, 2000)),
        ("about 40 employees", (40, 40)),
        ("lots", None),
        ("0", None),
        ("-5", None),
        ("12 or 13 maybe", None),
    ],
)
def test_team_size_answers(text: str, expected: tuple[int, int | None] | None) -> None:
    assert parse_team_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Jane.Doe@BigCo.COM ", "Jane.Doe@bigco.com"),
        ("<jane@bigco.io>", "jane@bigco.io"),
        ("jane at bigco dot com", None),
        ("jane@", None),
        ("jane@bigco", None),
        ("a b@c.com", None),
    ],
)
def test_email_answers(text: str, expected: str | None) -> None:
    assert normalize_email(text) == expected
