"""SDR Agent Desk: the composition root (logging, QApplication, qasync loop, settings, services, window)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import importlib.util
import logging
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from agent_app import deeplink
from agent_app.autostart import Autostart
from agent_app.integrations.config import ENRICHMENT_KEY_SECRET
from agent_app.secrets import SecretStore
from agent_app.settings import Settings
from ui.notifications import NotificationService
from ui.resources import app_icon
from ui.shell.app import DemoInfo, Shell
from ui.shell.errors import ErrorReporter
from ui.shell.features import MemorySecrets, WindowFeatures
from ui.shell.logs import setup_logging
from ui.shell.paths import APP_ID, APP_NAME, DISPLAY_NAME, QT_APP_NAME, AppPaths
from ui.shell.single_instance import SingleInstance
from ui.tasks import TaskRunner

log = logging.getLogger("sdr_agent_desk")

# One client for every integration call: explicit limits, because a CRM that hangs must never hold a
# lookup (or the shutdown) forever. Per-call timeouts can be shorter, never longer.
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0, pool=10.0)
DEMO_SALESFORCE_CLIENT_ID = "sdr-agent-desk-demo"  # the Salesforce stand-in accepts any consumer key


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sdr-agent-desk", description=f"{DISPLAY_NAME}: live chat for SDRs")
    parser.add_argument("links", nargs="*", help="sdr-agent-desk://conversation/<id> links to open")
    parser.add_argument("--demo", action="store_true", help="start a local demo workspace and sign in to it")
    parser.add_argument(
        "--server",
        metavar="URL",
        help="the team's chat server, e.g. wss://chat.example.com (kept as the default)",
    )
    parser.add_argument("--data-dir", type=Path, help="keep settings, cache and logs under this folder")
    parser.add_argument("--profile", default="default", help="a separate profile (own settings and sign-in)")
    parser.add_argument(
        "--minimized", action="store_true", help="start in the tray (start at login), not in front"
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging on stderr")
    args = parser.parse_args(argv)
    if args.server and (problem := server_url_problem(args.server)):
        parser.error(f"--server {args.server}: {problem}")
    return args


def server_url_problem(url: str) -> str:
    """Why ``url`` is not a chat server address ("" when it is one): ws(s):// or http(s):// and a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        return "expected ws://host:port or wss://host"
    return ""


def profile_paths(args: argparse.Namespace) -> AppPaths:
    """The demo never touches the user's real settings: it is its own profile (or data-dir subfolder)."""
    profile = "demo" if args.demo and args.profile == "default" else args.profile
    root = args.data_dir
    if root is not None and args.demo:
        root = root / "demo"
    paths = AppPaths.for_profile(profile, root)
    # One embedded workspace per demo profile: the same account folder on every run, whatever its port.
    return dataclasses.replace(paths, server_key="demo-workspace") if args.demo else paths


def launch_command(args: argparse.Namespace) -> list[str]:
    """How the desk starts itself at login (agent_app.autostart): the installed program (the bundle, or
    the `sdr-agent-desk` script pip installed), else this checkout's main.py; same profile, in the tray."""
    if getattr(sys, "frozen", False):
        command = [sys.executable]
    elif (script := shutil.which("sdr-agent-desk")) is not None:
        command = [script]
    else:
        command = [sys.executable, str(Path(__file__).resolve())]
    command.append("--minimized")
    if args.profile != "default":
        command += ["--profile", args.profile]
    if args.data_dir is not None:
        command += ["--data-dir", str(Path(args.data_dir).resolve())]
    return command


