"""A real third-party client (simple-salesforce, sync, requests) works against the sandbox."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from sandbox.salesforce import FakeSalesforce, start_salesforce

simple_salesforce = pytest.importorskip("simple_salesforce")


class PlainHttpAdapter(HTTPAdapter):
    """simple-salesforce always builds https:// URLs; the sandbox speaks plain HTTP on 127.0.0.1."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = request.url.replace("https://", "http://", 1)
        return super().send(request, *args, **kwargs)


@pytest.fixture
def sandbox_thread() -> Iterator[FakeSalesforce]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            async with start_salesforce(page_size=5) as fake:
                holder["fake"], holder["stop"] = fake, asyncio.Event()
                holder["loop"] = asyncio.get_running_loop()
                ready.set()
                await holder["stop"].wait()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder["fake"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def test_simple_salesforce_query_create_update(sandbox_thread: FakeSalesforce) -> None:
    fake = sandbox_thread
    with requests.Session() as session:
        session.mount("https://127.0.0.1", PlainHttpAdapter())
        check_simple_salesforce(fake, session)


def check_simple_salesforce(fake: FakeSalesforce, session: requests.Session) -> None:
    sf = simple_salesforce.Salesforce(
        instance_url=fake.base_url.replace("http://", "https://"),
        session_id=fake.issue_token("sam@demo.sdr"),
        session=session,
        version="62.0",
    )
    result = sf.query_all("SELECT Id, Name, Owner.Name FROM Lead WHERE IsConverted = false ORDER BY Name")
    assert result["totalSize"] == 22 and len(result["records"]) == 22  # followed nextRecordsUrl pages
    assert sf.api_usage["api-usage"].used >= 5  # parsed our Sforce-Limit-Info header
    created = sf.Lead.create({"LastName": "Simple", "Company": "Simple Co", "Email": "s@simple.example"})
    assert created["success"] is True
    sf.Lead.update(created["id"], {"Title": "Tester"}, headers={"Sforce-Auto-Assign": "FALSE"})
    assert sf.Lead.get(created["id"])["Title"] == "Tester"
    found = sf.query("SELECT Id FROM Lead WHERE Email = 's@simple.example'")
    assert [r["Id"] for r in found["records"]] == [created["id"]]
    with pytest.raises(simple_salesforce.exceptions.SalesforceMalformedRequest):
        sf.query("SELECT Id FROM Lead WHERE")
