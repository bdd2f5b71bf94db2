"""Tenant isolation: every operation of the OpenAPI document that takes an object id, called on one
merchant's real objects with the other merchant's keys and with each of the owner's roles the
document does not let in — every answer 403 or 404, and the database unchanged.

The operations come from the live document, so a new route is walked the day it exists; a new kind
of id fails loudly until OBJECT_TABLES says which table holds it."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy import Connection, select, text

from juhe.api.openapi import ROLES_KEY
from juhe.db.models import Base, load_all_models

ROLES = ("admin", "finance", "it", "business", "risk")
REFUSED = (403, 404)
# (path prefix, parameter) → (table, id column); the first prefix that matches wins.
OBJECT_TABLES: list[tuple[str, str, str, str]] = [
    ("/v1/bnpl/", "order_id", "bnpl_orders", "id"),
    ("/v1/orders/", "order_id", "b2b_orders", "id"),
    ("/v1/scf/", "order_id", "scf_receivables", "order_id"),  # a receivable is named by its order
    ("/v1/aml/", "case_id", "aml_cases", "id"),
    ("/v1/reconciliations/", "case_id", "recon_cases", "id"),
    ("/v1/monitor/", "rule_id", "alert_rules", "id"),
    ("", "key_id", "api_keys", "id"),
    ("", "account_id", "ledger_accounts", "id"),
    ("", "txn_id", "ledger_transactions", "id"),
    ("", "hold_id", "ledger_transactions", "id"),
    ("", "payment_id", "payments", "id"),
    ("", "refund_id", "refunds", "id"),
    ("", "line_id", "bnpl_lines", "id"),
    ("", "repayment_id", "bnpl_repayments", "id"),
    ("", "mandate_id", "sub_mandates", "id"),
    ("", "sub_id", "subscriptions", "id"),
    ("", "store_id", "stores", "id"),
    ("", "code_id", "qr_codes", "id"),
    ("", "plan_id", "installment_plans", "id"),
    ("", "terminal_id", "pos_terminals", "terminal_id"),
    ("", "batch_id", "transfer_batches", "id"),
    ("", "quote_id", "fx_quotes", "id"),
    ("", "endpoint_id", "webhook_endpoints", "id"),
    ("", "delivery_id", "webhook_deliveries", "id"),
    ("", "event_id", "webhook_events", "id"),
    ("", "incident_id", "monitor_incidents", "id"),
    ("", "settlement_id", "settlement_batches", "id"),
    ("", "screening_id", "aml_screenings", "id"),
    ("", "invoice_id", "invoices", "id"),
    ("", "financing_id", "scf_financings", "id"),
]
# Refused attempts are written to the audit trail on purpose (api/audit_trail.py): its tables may grow.
AUDIT_TABLES = {"audit_records", "audit_chain_head"}
# Parameters that name no merchant's object: a platform-wide model version, a file type.
NOT_OBJECTS = {"version", "file_type"}
# Creations whose rules a body generated from the document would not meet (create_examples).
CREATION_BODIES = {
    "/v1/api-keys": {"name": "reporting", "roles": ["finance"]},
    "/v1/accounts": {"code": "payable:petty-cash", "currency": "CNY"},
    "/v1/terminals": {"terminal_id": "SAFE0001"},
    "/v1/webhooks/endpoints": {"url": "https://shop.example.com/hooks"},
}


@dataclass
class IsolationReport:
    operations: int = 0  # operations with an object id in their path
    with_real_object: int = 0  # of those, called on an object the owner really has
    calls: int = 0
    leaks: list[str] = field(default_factory=list)  # "METHOD path as caller: status"
    changed_tables: list[str] = field(default_factory=list)

    @property
    def figures(self) -> dict:
        return {"operations": self.operations, "operations_with_real_object": self.with_real_object,
                "calls": self.calls, "leaks": len(self.leaks), "changed_tables": len(self.changed_tables)}


def object_table(path: str, param: str) -> tuple[str, str]:
    for prefix, name, table, column in OBJECT_TABLES:
        if name == param and path.startswith(prefix):
            return table, column
    raise LookupError(f"no table is known for {{{param}}} in {path}: add it to OBJECT_TABLES")


def owned_id(conn: Connection, merchant_id: str, path: str, param: str) -> str | None:
    table, column = object_table(path, param)
    merchant = uuid.UUID(merchant_id)
    row = conn.execute(text(f"SELECT {column} FROM {table} WHERE merchant_id IN (:hex, :dashed) LIMIT 1"),
                       {"hex": merchant.hex, "dashed": str(merchant)}).first()
    return None if row is None else str(_as_uuid(row[0]))


def _as_uuid(value):
    try:
        return uuid.UUID(str(value)) if not isinstance(value, uuid.UUID) else value
    except ValueError:
        return value


def fingerprint(conn: Connection) -> dict[str, str]:
    """A hash of every table's rows: two equal fingerprints mean nothing was written."""
    load_all_models()
    prints = {}
    for table in Base.metadata.sorted_tables:
        digest = hashlib.sha256()
        for row in conn.execute(select(table)).all():
            digest.update(repr(tuple(row)).encode())
        prints[table.name] = digest.hexdigest()
    return prints


