"""Fixtures for the qualification, participants, calendar and meetings tests."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

collect_ignore_glob = ["screenshot_*.py"]
