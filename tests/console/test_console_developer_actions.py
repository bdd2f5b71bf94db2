"""Developers (IT): issue a key, add and disable a webhook endpoint, register and disable a store
terminal — each shown once where a secret is made, in the audit trail, refused to other roles
(403, nothing changes) and shown on the page when the input is wrong."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from juhe.audit.models import AuditRecord
from juhe.db.models import ApiKey
from juhe.merchants import authenticate
from juhe.payments.models import PosTerminal
from juhe.webhooks.models import WebhookEndpoint


def _count(console, model, **where) -> int:
    with console.db.reader() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return session.scalar(query)


def _post(client, console, path: str, **data):
    token = console.csrf_of(client.get("/console/").text)
    return client.post(path, data={"csrf_token": token, **data})


def test_it_issues_a_key_whose_secret_is_shown_once_and_works(console):
    client = console.login("it")
    before = _count(console, ApiKey, merchant_id=console.merchant_a)
    page = _post(client, console, "/console/developers/api-keys", name="Till app", role="business")
    assert page.status_code == 201
    secret = re.search(r'<code id="secret">([^<]+)</code>', page.text).group(1)
    with console.db.reader() as session:
        principal = authenticate(session, secret)
    assert principal.merchant_id == console.merchant_a and principal.roles == {"business"}
    assert _count(console, ApiKey, merchant_id=console.merchant_a) == before + 1
    assert secret not in client.get("/console/developers").text  # once
    with console.db.reader() as session:
        assert session.scalar(select(AuditRecord.actor).where(AuditRecord.action == "api_key.issue")) == "console:it@a"


def test_a_key_with_an_unknown_role_is_refused_on_the_page(console):
    client = console.login("it")
    before = _count(console, ApiKey)
    page = _post(client, console, "/console/developers/api-keys", name="x", role="superuser")
    assert page.status_code == 422 and 'id="action-error"' in page.text and "roles must be" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert _count(console, ApiKey) == before


def test_it_adds_a_webhook_endpoint_then_disables_it(console):
    client = console.login("it")
    page = _post(client, console, "/console/developers/webhook-endpoints", url="https://shop.example.com/hooks")
    assert page.status_code == 201 and "whsec_" in page.text
    with console.db.reader() as session:
        endpoint = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == console.merchant_a)).one()
    assert endpoint.enabled and endpoint.url == "https://shop.example.com/hooks"
    assert _post(client, console, f"/console/developers/webhook-endpoints/{endpoint.id}/disable").status_code == 303
    assert _count(console, WebhookEndpoint, id=endpoint.id, enabled=False) == 1


def test_a_webhook_url_that_is_not_one_is_shown_on_the_page(console):
    client = console.login("admin")
    page = _post(client, console, "/console/developers/webhook-endpoints", url="ftp://user:pw@shop")
    assert page.status_code == 422 and 'id="action-error"' in page.text
    assert _count(console, WebhookEndpoint) == 0


def test_it_registers_a_terminal_and_disables_it(console):
    client = console.login("it")
    page = _post(client, console, "/console/developers/terminals", terminal_id="POS00042", store_id="")
    assert page.status_code == 201
    assert re.search(r'<code id="secret">[0-9a-f]{32}</code>', page.text)  # the AES-128 MAC key, once
    assert _count(console, PosTerminal, terminal_id="POS00042", merchant_id=console.merchant_a, enabled=True) == 1
    assert _post(client, console, "/console/developers/terminals/POS00042/disable").status_code == 303
    assert _count(console, PosTerminal, terminal_id="POS00042", enabled=False) == 1


def test_a_terminal_id_of_the_wrong_shape_is_shown_on_the_page(console):
    client = console.login("it")
    page = _post(client, console, "/console/developers/terminals", terminal_id="POS-1")
    assert page.status_code == 422 and "8 letters or digits" in page.text
    assert _count(console, PosTerminal, terminal_id="POS-1") == 0


@pytest.mark.parametrize("role", ["finance", "business", "risk"])
def test_other_roles_cannot_issue_keys_add_endpoints_or_register_terminals(console, role):
    client = console.login(role)
    keys, endpoints, terminals = _count(console, ApiKey), _count(console, WebhookEndpoint), _count(console, PosTerminal)
    for path, data in (("/console/developers/api-keys", {"name": "x", "role": "admin"}),
                       ("/console/developers/webhook-endpoints", {"url": "https://evil.example.com/"}),
                       ("/console/developers/terminals", {"terminal_id": "POS00077"})):
        assert _post(client, console, path, **data).status_code == 403
    assert (_count(console, ApiKey), _count(console, WebhookEndpoint), _count(console, PosTerminal)) == (keys, endpoints, terminals)


def test_it_cannot_disable_another_merchants_terminal(console):
    from juhe.payments.terminals import register_terminal

    with console.db.session() as session, session.begin():
        theirs, _ = register_terminal(session, console.merchant_b, "POSB0001", None)
    client = console.login("it")
    assert _post(client, console, f"/console/developers/terminals/{theirs.terminal_id}/disable").status_code == 403
    assert _count(console, PosTerminal, terminal_id=theirs.terminal_id, enabled=True) == 1



def test_a_form_that_does_not_validate_is_answered_with_a_page_not_json(console):
    client = console.login("it")
    page = _post(client, console, "/console/developers/api-keys", name="x" * 101, role="business")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert 'id="form-errors"' in page.text and "name" in page.text
    api = client.post("/v1/payments", json={"amount_minor": "lots"}, headers={"Authorization": "Bearer nope"})
    assert api.headers["content-type"].startswith("application/problem+json")  # the API still answers in JSON
