"""The risk engine's memory: velocity per payer, card, device and IP, and each payer's habits.

Two kinds of state, written at two moments:

- Velocity (counts and sums over 1 min / 1 h / 24 h) counts every *attempt*, allowed or
  not: a fraudster's blocked tries are exactly the burst that must stay visible.
- A payer's profile (known devices, cards and regions, usual amount, usual hours, last
  location) learns only from *successful* payments (allowed, or stepped up and verified),
  so that a blocked fraudster's phone never becomes a "known device" of the victim.

`FeatureStore` is the protocol the engine needs; `InMemoryFeatureStore` keeps everything in
bounded lists, deques and dicts under one lock (per process): the offline tools (train, evaluate,
replay). `juhe.risk.dbstore.DbFeatureStore` implements the same four methods in the database, for
several processes. Windows are measured back from `now`; events are expected in roughly
increasing time (a late event is kept, but cannot reopen windows already evicted).
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter, OrderedDict, deque
from itertools import accumulate
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from juhe.money import exponent
from juhe.risk.facts import PaymentFacts
from juhe.risk.geo import Place

WINDOWS: tuple[tuple[str, int], ...] = (("1m", 60), ("1h", 3600), ("24h", 86_400))
VELOCITY_KEYS = ("payer", "card", "device", "ip", "payer_merchant", "merchant", "merchant_round", "terminal",
                 "terminal_small")
# Day buckets over a month and a bit: spending habits per payer, and per terminal, store and merchant
# the payments and the fraud reported on them (by the day the payment happened, written when the
# report arrives: a decision sees only the reports received before it).
DAY_S = 86_400
LABEL_DELAY_DAYS = 7  # fraud is learned about a week late: windows of confirmed-fraud rates end this long ago
DAY_WINDOWS = (1, 7, 30)
DAYS_KEPT = LABEL_DELAY_DAYS + DAY_WINDOWS[-1] + 2  # day offsets 0 (today) .. DAYS_KEPT - 1
SCOPES = ("terminal", "store", "merchant")  # where a compromise shows: every card paying there
DAY_KINDS = ("payer", *SCOPES)  # attempts per day
FRAUD_KINDS = tuple(f"{scope}_fraud" for scope in SCOPES)  # confirmed fraud per day of the payment
SMALL_AMOUNT_MAJOR = 10  # card testing: tiny authorisations (10.00 or less) to see whether a card works
EVENTS_PER_KEY_MAX = 4096  # attempts kept per key within 24 h; beyond it counts saturate (far above any rule)
PROFILE_ITEMS_MAX = 16  # known devices / cards / regions remembered per payer (least recently used go)
AMOUNTS_KEPT = 50  # recent successful amounts per payer and currency, for the usual amount
KEYS_MAX = 2_000_000  # distinct keys per kind before the least recently written are forgotten


# Plain (not frozen) slotted records: built on every payment, and frozen ones cost a setattr per field.
@dataclass(slots=True)
class WindowTotals:
    count: tuple[int, int, int]  # attempts in 1 min, 1 h, 24 h (before this payment)
    sum_minor: tuple[int, int, int]


@dataclass(slots=True)
class History:
    """What the store knows before this payment; `features.compute` turns it into features."""

    velocity: dict[str, WindowTotals]  # by VELOCITY_KEYS
    device_payers_24h: int  # distinct payers on this device in 24 h, this payment's payer included
    payer_payments: int  # successful payments on record
    payer_first_seen: datetime | None
    usual_amount_minor: int | None  # median of recent successful amounts in this currency
    known_device: bool
    known_card: bool
    known_region: bool
    hour_share: float | None  # share of successful payments within ±1 h of this local hour
    last_at: datetime | None
    last_latitude: float | None
    last_longitude: float | None
    password_reset_at: datetime | None
    days: dict[str, DayTotals] = field(default_factory=dict)  # by DAY_KINDS + FRAUD_KINDS
    under_review: bool = False  # its terminal, store or merchant is under step-up for compromise until reviewed


class FeatureStore(Protocol):
    def lookup(self, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> History: ...

    def record_attempt(self, payment: PaymentFacts, place: Place, now: datetime) -> None: ...

    def record_success(self, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> None: ...

    def record_password_reset(self, payer_id: str, at: datetime) -> None: ...

    def record_fraud_report(self, payment: PaymentFacts, delta: int) -> None: ...

    def scope_days(self, payment: PaymentFacts, now: datetime) -> dict[str, DayTotals]: ...

    def open_reviews(self, jumps: dict[str, dict], merchant_id: str, now: datetime) -> list[str]: ...

    def close_review(self, key: str, now: datetime, closed_by: str = "replay", outcome: str = "") -> bool: ...


def velocity_keys(payment: PaymentFacts, round_amount: bool) -> dict[str, str | None]:
    """The key of each velocity kind for this payment (None: the payment does not count there)."""
    return {
        "payer": payment.payer_id,
        "card": payment.card_id,
        "device": payment.device_id,
        "ip": payment.ip,
        "payer_merchant": f"{payment.payer_id}>{payment.merchant_id}",
        "merchant": payment.merchant_id,
        "merchant_round": payment.merchant_id if round_amount else None,
        "terminal": payment.terminal_id,
        "terminal_small": payment.terminal_id if is_small_amount(payment.amount_minor, payment.currency) else None,
    }


def day_keys(payment: PaymentFacts) -> dict[str, str | None]:
    """The stored key of each day kind (DAY_KINDS and FRAUD_KINDS) for this payment; None: no such scope."""
    ids = {"payer": payment.payer_id, "terminal": payment.terminal_id, "store": payment.store_id,
           "merchant": payment.merchant_id}
    keys = {kind: ids[kind] for kind in DAY_KINDS} | {f"{scope}_fraud": ids[scope] for scope in SCOPES}
    return {kind: None if key is None else f"{kind}|{key}|{payment.currency}" for kind, key in keys.items()}


def review_keys(payment: PaymentFacts) -> list[str]:
    """The scopes whose compromise review would step this payment up."""
    ids = {"terminal": payment.terminal_id, "store": payment.store_id, "merchant": payment.merchant_id}
    return [f"{scope}|{value}" for scope, value in ids.items() if value]


def day_of(at: datetime | float) -> int:
    return int((at if isinstance(at, (int, float)) else at.timestamp()) // DAY_S)


@dataclass(frozen=True, slots=True)
class DayTotals:
    """Attempts (or fraud reports) and their amounts per day back from today: today's apart and the
    days before as running sums, so that any window costs two subtractions (and the days before
    today, which no longer change, can be summed once a day)."""

    today: tuple[int, int]  # (count, sum_minor) of day offset 0
    counts: tuple[int, ...]  # counts[i]: total of day offsets 1..i (counts[0] = 0); DAYS_KEPT of them
    sums_minor: tuple[int, ...]

    def window(self, first: int, days: int) -> tuple[int, int]:
        """(count, sum) over the day buckets a window of `days` back from offset `first` overlaps
        (offsets first .. first + days: a window overlaps one bucket more than its length)."""
        last = min(first + days, DAYS_KEPT - 1)
        start = max(first - 1, 0)
        count, total = self.counts[last] - self.counts[start], self.sums_minor[last] - self.sums_minor[start]
        if first == 0:
            count, total = count + self.today[0], total + self.today[1]
        return count, total


def by_offset(found: dict[int, tuple[int, int] | list[int]], today: int) -> DayTotals:
    """Day totals from {day number: (count, sum)}."""
    if not found:
        return EMPTY_DAYS
    return with_today(past_days(found, today), found.get(today, (0, 0)))


def past_days(found: dict, today: int) -> DayTotals:
    """The days before today (today's left at zero)."""
    counts, sums = [0] * DAYS_KEPT, [0] * DAYS_KEPT
    for day, (count, total) in found.items():
        offset = today - day
        if 0 < offset < DAYS_KEPT:
            counts[offset] += count
            sums[offset] += total
    counts[0] = sums[0] = 0
    return DayTotals((0, 0), tuple(accumulate(counts)), tuple(accumulate(sums)))


def with_today(past: DayTotals, today: tuple[int, int] | list[int]) -> DayTotals:
    return DayTotals((today[0], today[1]), past.counts, past.sums_minor)


class _DayCounter:
    """One key's day buckets, with the days before today summed once a day (writes to past days,
    i.e. late fraud reports, sum them again)."""

    __slots__ = ("days", "past", "past_of")

    def __init__(self) -> None:
        self.days: dict[int, list[int]] = {}
        self.past: DayTotals = EMPTY_DAYS
        self.past_of: int | None = None  # the day `past` was summed for

    def add(self, day: int, count: int, amount_minor: int) -> None:
        totals = self.days.setdefault(day, [0, 0])
        totals[0] += count
        totals[1] += amount_minor
        if day != self.past_of:  # a past day changed (or a new day began): sum again when read
            self.past_of = None
        if len(self.days) > DAYS_KEPT:
            for old in [d for d in self.days if d <= day - DAYS_KEPT]:
                del self.days[old]

    def totals(self, today: int) -> DayTotals:
        if self.past_of != today:
            self.past, self.past_of = past_days(self.days, today), today
        return with_today(self.past, self.days.get(today, (0, 0)))


def is_small_amount(amount_minor: int, currency: str) -> bool:
    return amount_minor <= SMALL_AMOUNT_MAJOR * 10 ** exponent(currency)


def is_round_amount(amount_minor: int, currency: str) -> bool:
    """Whole hundreds of the major unit (100.00 CNY): cash-out and red-packet amounts."""
    return amount_minor % (100 * 10 ** exponent(currency)) == 0


class _Velocity:
    """Attempts of one key: one list of (unix time, amount) over the longest window, with a start
    index and running totals per window, so that every window costs O(1) amortised per event.
    The list is compacted from the front now and then (a deque would index its middle in O(n))."""

    __slots__ = ("events", "base", "starts", "counts", "totals")

    def __init__(self) -> None:
        self.events: list[tuple[float, int]] = []
        self.base = 0  # absolute index of events[0]
        self.starts = [0] * len(WINDOWS)  # absolute index of each window's first event
        self.counts = [0] * len(WINDOWS)
        self.totals = [0] * len(WINDOWS)

    def evict(self, now_s: float) -> None:
        events, base = self.events, self.base
        end = base + len(events)
        for w, (_, span_s) in enumerate(WINDOWS):
            cutoff = now_s - span_s
            start = self.starts[w]
            while start < end and events[start - base][0] <= cutoff:
                self.counts[w] -= 1
                self.totals[w] -= events[start - base][1]
                start += 1
            self.starts[w] = start
        self._compact()

    def add(self, now_s: float, amount_minor: int) -> None:
        if self.counts[-1] >= EVENTS_PER_KEY_MAX:  # saturate: the oldest leaves every window holding it
            oldest = self.starts[-1]
            amount = self.events[oldest - self.base][1]
            for w in range(len(WINDOWS)):
                if self.starts[w] == oldest:
                    self.starts[w] += 1
                    self.counts[w] -= 1
                    self.totals[w] -= amount
            self._compact()
        self.events.append((now_s, amount_minor))
        for w in range(len(WINDOWS)):
            self.counts[w] += 1
            self.totals[w] += amount_minor

    def _compact(self) -> None:
        # The longest window starts earliest; everything before it has left every window.
        stale = self.starts[-1] - self.base
        if stale and (stale >= len(self.events) or stale > 256):
            del self.events[:stale]
            self.base += stale


class _Distinct:
    """Distinct values (payers on a device) over a time span."""

    __slots__ = ("span_s", "events", "seen")

    def __init__(self, span_s: float):
        self.span_s = span_s
        self.events: deque[tuple[float, str]] = deque()
        self.seen: Counter[str] = Counter()

    def evict(self, now_s: float) -> None:
        start = now_s - self.span_s
        while self.events and (self.events[0][0] <= start or len(self.events) > EVENTS_PER_KEY_MAX):
            _, value = self.events.popleft()
            self.seen[value] -= 1
            if not self.seen[value]:
                del self.seen[value]

    def add(self, at_s: float, value: str) -> None:
        self.events.append((at_s, value))
        self.seen[value] += 1


class _Recent(OrderedDict):
    """A bounded set that forgets the least recently used member."""

    def touch(self, item: str, limit: int) -> None:
        self[item] = True
        self.move_to_end(item)
        while len(self) > limit:
            self.popitem(last=False)


@dataclass(slots=True)
class Profile:
    first_seen: datetime | None  # None: known only by a password reset (the database store)
    payments: int = 0
    devices: _Recent = field(default_factory=_Recent)
    cards: _Recent = field(default_factory=_Recent)
    regions: _Recent = field(default_factory=_Recent)
    amounts: dict[str, deque[int]] = field(default_factory=dict)  # by currency
    hours: list[int] = field(default_factory=lambda: [0] * 24)  # successful payments per local hour
    last_at: datetime | None = None
    last_latitude: float | None = None
    last_longitude: float | None = None


class _Bounded(OrderedDict):
    """Per-kind maps stop growing at KEYS_MAX: the least recently written key is forgotten."""

    def get_or_add(self, key: str, factory):
        value = self.get(key)
        if value is None:
            return self.put(key, factory())
        self.move_to_end(key)
        return value

    def put(self, key: str, value):
        self[key] = value
        self.move_to_end(key)
        if len(self) > KEYS_MAX:
            self.popitem(last=False)
        return value


EMPTY_TOTALS = WindowTotals((0, 0, 0), (0, 0, 0))
EMPTY_DAYS = DayTotals((0, 0), (0,) * DAYS_KEPT, (0,) * DAYS_KEPT)


class InMemoryFeatureStore:
    """FeatureStore in this process's memory; thread-safe, every structure bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Bounded] = {kind: _Bounded() for kind in VELOCITY_KEYS}
        self._device_payers = _Bounded()
        self._profiles = _Bounded()
        self._password_resets = _Bounded()
        self._days = _Bounded()  # day key -> {day: [count, sum_minor]}
        self._reviews: set[str] = set()

    def lookup(self, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> History:
        keys = velocity_keys(payment, is_round_amount(payment.amount_minor, payment.currency))
        now_s = now.timestamp()
        with self._lock:
            velocity = {kind: self._totals(kind, key, payment.currency, now_s) for kind, key in keys.items()}
            payers = self._device_payers.get(payment.device_id)
            if payers is not None:
                payers.evict(now_s)
            device_payers = 1 if payers is None else len(payers.seen) + (payment.payer_id not in payers.seen)
            profile = self._profiles.get(payment.payer_id)
            reset_at = self._password_resets.get(payment.payer_id)
            history = history_of(velocity, device_payers, profile, payment, place, local_hour, reset_at)
            history.days = self._by_offset(payment, now)
            history.under_review = any(key in self._reviews for key in review_keys(payment))
            return history

    def record_attempt(self, payment: PaymentFacts, place: Place, now: datetime) -> None:
        keys = velocity_keys(payment, is_round_amount(payment.amount_minor, payment.currency))
        now_s = now.timestamp()
        with self._lock:
            for kind, key in keys.items():
                if key is None:
                    continue
                velocity = self._windows[kind].get_or_add(f"{key}|{payment.currency}", _Velocity)
                velocity.evict(now_s)
                velocity.add(now_s, payment.amount_minor)
            payers = self._device_payers.get_or_add(payment.device_id, lambda: _Distinct(WINDOWS[-1][1]))
            payers.evict(now_s)
            payers.add(now_s, payment.payer_id)
            for kind in DAY_KINDS:
                self._add_to_day(day_keys(payment)[kind], day_of(now_s), 1, payment.amount_minor)

    def record_success(self, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> None:
        with self._lock:
            profile = self._profiles.get_or_add(payment.payer_id, lambda: Profile(first_seen=now))
            profile.payments += 1
            profile.devices.touch(payment.device_id, PROFILE_ITEMS_MAX)
            profile.cards.touch(payment.card_id, PROFILE_ITEMS_MAX)
            profile.regions.touch(place.region, PROFILE_ITEMS_MAX)
            profile.amounts.setdefault(payment.currency, deque(maxlen=AMOUNTS_KEPT)).append(payment.amount_minor)
            profile.hours[local_hour] += 1
            profile.last_at = now
            if place.latitude is not None:
                profile.last_latitude, profile.last_longitude = place.latitude, place.longitude

    def record_password_reset(self, payer_id: str, at: datetime) -> None:
        with self._lock:
            self._password_resets.put(payer_id, at)

    def record_fraud_report(self, payment: PaymentFacts, delta: int) -> None:
        """A payment confirmed fraudulent (delta 1) or a report of it corrected to genuine (-1)."""
        with self._lock:
            for kind in FRAUD_KINDS:
                self._add_to_day(day_keys(payment)[kind], day_of(payment.occurred_at), delta, 0)

    def scope_days(self, payment: PaymentFacts, now: datetime) -> dict[str, DayTotals]:
        with self._lock:
            return self._by_offset(payment, now)

    def open_reviews(self, jumps: dict[str, dict], merchant_id: str, now: datetime) -> list[str]:
        """Put scopes ("terminal|T1": what opened it) under review; the ones that were not already."""
        with self._lock:
            opened = [key for key in jumps if key not in self._reviews]
            self._reviews.update(opened)
            return opened

    def close_review(self, key: str, now: datetime, closed_by: str = "replay", outcome: str = "") -> bool:
        """Whether an open review of `key` was closed."""
        with self._lock:
            was_open = key in self._reviews
            self._reviews.discard(key)
            return was_open

    def _add_to_day(self, key: str | None, day: int, count: int, amount_minor: int) -> None:
        if key is not None:
            self._days.get_or_add(key, _DayCounter).add(day, count, amount_minor)

    def _by_offset(self, payment: PaymentFacts, now: datetime) -> dict[str, DayTotals]:
        today = day_of(now)
        out = {}
        for kind, key in day_keys(payment).items():
            counter = self._days.get(key) if key is not None else None
            out[kind] = counter.totals(today) if counter is not None else EMPTY_DAYS
        return out

    def _totals(self, kind: str, key: str | None, currency: str, now_s: float) -> WindowTotals:
        velocity = self._windows[kind].get(f"{key}|{currency}") if key is not None else None
        if velocity is None:
            return EMPTY_TOTALS
        velocity.evict(now_s)
        return WindowTotals(tuple(velocity.counts), tuple(velocity.totals))


def history_of(velocity: dict[str, WindowTotals], device_payers: int, profile: Profile | None, payment: PaymentFacts,
             place: Place, local_hour: int, reset_at: datetime | None) -> History:
    if profile is None:
        return History(velocity, device_payers, 0, None, None, False, False, False, None, None, None, None, reset_at)
    amounts = profile.amounts.get(payment.currency)
    usual = int(statistics.median(amounts)) if amounts else None
    near = sum(profile.hours[(local_hour + d) % 24] for d in (-1, 0, 1))
    return History(
        velocity=velocity,
        device_payers_24h=device_payers,
        payer_payments=profile.payments,
        payer_first_seen=profile.first_seen,
        usual_amount_minor=usual,
        known_device=payment.device_id in profile.devices,
        known_card=payment.card_id in profile.cards,
        known_region=place.region in profile.regions,
        hour_share=near / profile.payments if profile.payments else None,
        last_at=profile.last_at,
        last_latitude=profile.last_latitude,
        last_longitude=profile.last_longitude,
        password_reset_at=reset_at,
    )
