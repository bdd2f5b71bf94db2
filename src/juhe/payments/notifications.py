"""Inbound channel notifications: verified with the channel's own scheme, applied once,
and every one of them — good or bad — written to the notification log."""

from __future__ import annotations

from typing import Mapping

import structlog
from sqlalchemy.orm import Session

from juhe.channels.base import InvalidNotification, NotificationAck, PaymentStatus
from juhe.payments.context import PaymentsContext
from juhe.payments.models import ChannelNotification
from juhe.payments.outcomes import apply_status, refund_status
from juhe.safety.crashpoints import hit as crash_point

REJECTED = ("unknown_order", "unknown_refund", "amount_mismatch")
DETAIL_MAX = 500
log = structlog.get_logger()


def handle_notification(ctx: PaymentsContext, channel: str, headers: Mapping[str, str], body: bytes) -> NotificationAck:
    """Verify, apply and log in one commit (call it on the database's threads)."""
    adapter = ctx.channels[channel]
    try:
        news = adapter.verify_notification(headers, body)
    except InvalidNotification as error:
        with ctx.db.session() as session, session.begin():
            _log(session, channel, None, False, "rejected_unverified", str(error))
        ack = adapter.ack(False)
        return NotificationAck(400, ack.body, ack.media_type)
    with ctx.db.session() as session, session.begin():
        if isinstance(news, PaymentStatus):
            outcome, order_no = apply_status(session, news.payment_id, news, "notification"), news.payment_id
        else:
            outcome, order_no = refund_status(session, news, "notification"), news.refund_id
        _log(session, channel, order_no, True, outcome, f"{type(news).__name__} {news.state}")
    crash_point("payment.booked")
    return adapter.ack(outcome not in REJECTED)


def _log(session: Session, channel: str, order_no: str | None, verified: bool, outcome: str, detail: str) -> None:
    log.info("channel notification", channel=channel, order_no=order_no, verified=verified, outcome=outcome)
    session.add(ChannelNotification(channel=channel, order_no=order_no, verified=verified, outcome=outcome,
                                    detail=detail[:DETAIL_MAX]))
