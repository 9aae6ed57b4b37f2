"""The chat server fixtures of tests/server (a real server on 127.0.0.1:0, SQLite in tmp_path)."""

from tests.server.conftest import config, server, team  # noqa: F401
