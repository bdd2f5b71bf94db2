"""SIGKILL of the API (and the worker inside it) at each named crash point and 50 times at random
while merchants pay: no acknowledged payment lost, nothing half-posted, every webhook event
delivered once, the ledger verifies, and reconciliation and settlement crashed mid-way and run
again give the same books. `juhe prove` runs it with more kills."""

from __future__ import annotations

import pytest

from juhe.safety import books, crashpoints, faults


def test_an_armed_point_is_parsed_and_a_misspelt_one_refused():
    assert crashpoints.armed_points("payment.booked, webhook.sent@3") == {"payment.booked": 1, "webhook.sent": 3}
    assert crashpoints.armed_points(None) == {}
    with pytest.raises(ValueError, match="no crash point 'payment.bookd'"):
        crashpoints.armed_points("payment.bookd")
    with pytest.raises(ValueError, match="counts hits from 1"):
        crashpoints.armed_points("payment.booked@0")


def test_crash_points_and_50_random_kills_lose_nothing_acknowledged_and_break_no_invariant():
    result = faults.run(kills=50)
    assert result.points == dict.fromkeys(faults.PAYMENT_POINTS + ("subscription.cycle",) + books.book_points(), True)
    assert result.kills == 50 + len(result.points)
    assert result.checks.failed() == []
    assert result.checks.acknowledged_lost == 0
    assert result.tally.unclear_5xx == 0, result.tally.codes_5xx  # down is no answer at all; a 5xx says what and when
    assert len(result.tally.acknowledged) >= 50 and len(result.tally.seen_succeeded) >= 20
    assert result.checks.deliveries >= len(result.tally.seen_succeeded)  # payment.succeeded each, and failures
