"""A merchant's settlement profile: cycle, split, calendar, and the account it is paid to.

The payout account is checked by the same rules as any bank transfer line
(`channels.bank.transfers.check_transfer`): an IBAN with its check digits, or a domestic
account number with its CNAPS bank code, and a name the pain.001 can carry."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, time

from sqlalchemy.orm import Session

from juhe.channels.bank.transfers import check_transfer
from juhe.db.models import Merchant
from juhe.settlement.calendar import CYCLES, DEFAULT_CYCLE, DEFAULT_TIMEZONE, CalendarError, zone_of
from juhe.settlement.errors import SettlementError
from juhe.settlement.models import SettlementProfile
from juhe.settlement.planning import SPLITS

CUTOFF = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
PROBE_REFERENCE = "PROFILE"  # check_transfer needs a reference and an amount; neither is kept


@dataclass(frozen=True, slots=True)
class ProfileIn:
    payout_name: str
    payout_account: str
    payout_bank: str
    currency: str = "CNY"
    cycle: str = DEFAULT_CYCLE
    split_by: str = "merchant"
    timezone: str = DEFAULT_TIMEZONE
    cutoff: str = "00:00"


def cutoff_time(text: str) -> time:
    found = CUTOFF.fullmatch(text)
    if not found:
        raise CalendarError("invalid_cutoff", f"cut-off is a time like 23:00, not {text!r}")
    return time(int(found.group(1)), int(found.group(2)))


def check_profile(profile: ProfileIn) -> tuple[ProfileIn, list[dict]]:
    """The profile with its account normalised, and every problem as {field, message}."""
    problems = []
    if profile.cycle not in CYCLES:
        problems.append({"field": "cycle", "message": f"must be one of {', '.join(CYCLES)}"})
    if profile.split_by not in SPLITS:
        problems.append({"field": "split_by", "message": f"must be one of {', '.join(SPLITS)}"})
    for field, check in (("timezone", zone_of), ("cutoff", cutoff_time)):
        try:
            check(getattr(profile, field))
        except CalendarError as error:
            problems.append({"field": field, "message": str(error)})
    fields = {"end_to_end_id": PROBE_REFERENCE, "amount": "1", "currency": profile.currency,
              "creditor_name": profile.payout_name, "creditor_account": profile.payout_account,
              "creditor_bank": profile.payout_bank}
    item, errors = check_transfer(fields, 1, today=date.today())
    renamed = {"creditor_name": "payout_name", "creditor_account": "payout_account", "creditor_bank": "payout_bank"}
    problems += [{"field": renamed.get(e.field, e.field), "message": e.message} for e in errors]
    if item is not None and not item.creditor_bank:
        problems.append({"field": "payout_bank", "message": "is required: the BIC or CNAPS code of the account's bank"})
    if problems or item is None:
        return profile, problems
    normalised = ProfileIn(item.creditor_name, item.creditor_account, item.creditor_bank, profile.currency,
                           profile.cycle, profile.split_by, profile.timezone, profile.cutoff)
    return normalised, []


def set_profile(session: Session, merchant_id: uuid.UUID, wanted: ProfileIn) -> SettlementProfile:
    profile, problems = check_profile(wanted)
    if problems:
        raise SettlementError(422, "invalid_settlement_profile", f"{len(problems)} problem(s) in the profile", problems)
    if session.get(Merchant, merchant_id) is None:
        raise SettlementError(404, "merchant_not_found", f"no merchant {merchant_id}")
    row = session.get(SettlementProfile, merchant_id) or SettlementProfile(merchant_id=merchant_id)
    for field in ProfileIn.__slots__:
        setattr(row, field, getattr(profile, field))
    session.add(row)
    session.flush()
    return row


def profile_view(row: SettlementProfile) -> dict:
    return {
        "object": "settlement_profile", "cycle": row.cycle, "split_by": row.split_by, "timezone": row.timezone,
        "cutoff": row.cutoff, "currency": row.currency,
        "payout": {"name": row.payout_name, "account": row.payout_account, "bank": row.payout_bank},
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }
