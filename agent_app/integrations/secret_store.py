"""The secrets interface the integrations need; the app passes ``agent_app.secrets.SecretStore``."""

from __future__ import annotations

import asyncio
from typing import Protocol

# The one implementation is agent_app.secrets.SecretStore: OS keychain through secure keyring backends
# only (never keyrings.alt or the fail/null backends), else memory for this run. There is deliberately
# no second keyring wrapper here, so the integrations cannot bypass that check.


class SecretStore(Protocol):
    """Synchronous key/value secret storage; callers run it off the event loop (see ``aget``)."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> bool | None: ...  # True = persisted (agent_app.secrets)
    def delete(self, key: str) -> None: ...


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