@contextlib.asynccontextmanager
async def demo_server(paths: AppPaths, **options: Any) -> AsyncIterator[DemoInfo]:
    """The demo workspace, and the integration settings that point at its sandbox (this run only)."""
    from sandbox.enrichment import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from sandbox.workspace import demo_workspace  # only the demo needs the sandbox

    async with demo_workspace(paths.data_dir / "workspace", **options) as ws:
        website = f"{ws.http_url}/demo"
        log.info(
            "demo workspace: %s (Salesforce %s, DataFox %s); chat as a visitor at %s",
            ws.chat_url, ws.salesforce_url, ws.datafox_url, website,
        )  # fmt: skip
        # No territory table here: the workspace's chat server routes by it (Conversation.routing).
        integrations: dict[str, Any] = {"enrichment_provider": "none"}
        secrets: dict[str, str] = {}
        if ws.salesforce_url:
            # Any free callback port: the stand-in accepts any loopback callback for the demo app, and a
            # fixed one would clash between two demo runs (a real Connected App needs the fixed one).
            integrations |= {"salesforce_login_url": ws.salesforce_url,
                             "salesforce_client_id": DEMO_SALESFORCE_CLIENT_ID,
                             "salesforce_redirect_port": 0}  # fmt: skip
        if ws.datafox_url:
            integrations |= {"enrichment_provider": "datafox", "enrichment_base_url": ws.datafox_url,
                             "enrichment_client_id": DEFAULT_CLIENT_ID}  # fmt: skip
            secrets[ENRICHMENT_KEY_SECRET] = DEFAULT_CLIENT_SECRET
        yield DemoInfo(
            ws.chat_url, ws.demo_email, ws.demo_password, integrations, secrets, ws, website, fresh=ws.fresh
        )


def window_features(
    settings: Settings,
    secrets: SecretStore,
    http: httpx.AsyncClient,
    runner: TaskRunner,
    demo: DemoInfo | None,
    autostart: Autostart | None = None,
) -> WindowFeatures:
    """The demo uses the sandbox's settings and memory-only credentials; never the user's keychain (nor
    its startup entries: ``autostart`` is for real profiles only)."""
    if demo is not None:
        return WindowFeatures(
            settings,
            MemorySecrets(demo.secrets),
            http,
            runner,
            dict(demo.integrations),
            demo_login=demo.email,
        )
    return WindowFeatures(settings, secrets, http, runner, autostart=autostart)


@dataclass
class AppContext:
    """What :func:`running_app` composed: the services and the shell of one running app."""

    app: QApplication
    args: argparse.Namespace
    paths: AppPaths
    settings: Settings
    state: QSettings
    secrets: SecretStore
    runner: TaskRunner
    errors: ErrorReporter
    notifications: NotificationService
    http: httpx.AsyncClient
    demo: DemoInfo | None
    shell: Shell


def configure_app(app: QApplication) -> None:
    """The application-wide identity: names (desktop file, settings), icon, and quitting only on Quit."""
    app.setApplicationName(QT_APP_NAME)
    app.setApplicationDisplayName(DISPLAY_NAME)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)


