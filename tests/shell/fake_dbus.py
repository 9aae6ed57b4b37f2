# ruff: noqa: F821, F722
"""A fake org.freedesktop.Notifications server (dbus-fast reads the D-Bus signatures from annotations)."""

from typing import Any

from dbus_fast.service import ServiceInterface, method, signal

CLOSED_BY_CALL = 3  # NotificationClosed reason: "closed by a call to CloseNotification"


class FakeNotifications(ServiceInterface):
    """org.freedesktop.Notifications that records what a client asked, as a real server would see it.

    ``calls``: every Notify (id, replaces_id, summary, body, actions, hints...); ``closed``: the ids passed to
    CloseNotification, in order; ``showing``: what is on screen now (id -> summary). CloseNotification and
    ActionInvoked answer with the NotificationClosed signal, as the spec (and dunst) do.
    """

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.calls: list[dict[str, Any]] = []
        self.closed: list[int] = []
        self.showing: dict[int, str] = {}
        self._next_id = 0

    def summaries(self) -> list[str]:
        return [c["summary"] for c in self.calls]

    def id_of(self, summary_prefix: str) -> int:
        """The id of the (last) notification whose summary starts with ``summary_prefix``."""
        found = [c["id"] for c in self.calls if c["summary"].startswith(summary_prefix)]
        assert found, f"no notification starting with {summary_prefix!r} in {self.summaries()}"
        return int(found[-1])

    @method()
    def GetCapabilities(self) -> "as":
        return ["actions", "body", "body-markup", "icon-static"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["fake", "tests", "1.0", "1.2"]

    @method()
    def Notify(
        self,
        app_name: "s",
        replaces_id: "u",
        app_icon: "s",
        summary: "s",
        body: "s",
        actions: "as",
        hints: "a{sv}",
        expire_timeout: "i",
    ) -> "u":
        if replaces_id and replaces_id in self.showing:
            nid = replaces_id
        else:
            self._next_id += 1
            nid = self._next_id
        self.showing[nid] = summary
        hint_values = {k: v.value for k, v in hints.items()}
        call = {"id": nid, "replaces_id": replaces_id, "app_name": app_name, "app_icon": app_icon}
        self.calls.append(
            {**call, "summary": summary, "body": body, "actions": list(actions), "hints": hint_values}
        )
        return nid

    @method()
    def CloseNotification(self, nid: "u"):  # type: ignore[no-untyped-def]
        self.closed.append(nid)
        if self.showing.pop(nid, None) is not None:
            self.NotificationClosed(nid, CLOSED_BY_CALL)

    @signal()
    def ActionInvoked(self, nid: int, key: str) -> "us":
        return [nid, key]

    @signal()
    def NotificationClosed(self, nid: int, reason: int) -> "uu":
        return [nid, reason]
