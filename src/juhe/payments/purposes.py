"""Payments collected for something other than a merchant's sale: a BNPL repayment, a
subscription's invoice. They go through the same intents, routing, channels, notifications and
polling as any payment (one money path); their purpose only decides, when the outcome is
applied, which account the money pays off and who else must learn of it — in the same commit.
A purpose payment that fails or is canceled (by a channel, the risk gate, its expiry, anywhere)
is found by its domain's worker job, which owns what happens next (a retry, a released reserve).

The payments core does not import the domains it serves: a purpose names the object that
implements it (`module:attribute`), loaded on first use, as `load_all_models` does for tables."""

from __future__ import annotations

import importlib
import uuid
from functools import lru_cache
from typing import Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

PURPOSES = {
    "bnpl_repayment": "juhe.bnpl.repayments:PURPOSE",
    "subscription_invoice": "juhe.subscriptions.collection:PURPOSE",
    "installment_sale": "juhe.installments.sales:PURPOSE",
}


class Purpose(Protocol):
    # True: the amount pays off `credit_account` (no merchant fee; the channel's fee is the
    # platform's). False: it is the merchant's revenue, booked like any sale.
    own_account: bool

    def credit_account(self, conn: Connection, payment) -> uuid.UUID: ...

    def succeeded(self, session: Session, payment) -> None:
        """Called in the commit that books the collection."""


@lru_cache(maxsize=None)
def purpose(name: str) -> Purpose:
    module, _, attribute = PURPOSES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
