"""A merchant's payments from the database as the history a rule dry-run replays.

    history = load_payment_history(session, merchant_id, since, until)   # DB: load
    result = dry_run_history(rules, history)                              # pure: replay and count

Each payment row becomes the facts the engine saw when it decided it (the same mapping as the
payments' risk hook, `risk_hook.payment_facts`), the rows are replayed through a fresh feature
store in time order (`replay.feature_frame`), and the rules are evaluated on every payment of the
window [since, until). The `WARMUP_DAYS` before `since` are replayed too but not counted, so that
payers, devices and velocity are known at the window's start as they were to the live engine.

What the database does not keep, and how it is approximated:
- Payer facts (device, IP, card, location) are not stored on a payment. They are taken from the
  request kept with a step-up challenge (stepped-up payments), else from the payment's metadata
  when the merchant put them there under the request's names (device_id, client_ip, card_token,
  latitude, longitude, merchant_category). Otherwise they are unknown, as they were to the engine
  (`unknown:<payment id>`: no velocity across payments, every payment a new device).
- "Went through" (the payer's profile learns from it) is read from the stored decision: allowed,
  or stepped up and the challenge passed. Juhe holds no chargeback labels, so the dry run's
  `is_fraud` here means *stopped by risk* (blocked, or a step-up never passed): `fraud_caught`
  counts stopped payments the rules fire on, `legit_hit` payments that went through.
- Password resets are not recorded, so `password_reset_24h` is always false.
- One merchant's history: a payer's payments at other merchants do not add to its velocity
  (the live engine's store is shared by every merchant of the process).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.models import Merchant
from juhe.payments.models import Payment
from juhe.payments.risk_hook import payment_facts
from juhe.risk.dataset import HISTORY
from juhe.risk.dryrun import DryRun, dry_run
from juhe.risk.facts import PaymentFacts, RiskError, check_payment
from juhe.risk.replay import feature_frame
from juhe.risk.rules import RuleSet
from juhe.verification.models import VerificationChallenge

WARMUP_DAYS = 7  # profiles (known devices, usual amounts) need days; velocity windows need 24 h
PAYMENTS_MAX = 100_000  # rows replayed per dry run (~15 s on one core at ~7,000 rows/s); beyond: fewer days
PAYER_FIELDS = ("device_id", "client_ip", "card_token", "card_id", "latitude", "longitude", "merchant_category")


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """What the database keeps of one payment, as the dry run needs it."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    industry: str | None
    amount_minor: int
    currency: str
    customer_id: str | None
    created_at: datetime
    payer: dict  # request payer fields, as far as they were kept
    went_through: bool
    store_id: uuid.UUID | None = None
    terminal_id: str | None = None  # a store terminal's payment keeps it in the metadata (payments.gates)


@dataclass(frozen=True, slots=True)
class PaymentHistory:
    frame: pl.DataFrame  # dataset.HISTORY columns, in time order, warm-up included
    since: datetime  # payments from here on are counted
    until: datetime
    skipped: int  # rows whose facts no decision could be made of (the engine refused them too)


def load_payment_history(session: Session, merchant_id: uuid.UUID | None, since: datetime, until: datetime,
                         warmup_days: float = WARMUP_DAYS) -> PaymentHistory:
    """The payments of one merchant (None: every merchant) created in [since - warm-up, until)."""
    if since >= until:
        raise RiskError("bad_window", "the history window must end after it starts")
    rows = [_row(*found) for found in session.execute(_query(merchant_id, since - timedelta(days=warmup_days), until))]
    if len(rows) > PAYMENTS_MAX:
        raise RiskError("history_too_large", f"more than {PAYMENTS_MAX:,} payments (with the warm-up) in the "
                        "window: dry-run fewer days")
    frame, skipped = history_frame(rows)
    return PaymentHistory(frame, since, until, skipped)


def dry_run_history(rules: RuleSet, history: PaymentHistory) -> DryRun:
    """What `rules` would have done to the window's payments (the warm-up only builds history)."""
    features = feature_frame(history.frame, warmup_days=0)
    counted = features.with_columns(scored=pl.col("occurred_at") >= history.since)
    return dry_run(rules, counted)


