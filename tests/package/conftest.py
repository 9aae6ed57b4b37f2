"""Package-test fixtures: the journeys' real desktop, a real chat server from this venv, a clean user."""

from __future__ import annotations

import hashlib
import platform
import shutil
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journeys.desktop import Desktop, missing_binaries
from tests.package.bundle import BUNDLE_DIR, DIST, EXECUTABLE, ROOT, CleanUser, start_server, stop

EMAIL = "pat@example.com"
PASSWORD = "package-test-password-1"


@pytest.fixture(scope="session")
def tarball() -> Path:
    """This version's tarball (`make package`; `make package-test` builds it first), checked against its
    published sha256."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    path = DIST / f"sdr-agent-desk-{version}-linux-{platform.machine()}.tar.gz"
    if not path.exists():
        pytest.fail(f"no {path.name} in dist/: run `make package` first (or `make package-test`, which does)")
    expected = (DIST / f"{path.name}.sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected, "the tarball does not match its sha256"
    return path


@pytest.fixture(scope="session")
def unpacked(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball unpacked as a person does (``tar xzf``): its one top folder."""
    folder = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(tarball) as archive:
        names = {name.split("/")[0] for name in archive.getnames()}
        assert names == {tarball.name.removesuffix(".tar.gz")}, names
        archive.extractall(folder, filter="tar")
    return folder / tarball.name.removesuffix(".tar.gz")


@pytest.fixture(scope="session")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    missing = missing_binaries() + ([] if shutil.which("xdotool") else ["xdotool (xdotool)"])
    if missing:
        pytest.fail(f"the package test needs a desktop: missing {', '.join(missing)} (`make deps`)")
    desk = Desktop(tmp_path_factory.mktemp("desktop"))
    try:
        desk.start()
        yield desk
    finally:
        desk.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real chat server (``python -m chat_server serve``) with the SDR EMAIL/PASSWORD; its ws:// URL."""
    folder = tmp_path / "server"
    folder.mkdir()
    proc, url = start_server(folder, EMAIL, PASSWORD)
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture
def user(desktop: Desktop, tmp_path: Path) -> Iterator[CleanUser]:
    """A person on a machine with nothing installed: a fresh HOME, no Python on PATH."""
    person = CleanUser(desktop, tmp_path / "user")
    try:
        yield person
    finally:
        person.close()


@pytest.fixture
def installed(user: CleanUser, request: pytest.FixtureRequest) -> CleanUser:
    """``./install.sh`` from the unpacked tarball into the user's ~/.local (or SDR_BUNDLE_DIR as it is)."""
    if BUNDLE_DIR:
        assert (Path(BUNDLE_DIR) / EXECUTABLE).exists(), f"no {EXECUTABLE} in SDR_BUNDLE_DIR={BUNDLE_DIR}"
        return user
    output = user.install(request.getfixturevalue("unpacked"))
    assert f"installed in {user.bundle}" in output, output
    return user
