"""Fixtures for the qualification, participants, calendar and meetings tests."""

from __future__ import annotations

import os

import pytest

from tests.server.conftest import on_both_storages, storage_kind

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

__all__ = ["storage_kind"]  # autouse: make_config opens the test's storage


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_storages(metafunc, {"test_server_integration.py"})  # meetings over the wire, on both storages


collect_ignore_glob = ["screenshot_*.py"]
