"""The demo workspace comes with the team's saved replies and one of each SDR's own, seeded once."""

from __future__ import annotations

from pathlib import Path

from agent_app import protocol as p
from sandbox.demo_data import TEAM, TEAM_REPLIES
from sandbox.workspace import AgentLink, demo_workspace


async def _shortcuts(url: str, email: str) -> dict[str, str | None]:
    async with AgentLink.connect(url, email) as link:
        replies = p.convert((await link.request(p.ListSavedReplies))["replies"], list[p.SavedReply])
    return {r.shortcut: r.owner_id for r in replies}


async def test_demo_seeds_team_and_personal_replies_once(tmp_path: Path) -> None:
    async with demo_workspace(tmp_path, visitors=False, seed=3) as ws:
        alex = await _shortcuts(ws.chat_url, "alex@demo.sdr")
        assert set(alex) == {s for s, _, _ in TEAM_REPLIES} | {"intro"}
        assert alex["intro"] is not None and all(alex[s] is None for s, _, _ in TEAM_REPLIES)
        casey = await _shortcuts(ws.chat_url, "casey@demo.sdr")  # the manager: team replies only
        assert set(casey) == {s for s, _, _ in TEAM_REPLIES}
        async with AgentLink.connect(ws.chat_url, "alex@demo.sdr") as link:
            listed = p.convert((await link.request(p.ListSavedReplies))["replies"], list[p.SavedReply])
            intro = next(r for r in listed if r.shortcut == "intro")
            await link.request(p.DeleteSavedReply, reply_id=intro.id)
    assert sum(m.role == "sdr" for m in TEAM) == 4
    async with demo_workspace(tmp_path, visitors=False, seed=3) as again:
        # What the SDR deleted stays deleted; nothing is seeded twice.
        assert await _shortcuts(again.chat_url, "alex@demo.sdr") == {s: None for s, _, _ in TEAM_REPLIES}
