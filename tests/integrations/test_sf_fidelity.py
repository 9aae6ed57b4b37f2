"""The Salesforce stand-in behaves as a real org on what third-party clients rely on."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from sandbox.salesforce import FakeSalesforce


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_revoking_a_refresh_token_revokes_its_access_tokens(
    sf: FakeSalesforce, http: httpx.AsyncClient
) -> None:
    sf.register_app("Fid", ["http://127.0.0.1:1/callback"])
    r = await http.get(
        f"{sf.base_url}/services/oauth2/authorize",
        params={"response_type": "code", "client_id": "Fid", "redirect_uri": "http://127.0.0.1:1/callback"},
    )
    code = r.headers["location"].split("code=")[1].split("&")[0]
    token = (
        await http.post(
            f"{sf.base_url}/services/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": "Fid",
                  "redirect_uri": "http://127.0.0.1:1/callback"},
        )
    ).json()  # fmt: skip
    refreshed = (
        await http.post(
            f"{sf.base_url}/services/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": "Fid"},
        )
    ).json()
    other = sf.issue_token("sam@demo.sdr")
    url = f"{sf.base_url}/services/data/v62.0/limits"
    for access in (token["access_token"], refreshed["access_token"], other):
        assert (await http.get(url, headers=bearer(access))).status_code == 200
    await http.post(f"{sf.base_url}/services/oauth2/revoke", data={"token": token["refresh_token"]})
    for access in (token["access_token"], refreshed["access_token"]):
        assert (await http.get(url, headers=bearer(access))).status_code == 401
    assert (await http.get(url, headers=bearer(other))).status_code == 200


async def test_delete_then_get_is_entity_is_deleted(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    h = bearer(sf.issue_token())
    base = f"{sf.base_url}/services/data/v62.0/sobjects/Lead"
    lead_id = (await http.post(base, json={"LastName": "Gone", "Company": "Gone Co"}, headers=h)).json()["id"]
    assert (await http.delete(f"{base}/{lead_id}", headers=h)).status_code == 204
    r = await http.get(f"{base}/{lead_id}", headers=h)
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    r = await http.delete(f"{base}/{lead_id}", headers=h)
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    q = await http.get(
        f"{sf.base_url}/services/data/v62.0/query",
        params={"q": f"SELECT Id FROM Lead WHERE Id = '{lead_id}'"},
        headers=h,
    )
    assert q.json()["totalSize"] == 0


async def test_attributes_url_uses_the_requested_api_version(
    sf: FakeSalesforce, http: httpx.AsyncClient
) -> None:
    h = bearer(sf.issue_token())
    r = await http.get(
        f"{sf.base_url}/services/data/v58.0/query", params={"q": "SELECT Id FROM Account LIMIT 1"}, headers=h
    )
    rec = r.json()["records"][0]
    assert rec["attributes"]["url"] == f"/services/data/v58.0/sobjects/Account/{rec['Id']}"


async def test_composite_all_or_none_halts_every_subrequest(
    sf: FakeSalesforce, http: httpx.AsyncClient
) -> None:
    h = bearer(sf.issue_token())
    v = "/services/data/v62.0"
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": f"{v}/sobjects/Lead", "referenceId": "ok",
             "body": {"LastName": "Halted", "Company": "Halted Co"}},
            {"method": "POST", "url": f"{v}/sobjects/Lead", "referenceId": "bad", "body": {"Company": "x"}},
            {"method": "POST", "url": f"{v}/sobjects/Lead", "referenceId": "after",
             "body": {"LastName": "After", "Company": "After Co"}},
        ],
    }  # fmt: skip
    out = (await http.post(f"{sf.base_url}{v}/composite", json=body, headers=h)).json()["compositeResponse"]
    codes = {r["referenceId"]: (r["httpStatusCode"], r["body"][0]["errorCode"]) for r in out}
    assert codes["ok"] == (400, "PROCESSING_HALTED") and codes["after"] == (400, "PROCESSING_HALTED")
    assert codes["bad"] == (400, "REQUIRED_FIELD_MISSING")
    q = await http.get(
        f"{sf.base_url}{v}/query", params={"q": "SELECT Id FROM Lead WHERE LastName = 'Halted'"}, headers=h
    )
    assert q.json()["totalSize"] == 0


async def count(http: httpx.AsyncClient, sf: FakeSalesforce, where: str) -> int:
    r = await http.get(
        f"{sf.base_url}/services/data/v62.0/query",
        params={"q": f"SELECT COUNT() FROM Account WHERE {where}"},
        headers=bearer(sf.issue_token()),
    )
    assert r.status_code == 200, r.text
    return int(r.json()["totalSize"])


async def test_soql_date_literals(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    # The seeded accounts were created 2025-01-06T09:00Z; "now" is the next day at noon.
    sf.now = lambda: datetime(2025, 1, 7, 12, 0, tzinfo=UTC)
    total = await count(http, sf, "Id != null")
    assert total > 0
    assert await count(http, sf, "CreatedDate = TODAY") == 0
    assert await count(http, sf, "CreatedDate = yesterday") == total
    assert await count(http, sf, "CreatedDate = LAST_N_DAYS:1") == total
    assert await count(http, sf, "CreatedDate < LAST_N_DAYS:1") == 0
    assert (
        await count(http, sf, "CreatedDate > TODAY") == 0
        and await count(http, sf, "CreatedDate < TODAY") == total
    )
    assert await count(http, sf, "CreatedDate = NEXT_N_DAYS:3") == 0


async def test_soql_datetimes_compare_by_instant(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    # 10:00+02:00 is 08:00Z, an hour before the seeded 09:00Z: a string comparison gets this backwards.
    total = await count(http, sf, "Id != null")
    assert await count(http, sf, "CreatedDate > 2025-01-06T10:00:00+02:00") == total
    assert await count(http, sf, "CreatedDate = 2025-01-06T11:00:00+02:00") == total
    assert await count(http, sf, "CreatedDate < 2025-01-06T08:59:59Z") == 0


async def test_upsert_by_external_id(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    h = bearer(sf.issue_token())
    url = f"{sf.base_url}/services/data/v62.0/sobjects/Lead/Chat_Visitor_Id__c/v-123"
    created = await http.patch(url, json={"LastName": "Upsert", "Company": "Up Co"}, headers=h)
    assert created.status_code == 201 and created.json()["created"] is True
    lead_id = created.json()["id"]
    updated = await http.patch(url, json={"Title": "CEO"}, headers=h)
    assert updated.status_code == 200 and updated.json() == {
        "id": lead_id, "success": True, "errors": [], "created": False,
    }  # fmt: skip
    got = await http.get(f"{sf.base_url}/services/data/v62.0/sobjects/Lead/{lead_id}", headers=h)
    assert got.json()["Title"] == "CEO" and got.json()["Chat_Visitor_Id__c"] == "v-123"
    not_external = await http.patch(
        f"{sf.base_url}/services/data/v62.0/sobjects/Lead/Company/Up%20Co", json={"Title": "x"}, headers=h
    )
    assert not_external.status_code == 400 and not_external.json()[0]["errorCode"] == "INVALID_FIELD"


async def test_describe_and_describe_global(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    h = bearer(sf.issue_token())
    base = f"{sf.base_url}/services/data/v62.0/sobjects"
    glob = (await http.get(base, headers=h)).json()
    names = {s["name"] for s in glob["sobjects"]}
    assert {"Lead", "Contact", "Account", "Task", "User"} <= names
    lead = next(s for s in glob["sobjects"] if s["name"] == "Lead")
    assert lead["urls"]["describe"] == "/services/data/v62.0/sobjects/Lead/describe"
    d = (await http.get(f"{base}/Lead/describe", headers=h)).json()
    fields = {f["name"]: f for f in d["fields"]}
    assert d["name"] == "Lead" and "CQL_Level__c" in fields
    assert fields["Id"]["type"] == "id" and not fields["Name"]["updateable"]
    assert fields["Chat_Visitor_Id__c"]["externalId"] and fields["Email"]["type"] == "email"
    assert not fields["LastName"]["nillable"] and fields["Title"]["createable"]
    missing = await http.get(f"{base}/Nope__c/describe", headers=h)
    assert missing.status_code == 404
