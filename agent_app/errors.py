"""Errors raised by the client core; the UI catches ``AgentAppError`` and shows ``str(exc)``.

The tree::

    AgentAppError                      anything the client core raises on purpose
    ├── AuthenticationFailed           bad credentials / token, disabled account, unsupported version
    ├── CommandError(code, message)    the server answered a command with an Error frame
    ├── NotConnected                   a request needs the server and the session is not online
    ├── SessionClosed                  the session was stopped while a request was waiting
    ├── SecretsUnavailable             no secure keychain: secrets live in memory for this run only
    ├── SettingsError                  a setting's name or value is invalid
    │   └── SettingsFileCorrupt        the settings file could not be read (it was backed up)
    └── StorageError                   the local outbox or cache database could not be used
"""

from __future__ import annotations


class AgentAppError(Exception):
    """Base of every error the client core raises on purpose."""


class AuthenticationFailed(AgentAppError):
    """The server refused our credentials; the user has to sign in again (no automatic retry)."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


class CommandError(AgentAppError):
    """The server answered a command with an Error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class NotConnected(AgentAppError):
    """A request needs the server and the session is not online."""


class SessionClosed(AgentAppError):
    """The session was stopped while a request was waiting for its answer."""


class SecretsUnavailable(AgentAppError):
    """No secure keychain is available; secrets are kept in memory for this run only."""


class SettingsError(AgentAppError):
    """A setting's name or value is invalid."""


class SettingsFileCorrupt(SettingsError):
    """The settings file could not be parsed; it was moved aside so nothing is lost."""

    def __init__(self, message: str, backup_path: str) -> None:
        super().__init__(message)
        self.backup_path = backup_path


class StorageError(AgentAppError):
    """The local outbox or cache database could not be opened or written."""
