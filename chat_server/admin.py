"""Provisioning (agents, passwords, tokens): used by the CLI, tests and the demo seeding code."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from agent_app.protocol import Agent, Role
from chat_server.calendar import territory_zone, zone_problem
from chat_server.clock import Clock, SystemClock
from chat_server.security import OWASP_MINIMUM, ScryptParams, hash_password, new_id, token_hash
from chat_server.storage.base import AgentRecord, Storage

MAX_CHATS = 100  # a per-agent chat limit above this is a typo


class AdminError(Exception):
    pass


def _direct[T](fn: Callable[[], T]) -> T:
    return fn()


def _zone(name: str) -> str:
    """A valid IANA name (stripped), "" for none; AdminError for anything else."""
    name = name.strip()
    if name and (problem := zone_problem(name)):
        raise AdminError(problem)
    return name


class Admin:
    """Synchronous. ``run`` executes a storage operation where it is safe (the server's loop thread);
    ``on_change`` lets a running server reload its agent cache."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock | None = None,
        on_change: Callable[[], None] | None = None,
        run: Callable[[Callable[[], object]], object] | None = None,
        params: ScryptParams = OWASP_MINIMUM,
    ) -> None:
        self.storage = storage
        self.params = params
        self.clock = clock or SystemClock()
        self.on_change = on_change or (lambda: None)
        self._run = run or _direct

    def _write[T](self, fn: Callable[[], T]) -> T:
        def op() -> T:
            with self.storage.savepoint():
                result = fn()
            self.storage.commit_now()
            self.on_change()
            return result

        return self._run(op)  # type: ignore[return-value]

    def _find(self, email: str) -> Agent:
        record = self.storage.agent_by_email(email)
        if record is None:
            raise AdminError(f"no agent with email {email}")
        return record.agent

    def add_agent(
        self,
        email: str,
        name: str,
        password: str,
        territory: str = "",
        role: Role | str = Role.SDR,
        timezone: str = "",
    ) -> Agent:
        """``timezone``: IANA name; "" takes the territory's zone when the name lies in one zone
        ("US-West"), else stays unset (the server's default_timezone applies; see docs/qualify.md)."""
        email = email.strip().lower()
        if "@" not in email:
            raise AdminError(f"not an email address: {email!r}")
        if len(password) < 8:
            raise AdminError("the password must have at least 8 characters")
        timezone = _zone(timezone) or territory_zone(territory)
        agent = Agent(
            id=new_id(),
            name=name.strip() or email,
            email=email,
            role=Role(role),
            territory=territory,
            timezone=timezone,
        )
        hashed = hash_password(password, self.params)  # slow on purpose; outside the write

        def op() -> Agent:
            if self.storage.agent_by_email(email) is not None:
                raise AdminError(f"an agent with email {email} exists already")
            self.storage.add_agent(AgentRecord(agent, hashed))
            return agent

        return self._write(op)

    def list_agents(self) -> list[Agent]:
        return self._run(self.storage.list_agents)  # type: ignore[return-value]

    def set_disabled(self, email: str, disabled: bool = True) -> Agent:
        def op() -> Agent:
            agent = msgspec.structs.replace(self._find(email), disabled=disabled)
            self.storage.save_agent(agent)
            if disabled:
                self.storage.revoke_agent_tokens(agent.id, self.clock.now())
            return agent

        return self._write(op)

    def set_role(self, email: str, role: Role | str) -> Agent:
        def op() -> Agent:
            agent = msgspec.structs.replace(self._find(email), role=Role(role))
            self.storage.save_agent(agent)
            return agent

        return self._write(op)

    def set_timezone(self, email: str, timezone: str) -> Agent:
        """The agent's own zone (their times in the desk client, their new calendar's default)."""
        zone = _zone(timezone)

        def op() -> Agent:
            agent = msgspec.structs.replace(self._find(email), timezone=zone)
            self.storage.save_agent(agent)
            return agent

        return self._write(op)

    def set_capacity(self, email: str, max_chats: int) -> Agent:
        """How many open chats routing gives the agent at once (0 = no limit)."""
        if isinstance(max_chats, bool) or not isinstance(max_chats, int) or not 0 <= max_chats <= MAX_CHATS:
            raise AdminError(f"the chat limit must be a whole number from 0 (no limit) to {MAX_CHATS}")

        def op() -> Agent:
            agent = msgspec.structs.replace(self._find(email), max_chats=max_chats)
            self.storage.save_agent(agent)
            return agent

        return self._write(op)

    def reset_password(self, email: str, password: str) -> int:
        """Sets a new password and revokes every token of the agent; returns how many were revoked."""
        if len(password) < 8:
            raise AdminError("the password must have at least 8 characters")
        hashed = hash_password(password, self.params)

        def op() -> int:
            agent = self._find(email)
            self.storage.set_password(agent.id, hashed)
            return self.storage.revoke_agent_tokens(agent.id, self.clock.now())

        return self._write(op)

    def revoke_tokens(self, email: str) -> int:
        return self._write(lambda: self.storage.revoke_agent_tokens(self._find(email).id, self.clock.now()))

    def revoke_token(self, token: str) -> bool:
        return self._write(lambda: self.storage.revoke_token(token_hash(token), self.clock.now()))
