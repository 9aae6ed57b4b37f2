"""Logging to stderr and to a rotating file in the user's log directory."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

_installed: list[logging.Handler] = []
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(log_dir: Path, *, level: int = logging.INFO, verbose: bool = False) -> Path:
    """Configure the root logger once; returns the log file path (shown in error dialogs)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "sdr-agent-desk.log"
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
    _installed.clear()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(FORMAT))
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(FORMAT))
    stream.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for handler in (file_handler, stream):
        _installed.append(handler)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else level)
    # Chatty libraries: their warnings matter, their debug output does not.
    for name in ("websockets", "httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return path
