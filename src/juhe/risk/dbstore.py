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

Day buckets (grain DAY_S) in the same table keep a payer's spending per day and per terminal, store
and merchant the attempts per day (written with the velocity buckets, in the same statement) and the
fraud reported on them by the day of the payment (`record_fraud_report`, from juhe.risk.reports: a
decision counts a report only once it has been committed). Open compromise reviews are rows of
`risk_reviews`, read by the profile's statement; a unique index on open reviews lets two processes
open the same one only once.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import bindparam, delete, func, literal, select, text, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from juhe.db.engine import Database
from juhe.db.models import new_id
from juhe.risk.facts import PaymentFacts
from juhe.risk.geo import Place
from juhe.risk.models import RiskDevicePayer, RiskPayerProfile, RiskReview, RiskVelocityBucket
from juhe.risk.store import (AMOUNTS_KEPT, DAY_KINDS, DAY_S, DAYS_KEPT, EMPTY_TOTALS, FRAUD_KINDS, PROFILE_ITEMS_MAX,
                             SCOPES, WINDOWS, DayTotals, History, Profile, WindowTotals, by_offset, day_keys, day_of,
                             history_of, is_round_amount, review_keys, velocity_keys)

GRAINS_S = (10, 300, 3600)  # bucket span per window of WINDOWS: ≤ 7, 13 and 25 buckets per key
SHARDED_KINDS = {"merchant": 4, "merchant_round": 4}  # shards of the keys every payment of a merchant writes
UNKNOWN = "unknown:"  # an identifier the request did not give: unique to its payment, never read again
DEVICE_SPAN_S = WINDOWS[-1][1]
PROFILE_SEEN = "juhe_risk_profile_seen"  # session.info key: the profile row a lookup read, by payer
MISSING = object()

