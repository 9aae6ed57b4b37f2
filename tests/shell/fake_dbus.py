# ruff: noqa: F821, F722
"""A fake org.freedesktop.Notifications server (dbus-fast reads the D-Bus signatures from annotations)."""

from typing import Any

from dbus_fast.service import ServiceInterface, method, signal


class FakeNotifications(ServiceInterface):
    """org.freedesktop.Notifications that records Notify calls and can emit ActionInvoked."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.calls: list[dict[str, Any]] = []

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
        hint_values = {k: v.value for k, v in hints.items()}
        call = {"app_name": app_name, "app_icon": app_icon, "summary": summary, "body": body}
        self.calls.append({**call, "actions": list(actions), "hints": hint_values})
        return len(self.calls)

    @method()
    def CloseNotification(self, nid: "u"):  # type: ignore[no-untyped-def]
        pass

    @signal()
    def ActionInvoked(self, nid: int, key: str) -> "us":
        return [nid, key]

    @signal()
    def NotificationClosed(self, nid: int, reason: int) -> "uu":
        return [nid, reason]
