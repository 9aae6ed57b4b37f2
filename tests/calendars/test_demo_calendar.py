"""`make run`: the demo SDR's Radicale calendar has busy blocks, never offered; invites land in an mbox."""

from __future__ import annotations

import mailbox
from pathlib import Path

from icalendar import Calendar

from agent_app import protocol as p
from chat_server.calendars.caldav_provider import CalDavProvider
from chat_server.security import calendar_ref
from sandbox.workspace import demo_workspace
from tests.server.conftest import cid, open_ws, visitor_login


async def test_demo_calendar_busy_blocks_and_invite_mailbox(tmp_path: Path) -> None:
    async with demo_workspace(tmp_path, visitors=False, seed=3) as ws:
        server = ws.server
        assert ws.caldav_url.startswith("http://127.0.0.1:") and ws.invites_mbox == tmp_path / "invites.mbox"
        alex = server.storage.agent_by_email(ws.demo_email).agent
        connection = server.ctx.calendars.connections[alex.id]
        busy, warning = server.ctx.calendars.busy(alex.id)
        assert warning == "" and len(busy) >= 4
        sdr = await open_ws(server.url, "/agent")
        await sdr.send(p.Hello(id=cid("h"), email=ws.demo_email, password=ws.demo_password))
        assert isinstance(await sdr.recv(), p.Welcome)
        visitor, _ = await visitor_login(server)
        conversation_id = (await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="Hi")))["conversation_id"]
        await sdr.ok(p.ShareCalendar(id=cid(), conversation_id=conversation_id, agent_id=alex.id))
        frame = await visitor.event(p.MessageCreated)
        # the bot may offer the routed SDR's calendar first: wait for the card of the one shared
        while frame.event.message.card is None or frame.event.message.card.agent_id != calendar_ref(alex.id):
            frame = await visitor.event(p.MessageCreated)
        card = frame.event.message.card
        assert card.slots
        for slot in card.slots:
            assert not any(slot.start < end and start < slot.end for start, end in busy)
        start = card.slots[0].start
        booking = p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email="jane@acme.example")
        meeting = p.convert((await visitor.ok(booking))["meeting"], p.Meeting)
        await server.ctx.calendars.idle()
        provider = CalDavProvider(connection)
        try:
            uids = [
                str(Calendar.from_ical(e.data).walk("VEVENT")[0]["uid"]) for e in provider._cal().events()
            ]
        finally:
            provider.close()
        assert f"{meeting.id}@sdr-agent-desk.local" in uids
        box = mailbox.mbox(tmp_path / "invites.mbox")
        try:
            (mail,) = list(box)
        finally:
            box.close()
        assert "jane@acme.example" in mail["To"] and ws.demo_email in mail["To"]
        assert b"METHOD:REQUEST" in mail.as_bytes()
        for client in (sdr, visitor):
            await client.close()
