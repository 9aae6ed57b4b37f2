"""SDR Agent Desk chat server: websockets transport, SQLite storage, delivery with seq/epoch resume."""

from chat_server.app import ChatServer, run_server
from chat_server.clock import Clock, FakeClock, SystemClock
from chat_server.config import Config, load_config

__all__ = ["ChatServer", "Clock", "Config", "FakeClock", "SystemClock", "load_config", "run_server"]
