"""Screening in the product: the parties of a B2B or cross-border payment before any channel is
asked to pay, and a merchant at onboarding. Every screening is stored with its hits; a held one
waits for a reviewer, whose release or rejection is recorded and tells the payment what to do.

The payer fields screened are the channels' own (channels/bank, channels/crossborder):
creditor_name (+ creditor_account, creditor_bic) for bank and SWIFT transfers, payee_name
(+ payee_wallet_id) for the e-CNY rail, debtor_name when the payment names its ordering customer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.aml.errors import AmlError
from juhe.aml.models import AmlScreening, AmlScreeningHit
from juhe.aml.screening import DEFAULT_THRESHOLD, HITS_MAX, Hit
from juhe.aml.service import Party
from juhe.aml.watch_lists import ScreeningLists, watch_lists
from juhe.db.models import Merchant
from juhe.db.pages import keyset, split
from juhe.db.types import utcnow
from juhe.payments.models import Payment

CLEAR, HELD, RELEASED, REJECTED = "clear", "held", "released", "rejected"
STATUSES = (CLEAR, HELD, RELEASED, REJECTED)
DECISIONS = {"release": RELEASED, "reject": REJECTED}
# What the payment does after a review: go on to its channels, or fail and give the held funds back.
PAYMENT_ACTIONS = {RELEASED: "submit", REJECTED: "fail"}
PAYMENT_FAILURE_CODE = "aml_rejected"
NAME_CHARS_MAX = 200
REASON_CHARS_MAX = 4_000
# payer key holding a name → (role, keys that identify the party's account, keys naming its country)
PAYER_PARTIES = {
    "creditor_name": ("payee", ("creditor_account",), ("creditor_country", "country")),
    "payee_name": ("payee", ("payee_wallet_id",), ("payee_country", "country")),
    "debtor_name": ("payer", ("debtor_account",), ("debtor_country",)),
}


@dataclass(frozen=True, slots=True)
class ScreeningDecision:
    hold: bool
    hits: list[dict]
    screening_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ScreeningReview:
    """What the payment (if any) should do now: `payment_action` submit | fail | none."""

    screening_id: uuid.UUID
    merchant_id: uuid.UUID
    payment_id: uuid.UUID | None
    status: str
    payment_action: str
    failure_code: str | None
    payer: dict | None  # the payment's payer fields as screened, to submit it with


def payment_parties(payer: dict) -> list[tuple[Party, str | None]]:
    """(party, account) for every named party of a payment's payer fields."""
    if not isinstance(payer, dict):
        raise AmlError("invalid_party", "payer must be an object of the payment's payer fields")
    parties = []
    for key, (role, account_keys, country_keys) in PAYER_PARTIES.items():
        name = payer.get(key)
        if name is None or name == "":
            continue
        if not isinstance(name, str) or len(name) > NAME_CHARS_MAX:
            raise AmlError("invalid_party", f"{key} must be a name of at most {NAME_CHARS_MAX} characters")
        account = next((str(payer[k]) for k in account_keys if payer.get(k)), None)
        country = next((str(payer[k]) for k in country_keys if payer.get(k)), None)
        bic = payer.get("creditor_bic") if role == "payee" else None
        if country is None and isinstance(bic, str) and len(bic) >= 6:
            country = bic[4:6]  # a BIC's 5th and 6th letters are the bank's ISO country
        parties.append((Party(role=role, name=name.strip(), country=country, reference=account), account))
    return parties


def screen_parties_for_payment(session: Session, merchant_id: uuid.UUID, payment_id: uuid.UUID,
                               payer: dict) -> ScreeningDecision:
    """Screen the payment's payee (and named payer) and store the result; a second call for the
    same payment returns the stored decision. `hold`: the payment waits for a reviewer."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.merchant_id != merchant_id:
        raise AmlError("payment_not_found", f"no payment {payment_id}")
    existing = session.scalar(select(AmlScreening).where(AmlScreening.merchant_id == merchant_id,
                                                         AmlScreening.payment_id == payment_id))
    if existing is not None:
        return _decision(session, existing)
    parties = payment_parties(payer)
    if not parties:
        raise AmlError("no_party_to_screen", "the payment names no creditor_name, payee_name or debtor_name")
    return _screen(session, merchant_id, "payment", payment_id, parties, request=dict(payer))


def screen_merchant(session: Session, merchant: Merchant) -> ScreeningDecision:
    """Onboarding: the merchant's name against every list. Each call stores a new screening,
    so a merchant can be screened again when the lists change."""
    return _screen(session, merchant.id, "merchant", None, [(Party(role="merchant", name=merchant.name), None)], None)


def _screen(session: Session, merchant_id: uuid.UUID, subject: str, payment_id: uuid.UUID | None,
            parties: list[tuple[Party, str | None]], request: dict | None) -> ScreeningDecision:
    lists = watch_lists().lists_for(session, merchant_id)
    found = [(party, hit) for party, _ in parties for hit in _hits(lists, party)]
    row = AmlScreening(
        merchant_id=merchant_id, subject=subject, payment_id=payment_id, request=request,
        parties=[{"role": p.role, "name": p.name, "country": p.country, "account": account} for p, account in parties],
        status=HELD if found else CLEAR, hit_count=len(found), top_score=max((h.score for _, h in found), default=None),
        threshold=DEFAULT_THRESHOLD, entries_screened=lists.entry_count, lists_version=lists.version,
        created_at=utcnow(), updated_at=utcnow(),
    )
    session.add(row)
    session.flush()
    session.add_all(AmlScreeningHit(
        merchant_id=merchant_id, screening_id=row.id, party_role=party.role, party_name=party.name[:NAME_CHARS_MAX],
        score=hit.score, list_name=hit.list_name[:120], entry_id=hit.entry.entry_id[:64],
        entry_name=hit.entry.name[:400], detail=hit.to_json(),
    ) for party, hit in found)
    session.flush()
    return _decision(session, row)


def _hits(lists: ScreeningLists, party: Party) -> list[Hit]:
    """The party's hits on every list of the scopes, strongest first."""
    hits = [hit for watch_list in lists.watch_lists
            for hit in watch_list.screen(party.name, country=party.country, threshold=DEFAULT_THRESHOLD).hits]
    return sorted(hits, key=lambda h: (-h.score, h.list_name, h.entry.entry_id))[:HITS_MAX]