def history_frame(rows: list[PaymentRow]) -> tuple[pl.DataFrame, int]:
    """The rows as a HISTORY frame in time order, and how many were left out (facts the engine refuses)."""
    records, skipped = [], 0
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        facts = facts_of(row)
        try:
            check_payment(facts)
        except RiskError:
            skipped += 1
            continue
        records.append(_record(facts, row.went_through))
    return pl.DataFrame(records, schema=HISTORY, orient="row"), skipped


def facts_of(row: PaymentRow) -> PaymentFacts:
    """The facts the engine was given for this payment (payments' risk hook mapping)."""
    return payment_facts({"id": str(row.id), "merchant_id": str(row.merchant_id), "amount_minor": row.amount_minor,
                          "currency": row.currency, "customer_id": row.customer_id, "payer": row.payer,
                          "industry": row.industry, "at": row.created_at,
                          "store_id": str(row.store_id) if row.store_id else None, "terminal_id": row.terminal_id})


def went_through(risk: dict | None, challenge_status: str | None) -> bool:
    """Whether the engine let the payer's profile learn from the payment: allowed, or verified."""
    action = (risk or {}).get("action", "allow")  # no decision stored: no engine stopped it
    if action == "allow":
        return True
    return action == "step_up" and challenge_status == "passed"


def payer_of(metadata: dict | None, challenge_request: dict | None) -> dict:
    """The payer fields kept: the step-up challenge's copy of the request, else the metadata's."""
    kept = (challenge_request or {}).get("payer")
    source = kept if isinstance(kept, dict) and kept else (metadata or {})
    return {name: source[name] for name in PAYER_FIELDS if source.get(name) not in (None, "")}


def load_payment(session: Session, merchant_id: uuid.UUID, payment_id: uuid.UUID) -> PaymentRow | None:
    """One payment of the merchant as the engine saw it (None: no such payment of this merchant)."""
    found = session.execute(_select().where(Payment.merchant_id == merchant_id, Payment.id == payment_id)).first()
    return _row(*found) if found else None


def _select():
    return (
        select(Payment.id, Payment.merchant_id, Merchant.industry, Payment.amount_minor, Payment.currency,
               Payment.customer_id, Payment.created_at, Payment.meta, Payment.risk, VerificationChallenge.request,
               VerificationChallenge.status, Payment.store_id)
        .join(Merchant, Merchant.id == Payment.merchant_id)
        .outerjoin(VerificationChallenge, VerificationChallenge.payment_id == Payment.id)
    )


def _query(merchant_id: uuid.UUID | None, start: datetime, end: datetime):
    window = [Payment.created_at >= start, Payment.created_at < end]
    if merchant_id is not None:
        window.append(Payment.merchant_id == merchant_id)
    return (_select().where(*window).order_by(Payment.created_at, Payment.id)
            .limit(PAYMENTS_MAX + 1))  # one more than allowed: enough to know the window is too large


def _row(payment_id, merchant_id, industry, amount_minor, currency, customer_id, created_at, metadata, risk,
         challenge_request, challenge_status, store_id) -> PaymentRow:
    terminal = (metadata or {}).get("terminal_id")
    return PaymentRow(payment_id, merchant_id, industry, amount_minor, currency, customer_id, created_at,
                      payer_of(metadata, challenge_request), went_through(risk, challenge_status), store_id,
                      terminal if isinstance(terminal, str) and terminal else None)


def _record(facts: PaymentFacts, through: bool) -> tuple:
    values = {"kind": "payment", "payment_id": facts.payment_id, "occurred_at": facts.occurred_at,
              "payer_id": facts.payer_id, "merchant_id": facts.merchant_id, "merchant_category": facts.merchant_category,
              "amount_minor": facts.amount_minor, "currency": facts.currency, "card_id": facts.card_id,
              "device_id": facts.device_id, "ip": facts.ip, "latitude": facts.latitude, "longitude": facts.longitude,
              "is_fraud": not through, "fraud_type": None if through else "stopped_by_risk",
              "terminal_id": facts.terminal_id, "store_id": facts.store_id}
    return tuple(values[name] for name in HISTORY)
