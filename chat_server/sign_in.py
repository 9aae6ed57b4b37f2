"""Agent sign-in: passwords (throttled, hashed off the loop, rehashed when cheap) and tokens (idle expiry)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection

from agent_app import protocol as p
from chat_server.context import Context
from chat_server.forwarded import client_ip
from chat_server.security import (
    OWASP_MINIMUM,
    ScryptParams,
    SignInThrottle,
    hash_password,
    needs_rehash,
    new_token,
    retry_text,
    token_hash,
    verify_password,
)

log = logging.getLogger(__name__)


@dataclass
class SignInGuard:
    """Per server: the throttle, and a cap on concurrent scrypt runs (each needs 128 MiB at OWASP's cost,
    so a flood of sign-ins from many addresses cannot make the server allocate gigabytes). Addresses the
    account signed in from before have a slot of their own: the owner never queues behind a flood."""

    throttle: SignInThrottle
    params: ScryptParams
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    known_hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    _dummy: str = ""

    @property
    def dummy_hash(self) -> str:
        """Verified against when the email is unknown, so unknown accounts cost the same (no probing)."""
        if not self._dummy:
            self._dummy = hash_password("timing equaliser", self.params)
        return self._dummy


def guard(ctx: Context) -> SignInGuard:
    if ctx.sign_in is None:
        params = ctx.config.scrypt_params
        if params.weaker_than(OWASP_MINIMUM):
            log.warning("scrypt parameters %s are below OWASP's minimum %s", params, OWASP_MINIMUM)
        ctx.sign_in = SignInGuard(SignInThrottle(ctx.clock.now), params)
    found: SignInGuard = ctx.sign_in
    return found


def remote_ip(ctx: Context, ws: ServerConnection) -> str:
    return client_ip(ws, ctx.config.trusted_proxies)  # the client named by a trusted proxy, or the peer


async def _password(ctx: Context, ws: ServerConnection, hello: p.Hello) -> p.Agent | str | None:
    """The agent, None for bad credentials, or the text of a throttling refusal."""
    g, ip, storage = guard(ctx), remote_ip(ctx, ws), ctx.storage
    wait = g.throttle.wait(hello.email, ip)
    if wait > 0:
        return retry_text(wait)
    record = storage.agent_by_email(hello.email)
    stored = record.password_hash if record else g.dummy_hash
    slot = g.known_hashing if g.throttle.known(hello.email, ip) else g.hashing
    async with slot:  # scrypt is slow on purpose: off the event loop, a bounded number at once
        ok = await asyncio.to_thread(verify_password, hello.password, stored)
        if record is None or not ok:
            g.throttle.failed(hello.email, ip)
            return None
        g.throttle.succeeded(hello.email, ip)
        if needs_rehash(stored, g.params):  # made with older, cheaper parameters: upgrade it now
            rehashed = await asyncio.to_thread(hash_password, hello.password, g.params)
            await storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
            with storage.savepoint():
                storage.set_password(record.agent.id, rehashed)
    return record.agent


async def authenticate(ctx: Context, ws: ServerConnection, hello: p.Hello) -> tuple[p.Agent, str, str] | None:
    """(agent, token hash, new token or "") or None after closing with a final close code (or 4008 when
    password attempts from this address are throttled)."""
    if hello.version != p.PROTOCOL_VERSION:
        await ws.close(p.CloseCode.UNSUPPORTED_VERSION, f"this server speaks version {p.PROTOCOL_VERSION}")
        return None
    storage, token, now, reason = ctx.storage, "", ctx.clock.now(), "bad credentials"
    agent: p.Agent | None = None
    hashed = ""
    if hello.token:
        hashed = token_hash(hello.token)
        last_used = storage.token_last_used(hashed)
        idle = ctx.config.token_idle_days * 86400
        if last_used is not None and idle and now - last_used > idle:
            await storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
            with storage.savepoint():
                storage.revoke_token(hashed, now)
            await storage.commit()
            reason = "the sign-in expired after a long time unused; sign in again"
        elif last_used is not None and (agent_id := storage.token_agent(hashed)):
            agent = storage.get_agent(agent_id)
            if agent is not None and not agent.disabled:
                await storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
                with storage.savepoint():  # committed with the agent's welcome, right after
                    storage.touch_token(hashed, now)
    elif hello.email and hello.password:
        found = await _password(ctx, ws, hello)
        if isinstance(found, str):
            await ws.close(p.CloseCode.RATE_LIMITED, found)
            return None
        agent = found
        if agent is not None and not agent.disabled:
            token = new_token()
            hashed = token_hash(token)
            await storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
            with storage.savepoint():
                storage.add_token(hashed, agent.id, hello.device[:200], now)
                storage.touch_token(hashed, now)
            await storage.commit()
    if agent is None:
        await ws.close(p.CloseCode.AUTH_FAILED, reason)
        return None
    if agent.disabled:
        await ws.close(p.CloseCode.AGENT_DISABLED, "account disabled")
        return None
    return agent, hashed, token
