"""The database feature store: the in-memory store's answers from time buckets, in the caller's
transaction (it never commits on its own), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from juhe.db.engine import Database
from juhe.db.models import load_all_models
from juhe.risk.dbstore import DbFeatureStore, bound_session, purge_expired
from juhe.risk.facts import PaymentFacts
from juhe.risk.geo import RegionDirectory
from juhe.risk.models import RiskDevicePayer, RiskVelocityBucket
from juhe.risk.store import InMemoryFeatureStore

T0 = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)  # a whole hour: every grain's bucket starts at T0
REGIONS = RegionDirectory()


def payment(n: int = 0, *, at: datetime = T0, amount: int = 1_000, payer: str = "p1", device: str = "d1",
            card: str = "c1", currency: str = "CNY", merchant: str = "m1") -> PaymentFacts:
    return PaymentFacts(f"t{n}", payer, merchant, "grocery", amount, currency, at, card, device, "58.16.1.2", 39.9, 116.4)


@pytest.fixture(params=["sqlite_url", "pg_url"])
def store(request):
    load_all_models()
    db = Database(request.getfixturevalue(request.param))
    yield DbFeatureStore(db)
    db.dispose()


def place(p):
    return REGIONS.place(p.ip, p.latitude, p.longitude)


def attempt(store, p):
    with store.transaction():
        store.record_attempt(p, place(p), p.occurred_at)


def succeed(store, p, hour: int = 12):
    with store.transaction():
        store.record_attempt(p, place(p), p.occurred_at)
        store.record_success(p, place(p), hour, p.occurred_at)


def lookup(store, p, hour: int = 12):
    with store.transaction():
        return store.lookup(p, place(p), hour, p.occurred_at)


def test_velocity_counts_and_sums_per_window_from_buckets(store):
    for i, offset_s in enumerate([0, 1_000, 3_000 + 1_800, 30_000 - 5]):
        attempt(store, payment(i, at=T0 + timedelta(seconds=offset_s), amount=100 * (i + 1)))
    totals = lookup(store, payment(9, at=T0 + timedelta(seconds=30_000))).velocity["payer"]
    assert totals.count == (1, 1, 4)  # 5 s ago; within the hour; all four within the day
    assert totals.sum_minor == (400, 400, 1_000)
    later = lookup(store, payment(10, at=T0 + timedelta(seconds=30_000 + 75))).velocity["payer"]
    assert later.count == (0, 1, 4)  # the 1-minute window reaches back at most 70 s
    next_day = lookup(store, payment(11, at=T0 + timedelta(days=1, minutes=90))).velocity["payer"]
    assert next_day.count == (0, 0, 2)  # T0's first hour left; the one at 1 h 20 min is in a bucket still overlapping
    assert next_day.sum_minor == (0, 0, 700)
    assert lookup(store, payment(12, at=T0 + timedelta(days=1, hours=2))).velocity["payer"].count == (0, 0, 1)


def test_buckets_never_count_less_than_the_exact_windows(store):
    memory = InMemoryFeatureStore()
    at = T0 + timedelta(seconds=7)
    for i in range(40):
        at += timedelta(seconds=37 * (i % 5) + 3)
        p = payment(i, at=at, amount=100 + i, card=f"c{i % 3}")
        for s in (memory, store):
            if s is memory:
                s.record_attempt(p, place(p), at)
            else:
                attempt(s, p)
        probe = payment(100 + i, at=at + timedelta(seconds=20), card=f"c{i % 3}")
        exact, bucketed = memory.lookup(probe, place(probe), 12, probe.occurred_at), lookup(store, probe)
        for kind in ("payer", "card", "device", "merchant"):
            assert all(b >= e for b, e in zip(bucketed.velocity[kind].count, exact.velocity[kind].count)), kind
            assert bucketed.velocity[kind].count[2] == exact.velocity[kind].count[2]  # all within one day: exact


def test_velocity_is_per_key_kind_and_per_currency(store):
    attempt(store, payment(0, card="c1", device="d1"))
    attempt(store, payment(1, card="c2", device="d1"))
    attempt(store, payment(2, card="c1", device="d1", currency="USD"))
    history = lookup(store, payment(3, card="c1", device="d1"))
    assert history.velocity["card"].count == (1, 1, 1)
    assert history.velocity["device"].count == (2, 2, 2)
    assert history.velocity["merchant"].count == (2, 2, 2)  # summed over its shards
    assert history.velocity["merchant_round"].count == (0, 0, 0)  # 10.00 is not a round amount


def test_a_profile_learns_only_from_successes(store):
    attempt(store, payment(0, device="thief-phone", card="stolen"))
    first = lookup(store, payment(1, device="thief-phone", card="stolen"))
    assert (first.payer_payments, first.known_device, first.known_card, first.usual_amount_minor) == (0, False, False, None)
    succeed(store, payment(2, amount=1_000))
    succeed(store, payment(3, amount=3_000, at=T0 + timedelta(minutes=5)))
    succeed(store, payment(4, amount=2_000, at=T0 + timedelta(minutes=9)))
    history = lookup(store, payment(5, at=T0 + timedelta(minutes=10)))
    assert history.payer_payments == 3 and history.payer_first_seen == T0
    assert history.known_device and history.known_card and history.known_region
    assert not lookup(store, payment(6, device="thief-phone", at=T0 + timedelta(minutes=10))).known_device
    assert history.usual_amount_minor == 2_000 and history.hour_share == 1.0
    assert history.last_at == T0 + timedelta(minutes=9) and history.last_latitude == 39.9


def test_distinct_payers_per_device_over_a_day(store):
    for n in range(3):
        attempt(store, payment(n, payer=f"p{n}", device="shared"))
    assert lookup(store, payment(5, payer="p0", device="shared")).device_payers_24h == 3
    assert lookup(store, payment(6, payer="p9", device="shared")).device_payers_24h == 4  # this payer included
    assert lookup(store, payment(7, payer="p9", device="shared", at=T0 + timedelta(days=1))).device_payers_24h == 1


def test_password_resets_are_kept_without_making_a_profile(store):
    with store.transaction():
        store.record_password_reset("p1", T0 - timedelta(hours=1))
    history = lookup(store, payment(0))
    assert history.password_reset_at == T0 - timedelta(hours=1)
    assert history.payer_payments == 0 and history.payer_first_seen is None and not history.known_device


def test_identifiers_the_request_did_not_give_are_not_stored(store):
    attempt(store, payment(0, device="unknown:t0", card="c1"))
    with store.db.reader() as session:
        keys = session.scalars(select(RiskVelocityBucket.key)).all()
        devices = session.scalar(select(func.count()).select_from(RiskDevicePayer))
    assert keys and not any("unknown:" in key for key in keys) and devices == 0
    assert lookup(store, payment(1, device="unknown:t1")).device_payers_24h == 1


def test_the_store_writes_in_the_callers_transaction_and_commits_nothing(store):
    with store.db.session() as session:
        session.begin()
        with bound_session(session):
            store.record_attempt(payment(0), place(payment(0)), T0)
            assert store.lookup(payment(1), place(payment(1)), 12, T0).velocity["payer"].count == (1, 1, 1)
        session.rollback()  # the payment's transaction failed: its attempt was never counted
    assert lookup(store, payment(2)).velocity["payer"].count == (0, 0, 0)
    with pytest.raises(RuntimeError, match="caller's session"):
        store.lookup(payment(3), place(payment(3)), 12, T0)


def test_purge_deletes_only_what_no_window_reaches(store):
    attempt(store, payment(0, at=T0))
    attempt(store, payment(1, at=T0 + timedelta(hours=20)))
    keys = 6  # payer, card, device, ip, payer_merchant, merchant (10.00 is not round)
    soon = T0 + timedelta(hours=20, seconds=30)
    with store.db.session() as session, session.begin():
        assert purge_expired(session, soon) == keys * 2  # T0's 10 s and 5 min buckets; its hour bucket stays
    assert lookup(store, payment(2, at=soon)).velocity["payer"].count == (1, 1, 2)
    later = T0 + timedelta(hours=25, seconds=1)
    with store.db.session() as session, session.begin():
        assert purge_expired(session, later) == keys * 3  # T0's hour; the later attempt's 10 s and 5 min
    history = lookup(store, payment(3, at=later))
    assert history.velocity["payer"].count == (0, 0, 1) and history.device_payers_24h == 1


def test_a_success_recorded_meanwhile_elsewhere_is_not_lost(store):
    succeed(store, payment(0, amount=1_000))
    with store.db.session() as session:
        with session.begin(), bound_session(session):
            store.lookup(payment(1), place(payment(1)), 12, T0)  # reads the profile: one payment
        succeed(store, payment(2, amount=2_000, device="d2"))  # another process, committed in between
        with session.begin(), bound_session(session):
            store.record_success(payment(1, amount=3_000, device="d3"), place(payment(1)), 12, T0)
    history = lookup(store, payment(4, device="d2"))
    assert history.payer_payments == 3 and history.known_device and history.usual_amount_minor == 2_000
