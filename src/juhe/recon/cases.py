"""Finance works reconciliation cases: comments, assignment, and resolution by an adjusting
ledger transaction or a write-off. Every step is kept in the case's audit trail.

Both resolutions move the difference against the channel's clearing account, which is what
the channel owes us by our books:

    write-off   the channel paid less than we booked:  Dr expense:recon_write_offs / Cr clearing:{channel}
                the channel paid more:                 Dr clearing:{channel} / Cr revenue:recon_gains
    adjust      finance names the amount (positive: Dr clearing) and the other account
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.models import Account
from juhe.ledger import LedgerError, ensure_account, post, transfer
from juhe.recon.models import ReconCase, ReconCaseEvent

COMMENT_CHARS_MAX = 2_000
OWNER_CHARS_MAX = 64
WRITE_OFF_LOSS, WRITE_OFF_GAIN = "expense:recon_write_offs", "revenue:recon_gains"


class CaseError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def find_case(session: Session, case_id: uuid.UUID, scope: uuid.UUID | None, *, lock: bool = False) -> ReconCase:
    case = session.get(ReconCase, case_id, with_for_update=lock)
    if case is None or (scope is not None and case.merchant_id != scope):
        raise CaseError(404, "case_not_found", f"no reconciliation case {case_id}")
    return case


ACTIONS = ("comment", "assign", "write_off", "adjust")


@dataclass(frozen=True, slots=True)
class CaseAction:
    """What finance asks of a case, from the API or the console alike."""

    action: str  # one of ACTIONS
    comment: str = ""
    owner: str = ""
    amount_minor: int | None = None  # adjust: positive debits the channel's clearing account
    account_code: str = ""  # adjust: the other account


def act(session: Session, case: ReconCase, actor: str, asked: CaseAction) -> None:
    """Carry out one action on a locked case (find_case(lock=True)) in the caller's transaction."""
    if asked.action == "comment":
        comment(session, case, actor, asked.comment)
    elif asked.action == "assign":
        assign(session, case, actor, asked.owner)
    elif asked.action == "write_off":
        write_off(session, case, actor, asked.comment)
    elif asked.action == "adjust":
        if asked.amount_minor is None or not asked.account_code.strip():
            raise CaseError(422, "adjustment_incomplete", "an adjustment needs an amount and an account")
        adjust(session, case, actor, asked.comment, asked.amount_minor, asked.account_code.strip())
    else:
        raise CaseError(422, "unknown_action", f"the action is one of {', '.join(ACTIONS)}")


def comment(session: Session, case: ReconCase, actor: str, text: str) -> None:
    _record(session, case, actor, "comment", _checked_comment(text))


def assign(session: Session, case: ReconCase, actor: str, owner: str) -> None:
    if not 0 < len(owner.strip()) <= OWNER_CHARS_MAX:
        raise CaseError(422, "invalid_owner", f"an owner is 1–{OWNER_CHARS_MAX} characters")
    case.owner = owner.strip()
    _record(session, case, actor, "assigned", case.owner)


def write_off(session: Session, case: ReconCase, actor: str, text: str) -> None:
    """Book the difference the case shows as a loss or gain, closing it."""
    _open_only(case)
    difference = _difference(case)
    if difference == 0:
        raise CaseError(422, "nothing_to_write_off", "the case shows no amount difference; resolve it by adjusting")
    clearing = _clearing(session, case)
    if difference < 0:
        other = ensure_account(session.connection(), WRITE_OFF_LOSS, case.currency, owner_type="platform")
        command = transfer(f"recon_case:{case.id}:write_off", other, clearing, -difference, merchant_id=case.merchant_id)
    else:
        other = ensure_account(session.connection(), WRITE_OFF_GAIN, case.currency, owner_type="platform")
        command = transfer(f"recon_case:{case.id}:write_off", clearing, other, difference, merchant_id=case.merchant_id)
    _close(session, case, actor, "written_off", _checked_comment(text), command)


