"""Every mutating API request leaves an audit record (actor = the key, route, object, outcome,
origin), written in batches off the request; GET /v1/audit shows a merchant only its own."""

from __future__ import annotations

import time

from juhe.audit import trail


def records(api, tenant, wait_for: int) -> list[dict]:
    """The tenant's records once at least `wait_for` are there (the trail flushes once a second)."""
    deadline = time.monotonic() + 10
    while True:
        r = api.client.get("/v1/audit", headers=tenant.h("risk"), params={"limit": 200})
        assert r.status_code == 200, r.text
        if len(r.json()["data"]) >= wait_for or time.monotonic() > deadline:
            return r.json()["data"]
        time.sleep(0.2)


def test_changes_and_refusals_are_recorded_with_their_actor_and_outcome(api):
    account = api.open_account(api.a, "payable:audit-test")
    refused = api.client.post("/v1/accounts", headers=api.a.h("finance"), json={"code": "payable:x", "currency": "XXX!"})
    assert refused.status_code == 422
    denied = api.client.post("/v1/accounts", headers=api.a.h("business"), json={"code": "payable:y", "currency": "CNY"})
    assert denied.status_code == 403
    api.client.get("/v1/accounts", headers=api.a.h("finance"))  # reading changes nothing: not recorded

    newest, second, first = records(api, api.a, 3)[:3]
    assert first["action"] == "POST /v1/accounts" and first["outcome"] == "succeeded"
    assert (first["object_type"], first["object_id"], first["status_code"]) == ("accounts", account, 201)
    assert first["actor"].startswith("api_key:") and first["origin"].startswith("api:")
    assert second["outcome"] == f"failed:{refused.json()['code']}"
    assert newest["outcome"] == "failed:forbidden" and newest["actor"] != first["actor"]  # the business key
    assert int(newest["id"]) > int(second["id"]) > int(first["id"])
    with api.db.reader() as session:
        assert trail.verify(session).problems == []


def test_a_merchant_sees_only_its_own_records_and_needs_the_risk_role(api):
    api.open_account(api.a, "payable:only-a")
    assert records(api, api.a, 1)
    assert all(r["object_id"] != "payable:only-a" for r in records(api, api.b, 0))
    assert not [r for r in records(api, api.b, 0) if r["action"] == "POST /v1/accounts"]
    api.problem(api.client.get("/v1/audit", headers=api.a.h("business")), 403, "forbidden")
    api.problem(api.client.get("/v1/audit", headers=api.a.h("risk"), params={"cursor": 0}), 422, "validation_error")


def test_the_platform_operator_sees_every_merchant_and_its_own_actions(api, platform_token):
    created = api.client.post("/v1/merchants", headers={"Authorization": f"Bearer {platform_token}"},
                              json={"name": "Audit Test Co", "industry": "retail"})
    assert created.status_code == 201, created.text
    api.open_account(api.a, "payable:seen-by-platform")
    platform = {"Authorization": f"Bearer {platform_token}"}
    deadline = time.monotonic() + 10
    while True:
        seen = api.client.get("/v1/audit", headers=platform, params={"limit": 200}).json()["data"]
        if len(seen) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    onboarding = [r for r in seen if r["action"] == "POST /v1/merchants"]
    assert onboarding and onboarding[0]["actor"] == "platform" and onboarding[0]["object_id"] == created.json()["id"]
    assert any(r["merchant_id"] == str(api.a.id) for r in seen)
    only_failed = api.client.get("/v1/audit", headers=platform, params={"outcome": "failed"}).json()["data"]
    assert all(r["outcome"].startswith("failed:") for r in only_failed)
    by_object = api.client.get("/v1/audit", headers=platform, params={"object_id": created.json()["id"]}).json()["data"]
    assert [r["action"] for r in by_object] == ["POST /v1/merchants"]
    api.problem(api.client.get("/v1/audit", headers=platform, params={"outcome": "maybe"}), 422, "validation_error")