def _decision(session: Session, row: AmlScreening) -> ScreeningDecision:
    return ScreeningDecision(hold=row.status == HELD, hits=[hit_view(h) for h in screening_hits(session, row.id)],
                             screening_id=row.id)


def screening_hits(session: Session, screening_id: uuid.UUID) -> list[AmlScreeningHit]:
    return list(session.scalars(select(AmlScreeningHit).where(AmlScreeningHit.screening_id == screening_id)
                                .order_by(AmlScreeningHit.id)))


def hit_view(hit: AmlScreeningHit) -> dict:
    return {"party_role": hit.party_role, "party_name": hit.party_name, "score": hit.score, "list": hit.list_name,
            "entry_id": hit.entry_id, "entry_name": hit.entry_name, "matched_name": hit.detail.get("matched_name"),
            "dob_match": hit.detail.get("dob_match"), "country_match": hit.detail.get("country_match")}


def review_screening(session: Session, screening_id: uuid.UUID, decision: str, actor: str, reason: str,
                     *, merchant_id: uuid.UUID | None = None) -> ScreeningReview:
    """Release or reject a held screening. `merchant_id` scopes the lookup (None: the platform)."""
    if decision not in DECISIONS:
        raise AmlError("unknown_decision", f"{decision!r} is not one of {', '.join(DECISIONS)}")
    _check_text(actor, "actor", NAME_CHARS_MAX)
    _check_text(reason, "reason", REASON_CHARS_MAX)
    row = get_screening(session, screening_id, merchant_id, for_update=True)
    if row.status != HELD:
        raise AmlError("screening_not_held", f"screening {screening_id} is {row.status}; only a held one is reviewed")
    row.status, row.reviewed_by, row.reviewed_at, row.review_reason = DECISIONS[decision], actor, utcnow(), reason
    session.flush()
    is_payment = row.payment_id is not None
    return ScreeningReview(
        screening_id=row.id, merchant_id=row.merchant_id, payment_id=row.payment_id, status=row.status,
        payment_action=PAYMENT_ACTIONS[row.status] if is_payment else "none",
        failure_code=PAYMENT_FAILURE_CODE if is_payment and row.status == REJECTED else None,
        payer=row.request if is_payment else None,
    )


def _check_text(text: Any, what: str, chars_max: int) -> None:
    if not isinstance(text, str) or not text.strip():
        raise AmlError("invalid_review", f"the {what} must not be empty")
    if len(text) > chars_max:
        raise AmlError("invalid_review", f"the {what} is longer than {chars_max} characters")


def get_screening(session: Session, screening_id: uuid.UUID, merchant_id: uuid.UUID | None,
                  *, for_update: bool = False) -> AmlScreening:
    query = select(AmlScreening).where(AmlScreening.id == screening_id)
    if merchant_id is not None:
        query = query.where(AmlScreening.merchant_id == merchant_id)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise AmlError("screening_not_found", f"no screening {screening_id}")
    return row


def list_screenings(session: Session, merchant_id: uuid.UUID | None, *, status: str | None, limit: int,
                    cursor: uuid.UUID | None) -> tuple[list[AmlScreening], str | None]:
    if status is not None and status not in STATUSES:
        raise AmlError("invalid_filter", f"status must be one of {', '.join(STATUSES)}")
    query = select(AmlScreening)
    if merchant_id is not None:
        query = query.where(AmlScreening.merchant_id == merchant_id)
    if status is not None:
        query = query.where(AmlScreening.status == status)
    return split(session.scalars(keyset(query, AmlScreening.id, limit=limit, cursor=cursor)).all(), limit)
