"""Tenant isolation, walked from the OpenAPI document: another merchant's keys and the owner's
roles that the document does not let in reach no object, and change nothing."""

from __future__ import annotations

from juhe.safety import security_isolation as isolation



def test_every_operation_on_an_object_refuses_other_merchants_and_unlisted_roles(safe_api):
    document = safe_api.client.get("/openapi.json").json()
    owner, intruder = safe_api.merchants  # the retailer, who did a day of business; the web shop
    read = lambda: safe_api.db.engine.connect()  # noqa: E731
    made = isolation.create_examples(safe_api.client, document, owner, isolation.CREATION_BODIES)
    assert made >= 8
    report = isolation.walk(safe_api.client, document, read, owner, intruder)
    assert report.leaks == [], "\n".join(report.leaks)
    assert report.changed_tables == []
    assert report.operations >= 60  # every operation with an id in its path, from the document
    assert report.with_real_object >= 24  # payments, ledger, keys, stores, terminals, webhooks, recon … of a real day
    assert report.calls >= 5 * report.operations


def test_a_new_kind_of_id_must_be_given_its_table():
    try:
        isolation.object_table("/v1/widgets/{widget_id}", "widget_id")
    except LookupError as e:
        assert "OBJECT_TABLES" in str(e)
    else:
        raise AssertionError("an unknown id was walked without a table")


def test_the_owner_reaches_its_own_objects_with_the_same_requests(safe_api):
    """The matrix would prove nothing if its requests were refused for being malformed."""
    owner = safe_api.merchants[0]
    with safe_api.db.engine.connect() as conn:
        payment = isolation.owned_id(conn, owner["id"], "/v1/payments/{payment_id}", "payment_id")
        account = isolation.owned_id(conn, owner["id"], "/v1/accounts/{account_id}", "account_id")
    assert payment and account
    assert safe_api.client.get(f"/v1/payments/{payment}", headers=safe_api.h(0, "business")).status_code == 200
    assert safe_api.client.get(f"/v1/accounts/{account}", headers=safe_api.h(0, "finance")).status_code == 200
    assert safe_api.client.get(f"/v1/payments/{payment}", headers=safe_api.h(1, "admin")).status_code == 404
