"""SCF tables: the buyers and funders taking part, the receivables buyers confirmed, and the one
financing each receivable can carry. The money itself moves in the ledger (juhe.scf.postings)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class ScfBuyer(Base):
    """A buyer on Juhe (its own merchant account pays at maturity), known by its credit code, so
    that the orders its suppliers raised against that code are its to confirm."""

    __tablename__ = "scf_buyers"
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    tax_id: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_spread_bps: Mapped[int] = mapped_column(Integer)  # over the base rate: what its credit costs
    discount_apr_bps: Mapped[int] = mapped_column(Integer)  # what it asks for paying early from its own cash
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScfFunder(Base):
    """A bank or factor that advances against buyers' credit, paying from its balance on Juhe."""

    __tablename__ = "scf_funders"
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    margin_bps: Mapped[int] = mapped_column(Integer)  # over base rate + the buyer's spread
    fee_bps: Mapped[int] = mapped_column(Integer)  # flat, on the amount financed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScfReceivable(Base):
    """An invoiced B2B order of the supplier (`merchant_id`) that its buyer confirmed it will pay
    on `maturity_on`; the leaves name the order's and the invoice's records in the Merkle log."""

    __tablename__ = "scf_receivables"
    __table_args__ = (Index("ix_scf_receivables_merchant_id_id", "merchant_id", "id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("b2b_orders.id"), unique=True)
    buyer_merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scf_buyers.merchant_id"), index=True)
    face_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    maturity_on: Mapped[date] = mapped_column(Date)
    order_leaf: Mapped[int] = mapped_column(BigInteger)
    invoice_leaf: Mapped[int] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScfFinancing(Base):
    """The one claim on a receivable (`receivable_id` unique, whoever funds it): advanced → repaid
    for reverse factoring, settled at once for dynamic discounting."""

    __tablename__ = "scf_financings"
    __table_args__ = (Index("ix_scf_financings_merchant_id_id", "merchant_id", "id"),
                      Index("ix_scf_financings_status_maturity_on", "status", "maturity_on"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))  # the supplier
    receivable_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scf_receivables.id"), unique=True)
    buyer_merchant_id: Mapped[uuid.UUID] = mapped_column(index=True)
    funder_merchant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # none: the buyer paid early
    kind: Mapped[str] = mapped_column(String(20))  # reverse_factoring, dynamic_discounting
    status: Mapped[str] = mapped_column(String(10))  # advanced, repaid, settled
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # of the face financed, paid back at maturity
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)  # what the supplier got
    rate_bps: Mapped[int] = mapped_column(Integer)  # the discount rate on face, actual/360
    apr_bps: Mapped[int] = mapped_column(Integer)  # the cost to the supplier, on what it got, actual/365
    days: Mapped[int] = mapped_column(Integer)
    maturity_on: Mapped[date] = mapped_column(Date)
    market_cost_minor: Mapped[int] = mapped_column(BigInteger)  # the same money at the market rate, for the report
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    repaid_at: Mapped[datetime | None] = mapped_column()
