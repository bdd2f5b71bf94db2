"""Payer satisfaction (满意度): a 1–5 rating and comment on the receipt page, and its figures."""
