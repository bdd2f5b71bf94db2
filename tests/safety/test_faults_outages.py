"""Outages ridden out: PostgreSQL restarted under load, SQLite with a full disk or read-only, the
merchant's webhook receiver down for an hour of simulated time. Each ends in the invariants of
juhe.safety.faults (nothing acknowledged lost, nothing half-posted, every webhook delivered once,
the ledger verifies); the database faults must be felt as 503 problem+json with Retry-After."""

from __future__ import annotations

import pytest

from juhe.safety import outages


def test_an_hour_without_the_merchants_receiver_is_caught_up_every_event_delivered_once():
    result = outages.receiver_down()
    assert result.checks.failed() == []
    assert result.checks.deliveries == outages.SIMULATED_EVENTS


def test_sqlite_full_then_read_only_answers_a_clear_503_and_writes_nothing_half():
    full, read_only = outages.sqlite_refusing(("full", "read_only"))
    for result, code in ((full, "storage_full"), (read_only, "database_read_only")):
        assert result.checks.failed() == [], result.name
        assert set(result.tally.codes_5xx) == {code}
        assert len(result.tally.acknowledged) >= 3


@pytest.mark.postgres
def test_postgres_restarted_under_load_answers_retryable_503s_then_succeeds():
    result = outages.postgres_restart()
    assert result.checks.failed() == []
    assert set(result.tally.codes_5xx) == {"database_unavailable"}
    assert len(result.tally.acknowledged) >= 3


def test_a_database_refusal_is_told_apart_from_a_broken_query():
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from juhe.api.errors import database_failure

    def failure(cls, message: str):
        found = database_failure(cls("INSERT …", {}, Exception(message)))
        return found and found[0]

    assert failure(OperationalError, "database or disk is full") == "storage_full"
    assert failure(OperationalError, "attempt to write a readonly database") == "database_read_only"
    assert failure(OperationalError, "database is locked") == "database_busy"
    assert failure(OperationalError, "connection to server at 127.0.0.1 failed: Connection refused") == "database_unavailable"
    assert failure(ProgrammingError, 'syntax error at or near "FROM"') is None
    assert database_failure(ValueError("no database here")) is None
