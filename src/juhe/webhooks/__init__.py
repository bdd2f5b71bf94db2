"""Webhooks to merchants: a transactional outbox (outbox.py), HMAC signatures (signing.py),
delivery with retries for up to 3 days (delivery.py), endpoints and redelivery (endpoints.py)
and the delivery log (queries.py).

Producers call `enqueue_event(session_or_conn, merchant_id, "payment.succeeded", payload)`
inside the transaction that makes the change; the worker calls `delivery.deliver_due`."""

from juhe.webhooks.outbox import enqueue_event
from juhe.webhooks.signing import sign, verify

__all__ = ["enqueue_event", "sign", "verify"]
