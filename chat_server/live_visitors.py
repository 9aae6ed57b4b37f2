"""Who is on the website now (open widgets), their segments, the agents watching, and proactive chats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from agent_app import protocol as p
from agent_app.display import visitor_name
from chat_server.errors import CommandError, forbidden
from chat_server.playbook import email_domain
from chat_server.security import new_id
from chat_server.service import check_text
from chat_server.storage.base import CommittedView, VisitorFacts
from chat_server.visibility import can_see, is_supervisor

if TYPE_CHECKING:
    from chat_server.playbook import Playbook
    from chat_server.service import Service

SESSION_GAP = 30 * 60.0  # a visit ends 30 min after the last widget closed (web analytics' usual session)
THROTTLE_SECONDS = 0.5  # at most two updates a second per visitor reach the watchers
MAX_ENGAGE_TEXT = 1000  # a proactive opener is a line or two, not an essay
MAX_SNAPSHOT = 1000  # newest first: the view is for people, not for a data export
MAX_VISITS = 100_000  # memory bound: visits long over are forgotten first
SHARE_CHUNK = 40  # visits per message to the other processes: well under the 8000-byte NOTIFY payload


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


@dataclass
class Visit:
    """One visitor's visit (in memory): several page loads, reconnects within the gap. In a cluster, the
    widget may be open on this process (``here``) and/or on others (``remote``, their process ids)."""

    visitor_id: str
    since: float
    conns: int = 0
    live: bool = False
    here: bool = False  # a widget on this process is open (or within its grace)
    remote: set[str] = field(default_factory=set)
    publish: bool = False  # a change made here is due to the other processes with the next update
    left_at: float = 0.0
    engaged_at: float | None = None
    engaged_by: str = ""
    dismissed_at: float | None = None
    gone: asyncio.TimerHandle | None = None  # leaves the list when this fires (grace after the last close)
    flush: asyncio.TimerHandle | None = None  # a throttled update is due
    sent_at: float = -1e9  # monotonic time of the last update sent


@dataclass
class Watcher:
    agent_id: str
    shown: set[str] = field(default_factory=set)  # visitor ids this connection was sent


class LiveVisitors:
    """The live-visitor registry, in memory: visits, watchers, engage cooldowns and dismissals. Nothing
    here is needed to replay or resume. In a cluster each process publishes its own visits and the marks
    it sets (kind "live" of ``Hub.shared``) and merges the others'; watchers are always local."""

    def __init__(
        self,
        service: Service,
        *,
        cooldown_seconds: float = 600.0,
        grace_seconds: float = 10.0,
        throttle_seconds: float = THROTTLE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.storage, self.hub, self.clock = service.storage, service.hub, service.clock
        self.cooldown_seconds = cooldown_seconds
        self.grace_seconds = grace_seconds
        self.throttle_seconds = throttle_seconds
        self.monotonic = monotonic
        self.playbook: Playbook | None = None  # set when the bot playbook is loaded (live pages, targets)
        self.visits: dict[str, Visit] = {}
        self.watchers: dict[ServerConnection, Watcher] = {}
        self._synced = 0  # the last snapshot (republish) this process sent
        # A snapshot being received: process id -> (its number, the visitors it listed so far).
        self._syncs: dict[str, tuple[int, set[str]]] = {}

    def install(self) -> None:
        """Every published conversation change (messages, assignment, close, reopen) and every profile
        change updates the visitor's row (throttled, read after the change is written)."""
        self.service.on_published.append(self._on_conversation)
        self.service.on_visitor_updated.append(self._on_visitor)
        self.hub.shared["live"] = self

    def stop(self) -> None:
        for visit in self.visits.values():
            for handle in (visit.gone, visit.flush):
                if handle is not None:
                    handle.cancel()

    def _on_conversation(self, conversation: p.Conversation) -> None:
        # Published inside the change's batch: the row is read (committed) once the batch is.
        visitor_id = conversation.visitor.id
        self.storage.after_commit(lambda: self.changed(visitor_id))

    async def _on_visitor(self, visitor: p.Visitor) -> None:
        self.changed(visitor.id)

    # ------------------------------------------------------------ widget connections

    def connected(self, visitor_id: str) -> None:
        now = self.clock.now()
        visit = self.visits.get(visitor_id)
        if visit is None or (not visit.live and now - visit.left_at > SESSION_GAP):
            if len(self.visits) >= MAX_VISITS:
                self._forget(now)
            visit = self.visits[visitor_id] = Visit(visitor_id, since=now)
        visit.conns += 1
        visit.live = visit.here = True
        if visit.gone is not None:  # back within the grace: a page load, not a new visit
            visit.gone.cancel()
            visit.gone = None
        self.changed(visitor_id)

    def disconnected(self, visitor_id: str) -> None:
        visit = self.visits.get(visitor_id)
        if visit is None:
            return
        visit.conns = max(0, visit.conns - 1)
        if visit.conns == 0 and visit.live and visit.gone is None:
            loop = asyncio.get_running_loop()
            visit.gone = loop.call_later(self.grace_seconds, self._left, visitor_id)

    def _left(self, visitor_id: str) -> None:
        visit = self.visits.get(visitor_id)
        if visit is None:
            return
        visit.gone = None
        if visit.conns:
            return
        visit.here = False
        if self.hub.peers is not None:
            self.hub.peers.share("live", {"gone": [visitor_id]})
        if visit.remote:  # still on the site through another process
            return
        visit.live, visit.left_at = False, self.clock.now()
        if visit.flush is not None:
            visit.flush.cancel()
            visit.flush = None
        self._send_removed(visitor_id)

    def _forget(self, now: float) -> None:
        for visitor_id, visit in list(self.visits.items()):
            if not visit.live and now - visit.left_at > SESSION_GAP:
                del self.visits[visitor_id]
        if len(self.visits) >= MAX_VISITS:  # still full: the oldest visits that are over go first
            over = sorted((v for v in self.visits.values() if not v.live), key=lambda v: v.left_at)
            for visit in over[: len(self.visits) - MAX_VISITS + 1]:
                del self.visits[visit.visitor_id]

    def forget_all(self) -> None:
        """Forgets every visit (and tells the watchers they left): for a demo workspace after it seeded
        past chats through /visitor with the clock set back; those visitors are history, not on the site."""
        for visitor_id, visit in list(self.visits.items()):
            for handle in (visit.gone, visit.flush):
                if handle is not None:
                    handle.cancel()
            del self.visits[visitor_id]
            self._send_removed(visitor_id)

    def is_live(self, visitor_id: str) -> bool:
        visit = self.visits.get(visitor_id)
        return visit is not None and visit.live

    # ------------------------------------------------------------ rows and who may see them

    def _facts(
        self, visitor_id: str, reads: CommittedView | None = None
    ) -> tuple[p.Visitor, p.Conversation | None, VisitorFacts | None] | None:
        """What a row is made of: read in the command's batch, or (``reads``) from what is committed."""
        source = self.storage if reads is None else reads
        visitor, conversation = source.visitor_and_latest(visitor_id)
        if visitor is None:
            return None
        return visitor, conversation, source.visitor_facts(visitor_id)

    def _is_target(self, visitor: p.Visitor, crm_company: str) -> bool:
        targets = self.playbook.target_accounts if self.playbook else ()
        if not targets:
            return False
        names = {n.strip().lower() for n in (visitor.company, crm_company) if n.strip()}
        domain = email_domain(visitor.email) if visitor.email else ""
        for target in targets:
            if target in names:
                return True
            if "." in target and domain and (domain == target or domain.endswith("." + target)):
                return True
        return False

    def row(
        self, visit: Visit, visitor: p.Visitor, conversation: p.Conversation | None,
        facts: VisitorFacts | None,
    ) -> p.LiveVisitor:  # fmt: skip
        is_open = conversation is not None and conversation.status == p.ConversationStatus.OPEN
        owner: str | None = None
        if conversation is not None:
            owner = conversation.assignee_id if is_open else None
            if owner is None and conversation.routing is not None:
                owner = conversation.routing.aligned_agent_id
        pages = [page for page in visitor.pages if page.at >= visit.since - 1]
        current = visitor.pages[-1] if visitor.pages else None
        crm = facts.source if facts else ""
        return p.LiveVisitor(
            visitor_id=visitor.id, name=visitor.name, email=visitor.email,
            company=visitor.company or (facts.company if facts else ""), location=visitor.location,
            current_page=visitor.current_page, page_title=current.title if current else "",
            live_page=bool(self.playbook and self.playbook.runs_on(visitor.current_page)),
            pages_viewed=max(len(pages), 1 if visitor.current_page else 0), since=visit.since,
            last_seen=visitor.last_seen, returning=0 < visitor.first_seen < visit.since - 1,
            target_account=self._is_target(visitor, facts.company if facts else ""), crm_source=crm,
            owner_id=owner, conversation_id=conversation.id if conversation is not None and is_open else "",
            engaged_at=visit.engaged_at, engaged_by=visit.engaged_by, dismissed_at=visit.dismissed_at,
        )  # fmt: skip

    @staticmethod
    def may_see(agent: p.Agent, row: p.LiveVisitor, conversation: p.Conversation | None) -> bool:
        """Managers and admins see every visitor on the site. An SDR sees a visitor with an open chat when
        they see the chat (theirs, one they take part in, or unassigned); otherwise when the visitor's
        territory is theirs or nobody's (the aligned SDR of the visitor's last chat; none yet: everyone)."""
        if agent.disabled:
            return False
        if is_supervisor(agent):
            return True
        if conversation is not None and conversation.status == p.ConversationStatus.OPEN:
            return can_see(agent, conversation)
        return row.owner_id in (None, agent.id)

    # ------------------------------------------------------------ watchers

    def watch(self, ws: ServerConnection, agent: p.Agent, active: bool) -> int:
        """Starts (or stops) the live list on one agent connection: the snapshot frame goes out now,
        before the ack and before any later change, so nothing falls between the two."""
        if not active:
            self.watchers.pop(ws, None)
            return 0
        rows: list[p.LiveVisitor] = []
        for visit in sorted(self.visits.values(), key=lambda v: -v.since):
            if not visit.live:
                continue
            found = self._facts(visit.visitor_id)
            if found is None:
                continue
            visitor, conversation, facts = found
            row = self.row(visit, visitor, conversation, facts)
            if self.may_see(agent, row, conversation):
                rows.append(row)
            if len(rows) >= MAX_SNAPSHOT:
                break
        self.watchers[ws] = Watcher(agent.id, {r.visitor_id for r in rows})
        self.hub.send(ws, p.encode_bytes(p.LiveVisitorsFrame(visitors=rows, snapshot=True)))
        return len(rows)

    def _open_watchers(self) -> list[tuple[ServerConnection, Watcher]]:
        for ws in [ws for ws in self.watchers if ws.protocol.state is not State.OPEN]:
            del self.watchers[ws]  # the connection ended: watching ends with it
        return list(self.watchers.items())

    def changed(self, visitor_id: str, *, publish: bool = True) -> None:
        """Something about a live visitor changed: watchers get its row, at most every ``throttle``; a
        change made here (``publish``) also goes to the other processes, which refresh their watchers."""
        visit = self.visits.get(visitor_id)
        if visit is None or not visit.live:
            return
        visit.publish = visit.publish or publish
        if visit.flush is not None:
            return
        delay = max(0.0, visit.sent_at + self.throttle_seconds - self.monotonic())
        # Never inside the caller's transaction: the row is read once its change is written.
        visit.flush = asyncio.get_running_loop().call_later(delay, self._flush, visitor_id)

    def _flush(self, visitor_id: str) -> None:
        visit = self.visits.get(visitor_id)
        if visit is None:
            return
        visit.flush = None
        if not visit.live:
            return
        visit.sent_at = self.monotonic()
        if visit.publish:
            visit.publish = False
            self._share([visit])
        watchers = self._open_watchers()
        if not watchers:
            return  # nobody has the list open: no reads (a watcher starts from a fresh snapshot)
        # Committed data, on the read connection: a timer must not wait for the write batch (on PostgreSQL
        # that can mean waiting for another process's writer lock, with the loop stopped).
        found = self._facts(visitor_id, self.storage.committed())
        if found is None:  # deleted meanwhile
            self._send_removed(visitor_id)
            return
        visitor, conversation, facts = found
        row = self.row(visit, visitor, conversation, facts)
        upsert = p.encode_bytes(p.LiveVisitorsFrame(visitors=[row]))
        removed = p.encode_bytes(p.LiveVisitorsFrame(removed=[visitor_id]))
        for ws, watcher in watchers:
            agent = self.hub.agents.get(watcher.agent_id)
            if agent is not None and self.may_see(agent, row, conversation):
                watcher.shown.add(visitor_id)
                self.hub.send(ws, upsert)
            elif visitor_id in watcher.shown:
                watcher.shown.discard(visitor_id)
                self.hub.send(ws, removed)

    def _send_removed(self, visitor_id: str) -> None:
        frame = p.encode_bytes(p.LiveVisitorsFrame(removed=[visitor_id]))
        for ws, watcher in self._open_watchers():
            if visitor_id in watcher.shown:
                watcher.shown.discard(visitor_id)
                self.hub.send(ws, frame)

    # ------------------------------------------------------------ the other processes of a cluster

    def _share(self, visits: list[Visit]) -> None:
        if self.hub.peers is None:
            return
        for start in range(0, len(visits), SHARE_CHUNK):
            rows = [
                [v.visitor_id, v.since, v.here, v.engaged_at, v.engaged_by, v.dismissed_at]
                for v in visits[start : start + SHARE_CHUNK]
            ]
            self.hub.peers.share("live", {"u": rows})

    def republish(self) -> None:
        """A snapshot of the visits here, between ``sync`` and ``synced``: it replaces the others' copy, so
        a ``gone`` they missed (their listener was down) is undone too."""
        if self.hub.peers is None:
            return
        self._synced += 1
        self.hub.peers.share("live", {"sync": self._synced})
        self._share([v for v in self.visits.values() if v.here])
        self.hub.peers.share("live", {"synced": self._synced})

    def from_peer(self, origin: str, body: dict[str, Any]) -> None:
        """Visits (and engage/dismiss marks) another process published; ``gone``: its widget closed;
        ``sync`` … ``synced``: a snapshot of its visits (those it did not list are no longer there)."""
        if "sync" in body:
            self._syncs[origin] = (int(body["sync"]), set())
        if "synced" in body:
            self._end_sync(origin, int(body["synced"]))
        now = self.clock.now()
        sync = self._syncs.get(origin)
        for visitor_id, since, here, engaged_at, engaged_by, dismissed_at in body.get("u", ()):
            if here and sync is not None:
                sync[1].add(visitor_id)
            visit = self.visits.get(visitor_id)
            if here and (visit is None or (not visit.live and now - visit.left_at > SESSION_GAP)):
                if len(self.visits) >= MAX_VISITS:
                    self._forget(now)
                visit = self.visits[visitor_id] = Visit(visitor_id, since=since)
            if visit is None:
                continue
            if here:
                visit.remote.add(origin)
                visit.live = True
                visit.since = min(visit.since, since)
            if engaged_at is not None and (visit.engaged_at is None or engaged_at > visit.engaged_at):
                visit.engaged_at, visit.engaged_by = engaged_at, engaged_by
            if dismissed_at is not None and (visit.dismissed_at is None or dismissed_at > visit.dismissed_at):
                visit.dismissed_at = dismissed_at
            self.changed(visitor_id, publish=False)
        for visitor_id in body.get("gone", ()):
            visit = self.visits.get(visitor_id)
            if visit is not None and origin in visit.remote:
                visit.remote.discard(origin)
                self._maybe_left(visit)

    def _end_sync(self, origin: str, number: int) -> None:
        sync = self._syncs.pop(origin, None)
        if sync is None or sync[0] != number:  # its start was missed: a later snapshot will do
            return
        listed = sync[1]
        for visit in list(self.visits.values()):
            if origin in visit.remote and visit.visitor_id not in listed:
                visit.remote.discard(origin)
                self._maybe_left(visit)

    def peers_alive(self, process_ids: set[str]) -> None:
        """A killed process's visitors leave the list once its heartbeat expired."""
        for origin in [o for o in self._syncs if o not in process_ids]:
            del self._syncs[origin]
        for visit in list(self.visits.values()):
            if visit.remote - process_ids:
                visit.remote &= process_ids
                self._maybe_left(visit)

    def _maybe_left(self, visit: Visit) -> None:
        if visit.live and not visit.here and not visit.remote:
            visit.live, visit.left_at = False, self.clock.now()
            if visit.flush is not None:
                visit.flush.cancel()
                visit.flush = None
            self._send_removed(visit.visitor_id)

    # ------------------------------------------------------------ engage and dismiss

    def engage(self, agent: p.Agent, visitor_id: str, text: str, client_id: str = "") -> dict[str, Any]:
        """A rep starts a chat with a visitor on the site: a new conversation assigned to the rep
        (``assigned_via`` "engage") whose first message is ``text``; the widget pops it up."""
        text = check_text(text.strip(), MAX_ENGAGE_TEXT)
        visit = self.visits.get(visitor_id)
        found = self._facts(visitor_id) if visit is not None and visit.live else None
        if visit is None or found is None:
            raise CommandError(p.ErrorCode.NOT_FOUND, "this visitor has left the site")
        visitor, latest, facts = found
        if not self.may_see(agent, self.row(visit, visitor, latest, facts), latest):
            raise forbidden("this visitor is in another rep's territory or chat")
        name, now = visitor_name(visitor), self.clock.now()
        if visit.dismissed_at is not None:
            raise CommandError(
                p.ErrorCode.CONFLICT, f"{name} dismissed a chat {ago(now - visit.dismissed_at)} ago"
            )
        # Read in the command's batch, under the writer lock every process of a cluster takes (run_command's
        # write_ready): of two reps engaging her at once, on any processes, the second sees the first's chat.
        if latest is not None and latest.status == p.ConversationStatus.OPEN:
            raise CommandError(p.ErrorCode.CONFLICT, f"{name} already has an open chat")
        if visit.engaged_at is not None and now - visit.engaged_at < self.cooldown_seconds:
            by = self.hub.agents.get(visit.engaged_by)
            wait = ago(self.cooldown_seconds - (now - visit.engaged_at))
            raise CommandError(
                p.ErrorCode.RATE_LIMITED,
                f"{by.name if by else 'A teammate'} engaged {name} {ago(now - visit.engaged_at)} ago; "
                f"try again in {wait}",
            )
        storage = self.storage
        with storage.savepoint():
            conversation = p.Conversation(
                id=new_id(), visitor=visitor, created_at=now, updated_at=now, assignee_id=agent.id,
                assigned_via="engage", assigned_by=agent.id,
            )  # fmt: skip
            storage.add_conversation(conversation)
            message = self.service.add_message(
                conversation, p.AuthorKind.AGENT, text, author=agent, client_id=client_id,
                extra_events=[p.ConversationCreated(conversation=conversation)],
            )  # fmt: skip

        def engaged() -> None:
            visit.engaged_at, visit.engaged_by = now, agent.id
            self.changed(visitor_id)

        storage.after_commit(engaged)
        return {"conversation": msgspec.to_builtins(conversation), "message": msgspec.to_builtins(message)}

    def dismiss(self, visitor_id: str) -> dict[str, Any]:
        """The visitor closed a proactive chat's pop-up: a chat a rep started that the visitor never
        answered is closed (the rep sees why, the visitor nothing more), and nobody engages them again
        during this visit. Any other chat is left as it is."""
        storage, now = self.storage, self.clock.now()
        conversation = storage.latest_conversation(visitor_id)
        closed = False
        if (
            conversation is not None
            and conversation.status == p.ConversationStatus.OPEN
            and conversation.assigned_via == "engage"
            and not self._visitor_wrote(conversation.id)
        ):
            visitor = storage.get_visitor(visitor_id) or conversation.visitor
            with storage.savepoint():
                before = msgspec.structs.replace(conversation)
                conversation.status = p.ConversationStatus.CLOSED
                conversation.closed_at = now
                conversation.waiting_since = None
                event = p.ConversationClosed(conversation=conversation)
                self.service.add_message(
                    conversation, p.AuthorKind.SYSTEM, f"{visitor_name(visitor)} dismissed the chat",
                    private=True, before=before, extra_events=[event],
                )  # fmt: skip
            closed = True
        visit = self.visits.get(visitor_id)
        if visit is not None and closed:  # a reply's pop-up dismissed is no "no thanks" to chatting

            def dismissed() -> None:
                visit.dismissed_at = now
                self.changed(visitor_id)

            storage.after_commit(dismissed)
        return {"closed": closed}

    def _visitor_wrote(self, conversation_id: str) -> bool:
        messages, _ = self.storage.messages(conversation_id, None, 200, False)
        return any(m.author_kind == p.AuthorKind.VISITOR for m in messages)