def walk(client, document: dict, conn_factory, owner: dict, intruder: dict) -> IsolationReport:
    """`owner`/`intruder`: {"id", "api_keys": role → key}. `conn_factory()` opens a read connection."""
    report = IsolationReport()
    with conn_factory() as conn:
        before = fingerprint(conn)
        targets = list(_targets(document, conn, owner["id"], report))
    for method, path, url, operation in targets:
        body = example(operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"), document)
        for caller, key in _callers(operation, owner, intruder):
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex}
            answer = client.request(method, url, headers=headers, json=body, params=_query(operation, document))
            report.calls += 1
            if answer.status_code not in REFUSED:
                report.leaks.append(f"{method} {path} as {caller}: {answer.status_code}")
    with conn_factory() as conn:
        after = fingerprint(conn)
    report.changed_tables = sorted(t for t in before if before[t] != after.get(t) and t not in AUDIT_TABLES)
    return report


def create_examples(client, document: dict, owner: dict, bodies: dict[str, dict] | None = None) -> int:
    """Let the owner create one of everything the document can create from a small example body (its
    admin key; `bodies` by path where a generated one would not do), so that more operations are
    walked on a real object; returns how many were made."""
    made, bodies = 0, bodies or {}
    for path, item in document["paths"].items():
        operation = item.get("post")
        if operation is None or "{" in path or "links" not in operation["responses"].get("201", {}):
            continue
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        headers = {"Authorization": f"Bearer {owner['api_keys']['admin']}", "Idempotency-Key": uuid.uuid4().hex}
        made += client.post(path, headers=headers, json=bodies.get(path) or example(schema, document)).status_code == 201
    return made


def _targets(document: dict, conn: Connection, owner_id: str, report: IsolationReport):
    for path, item in document["paths"].items():
        params = re.findall(r"{([^}]+)}", path)
        if not params:
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            report.operations += 1
            values, real = {}, True
            for param in params:
                found = _not_an_object(operation, param) if param in NOT_OBJECTS else owned_id(conn, owner_id, path, param)
                real = real and (found is not None or param in NOT_OBJECTS)
                values[param] = found or str(uuid.uuid4())
            report.with_real_object += real
            yield method.upper(), path, path.format(**values), operation


def _not_an_object(operation: dict, param: str) -> str:
    schema = next(p.get("schema", {}) for p in operation.get("parameters", []) if p["name"] == param)
    return str((schema.get("enum") or ["v1"])[0])


def _callers(operation: dict, owner: dict, intruder: dict):
    for role in ROLES:
        yield f"other merchant's {role}", intruder["api_keys"][role]
    allowed = operation.get(ROLES_KEY, ["*"])
    if "*" not in allowed:
        for role in ROLES:
            if role not in allowed:
                yield f"owner's {role}", owner["api_keys"][role]


def _query(operation: dict, document: dict) -> dict:
    return {p["name"]: example(p.get("schema"), document) for p in operation.get("parameters", [])
            if p["in"] == "query" and p.get("required")}


def example(schema: dict | None, document: dict, depth: int = 0):
    """A small instance of `schema` that passes validation, so that a refusal is the handler's."""
    if schema is None or depth > 8:
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(document["components"]["schemas"][name], document, depth + 1)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            options = [s for s in schema[combined] if s.get("type") != "null"] or schema[combined]
            return example(options[0], document, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("default") not in (None, ""):  # an empty default may be what a rule refuses
        return schema["default"]
    return _example_of_type(schema, document, depth)


def _example_of_type(schema: dict, document: dict, depth: int):
    kind = schema.get("type", "object")
    if kind == "object":
        properties = schema.get("properties", {})
        # With nothing required (an optional body), say everything: a handler may still want some of it.
        names = schema.get("required") or list(properties)
        return {name: example(properties[name], document, depth + 1) for name in names}
    if kind == "array":
        return [example(schema.get("items"), document, depth + 1) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "boolean":
        return False
    return _example_string(schema)


def _example_string(schema: dict) -> str:
    formats = {"uuid": str(uuid.uuid4()), "date": "2026-12-01", "date-time": "2026-12-01T08:00:00Z",
               "uri": "https://example.com/hook", "email": "a@example.com"}
    if schema.get("format") in formats:
        return formats[schema["format"]]
    length = max(schema.get("minLength", 1), 1)
    return "CNY" if schema.get("pattern") == "^[A-Z]{3}$" else "a" * length
