"""Territory routing (mirrors the team's LeanData rules): who is the aligned SDR, and what happens now.

Inputs: the visitor's answers and profile, company data (an injected enrichment lookup, or the email
domain), CRM facts an agent reported (``update_visitor``), the territory table (the same CSV format the
desktop client reads, parsed by ``agent_app.territory``: ordered rules, first match wins) and the team's
presence. :func:`align` is the one evaluation of "whose territory is this" (an :class:`Alignment`, with
provenance: rule, CSV line, basis); :func:`decide` routes from that same evaluation and returns a
:class:`Decision` with one of three branches:

* ``assign``: the aligned SDR (or an available member of the rule's pool / the fallback pool) is available;
* ``away``: the aligned SDR is away: offer their calendar (or ask for an email), leave the chat in the queue;
* ``nobody``: nobody in the pool is available: the same, for the pool.

Capacity: an agent with ``max_chats`` set who already holds that many open chats is passed over ("at
capacity 3/3"); the rule's backups and pools are tried next (:func:`fallback_tiers`, the *territory order*
also used by the unresponsive fallback), and when everyone available is full the chat waits in the queue
(``nobody``, with a ``queued`` step whose reason is :data:`CAPACITY_QUEUE`). Every decision carries its
audit steps (:class:`~agent_app.protocol.RoutingStep`: who was routed, skipped or queued, and why).

Pure functions; the two small adapters (territory table, enrichment) are in :mod:`chat_server.territories`
so tests inject what they need.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import msgspec

from agent_app.protocol import Agent, Presence, Role, Routing, RoutingStep, Visitor
from chat_server.playbook import FallbackMode, RoutingSettings, email_domain
from chat_server.storage.base import VisitorFacts

# The adapters live in chat_server.territories; these names stay importable from here.
from chat_server.territories import AgentAppTable as AgentAppTable
from chat_server.territories import Company as Company
from chat_server.territories import Enricher as Enricher
from chat_server.territories import StaticTable as StaticTable
from chat_server.territories import TerritoryMatch as TerritoryMatch
from chat_server.territories import TerritoryTable as TerritoryTable
from chat_server.territories import datafox_enricher as datafox_enricher
from chat_server.territories import load_table as load_table

log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()


def _warn_once(rule: str, owner: str) -> None:
    """A table naming someone who is not an agent is a setup mistake: say it once, not per chat."""
    if (rule, owner) not in _warned:
        _warned.add((rule, owner))
        log.warning("territory rule %r names %r, who is not an agent here", rule, owner)


Branch = Literal["assign", "away", "nobody"]
Load = Callable[[Agent], int]  # how many open chats are assigned to the agent now
CAPACITY_QUEUE: Final = "everyone available is at capacity"  # the reason of a capacity "queued" step


def no_load(agent: Agent) -> int:
    return 0


def at_capacity(agent: Agent, load: Load) -> bool:
    """Holds ``max_chats`` open chats already (0 = no limit; the count is only asked for then)."""
    return agent.max_chats > 0 and load(agent) >= agent.max_chats


def capacity_text(agent: Agent, load: Load) -> str:
    return f"at capacity {load(agent)}/{agent.max_chats}"


def step(at: float, action: str, agent: Agent | None = None, reason: str = "") -> RoutingStep:
    return RoutingStep(
        at=at,
        action=action,
        agent_id=agent.id if agent is not None else None,
        agent_name=agent.name if agent is not None else "",
        reason=reason,
    )


@dataclass(frozen=True)
class Decision:
    branch: Branch
    routing: Routing
    assignee: Agent | None  # set for "assign"
    contact: Agent | None  # whose calendar to offer ("away"/"nobody"); the assignee for "assign"
    system_text: str  # the system message agents see in the transcript
    alignment: Alignment | None = None  # the evaluation the decision came from (its fields are in routing)
    steps: tuple[RoutingStep, ...] = ()  # the routing audit of this decision (skipped, routed, queued)


def is_available(agent: Agent) -> bool:
    """Available and signed in (presence is kept while the app is closed; a closed app can't answer)."""
    return agent.presence == Presence.AVAILABLE and agent.online and not agent.disabled


def find_agent(agents: Iterable[Agent], who: str) -> Agent | None:
    """An agent by email, id or name (case-insensitive), as territory tables name people differently."""
    key = who.strip().casefold()
    if not key:
        return None
    agents = list(agents)
    for attr in ("email", "id", "name"):
        for agent in agents:
            if str(getattr(agent, attr)).casefold() == key:
                return agent
    return None


def pool_members(agents: Iterable[Agent], pool: str, settings: RoutingSettings) -> list[Agent]:
    emails = set(settings.pools.get(pool, ()))
    key = pool.casefold()
    return [
        a
        for a in agents
        if not a.disabled and (a.email.lower() in emails or (key and a.territory.casefold() == key))
    ]


def company_from_email(email: str, company_name: str = "", personal: bool = False) -> Company | None:
    domain = email_domain(email)
    if not domain or personal:
        return None
    return Company(domain=domain, name=company_name or domain.split(".")[0].title(), source="email domain")


@dataclass(frozen=True)
class Facts:
    """What the territory lookup keys on, and where each came from (shown in the routing reason)."""

    country: str
    region: str
    employees: int | None
    company: Company | None
    sources: tuple[str, ...] = ()  # where the facts used came from, strongest first, no repeats

    @property
    def basis(self) -> str:
        """Provenance for people: "Salesforce lead", "DataFox + visitor answers", "nothing known yet"."""
        return " + ".join(self.sources) or "nothing known yet"

    def describe(self) -> str:
        place = "/".join(x for x in (self.country, self.region) if x) or "unknown location"
        size = f"{self.employees} employees" if self.employees is not None else "size unknown"
        src = f" ({self.company.source})" if self.company and self.company.source else ""
        name = f"{self.company.name}, " if self.company and self.company.name else ""
        return f"{name}{place}, {size}{src}"


_SOURCE_NAMES = {"datafox": "DataFox", "clearbit": "Clearbit"}


def facts(visitor: Visitor, company: Company | None, crm: VisitorFacts | None = None) -> Facts:
    """Per fact, the strongest source that knows it: what an agent reported from the CRM (a person looked
    at the lead/account), then company data (HQ, headcount), then the visitor's own profile and answers."""
    crm_name = (crm.source or "CRM") if crm is not None else ""
    company_name = _SOURCE_NAMES.get(company.source, company.source) if company is not None else ""
    own_size = "visitor answers" if visitor.answers else "visitor profile"
    used: list[str] = []

    def pick[T](crm_value: T | None, company_value: T | None, own: T | None, own_source: str) -> T | None:
        for value, source in ((crm_value, crm_name), (company_value, company_name), (own, own_source)):
            if value not in (None, ""):
                if source not in used:
                    used.append(source)
                return value
        return None

    country = pick(
        crm.country if crm else None, company.country if company else None, visitor.country, "visitor profile"
    )
    region = pick(
        crm.region if crm else None, company.region if company else None, visitor.region, "visitor profile"
    )
    employees = pick(
        crm.team_size if crm else None, company.employees if company else None, visitor.team_size, own_size
    )
    return Facts((country or "").upper(), (region or "").upper(), employees, company, tuple(used))


@dataclass(frozen=True)
class Alignment:
    """The one answer to "whose territory is this visitor": the matching rule with its CSV line, the agent
    it names (``owner``, who routing may still use as the fallback), and the aligned SDR proper (``aligned``:
    an enabled SDR named by a rule that keys on something; never a manager or the fallback row)."""

    facts: Facts
    match: TerritoryMatch | None
    owner: Agent | None
    aligned: Agent | None

    @property
    def rule(self) -> str:
        return self.match.rule if self.match is not None else "fallback"

    @property
    def line(self) -> int:
        return self.match.line if self.match is not None else 0

    def label(self) -> str:
        return f"rule '{self.rule}'" + (f", line {self.line}" if self.line else "")

    def apply(self, routing: Routing | None) -> Routing:
        """``routing`` with the aligned fields of this evaluation (a not-yet-routed record when None)."""
        return msgspec.structs.replace(
            routing or Routing(),
            aligned_agent_id=self.aligned.id if self.aligned is not None else None,
            rule=self.rule,
            line=self.line,
            basis=self.facts.basis,
        )


def align(
    visitor: Visitor,
    company: Company | None,
    agents: Sequence[Agent],
    table: TerritoryTable | None,
    settings: RoutingSettings,
    crm: VisitorFacts | None = None,
) -> Alignment:
    f = facts(visitor, company, crm)
    match = table.match(f.country, f.region, f.employees) if table is not None else None
    owner = find_agent(agents, match.owner) if match is not None and match.owner else None
    if match is not None and match.owner and owner is None:
        _warn_once(match.rule, match.owner)
    aligned = (
        owner if owner is not None and match is not None and _is_aligned(owner, match, settings) else None
    )
    return Alignment(f, match, owner, aligned)


def _is_aligned(owner: Agent, match: TerritoryMatch, settings: RoutingSettings) -> bool:
    """Managers and catch-all rows are where chats fall back to, not whose territory it is."""
    if owner.disabled or owner.role != Role.SDR or match.catch_all:
        return False
    return not (match.pool and match.pool == settings.fallback_pool)


def is_routed(routing: Routing | None) -> bool:
    """Routing ran (``at`` is set then); before that the record only carries the aligned fields."""
    return routing is not None and routing.at > 0


class RoundRobin:
    """Picks the member routed to longest ago (in memory: after a restart everyone starts even)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._turn = 0

    def pick(self, candidates: Sequence[Agent], now: float) -> Agent | None:
        if not candidates:
            return None
        chosen = min(candidates, key=lambda a: (self._last.get(a.id, 0), a.email))
        self._turn += 1
        self._last[chosen.id] = self._turn
        return chosen


def decide(
    visitor: Visitor,
    company: Company | None,
    agents: Sequence[Agent],
    table: TerritoryTable | None,
    settings: RoutingSettings,
    now: float,
    *,
    crm: VisitorFacts | None = None,
    available: Callable[[Agent], bool] = is_available,
    rotation: RoundRobin | None = None,
    load: Load = no_load,
) -> Decision:
    """Routes from one :func:`align` evaluation; the returned routing carries its aligned fields too."""
    a = align(visitor, company, agents, table, settings, crm)
    decision = _route(a, agents, settings, now, available, rotation or RoundRobin(), load)
    return dataclasses.replace(decision, routing=a.apply(decision.routing), alignment=a)


def _route(
    a: Alignment,
    agents: Sequence[Agent],
    settings: RoutingSettings,
    now: float,
    available: Callable[[Agent], bool],
    rotation: RoundRobin,
    load: Load,
) -> Decision:
    f, match, owner = a.facts, a.match, a.owner
    if match is None:
        return _pool(
            f, agents, settings.fallback_pool, "fallback pool", settings, now, available, rotation, load
        )
    label = a.label()
    pool = match.pool or settings.fallback_pool
    if owner is not None and not owner.disabled:
        # a catch-all row or a manager takes the chat as the fallback; only an aligned SDR is called one
        who = "aligned SDR" if a.aligned is not None else "fallback"
        if available(owner) and not at_capacity(owner, load):
            return Decision(
                "assign",
                Routing(agent_id=owner.id, pool=pool, reason=f"{who}, {f.describe()}", at=now),
                owner,
                owner,
                f"Routed to {owner.name} ({label})",
                steps=(step(now, "routed", owner, who),),
            )
        if available(owner):
            return _past_full_owner(a, owner, who, pool, agents, settings, now, available, rotation, load)
        return Decision(
            "away",
            Routing(
                agent_id=owner.id,
                pool=pool,
                reason=f"{who} is away; calendar offered; {f.describe()}",
                at=now,
            ),
            None,
            owner,
            f"{'Aligned SDR' if a.aligned is not None else 'Fallback'} {owner.name} is away ({label}); "
            "the visitor was offered their calendar",
            steps=(step(now, "skipped", owner, f"{who} is away"),),
        )
    return _pool(f, agents, pool, label, settings, now, available, rotation, load)


def _past_full_owner(
    a: Alignment,
    owner: Agent,
    who: str,
    pool: str,
    agents: Sequence[Agent],
    settings: RoutingSettings,
    now: float,
    available: Callable[[Agent], bool],
    rotation: RoundRobin,
    load: Load,
) -> Decision:
    """The rule's SDR is available but at capacity: the next one in the territory order with room takes
    it; when everyone available is full, the chat waits in the queue (the visitor is offered a meeting)."""
    full = capacity_text(owner, load)
    steps = [step(now, "skipped", owner, f"{who}, {full}")]
    routing = Routing(agent_id=owner.id, pool=pool, rule=a.rule)
    chosen, how, skipped = next_in_order(
        fallback_tiers(routing, agents, settings, "territory"), {owner.id}, available, load, rotation, now
    )
    steps += skipped
    label, f = a.label(), a.facts
    if chosen is not None:
        steps.append(step(now, "routed", chosen, f"{how}; {owner.name} is {full}"))
        return Decision(
            "assign",
            Routing(
                agent_id=chosen.id, pool=pool, reason=f"{how} ({owner.name} {full}), {f.describe()}", at=now
            ),
            chosen,
            chosen,
            f"Routed to {chosen.name}: {owner.name} is {full} ({label}, {how})",
            steps=tuple(steps),
        )
    return _queued(
        f, pool, owner, now, steps,
        f"{owner.name} is {full} and nobody else in the territory order has room ({label})",
    )  # fmt: skip


def _queued(
    f: Facts, pool: str, contact: Agent | None, now: float, steps: Sequence[RoutingStep], why: str
) -> Decision:
    """Everyone who could take the chat is at capacity: it waits in the queue (a ``queued`` step whose
    reason is CAPACITY_QUEUE) and the visitor is offered a meeting with ``contact``."""
    return Decision(
        "nobody",
        Routing(agent_id=None, pool=pool, reason=f"{CAPACITY_QUEUE}; {f.describe()}", at=now),
        None,
        contact,
        f"{why}; the chat waits in the queue and the visitor was offered to book a meeting",
        steps=(*steps, step(now, "queued", None, CAPACITY_QUEUE)),
    )


def _members(agents: Sequence[Agent], pool: str, settings: RoutingSettings) -> list[Agent]:
    members = pool_members(agents, pool, settings)
    if not members and pool == settings.fallback_pool and not settings.pools.get(pool):
        # no pool configured at all: the whole (enabled, non-manager-only) team is the fallback pool
        members = [a for a in agents if not a.disabled]
    return members


def _pool(
    f: Facts,
    agents: Sequence[Agent],
    pool: str,
    label: str,
    settings: RoutingSettings,
    now: float,
    available: Callable[[Agent], bool],
    rotation: RoundRobin,
    load: Load,
) -> Decision:
    members = _members(agents, pool, settings)
    ready = [a for a in members if available(a)]
    full = [a for a in ready if at_capacity(a, load)]
    skipped = tuple(step(now, "skipped", a, capacity_text(a, load)) for a in full)
    chosen = rotation.pick([a for a in ready if a not in full], now)
    where = f"pool '{pool}'" if pool else "the team"
    if chosen is not None:
        return Decision(
            "assign",
            Routing(agent_id=chosen.id, pool=pool, reason=f"{where}, {f.describe()}", at=now),
            chosen,
            chosen,
            f"Routed to {chosen.name} ({label}, {where})",
            steps=(*skipped, step(now, "routed", chosen, where)),
        )
    contact = members[0] if members else None
    if full:
        why = f"Everyone available in {where} is at capacity ({label})"
        return _queued(f, pool, contact, now, skipped, why)
    return Decision(
        "nobody",
        Routing(agent_id=None, pool=pool, reason=f"nobody available in {where}; {f.describe()}", at=now),
        None,
        contact,
        f"Nobody in {where} is available ({label}); the visitor was offered to book a meeting",
        steps=(step(now, "queued", None, f"nobody available in {where}"),),
    )


# ---------------------------------------------------------------- the territory order


@dataclass(frozen=True)
class Tier:
    """Candidates tried together: backups in their listed order, pool members by round robin."""

    agents: tuple[Agent, ...]
    how: str  # "backup for rule 'us-east'", "pool 'us-round-robin'", "the team"
    ordered: bool


def fallback_tiers(
    routing: Routing, agents: Sequence[Agent], settings: RoutingSettings, mode: FallbackMode
) -> list[Tier]:
    """The territory order after the rule's own SDR: the rule's backups (``[routing.backups]``, in
    order; only in "territory" mode), then the members of the rule's pool, then of the fallback pool."""
    tiers: list[Tier] = []
    if mode == "off":
        return tiers
    if mode == "territory" and routing.rule:
        named = [find_agent(agents, who) for who in settings.backups.get(routing.rule, ())]
        backups = tuple(a for a in named if a is not None and not a.disabled)
        if backups:
            tiers.append(Tier(backups, f"backup for rule '{routing.rule}'", True))
    for pool in dict.fromkeys((routing.pool, settings.fallback_pool)):
        members = tuple(_members(agents, pool, settings))
        if members:
            tiers.append(Tier(members, f"pool '{pool}'" if pool else "the team", False))
    return tiers


def next_in_order(
    tiers: Sequence[Tier],
    exclude: set[str],
    available: Callable[[Agent], bool],
    load: Load,
    rotation: RoundRobin,
    now: float,
) -> tuple[Agent | None, str, list[RoutingStep]]:
    """The first available agent with room, tier by tier (``exclude``: already tried). Returns them, how
    they were found, and the audit steps of who was passed over (named backups away or full; pool
    members full -- an away pool member is not worth a line)."""
    skipped: list[RoutingStep] = []
    noted: set[str] = set(exclude)
    for tier in tiers:
        ready: list[Agent] = []
        for agent in tier.agents:
            if agent.id in exclude:
                continue
            if not available(agent):
                if tier.ordered and agent.id not in noted:
                    skipped.append(step(now, "skipped", agent, "away"))
                    noted.add(agent.id)
            elif at_capacity(agent, load):
                if agent.id not in noted:
                    skipped.append(step(now, "skipped", agent, capacity_text(agent, load)))
                    noted.add(agent.id)
            else:
                ready.append(agent)
                if tier.ordered:
                    break  # the first backup with room takes it; the ones after it weren't tried
        if ready:
            return (ready[0] if tier.ordered else rotation.pick(ready, now)), tier.how, skipped
    return None, "", skipped


def mark_out_of_territory(routing: Routing | None, assignee_id: str | None) -> Routing | None:
    """An SDR who picks up (or is given) a chat routed to someone else keeps it; the record says so."""
    if routing is None or assignee_id is None or routing.agent_id in (None, assignee_id):
        return None
    if routing.out_of_territory:
        return None
    return msgspec.structs.replace(routing, out_of_territory=True)
