"""Finance releases an unreconciled payment or refund for settlement, with a reason; the release
is the audit record (who, why, when) and is kept for good."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.payments.models import Payment, Refund
from juhe.recon.models import KINDS, MATCHED, ReconItem
from juhe.settlement.errors import SettlementError
from juhe.settlement.models import SettlementItem, SettlementRelease

REASON_MAX = 500


def release_item(
    session: Session, merchant_id: uuid.UUID, kind: str, item_id: uuid.UUID, reason: str, released_by: str
) -> SettlementRelease:
    """Let payment or refund `item_id` settle although reconciliation has not matched it."""
    if kind not in KINDS:
        raise SettlementError(422, "invalid_kind", f"kind must be one of {', '.join(KINDS)}")
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise SettlementError(422, "reason_required", f"say why, in 1–{REASON_MAX} characters")
    payment_id, refund_id = _item(session, merchant_id, kind, item_id)
    _check_open(session, kind, payment_id, refund_id)
    release = SettlementRelease(merchant_id=merchant_id, kind=kind, payment_id=payment_id, refund_id=refund_id,
                                source_id=item_id, reason=reason, released_by=released_by)
    try:
        with session.begin_nested():
            session.add(release)
    except IntegrityError:
        raise SettlementError(409, "already_released", f"the {kind} is already released") from None
    return release


def _item(session: Session, merchant_id: uuid.UUID, kind: str, item_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID | None]:
    row = session.get(Payment if kind == "payment" else Refund, item_id)
    if row is None or row.merchant_id != merchant_id:
        raise SettlementError(404, f"{kind}_not_found", f"no {kind} {item_id}")
    if row.status != "succeeded":
        raise SettlementError(409, "not_settleable", f"a {kind} that is {row.status} has nothing to settle")
    return (row.id, None) if kind == "payment" else (row.payment_id, row.id)


def _check_open(session: Session, kind: str, payment_id: uuid.UUID, refund_id: uuid.UUID | None) -> None:
    same = SettlementItem.refund_id == refund_id if refund_id else SettlementItem.payment_id == payment_id
    if session.scalar(select(exists().where(SettlementItem.kind == kind, same, SettlementItem.claim_key.is_not(None)))):
        raise SettlementError(409, "already_settled", f"the {kind} is already in a settlement")
    recon = ReconItem.refund_id == refund_id if refund_id else (ReconItem.payment_id == payment_id) & ReconItem.refund_id.is_(None)
    if session.scalar(select(exists().where(ReconItem.kind == kind, recon, ReconItem.category == MATCHED))):
        raise SettlementError(409, "already_reconciled", f"the {kind} is reconciled; it settles without a release")
    if session.scalar(select(exists().where(SettlementRelease.kind == kind,
                                            SettlementRelease.source_id == (refund_id or payment_id)))):
        raise SettlementError(409, "already_released", f"the {kind} is already released")


def release_view(release: SettlementRelease) -> dict:
    return {
        "id": str(release.id), "object": "settlement_release", "kind": release.kind,
        "payment_id": str(release.payment_id), "refund_id": str(release.refund_id) if release.refund_id else None,
        "reason": release.reason, "released_by": release.released_by,
        "created_at": release.created_at.isoformat() if release.created_at else None,
    }
