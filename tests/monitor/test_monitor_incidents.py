"""Incidents: open → acknowledged → resolved with an audit trail; refusals change nothing;
deadlines make unresolved incidents overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from juhe.db.types import utcnow
from juhe.monitor import MonitorError, raise_alert
from juhe.monitor import incidents


def _raise(world, merchant, key: str, hours_ago: float = 0):
    with world.conn() as conn:
        alert = raise_alert(conn, "reserve_mismatch", merchant, "reserve:icbc CNY", {"difference_minor": 5}, key,
                            now=utcnow() - timedelta(hours=hours_ago))
    return alert.incident_id


def _move(world, incident_id, scope, wanted, actor="api_key:finance", comment=""):
    with world.conn() as conn:
        return incidents.move_incident(conn, incident_id, scope, wanted, actor, comment, utcnow())


def _trail(world, incident_id):
    with world.db.reader() as session:
        return incidents.incident_events(session.connection(), incident_id)


def test_incident_is_acknowledged_then_resolved_with_an_audit_trail(world_any):
    w = world_any
    incident_id = _raise(w, w.a, "d1")
    acknowledged = _move(w, incident_id, w.a, "acknowledged", "api_key:risk-1", "looking at the bank statement")
    assert acknowledged.status == "acknowledged" and acknowledged.acknowledged_at is not None
    resolved = _move(w, incident_id, None, "resolved", "platform", "bank fee booked late; corrected")
    assert resolved.status == "resolved" and resolved.resolved_at >= resolved.acknowledged_at
    trail = [(e.from_status, e.to_status, e.actor, e.comment) for e in _trail(w, incident_id)]
    assert trail == [
        (None, "open", "system:monitor", ""),
        ("open", "acknowledged", "api_key:risk-1", "looking at the bank statement"),
        ("acknowledged", "resolved", "platform", "bank fee booked late; corrected"),
    ]


@pytest.mark.parametrize("steps, wanted", [((), "resolved"), (("acknowledged",), "acknowledged"),
                                           (("acknowledged", "resolved"), "acknowledged")])
def test_illegal_transitions_are_refused_and_change_nothing(world, steps, wanted):
    incident_id = _raise(world, world.a, "d2")
    for step in steps:
        _move(world, incident_id, world.a, step, comment="done")
    before = _trail(world, incident_id)
    with pytest.raises(MonitorError) as caught:
        _move(world, incident_id, world.a, wanted, comment="again")
    assert caught.value.code == "illegal_transition" and caught.value.status == 409
    assert _trail(world, incident_id) == before


def test_another_merchant_cannot_see_or_move_an_incident(world):
    incident_id = _raise(world, world.a, "d3")
    with pytest.raises(MonitorError) as caught:
        _move(world, incident_id, world.b, "acknowledged")
    assert caught.value.code == "incident_not_found" and caught.value.status == 404
    assert [e.to_status for e in _trail(world, incident_id)] == ["open"]


def test_unresolved_incidents_past_their_deadline_are_overdue(world):
    late = _raise(world, world.a, "d4", hours_ago=25)  # the default deadline is 24 h
    late_but_resolved = _raise(world, world.a, "d5", hours_ago=30)
    _move(world, late_but_resolved, world.a, "acknowledged")
    _move(world, late_but_resolved, world.a, "resolved", comment="reconciled")
    on_time = _raise(world, world.a, "d6", hours_ago=1)
    now = utcnow()
    with world.db.reader() as session:
        conn = session.connection()
        overdue, _ = incidents.list_incidents(conn, world.a, now=now, overdue=True, limit=50, cursor=None)
        not_overdue, _ = incidents.list_incidents(conn, world.a, now=now, overdue=False, limit=50, cursor=None)
        counts = incidents.unresolved_counts(conn, world.a, now)
        other = incidents.unresolved_counts(conn, world.b, now)
    assert [i.id for i in overdue] == [late]
    assert {i.id for i in not_overdue} == {late_but_resolved, on_time}
    assert counts == {"open": 2, "acknowledged": 0, "overdue": 1}
    assert other == {"open": 0, "acknowledged": 0, "overdue": 0}
