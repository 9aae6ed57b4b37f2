"""Wire protocol `sdr.v1`: every frame exchanged by agents, visitors and the chat server, typed and validated.

The one definition both sides import (the server may import this module and nothing else of agent_app).
docs/protocol.md describes the same for people writing another client.

Shape of the conversation on the wire (JSON text frames, WebSocket subprotocol ``sdr.v1``):

* client -> server: a *command*, ``{"type": <command>, "id": <client-made id>, ...}``.
  The server answers each one with :class:`Ack` or :class:`Error` whose ``ref`` is that id.
  Re-sending a command with the same id returns the same result and never repeats its effect.
* server -> client: an :class:`EventFrame` ``{"type": "event", "seq": n, "epoch": e, "event": {...}}``
  (``seq`` strictly increasing per agent stream and persisted), or one of the unsequenced frames
  :class:`Welcome`, :class:`Snapshot`, :class:`Ack`, :class:`Error`, :class:`TypingFrame`.

Timestamps are UTC seconds since the epoch (float). Ids are opaque strings.
"""

from __future__ import annotations

import enum
from typing import Any, Final, Literal

import msgspec

SUBPROTOCOL: Final = "sdr.v1"
PROTOCOL_VERSION: Final = 1

# Limits enforced at the edge; clients may use them to validate before sending.
MAX_VISITOR_FRAME: Final = 16 * 1024
MAX_AGENT_FRAME: Final = 1024 * 1024
MAX_MESSAGE_TEXT: Final = 4000
MAX_NOTE_TEXT: Final = 1000
# Saved replies: the text follows the message limit; per owner (each agent, and the team) a count cap.
MAX_SAVED_REPLY_TITLE: Final = 80
MAX_SAVED_REPLY_SHORTCUT: Final = 32
MAX_SAVED_REPLIES: Final = 200
SAVED_REPLY_SHORTCUT_PATTERN: Final = r"[a-z0-9][a-z0-9_-]*"  # what may follow "/" in the composer
MAX_REPORT_CHATS: Final = 2000  # chats listed under a report (the figures always count every chat)
# Why a presence was set automatically ("screen locked", "idle 10 min", "asleep"; "" = set by hand).
MAX_PRESENCE_REASON: Final = 80


class CloseCode(enum.IntEnum):
    """WebSocket close codes. 4001-4004 are final: a client must not reconnect without user action."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTARTING = 1012
    TRY_LATER = 1013
    AUTH_FAILED = 4001  # bad credentials, bad/expired/revoked token: sign in again
    AGENT_DISABLED = 4003  # the account was disabled by an admin
    UNSUPPORTED_VERSION = 4004  # the client speaks a protocol version the server doesn't
    RATE_LIMITED = 4008  # abusive peer (too many bad frames or messages); retry later with backoff
    SIGNED_IN_ELSEWHERE = 4009  # reserved: a newer session replaced this one

    @property
    def is_fatal(self) -> bool:
        """True when reconnecting without new credentials can only fail again."""
        return self in (CloseCode.AUTH_FAILED, CloseCode.AGENT_DISABLED, CloseCode.UNSUPPORTED_VERSION)


class ErrorCode(enum.StrEnum):
    """Codes carried by :class:`Error` frames."""

    MALFORMED = "malformed"  # not JSON, or not a JSON object
    UNKNOWN_TYPE = "unknown_type"  # "type" names no command
    INVALID = "invalid"  # fields missing or of the wrong type/range
    NOT_AUTHENTICATED = "not_authenticated"  # a command before a successful hello
    FORBIDDEN = "forbidden"  # authenticated, but not allowed to do this
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # e.g. a meeting slot already taken, closing a closed conversation
    RATE_LIMITED = "rate_limited"
    TOO_LONG = "too_long"
    INTERNAL = "internal"


class Role(enum.StrEnum):
    SDR = "sdr"
    MANAGER = "manager"
    ADMIN = "admin"


class Presence(enum.StrEnum):
    AVAILABLE = "available"
    AWAY = "away"


class AuthorKind(enum.StrEnum):
    VISITOR = "visitor"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class ConversationStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


# CQL: None = unrated, 0 = red line (not qualified), 1 = Inquiry/Good, 2 = Better, 3 = MQL/Best.
CQL_LEVELS: Final = (0, 1, 2, 3)


class _Struct(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base for data carried inside frames; unknown fields are ignored for forward compatibility."""


