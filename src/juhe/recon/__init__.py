"""Reconciliation: channel statements parsed to one frame, matched against our payments and refunds."""
