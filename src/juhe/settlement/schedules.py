"""Fee schedules per merchant and channel, stored with the moment they take effect, and the
merchant fee of a payment under the schedule in force."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from juhe.db.models import Merchant
from juhe.db.types import utcnow
from juhe.payments.models import Payment
from juhe.settlement.calendar import DEFAULT_TIMEZONE, zone_of
from juhe.settlement.errors import SettlementError
from juhe.settlement.fees import FeeSchedule, FeeScheduleError, fee_minor, parse_schedule, schedule_definition
from juhe.settlement.models import FeeScheduleRow, SettlementProfile

SCHEDULES = FeeScheduleRow.__table__
PAYMENTS = Payment.__table__
PROFILES = SettlementProfile.__table__


def set_fee_schedule(
    session: Session, merchant_id: uuid.UUID, channel: str, definition: object, effective_from: datetime | None = None
) -> FeeScheduleRow:
    """Store a schedule, checked first: a bad definition is SettlementError with every problem."""
    try:
        schedule = parse_schedule(definition)
    except FeeScheduleError as error:
        raise SettlementError(422, error.code, f"the fee schedule is not valid: {error}", error.problems) from None
    if session.get(Merchant, merchant_id) is None:
        raise SettlementError(404, "merchant_not_found", f"no merchant {merchant_id}")
    if not channel or len(channel) > 20:
        raise SettlementError(422, "invalid_channel", "channel is a channel code such as alipay")
    row = FeeScheduleRow(merchant_id=merchant_id, channel=channel, effective_from=effective_from or utcnow(),
                         definition=schedule_definition(schedule))
    session.add(row)
    session.flush()
    return row


def schedule_in_force(conn: Connection, merchant_id: uuid.UUID, channel: str, at: datetime) -> FeeSchedule | None:
    definition = conn.scalar(
        select(SCHEDULES.c.definition)
        .where(SCHEDULES.c.merchant_id == merchant_id, SCHEDULES.c.channel == channel, SCHEDULES.c.effective_from <= at)
        .order_by(SCHEDULES.c.effective_from.desc())
        .limit(1)
    )
    return None if definition is None else parse_schedule(definition)


def merchant_fee_minor(conn: Connection, merchant_id: uuid.UUID, channel: str, amount_minor: int, at: datetime) -> int | None:
    """What Juhe charges the merchant for a payment of `amount_minor` on `channel` at `at`;
    None when the merchant has no schedule for the channel (the contract's flat rate applies)."""
    schedule = schedule_in_force(conn, merchant_id, channel, at)
    if schedule is None:
        return None
    volume = month_volume_minor(conn, merchant_id, channel, at) if schedule.basis == "month_volume" else 0
    return fee_minor(schedule, amount_minor, volume)


def month_volume_minor(conn: Connection, merchant_id: uuid.UUID, channel: str, at: datetime) -> int:
    """The merchant's succeeded payments on the channel this month (its own time zone) before `at`."""
    zone = zone_of(conn.scalar(select(PROFILES.c.timezone).where(PROFILES.c.merchant_id == merchant_id)) or DEFAULT_TIMEZONE)
    local = at.astimezone(zone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = conn.scalar(
        select(func.coalesce(func.sum(PAYMENTS.c.amount_minor), 0)).where(
            PAYMENTS.c.merchant_id == merchant_id, PAYMENTS.c.channel == channel, PAYMENTS.c.status == "succeeded",
            PAYMENTS.c.paid_at >= month_start, PAYMENTS.c.paid_at < at,
        )
    )
    return int(total)