# ---------------------------------------------------------------- entities


class Agent(_Struct):
    id: str
    name: str
    email: str
    role: Role = Role.SDR
    territory: str = ""
    presence: Presence = Presence.AWAY
    online: bool = False  # has a connected client right now (presence is kept regardless)
    # Why the presence was set by the desk itself ("screen locked", "idle 10 min", "asleep"); "" = by hand.
    presence_reason: str = ""
    disabled: bool = False
    # IANA zone from the profile ("" = not set: the server derives calendar defaults from the territory or
    # its default_timezone; a client shows times in its machine's zone). Clients show times in this zone.
    timezone: str = ""
    # Routing gives this agent at most this many open assigned chats at once (0 = no limit).
    max_chats: int = 0


class PageView(_Struct):
    url: str
    title: str = ""
    at: float = 0.0


class Visitor(_Struct):
    id: str
    name: str = ""
    email: str = ""
    company: str = ""
    phone: str = ""
    location: str = ""  # free text, e.g. "Austin, TX, US"
    country: str = ""
    region: str = ""  # state/province code
    team_size: int | None = None
    current_page: str = ""
    pages: list[PageView] = []
    referrer: str = ""
    utm: dict[str, str] = {}
    returning: bool = False
    first_seen: float = 0.0
    last_seen: float = 0.0
    answers: dict[str, str] = {}  # answers to the bot's preliminary questions


class Routing(_Struct):
    """Why a conversation went where it went (server routing, issue 'playbook and routing')."""

    agent_id: str | None = None
    pool: str = ""
    rule: str = ""  # name/line of the territory rule that matched, or "fallback"
    reason: str = ""
    out_of_territory: bool = False
    at: float = 0.0
    # The one source of truth for "who owns this visitor's territory": the server's territory table,
    # re-evaluated whenever something new is known about the visitor (answers, CRM, enrichment).
    # Clients (panel card, add-participant dialog, hand-off) read these fields and never re-derive them.
    aligned_agent_id: str | None = None  # the SDR the table names (None: no rule names a person)
    line: int = 0  # CSV line of the matching rule (0: no rule matched)
    basis: str = ""  # what the match used, e.g. "visitor answers", "DataFox", "Salesforce account"


# RoutingStep.action values: routed (got the chat), skipped (passed over: away, at capacity, ...),
# reassigned (no answer in time: the chat moved on), missed (no answer in time, nobody to move it to),
# queued (nobody had room: waits in the queue), offered_meeting (the visitor was offered to book a call).
ROUTING_ACTIONS: Final = ("routed", "skipped", "reassigned", "missed", "queued", "offered_meeting")
MAX_ROUTING_AUDIT: Final = 50  # steps kept per conversation (the oldest go first)


class RoutingStep(_Struct):
    """One entry of a conversation's routing audit (team only: never sent to the visitor)."""

    at: float
    action: str  # one of ROUTING_ACTIONS
    agent_id: str | None = None  # who was tried, skipped or left (None: the queue / the visitor)
    agent_name: str = ""  # their name at the time
    reason: str = ""  # "aligned SDR", "at capacity 3/3", "away", "no answer in 30 s", ...


class CqlChange(_Struct):
    level: int | None
    previous: int | None
    by_kind: AuthorKind  # agent or bot
    by_id: str = ""
    by_name: str = ""
    at: float = 0.0


class Conversation(_Struct):
    id: str
    visitor: Visitor
    status: ConversationStatus = ConversationStatus.OPEN
    assignee_id: str | None = None
    participant_ids: list[str] = []
    created_at: float = 0.0
    updated_at: float = 0.0
    closed_at: float | None = None
    last_message_at: float = 0.0
    last_message_preview: str = ""
    last_message_author: AuthorKind | None = None
    message_count: int = 0
    waiting_since: float | None = None  # set while the visitor waits for a first human reply
    first_response_at: float | None = None
    sla_due_at: float | None = None  # first human response due; None when not waiting
    sla_breached: bool = False
    cql: int | None = None
    cql_history: list[CqlChange] = []
    routing: Routing | None = None
    routing_audit: list[RoutingStep] = []  # who was tried, why, when (team only; oldest first)
    # How the current assignee got it, so clients can say "routed to you" vs "Sam handed this off to you".
    assigned_via: str = ""  # "routing", "take", "assign", "handoff" ("" when unassigned or unknown)
    assigned_by: str = ""  # the agent id that made the assignment ("" for routing/bot)


