"""Shared test plugins: the qasync loop fixture (tests/qt_loop.py) for the folders that drive Qt + asyncio."""

pytest_plugins = ["tests.qt_loop"]
