"""TaskRunner: results and failures reach one place, busy state is set and always cleared, keys de-duplicate,
cancel_all (on quit) stops everything quietly."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from ui.tasks import TaskRunner


class Recorder:
    """What the runner reported: ``failed`` emissions, ``busy_changed`` emissions."""

    def __init__(self, runner: TaskRunner) -> None:
        self.failed: list[tuple[str, object]] = []
        self.busy: list[bool] = []
        runner.failed.connect(lambda what, exc: self.failed.append((what, exc)))
        runner.busy_changed.connect(self.busy.append)


async def settle(task: asyncio.Task[Any]) -> None:
    """Let ``task`` finish and its done-callback run (callbacks are scheduled one loop turn later)."""
    await asyncio.wait([task])
    await asyncio.sleep(0)


async def boom(message: str = "server said no") -> None:
    raise ValueError(message)


async def answer(value: int, gate: asyncio.Event | None = None) -> int:
    if gate is not None:
        await gate.wait()
    return value


def is_busy(widget: QPushButton) -> bool:
    return widget.property("busy") is True and not widget.isEnabled()


async def test_a_failure_goes_to_the_failed_signal_with_its_description(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    successes: list[object] = []
    with caplog.at_level(logging.WARNING, logger="ui.tasks"):
        task = runner.run(boom(), what="Setting the CQL", on_success=successes.append)
        await settle(task)
    assert [(what, str(exc)) for what, exc in seen.failed] == [("Setting the CQL", "server said no")]
    assert isinstance(seen.failed[0][1], ValueError)
    assert successes == [] and runner.running == 0
    assert "Setting the CQL failed: server said no" in caplog.text  # and it is in the log


async def test_without_a_description_the_coroutine_names_the_failure(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    await settle(runner.run(boom()))
    assert [what for what, _ in seen.failed] == ["boom"]


async def test_on_error_takes_the_failure_instead_of_the_signal(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    errors: list[Exception] = []
    await settle(runner.run(boom("nope"), what="Saving my calendar", on_error=errors.append))
    assert [str(e) for e in errors] == ["nope"] and seen.failed == []


async def test_success_hands_over_the_result_and_emits_no_failure(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    results: list[int] = []
    await settle(runner.run(answer(42), what="Loading meetings", on_success=results.append))
    assert results == [42] and seen.failed == [] and runner.running == 0


async def test_an_error_in_on_success_is_reported_like_a_failure(qtbot: QtBot) -> None:
    """A bug in a result handler must reach the one error place, not vanish into the loop's log."""
    runner = TaskRunner()
    seen = Recorder(runner)

    def broken(_: int) -> None:
        raise KeyError("no such row")

    await settle(runner.run(answer(1), what="Loading meetings", on_success=broken))
    assert [(what, type(exc)) for what, exc in seen.failed] == [("Loading meetings", KeyError)]


@pytest.mark.parametrize("outcome", ["success", "failure", "cancel"])
async def test_busy_widget_and_busy_state_are_set_while_running_and_always_cleared(
    qtbot: QtBot, outcome: str
) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    button = QPushButton("Share calendar")
    qtbot.addWidget(button)
    gate = asyncio.Event()

    async def work() -> int:
        await gate.wait()
        if outcome == "failure":
            raise RuntimeError("calendar unavailable")
        return 1

    task = runner.run(work(), what="Sharing the calendar", busy=button, on_error=lambda _: None)
    assert is_busy(button) and seen.busy == [True] and runner.running == 1
    if outcome == "cancel":
        task.cancel()
    else:
        gate.set()
    await settle(task)
    assert not is_busy(button) and button.property("busy") is False
    assert seen.busy == [True, False] and runner.running == 0
    assert seen.failed == []  # on_error took the failure; a cancellation is never a failure


async def test_busy_changed_follows_the_set_of_tasks_not_each_task(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    first_gate, second_gate = asyncio.Event(), asyncio.Event()
    first = runner.run(answer(1, first_gate))
    second = runner.run(answer(2, second_gate))
    assert seen.busy == [True] and runner.running == 2
    first_gate.set()
    await settle(first)
    assert seen.busy == [True] and runner.running == 1  # still busy: one is left
    second_gate.set()
    await settle(second)
    assert seen.busy == [True, False]


async def test_the_same_key_cancels_the_earlier_task_other_keys_run_on(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    results: list[int] = []
    gate = asyncio.Event()
    old = runner.run(answer(1, gate), key=("panel", "c1"), on_success=results.append)
    other = runner.run(answer(2, gate), key=("panel", "c2"), on_success=results.append)
    new = runner.run(answer(3, gate), key=("panel", "c1"), on_success=results.append)
    await asyncio.sleep(0)
    assert old.cancelled() or old.cancelling()
    gate.set()
    await asyncio.wait([old, other, new])
    await asyncio.sleep(0)
    assert old.cancelled() and not other.cancelled() and not new.cancelled()
    assert sorted(results) == [2, 3] and seen.failed == [] and runner.running == 0


async def test_cancel_all_on_quit_stops_every_task_quietly(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    button = QPushButton("Send")
    qtbot.addWidget(button)
    never = asyncio.Event()
    tasks = [runner.run(answer(n, never), what=f"task {n}", busy=button) for n in range(3)]
    runner.cancel_all()
    await asyncio.wait(tasks)
    await asyncio.sleep(0)
    assert all(t.cancelled() for t in tasks)
    assert runner.running == 0 and seen.busy == [True, False] and seen.failed == []
    assert not is_busy(button)


async def test_a_busy_widget_deleted_meanwhile_is_no_crash(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen = Recorder(runner)
    button = QPushButton("Close")
    gate = asyncio.Event()
    task = runner.run(answer(1, gate), busy=button)
    import shiboken6

    shiboken6.delete(button)
    gate.set()
    await settle(task)
    assert runner.running == 0 and seen.busy == [True, False] and seen.failed == []