class Slot(_Struct):
    start: float
    end: float


class BookingCard(_Struct):
    """A calendar shared into a chat: open slots the visitor can book."""

    agent_id: str
    agent_name: str
    duration_minutes: int
    timezone: str  # the SDR's IANA zone; the widget shows slots in the visitor's own zone
    slots: list[Slot] = []
    description: str = ""


class Message(_Struct):
    id: str
    conversation_id: str
    author_kind: AuthorKind
    text: str
    created_at: float
    author_id: str = ""
    author_name: str = ""
    client_id: str = ""  # the command id that created it (lets a client match its pending sends)
    private: bool = False  # internal note: never sent to the visitor
    card: BookingCard | None = None
    # Set on the team's "X booked a call" system line: clients show meeting.start in their reader's zone
    # (``text`` is the same line in the calendar's zone, for clients that don't).
    meeting: Meeting | None = None


class Meeting(_Struct):
    id: str
    conversation_id: str
    agent_id: str
    visitor_id: str
    start: float
    end: float
    timezone: str
    title: str = ""
    visitor_name: str = ""
    visitor_email: str = ""
    company: str = ""
    created_at: float = 0.0
    ics_url: str = ""  # path on the chat server serving the .ics invite
    sequence: int = 0  # the invite's iCalendar SEQUENCE: 0 when booked, +1 on each reschedule


class Weekly(_Struct):
    """Availability on one weekday, local to the calendar's time zone, 'HH:MM'."""

    weekday: int  # 0 = Monday
    start: str
    end: str


class CalendarSettings(_Struct):
    agent_id: str
    timezone: str = "America/New_York"
    description: str = "Intro call"
    duration_minutes: int = 30
    buffer_minutes: int = 10
    min_notice_minutes: int = 120
    horizon_days: int = 14
    availability: list[Weekly] = []


class SavedReply(_Struct):
    """A canned answer: the team's (``owner_id`` None, managers edit) or one agent's own.

    ``text`` may hold variables such as ``{visitor_first_name}``; clients expand them when inserting."""

    id: str
    shortcut: str  # typed after "/" in the composer, e.g. "greet" (lowercase letters, digits, - and _)
    title: str
    text: str
    owner_id: str | None = None  # None: a team reply
    updated_at: float = 0.0
    updated_by: str = ""  # agent id of the last editor


class LiveVisitor(_Struct):
    """A visitor on the website right now (an open widget), as the "On site now" view lists it: sent to
    agents who watch (``watch_live_visitors``), never to visitors. See docs/protocol.md "Live visitors"."""

    visitor_id: str
    name: str = ""
    email: str = ""
    company: str = ""
    location: str = ""
    current_page: str = ""
    page_title: str = ""
    live_page: bool = False  # a page the bot playbook runs on (the handbook's live pages)
    pages_viewed: int = 0
    since: float = 0.0  # on the site since (this visit)
    last_seen: float = 0.0
    returning: bool = False  # seen in an earlier visit
    target_account: bool = False  # the company is on the playbook's target account list
    crm_source: str = ""  # a known lead/contact: where the facts came from, e.g. "Salesforce lead"
    owner_id: str | None = None  # the open chat's assignee, else the territory's aligned SDR
    conversation_id: str = ""  # the open chat, if any
    engaged_at: float | None = None  # a rep started a chat ("engage") at
    engaged_by: str = ""  # agent id
    dismissed_at: float | None = None  # the visitor closed a proactive chat at (this visit)


class ReportRow(_Struct):
    """One line of a ``report``: a rep (``key`` = agent id, "" = chats nobody owned), a territory (``key`` =
    its name), or the team's totals (``key`` "team"). See docs/protocol.md "Reports" for each figure."""

    key: str
    name: str = ""
    territory: str = ""
    chats: int = 0  # conversations started in the period that ended with this rep (owner)
    answered: int = 0  # first human responses (by this rep / in this territory)
    median_seconds: float | None = None  # first-response time, over ``answered``
    p90_seconds: float | None = None  # nearest-rank 90th percentile
    within_target: int = 0  # first responses within Report.target_seconds
    within_target_pct: float | None = None  # 0-100; None when nothing was answered
    missed: int = 0  # no human reply before the close or the meeting offer
    meetings: int = 0  # meetings booked from chats (created in the period)
    cql: list[int] = msgspec.field(default_factory=lambda: [0, 0, 0, 0, 0])  # CQL 0, 1, 2, 3, unrated


