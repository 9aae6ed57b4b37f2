"""Shared test plugins: the qasync loop fixture (tests/qt_loop.py) and the strict asyncio-error check."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Iterator

import pytest
from _pytest.unraisableexception import collect_unraisable  # pytest has no public spelling

pytest_plugins = ["tests.qt_loop", "tests.pg"]  # pg: the throwaway PostgreSQL cluster

# Password hashes at OWASP's cost (128 MiB, ~1 s each) would make every test that provisions an agent slow;
# servers started by the tests (and their subprocesses) hash cheaply. tests/server/test_auth_hardening.py
# checks that the production default, without this variable, meets OWASP's minimum.
os.environ["SDR_SERVER_SCRYPT_N"] = "1024"


class _LoopErrors(logging.Handler):
    """Collects what asyncio's default exception handler logs: "Task exception was never retrieved",
    "Task was destroyed but it is pending!", "Exception in callback ...", unclosed transports.

    Each of these is a bug (an error nobody saw, a task nobody owns), so a test that causes one fails.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        found = [_describe(r) for r in self.records]
        self.records.clear()
        return found


def _describe(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text += f" -- {type(exc).__name__}: {exc}"
    return text


_loop_errors = _LoopErrors()


def _unretrieved_task_errors() -> list[str]:
    """Finished tasks whose exception nobody retrieved, even if something still holds them (asyncio only
    complains when such a task is freed, which may be at interpreter exit, long after its test)."""
    found = []
    for task in list(getattr(asyncio.tasks, "_scheduled_tasks", ())):  # every live task (CPython 3.12/3.13)
        if task.done() and not task.cancelled() and getattr(task, "_log_traceback", False):
            exc = task.exception()  # retrieved now: reported here, not again at exit
            found.append(
                f"Task exception was never retrieved: {task.get_coro()!r} -- {type(exc).__name__}: {exc}"
            )
    return found


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").addHandler(_loop_errors)


def pytest_collection_finish(session: pytest.Session) -> None:
    # What is alive after collection (modules, Qt bindings) lives for the whole run: move it out of the
    # collector's sight, so the gc.collect() after each test only walks what tests made (half the time).
    gc.collect()
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").removeHandler(_loop_errors)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    _loop_errors.take()  # what earlier code (collection, a previous module's teardown) left is not ours
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After every fixture is gone: collect garbage (a task's unretrieved exception is only reported when
    the task is freed) and fail the test if asyncio reported an unhandled error meanwhile."""
    result = yield
    gc.collect()
    # Report what that collection found (unclosed files/sockets/databases) against this test, not the
    # next one: pytest's own check has already run by now.
    collect_unraisable(item.config)
    errors = _loop_errors.take() + _unretrieved_task_errors()
    if errors:
        pytest.fail("asyncio reported unhandled errors:\n" + "\n".join(errors), pytrace=False)
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tasks still referenced when their test ended are freed by now: the same check, for the whole run."""
    gc.collect()
    errors = _loop_errors.take() + _unretrieved_task_errors()
    if errors:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "asyncio reported unhandled errors after the tests", red=True)
            for error in errors:
                reporter.write_line(error)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
