"""The demo, composed the way main.py composes it: workspace, shared HTTP client, shell, real window,
visitor panel and qualify features. Time-bounded and condition-based."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx

import main
from agent_app.display import display_name
from agent_app.secrets import SecretStore
from ui.shell.account import default_window_factory
from ui.visitor_panel import VisitorPanel

from .conftest import Recorder, ShellKit, run, wait_until


def test_demo_signs_in_shows_the_queue_and_the_first_visitor_in_the_panel(
    secrets: SecretStore, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    args = main.parse_args(["--demo", "--data-dir", str(tmp_path)])
    paths = main.profile_paths(args)
    assert paths.config_dir.is_relative_to(tmp_path)  # the demo never touches the real settings
    result: dict[str, Any] = {}

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            http = httpx.AsyncClient(timeout=main.HTTP_TIMEOUT)
            stack.push_async_callback(http.aclose)
            demo = await stack.enter_async_context(
                main.demo_server(paths, first_visitor_after=0.5, visitor_interval=(600.0, 600.0), seed=3)
            )
            kit = ShellKit(tmp_path, secrets, demo)  # the shell, with main.py's features
            kit.shell.window_factory = default_window_factory  # the real MainWindow
            kit.shell.features = main.window_features(kit.settings, secrets, http, kit.runner, demo)
            shown = Recorder(kit.notifications.shown)
            await kit.shell.start()
            account = kit.shell.account
            assert account is not None
            window = account.window
            await wait_until(lambda: str(account.session.state) == "online", 20, "online")
            await wait_until(lambda: window.queue_model.rowCount() > 0, 20, "queue rows")
            await asyncio.wait_for(demo.workspace.first_visitor.wait(), 20)
            ws = demo.workspace
            await wait_until(lambda: _newest_open(account.store) is not None, 20, "the visitor's chat")
            conv = _newest_open(account.store)
            await wait_until(lambda: shown.calls, 10, "its notification")
            kit.notifications.clicked.emit(conv.id)  # a click on the notification
            panel = window.side_panel
            assert isinstance(panel, VisitorPanel)
            await wait_until(lambda: panel.cid == conv.id, 10, "the panel follows the opened conversation")
            assert window.current_conversation_id() == conv.id
            assert not panel.empty.isVisibleTo(panel) and panel.visitor.name.text()
            assert window.conversation.header.name.text() == display_name(conv)
            integrations = panel.integrations
            assert integrations is not None and integrations.enrichment is not None

            # Salesforce "Connect" against the sandbox: its authorize page approves at once, so a
            # "browser" that just follows the redirect completes the sign-in.
            async def browser(url: str) -> None:
                async with httpx.AsyncClient(follow_redirects=True, timeout=10) as b:
                    await b.get(url)

            await asyncio.wait_for(integrations.auth.sign_in(browser, login_hint=ws.demo_email), 20)

            # The status bar links to the demo website, where the widget lets you chat as a visitor.
            assert kit.shell.glue is not None
            link = kit.shell.glue.website_link
            assert demo.website_url in link.text() and link.toolTip() == demo.website_url
            page = await http.get(demo.website_url)
            assert page.status_code == 200 and "widget.js" in page.text
            result["titles"] = [t for _, t in shown.calls]
            result["failures"] = list(kit.failures)
            await kit.shell.shutdown()
            assert not http.is_closed  # the integrations let go first; the client is closed last
            kit.shell.dialog.deleteLater()

    run(loop, scenario(), timeout=90)
    assert result["titles"][0].startswith("New chat: ")
    assert not [f for f in result["failures"] if "Salesforce" in f or "Chat server" in f]


def _newest_open(store: Any) -> Any:
    from agent_app import protocol as p

    live = [c for c in store.conversations.values()
            if c.status is p.ConversationStatus.OPEN and c.assignee_id is None]  # fmt: skip
    return max(live, key=lambda c: c.created_at, default=None)
