"""Shows the visitor panel alone for a seeded duplicate visitor (Jane Doe) against the sandbox."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from agent_app import protocol as p  # noqa: E402
from agent_app.integrations import IntegrationSettings, build_integrations  # noqa: E402
from agent_app.integrations.config import ENRICHMENT_KEY_SECRET  # noqa: E402
from agent_app.secrets import SecretStore, qualname  # noqa: E402
from agent_app.store import Store  # noqa: E402
from sandbox.enrichment import DEFAULT_CLEARBIT_KEY, start_enrichment  # noqa: E402
from sandbox.salesforce import start_salesforce  # noqa: E402
from tests.panel.conftest import TEAM, MemoryKeyring  # noqa: E402
from ui.bridge import StoreBridge  # noqa: E402
from ui.tasks import TaskRunner  # noqa: E402
from ui.visitor_panel import VisitorPanel, panel_stylesheet  # noqa: E402


class Session:
    async def request(self, command: p.AgentCommand) -> dict[str, object]:
        return {}


async def main() -> None:
    backend = MemoryKeyring()
    secrets = SecretStore(backend=backend, secure_backends={qualname(backend)})
    secrets.set(ENRICHMENT_KEY_SECRET, DEFAULT_CLEARBIT_KEY)
    async with start_salesforce() as sf, start_enrichment() as en, httpx.AsyncClient() as http:
        tmp = tempfile.mkdtemp()
        it = build_integrations(
            IntegrationSettings(
                salesforce_login_url=sf.base_url,
                salesforce_client_id="Shot",
                enrichment_base_url=en.base_url,
                activity_log_path=str(Path(tmp) / "a.sqlite3"),
            ),
            http,
            secrets,
        )

        async def browser(url: str) -> None:
            await http.get(url, follow_redirects=True)

        await it.auth.sign_in(browser, login_hint="alex@demo.sdr")
        store = Store()
        store.me, store.agents = TEAM[0], {a.id: a for a in TEAM}
        now = 1_760_000_000.0
        visitor = p.Visitor(
            id="v-jane",
            name="Jane Doe",
            email="jane.doe@acme-robotics.com",
            company="Acme Robotics",
            phone="+1 408 555 0134",
            location="San Jose, CA, US",
            country="US",
            region="CA",
            current_page="https://www.example.com/pricing",
            pages=[
                p.PageView(
                    url="https://www.example.com/integrations/salesforce", title="Salesforce integration"
                ),
                p.PageView(url="https://www.example.com/security", title="Security"),
                p.PageView(url="https://www.example.com/pricing", title="Pricing"),
            ],
            referrer="https://www.google.com/",
            utm={"utm_source": "google", "utm_campaign": "crm-sync"},
            returning=True,
        )
        store.upsert_conversation(
            p.Conversation(
                id="old",
                visitor=visitor,
                status=p.ConversationStatus.CLOSED,
                created_at=now - 86400 * 9,
                last_message_preview="Thanks, talk soon",
            )
        )
        # What the chat server's territory table decided (the panel only shows it).
        routing = p.Routing(aligned_agent_id="a-alex", rule="us-west", line=4, basis="visitor answers")
        store.upsert_conversation(p.Conversation(id="c1", visitor=visitor, created_at=now, routing=routing))
        panel = VisitorPanel(StoreBridge(store), it, TaskRunner(), Session(), None)
        panel.setStyleSheet(panel_stylesheet())
        panel.setWindowTitle("Visitor panel")
        panel.resize(400, 1250)
        panel.show()
        panel.show_conversation("c1")
        await asyncio.sleep(30)


if __name__ == "__main__":
    app = QApplication(sys.argv)
    qasync.run(main())
