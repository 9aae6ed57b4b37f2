"""Secrets (the sign-in token) in the OS keychain via ``keyring``, secure backends only, else memory.

Accepted: Secret Service / libsecret (GNOME, KDE 6), KWallet, macOS Keychain, Windows Credential
Locker, and a chainer made only of those. Refused: ``keyrings.alt`` (its PlaintextKeyring writes
base64 into ~/.local/share and has priority 0.5, so merely being installed would leak tokens), the
``fail`` and ``null`` backends, and anything with priority < 1. Without a secure backend the secret
lives in memory for this run only: ``persistent`` is False and ``reason`` tells the UI why. Never a
plaintext file. keyring calls block (D-Bus, prompts), so the UI uses the ``a*`` wrappers, which run
them in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

log = logging.getLogger(__name__)

SERVICE = "sdr-agent-desk"
SECURE_BACKENDS: frozenset[str] = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.kwallet.DBusKeyringKWallet4",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
    }
)


def qualname(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _priority(backend: KeyringBackend) -> float:
    try:
        return float(backend.priority)
    except Exception:  # a backend's priority check raises when it is not usable here
        return -1.0


def check_backend(backend: KeyringBackend, secure: Collection[str] = SECURE_BACKENDS) -> str:
    """Empty when ``backend`` is acceptable, else the reason it is not (for the UI)."""
    name = qualname(backend)
    if isinstance(backend, ChainerBackend):
        chained: list[KeyringBackend] = list(getattr(backend, "backends", []))
        if not chained:
            return "no keychain is available on this system"
        reasons = [r for r in (check_backend(b, secure) for b in chained) if r]
        return reasons[0] if reasons else ""
    if name.startswith("keyring.backends.fail.") or name.startswith("keyring.backends.null."):
        return "no keychain is available on this system"
    if name not in secure:
        return f"the keychain backend {name} does not store secrets securely"
    if _priority(backend) < 1:
        return f"the keychain backend {name} is not usable here"
    return ""


class SecretStore:
    """Secrets of ``service``: ``persistent`` says whether they survive a restart."""

    def __init__(
        self,
        service: str = SERVICE,
        *,
        backend: KeyringBackend | None = None,
        secure_backends: Collection[str] = SECURE_BACKENDS,
    ) -> None:
        self.service = service
        self._memory: dict[str, str] = {}
        self._backend: KeyringBackend | None = backend or keyring.get_keyring()
        self.reason = check_backend(self._backend, secure_backends)
        if self.reason:
            log.warning("secrets kept in memory only: %s", self.reason)
            self._backend = None

    @property
    def persistent(self) -> bool:
        return self._backend is not None

    def _fall_back(self, exc: Exception) -> None:
        # A keychain that fails once (locked, prompt dismissed, daemon gone) is not trusted again
        # this run: mixing memory and keychain copies would make "which token?" unanswerable.
        self.reason = f"the keychain failed: {exc}"
        log.warning("secrets kept in memory only: %s", self.reason)
        self._backend = None

    def get(self, key: str) -> str | None:
        if key in self._memory:
            return self._memory[key]
        if self._backend is None:
            return None
        try:
            return self._backend.get_password(self.service, key)
        except keyring.errors.KeyringError as exc:
            self._fall_back(exc)
            return None

    def set(self, key: str, value: str) -> bool:
        """Store a secret; True when it was written to the keychain, False when it is in memory only."""
        if self._backend is not None:
            try:
                self._backend.set_password(self.service, key, value)
                self._memory.pop(key, None)
                return True
            except keyring.errors.KeyringError as exc:
                self._fall_back(exc)
        self._memory[key] = value
        return False

    def delete(self, key: str) -> None:
        self._memory.pop(key, None)
        if self._backend is None:
            return
        try:
            self._backend.delete_password(self.service, key)
        except keyring.errors.PasswordDeleteError:
            pass  # it was not there: the goal is reached
        except keyring.errors.KeyringError as exc:
            self._fall_back(exc)

    async def aget(self, key: str) -> str | None:
        return await asyncio.to_thread(self.get, key)

    async def aset(self, key: str, value: str) -> bool:
        return await asyncio.to_thread(self.set, key, value)

    async def adelete(self, key: str) -> None:
        await asyncio.to_thread(self.delete, key)
