"""The feature store in the database, so that every API process and worker scores with the same
velocity and the same payer profiles (SQLite and PostgreSQL, nothing else needed).

It reads and writes in the caller's transaction and never commits: a payment's risk decision
is part of the commit that creates the payment. The caller binds its session for the call:

    with bound_session(session):
        decision = ctx.risk.assess(facts)

`DbFeatureStore.transaction()` opens (and commits) a transaction of its own only when nobody
bound one — the API's stand-alone decisions and a verified step-up's learning.

Velocity is kept in time buckets (10 s for the 1-minute window, 5 min for 1 h, 1 h for 24 h):
a window counts every bucket that overlaps it, so it may also count up to one bucket's span
more than the in-memory store (a 1-minute window reaches back at most 70 s) — never less.
A read is one grouped query over a few indexed rows per key; an attempt is one upsert of at
most 21 bucket rows, written in key order so that concurrent payments cannot deadlock.
Merchant keys, which every payment of the merchant touches, are spread over shards so that
concurrent payments rarely wait on one row's lock until the other's commit.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from juhe.db.engine import Database
from juhe.risk.facts import PaymentFacts
from juhe.risk.geo import Place
from juhe.risk.models import RiskDevicePayer, RiskPayerProfile, RiskVelocityBucket
from juhe.risk.store import (AMOUNTS_KEPT, EMPTY_TOTALS, PROFILE_ITEMS_MAX, WINDOWS, History, Profile, WindowTotals,
                             history_of, is_round_amount, velocity_keys)

GRAINS_S = (10, 300, 3600)  # bucket span per window of WINDOWS: ≤ 7, 13 and 25 buckets per key
SHARDED_KINDS = {"merchant": 4, "merchant_round": 4}  # shards of the keys every payment of a merchant writes
UNKNOWN = "unknown:"  # an identifier the request did not give: unique to its payment, never read again
DEVICE_SPAN_S = WINDOWS[-1][1]
KEEP_S = DEVICE_SPAN_S + GRAINS_S[-1]  # older buckets can no longer overlap a window

_bound: ContextVar[Session | None] = ContextVar("juhe_risk_session", default=None)
BUCKETS = RiskVelocityBucket.__table__
DEVICE_PAYERS = RiskDevicePayer.__table__
PROFILES = RiskPayerProfile.__table__


@contextmanager
def bound_session(session: Session) -> Iterator[Session]:
    """The risk store reads and writes in `session` (the caller commits) within this block."""
    token = _bound.set(session)
    try:
        yield session
    finally:
        _bound.reset(token)


class DbFeatureStore:
    """FeatureStore in the database; one instance per process, stateless apart from `db`."""

    def __init__(self, db: Database):
        self.db = db

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The bound session, or a transaction of this store's own, committed at the end."""
        session = _bound.get()
        if session is not None:
            yield session
            return
        with self.db.session() as session, session.begin(), bound_session(session):
            yield session

    def lookup(self, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> History:
        session = _session()
        now_s = int(now.timestamp())
        keys = _bucket_keys(payment)
        velocity = _velocity(session, keys, now_s)
        totals = {kind: velocity.get(key, EMPTY_TOTALS) if key else EMPTY_TOTALS for kind, key in keys.items()}
        profile = _profile(session.execute(select(PROFILES).where(PROFILES.c.payer_id == payment.payer_id)).first())
        reset_at = None if profile is None else profile.reset_at
        return history_of(totals, _device_payers(session, payment, now_s), profile and profile.profile, payment, place,
                          local_hour, reset_at)

    def record_attempt(self, payment: PaymentFacts, place: Place, now: datetime) -> None:
        session = _session()
        now_s = int(now.timestamp())
        rows = [{"key": key, "grain_s": grain, "bucket_s": now_s - now_s % grain, "shard": _shard(kind, payment),
                 "count": 1, "sum_minor": payment.amount_minor}
                for kind, key in _bucket_keys(payment).items() if key for grain in GRAINS_S]
        rows.sort(key=lambda r: (r["key"], r["grain_s"], r["bucket_s"], r["shard"]))  # one lock order for all writers
        if rows:
            insert = _insert(session, BUCKETS)
            session.execute(insert.on_conflict_do_update(
                index_elements=["key", "grain_s", "bucket_s", "shard"],
                set_={"count": BUCKETS.c.count + insert.excluded.count,
                      "sum_minor": BUCKETS.c.sum_minor + insert.excluded.sum_minor}), rows)
        if not payment.device_id.startswith(UNKNOWN):
            insert = _insert(session, DEVICE_PAYERS).values(device_id=payment.device_id, payer_id=payment.payer_id,
                                                           last_seen_s=now_s)
            session.execute(insert.on_conflict_do_update(index_elements=["device_id", "payer_id"],
                                                         set_={"last_seen_s": insert.excluded.last_seen_s}))

    def record_success(self, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> None:
        session = _session()
        row = _locked_profile(session, payment.payer_id)
        devices, cards, regions = (_touched(row[name], value) for name, value in
                                   (("devices", payment.device_id), ("cards", payment.card_id), ("regions", place.region)))
        amounts = dict(row["amounts"] or {})
        amounts[payment.currency] = [*amounts.get(payment.currency, []), payment.amount_minor][-AMOUNTS_KEPT:]
        hours = list(row["hours"] or [0] * 24)
        hours[local_hour] += 1
        located = {"last_latitude": place.latitude, "last_longitude": place.longitude} if place.latitude is not None else {}
        session.execute(update(PROFILES).where(PROFILES.c.payer_id == payment.payer_id).values(
            first_seen_at=row["first_seen_at"] or now, payments=row["payments"] + 1, devices=devices, cards=cards,
            regions=regions, amounts=amounts, hours=hours, last_at=now, **located))

    def record_password_reset(self, payer_id: str, at: datetime) -> None:
        session = _session()
        _locked_profile(session, payer_id)
        session.execute(update(PROFILES).where(PROFILES.c.payer_id == payer_id).values(password_reset_at=at))


def purge_expired(session: Session, now: datetime) -> int:
    """Delete buckets and device sightings no window can reach any more (the worker, in its own transaction)."""
    now_s = int(now.timestamp())
    buckets = session.execute(delete(BUCKETS).where(BUCKETS.c.bucket_s < now_s - KEEP_S)).rowcount
    sightings = session.execute(delete(DEVICE_PAYERS).where(DEVICE_PAYERS.c.last_seen_s <= now_s - DEVICE_SPAN_S)).rowcount
    return buckets + sightings


def _session() -> Session:
    session = _bound.get()
    if session is None:
        raise RuntimeError("the database feature store needs the caller's session: use bound_session() or transaction()")
    return session


def _bucket_keys(payment: PaymentFacts) -> dict[str, str | None]:
    """The stored key per velocity kind; None where the payment does not count or the key is its alone."""
    keys = velocity_keys(payment, is_round_amount(payment.amount_minor, payment.currency))
    return {kind: None if key is None or key.startswith(UNKNOWN) else f"{kind}|{key}|{payment.currency}"
            for kind, key in keys.items()}


def _shard(kind: str, payment: PaymentFacts) -> int:
    shards = SHARDED_KINDS.get(kind)
    return zlib.crc32(payment.payment_id.encode()) % shards if shards else 0


_VELOCITY = (
    select(BUCKETS.c.key, BUCKETS.c.grain_s, func.sum(BUCKETS.c.count), func.sum(BUCKETS.c.sum_minor))
    .where(BUCKETS.c.key.in_(bindparam("keys", expanding=True)),
           or_(*((BUCKETS.c.grain_s == grain) & (BUCKETS.c.bucket_s > bindparam(f"after_{grain}")) for grain in GRAINS_S)))
    .group_by(BUCKETS.c.key, BUCKETS.c.grain_s)
)


def _velocity(session: Session, keys: dict[str, str | None], now_s: int) -> dict[str, WindowTotals]:
    wanted = [key for key in keys.values() if key]
    if not wanted:
        return {}
    # A bucket [b, b + grain) overlaps the window (now - span, now] when b > now - span - grain.
    after = {f"after_{grain}": now_s - span_s - grain for grain, (_, span_s) in zip(GRAINS_S, WINDOWS)}
    found: dict[str, tuple[list[int], list[int]]] = {}
    for key, grain, count, total in session.execute(_VELOCITY, {"keys": wanted, **after}):
        counts, sums = found.setdefault(key, ([0] * len(GRAINS_S), [0] * len(GRAINS_S)))
        counts[GRAINS_S.index(grain)], sums[GRAINS_S.index(grain)] = int(count), int(total)
    return {key: WindowTotals(tuple(counts), tuple(sums)) for key, (counts, sums) in found.items()}


def _device_payers(session: Session, payment: PaymentFacts, now_s: int) -> int:
    """Distinct payers on the device in 24 h, this payment's payer included."""
    if payment.device_id.startswith(UNKNOWN):
        return 1
    others, this_one = session.execute(
        select(func.count(), func.coalesce(func.sum(case((DEVICE_PAYERS.c.payer_id == payment.payer_id, 1), else_=0)), 0))
        .where(DEVICE_PAYERS.c.device_id == payment.device_id, DEVICE_PAYERS.c.last_seen_s > now_s - DEVICE_SPAN_S)).one()
    return others + (not this_one)


class _StoredProfile:
    __slots__ = ("profile", "reset_at")

    def __init__(self, profile: Profile | None, reset_at: datetime | None):
        self.profile, self.reset_at = profile, reset_at


def _profile(row) -> _StoredProfile | None:
    if row is None:
        return None
    m = row._mapping
    if not m["payments"]:
        return _StoredProfile(None, m["password_reset_at"])  # known by a reset only: no habits yet
    profile = Profile(first_seen=m["first_seen_at"], payments=m["payments"], devices=m["devices"], cards=m["cards"],
                      regions=m["regions"], amounts=m["amounts"], hours=m["hours"], last_at=m["last_at"],
                      last_latitude=m["last_latitude"], last_longitude=m["last_longitude"])
    return _StoredProfile(profile, m["password_reset_at"])


def _locked_profile(session: Session, payer_id: str):
    """The payer's profile row, created when missing, locked until the caller commits (PostgreSQL;
    on SQLite the caller's write transaction already excludes other writers)."""
    query = select(PROFILES).where(PROFILES.c.payer_id == payer_id).with_for_update()
    row = session.execute(query).first()
    if row is None:
        session.execute(_insert(session, PROFILES).values(payer_id=payer_id, payments=0, devices=[], cards=[], regions=[],
                                                          amounts={}, hours=[0] * 24).on_conflict_do_nothing())
        row = session.execute(query).first()
    return row._mapping


def _touched(items: list | None, item: str) -> list:
    """A recently-used list: `item` last, at most PROFILE_ITEMS_MAX (the least recent go)."""
    return [*(i for i in (items or []) if i != item), item][-PROFILE_ITEMS_MAX:]


def _insert(session: Session, table):
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)
