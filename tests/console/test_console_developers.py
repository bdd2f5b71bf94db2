"""Developers (IT): keys, webhooks, terminals, channel health; IT revokes a key; finance may not."""

from __future__ import annotations

from sqlalchemy import select

from juhe.db.models import ApiKey


def _keys(console, merchant):
    with console.db.reader() as session:
        return session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant).order_by(ApiKey.id)).all()


def test_it_sees_the_merchants_keys_and_revokes_one(console):
    client = console.login("it")
    page = client.get("/console/developers")
    key = _keys(console, console.merchant_a)[0]
    assert page.status_code == 200 and key.prefix in page.text and 'id="health"' in page.text
    assert all(k.prefix not in page.text for k in _keys(console, console.merchant_b))
    r = client.post(f"/console/developers/api-keys/{key.id}/revoke", data={"csrf_token": console.csrf_of(page.text)})
    assert r.status_code == 303
    assert _keys(console, console.merchant_a)[0].revoked_at is not None


def test_finance_cannot_open_developers_nor_revoke_a_key(console):
    key = _keys(console, console.merchant_a)[0]
    client = console.login("finance")
    assert client.get("/console/developers").status_code == 403
    token = console.csrf_of(client.get("/console/").text)
    assert client.post(f"/console/developers/api-keys/{key.id}/revoke", data={"csrf_token": token}).status_code == 403
    assert _keys(console, console.merchant_a)[0].revoked_at is None


def test_it_cannot_revoke_another_merchants_key(console):
    theirs = _keys(console, console.merchant_b)[0]
    client = console.login("it")
    token = console.csrf_of(client.get("/console/").text)
    assert client.post(f"/console/developers/api-keys/{theirs.id}/revoke", data={"csrf_token": token}).status_code == 403
    assert _keys(console, console.merchant_b)[0].revoked_at is None


def test_a_revoke_without_csrf_is_refused(console):
    key = _keys(console, console.merchant_a)[0]
    client = console.login("admin")
    assert client.post(f"/console/developers/api-keys/{key.id}/revoke").status_code == 403
    assert _keys(console, console.merchant_a)[0].revoked_at is None


def test_a_revoke_is_in_the_audit_trail(console):
    from juhe.audit.models import AuditRecord

    key = _keys(console, console.merchant_a)[0]
    client = console.login("it")
    client.post(f"/console/developers/api-keys/{key.id}/revoke", data={"csrf_token": console.csrf_of(client.get("/console/").text)})
    with console.db.reader() as session:
        row = session.scalars(select(AuditRecord).where(AuditRecord.object_id == str(key.id))).one()
    assert (row.actor, row.action, row.merchant_id) == ("console:it@a", "api_key.revoke", console.merchant_a)
