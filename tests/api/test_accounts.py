"""Accounts: create in the merchant's namespace, conflicts, validation, pagination, balances."""

from __future__ import annotations


def test_create_account_namespaces_the_code(api):
    r = api.client.post("/v1/accounts", headers=api.a.h("finance"),
                        json={"code": "payable:petty", "currency": "CNY", "no_overdraft": True,
                              "metadata": {"purpose": "petty cash 备用金"}})
    assert r.status_code == 201, r.text
    acct = r.json()
    assert acct["code"] == f"payable:{api.a.id}:petty"
    assert acct["currency"] == "CNY"
    assert acct["kind"] == "liability" and acct["normal_side"] == "credit"
    assert acct["no_overdraft"] is True
    assert acct["owner_type"] == "merchant" and acct["owner_id"] == api.a.id
    assert acct["metadata"] == {"purpose": "petty cash 备用金"}
    assert acct["balance"] == {"posted_minor": 0, "available_minor": 0, "pending_debits_minor": 0,
                               "pending_credits_minor": 0}
    got = api.client.get(f"/v1/accounts/{acct['id']}", headers=api.a.h("risk"))
    assert got.status_code == 200 and got.json() == acct

    asset = api.client.post("/v1/accounts", headers=api.a.h("finance"), json={"code": "receivable:bnpl", "currency": "USD"})
    assert asset.status_code == 201
    assert asset.json()["kind"] == "asset" and asset.json()["normal_side"] == "debit"
    assert asset.json()["code"] == f"receivable:{api.a.id}:bnpl"


def test_duplicate_account_is_409(api):
    api.open_account(api.a, "payable:petty")
    before = api.snapshot()
    r = api.client.post("/v1/accounts", headers=api.a.h("finance"), json={"code": "payable:petty", "currency": "CNY"})
    api.problem(r, 409, "account_exists")
    assert api.snapshot() == before
    # same code in another currency is another account; same code at another merchant too
    assert api.client.post("/v1/accounts", headers=api.a.h("finance"),
                           json={"code": "payable:petty", "currency": "USD"}).status_code == 201
    r = api.client.post("/v1/accounts", headers=api.b.h("finance"), json={"code": "payable:petty", "currency": "CNY"})
    assert r.status_code == 201 and r.json()["code"] == f"payable:{api.b.id}:petty"


def test_account_code_outside_the_merchant_chart_is_422(api, subtests):
    before = api.snapshot()
    for code in ("reserve:x", "clearing:alipay", "fx:USD", "equity:capital", "payable", "payable:", "cash:till", ":x"):
        with subtests.test(code=code):
            r = api.client.post("/v1/accounts", headers=api.a.h("finance"), json={"code": code, "currency": "CNY"})
            api.problem(r, 422, "validation_error" if len(code) < 3 else "invalid_account_code")
    assert api.snapshot() == before


def test_bad_currency_is_422(api, subtests):
    before = api.snapshot()
    for currency, codes in [
        ("XYZ", {"invalid_money"}),
        ("cny", {"invalid_money", "validation_error"}),
        ("XAU", {"invalid_money"}),  # a funds code: no minor unit
        ("CN", {"validation_error"}),
        ("CNYY", {"validation_error"}),
        (123, {"validation_error"}),
        (None, {"validation_error"}),
    ]:
        with subtests.test(currency=currency):
            r = api.client.post("/v1/accounts", headers=api.a.h("finance"), json={"code": "payable:x", "currency": currency})
            assert r.status_code == 422, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] in codes
    assert api.snapshot() == before


def test_account_list_walks_every_page_once(api):
    seeded = {x["id"] for x in api.accounts(api.a)}
    assert len(seeded) == 5  # merchant payable + 2 stores + 2 business lines
    created = {api.open_account(api.a, f"payable:p{i}") for i in range(8)}
    api.open_account(api.b, "payable:other")  # never shows up for A
    expected = seeded | created

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = api.client.get("/v1/accounts", headers=api.a.h("risk"), params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= 3
        seen += [x["id"] for x in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["data"][-1]["id"]
    assert pages == 5  # 13 accounts, 3 a page
    assert len(seen) == len(set(seen)) == 13
    assert set(seen) == expected
    # newest first
    assert seen == sorted(seen, reverse=True)


def test_account_list_exact_multiple_of_limit_ends_with_no_cursor(api):
    # 5 seeded + 1 = 6 = 2 pages of 3: the second page must not advertise a third
    api.open_account(api.a, "payable:six")
    first = api.client.get("/v1/accounts", headers=api.a.h("risk"), params={"limit": 3}).json()
    second = api.client.get("/v1/accounts", headers=api.a.h("risk"),
                            params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert len(second["data"]) == 3 and second["next_cursor"] is None


def test_account_list_filters_by_currency(api):
    usd = api.open_account(api.a, "payable:usd", currency="USD")
    r = api.client.get("/v1/accounts", headers=api.a.h("risk"), params={"currency": "USD"})
    assert [x["id"] for x in r.json()["data"]] == [usd]


def test_account_list_bad_paging_is_422(api, subtests):
    for params in ({"limit": 0}, {"limit": 201}, {"limit": "many"}, {"cursor": "not-a-uuid"}):
        with subtests.test(params=params):
            r = api.client.get("/v1/accounts", headers=api.a.h("risk"), params=params)
            body = api.problem(r, 422, "validation_error")
            assert body["errors"] and body["errors"][0]["loc"][0] == "query"


def test_balance_follows_postings(api):
    payable = api.payable(api.a)
    store = api.store_payables(api.a)[0]
    assert api.balance(api.a, payable) == {"account_id": payable, "currency": "CNY", "posted_minor": 0,
                                           "available_minor": 0, "pending_debits_minor": 0, "pending_credits_minor": 0}
    api.fund(api.a, payable, 10_000)
    r = api.post(api.a, api.legs((payable, 2_500), (store, -2_500)))
    assert r.status_code == 201, r.text
    assert api.balance(api.a, payable)["posted_minor"] == 7_500
    assert api.balance(api.a, store)["posted_minor"] == 2_500
    funding = api.a._funding
    assert api.balance(api.a, funding)["posted_minor"] == 10_000  # an asset: debit-normal


def test_unknown_account_is_404(api):
    missing = "01a20000-0000-7000-8000-000000000000"
    for path in (f"/v1/accounts/{missing}", f"/v1/accounts/{missing}/balance"):
        api.problem(api.client.get(path, headers=api.a.h("finance")), 404, "not_found")
    api.problem(api.client.get("/v1/accounts/not-a-uuid", headers=api.a.h("finance")), 422, "validation_error")
