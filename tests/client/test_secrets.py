"""SecretStore: secure keyring backends only, in-memory fallback with a reason, async wrappers."""

from __future__ import annotations

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from agent_app.secrets import SecretStore
from tests.memory_keyring import MemoryKeyring


class PlaintextKeyring(MemoryKeyring):
    """Looks like keyrings.alt's PlaintextKeyring (priority 0.5, writes a file)."""

    priority = 0.5  # type: ignore[assignment]


PlaintextKeyring.__module__ = "keyrings.alt.file"
TRUSTED = {f"{MemoryKeyring.__module__}.MemoryKeyring"}


class LockedKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("prompt dismissed")


async def test_secure_backend_round_trip_through_set_keyring() -> None:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    secrets = SecretStore(secure_backends=TRUSTED)
    assert secrets.persistent and secrets.reason == ""
    assert await secrets.aset("token:sam", "s3cret")
    assert backend.data == {("sdr-agent-desk", "token:sam"): "s3cret"}
    assert await secrets.aget("token:sam") == "s3cret"
    await secrets.adelete("token:sam")
    await secrets.adelete("token:sam")  # deleting what is not there is fine
    assert await secrets.aget("token:sam") is None


def test_keyrings_alt_is_refused_and_nothing_is_written() -> None:
    backend = PlaintextKeyring()
    secrets = SecretStore(backend=backend, secure_backends=TRUSTED | {"keyrings.alt.file.PlaintextKeyring"})
    assert not secrets.persistent and "not usable" in secrets.reason  # priority 0.5 < 1
    secrets_default = SecretStore(backend=backend)
    assert "does not store secrets securely" in secrets_default.reason
    assert not secrets_default.set("token", "t")
    assert backend.data == {}
    assert secrets_default.get("token") == "t"  # kept for this run only


def test_no_keyring_falls_back_to_memory_with_a_reason() -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    secrets = SecretStore()
    assert not secrets.persistent and secrets.reason == "no keychain is available on this system"
    assert secrets.set("token", "t") is False
    assert secrets.get("token") == "t"
    assert SecretStore(backend=keyring.backends.null.Keyring()).persistent is False


def chainer_of(*backends: KeyringBackend) -> KeyringBackend:
    class Chained(ChainerBackend):
        pass

    Chained.backends = list(backends)  # type: ignore[assignment,misc]
    return Chained()


def test_chainer_is_accepted_only_when_every_backend_is_secure() -> None:
    assert not SecretStore(
        backend=chainer_of(MemoryKeyring(), PlaintextKeyring()), secure_backends=TRUSTED
    ).persistent
    assert SecretStore(backend=chainer_of(MemoryKeyring()), secure_backends=TRUSTED).persistent
    assert not SecretStore(backend=chainer_of(), secure_backends=TRUSTED).persistent


def test_a_failing_keychain_degrades_to_memory() -> None:
    secrets = SecretStore(backend=LockedKeyring(), secure_backends={f"{__name__}.LockedKeyring"})
    assert secrets.persistent
    assert secrets.set("token", "t") is False
    assert not secrets.persistent and "prompt dismissed" in secrets.reason
    assert secrets.get("token") == "t"
