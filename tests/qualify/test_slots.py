"""Slot computation: time zones, DST changes, buffers, minimum notice, full days and the horizon."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agent_app.protocol import CalendarSettings, Weekly
from chat_server.calendar import default_settings, is_open, open_slots, validate_settings


def ts(tz: str, *args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def settings(
    tz: str, days: range = range(7), start: str = "09:00", end: str = "12:00", **kw: int
) -> CalendarSettings:
    values = {"duration_minutes": 30, "buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 14} | kw
    return CalendarSettings(
        agent_id="a1",
        timezone=tz,
        availability=[Weekly(weekday=d, start=start, end=end) for d in days],
        **values,
    )


def local_times(slots: list, tz: str) -> list[str]:
    return [datetime.fromtimestamp(s.start, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") for s in slots]


def test_new_york_fall_back_keeps_local_hours_and_moves_utc() -> None:
    s = settings("America/New_York", days=range(7), start="09:00", end="10:00")
    now = ts("America/New_York", 2026, 10, 31, 0, 0)
    slots = open_slots(s, [], now)
    local = local_times(slots, "America/New_York")
    assert local[:4] == ["2026-10-31 09:00", "2026-10-31 09:30", "2026-11-01 09:00", "2026-11-01 09:30"]
    # EDT (UTC-4) on Saturday, EST (UTC-5) on Sunday after the change at 02:00.
    assert slots[0].start == utc(2026, 10, 31, 13, 0)
    assert slots[2].start == utc(2026, 11, 1, 14, 0)
    assert all(s.end - s.start == 1800 for s in slots)


def test_new_york_ambiguous_hour_takes_first_occurrence_and_keeps_real_duration() -> None:
    s = settings("America/New_York", days=[6], start="01:00", end="02:00")  # Sunday 2026-11-01
    now = ts("America/New_York", 2026, 10, 31, 12, 0)
    slots = [x for x in open_slots(s, [], now) if x.start < utc(2026, 11, 2)]
    assert [x.start for x in slots] == [utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 5, 30)]
    assert all(x.end - x.start == 1800 for x in slots)


def test_london_autumn_change_and_spring_gap_is_skipped() -> None:
    s = settings("Europe/London", days=range(7), start="09:00", end="09:30")
    now = ts("Europe/London", 2026, 10, 24, 0, 0)
    slots = open_slots(s, [], now)
    assert slots[0].start == utc(2026, 10, 24, 8, 0)  # BST
    assert slots[1].start == utc(2026, 10, 25, 9, 0)  # GMT after the change
    gap = settings("Europe/London", days=[6], start="01:00", end="02:00")  # 2026-03-29 01:00-02:00 missing
    spring = open_slots(gap, [], ts("Europe/London", 2026, 3, 28, 12, 0), limit=2)
    assert local_times(spring, "Europe/London")[0] == "2026-04-05 01:00"


def test_same_settings_in_two_zones_give_different_utc() -> None:
    now = utc(2026, 6, 1, 0, 0)  # a Monday
    ny = open_slots(settings("America/New_York", days=[0]), [], now, limit=1)
    tokyo = open_slots(settings("Asia/Tokyo", days=[0]), [], now, limit=1)
    assert ny[0].start == utc(2026, 6, 1, 13, 0)
    assert tokyo[0].start == utc(2026, 6, 1, 0, 0)  # Monday 09:00 JST is right now: still bookable


def test_buffer_blocks_neighbours_of_a_meeting() -> None:
    s = settings("UTC", days=[0], start="09:00", end="12:00", buffer_minutes=15)
    now = utc(2026, 6, 1, 0, 0)
    busy = [(utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 10, 30))]
    local = local_times(open_slots(s, busy, now, limit=4), "UTC")
    assert local == ["2026-06-01 09:00", "2026-06-01 11:00", "2026-06-01 11:30", "2026-06-08 09:00"]


def test_minimum_notice_and_horizon() -> None:
    s = settings("UTC", days=range(7), start="09:00", end="17:00", min_notice_minutes=120, horizon_days=2)
    now = utc(2026, 6, 1, 9, 10)
    slots = open_slots(s, [], now)
    assert slots[0].start == utc(2026, 6, 1, 11, 30)
    assert slots[-1].start == utc(2026, 6, 2, 16, 30)  # 2026-06-03 09:00-09:30 ends after the horizon
    assert not is_open(s, [], now, utc(2026, 6, 1, 11, 0))
    assert is_open(s, [], now, utc(2026, 6, 1, 11, 30))


def test_fully_booked_day_offers_the_next_day() -> None:
    s = settings("UTC", days=[0, 1], start="09:00", end="10:00")
    now = utc(2026, 6, 1, 0, 0)
    busy = [(utc(2026, 6, 1, 9, 0), utc(2026, 6, 1, 10, 0))]
    assert local_times(open_slots(s, busy, now, limit=1), "UTC") == ["2026-06-02 09:00"]


def test_validation() -> None:
    assert validate_settings(default_settings("a")) == []
    bad = settings("Mars/Olympus", days=[9], duration_minutes=0, horizon_days=0)
    problems = " ".join(validate_settings(bad))
    assert (
        "time zone" in problems and "Duration" in problems and "Horizon" in problems and "Weekday" in problems
    )
    short = settings("UTC", days=[0], start="09:00", end="09:15")
    assert any("shorter" in p for p in validate_settings(short))


def test_a_zone_folder_or_an_overlong_name_is_a_problem_not_a_crash() -> None:
    from agent_app.calendar_rules import problems
    from agent_app.timezones import named_zone

    for name in ("America", "A" * 300):
        assert named_zone(name) is None
        assert any("time zone" in text for text in problems(CalendarSettings(agent_id="a1", timezone=name)))
