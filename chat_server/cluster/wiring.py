"""Joins a ChatServer to its cluster: the node, /healthz with the canary, and timers on the leader only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from chat_server.transport import json_response

if TYPE_CHECKING:
    from chat_server.app import ChatServer
    from chat_server.cluster.node import ClusterNode
    from chat_server.config import Config


def database_url(config: Config) -> str:
    """The PostgreSQL DSN when the server stores in PostgreSQL ("" = SQLite, one process, no cluster)."""
    return config.database_url if config.storage == "postgres" else ""


async def start_cluster(server: ChatServer, **tuning: Any) -> ClusterNode | None:
    dsn = database_url(server.config)
    if not dsn:
        return None
    from chat_server.cluster.node import ClusterNode  # psycopg is imported only by servers that use it

    automation = server.automation
    if automation is not None:  # until this process holds the lease, the leader runs the timers
        automation.timers_here = False
        automation.stop()

    async def on_lead() -> None:
        if server.automation is not None:
            server.automation.timers_here = True
            await server.automation.start()  # re-arms every running clock from the table

    def on_follow() -> None:
        if server.automation is not None:
            server.automation.timers_here = False
            server.automation.stop()

    async def leader_tick() -> None:
        if server.automation is not None:
            server.automation.rearm()  # clocks started by the other processes

    storage: Any = server.storage
    node = ClusterNode(
        dsn, server.hub, address=f"{server.config.host}:{server.port}",
        write_in_batch=storage.execute_in_batch,
        read=lambda sql, params: list(storage.committed().conn.execute(sql, params).fetchall()),
        own_backend=lambda: _backend_pid(storage),
        on_lead=on_lead, on_follow=on_follow, leader_tick=leader_tick, **tuning,
    )  # fmt: skip

    def healthz(ws: object, request: object) -> object:
        health = node.health()
        return json_response(200 if health.events_flow else 503, msgspec.json.encode(health))

    await node.start()
    server.routes["/healthz"] = healthz
    return node


def _backend_pid(storage: Any) -> int:
    """The PostgreSQL backend of the storage's write connection (0 while it is being reopened)."""
    try:
        return int(storage.conn.raw.info.backend_pid)
    except Exception:
        return 0
