"""An invoice as the API shows it."""

from __future__ import annotations

from juhe.einvoice.models import Invoice
from juhe.einvoice.words import capital_cny


def _id(value) -> str | None:
    return str(value) if value else None


def invoice_view(invoice: Invoice) -> dict:
    return {"id": str(invoice.id), "kind": invoice.kind, "status": invoice.status, "number": invoice.number,
            "issued_at": invoice.issued_at.isoformat() if invoice.issued_at else None,
            "buyer_name": invoice.buyer_name, "buyer_tax_id": invoice.buyer_tax_id,
            "seller_name": invoice.seller_name, "seller_tax_id": invoice.seller_tax_id, "lines": invoice.lines,
            "amount_minor": invoice.amount_minor, "tax_minor": invoice.tax_minor, "total_minor": invoice.total_minor,
            "total_in_words": capital_cny(invoice.total_minor), "currency": invoice.currency,
            "payment_id": _id(invoice.payment_id), "order_id": _id(invoice.order_id), "refund_id": _id(invoice.refund_id),
            "original_id": _id(invoice.original_id), "requested_by": invoice.requested_by, "leaf_index": invoice.leaf_index}


def settings_view(settings) -> dict:
    return {"seller_name": settings.seller_name, "seller_tax_id": settings.seller_tax_id, "item_name": settings.item_name,
            "tax_category_code": settings.tax_category_code, "tax_rate_bps": settings.tax_rate_bps,
            "auto_issue": settings.auto_issue}
