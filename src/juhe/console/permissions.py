"""What each console role may see and do: one table, checked by every page and every action.

A page's routes name the permission they need; a role without it gets 403 for the page and for
the POST behind its buttons alike (hiding a button is never the protection)."""

from __future__ import annotations

MERCHANT_ROLES = ("admin", "finance", "it", "business", "risk")
PLATFORM_ROLE = "operator"  # the platform operator: every merchant, reconciliation, reserve proofs

PERMISSIONS: dict[str, frozenset[str]] = {
    "overview.view":     frozenset({"admin", "finance", "it", "business", "risk", "operator"}),
    "payments.view":     frozenset({"admin", "finance", "business", "risk", "operator"}),
    "payments.refund":   frozenset({"admin", "finance", "business"}),
    "recon.view":        frozenset({"admin", "finance", "risk", "operator"}),
    "recon.resolve":     frozenset({"admin", "finance", "operator"}),
    "settlement.view":   frozenset({"admin", "finance", "operator"}),
    "treasury.view":     frozenset({"admin", "finance"}),  # the merchant's own cash: forecast and advice
    "risk.view":         frozenset({"admin", "risk", "operator"}),
    "risk.rules.edit":   frozenset({"admin", "risk"}),
    "risk.report":       frozenset({"admin", "risk"}),  # a case's outcome: the payment was fraud, or genuine
    "invoices.view":     frozenset({"admin", "finance", "business", "risk", "operator"}),
    "invoices.issue":    frozenset({"admin", "finance", "business"}),
    "aml.view":          frozenset({"admin", "risk", "operator"}),
    "aml.decide":        frozenset({"admin", "risk", "operator"}),
    "qr.view":           frozenset({"admin", "business", "finance"}),
    "qr.manage":         frozenset({"admin", "business"}),
    "installments.view": frozenset({"admin", "business", "finance"}),
    "scf.view":          frozenset({"admin", "business", "finance", "risk"}),  # as buyer, supplier or funder
    "scf.act":           frozenset({"admin", "business", "finance"}),  # confirm, accept an offer, repay
    "bnpl.view":         frozenset({"admin", "business", "finance", "risk"}),
    "subscriptions.view": frozenset({"admin", "business", "finance"}),
    "reports.view":      frozenset({"admin", "finance", "risk", "operator"}),
    "reports.monthly":   frozenset({"admin", "finance", "risk", "operator"}),  # the month's business, risk and recon
    "reports.compliance": frozenset({"admin", "risk", "operator"}),  # AML, reserve, audit and who has access
    "developers.view":   frozenset({"admin", "it"}),
    "developers.manage": frozenset({"admin", "it"}),
}


def allows(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]