class ReportChat(_Struct):
    """A chat behind a report's figures (only chats the reader may see), newest first."""

    conversation_id: str
    owner_id: str = ""  # the rep the chat counts for ("" = nobody)
    responder_id: str = ""  # who replied first ("" = nobody)
    visitor_name: str = ""
    company: str = ""
    created_at: float = 0.0
    first_response_seconds: float | None = None
    missed: bool = False
    meeting: bool = False  # a meeting was booked from it
    cql: int | None = None


class Report(_Struct):
    """Answer to ``report``: figures computed by the server from its own data for [since, until)."""

    period: str  # "today", "7d", "30d" or "custom"
    since: float
    until: float
    timezone: str  # the zone the period's days were counted in
    target_seconds: float = 30.0
    scope: str = "team"  # "team": every rep (managers); "own": the reader's row only (SDRs)
    reps: list[ReportRow] = []
    territories: list[ReportRow] = []
    team: ReportRow | None = None
    generated_at: float = 0.0
    chats: list[ReportChat] = []  # the newest MAX_REPORT_CHATS the reader may see
    more_chats: int = 0  # visible chats left out of ``chats`` by that cap


# ---------------------------------------------------------------- events
# Each event carries full entity state where an entity changed, so applying one twice is harmless
# and a client never has to merge partial updates.


class _Event(_Struct, tag_field="kind"):
    pass


class ConversationCreated(_Event, tag="conversation_created"):
    conversation: Conversation


class ConversationUpdated(_Event, tag="conversation_updated"):
    """Any change of assignee, status, SLA fields, routing or preview; carries the whole conversation."""

    conversation: Conversation


class ConversationClosed(_Event, tag="conversation_closed"):
    conversation: Conversation
    by_id: str = ""


class ConversationReopened(_Event, tag="conversation_reopened"):
    conversation: Conversation
    by_id: str = ""


class ConversationRevoked(_Event, tag="conversation_revoked"):
    """This agent can no longer see the conversation (e.g. it was assigned to someone else)."""

    conversation_id: str


class MessageCreated(_Event, tag="message_created"):
    message: Message


class VisitorUpdated(_Event, tag="visitor_updated"):
    conversation_id: str
    visitor: Visitor


class PresenceChanged(_Event, tag="presence_changed"):
    agent: Agent


class ParticipantAdded(_Event, tag="participant_added"):
    conversation_id: str
    agent_id: str
    by_id: str
    note: str = ""


class ParticipantRemoved(_Event, tag="participant_removed"):
    conversation_id: str
    agent_id: str
    by_id: str


class CqlChanged(_Event, tag="cql_changed"):
    conversation_id: str
    change: CqlChange


class MeetingBooked(_Event, tag="meeting_booked"):
    meeting: Meeting


class MeetingUpdated(_Event, tag="meeting_updated"):
    """A meeting was rescheduled: same id, new start/end, ``sequence`` incremented."""

    meeting: Meeting


class MeetingCancelled(_Event, tag="meeting_cancelled"):
    meeting_id: str
    agent_id: str


class SlaWarning(_Event, tag="sla_warning"):
    conversation_id: str
    due_at: float


class SlaBreached(_Event, tag="sla_breached"):
    conversation_id: str
    due_at: float


class SavedReplyChanged(_Event, tag="saved_reply_changed"):
    """Created or edited; to the owner (personal) or to every agent (team)."""

    reply: SavedReply


class SavedReplyDeleted(_Event, tag="saved_reply_deleted"):
    reply_id: str
    owner_id: str | None = None


Event = (
    ConversationCreated
    | ConversationUpdated
    | ConversationClosed
    | ConversationReopened
    | ConversationRevoked
    | MessageCreated
    | VisitorUpdated
    | PresenceChanged
    | ParticipantAdded
    | ParticipantRemoved
    | CqlChanged
    | MeetingBooked
    | MeetingUpdated
    | MeetingCancelled
    | SlaWarning
    | SlaBreached
    | SavedReplyChanged
    | SavedReplyDeleted
)


