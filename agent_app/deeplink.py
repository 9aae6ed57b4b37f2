"""Deep links (``sdr-agent-desk://conversation/<id>``): parsed, checked and resolved here, without Qt."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from agent_app import protocol as p
from agent_app.errors import CommandError, NotConnected
from agent_app.session import Session
from agent_app.store import Store

SCHEME = "sdr-agent-desk"
KIND = "conversation"
EXAMPLE = f"{SCHEME}://{KIND}/<id>"
MAX_LINK = 2048  # a link comes from a browser, a mail or another program: never trusted, never huge
# Conversation ids are opaque to the client (the server makes them): any unreserved URL characters.
_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")


class DeepLinkError(ValueError):
    """A link this app cannot open; ``str(exc)`` is the sentence to show the user."""


@dataclass(frozen=True, slots=True)
class ConversationLink:
    conversation_id: str

    @property
    def url(self) -> str:
        return f"{SCHEME}://{KIND}/{self.conversation_id}"


def _short(text: str) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return text if len(text) <= 80 else text[:77] + "..."


def parse_link(text: str) -> ConversationLink:
    """``sdr-agent-desk://conversation/<id>`` (a trailing slash is fine) -> the link; anything else raises
    :class:`DeepLinkError` saying what is wrong with it."""
    if len(text) > MAX_LINK:
        raise DeepLinkError("This link is too long to be an SDR Agent Desk link.")
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        raise DeepLinkError(f"“{_short(text)}” is not a valid link.") from None
    if parts.scheme.lower() != SCHEME:
        raise DeepLinkError(f"“{_short(text)}” is not an SDR Agent Desk link (those look like {EXAMPLE}).")
    kind = parts.netloc.lower()
    if kind != KIND:
        what = f"“{_short(kind)}” links" if kind else "this link"
        raise DeepLinkError(f"SDR Agent Desk cannot open {what}: only {EXAMPLE}.")
    path = parts.path.removesuffix("/").removeprefix("/")
    if not path:
        raise DeepLinkError(f"This link names no conversation (expected {EXAMPLE}).")
    if parts.query or parts.fragment or not _ID.fullmatch(path):
        raise DeepLinkError(f"“{_short(text)}” does not name a conversation (expected {EXAMPLE}).")
    return ConversationLink(path)


def split_args(args: Iterable[str]) -> tuple[list[ConversationLink], list[str]]:
    """Launch arguments -> (links to open, in order, without repeats; a message per bad link)."""
    links: list[ConversationLink] = []
    problems: list[str] = []
    for arg in args:
        if not arg.strip():
            continue
        try:
            link = parse_link(arg)
        except DeepLinkError as exc:
            problems.append(str(exc))
            continue
        if link not in links:
            links.append(link)
    return links, problems


def not_available(conversation_id: str) -> str:
    return (
        f"The linked conversation ({_short(conversation_id)}) is not available to you: it does not exist "
        "on this server, or it is in a territory you do not see."
    )


def not_in_queue(conversation_id: str) -> str:
    return (
        f"The linked conversation ({_short(conversation_id)}) is closed and no longer in your queue; "
        "search the CRM activity history for its transcript."
    )


async def resolve(session: Session, store: Store, link: ConversationLink) -> str:
    """ "" when ``link``'s conversation is in ``store`` (open it), else the notice to show. Asks the server
    when it is not there yet: its answer comes after every frame sent before it on the same connection
    (the snapshot or replay after a sign-in included), so a conversation that exists is in the store by
    then. Raises NotConnected when offline (try again once online)."""
    cid = link.conversation_id
    if cid in store.conversations:
        return ""
    try:  # the smallest question that needs visibility; the answer is not kept (not in the store)
        await session.request(p.GetTranscript(id=uuid.uuid4().hex, conversation_id=cid, limit=1))
    except CommandError:
        return not_available(cid)  # unknown and not visible look the same (no probing other territories)
    except NotConnected:
        raise
    return "" if cid in store.conversations else not_in_queue(cid)
