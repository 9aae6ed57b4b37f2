"""agent_app is Qt-free: importing all of it must not load PySide6."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import agent_app

ROOT = Path(__file__).resolve().parents[2]


def test_agent_app_never_imports_pyside6() -> None:
    modules = [m.name for m in pkgutil.walk_packages(agent_app.__path__, "agent_app.")]
    assert {"agent_app.session", "agent_app.store", "agent_app.cache", "agent_app.outbox"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'qasync'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
