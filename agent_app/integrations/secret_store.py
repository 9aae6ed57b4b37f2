"""Secrets interface (get/set/delete by key) and its OS-keychain implementation through `keyring`."""

from __future__ import annotations

import asyncio
from typing import Protocol

import keyring
import keyring.errors

from agent_app.integrations.errors import IntegrationError

SERVICE = "sdr-agent-desk"


class SecretStore(Protocol):
    """Synchronous key/value secret storage; callers run it off the event loop (see ``aget``)."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...


class SecretStoreError(IntegrationError):
    """The OS keychain refused or is unavailable."""


class KeyringSecrets:
    """SecretStore backed by the active `keyring` backend (tests install an in-memory one)."""

    def __init__(self, service: str = SERVICE) -> None:
        self._service = service

    def get(self, key: str) -> str | None:
        try:
            return keyring.get_password(self._service, key)
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"Could not read '{key}' from the keychain: {exc}") from exc

    def set(self, key: str, value: str) -> None:
        try:
            keyring.set_password(self._service, key, value)
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"Could not store '{key}' in the keychain: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            keyring.delete_password(self._service, key)
        except keyring.errors.PasswordDeleteError:
            pass  # already gone: deleting is idempotent for us
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"Could not delete '{key}' from the keychain: {exc}") from exc


# Some keychain backends block (D-Bus round trips, unlock prompts): never call them on the event loop.
async def aget(store: SecretStore, key: str) -> str | None:
    """``store.get`` in a worker thread."""
    return await asyncio.to_thread(store.get, key)


async def aset(store: SecretStore, key: str, value: str) -> None:
    """``store.set`` in a worker thread."""
    await asyncio.to_thread(store.set, key, value)


async def adelete(store: SecretStore, key: str) -> None:
    """``store.delete`` in a worker thread."""
    await asyncio.to_thread(store.delete, key)
