"""The feature store: velocity windows count every attempt, profiles learn only from successes,
everything stays bounded and consistent under threads."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from juhe.risk import store as store_module
from juhe.risk.facts import PaymentFacts
from juhe.risk.geo import RegionDirectory
from juhe.risk.store import InMemoryFeatureStore

T0 = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)
REGIONS = RegionDirectory()


def payment(n: int = 0, *, at: datetime = T0, amount: int = 1_000, payer: str = "p1", device: str = "d1",
            card: str = "c1", currency: str = "CNY", merchant: str = "m1") -> PaymentFacts:
    return PaymentFacts(f"t{n}", payer, merchant, "grocery", amount, currency, at, card, device, "58.16.1.2", 39.9, 116.4)


def attempt(store: InMemoryFeatureStore, p: PaymentFacts) -> None:
    store.record_attempt(p, REGIONS.place(p.ip, p.latitude, p.longitude), p.occurred_at)


def lookup(store: InMemoryFeatureStore, p: PaymentFacts):
    return store.lookup(p, REGIONS.place(p.ip, p.latitude, p.longitude), 12, p.occurred_at)


def test_velocity_counts_and_sums_per_window():
    store = InMemoryFeatureStore()
    offsets_s = [0, 50, 1_000, 3_000, 30_000]  # relative to now - 30,000 s
    now = T0 + timedelta(seconds=30_000)
    for i, offset in enumerate(offsets_s):
        attempt(store, payment(i, at=T0 + timedelta(seconds=offset), amount=100 * (i + 1)))
    totals = lookup(store, payment(9, at=now)).velocity["payer"]
    # 1 min: only the attempt at "now"; 1 h: the last one; 24 h: all five.
    assert totals.count == (1, 1, 5)
    assert totals.sum_minor == (500, 500, 1_500)
    later = lookup(store, payment(10, at=now + timedelta(seconds=61))).velocity["payer"]
    assert later.count == (0, 1, 5)
    next_day = lookup(store, payment(11, at=T0 + timedelta(days=1, seconds=100))).velocity["payer"]
    assert next_day.count == (0, 0, 3)  # the two attempts more than a day old left the 24 h window
    assert next_day.sum_minor == (0, 0, 1_200)


def test_window_edges_are_exclusive_of_the_span_start():
    store = InMemoryFeatureStore()
    attempt(store, payment(0, at=T0))
    assert lookup(store, payment(1, at=T0 + timedelta(seconds=59))).velocity["payer"].count[0] == 1
    assert lookup(store, payment(2, at=T0 + timedelta(seconds=60))).velocity["payer"].count[0] == 0


def test_velocity_is_per_key_kind_and_per_currency():
    store = InMemoryFeatureStore()
    attempt(store, payment(0, card="c1", device="d1"))
    attempt(store, payment(1, card="c2", device="d1"))
    attempt(store, payment(2, card="c1", device="d1", currency="USD"))
    history = lookup(store, payment(3, card="c1", device="d1"))
    assert history.velocity["card"].count == (1, 1, 1)  # the USD attempt is not summed with CNY
    assert history.velocity["device"].count == (2, 2, 2)
    assert history.velocity["payer_merchant"].count == (2, 2, 2)


def test_a_key_saturates_at_its_bound_and_stays_consistent(monkeypatch):
    monkeypatch.setattr(store_module, "EVENTS_PER_KEY_MAX", 5)
    store = InMemoryFeatureStore()
    for i in range(8):
        attempt(store, payment(i, at=T0 + timedelta(seconds=i), amount=10 + i))
    totals = lookup(store, payment(99, at=T0 + timedelta(seconds=8))).velocity["payer"]
    assert totals.count == (5, 5, 5)
    assert totals.sum_minor == (sum(range(13, 18)),) * 3  # the five most recent amounts


def test_device_payers_counts_distinct_payers_within_a_day():
    store = InMemoryFeatureStore()
    for i, payer in enumerate(["a", "b", "a", "c"]):
        attempt(store, payment(i, payer=payer, device="shared", at=T0 + timedelta(minutes=i)))
    assert lookup(store, payment(9, payer="a", device="shared", at=T0 + timedelta(hours=1))).device_payers_24h == 3
    assert lookup(store, payment(9, payer="d", device="shared", at=T0 + timedelta(hours=1))).device_payers_24h == 4
    assert lookup(store, payment(9, payer="d", device="shared", at=T0 + timedelta(days=2))).device_payers_24h == 1


def test_profile_learns_only_from_successful_payments():
    store = InMemoryFeatureStore()
    p = payment(0, device="fraud-phone", amount=90_000)
    attempt(store, p)  # blocked: never confirmed
    history = lookup(store, payment(1, device="fraud-phone"))
    assert not history.known_device and history.payer_payments == 0 and history.usual_amount_minor is None
    place = REGIONS.place(p.ip, p.latitude, p.longitude)
    for i, amount in enumerate([1_000, 3_000, 2_000]):
        store.record_success(payment(10 + i, amount=amount, device="own-phone"), place, 12, T0)
    history = lookup(store, payment(2, device="own-phone"))
    assert history.known_device and history.known_card and history.known_region
    assert history.payer_payments == 3 and history.usual_amount_minor == 2_000
    assert history.hour_share == 1.0
    assert not lookup(store, payment(3, device="fraud-phone")).known_device


def test_password_reset_is_remembered_per_payer():
    store = InMemoryFeatureStore()
    store.record_password_reset("p1", T0)
    store.record_password_reset("p1", T0 + timedelta(hours=1))
    assert lookup(store, payment(0)).password_reset_at == T0 + timedelta(hours=1)
    assert lookup(store, payment(1, payer="p2")).password_reset_at is None


def test_concurrent_attempts_are_all_counted():
    store = InMemoryFeatureStore()
    threads = [threading.Thread(target=lambda k=k: [attempt(store, payment(k * 1000 + i, amount=7)) for i in range(500)])
               for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    totals = lookup(store, payment(99_999)).velocity["payer"]
    assert totals.count == (2_000, 2_000, 2_000)
    assert totals.sum_minor == (14_000, 14_000, 14_000)
