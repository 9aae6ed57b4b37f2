"""The browser half of an OAuth sign-in against the calendar stand-ins (what the desktop client does)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from agent_app.integrations.sf_auth import pkce_pair

REDIRECT_URI = "http://127.0.0.1:47616/callback"


async def browser_sign_in(auth_url: str, client_id: str, scope: str) -> tuple[str, str, str]:
    """(code, code_verifier, redirect_uri): the stand-in consents at once and redirects with a code."""
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": scope,
             "code_challenge": challenge, "code_challenge_method": "S256", "state": "s1",
             "access_type": "offline", "prompt": "consent"}  # fmt: skip
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{auth_url}?{urlencode(query)}")
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    params = parse_qs(location.query)
    assert params["state"] == ["s1"]
    return params["code"][0], verifier, REDIRECT_URI
