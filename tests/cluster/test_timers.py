"""SLA timers run on the cluster leader only: each fires exactly once, even when the leader dies."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

from agent_app import protocol as p
from chat_server.playbook import DEFAULT_PATH
from tests.cluster.conftest import Cluster, provision
from tests.server.conftest import Client, cid


def quick_playbook(tmp: Path) -> Path:
    """The shipped playbook with a 3 s answer time (warning at 2 s, meeting offer at 4 s), no fallback."""
    text = DEFAULT_PATH.read_text()
    for key, value in (("first_response_seconds", 3), ("warning_seconds", 2), ("offer_meeting_seconds", 4),
                       ("fallback_after", 3)):  # fmt: skip
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    text = re.sub(r"(?m)^fallback = .*$", 'fallback = "off"', text)
    here = DEFAULT_PATH.parent  # the shipped playbook's territory table, by absolute path from the copy
    text = re.sub(r'(?m)^territories_csv = "(.*)"$',
                  lambda m: f'territories_csv = "{(here / m.group(1)).resolve()}"', text)  # fmt: skip
    path = tmp / "playbook.toml"
    path.write_text(text)
    return path


async def timeline(agent: Client, conversation_id: str, until: float) -> Counter[str]:
    """What the SLA clock did to one conversation, as one agent's stream shows it, for ``until`` seconds."""
    seen: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    end = loop.time() + until
    while (left := end - loop.time()) > 0:
        try:
            frame = await agent.recv(left)
        except TimeoutError:
            break
        if not isinstance(frame, p.EventFrame):
            continue
        event = frame.event
        if isinstance(event, p.SlaWarning | p.SlaBreached) and event.conversation_id == conversation_id:
            seen[type(event).__name__] += 1
        elif (
            isinstance(event, p.MessageCreated)
            and event.message.conversation_id == conversation_id
            and event.message.author_kind == p.AuthorKind.BOT
            and "Sorry for the wait" in event.message.text  # the meeting offer (playbook meeting_offer*)
        ):
            seen["offer"] += 1
    return seen


async def visitor_asks(cluster: Cluster, url: str) -> str:
    visitor, _ = await cluster.visitor(url)
    result = await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="Hi, can I see a demo?"))
    return str(result["conversation_id"])


async def test_sla_timers_fire_exactly_once_across_processes(cluster: Cluster, tmp_path: Path) -> None:
    staff = provision(cluster.dsn)
    cluster.settings["playbook"] = str(quick_playbook(tmp_path))
    leader, other = await cluster.spawn(), await cluster.spawn()
    assert (await leader.health())[1]["leader"] and not (await other.health())[1]["leader"]
    manager, _ = await cluster.agent(other.url, staff.manager.email)

    # Routed by the process that is not the leader; its timers run on the leader, once.
    first = await visitor_asks(cluster, other.url)
    seen = await timeline(manager, first, 7.0)
    assert seen["SlaWarning"] == seen["SlaBreached"] == 1 and seen["offer"] <= 1, seen

    # The leader dies with a clock running: the other process takes the lease and re-arms it from the table.
    second = await visitor_asks(cluster, other.url)
    await leader.kill9()
    seen = await timeline(manager, second, 8.0)
    assert seen["SlaWarning"] == seen["SlaBreached"] == 1 and seen["offer"] <= 1, seen
    assert (await other.health())[1]["leader"]
