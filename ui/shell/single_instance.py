"""One running instance per user and profile: a lock file plus a local socket that forwards argv."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QDir, QLockFile, QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)
MAX_MESSAGE = 64 * 1024  # one launch's arguments; more from a local peer is not a launch: dropped


class SingleInstance(QObject):
    """Owns the profile: the first process takes a ``QLockFile`` and listens on a ``QLocalServer``.

    A later process fails to take the lock, sends its arguments (JSON, one line) to the server and
    exits 0; the first one emits ``activation_requested`` with them (the shell parses deep links with
    agent_app.deeplink: they are untrusted input). ``removeServer`` after taking the lock clears a socket
    file left behind by a crashed process.

    Signals:
        activation_requested(list): the arguments of a second launch (deep links included).
    """

    activation_requested = Signal(list)

    def __init__(self, key: str, lock_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        lock_path = (lock_dir or Path(QDir.tempPath())) / f"{key}.lock"
        self._lock = QLockFile(str(lock_path))
        self._lock.setStaleLockTime(0)  # stale means: the owning PID is gone
        self._server: QLocalServer | None = None

    def acquire(self) -> bool:
        """True when this process is the primary instance (and now listens for others)."""
        if not self._lock.tryLock(100):
            return False
        QLocalServer.removeServer(self.key)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            log.warning("single instance: cannot listen on %s: %s", self.key, server.errorString())
        server.newConnection.connect(self.on_server_new_connection)
        self._server = server
        return True

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None
        self._lock.unlock()

    def forward(self, args: list[str], timeout_ms: int = 2000) -> bool:
        """Send ``args`` to the primary instance; False if it did not answer."""
        sock = QLocalSocket()
        sock.connectToServer(self.key)
        if not sock.waitForConnected(timeout_ms):
            log.warning("single instance: primary not reachable: %s", sock.errorString())
            return False
        sock.write(QByteArray((json.dumps(args) + "\n").encode()))
        ok = sock.waitForBytesWritten(timeout_ms)
        sock.disconnectFromServer()
        return ok

    @Slot()
    def on_server_new_connection(self) -> None:
        assert self._server is not None
        while (sock := self._server.nextPendingConnection()) is not None:
            # The socket is a child of the server (closed with it); read on readyRead only.
            sock.readyRead.connect(self.on_socket_ready_read)
            sock.disconnected.connect(sock.deleteLater)

    @Slot()
    def on_socket_ready_read(self) -> None:
        sock = self.sender()
        if not isinstance(sock, QLocalSocket):
            return
        if not sock.canReadLine() and sock.bytesAvailable() > MAX_MESSAGE:
            log.warning("single instance: dropped an oversized message")
            sock.abort()
            return
        while sock.canReadLine():
            line = bytes(sock.readLine().data()).decode("utf-8", "replace").strip()
            try:
                args = json.loads(line)
            except ValueError:
                log.warning("single instance: ignored a malformed message")
                continue
            if isinstance(args, list) and all(isinstance(a, str) for a in args):
                self.activation_requested.emit(args)