def adjust(session: Session, case: ReconCase, actor: str, text: str, amount_minor: int, account_code: str) -> None:
    """An adjusting transaction finance chose: `amount_minor` into clearing (negative: out of it)."""
    _open_only(case)
    if amount_minor == 0:
        raise CaseError(422, "invalid_amount", "an adjustment moves a non-zero amount")
    other = session.scalar(select(Account.id).where(Account.code == account_code, Account.currency == case.currency))
    if other is None:
        raise CaseError(422, "account_not_found", f"no {case.currency} account {account_code!r}")
    clearing = _clearing(session, case)
    debit, credit = (clearing, other) if amount_minor > 0 else (other, clearing)
    command = transfer(f"recon_case:{case.id}:adjust", debit, credit, abs(amount_minor), merchant_id=case.merchant_id)
    _close(session, case, actor, "adjusted", _checked_comment(text), command)


def _difference(case: ReconCase) -> int:
    """What the channel shows minus what we booked, for the case's kind of difference."""
    if case.category == "fee_mismatch":  # a higher fee means less money from the channel
        return (case.ours_fee_minor or 0) - (case.channel_fee_minor or 0)
    sign = -1 if case.kind == "refund" else 1  # money back to a payer leaves clearing
    return sign * ((case.channel_amount_minor or 0) - (case.ours_amount_minor or 0))


def _clearing(session: Session, case: ReconCase) -> uuid.UUID:
    return ensure_account(session.connection(), f"clearing:{case.channel}", case.currency, owner_type="platform")


def _close(session: Session, case: ReconCase, actor: str, status: str, text: str, command) -> None:
    try:
        case.ledger_txn_id = post(session.connection(), command).id
    except LedgerError as e:
        raise CaseError(422, e.code, str(e)) from None
    case.status, case.resolution = status, text
    _record(session, case, actor, status, text)


def _open_only(case: ReconCase) -> None:
    if case.status != "open":
        raise CaseError(409, "case_closed", f"the case is {case.status}")


def _checked_comment(text: str) -> str:
    text = (text or "").strip()
    if not 0 < len(text) <= COMMENT_CHARS_MAX:
        raise CaseError(422, "comment_required", f"say why, in 1–{COMMENT_CHARS_MAX} characters")
    return text


def _record(session: Session, case: ReconCase, actor: str, action: str, text: str | None) -> None:
    session.add(ReconCaseEvent(merchant_id=case.merchant_id, case_id=case.id, actor=actor, action=action, comment=text))


def case_view(case: ReconCase, events: list[ReconCaseEvent] | None = None) -> dict:
    view = {
        "id": str(case.id), "object": "reconciliation_case", "run_id": str(case.run_id), "channel": case.channel,
        "business_date": case.business_date.isoformat(), "category": case.category, "reason": case.reason,
        "kind": case.kind, "order_no": case.order_no, "refund_no": case.refund_no,
        "payment_id": str(case.payment_id) if case.payment_id else None, "channel_txn_id": case.channel_txn_id,
        "line_no": case.line_no, "currency": case.currency, "ours_amount_minor": case.ours_amount_minor,
        "channel_amount_minor": case.channel_amount_minor, "ours_fee_minor": case.ours_fee_minor,
        "channel_fee_minor": case.channel_fee_minor, "status": case.status, "owner": case.owner,
        "resolution": case.resolution, "ledger_txn_id": str(case.ledger_txn_id) if case.ledger_txn_id else None,
        "created_at": case.created_at.isoformat(),
    }  # fmt: skip
    if events is not None:
        view["events"] = [{"actor": e.actor, "action": e.action, "comment": e.comment, "at": e.at.isoformat()} for e in events]
    return view


def case_events(session: Session, case_id: uuid.UUID) -> list[ReconCaseEvent]:
    return list(session.scalars(select(ReconCaseEvent).where(ReconCaseEvent.case_id == case_id).order_by(ReconCaseEvent.id)))
