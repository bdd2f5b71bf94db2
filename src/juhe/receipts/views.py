"""A receipt as the merchant's API shows it: its link and what it is of."""

from __future__ import annotations

from juhe.receipts.models import Receipt


def links(base_url: str, token: str) -> dict:
    page = f"{base_url.rstrip('/')}/receipts/{token}"
    return {"page": page, "pdf": f"{page}/receipt.pdf", "proof": f"{page}/proof.json", "invoice": f"{page}/invoice", "rating": f"{page}/rating",
            "invoice_pdf": f"{page}/invoice.pdf", "invoice_xml": f"{page}/invoice.xml"}


def receipt_view(receipt: Receipt, base_url: str) -> dict:
    return {"id": str(receipt.id), "kind": receipt.kind, "object_id": str(receipt.object_id),
            "payment_id": str(receipt.payment_id), "amount_minor": receipt.amount_minor, "currency": receipt.currency,
            "leaf_index": receipt.leaf_index, "issued_at": receipt.issued_at.isoformat(),
            "url": links(base_url, receipt.token)["page"]}
