"""AML cases: alerts of one account gathered for a reviewer, decided, and audited.

A case is an immutable record; every change is a function returning the changed case with one
more audit event (who, what, when, from, to), so an illegal change raises and leaves the
original exactly as it was. Decisions:

    pending ──→ escalated ──→ reported   (a suspicious-transaction report is filed)
       │            │
       └──────→ dismissed ←──┘          (with the reason it is not suspicious)

`reported` and `dismissed` are final: a closed case takes no changes at all, as the
regulator expects the record of a decision to stay as it was made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from juhe.aml.alerts import Alert
from juhe.aml.errors import AmlError

PENDING, ESCALATED, DISMISSED, REPORTED = "pending", "escalated", "dismissed", "reported"
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({ESCALATED, DISMISSED}),
    ESCALATED: frozenset({REPORTED, DISMISSED}),
    DISMISSED: frozenset(),
    REPORTED: frozenset(),
}
CLOSED = frozenset({DISMISSED, REPORTED})
TEXT_MAX = 4_000  # a comment or reason; longer belongs in an attached document
CASE_ID_HEX = 20


@dataclass(frozen=True, slots=True)
class Comment:
    at: datetime
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str  # opened | decision | owner | comment | alerts
    before: str | None
    after: str | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    account_id: str
    alerts: tuple[Alert, ...]
    owner: str
    decision: str
    opened_at: datetime
    comments: tuple[Comment, ...] = ()
    audit: tuple[AuditEvent, ...] = ()

    @property
    def evidence(self) -> tuple[str, ...]:
        """Every movement any of the case's alerts cites, each once."""
        return tuple(dict.fromkeys(movement for alert in self.alerts for movement in alert.movement_ids))

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(alert.scenario for alert in self.alerts))

    @property
    def decision_reason(self) -> str | None:
        decided = [event for event in self.audit if event.action == "decision"]
        return decided[-1].note if decided else None

    def to_json(self) -> dict:
        return {
            "case_id": self.case_id, "account_id": self.account_id, "owner": self.owner, "decision": self.decision,
            "opened_at": self.opened_at.isoformat(), "scenarios": list(self.scenarios), "evidence": list(self.evidence),
            "alerts": [alert.to_json() for alert in self.alerts],
            "comments": [{"at": c.at.isoformat(), "author": c.author, "text": c.text} for c in self.comments],
            "audit": [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "before": e.before,
                       "after": e.after, "note": e.note} for e in self.audit],
        }


def open_case(alerts: Sequence[Alert], *, owner: str, actor: str, at: datetime) -> Case:
    """One pending case for alerts of one account."""
    if not alerts:
        raise AmlError("no_alerts", "a case needs at least one alert")
    accounts = {alert.account_id for alert in alerts}
    if len(accounts) != 1:
        raise AmlError("mixed_accounts", f"a case is about one account, not {sorted(accounts)}")
    _check_person(owner, "owner")
    _check_person(actor, "actor")
    _check_time(at)
    ids = sorted(alert.alert_id for alert in alerts)
    case_id = "case_" + hashlib.sha256("\x1f".join(ids).encode()).hexdigest()[:CASE_ID_HEX]
    opened = AuditEvent(at=at, actor=actor, action="opened", before=None, after=PENDING,
                        note=f"alerts {', '.join(ids)}; owner {owner}")
    return Case(case_id=case_id, account_id=accounts.pop(), alerts=tuple(alerts), owner=owner, decision=PENDING,
                opened_at=at, audit=(opened,))


def open_cases(alerts: Iterable[Alert], *, owner: str, actor: str, at: datetime) -> list[Case]:
    """One case per account, holding all of that account's alerts (a reviewer sees the whole picture)."""
    by_account: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_account.setdefault(alert.account_id, []).append(alert)
    return [open_case(found, owner=owner, actor=actor, at=at) for _, found in sorted(by_account.items())]


def decide(case: Case, decision: str, *, actor: str, reason: str, at: datetime) -> Case:
    """Move the case to `decision`; every decision states its reason (it goes into the STR or the file)."""
    if decision not in TRANSITIONS:
        raise AmlError("unknown_decision", f"{decision!r} is not one of {', '.join(TRANSITIONS)}")
    if decision not in TRANSITIONS[case.decision]:
        raise AmlError("illegal_transition", f"a case that is {case.decision} cannot become {decision}")
    _check_change(case, actor, at)
    _check_text(reason, "reason")
    event = AuditEvent(at=at, actor=actor, action="decision", before=case.decision, after=decision, note=reason)
    return replace(case, decision=decision, audit=case.audit + (event,))


def reassign(case: Case, owner: str, *, actor: str, at: datetime) -> Case:
    _check_change(case, actor, at)
    _check_person(owner, "owner")
    if owner == case.owner:
        raise AmlError("no_change", f"the case is already owned by {owner}")
    event = AuditEvent(at=at, actor=actor, action="owner", before=case.owner, after=owner)
    return replace(case, owner=owner, audit=case.audit + (event,))


def add_comment(case: Case, text: str, *, actor: str, at: datetime) -> Case:
    _check_change(case, actor, at)
    _check_text(text, "comment")
    event = AuditEvent(at=at, actor=actor, action="comment", before=None, after=None, note=text)
    return replace(case, comments=case.comments + (Comment(at=at, author=actor, text=text),), audit=case.audit + (event,))


def add_alerts(case: Case, alerts: Sequence[Alert], *, actor: str, at: datetime) -> Case:
    """More alerts of the case's account, found while it is still open: the reviewer sees them in the same case."""
    if not alerts:
        raise AmlError("no_alerts", "give at least one alert to add")
    others = sorted({alert.account_id for alert in alerts} - {case.account_id})
    if others:
        raise AmlError("mixed_accounts", f"the case is about {case.account_id}, not {others}")
    known = {alert.alert_id for alert in case.alerts}
    added = tuple(alert for alert in alerts if alert.alert_id not in known)
    if not added:
        raise AmlError("no_change", "the case already holds these alerts")
    _check_change(case, actor, at)
    event = AuditEvent(at=at, actor=actor, action="alerts", before=None, after=None,
                       note=f"alerts {', '.join(alert.alert_id for alert in added)}")
    return replace(case, alerts=case.alerts + added, audit=case.audit + (event,))


def _check_change(case: Case, actor: str, at: datetime) -> None:
    if case.decision in CLOSED:
        raise AmlError("case_closed", f"case {case.case_id} is {case.decision} and takes no more changes")
    _check_person(actor, "actor")
    _check_time(at)
    # The audit trail reads in time order; a change dated before the last one would rewrite history.
    if at < case.audit[-1].at:
        raise AmlError("audit_out_of_order", f"{at.isoformat()} is before the case's last change {case.audit[-1].at.isoformat()}")


def _check_person(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise AmlError("invalid_case_change", f"{what} must name someone")


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise AmlError("invalid_case_change", f"the {what} must not be empty")
    if len(text) > TEXT_MAX:
        raise AmlError("invalid_case_change", f"the {what} is longer than {TEXT_MAX} characters")


def _check_time(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise AmlError("invalid_case_change", "times carry a time zone")