@contextlib.asynccontextmanager
async def running_app(
    app: QApplication,
    args: argparse.Namespace,
    paths: AppPaths,
    *,
    demo_options: dict[str, Any] | None = None,
) -> AsyncIterator[AppContext]:
    """THE composition: settings, keychain, notifications, HTTP, the demo workspace (``--demo``; its
    ``demo_options`` go to ``sandbox.workspace.demo_workspace``), the shell, signed in; shut down on exit.
    ``amain`` runs it until Quit; the journey tests (tests/journeys) run it in-process."""
    loop = asyncio.get_running_loop()
    errors = ErrorReporter(paths.log_dir / "sdr-agent-desk.log")
    errors.install(loop)
    settings = Settings(paths.config_dir / "settings.json")
    settings.load()
    if args.server and not args.demo:  # the team's launcher or the SDR names the server: sign-in starts there
        settings.set("server_url", args.server.strip())
    state = QSettings(str(paths.state_file), QSettings.Format.IniFormat)
    secrets = await asyncio.to_thread(SecretStore)  # probing the keychain talks D-Bus: off the GUI thread
    runner = TaskRunner()
    runner.failed.connect(lambda what, exc: errors.report(exc, what))
    notifications = NotificationService(sound_dir=paths.data_dir)
    runner.run(notifications.probe(), what="Probe the notification service")

    async with contextlib.AsyncExitStack() as stack:
        stack.callback(errors.uninstall)  # exit callbacks run last-in first-out: this one last
        stack.callback(state.sync)
        # The shell's shutdown closes it too; this covers a start that failed before there was a shell.
        stack.push_async_callback(notifications.close)
        # Created on the running (qasync) loop; closed last, after the integrations let go of it.
        http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        stack.push_async_callback(http.aclose)
        options = demo_options or {}
        demo = await stack.enter_async_context(demo_server(paths, **options)) if args.demo else None
        autostart = None if args.demo else Autostart(launch_command(args))
        features = window_features(settings, secrets, http, runner, demo, autostart)
        shell = Shell(
            paths, settings, secrets, runner, errors, notifications, state, demo=demo, features=features
        )
        stack.push_async_callback(shell.shutdown)  # first on the way out: the account, then the workspace
        if settings.problem:
            errors.report(RuntimeError(settings.problem), "Settings were reset")
        shell.start_minimized = bool(getattr(args, "minimized", False))
        await shell.start()
        yield AppContext(
            app, args, paths, settings, state, secrets, runner, errors, notifications, http, demo, shell
        )


async def amain(
    app: QApplication, args: argparse.Namespace, paths: AppPaths, instance: SingleInstance
) -> int:
    """Everything that lives on the event loop, from start to an orderly shutdown."""
    loop = asyncio.get_running_loop()
    quit_event = asyncio.Event()
    app.aboutToQuit.connect(quit_event.set)  # the session manager ends the desktop session
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, quit_event.set)
    signal.signal(signal.SIGINT, lambda *_: quit_event.set())
    tick = QTimer()  # lets Python run signal handlers while Qt sits in its event loop
    tick.start(250)
    tick.timeout.connect(lambda: None)

    async with running_app(app, args, paths) as ctx:
        ctx.shell.quit_requested.connect(quit_event.set)
        instance.activation_requested.connect(ctx.shell.activate)
        # Start-up objects (modules, Qt wrappers) leave the collector's scans: a full collection over
        # them took about 15 ms on the UI thread, a visible hitch (bench/panel_ui.py); now about 2 ms.
        gc.freeze()
        if args.links:
            ctx.shell.activate(args.links)
        await quit_event.wait()
        log.info("shutting down")
    return 0


def run(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.demo and importlib.util.find_spec("sandbox") is None:
        # The installed bundle carries the desktop client only (packaging/sdr-agent-desk.spec).
        print(f"{DISPLAY_NAME}: the demo workspace needs a source checkout (`make run`).", file=sys.stderr)
        return 2
    paths = profile_paths(args)
    log_file = setup_logging(paths.log_dir, verbose=args.verbose)
    instance_args = [*args.links]
    for problem in deeplink.split_args(args.links)[1]:  # said here for a terminal, and by the window
        print(f"{DISPLAY_NAME}: {problem}", file=sys.stderr)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    configure_app(app)
    instance = SingleInstance(paths.instance_key(), paths.state_file.parent)
    if not instance.acquire():
        forwarded = instance.forward(instance_args)
        outcome = "brought it to the front" if forwarded else "it did not answer"
        print(f"{DISPLAY_NAME} is already running; {outcome}.")
        return 0
    log.info("starting (profile %s, logs in %s)", paths.profile, log_file)
    try:
        return asyncio.run(amain(app, args, paths, instance), loop_factory=qasync.QEventLoop)
    except RuntimeError as exc:  # Qt's loop ended underneath us (X server gone, session logout)
        log.warning("event loop ended early: %s", exc)
        return 0
    finally:
        instance.release()


if __name__ == "__main__":
    sys.exit(run())