# ---------------------------------------------------------------- server -> client frames


class _ServerFrame(_Struct, tag_field="type"):
    pass


class EventFrame(_ServerFrame, tag="event"):
    """A sequenced event. ``seq`` is strictly increasing per stream; ``epoch`` names the stream's life.

    Visitor streams are not resumable by seq (a visitor's welcome carries the whole transcript), so
    visitors receive ``seq`` 0 and an empty epoch.
    """

    seq: int
    epoch: str
    at: float
    event: Event


class Welcome(_ServerFrame, tag="welcome"):
    """Answer to an agent :class:`Hello`. ``resume`` says what follows: the missed events in order
    ("replay"), or one :class:`Snapshot` ("resync")."""

    ref: str
    agent: Agent
    epoch: str
    seq: int  # the newest seq of this stream at the time of the welcome
    resume: Literal["replay", "resync"]
    token: str = ""  # set when the hello signed in with a password: store it, use it next time
    server_time: float = 0.0
    heartbeat_seconds: float = 20.0


class Snapshot(_ServerFrame, tag="snapshot"):
    """Full state for a resync: replaces everything the client holds. Events with seq > ``seq`` follow."""

    epoch: str
    seq: int
    agents: list[Agent]
    conversations: list[Conversation]
    messages: list[Message]  # recent messages of the conversations above (see docs for the window)
    meetings: list[Meeting] = []


class VisitorWelcome(_ServerFrame, tag="visitor_welcome"):
    ref: str
    visitor_token: str
    visitor: Visitor
    conversation: Conversation | None
    messages: list[Message] = []


class Ack(_ServerFrame, tag="ack"):
    ref: str
    result: dict[str, Any] = {}


class Error(_ServerFrame, tag="error"):
    code: ErrorCode
    message: str
    ref: str = ""  # empty when the frame had no readable id


class TypingFrame(_ServerFrame, tag="typing"):
    """Ephemeral (not sequenced, not replayed): someone is typing in a conversation."""

    conversation_id: str
    author_kind: AuthorKind
    author_id: str = ""
    author_name: str = ""
    active: bool = True
    preview: str = ""  # agents may see what the visitor is typing (sneak peek); never the reverse


class LiveVisitorsFrame(_ServerFrame, tag="live_visitors"):
    """Unsequenced, to agents who sent ``watch_live_visitors`` on this connection: ``snapshot`` true
    replaces the whole list (sent once, when watching starts), else ``visitors`` are added or replaced
    by ``visitor_id`` and ``removed`` (visitor ids) left the site or are no longer visible to you."""

    visitors: list[LiveVisitor] = []
    removed: list[str] = []
    snapshot: bool = False


class ViewersFrame(_ServerFrame, tag="viewers"):
    """Ephemeral (not sequenced, not replayed): who has a conversation open right now (an agent on two
    devices counts once), sent to every agent who can see it whenever that set changes. Never to visitors."""

    conversation_id: str
    agent_ids: list[str] = []


ServerFrame = (
    EventFrame
    | Welcome
    | Snapshot
    | VisitorWelcome
    | Ack
    | Error
    | TypingFrame
    | LiveVisitorsFrame
    | ViewersFrame
)


# ---------------------------------------------------------------- client -> server commands


class _Command(_Struct, tag_field="type"):
    id: str


class Hello(_Command, tag="hello"):
    """First frame of an agent connection: a token, or email + password to sign in."""

    version: int = PROTOCOL_VERSION
    token: str = ""
    email: str = ""
    password: str = ""
    device: str = ""  # shown in the token list, e.g. "SDR Agent Desk on laptop-1"
    epoch: str = ""
    last_seq: int = 0


class SignOut(_Command, tag="sign_out"):
    """Revokes the token this connection signed in with."""


class SendMessage(_Command, tag="send_message"):
    conversation_id: str
    text: str
    private: bool = False


class SetPresence(_Command, tag="set_presence"):
    presence: Presence
    # "" = the agent chose it; else what made the desk set it (one line, MAX_PRESENCE_REASON characters).
    reason: str = ""


class AssignConversation(_Command, tag="assign"):
    conversation_id: str
    agent_id: str | None  # None: back to the waiting queue


class CloseConversation(_Command, tag="close_conversation"):
    conversation_id: str


class ReopenConversation(_Command, tag="reopen_conversation"):
    conversation_id: str


