"""Channel health shared by several API processes: what one saw, every one routes on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.payments.health import BREAKER_FAILURES, REPORT_FRESH_S, ChannelHealth


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def share(db: Database, health: ChannelHealth, now=None) -> None:
    with db.session() as session, session.begin():
        health.share(session, now)


@pytest.mark.parametrize("url", ["sqlite_url", "pg_url"])
def test_a_breaker_opened_in_one_process_is_open_in_the_other(request, url):
    db = Database(request.getfixturevalue(url))
    first, second = ChannelHealth(Clock()), ChannelHealth(Clock())
    for _ in range(BREAKER_FAILURES):
        first.record("alipay", False)
    for _ in range(15):
        second.record("alipay", True)
    second.record("wechatpay", True)
    assert first.view("alipay").circuit_open and not second.view("alipay").circuit_open
    share(db, first)
    share(db, second)
    seen = second.view("alipay")
    assert seen.circuit_open  # the other process's open breaker
    assert seen.samples == BREAKER_FAILURES + 15
    assert seen.success_rate == pytest.approx((15 + 19) / (20 + 20))
    assert not second.view("wechatpay").circuit_open
    share(db, first)  # and the first learns the second's successes
    assert first.view("alipay").samples == 20 and first.view("wechatpay").samples == 1
    db.dispose()


def test_reports_of_a_stopped_process_or_a_closed_breaker_stop_counting(sqlite_url):
    db = Database(sqlite_url)
    clock = Clock()
    gone, alive = ChannelHealth(clock), ChannelHealth(Clock())
    for _ in range(BREAKER_FAILURES):
        gone.record("unionpay", False)
    long_ago = utcnow() - timedelta(seconds=REPORT_FRESH_S + 5)
    share(db, gone, long_ago)
    share(db, alive)
    assert alive.view("unionpay").samples == 0 and not alive.view("unionpay").circuit_open
    share(db, gone)  # fresh again: counted, breaker open for its cooldown …
    share(db, alive)
    assert alive.view("unionpay").circuit_open
    clock.now += 60  # … and shut once the cooldown has passed there
    share(db, gone)
    share(db, alive)
    assert not alive.view("unionpay").circuit_open and alive.view("unionpay").samples == BREAKER_FAILURES
    db.dispose()
