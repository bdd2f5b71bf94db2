"""Subscriptions (订阅): products and plans, billing cycles with anchors, proration, coupons, invoices collected through a stored mandate, dunning."""
