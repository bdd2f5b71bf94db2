"""Authentication (Bearer API keys), role checks, key management, merchant creation."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from juhe.db.models import ApiKey, Merchant


def _unauthorized(api, response) -> dict:
    body = api.problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    return body


# -- authentication ------------------------------------------------------------------------------

NO_VALID_KEY = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Token jk_0123456789ab_secret"},
    {"Authorization": "Bearer jk_0123456789ab_not-a-real-key"},
    {"Authorization": "Bearer not-even-the-key-format"},
]


def test_no_valid_key_is_401_and_changes_nothing(api, subtests):
    payable = api.payable(api.a)
    before = api.snapshot()
    requests = [
        ("GET", "/v1/merchant", {}),
        ("GET", "/v1/accounts", {}),
        ("GET", f"/v1/accounts/{payable}", {}),
        ("POST", "/v1/accounts", {"json": {"code": "payable:x", "currency": "CNY"}}),
        ("POST", "/v1/ledger/transactions",
         {"json": {"entries": api.legs((payable, 1), (payable, -1))}, "headers": {"Idempotency-Key": "k1"}}),
        ("POST", "/v1/api-keys", {"json": {"name": "x", "roles": ["admin"]}}),
    ]
    for headers in NO_VALID_KEY:
        for method, path, kwargs in requests:
            with subtests.test(headers=headers, method=method, path=path):
                extra = kwargs.get("headers", {})
                kwargs = {k: v for k, v in kwargs.items() if k != "headers"}
                _unauthorized(api, api.client.request(method, path, headers={**headers, **extra}, **kwargs))
    assert api.snapshot() == before


def test_a_key_with_its_secret_altered_is_rejected(api):
    good = api.a.keys["admin"]
    assert api.client.get("/v1/merchant", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    # same prefix (finds the row), wrong secret
    _unauthorized(api, api.client.get("/v1/merchant", headers={"Authorization": f"Bearer {good[:-2]}xx"}))
    _unauthorized(api, api.client.get("/v1/merchant", headers={"Authorization": f"Bearer {good}extra"}))


def test_scheme_is_case_insensitive(api):
    r = api.client.get("/v1/merchant", headers={"Authorization": f"bearer {api.a.keys['admin']}"})
    assert r.status_code == 200
    assert r.json()["id"] == api.a.id


def test_revoked_key_stops_working_at_once(api):
    r = api.client.post("/v1/api-keys", headers=api.a.h("admin"), json={"name": "temp", "roles": ["finance"]})
    assert r.status_code == 201, r.text
    key = r.json()
    headers = {"Authorization": f"Bearer {key['secret']}"}
    assert api.client.get("/v1/accounts", headers=headers).status_code == 200

    r = api.client.delete(f"/v1/api-keys/{key['id']}", headers=api.a.h("it"))
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None

    before = api.snapshot()
    _unauthorized(api, api.client.get("/v1/accounts", headers=headers))
    payable = api.payable(api.a)
    _unauthorized(api, api.client.post("/v1/ledger/transactions", headers={**headers, "Idempotency-Key": "after-revoke"},
                                  json={"entries": api.legs((payable, 5), (payable, -5))}))
    assert api.snapshot() == before
    # revoking again is harmless and keeps the first revocation time
    again = api.client.delete(f"/v1/api-keys/{key['id']}", headers=api.a.h("it"))
    assert again.status_code == 200
    assert again.json()["revoked_at"] == r.json()["revoked_at"]


# -- roles ----------------------------------------------------------------------------------------

def test_business_key_cannot_move_money(api):
    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    before = api.snapshot()
    r = api.post(api.a, api.legs((payable, 10), (store, -10)), key="biz-1", role="business")
    body = api.problem(r, 403, "forbidden")
    assert "finance" in body["detail"]
    api.problem(api.client.get("/v1/accounts", headers=api.a.h("business")), 403, "forbidden")
    api.problem(api.client.post("/v1/accounts", headers=api.a.h("business"),
                                   json={"code": "payable:x", "currency": "CNY"}), 403, "forbidden")
    assert api.snapshot() == before
    # ...but it runs its own scenarios: stores
    r = api.client.post("/v1/stores", headers=api.a.h("business"), json={"code": "gz-01", "name": "Guangzhou"})
    assert r.status_code == 201, r.text


def test_risk_key_reads_but_cannot_write(api):
    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    funded = api.fund(api.a, payable, 1_000)
    h = api.a.h("risk")
    assert api.client.get("/v1/accounts", headers=h).status_code == 200
    assert api.client.get(f"/v1/accounts/{payable}/balance", headers=h).json()["posted_minor"] == 1_000
    assert api.client.get(f"/v1/ledger/transactions/{funded['id']}", headers=h).status_code == 200
    assert api.client.get("/v1/ledger/transactions", headers=h).status_code == 200

    before = api.snapshot()
    api.problem(api.post(api.a, api.legs((payable, 10), (store, -10)), role="risk"), 403, "forbidden")
    api.problem(api.client.post("/v1/accounts", headers=h, json={"code": "payable:r", "currency": "CNY"}),
                   403, "forbidden")
    api.problem(api.client.post(f"/v1/ledger/transactions/{funded['id']}/reverse",
                                   headers={**h, "Idempotency-Key": "r1"}, json={}), 403, "forbidden")
    api.problem(api.client.post("/v1/api-keys", headers=h, json={"name": "x", "roles": ["risk"]}), 403, "forbidden")
    assert api.snapshot() == before


def test_finance_key_cannot_manage_keys(api):
    before = api.snapshot()
    api.problem(api.client.post("/v1/api-keys", headers=api.a.h("finance"), json={"name": "x", "roles": ["finance"]}),
                   403, "forbidden")
    api.problem(api.client.get("/v1/api-keys", headers=api.a.h("finance")), 403, "forbidden")
    assert api.snapshot() == before


def test_it_key_grants_only_roles_it_has(api):
    h = api.a.h("it")
    before = api.snapshot()
    for roles in (["finance"], ["admin"], ["it", "risk"]):
        r = api.client.post("/v1/api-keys", headers=h, json={"name": "escalate", "roles": roles})
        api.problem(r, 403, "forbidden")
    assert api.snapshot() == before

    r = api.client.post("/v1/api-keys", headers=h, json={"name": "ci", "roles": ["it"]})
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["roles"] == ["it"]
    assert issued["secret"].startswith(issued["prefix"] + "_")
    # the new key works, and has exactly the role granted
    new = {"Authorization": f"Bearer {issued['secret']}"}
    assert api.client.get("/v1/api-keys", headers=new).status_code == 200
    api.problem(api.client.get("/v1/accounts", headers=new), 403, "forbidden")


def test_key_roles_must_be_known(api):
    before = api.snapshot()
    for roles in ([], ["root"], ["finance", "superuser"]):
        r = api.client.post("/v1/api-keys", headers=api.a.h("admin"), json={"name": "x", "roles": roles})
        assert r.status_code == 422, r.text
        assert r.json()["code"] in {"invalid_roles", "validation_error"}
    assert api.snapshot() == before


def test_admin_can_do_everything(api):
    h = api.a.h("admin")
    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    assert api.client.get("/v1/accounts", headers=h).status_code == 200
    assert api.client.post("/v1/accounts", headers=h, json={"code": "revenue:misc", "currency": "CNY"}).status_code == 201
    api.fund(api.a, payable, 500)
    r = api.post(api.a, api.legs((payable, 100), (store, -100)), role="admin")
    assert r.status_code == 201, r.text
    r = api.client.post("/v1/api-keys", headers=h, json={"name": "fin", "roles": ["finance", "risk"]})
    assert r.status_code == 201 and r.json()["roles"] == ["finance", "risk"]
    assert api.client.post("/v1/stores", headers=h, json={"code": "sz-01", "name": "Shenzhen"}).status_code == 201
    assert api.client.post("/v1/business-lines", headers=h, json={"code": "fresh", "name": "Fresh"}).status_code == 201
    assert api.client.get("/v1/api-keys", headers=h).status_code == 200


def test_key_list_shows_no_secrets_and_only_own_keys(api):
    r = api.client.get("/v1/api-keys", headers=api.a.h("it"))
    assert r.status_code == 200
    data = r.json()["data"]
    assert sorted(k["name"] for k in data) == sorted(f"demo {role}" for role in api.a.keys)
    text = r.text
    for secret in list(api.a.keys.values()) + list(api.b.keys.values()):
        assert secret not in text
    assert "secret" not in text and "hash" not in text


def test_cannot_revoke_another_merchants_key(api):
    # find B's key id through B's own listing
    b_keys = api.client.get("/v1/api-keys", headers=api.b.h("it")).json()["data"]
    b_key = next(k["id"] for k in b_keys if k["name"] == "demo admin")
    before = api.snapshot()
    r = api.client.delete(f"/v1/api-keys/{b_key}", headers=api.a.h("admin"))
    api.problem(r, 404, "not_found")
    assert api.snapshot() == before
    assert api.client.get("/v1/merchant", headers=api.b.h("admin")).json()["id"] == api.b.id


# -- POST /v1/merchants (platform operators) ----------------------------------------------------

def test_create_merchant_disabled_without_platform_token(api, no_platform_token):
    before = api.snapshot()
    for headers in ({}, {"Authorization": "Bearer "}):  # no credentials at all: 401, as everywhere
        r = api.client.post("/v1/merchants", headers=headers, json={"name": "Evil", "industry": "retail"})
        api.problem(r, 401, "unauthorized")
    r = api.client.post("/v1/merchants", headers={"Authorization": f"Bearer {api.a.keys['admin']}"},
                        json={"name": "Evil", "industry": "retail"})
    api.problem(r, 403, "forbidden")
    assert api.snapshot() == before


def test_create_merchant_needs_the_right_token(api, platform_token):
    before = api.snapshot()
    api.problem(api.client.post("/v1/merchants", json={"name": "Evil", "industry": "retail"}), 401, "unauthorized")
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {api.platform_token}x"},
                    {"Authorization": f"Bearer {api.a.keys['admin']}"}):
        r = api.client.post("/v1/merchants", headers=headers, json={"name": "Evil", "industry": "retail"})
        api.problem(r, 403, "forbidden")
    assert api.snapshot() == before


def test_create_merchant_with_non_ascii_token_is_403_not_500(api, platform_token):
    # hmac.compare_digest refuses non-ASCII str; a hostile header must not become a 500.
    before = api.snapshot()
    with api.lenient():
        r = api.client.post("/v1/merchants", headers={"Authorization": "Bearer caf\xe9".encode("latin-1")},
                            json={"name": "Evil", "industry": "retail"})
    api.problem(r, 403, "forbidden")
    assert api.snapshot() == before


def test_create_merchant_returns_a_working_admin_key_stored_hashed(api, platform_token):
    r = api.client.post("/v1/merchants", headers={"Authorization": f"Bearer {api.platform_token}"},
                        json={"name": "Harbin Heavy Industry 哈工", "industry": "manufacturing"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "Harbin Heavy Industry 哈工" and body["industry"] == "manufacturing"
    key = body["admin_api_key"]
    assert key["roles"] == ["admin"] and key["revoked_at"] is None
    secret = key["secret"]
    assert secret.startswith(key["prefix"] + "_") and len(secret) > 40

    headers = {"Authorization": f"Bearer {secret}"}
    me = api.client.get("/v1/merchant", headers=headers)
    assert me.status_code == 200 and me.json()["id"] == body["id"]
    # a brand-new merchant sees none of the demo merchants' data
    assert api.client.get("/v1/accounts", headers=headers).json() == {"data": [], "next_cursor": None}
    assert api.client.get("/v1/ledger/transactions", headers=headers).json() == {"data": [], "next_cursor": None}
    assert api.client.post("/v1/accounts", headers=headers,
                           json={"code": "payable:main", "currency": "CNY"}).status_code == 201

    # stored as a hash, never in plaintext
    with api.db.session() as s:
        row = s.get(ApiKey, uuid.UUID(key["id"]))
        assert row.secret_hash != secret and secret not in row.secret_hash
        assert len(row.secret_hash) == 64
        assert s.get(Merchant, row.merchant_id).name == body["name"]
    with api.db.engine.connect() as conn:
        for raw in conn.execute(select(*ApiKey.__table__.c)):
            assert all(secret not in str(value) for value in raw), raw


def test_create_merchant_rejects_unknown_industry(api, platform_token):
    before = api.snapshot()
    r = api.client.post("/v1/merchants", headers={"Authorization": f"Bearer {api.platform_token}"},
                        json={"name": "X", "industry": "piracy"})
    api.problem(r, 422, "invalid_industry")
    assert api.snapshot() == before


def test_a_new_merchant_is_screened_at_onboarding(api, platform_token):
    from pathlib import Path

    from juhe.aml.watch_lists import configure_watch_lists

    configure_watch_lists([Path(__file__).parents[1] / "aml" / "data" / "internal_watchlist.csv"])
    try:
        headers = {"Authorization": f"Bearer {api.platform_token}"}
        listed = api.client.post("/v1/merchants", headers=headers, json={"name": "Golden Sea Trading Ltd", "industry": "retail"})
        clean = api.client.post("/v1/merchants", headers=headers, json={"name": "Plum Blossom Bakery", "industry": "retail"})
        assert listed.status_code == clean.status_code == 201, listed.text
        assert listed.json()["screening"]["held"] is True and clean.json()["screening"]["held"] is False
    finally:
        configure_watch_lists([])
