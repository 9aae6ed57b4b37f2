"""The shipped nginx site in front of two server processes (an upstream of both, no sticky sessions)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from websockets.typing import Origin

from agent_app import protocol as p
from tests.cluster.conftest import Cluster, provision
from tests.deploy.nginx import running_nginx
from tests.server.conftest import PASSWORD, Client, cid, open_ws
from tests.server.test_tls_config import make_cert

WEBSITE = "https://www.example.com"


async def test_two_processes_behind_nginx_round_trip(cluster: Cluster, tmp_path: Path) -> None:
    staff = provision(cluster.dsn)
    cluster.settings.update(trusted_proxies="127.0.0.1", allowed_origins=WEBSITE)
    a, b = await cluster.spawn(), await cluster.spawn()
    cert = make_cert(tmp_path)
    ports = [int(s.url.rsplit(":", 1)[1]) for s in (a, b)]
    with running_nginx(tmp_path / "nginx", ports, cert.cert, cert.key) as nginx:
        agents: list[Client] = []
        for email in (staff.manager.email, staff.sdr1.email, staff.sdr2.email):
            agent = await open_ws(nginx.wss, "/agent", ssl=cert.client_context())
            cluster.clients.append(agent)
            await agent.send(p.Hello(id=cid("h"), email=email, password=PASSWORD))
            assert isinstance(await agent.recv(), p.Welcome)
            await agent.frame_of(p.Snapshot)
            agents.append(agent)
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            spread = conn.execute("SELECT count(DISTINCT process_id) FROM cluster_presence").fetchone()
        assert spread == (2,)  # nginx spread the desks over both processes (round robin)

        visitor = await open_ws(nginx.wss, "/visitor", ssl=cert.client_context(), origin=Origin(WEBSITE))
        cluster.clients.append(visitor)
        await visitor.send(p.VisitorHello(id=cid("vh"), page_url=f"{WEBSITE}/pricing"))
        assert isinstance(await visitor.recv(), p.VisitorWelcome)
        result = await visitor.ok(p.VisitorSendMessage(id=cid(), text="Anyone behind the proxy?"))
        for agent in agents[:1]:  # the manager sees every chat, wherever it came in
            seen = await agent.event(p.MessageCreated)
            assert seen.event.message.text == "Anyone behind the proxy?"
        await agents[0].ok(p.SendMessage(id=cid(), conversation_id=result["conversation_id"], text="Yes!"))
        reply = await visitor.event(p.MessageCreated, message=_Text("Yes!"))
        assert reply.event.message.author_kind == p.AuthorKind.AGENT
    assert "[error]" not in nginx.log(), nginx.log()


class _Text:
    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return getattr(other, "text", None) == self.text

    __hash__ = None  # type: ignore[assignment]