class SetTyping(_Command, tag="typing"):
    conversation_id: str
    active: bool = True


class SetCql(_Command, tag="set_cql"):
    conversation_id: str
    level: int | None


class AddParticipant(_Command, tag="add_participant"):
    conversation_id: str
    agent_id: str
    note: str = ""


class RemoveParticipant(_Command, tag="remove_participant"):
    conversation_id: str
    agent_id: str


class ShareCalendar(_Command, tag="share_calendar"):
    conversation_id: str
    agent_id: str  # whose calendar: mine or a teammate's


class GetTranscript(_Command, tag="get_transcript"):
    """Ack result: ``{"messages": [Message...], "more": bool}``, oldest first, before ``before`` if given."""

    conversation_id: str
    before: float | None = None
    limit: int = 200


class ListAgents(_Command, tag="list_agents"):
    """Ack result: ``{"agents": [Agent...]}``."""


class SetCapacity(_Command, tag="set_capacity"):
    """Managers and admins: at most ``max_chats`` open chats routed to the agent (0 = no limit).
    Ack result: ``{"agent": Agent}``; every desk gets ``presence_changed`` with the new limit."""

    agent_id: str
    max_chats: int


class GetCalendarSettings(_Command, tag="get_calendar_settings"):
    agent_id: str


class UpdateCalendarSettings(_Command, tag="update_calendar_settings"):
    settings: CalendarSettings


class ListMeetings(_Command, tag="list_meetings"):
    """Ack result: ``{"meetings": [Meeting...]}`` for this agent (or ``agent_id`` for managers)."""

    agent_id: str = ""
    since: float | None = None


class ConnectCalendar(_Command, tag="connect_calendar"):
    """Connects (tests first) the agent's own calendar; an empty ``url`` (CalDAV) disconnects it. The
    password / refresh token stays on the server (never in frames, snapshots or logs). Google and Microsoft
    (``kind``): the desktop client runs the browser sign-in (OAuth code + PKCE, loopback redirect) and sends
    ``code``, ``code_verifier`` and ``redirect_uri``, which the server exchanges for a refresh token (or a
    refresh token in ``password``); ``url`` "" = the provider's API. Ack result: ``{"connection": {...}}``:
    kind, url, username, calendar, connected, busy_count, error."""

    url: str
    username: str = ""  # CalDAV user name; Microsoft: the mailbox address (getSchedule needs it)
    password: str = ""  # CalDAV password; Google/Microsoft: a refresh token (instead of ``code``)
    calendar: str = ""  # calendar name or URL; Google: calendar id; "" = the account's first/primary one
    kind: str = "caldav"  # "caldav", "google" or "microsoft"
    code: str = ""  # OAuth authorization code from the browser sign-in
    code_verifier: str = ""  # its PKCE verifier
    redirect_uri: str = ""  # the loopback redirect URI the code was issued for


class CancelMeeting(_Command, tag="cancel_meeting"):
    """Cancels a booked meeting (its owner or a manager): removed from the rep's connected calendar and a
    METHOD:CANCEL invite is mailed to the visitor and the rep. Ack result: ``{"meeting": Meeting}``."""

    meeting_id: str


class RescheduleMeeting(_Command, tag="reschedule_meeting"):
    """Moves a booked meeting (its owner or a manager) to ``start``, an open slot of the owner's calendar
    (the same slots a visitor is offered). Keeps the id and the invite UID; SEQUENCE goes up, the rep's
    calendar event moves and an updated METHOD:REQUEST is mailed to the visitor and the rep. Ack result:
    ``{"meeting": Meeting}``; Error ``conflict`` when the time was taken meanwhile, ``invalid`` when it
    is not an open slot."""

    meeting_id: str
    start: float


class GetOpenSlots(_Command, tag="get_open_slots"):
    """A calendar's next open slots, without posting them anywhere (the Meetings view's Reschedule dialog):
    own calendar, or anyone's for managers. Ack result: ``{"card": BookingCard, "calendar_warning": str}``."""

    agent_id: str = ""  # "" = mine


class RecordHandoff(_Command, tag="record_handoff"):
    """Writes a system message recording a CRM owner change made by the client."""

    conversation_id: str
    to_agent_id: str
    note: str = ""
    crm_record: str = ""
    reassign: bool = False  # also hand the chat itself to ``to_agent_id`` (they become the assignee)


