"""The auto-away rules (agent_app.auto_away) on their own: inputs in, the presence to ask for out."""

from __future__ import annotations

from agent_app import protocol as p
from agent_app.auto_away import (
    ASLEEP,
    SCREEN_LOCKED,
    AutoAwayConfig,
    AutoAwayPolicy,
    Change,
    idle_reason,
)

AVAILABLE, AWAY = p.Presence.AVAILABLE, p.Presence.AWAY


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(config: AutoAwayConfig | None = None) -> tuple[AutoAwayPolicy, FakeClock]:
    clock = FakeClock()
    return AutoAwayPolicy(config or AutoAwayConfig(), clock=clock), clock


def served(policy: AutoAwayPolicy, change: Change | None) -> None:
    """The server applied ``change`` and echoed it (PresenceChanged for me)."""
    assert change is not None
    assert policy.presence_seen(change.presence, change.reason) is None


def test_lock_sets_away_with_the_reason_and_unlock_sets_available_again() -> None:
    policy, _ = make()
    assert policy.presence_seen(AVAILABLE, "") is None
    change = policy.screen_locked(True)
    assert change == Change(AWAY, SCREEN_LOCKED)
    served(policy, change)
    back = policy.screen_locked(False)
    assert back == Change(AVAILABLE, "") and back.returned
    served(policy, back)
    assert policy.screen_locked(False) is None  # nothing more to do


def test_a_manual_away_survives_the_unlock() -> None:
    policy, _ = make()
    policy.presence_seen(AVAILABLE, "")
    assert policy.presence_seen(AWAY, "") is None  # the SDR chose Away
    assert policy.screen_locked(True) is None  # already Away: the manual Away stays as it is
    assert policy.screen_locked(False) is None
    assert policy.idle(3600) is None


def test_a_manual_away_during_an_automatic_one_is_kept_after_return() -> None:
    policy, _ = make()
    policy.presence_seen(AVAILABLE, "")
    served(policy, policy.screen_locked(True))
    policy.presence_seen(AWAY, "")  # e.g. from the phone: "I'm out for lunch"
    assert policy.screen_locked(False) is None


def test_manual_available_while_locked_is_respected_until_the_next_lock() -> None:
    policy, _ = make()
    policy.presence_seen(AVAILABLE, "")
    served(policy, policy.screen_locked(True))
    # From another device (this screen is locked): the SDR says they are here. Don't fight it.
    assert policy.presence_seen(AVAILABLE, "") is None
    assert policy.screen_locked(True) is None  # the same lock reported again
    assert policy.idle(3600) is None  # still the same absence as far as we know: locked wins
    assert policy.screen_locked(False) is None  # nothing automatic to undo
    assert policy.screen_locked(True) == Change(AWAY, SCREEN_LOCKED)  # a new lock is a new absence


def test_idle_for_n_minutes_sets_away_and_activity_brings_available_back() -> None:
    policy, _ = make(AutoAwayConfig(idle_enabled=True, idle_minutes=5, on_lock=True))
    policy.presence_seen(AVAILABLE, "")
    assert policy.idle(299) is None
    assert policy.next_idle_check(299) == 1
    change = policy.idle(300)
    assert change == Change(AWAY, "idle 5 min") == Change(AWAY, idle_reason(5))
    served(policy, change)
    assert policy.next_idle_check(400) == policy.return_poll_s  # poll often to notice the return
    back = policy.idle(2)
    assert back == Change(AVAILABLE, "")
    served(policy, back)
    assert policy.next_idle_check(0) == 300


def test_idle_off_never_sets_away_and_needs_no_polling() -> None:
    policy, _ = make(AutoAwayConfig(idle_enabled=False, idle_minutes=5, on_lock=True))
    policy.presence_seen(AVAILABLE, "")
    assert policy.idle(10_000) is None
    assert policy.next_idle_check(10_000) is None


def test_lock_off_ignores_locks_and_sleep() -> None:
    policy, _ = make(AutoAwayConfig(idle_enabled=True, idle_minutes=5, on_lock=False))
    policy.presence_seen(AVAILABLE, "")
    assert policy.screen_locked(True) is None
    assert policy.sleeping(True) is None


def test_sleep_then_resume_to_a_locked_screen_then_unlock() -> None:
    policy, _ = make()
    policy.presence_seen(AVAILABLE, "")
    asleep = policy.sleeping(True)
    assert asleep == Change(AWAY, ASLEEP)
    served(policy, asleep)
    # Most desktops lock the screen on the way down: on resume the screen is still locked.
    policy.screen_locked(True)
    assert policy.sleeping(False) == Change(AWAY, SCREEN_LOCKED)  # a truer reason, still automatic
    served(policy, Change(AWAY, SCREEN_LOCKED))
    assert policy.screen_locked(False) == Change(AVAILABLE, "")


def test_the_reason_follows_the_strongest_cause() -> None:
    policy, _ = make(AutoAwayConfig(idle_enabled=True, idle_minutes=10, on_lock=True))
    policy.presence_seen(AVAILABLE, "")
    served(policy, policy.idle(600))
    assert policy.screen_locked(True) == Change(AWAY, SCREEN_LOCKED)


def test_an_automatic_away_found_at_start_is_undone_when_nothing_keeps_it() -> None:
    # The app was quit while auto-Away (e.g. shut down from the lock screen); the SDR opens it again.
    policy, _ = make()
    assert policy.presence_seen(AWAY, SCREEN_LOCKED) == Change(AVAILABLE, "")


def test_nothing_is_asked_before_the_presence_is_known() -> None:
    policy, _ = make()
    assert policy.screen_locked(True) is None
    assert policy.presence_seen(AVAILABLE, "") == Change(AWAY, SCREEN_LOCKED)


def test_a_request_in_flight_is_not_repeated_until_it_fails_or_times_out() -> None:
    policy, clock = make()
    policy.presence_seen(AVAILABLE, "")
    first = policy.screen_locked(True)
    assert first == Change(AWAY, SCREEN_LOCKED)
    assert policy.screen_locked(True) is None  # asked already; the echo has not arrived
    policy.request_failed(first)
    assert policy.screen_locked(True) == first  # e.g. after a reconnect
    clock.now += policy.pending_timeout_s + 1
    assert policy.screen_locked(True) == first  # no answer at all: ask again


def test_turning_the_setting_off_undoes_an_automatic_away() -> None:
    policy, _ = make()
    policy.presence_seen(AVAILABLE, "")
    served(policy, policy.screen_locked(True))
    change = policy.configure(AutoAwayConfig(idle_enabled=True, idle_minutes=10, on_lock=False))
    assert change == Change(AVAILABLE, "")


def test_changing_the_idle_minutes_applies_at_once() -> None:
    policy, _ = make(AutoAwayConfig(idle_enabled=True, idle_minutes=10, on_lock=True))
    policy.presence_seen(AVAILABLE, "")
    assert policy.idle(400) is None
    assert policy.configure(AutoAwayConfig(idle_enabled=True, idle_minutes=5, on_lock=True)) == Change(
        AWAY, "idle 5 min"
    )


def test_config_from_settings_clamps_the_minutes(tmp_path: object) -> None:
    from pathlib import Path

    from agent_app.settings import Settings

    assert isinstance(tmp_path, Path)
    settings = Settings(tmp_path / "settings.json")
    settings.load()
    assert AutoAwayConfig.from_settings(settings) == AutoAwayConfig(True, 10, True)
    settings.set("auto_away_idle_minutes", 0)
    settings.set("auto_away_on_lock", False)
    assert AutoAwayConfig.from_settings(settings) == AutoAwayConfig(True, 1, False)
