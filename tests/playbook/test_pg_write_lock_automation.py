"""PostgreSQL: the automation's writes (an SLA timer, here) wait for another process's write lock off the
event loop: the server goes on meanwhile, and the write lands once the lock is free."""

from __future__ import annotations

import asyncio

import pytest

from agent_app import protocol as p
from tests.playbook.conftest import Desk
from tests.server.test_pg_write_lock import server_waits_for_the_write_lock, write_lock_held_elsewhere


def warnings(d: Desk, conversation_id: str) -> list[p.SlaWarning]:
    return [
        e for e in d.events("casey") if isinstance(e, p.SlaWarning) and e.conversation_id == conversation_id
    ]


@pytest.mark.one_storage  # PostgreSQL only, whatever SDR_TEST_STORAGES says (SQLite has no other process)
@pytest.mark.parametrize("storage_kind", ["postgres"], indirect=True)
async def test_an_sla_timer_waiting_for_another_processs_write_lock_leaves_the_loop_running(
    desk: Desk, pg_url: str
) -> None:
    d = desk
    d.set_presence("casey", p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("Do you integrate with Salesforce?", page="/blog")  # the catch-all: Casey
    assert conv.assignee_id == "casey" and conv.sla_due_at == d.clock.now() + 30
    async with write_lock_held_elsewhere(pg_url) as release:
        fired = asyncio.ensure_future(d.scheduler.advance(20))  # the warning is due: the timer fires
        await server_waits_for_the_write_lock(pg_url)  # polled on the loop the timer runs on
        assert not fired.done() and warnings(d, conv.id) == []
        release.set()
        await asyncio.wait_for(fired, 10)
    assert warnings(d, conv.id) == [p.SlaWarning(conversation_id=conv.id, due_at=conv.sla_due_at)]
