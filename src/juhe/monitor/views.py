"""JSON shapes of the monitor's figures, rules, alerts and incidents, for the API and the
stream alike. Amounts stay integers of minor units; rates are decimal strings, exact."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from decimal import Decimal

from juhe.monitor.alerts import Alert
from juhe.monitor.figures import BalanceFigure, FeeFigure, FlowFigure, Window
from juhe.monitor.incidents import Incident, IncidentEvent, is_overdue
from juhe.monitor.rules import Rule


def plain(value):
    """A dataclass field as JSON: ids and rates as strings, times in ISO 8601."""
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def record_view(record) -> dict:
    return {field.name: plain(getattr(record, field.name)) for field in dataclasses.fields(record)}


def window_view(window: Window) -> dict:
    return {"from": window.start.isoformat(), "to": window.end.isoformat()}


def figures_view(window: Window | None, figures: list[FlowFigure] | list[FeeFigure] | list[BalanceFigure]) -> dict:
    body = {"data": [record_view(f) for f in figures]}
    return body if window is None else {"window": window_view(window), **body}


def balance_totals(figures: list[BalanceFigure]) -> list[dict]:
    """Per group and currency, the sum over the rows shown."""
    totals: dict[tuple[str, str], list[int]] = {}
    for f in figures:
        sums = totals.setdefault((f.group, f.currency), [0, 0, 0])
        sums[0] += f.posted_minor
        sums[1] += f.held_minor
        sums[2] += f.available_minor
    return [{"group": g, "currency": c, "posted_minor": p, "held_minor": h, "available_minor": a}
            for (g, c), (p, h, a) in sorted(totals.items())]


def channel_totals(flows: list[FlowFigure]) -> list[dict]:
    """Flows summed over merchants, per channel and currency: the console's live tiles."""
    totals: dict[tuple[str, str], list[int]] = {}
    for f in flows:
        sums = totals.setdefault((f.channel or "", f.currency), [0, 0, 0, 0, 0])
        for i, n in enumerate((f.payments_count, f.amount_minor, f.succeeded_count, f.failed_count, f.closed_count)):
            sums[i] += n
    keys = ("payments_count", "amount_minor", "succeeded_count", "failed_count", "closed_count")
    return [{"channel": channel or None, "currency": currency, **dict(zip(keys, sums))}
            for (channel, currency), sums in sorted(totals.items())]


def rule_view(rule: Rule) -> dict:
    return record_view(rule)


def alert_view(alert: Alert) -> dict:
    return record_view(alert)


def incident_view(incident: Incident, now: datetime, events: list[IncidentEvent] | None = None) -> dict:
    body = {**record_view(incident), "overdue": is_overdue(incident.status, incident.due_at, now)}
    if events is not None:
        body["events"] = [record_view(e) for e in events]
    return body
