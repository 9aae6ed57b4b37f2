"""Domain errors: raised by the service, turned into Error frames by the transport."""

from __future__ import annotations

from agent_app.protocol import ErrorCode


class CommandError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def forbidden(message: str = "not allowed") -> CommandError:
    return CommandError(ErrorCode.FORBIDDEN, message)


def not_found(what: str) -> CommandError:
    return CommandError(ErrorCode.NOT_FOUND, f"{what} not found")


def not_yet(feature: str) -> CommandError:
    # Calendars, booking and SLA arrive with later releases; the command is known, the feature isn't there.
    return CommandError(ErrorCode.INVALID, f"{feature} is not available on this server yet")
