"""The client's IP address behind a reverse proxy: X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

from websockets.asyncio.server import ServerConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["127.0.0.1", "10.0.0.0/8", "::1"]`` -> networks; raises ValueError naming a bad entry."""
    found: list[Network] = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
    return tuple(found)


@functools.lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted(entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:4711" (RFC 7239 style, some proxies)
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:4711"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return address


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def forwarded_client(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: ``peer`` (the TCP peer), unless the peer is a trusted proxy; then the
    X-Forwarded-For chain is walked from the right (the hop nearest to us) past every trusted proxy, and
    the first address that is not one is the client. Anything left of it was written by the client and is
    never believed; a malformed hop ends the walk at the last trusted one (never at a made-up address)."""
    peer_address = _address(peer)
    if peer_address is None or not trusted or not _is_trusted(peer_address, trusted):
        return str(peer_address) if peer_address is not None else peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer_address
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


def client_ip(ws: ServerConnection, trusted_proxies: Sequence[str]) -> str:
    """The address per-IP limits and sign-in throttling count against (see :func:`forwarded_client`)."""
    address = ws.remote_address
    peer = str(address[0]) if address else "?"
    if not trusted_proxies or ws.request is None:
        return peer
    headers = ws.request.headers.get_all("X-Forwarded-For")
    return forwarded_client(peer, headers, _trusted(tuple(trusted_proxies)))