class UpdateVisitor(_Command, tag="update_visitor"):
    """An agent reports what the CRM knows about the visitor (a lead was created or matched): the server
    stores it, re-evaluates the aligned SDR, and broadcasts ``visitor_updated``/``conversation_updated``.
    ``None`` leaves a field as it is. ``source`` names where the facts came from (e.g. "Salesforce lead")."""

    conversation_id: str
    name: str | None = None
    email: str | None = None
    company: str | None = None
    country: str | None = None
    region: str | None = None
    team_size: int | None = None
    source: str = ""


class ListSavedReplies(_Command, tag="list_saved_replies"):
    """Ack result: ``{"replies": [SavedReply...], "seq": n}``: mine and the team's; ``seq`` is the newest
    event of my stream the list already reflects (later saved_reply_* events are newer than the list)."""


class CreateSavedReply(_Command, tag="create_saved_reply"):
    """Ack result: ``{"reply": SavedReply}``. ``team`` replies need the manager (or admin) role."""

    shortcut: str
    title: str
    text: str
    team: bool = False


class UpdateSavedReply(_Command, tag="update_saved_reply"):
    """Ack result: ``{"reply": SavedReply}``. Personal replies: their owner only; team: managers."""

    reply_id: str
    shortcut: str
    title: str
    text: str


class DeleteSavedReply(_Command, tag="delete_saved_reply"):
    reply_id: str


class WatchLiveVisitors(_Command, tag="watch_live_visitors"):
    """Start (``active``) or stop receiving ``live_visitors`` frames on this connection: a snapshot frame
    comes first (before the ack), then changes. Watching ends with the connection: send it again after
    every reconnect. Ack result: ``{"count": n}`` (visitors in the snapshot)."""

    active: bool = True


class EngageVisitor(_Command, tag="engage"):
    """Starts a chat with a visitor who is on the site now, with ``text`` as its first message, assigned
    to me (``assigned_via`` "engage"); the widget pops it up. Refused (``conflict``) while the visitor has
    an open chat or dismissed one during this visit, (``rate_limited``) within the engage cooldown, and
    (``not_found``) once they left. Ack result: ``{"conversation": Conversation, "message": Message}``."""

    visitor_id: str
    text: str


class SetViewing(_Command, tag="viewing"):
    """The conversation this connection has open (None: none, e.g. another view shows or the window is
    hidden). Ends with the connection: send it again after a reconnect. Teammates who can see it get a
    ``viewers`` frame. Ack result: ``{"conversation_id": id, "agent_ids": [...]}``, its viewers now."""

    conversation_id: str | None = None


class GetReport(_Command, tag="report"):
    """First-response times, missed chats, meetings and CQL per rep and territory, computed on the server.
    ``period``: "today", "7d", "30d" (counted in whole days of ``timezone``, today included) or "custom"
    (``since``/``until``, at most 366 days). ``timezone`` "" = the agent's profile zone, else UTC.
    Managers get every rep; SDRs their own row and the team's totals. Ack result: ``{"report": Report}``."""

    period: str = "7d"
    timezone: str = ""
    since: float | None = None
    until: float | None = None


AgentCommand = (
    Hello
    | SignOut
    | SendMessage
    | SetPresence
    | AssignConversation
    | CloseConversation
    | ReopenConversation
    | SetTyping
    | SetCql
    | AddParticipant
    | RemoveParticipant
    | ShareCalendar
    | GetTranscript
    | ListAgents
    | GetCalendarSettings
    | UpdateCalendarSettings
    | ListMeetings
    | ConnectCalendar
    | CancelMeeting
    | RescheduleMeeting
    | GetOpenSlots
    | RecordHandoff
    | UpdateVisitor
    | ListSavedReplies
    | CreateSavedReply
    | UpdateSavedReply
    | DeleteSavedReply
    | WatchLiveVisitors
    | EngageVisitor
    | SetViewing
    | GetReport
    | SetCapacity
)


class VisitorHello(_Command, tag="visitor_hello"):
    """First frame of a visitor connection. ``visitor_token`` continues an earlier conversation."""

    version: int = PROTOCOL_VERSION
    visitor_token: str = ""
    page_url: str = ""
    page_title: str = ""
    referrer: str = ""
    utm: dict[str, str] = {}
    timezone: str = ""


