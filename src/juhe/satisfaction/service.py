"""Rating a payment, and the figures monitoring shows: per store, channel and scenario, the number
of ratings, the mean score and the share satisfied (4 or 5 stars; the seed aims at ≥ 90 %)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.db.models import Store
from juhe.payments.models import Payment
from juhe.satisfaction.models import SatisfactionRating

SCORES = range(1, 6)
SATISFIED_FROM = 4
COMMENT_MAX = 500
AIM = 0.90


class SatisfactionError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def parse_score(text: str | int | None) -> int:
    try:
        score = int(str(text).strip())
    except ValueError:
        score = 0
    if score not in SCORES:
        raise SatisfactionError(422, "invalid_score", "choose a rating from 1 to 5 stars")
    return score


def rate(session: Session, payment_id: uuid.UUID, score: int | str, comment: str, now: datetime) -> SatisfactionRating:
    """The payer's rating of a succeeded payment: once (a second one is refused, the first stays)."""
    score = parse_score(score)
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise SatisfactionError(422, "comment_too_long", f"a comment has at most {COMMENT_MAX} characters")
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status != "succeeded":
        raise SatisfactionError(409, "payment_not_succeeded", "only a completed payment can be rated")
    if session.scalar(select(SatisfactionRating.id).where(SatisfactionRating.payment_id == payment_id)) is not None:
        raise SatisfactionError(409, "already_rated", "this payment has been rated already: thank you")
    rating = SatisfactionRating(id=uuid.uuid4(), merchant_id=payment.merchant_id, payment_id=payment.id, store_id=payment.store_id,
                                channel=payment.channel, scenario=payment.purpose or payment.scenario, score=score,
                                comment=comment, created_at=now)
    try:
        with session.begin_nested():
            session.add(rating)
            session.flush()
    except IntegrityError:  # rated at the same moment from another tab
        raise SatisfactionError(409, "already_rated", "this payment has been rated already: thank you") from None
    return rating


def rating_of(session: Session, payment_id: uuid.UUID) -> SatisfactionRating | None:
    return session.scalar(select(SatisfactionRating).where(SatisfactionRating.payment_id == payment_id))


ERRORS = {"invalid_score": "请选择1到5星 Choose a rating from 1 to 5 stars",
          "comment_too_long": f"留言最多{COMMENT_MAX}字 A comment has at most {COMMENT_MAX} characters",
          "already_rated": "已评价，谢谢 Rated already: thank you",
          "payment_not_succeeded": "仅可评价已完成的支付 Only a completed payment can be rated"}


def page_state(session: Session, payment_id: uuid.UUID, error_code: str | None) -> dict:
    """What the receipt page shows: the form, or the rating given; a refusal by its code."""
    given = rating_of(session, payment_id)
    return {"score": given.score if given else None, "comment": given.comment if given else "",
            "error": ERRORS.get(error_code or ""), "scores": list(SCORES)}


def figures(session: Session, merchant_id: uuid.UUID | None, since: datetime) -> dict:
    """Ratings since `since` (one merchant's, or every merchant's for the platform), rates as fractions."""
    where = [SatisfactionRating.created_at >= since]
    if merchant_id is not None:
        where.append(SatisfactionRating.merchant_id == merchant_id)
    stores = dict(session.execute(select(Store.id, Store.code)).all())

    def grouped(column, name) -> list[dict]:
        rows = session.execute(select(column, *_measures()).where(*where).group_by(column).order_by(column)).all()
        return [{name: stores.get(row[0], str(row[0])) if name == "store" and row[0] else row[0], **_row(row[1:])} for row in rows]

    overall = session.execute(select(*_measures()).where(*where)).one()
    return {"since": since.isoformat(), "aim_satisfied_rate": AIM, **_row(overall),
            "by_store": grouped(SatisfactionRating.store_id, "store"), "by_channel": grouped(SatisfactionRating.channel, "channel"),
            "by_scenario": grouped(SatisfactionRating.scenario, "scenario")}


def _measures():
    satisfied = func.sum(case((SatisfactionRating.score >= SATISFIED_FROM, 1), else_=0))
    return func.count(), func.sum(SatisfactionRating.score), satisfied


def _row(row) -> dict:
    count, total, satisfied = row[0] or 0, row[1] or 0, row[2] or 0
    return {"ratings": count, "mean_score": round(total / count, 2) if count else None,
            "satisfied_rate": round(satisfied / count, 4) if count else None}
