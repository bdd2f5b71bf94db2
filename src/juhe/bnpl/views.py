"""Lines, orders, installments and repayments as the API, webhooks and console show them."""

from __future__ import annotations


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def line_view(line) -> dict:
    return {
        "id": str(line.id), "object": "bnpl_line", "customer_id": line.customer_id, "currency": line.currency,
        "status": line.status, "limit_minor": line.limit_minor, "held_minor": line.held_minor, "owed_minor": line.owed_minor,
        "available_minor": max(line.limit_minor - line.held_minor - line.owed_minor, 0) if line.status == "active" else 0,
        "decision": line.decision, "decided_at": _iso(line.decided_at),
    }


def installment_view(part) -> dict:
    return {
        "seq": part.seq, "due_at": _iso(part.due_at), "principal_minor": part.principal_minor,
        "late_fee_minor": part.late_fee_minor, "paid_minor": part.paid_minor,
        "owed_minor": part.principal_minor + part.late_fee_minor - part.paid_minor,
        "reminders": list(part.reminders or []), "paid_at": _iso(part.paid_at),
    }


def order_view(order, installments: list | None = None, repayments: list | None = None) -> dict:
    view = {
        "id": str(order.id), "object": "bnpl_order", "status": order.status, "customer_id": order.customer_id,
        "line_id": str(order.line_id), "store_id": str(order.store_id) if order.store_id else None,
        "subject": order.subject, "currency": order.currency, "amount_minor": order.amount_minor,
        "installments_count": order.installments, "principal_minor": order.principal_minor, "fees_minor": order.fees_minor,
        "repaid_minor": order.repaid_minor, "written_off_minor": order.written_off_minor,
        "owed_minor": order.principal_minor + order.fees_minor - order.repaid_minor - order.written_off_minor,
        "repayable_minor": _repayable(order), "merchant_fee_minor": order.merchant_fee_minor,
        "expires_at": _iso(order.expires_at), "captured_at": _iso(order.captured_at), "closed_at": _iso(order.closed_at),
        "created_at": _iso(order.created_at),
    }
    if installments is not None:
        view["installments"] = [installment_view(p) for p in installments]
    if repayments is not None:
        view["repayments"] = [repayment_view(r) for r in repayments]
    return view


def _repayable(order) -> int:
    if order.status not in ("captured", "defaulted"):
        return 0
    return order.principal_minor + order.fees_minor - order.repaid_minor - order.written_off_minor - order.reserved_minor


def repayment_view(repayment, payment: dict | None = None) -> dict:
    view = {
        "id": str(repayment.id), "object": "bnpl_repayment", "order_id": str(repayment.order_id),
        "status": repayment.status, "amount_minor": repayment.amount_minor, "currency": repayment.currency,
        "payment_id": str(repayment.payment_id) if repayment.payment_id else None,
        "created_at": _iso(repayment.created_at), "settled_at": _iso(repayment.settled_at),
    }
    if payment is not None:
        view["payment"] = payment
    return view
