"""Alert rules in the database: create, change, list, and find the one that applies.

`scope` is the caller's merchant, or None for the platform operator: a merchant sees and
changes only its own rules; rules that watch every merchant are the platform's."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, insert, or_, select, update

from juhe.db.models import Merchant, new_id
from juhe.db.pages import keyset, split
from juhe.db.types import utcnow
from juhe.monitor.models import AlertRule
from juhe.monitor.rules import (
    DEFAULT_OWNERS, RESPONSE_HOURS_DEFAULT, MonitorError, Rule, check_kind, check_owner, check_params, check_response_hours,
)

RULES = AlertRule.__table__
MERCHANTS = Merchant.__table__
CHANGEABLE = ("params", "enabled", "owner", "response_hours")
ENABLED_RULES_MAX = 1_000  # evaluated every worker round; more than this is a configuration mistake


def rule_of(row) -> Rule:
    return Rule(row.id, row.merchant_id, row.kind, dict(row.params), row.enabled, row.owner, row.response_hours)


def create_rule(
    conn: Connection, merchant_id: uuid.UUID | None, kind: str, params: dict, *,
    owner: str | None = None, response_hours: int = RESPONSE_HOURS_DEFAULT, enabled: bool = True,
) -> Rule:
    """Every field is checked before anything is written."""
    params = check_params(check_kind(kind), params)
    owner = check_owner(owner or DEFAULT_OWNERS[kind])
    check_response_hours(response_hours)
    if type(enabled) is not bool:
        raise MonitorError("invalid_rule", "enabled must be true or false")
    if merchant_id is not None and conn.scalar(select(MERCHANTS.c.id).where(MERCHANTS.c.id == merchant_id)) is None:
        raise MonitorError("merchant_not_found", f"no merchant {merchant_id}", 404)
    now = utcnow()
    rule = Rule(new_id(), merchant_id, kind, params, enabled, owner, response_hours)
    conn.execute(insert(RULES).values(
        id=rule.id, merchant_id=merchant_id, kind=kind, params=params, enabled=enabled, owner=owner,
        response_hours=response_hours, created_at=now, updated_at=now,
    ))
    return rule


def get_rule(conn: Connection, rule_id: uuid.UUID, scope: uuid.UUID | None) -> Rule:
    row = conn.execute(select(RULES).where(RULES.c.id == rule_id)).first()
    if row is None or (scope is not None and row.merchant_id != scope):
        raise MonitorError("rule_not_found", f"no alert rule {rule_id}", 404)
    return rule_of(row)


def update_rule(conn: Connection, rule_id: uuid.UUID, scope: uuid.UUID | None, changes: dict) -> Rule:
    """Change params, enabled, owner or response_hours; the kind of a rule never changes."""
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise MonitorError("invalid_rule", f"these cannot be changed: {', '.join(unknown)}")
    rule = get_rule(conn, rule_id, scope)
    values = {}
    if "params" in changes:
        values["params"] = check_params(rule.kind, changes["params"])
    if "owner" in changes:
        values["owner"] = check_owner(changes["owner"])
    if "response_hours" in changes:
        values["response_hours"] = check_response_hours(changes["response_hours"])
    if "enabled" in changes:
        if type(changes["enabled"]) is not bool:
            raise MonitorError("invalid_rule", "enabled must be true or false")
        values["enabled"] = changes["enabled"]
    if values:
        conn.execute(update(RULES).where(RULES.c.id == rule_id).values(**values, updated_at=utcnow()))
    return get_rule(conn, rule_id, scope)


def list_rules(conn: Connection, scope: uuid.UUID | None, *, limit: int, cursor: uuid.UUID | None) -> tuple[list[Rule], str | None]:
    query = select(RULES) if scope is None else select(RULES).where(RULES.c.merchant_id == scope)
    rows, next_cursor = split(conn.execute(keyset(query, RULES.c.id, limit=limit, cursor=cursor)).all(), limit)
    return [rule_of(r) for r in rows], next_cursor


def enabled_rules(conn: Connection, kinds: tuple[str, ...]) -> list[Rule]:
    query = select(RULES).where(RULES.c.enabled.is_(True), RULES.c.kind.in_(kinds)).order_by(RULES.c.id).limit(ENABLED_RULES_MAX)
    return [rule_of(r) for r in conn.execute(query)]


def applicable_rule(conn: Connection, kind: str, merchant_id: uuid.UUID | None) -> Rule | None:
    """The merchant's own rule of this kind if it has one, else the platform's (enabled or not:
    a disabled rule mutes the kind). Among several, the newest wins."""
    c = RULES.c
    owners = c.merchant_id.is_(None) if merchant_id is None else or_(c.merchant_id == merchant_id, c.merchant_id.is_(None))
    rows = conn.execute(select(RULES).where(c.kind == kind, owners).order_by(c.id.desc()).limit(ENABLED_RULES_MAX)).all()
    own = [r for r in rows if r.merchant_id is not None]
    chosen = (own or rows or [None])[0]
    return None if chosen is None else rule_of(chosen)