_bound: ContextVar[Session | None] = ContextVar("juhe_risk_session", default=None)
BUCKETS = RiskVelocityBucket.__table__
DEVICE_PAYERS = RiskDevicePayer.__table__
PROFILES = RiskPayerProfile.__table__
REVIEWS = RiskReview.__table__


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
        row, device_payers, under_review = _profile_and_device(session, payment, now_s)
        session.info[(PROFILE_SEEN, payment.payer_id)] = row  # record_success updates from it, if nobody else did
        history = history_of(totals, device_payers, _profile(row), payment, place, local_hour,
                             row["password_reset_at"] if row else None)
        history.days = _days(session, payment, now_s, _day_keys(payment))
        history.under_review = under_review
        return history

    def record_attempt(self, payment: PaymentFacts, place: Place, now: datetime) -> None:
        session = _session()
        now_s = int(now.timestamp())
        rows = [(key, grain, now_s - now_s % grain, _shard(kind, payment))
                for kind, key in _bucket_keys(payment).items() if key for grain in GRAINS_S]
        rows += [(key, DAY_S, day_of(now_s) * DAY_S, _shard(kind, payment))  # a day's attempts, in the same statement
                 for kind, key in _day_keys(payment).items() if key and kind in DAY_KINDS]
        rows.sort()  # one lock order for all writers
        if rows:
            _count_in_buckets(session, rows, payment.amount_minor)
        if not payment.device_id.startswith(UNKNOWN):
            insert = _insert(session, DEVICE_PAYERS).values(device_id=payment.device_id, payer_id=payment.payer_id,
                                                           last_seen_s=now_s)
            session.execute(insert.on_conflict_do_update(index_elements=["device_id", "payer_id"],
                                                         set_={"last_seen_s": insert.excluded.last_seen_s}))

    def record_success(self, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> None:
        """One statement when the profile read by `lookup` is still the stored one (compared by its
        payment count); otherwise the row is locked and read again, so no success is lost."""
        session = _session()
        seen = session.info.pop((PROFILE_SEEN, payment.payer_id), MISSING)
        if seen is not MISSING and _learned_from(session, seen, payment, place, local_hour, now):
            return
        _learned_from(session, _locked_profile(session, payment.payer_id), payment, place, local_hour, now)

    def record_password_reset(self, payer_id: str, at: datetime) -> None:
        session = _session()
        session.info.pop((PROFILE_SEEN, payer_id), None)
        _locked_profile(session, payer_id)
        session.execute(update(PROFILES).where(PROFILES.c.payer_id == payer_id).values(password_reset_at=at))


    def record_fraud_report(self, payment: PaymentFacts, delta: int) -> None:
        """A payment confirmed fraudulent (delta 1) or a report of it corrected to genuine (-1), counted
        on the day the payment happened, from now on (a decision before this saw none of it)."""
        session = _session()
        day_s = day_of(payment.occurred_at) * DAY_S
        keys = sorted(key for kind, key in _day_keys(payment).items() if key and kind in FRAUD_KINDS)
        for key in keys:
            insert = _insert(session, BUCKETS).values(key=key, grain_s=DAY_S, bucket_s=day_s, shard=0, count=delta,
                                                      sum_minor=0)
            session.execute(insert.on_conflict_do_update(index_elements=["key", "grain_s", "bucket_s", "shard"],
                                                         set_={"count": BUCKETS.c.count + delta}))

    def scope_days(self, payment: PaymentFacts, now: datetime) -> dict[str, DayTotals]:
        keys = {kind: key for kind, key in _day_keys(payment).items() if kind != "payer"}
        return _days(_session(), payment, int(now.timestamp()), keys)

    def open_reviews(self, jumps: dict[str, dict], merchant_id: str, now: datetime) -> list[str]:
        """Open a review per scope key not under one already (a unique index on open reviews: two
        processes opening the same one store it once); the keys opened."""
        session = _session()
        opened = []
        for key in sorted(jumps):
            insert = _insert(session, REVIEWS).values(id=new_id(), key=key, merchant_id=merchant_id, figures=jumps[key],
                                                      opened_at=now)
            insert = insert.on_conflict_do_nothing(index_elements=["key"], index_where=REVIEWS.c.closed_at.is_(None))
            if session.execute(insert.returning(REVIEWS.c.key)).first() is not None:  # rowcount: -1 on psycopg here
                opened.append(key)
        return opened

    def close_review(self, key: str, now: datetime, closed_by: str = "replay", outcome: str = "") -> bool:
        closed = _session().execute(update(REVIEWS).where(REVIEWS.c.key == key, REVIEWS.c.closed_at.is_(None))
                                    .values(closed_at=now, closed_by=closed_by, outcome=outcome).returning(REVIEWS.c.id))
        return closed.first() is not None


def purge_expired(session: Session, now: datetime) -> int:
    """Delete buckets and device sightings no window can reach any more (the worker, in its own transaction)."""
    now_s = int(now.timestamp())
    deleted = 0
    for grain, (_, span_s) in zip(GRAINS_S, WINDOWS):
        deleted += session.execute(delete(BUCKETS).where(BUCKETS.c.grain_s == grain,
                                                         BUCKETS.c.bucket_s <= now_s - span_s - grain)).rowcount
    deleted += session.execute(delete(BUCKETS).where(BUCKETS.c.grain_s == DAY_S,
                                                     BUCKETS.c.bucket_s <= (day_of(now_s) - DAYS_KEPT) * DAY_S)).rowcount
    return deleted + session.execute(delete(DEVICE_PAYERS).where(DEVICE_PAYERS.c.last_seen_s <= now_s - DEVICE_SPAN_S)).rowcount


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


def _day_keys(payment: PaymentFacts) -> dict[str, str | None]:
    """The stored day keys (dataset kinds DAY_KINDS and FRAUD_KINDS); None where unknown or absent."""
    return {kind: None if key is None or UNKNOWN in key else key for kind, key in day_keys(payment).items()}


# Day buckets of a few keys over the days kept, summed over shards.
_DAYS_PG = text("SELECT key, bucket_s, sum(count), sum(sum_minor) FROM risk_velocity_buckets "
                f"WHERE key = ANY(CAST(:keys AS varchar[])) AND grain_s = {DAY_S} AND bucket_s > :after "
                "GROUP BY key, bucket_s")
_DAYS = (select(BUCKETS.c.key, BUCKETS.c.bucket_s, func.sum(BUCKETS.c.count), func.sum(BUCKETS.c.sum_minor))
         .where(BUCKETS.c.key.in_(bindparam("keys", expanding=True)), BUCKETS.c.grain_s == DAY_S,
                BUCKETS.c.bucket_s > bindparam("after"))
         .group_by(BUCKETS.c.key, BUCKETS.c.bucket_s))


def _days(session: Session, payment: PaymentFacts, now_s: int, keys: dict[str, str | None]) -> dict[str, DayTotals]:
    """Per day kind the day totals back from today (an unknown key: none)."""
    wanted = [key for key in keys.values() if key]
    found: dict[str, dict[int, tuple[int, int]]] = {}
    if wanted:
        today = day_of(now_s)
        params = {"keys": wanted, "after": (today - DAYS_KEPT) * DAY_S}
        query = _DAYS_PG if session.get_bind().dialect.name == "postgresql" else _DAYS
        for key, bucket_s, count, total in session.execute(query, params):
            found.setdefault(key, {})[bucket_s // DAY_S] = (int(count), int(total))
    today = day_of(now_s)
    return {kind: by_offset(found.get(key, {}), today) for kind, key in keys.items()}


# PostgreSQL: every bucket in one statement of fixed text (arrays in, nothing to compile per call).
_COUNT_IN_BUCKETS_PG = text(
    "INSERT INTO risk_velocity_buckets (key, grain_s, bucket_s, shard, count, sum_minor) "
    "SELECT k, g, b, s, 1, :amount FROM unnest(CAST(:keys AS varchar[]), CAST(:grains AS integer[]), "
    "CAST(:buckets AS bigint[]), CAST(:shards AS smallint[])) AS t(k, g, b, s) ORDER BY k, g, b, s "
    "ON CONFLICT (key, grain_s, bucket_s, shard) DO UPDATE SET count = risk_velocity_buckets.count + 1, "
    "sum_minor = risk_velocity_buckets.sum_minor + EXCLUDED.sum_minor")
_COUNT_IN_BUCKETS = sqlite_insert(BUCKETS).values(count=1, sum_minor=bindparam("amount"))
_COUNT_IN_BUCKETS = _COUNT_IN_BUCKETS.on_conflict_do_update(
    index_elements=["key", "grain_s", "bucket_s", "shard"],
    set_={"count": BUCKETS.c.count + 1, "sum_minor": BUCKETS.c.sum_minor + _COUNT_IN_BUCKETS.excluded.sum_minor})


def _count_in_buckets(session: Session, rows: list[tuple[str, int, int, int]], amount_minor: int) -> None:
    """One more attempt of `amount_minor` in each (key, grain, bucket, shard), in that (sorted) order."""
    if session.get_bind().dialect.name == "postgresql":
        keys, grains, buckets, shards = (list(column) for column in zip(*rows))
        session.execute(_COUNT_IN_BUCKETS_PG, {"keys": keys, "grains": grains, "buckets": buckets, "shards": shards,
                                               "amount": amount_minor})
        return
    session.execute(_COUNT_IN_BUCKETS, [{"key": k, "grain_s": g, "bucket_s": b, "shard": s, "amount": amount_minor}
                                        for k, g, b, s in rows])


def _shard(kind: str, payment: PaymentFacts) -> int:
    shards = SHARDED_KINDS.get(kind)
    return zlib.crc32(payment.payment_id.encode()) % shards if shards else 0


# One range scan of the primary key per grain (key, grain, bucket_s > start), whatever the table holds.
# PostgreSQL gets the keys as one array (an expanding IN costs ~2 ms more per call to render and plan).
_VELOCITY_PG = text(" UNION ALL ".join(
    "SELECT key, grain_s, sum(count), sum(sum_minor) FROM risk_velocity_buckets WHERE key = ANY(CAST(:keys AS varchar[])) "
    f"AND grain_s = {grain} AND bucket_s > :after_{grain} GROUP BY key, grain_s" for grain in GRAINS_S))
_VELOCITY = union_all(*(
    select(BUCKETS.c.key, BUCKETS.c.grain_s, func.sum(BUCKETS.c.count), func.sum(BUCKETS.c.sum_minor))
    .where(BUCKETS.c.key.in_(bindparam(f"keys_{grain}", expanding=True)), BUCKETS.c.grain_s == grain,
           BUCKETS.c.bucket_s > bindparam(f"after_{grain}"))
    .group_by(BUCKETS.c.key, BUCKETS.c.grain_s) for grain in GRAINS_S))


def _velocity(session: Session, keys: dict[str, str | None], now_s: int) -> dict[str, WindowTotals]:
    wanted = [key for key in keys.values() if key]
    if not wanted:
        return {}
    # A bucket [b, b + grain) overlaps the window (now - span, now] when b > now - span - grain.
    params = {f"after_{grain}": now_s - span_s - grain for grain, (_, span_s) in zip(GRAINS_S, WINDOWS)}
    if session.get_bind().dialect.name == "postgresql":
        query, params = _VELOCITY_PG, params | {"keys": wanted}
    else:
        query, params = _VELOCITY, params | {f"keys_{grain}": wanted for grain in GRAINS_S}
    found: dict[str, tuple[list[int], list[int]]] = {}
    for key, grain, count, total in session.execute(query, params):
        counts, sums = found.setdefault(key, ([0] * len(GRAINS_S), [0] * len(GRAINS_S)))
        counts[GRAINS_S.index(grain)], sums[GRAINS_S.index(grain)] = int(count), int(total)
    return {key: WindowTotals(tuple(counts), tuple(sums)) for key, (counts, sums) in found.items()}


_ONE_ROW = select(literal(1).label("one")).subquery()
_SIGHTINGS = (DEVICE_PAYERS.c.device_id == bindparam("device")) & (DEVICE_PAYERS.c.last_seen_s > bindparam("after"))
_PROFILE_AND_DEVICE = (
    select(*PROFILES.c,
           select(func.count()).where(_SIGHTINGS).scalar_subquery().label("device_payers"),
           select(func.count()).where(_SIGHTINGS, DEVICE_PAYERS.c.payer_id == bindparam("payer"))
           .scalar_subquery().label("payer_on_device"),
           select(func.count()).where(REVIEWS.c.key.in_([bindparam(f"review_{scope}") for scope in SCOPES]),
                                      REVIEWS.c.closed_at.is_(None)).scalar_subquery().label("open_reviews"))
    .select_from(_ONE_ROW.outerjoin(PROFILES, PROFILES.c.payer_id == bindparam("payer")))
)


def _profile_and_device(session: Session, payment: PaymentFacts, now_s: int):
    """The payer's stored profile (None: never seen), the distinct payers on the device in 24 h,
    this payment's payer included, and whether its terminal, store or merchant is under review — in one statement."""
    reviews = dict.fromkeys((f"review_{scope}" for scope in SCOPES), None)  # a fixed shape: compiled once
    reviews |= {f"review_{key.split('|', 1)[0]}": key for key in review_keys(payment)}
    row = session.execute(_PROFILE_AND_DEVICE, {"payer": payment.payer_id, "device": payment.device_id,
                                                "after": now_s - DEVICE_SPAN_S, **reviews}).one()._mapping
    device_payers = 1 if payment.device_id.startswith(UNKNOWN) else row["device_payers"] + (not row["payer_on_device"])
    return (row if row["payer_id"] is not None else None), device_payers, row["open_reviews"] > 0


def _profile(row) -> Profile | None:
    if row is None or not row["payments"]:
        return None  # never seen, or known by a password reset only: no habits yet
    return Profile(first_seen=row["first_seen_at"], payments=row["payments"], devices=row["devices"], cards=row["cards"],
                   regions=row["regions"], amounts=row["amounts"], hours=row["hours"], last_at=row["last_at"],
                   last_latitude=row["last_latitude"], last_longitude=row["last_longitude"])


def _learned_from(session: Session, row, payment: PaymentFacts, place: Place, local_hour: int, now: datetime) -> bool:
    """Store the profile `row` (None: none yet) plus this success, if the stored row is still `row`."""
    row = row or {"first_seen_at": None, "payments": 0, "devices": [], "cards": [], "regions": [], "amounts": {},
                  "hours": None, "password_reset_at": None}
    amounts = dict(row["amounts"] or {})
    amounts[payment.currency] = [*amounts.get(payment.currency, []), payment.amount_minor][-AMOUNTS_KEPT:]
    hours = list(row["hours"] or [0] * 24)
    hours[local_hour] += 1
    values = {"first_seen_at": row["first_seen_at"] or now, "payments": row["payments"] + 1, "amounts": amounts,
              "hours": hours, "last_at": now,
              **{name: _touched(row[name], value) for name, value in
                 (("devices", payment.device_id), ("cards", payment.card_id), ("regions", place.region))}}
    if place.latitude is not None:
        values |= {"last_latitude": place.latitude, "last_longitude": place.longitude}
    if "payer_id" not in row:  # no row yet: insert it, unless another payment just did
        insert = _insert(session, PROFILES).values(payer_id=payment.payer_id, **values).on_conflict_do_nothing()
        return session.execute(insert).rowcount == 1
    return session.execute(update(PROFILES).where(PROFILES.c.payer_id == payment.payer_id,
                                                  PROFILES.c.payments == row["payments"]).values(**values)).rowcount == 1


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
