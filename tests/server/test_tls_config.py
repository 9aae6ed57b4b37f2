"""TLS (wss://) with a real certificate, the TOML configuration file, SDR_SERVER_* variables and
``serve --help``: in-process servers and the real CLI in a subprocess, real sockets, no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing, suppress
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.exceptions import InvalidMessage, InvalidStatus

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.errors import NotConnected
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from chat_server import Config, load_config, run_server
from chat_server.config import ENV_PREFIX, HELP
from tests.server.conftest import PASSWORD, Client, cid, make_config, open_ws

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "maria@example.com"


# ---------------------------------------------------------------------------------------------- helpers


@dataclasses.dataclass
class Cert:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this certificate (and verifies the host name)."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_cert(directory: Path) -> Cert:
    """A self-signed server certificate for 127.0.0.1 and localhost, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths = Cert(directory / "server.crt", directory / "server.key")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def cert(tmp_path: Path) -> Cert:
    return make_cert(tmp_path)


def toml_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without SDR_SERVER_* (a developer's settings must not leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m chat_server ...`` to the end (a hang fails by timeout instead of blocking the suite)."""
    return subprocess.run(
        [sys.executable, "-m", "chat_server", *args],
        cwd=ROOT,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def agent_hello(url: str, email: str, **kwargs: Any) -> tuple[Client, p.Welcome]:
    client = await open_ws(url, "/agent", **kwargs)
    await client.send(p.Hello(id=cid("h"), email=email, password=PASSWORD))
    welcome = await client.recv()
    assert isinstance(welcome, p.Welcome), welcome
    return client, welcome


async def visitor_hello(url: str, token: str = "", **kwargs: Any) -> tuple[Client, p.VisitorWelcome]:
    client = await open_ws(url, "/visitor", **kwargs)
    await client.send(p.VisitorHello(id=cid("vh"), visitor_token=token))
    welcome = await client.recv()
    assert isinstance(welcome, p.VisitorWelcome), welcome
    return client, welcome


async def exchange(url: str, **kwargs: Any) -> None:
    """A visitor writes, the (manager) agent sees it and answers, the visitor gets the answer."""
    agent, _ = await agent_hello(url, EMAIL, **kwargs)
    visitor, _ = await visitor_hello(url, **kwargs)
    try:
        result = await visitor.ok(p.VisitorSendMessage(id=cid(), text="Hello over TLS?"))
        conversation_id = result["conversation_id"]
        seen = await agent.event(p.MessageCreated)
        assert seen.event.message.text == "Hello over TLS?"
        await agent.ok(p.SendMessage(id=cid(), conversation_id=conversation_id, text="Encrypted hello!"))
        answer = await visitor.event(p.MessageCreated)
        assert answer.event.message.text == "Encrypted hello!"
    finally:
        await visitor.close()
        await agent.close()


async def refused_status(url: str, **kwargs: Any) -> int:
    """The HTTP status of a refused websocket handshake."""
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(url, "/visitor", **kwargs)
    return refused.value.response.status_code


@asynccontextmanager
async def cli_server(*args: str, env: dict[str, str]) -> AsyncIterator[str]:
    """``python -m chat_server serve ...`` in a subprocess; yields the URL it prints, SIGTERM at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chat_server", "serve", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if "listening on" not in line:
            err = await asyncio.wait_for(proc.stderr.read(), 30)
            raise AssertionError(f"the server did not start: {line!r} {err.decode()}")
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        if proc.returncode is None:
            proc.terminate()
        with suppress(ProcessLookupError):
            code = await asyncio.wait_for(proc.wait(), 30)
            assert code == 0, (await proc.stderr.read()).decode()


# ---------------------------------------------------------------------------------------------- TLS


async def test_wss_in_process_agent_and_visitor_exchange(tmp_path: Path, cert: Cert) -> None:
    config = make_config(tmp_path, tls_cert=str(cert.cert), tls_key=str(cert.key))
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Maria Manager", PASSWORD, "US", "manager")
        assert server.url.startswith("wss://127.0.0.1:")
        await exchange(server.url, ssl=cert.client_context())
        # Also by host name: the certificate names localhost too.
        localhost = server.url.replace("127.0.0.1", "localhost")
        client, welcome = await agent_hello(localhost, EMAIL, ssl=cert.client_context())
        assert welcome.agent.email == EMAIL
        await client.close()


async def test_tls_port_refuses_plain_ws_and_untrusted_clients(tmp_path: Path, cert: Cert) -> None:
    config = make_config(tmp_path, tls_cert=str(cert.cert), tls_key=str(cert.key))
    async with run_server(config) as server:
        plain = server.url.replace("wss://", "ws://")
        with pytest.raises(InvalidMessage):
            await open_ws(plain, "/agent")
        # The system CAs do not know our certificate: verification fails, nothing is sent.
        with pytest.raises(ssl.SSLCertVerificationError):
            await open_ws(server.url, "/agent")
        # A certificate that does not name the host is refused as well.
        wrong_name = ssl.create_default_context(cafile=str(cert.cert))
        with pytest.raises(ssl.SSLCertVerificationError):
            await open_ws(server.url, "/agent", ssl=wrong_name, server_hostname="chat.example.com")
        # ... and the server is still fine afterwards.
        server.admin.add_agent(EMAIL, "Maria Manager", PASSWORD, "US", "manager")
        client, _ = await agent_hello(server.url, EMAIL, ssl=cert.client_context())
        await client.close()


async def test_desktop_session_signs_in_and_chats_over_wss(tmp_path: Path, cert: Cert) -> None:
    config = make_config(tmp_path, tls_cert=str(cert.cert), tls_key=str(cert.key))
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Maria Manager", PASSWORD, "US", "manager")
        visitor_token, conversation, _ = await server.seed_visitor_message("Anyone there?")

        # Without the certificate's CA (system CAs only) the session cannot connect.
        with closing(Outbox(tmp_path / "untrusted.sqlite3")) as untrusted_outbox:
            untrusted = Session(server.url, Store(), untrusted_outbox)
            with pytest.raises(NotConnected):
                await untrusted.sign_in(EMAIL, PASSWORD)

        # An https:// address becomes wss:// too.
        https = server.url.replace("wss://", "https://")
        store, outbox = Store(), Outbox(tmp_path / "outbox.sqlite3")
        session = Session(
            https, store, outbox, backoff=Backoff(base=0.01, cap=0.05), ssl=cert.client_context(),
        )  # fmt: skip
        assert session.url.startswith("wss://")
        online = asyncio.Event()
        session.add_state_listener(lambda state, _: online.set() if state is ConnectionState.ONLINE else None)
        me = await session.sign_in(EMAIL, PASSWORD)
        assert me.email == EMAIL
        task = asyncio.create_task(session.run())
        try:
            await asyncio.wait_for(online.wait(), 10)
            transcript = await asyncio.wait_for(session.get_transcript(conversation.id), 10)
            assert [m.text for m in transcript] == ["Anyone there?"]
            visitor, welcome = await visitor_hello(server.url, visitor_token, ssl=cert.client_context())
            assert welcome.conversation is not None and welcome.conversation.id == conversation.id
            session.send_message(conversation.id, "Yes, over TLS.")
            seen = await visitor.event(p.MessageCreated)
            assert seen.event.message.text == "Yes, over TLS."
            await visitor.close()
        finally:
            await session.stop()
            await asyncio.wait_for(task, 10)
            outbox.close()


async def test_cli_serves_wss_from_file_with_env_and_flag_overrides(tmp_path: Path, cert: Cert) -> None:
    db = tmp_path / "cli.sqlite3"
    added = cli("agents", "add", "--db", str(db), "--email", EMAIL, "--name", "Maria Manager",
                "--role", "manager", "--password", PASSWORD)  # fmt: skip
    assert added.returncode == 0, added.stderr
    config = toml_file(
        tmp_path / "server.toml",
        f"""
[server]
host = "127.0.0.1"
port = 1  # the --port flag wins
tls_cert = '{cert.cert}'
tls_key = '{cert.key}'
allowed_origins = ["https://file.example"]  # SDR_SERVER_ALLOWED_ORIGINS wins
hello_timeout = 5
playbook = "off"
""",
    )
    env = clean_env(SDR_SERVER_ALLOWED_ORIGINS="https://env.example, https://other.example")
    async with cli_server("--port", "0", "--db", str(db), "--config", str(config), env=env) as url:
        assert url.startswith("wss://127.0.0.1:") and not url.endswith(":1")
        tls = cert.client_context()
        await exchange(url, ssl=tls)  # no Origin header: a non-browser client
        env_origin = {"origin": "https://other.example"}
        client, _ = await visitor_hello(url, ssl=tls, **env_origin)
        await client.close()
        assert await refused_status(url, ssl=tls, origin="https://file.example") == 403
        with pytest.raises(InvalidMessage):
            await open_ws(url.replace("wss://", "ws://"), "/agent")


# ---------------------------------------------------------------------------------------------- config


async def test_config_file_settings_are_honoured(tmp_path: Path) -> None:
    path = toml_file(
        tmp_path / "server.toml",
        f"""
host = "127.0.0.1"
port = 0
db_path = '{tmp_path / "file.sqlite3"}'
allowed_origins = ["https://www.example.com"]
hello_timeout = 0.3
ping_interval = 20
visitor_connections_per_ip = 2
playbook = "off"
""",
    )
    config = load_config(path, env={})
    assert config.ping_interval == 20.0 and isinstance(config.ping_interval, float)
    async with run_server(config) as server:
        assert Path(server.config.db_path) == tmp_path / "file.sqlite3"
        assert (tmp_path / "file.sqlite3").exists()
        assert server.url.startswith("ws://127.0.0.1:")
        assert await refused_status(server.url, origin="https://evil.example") == 403
        first, _ = await visitor_hello(server.url, origin="https://www.example.com")
        second, _ = await visitor_hello(server.url)
        assert await refused_status(server.url) == 429  # the file's per-IP limit of 2
        await first.close()
        await second.close()
        # hello_timeout 0.3 s: a silent agent connection is closed with POLICY, well before the default 10 s.
        silent = await open_ws(server.url, "/agent")
        assert await silent.closed_code(wait=5) == p.CloseCode.POLICY


@pytest.mark.one_storage  # config parsing, no data
def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    path = toml_file(
        tmp_path / "s.toml",
        '[server]\nport = 9001\nallowed_origins = ["https://file.example"]\nlog_level = "DEBUG"\n',
    )
    assert load_config(path, env={}).port == 9001
    env = {"SDR_SERVER_PORT": "9002", "SDR_SERVER_ALLOWED_ORIGINS": "https://a.example,https://b.example"}
    config = load_config(path, env=env)
    assert (config.port, config.allowed_origins, config.log_level) == (
        9002,
        ["https://a.example", "https://b.example"],
        "DEBUG",  # from the file: no variable for it
    )
    assert config.hello_timeout == Config().hello_timeout  # neither: the default
    flags = {"port": 0, "host": None}  # flags win; None = not given
    assert load_config(path, env=env, overrides=flags).port == 0
    # SDR_SERVER_CONFIG names the file when --config is not given.
    assert load_config(None, env={"SDR_SERVER_CONFIG": str(path)}).port == 9001


BAD_FILES = [
    ("bogus = 1\n", "unknown setting 'bogus'"),
    ("[server]\nprot = 8080\n", "unknown setting 'prot'"),
    ('port = "8080"\n', "port must be an integer, not '8080'"),
    ("port = [8080]\n", "port must be an integer"),
    ("port = 8080.5\n", "port must be an integer"),
    ("port = true\n", "port must be an integer"),
    ('allowed_origins = "https://a.example"\n', "allowed_origins must be a list of strings"),
    ("host = 5\n", "host must be a string"),
    ('hello_timeout = "soon"\n', "hello_timeout must be a number"),
    ('port = 8080\n[server]\nhost = "0.0.0.0"\n', "unknown setting 'port' outside the [server] table"),
    ("port = \n", "not valid TOML"),
    ('tls_key = "k.pem"\n', "tls_key is set but tls_cert is not"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m for _, m in BAD_FILES])
@pytest.mark.one_storage  # config parsing, no data
def test_bad_config_file_is_a_clear_error_not_a_traceback(tmp_path: Path, text: str, message: str) -> None:
    path = toml_file(tmp_path / "bad.toml", text)
    with pytest.raises(ValueError) as error:
        load_config(path, env={})
    assert message in str(error.value)


@pytest.mark.one_storage  # config parsing, no data
def test_cli_rejects_bad_settings_with_one_line_and_exit_2(tmp_path: Path) -> None:
    db = str(tmp_path / "x.sqlite3")
    wrong_type = toml_file(tmp_path / "wrong.toml", "[server]\nport = [8080]\n")
    unknown = toml_file(tmp_path / "unknown.toml", "[server]\nallowed_origin = ['https://a.example']\n")
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["--config", str(wrong_type)], {}, f"{wrong_type}: port must be an integer, not [8080]"),
        (["--config", str(unknown)], {}, f"{unknown}: unknown setting 'allowed_origin'"),
        (["--config", str(tmp_path / "missing.toml")], {}, "missing.toml"),
        ([], {"SDR_SERVER_PORT": "eighty"}, "SDR_SERVER_PORT: port must be an integer, not 'eighty'"),
    ]
    for args, extra, message in cases:
        done = cli("serve", "--port", "0", "--db", db, *args, env=clean_env(**extra))
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("configuration error: ") and message in done.stderr, done.stderr
    # Settings are checked for the admin commands too, before anything is written.
    done = cli("agents", "list", "--db", db, "--config", str(unknown))
    assert done.returncode == 2 and "unknown setting 'allowed_origin'" in done.stderr


@pytest.mark.one_storage  # config parsing, no data
def test_cli_unreadable_certificate_exits_1_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.crt"
    done = cli("serve", "--port", "0", "--db", str(tmp_path / "x.sqlite3"), "--tls-cert", str(missing),
               "--tls-key", str(tmp_path / "nope.key"))  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "cannot start the server: cannot load TLS certificate" in done.stderr
    assert str(missing) in done.stderr


# ---------------------------------------------------------------------------------------------- --help


def test_serve_help_documents_every_setting() -> None:
    done = cli("serve", "--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any("defaults < --config TOML file" in line and "< environment < flags" in line for line in lines)
    names = [f.name for f in dataclasses.fields(Config)]
    assert sorted(HELP) == sorted(names), "HELP and the Config fields differ"
    for name in names:
        [i] = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        assert f"{ENV_PREFIX}{name.upper()}" in lines[i], lines[i]
        assert "default" in lines[i], lines[i]
        text = lines[i + 1].strip()
        assert text and text == HELP[name].strip(), f"{name}: no help text"
    for flag in ("--config", "--db", "--port", "--host", "--tls-cert", "--tls-key", "--allowed-origins"):
        assert flag in done.stdout


@pytest.mark.one_storage  # config parsing, no data
def test_cli_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = cli("serve", "--host", "127.0.0.1", "--port", port, "--db", str(tmp_path / "x.sqlite3"))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.startswith("cannot start the server: ")
