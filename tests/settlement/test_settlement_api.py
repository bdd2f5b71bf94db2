"""The settlements API: profiles, runs (platform or admin), lists, statements, payout files, releases."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient

from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.payments.context import PaymentsContext
from juhe.settlement.payouts import poll_payouts

TOKEN = "plat-settlement-0123456789"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PROBLEM = "application/problem+json"
PROFILE = {"cycle": "T+1", "split_by": "merchant", "cutoff": "00:00",
           "payout": {"name": "Lotus Mart Co Ltd", "account": "6222020200112233445", "bank": "102290024433"}}


@pytest.fixture
def api(books, monkeypatch, tmp_path):
    # No channel sandboxes: `live` mode with no channel configured starts none.
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", TOKEN)
    get_settings.cache_clear()
    app = create_app(books.db)
    with TestClient(app) as client:
        yield client
    get_settings.cache_clear()


def key(books, role: str, merchant: int = 0) -> dict:
    return {"Authorization": f"Bearer {books.merchants[merchant]['api_keys'][role]}"}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    assert response.json()["code"] == code
    return response.json()


def settled(api, books) -> dict:
    """A profile, two reconciled payments and a refund on 9 October 2025, settled on the 10th."""
    assert api.put("/v1/settlements/profile", json=PROFILE, headers=key(books, "finance")).status_code == 200
    first = books.pay(100_00, datetime(2025, 10, 9, 10, tzinfo=SHANGHAI))
    books.pay(50_00, datetime(2025, 10, 9, 11, tzinfo=SHANGHAI))
    books.refund(first, 20_00, datetime(2025, 10, 9, 12, tzinfo=SHANGHAI))
    run = api.post("/v1/settlements/runs", json={"date": "2025-10-10"}, headers=key(books, "admin"))
    assert run.status_code == 200, run.text
    (batch_id,) = run.json()["merchants"][0]["batch_ids"]
    return api.get(f"/v1/settlements/{batch_id}", headers=key(books, "finance")).json()


def test_profile_is_set_checked_and_read_back(api, books):
    assert problem(api.get("/v1/settlements/profile", headers=key(books, "finance")), 404, "settlement_profile_not_found")
    bad = {**PROFILE, "timezone": "Mars/Olympus", "cutoff": "25:00",
           "payout": {"name": "X", "account": "GB00WEST12345698765432", "bank": "12345"}}
    body = problem(api.put("/v1/settlements/profile", json=bad, headers=key(books, "finance")), 422, "invalid_settlement_profile")
    assert {e["field"] for e in body["errors"]} == {"timezone", "cutoff", "payout_account", "payout_bank"}
    problem(api.put("/v1/settlements/profile", json={**PROFILE, "cycle": "T+2"}, headers=key(books, "finance")), 422,
            "validation_error")
    problem(api.put("/v1/settlements/profile", json=PROFILE, headers=key(books, "business")), 403, "forbidden")
    saved = api.put("/v1/settlements/profile", json=PROFILE, headers=key(books, "finance")).json()
    assert api.get("/v1/settlements/profile", headers=key(books, "finance")).json() == saved
    assert saved["payout"]["account"] == "6222020200112233445" and saved["cycle"] == "T+1"


def test_run_settles_and_the_statement_lists_every_item(api, books):
    batch = settled(api, books)
    assert batch["status"] == "held" and batch["net_minor"] == 99_40 + 49_70 - (20_00 - 12)
    assert batch["payout_account"]["account"] == "6222…3445"
    statement = api.get(f"/v1/settlements/{batch['id']}/statement.csv", headers=key(books, "finance"))
    assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(statement.text)))
    assert [(r["kind"], r["gross"], r["fee"], r["net"]) for r in rows] == [
        ("payment", "100.00", "0.60", "99.40"), ("payment", "50.00", "0.30", "49.70"),
        ("refund", "-20.00", "-0.12", "-19.88"), ("total", "130.00", "0.78", "129.22")]
    listed = api.get("/v1/settlements", params={"limit": 1}, headers=key(books, "finance")).json()
    assert [b["id"] for b in listed["data"]] == [batch["id"]] and listed["next_cursor"] is None
    assert api.get("/v1/settlements", params={"status": "paid"}, headers=key(books, "finance")).json()["data"] == []


def test_rerun_answers_the_same_batches(api, books):
    batch = settled(api, books)
    again = api.post("/v1/settlements/runs", json={"date": "2025-10-10"}, headers=key(books, "admin")).json()
    assert again["merchants"] == [{"merchant_id": books.merchants[0]["id"], "outcome": "already_run",
                                   "due_through": "2025-10-09", "batch_ids": [batch["id"]]}]


def test_runs_need_the_platform_token_or_an_admin_and_a_good_date(api, books):
    problem(api.post("/v1/settlements/runs", json={"date": "2025-10-10"}, headers=key(books, "finance")), 403, "forbidden")
    problem(api.post("/v1/settlements/runs", json={"date": "2025-10-10"}), 401, "unauthorized")
    problem(api.post("/v1/settlements/runs", json={"date": "10/10/2025"}, headers=key(books, "admin")), 422, "validation_error")
    problem(api.post("/v1/settlements/runs", json={"date": "2099-01-05"}, headers=key(books, "admin")), 422,
            "settlement_date_in_future")
    problem(api.post("/v1/settlements/runs", json={"date": "2003-06-02"}, headers=key(books, "admin")), 422,
            "date_out_of_range")
    problem(api.post("/v1/settlements/runs", json={"date": "2025-10-10"}, headers=key(books, "admin", 1)), 409,
            "settlement_profile_missing")
    everyone = api.post("/v1/settlements/runs", json={"date": "2025-10-10"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert everyone.status_code == 200 and everyone.json()["without_profile"] == 2
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/settlements/runs", "/v1/settlements/releases", "/v1/settlements/{settlement_id}/statement.csv"} <= set(paths)


def test_other_merchants_settlements_are_not_found(api, books):
    batch = settled(api, books)
    for path in ("", "/statement.csv", "/payout-file"):
        problem(api.get(f"/v1/settlements/{batch['id']}{path}", headers=key(books, "finance", 1)), 404, "settlement_not_found")
    problem(api.get(f"/v1/settlements/{uuid.uuid4()}", headers=key(books, "finance")), 404, "settlement_not_found")


def test_payout_file_is_the_pain001_as_sent(api, books, bank):
    batch = settled(api, books)
    problem(api.get(f"/v1/settlements/{batch['id']}/payout-file", headers=key(books, "finance")), 404, "payout_file_not_found")

    async def file_and_send() -> None:
        async with httpx.AsyncClient() as http:
            ctx = PaymentsContext(db=books.db, channels={"bank": bank.adapter(http)}, notify_base_url="http://127.0.0.1:9",
                                  poll_initial=timedelta(0))
            for _ in range(40):
                await poll_payouts(ctx)
                if api.get(f"/v1/settlements/{batch['id']}", headers=key(books, "finance")).json()["status"] == "paid":
                    return
                time.sleep(0.06)

    asyncio.run(file_and_send())
    assert api.get(f"/v1/settlements/{batch['id']}", headers=key(books, "finance")).json()["status"] == "paid"
    document = api.get(f"/v1/settlements/{batch['id']}/payout-file", headers=key(books, "finance"))
    assert document.status_code == 200 and document.headers["content-type"] == "application/xml"
    assert b"pain.001.001.09" in document.content and batch["end_to_end_id"].encode() in document.content


def test_finance_releases_an_unreconciled_item_once_with_a_reason(api, books):
    assert api.put("/v1/settlements/profile", json=PROFILE, headers=key(books, "finance")).status_code == 200
    waiting = books.pay(80_00, datetime(2025, 10, 9, 10, tzinfo=SHANGHAI), reconciled=False)
    body = {"kind": "payment", "payment_id": str(waiting), "reason": "statement line found by hand"}
    problem(api.post("/v1/settlements/releases", json=body, headers=key(books, "business")), 403, "forbidden")
    problem(api.post("/v1/settlements/releases", json={"kind": "payment", "reason": "x"}, headers=key(books, "finance")),
            422, "validation_error")
    problem(api.post("/v1/settlements/releases", json={**body, "payment_id": str(uuid.uuid4())}, headers=key(books, "finance")),
            404, "payment_not_found")
    released = api.post("/v1/settlements/releases", json=body, headers=key(books, "finance"))
    assert released.status_code == 201 and released.json()["released_by"].startswith("api_key:")
    problem(api.post("/v1/settlements/releases", json=body, headers=key(books, "finance")), 409, "already_released")
    run = api.post("/v1/settlements/runs", json={"date": "2025-10-10"}, headers=key(books, "admin")).json()
    assert len(run["merchants"][0]["batch_ids"]) == 1
    problem(api.post("/v1/settlements/releases", json=body, headers=key(books, "finance")), 409, "already_settled")
