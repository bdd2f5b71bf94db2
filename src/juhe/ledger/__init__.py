"""The double-entry ledger: the only code that writes money."""

from juhe.ledger.accounts import Balance, balance_of, ensure_account, open_account, payable_code
from juhe.ledger.posting import LedgerError, expire_holds, post, post_many
from juhe.ledger.rules import Capture, Entry, Post, Reverse, Void, transfer
from juhe.ledger.verify import verify_database, verify_ledger

__all__ = [
    "Balance", "Capture", "Entry", "LedgerError", "Post", "Reverse", "Void", "balance_of", "ensure_account",
    "expire_holds", "open_account", "payable_code", "post", "post_many", "transfer", "verify_database", "verify_ledger",
]