class VisitorSendMessage(_Command, tag="visitor_message"):
    text: str


class VisitorPageView(_Command, tag="page_view"):
    url: str
    title: str = ""


class VisitorTyping(_Command, tag="visitor_typing"):
    active: bool = True
    preview: str = ""


class VisitorUpdateProfile(_Command, tag="update_profile"):
    name: str | None = None
    email: str | None = None
    company: str | None = None
    phone: str | None = None


class BookSlot(_Command, tag="book_slot"):
    """Ack result: ``{"meeting": Meeting}``; Error ``conflict`` when the slot was taken meanwhile."""

    agent_id: str
    start: float
    email: str = ""
    name: str = ""


class DismissEngage(_Command, tag="dismiss_engage"):
    """The visitor closed a rep's proactive chat pop-up (x) without answering: the chat is closed and the
    rep is told; nobody engages this visitor again during this visit."""


VisitorCommand = (
    VisitorHello
    | VisitorSendMessage
    | VisitorPageView
    | VisitorTyping
    | VisitorUpdateProfile
    | BookSlot
    | DismissEngage
)


# ---------------------------------------------------------------- codec


class ProtocolError(Exception):
    """A frame that cannot be accepted; ``code`` says why, ``ref`` is its id when readable."""

    def __init__(self, code: ErrorCode, message: str, ref: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


_encoder = msgspec.json.Encoder()
_agent_decoder = msgspec.json.Decoder(AgentCommand)
_visitor_decoder = msgspec.json.Decoder(VisitorCommand)
_server_decoder = msgspec.json.Decoder(ServerFrame)
_agent_tags = frozenset(t.__struct_config__.tag for t in AgentCommand.__args__)
_visitor_tags = frozenset(t.__struct_config__.tag for t in VisitorCommand.__args__)


def encode(frame: msgspec.Struct) -> str:
    """Serialise any frame or entity to a JSON text frame."""
    return _encoder.encode(frame).decode()


def encode_bytes(frame: msgspec.Struct) -> bytes:
    return _encoder.encode(frame)


def _decode_command(data: str | bytes, decoder: msgspec.json.Decoder[Any], tags: frozenset[str]) -> Any:
    """Any input gives a command or a ProtocolError: never TypeError (a non-string ``type``) nor
    RecursionError (``[`` nested thousands deep)."""
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raw = _peek(data)
        if raw is None:
            raise ProtocolError(ErrorCode.MALFORMED, "frame is not a JSON object") from exc
        ref_value = raw.get("id")
        ref = ref_value if isinstance(ref_value, str) else ""
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in tags:
            shown = kind[:60] if isinstance(kind, str) else type(kind).__name__
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {shown!r}", ref) from exc
        raise ProtocolError(ErrorCode.INVALID, str(exc)[:500], ref) from exc
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.MALFORMED, f"not valid JSON: {exc}"[:500]) from exc
    except RecursionError as exc:
        raise ProtocolError(ErrorCode.MALFORMED, "JSON nested too deeply") from exc


def _peek(data: str | bytes) -> dict[str, Any] | None:
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    return raw if isinstance(raw, dict) else None


def decode_agent_command(data: str | bytes) -> AgentCommand:
    """Parse a frame from an agent client. Raises :class:`ProtocolError`."""
    result: AgentCommand = _decode_command(data, _agent_decoder, _agent_tags)
    return result


def decode_visitor_command(data: str | bytes) -> VisitorCommand:
    """Parse a frame from a visitor (the widget). Raises :class:`ProtocolError`."""
    result: VisitorCommand = _decode_command(data, _visitor_decoder, _visitor_tags)
    return result


def decode_server_frame(data: str | bytes) -> ServerFrame:
    """Parse a frame from the server (client side). Raises :class:`ProtocolError`."""
    try:
        result: ServerFrame = _server_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.MALFORMED, str(exc)) from exc
    except RecursionError as exc:
        raise ProtocolError(ErrorCode.MALFORMED, "JSON nested too deeply") from exc
    return result


def to_builtins(obj: Any) -> Any:
    """Entities as plain dicts/lists (for Ack results and storage)."""
    return msgspec.to_builtins(obj)


def convert[T](obj: Any, type_: type[T]) -> T:
    """Plain dicts back into a typed entity (e.g. an Ack result). Raises msgspec.ValidationError."""
    return msgspec.convert(obj, type_)
